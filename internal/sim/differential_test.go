package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/cli"
	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/lab"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/sim"
)

// asOomkit makes this test binary act as the oomkit binary: the lab
// re-execs os.Executable() with `alloc …` to start its allocators.
const asOomkit = "OOMKIT_SIM_TEST_AS_OOMKIT"

func TestMain(m *testing.M) {
	// Fuzz workers inherit the environment but are started with -test.
	// flags: they must stay test binaries.
	if os.Getenv(asOomkit) == "1" && len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Setenv(asOomkit, "1")
	os.Exit(m.Run())
}

// TestDifferentialLab runs every lab scenario that testdata/lab mirrors on
// this machine's kernel (oomkit lab run, in a throw-away memcg) and the
// mirror in the simulator with this kernel's version and cgroup version:
// every kill both made names the same process, in the same order.
func TestDifferentialLab(t *testing.T) {
	kerneltest.SerializeOOM(t)
	kerneltest.Require(t)
	mirrored := map[string]bool{}
	for _, name := range sim.LabMirrors {
		mirrored[name] = true
	}
	for _, sc := range lab.Scenarios() {
		if !mirrored[sc.Name] {
			t.Logf("lab scenario %s has no simulator mirror (testdata/lab)", sc.Name)
		}
	}
	for _, name := range sim.LabMirrors {
		t.Run(name, func(t *testing.T) {
			r := runLab(t, name)
			if r.Skipped != nil {
				kerneltest.Skip(t, "lab skipped "+name+": "+*r.Skipped)
			}
			if r.Error != nil {
				t.Fatalf("lab: %s", *r.Error)
			}
			var kernel []string
			for _, v := range r.KernelVictims {
				if v.Role == nil {
					t.Fatalf("the kernel killed a process the lab did not start: %+v", v)
				}
				kernel = append(kernel, *v.Role)
			}
			s := sim.LoadLabMirror(t, name)
			v, err := mm.ParseVersion(r.KernelVersion)
			if err != nil {
				t.Fatal(err)
			}
			s.Kernel = v
			s.Node.CgroupV2 = r.CgroupVersion != nil && *r.CgroupVersion == "v2"
			if r.LimitBytes == nil || *r.LimitBytes%s.Cgroups[0].MemoryMaxBytes != 0 {
				t.Fatalf("lab limit %v is not a multiple of the mirror's %d", r.LimitBytes, s.Cgroups[0].MemoryMaxBytes)
			}
			scale(s, *r.LimitBytes/s.Cgroups[0].MemoryMaxBytes)
			// Where the host would not let the lab lower oom_score_adj it
			// ran with 0; the notes say so. Mirror that.
			for _, n := range r.Notes {
				if strings.Contains(n, "oom_score_adj") && strings.Contains(n, "instead of") {
					for i := range s.Processes {
						if a := s.Processes[i].OOMScoreAdj; a != nil && *a < 0 {
							zero := 0
							s.Processes[i].OOMScoreAdj = &zero
						}
					}
				}
			}
			got := sim.Victims(t, s)
			all := got
			// Compare the kills both made. The lab stops after the kills it
			// waits for, so the simulator may go on to more; and the real
			// kernel may kill again while a victim's memory is still being
			// freed (the simulator frees it at once), which is timing, not
			// the choice of victim.
			n := min(len(got), len(kernel))
			got, kernelN := got[:n], kernel[:n]
			t.Logf("kernel %s (cgroup %s): the kernel killed %v, the simulator %v", r.KernelVersion, deref(r.CgroupVersion), kernel, all)
			if n == 0 {
				t.Fatal("no kill to compare")
			}
			if diff := cmp.Diff(kernelN, got); diff != "" {
				t.Errorf("kernel %s (%s rules): victims (-kernel +simulator):\n%s\nlab summary: %s", r.KernelVersion, mm.RulesFor(v), diff, r.Summary)
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return "unknown"
	}
	return *p
}

// scale multiplies a mirror's limits and block sizes by k.
func scale(s *sim.Scenario, k int64) {
	for i := range s.Cgroups {
		if s.Cgroups[i].MemoryMaxBytes != sim.Unlimited {
			s.Cgroups[i].MemoryMaxBytes *= k
		}
	}
	for i := range s.Processes {
		for _, a := range s.Processes[i].Actions {
			if a.Alloc != nil {
				a.Alloc.BlockBytes *= k
			}
		}
	}
}

// runLab runs one lab scenario at 512 MiB, which leaves room for a
// race-instrumented allocator's own ~35 MiB (the mirrors, written for
// 128 MiB, are scaled to it). A run that could not finish (on a loaded
// machine the kernel's Killed line can be missed) is tried once more.
func runLab(t *testing.T, name string) lab.Result {
	t.Helper()
	var r lab.Result
	for attempt := 0; attempt < 2; attempt++ {
		var out, errOut bytes.Buffer
		code := cli.Main([]string{"lab", "run", "--json", "--limit", "512MiB", name}, strings.NewReader(""), &out, &errOut)
		r = lab.Result{}
		if err := json.NewDecoder(&out).Decode(&r); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("lab output: %v (exit %d: %s)", err, code, errOut.String())
		}
		if r.Scenario != name {
			t.Fatalf("lab ran %q, want %q (exit %d: %s)", r.Scenario, name, code, errOut.String())
		}
		if r.Error == nil {
			return r
		}
		t.Logf("lab attempt %d: %s", attempt+1, *r.Error)
	}
	return r
}
