package oomlog

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// formatVersions are releases from every era of spec/kernel.md §4.
var formatVersions = []string{
	"2.6.32-431.11.2.el6.x86_64", "3.10.0-514.6.1.el7.x86_64", "3.13.0-43-generic", "4.4.121", "4.8.0-gentoo",
	"4.9.229", "4.14.5", "4.15.1", "4.19.72", "4.20.12", "5.0.1", "5.2.1", "5.3.1", "5.4.0-1059-azure",
	"5.10.89", "5.15.158-2-pve", "6.1.1-arch1-1", "6.8.0-50-generic", "6.12.0", "6.18.2",
}

var genNames = append([]string{"dotnet", "java", "kworker/0:2", "php-fpm", "sd-pam"}, hostileNames[:7]...)

// genReport builds a random report holding exactly the fields kernel
// release rel prints, so that parsing its formatted text must give it back.
func genReport(rng *rand.Rand, rel string) *Report {
	maj, min, _, _ := releaseOf(rel)
	v := kver{maj, min, 0}
	pick := func(l []string) string { return l[rng.Intn(len(l))] }
	n64 := func(max int64) *int64 { x := rng.Int63n(max); return &x }
	global := rng.Intn(2) == 0
	us := rng.Int63n(1e11)
	up := float64(us) / 1e6
	r := &Report{
		FirstLine:     1,
		KernelVersion: rel,
		Stamp:         Stamp{Text: fmt.Sprintf("[%5d.%06d]", us/1e6, us%1e6), Uptime: &up},
	}
	if rng.Intn(8) == 0 {
		r.Stamp = Stamp{}
	}
	t := &Trigger{Comm: pick(genNames), PID: ip(1 + rng.Intn(4000000)), GFPMask: fmt.Sprintf("%#x", rng.Intn(1<<26)), Order: ip(rng.Intn(5) - 1), OOMScoreAdj: ip(rng.Intn(2001) - 1000)}
	if v.atLeast(4, 5) && rng.Intn(3) > 0 {
		t.GFPFlags = []string{"GFP_HIGHUSER_MOVABLE", "__GFP_ZERO"}[:1+rng.Intn(2)]
	}
	if maj == 2 {
		t.OOMAdj = ip(rng.Intn(33) - 17)
	}
	if v.atLeast(4, 9) {
		t.Nodemask = pick([]string{"(null)", "0-1", "0,2-3"})
	}
	t.Cpuset, t.MemsAllowed = pick([]string{"/", "docker-a59e.scope", "syz4"}), pick([]string{"0", "0-1"})
	r.Trigger = t

	oomMemcg := "/kubepods/burstable/pod3b5e63f1-b571-407f-be00-461ed99e968f"
	if global {
		r.GlobalOOM = true
		r.MemInfo = &MemInfo{RAMPages: n64(1 << 24), ReservedPages: n64(1 << 16), SwapTotalKB: n64(1 << 24), SwapFreeKB: n64(1 << 20), FreePages: n64(1 << 20)}
	} else {
		if !v.atLeast(5, 0) {
			r.OOMMemcg, r.TaskMemcg = oomMemcg, oomMemcg+"/f0386752"
		}
		m := &MemcgUsage{UsageKB: n64(1 << 30), LimitKB: n64(1 << 30), Failcnt: n64(1 << 20), SwapUsageKB: n64(1 << 20), SwapLimitKB: n64(1 << 53), SwapFailcnt: n64(10), StatsPath: oomMemcg}
		if !v.atLeast(5, 3) || rng.Intn(2) == 0 {
			m.SwapIsMemsw, m.KmemUsageKB, m.KmemLimitKB = true, n64(1<<20), n64(1<<53)
		}
		m.Stats = map[string]int64{}
		if !v.atLeast(5, 3) {
			for _, k := range []string{"cache", "rss", "rss_huge", "mapped_file", "swap", "inactive_anon", "zzz_extra"} {
				m.Stats[k] = rng.Int63n(1<<30) * 1024
			}
		} else {
			for _, k := range []string{"anon", "file", "kernel_stack", "shmem", "pgfault", "workingset_refault_file"} {
				m.Stats[k] = rng.Int63n(1 << 40)
			}
		}
		r.Memcg = m
	}

	// The task table in this version's columns.
	r.Tasks = []Task{}
	for i, n := 0, rng.Intn(12); i < n; i++ {
		tk := Task{PID: 1 + rng.Intn(4000000), UID: rng.Intn(70000), TGID: 1 + rng.Intn(4000000), Has: HasUID | HasTGID,
			TotalVMPages: rng.Int63n(1 << 30), RSSPages: rng.Int63n(1 << 24), OOMScoreAdj: rng.Intn(2001) - 1000, Name: pick(genNames)}
		switch {
		case maj == 2:
			tk.CPU, tk.OOMAdj = rng.Intn(64), rng.Intn(33)-17
			tk.Has |= HasCPU | HasOOMAdj
		case !v.atLeast(4, 15):
			p := rng.Int63n(1 << 16)
			tk.PgtablesPages, tk.PgtablesBytes, tk.SwapEnts = p, p*4096, rng.Int63n(1<<20)
			tk.Has |= HasPgtablesPages | HasPgtablesBytes | HasSwapEnts
		default:
			tk.PgtablesBytes, tk.SwapEnts = rng.Int63n(1<<30), rng.Int63n(1<<20)
			tk.Has |= HasPgtablesBytes | HasSwapEnts
			if v.atLeast(6, 8) {
				tk.RSSAnonPages, tk.RSSFilePages, tk.RSSShmemPages = rng.Int63n(1<<20), rng.Int63n(1<<20), rng.Int63n(1<<20)
				tk.Has |= HasRSSAnon | HasRSSFile | HasRSSShmem
			}
		}
		r.Tasks = append(r.Tasks, tk)
	}
	switch {
	case maj == 2:
		r.TableFormat = TableOOMAdj
	case !v.atLeast(4, 15):
		r.TableFormat = TableNrPtes
	default:
		r.TableFormat = TablePgtables
		if v.atLeast(6, 8) {
			r.TableFormat = TableRSSSplit
		}
	}

	noSummary := func() {
		if v.atLeast(5, 0) { // only the summary line prints them
			t.Nodemask, t.Cpuset, t.MemsAllowed = "", "", ""
		}
		if !v.atLeast(5, 0) && !global {
			r.TaskMemcg = "" // no victim: "Memory limit reached of cgroup"
		}
	}
	msg := "Memory cgroup out of memory"
	if global {
		msg = "Out of memory"
	}
	switch end := rng.Intn(10); {
	case end == 0 && v.atLeast(4, 19):
		r.NoKillable = true
		noSummary()
		return r
	case end == 1:
		r.PanicOnOOM = 1 + rng.Intn(2)
		r.Panic = "Out of memory: compulsory panic_on_oom is enabled"
		r.Truncated = true
		noSummary()
		return r
	}

	victim := func(group bool) Victim {
		vi := Victim{PID: 1 + rng.Intn(4000000), Comm: pick(genNames), TotalVMKB: n64(1 << 40), AnonRSSKB: n64(1 << 30), FileRSSKB: n64(1 << 20), GroupKill: group}
		if maj == 2 {
			vi.UID = ip(rng.Intn(70000))
		}
		if v.atLeast(4, 5) {
			vi.ShmemRSSKB = n64(1 << 20)
		}
		if v.atLeast(5, 1) {
			vi.Message = msg
		}
		if v.atLeast(5, 4) {
			vi.UID, vi.PgtablesKB, vi.OOMScoreAdj = ip(rng.Intn(70000)), n64(1<<20), ip(rng.Intn(2001)-1000)
		}
		if v.atLeast(4, 6) {
			switch rng.Intn(3) {
			case 0:
				vi.Reaped = true
				vi.ReapedAnonRSSKB, vi.ReapedFileRSSKB, vi.ReapedShmemRSSKB = n64(10), n64(10), n64(10)
			case 1:
				vi.ReapFailed = true
			}
		}
		return vi
	}
	first := victim(false)
	if v.atLeast(5, 10) && rng.Intn(6) == 0 {
		first = Victim{PID: first.PID, Comm: first.Comm, Message: msg, Exiting: true}
	}
	r.Victims = []Victim{first}
	if !v.atLeast(5, 1) {
		r.ChosenPID, r.ChosenComm, r.ChosenScore = ip(first.PID), first.Comm, ip(rng.Intn(2000))
	}
	if v.atLeast(5, 0) {
		r.Constraint = "CONSTRAINT_MEMCG"
		if global {
			r.Constraint = pick([]string{"CONSTRAINT_NONE", "CONSTRAINT_MEMORY_POLICY"})
			r.TaskMemcg = "/user.slice/user-504.slice/session-2.scope"
		} else {
			r.OOMMemcg, r.TaskMemcg = oomMemcg, oomMemcg+"/f0386752"
		}
		r.SummaryComm, r.SummaryPID, r.SummaryUID = first.Comm, ip(first.PID), ip(rng.Intn(70000))
	}
	if v.atLeast(4, 19) && !global && !first.Exiting && rng.Intn(3) == 0 {
		r.GroupKillPath = oomMemcg + "/f0386752"
		for i, n := 0, 1+rng.Intn(3); i < n; i++ {
			r.Victims = append(r.Victims, victim(true))
		}
	}
	return r
}

// TestFormatRoundTrip is the Parse(Format(r)) == r property for generated
// reports of every era, each holding the fields its kernel prints.
func TestFormatRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(20261128))
	ignore := cmpopts.IgnoreFields(Report{}, "LastLine")
	for _, rel := range formatVersions {
		t.Run(rel, func(t *testing.T) {
			for i := 0; i < 200; i++ {
				want := genReport(rng, rel)
				var buf bytes.Buffer
				if err := Format(&buf, want, ""); err != nil {
					t.Fatal(err)
				}
				reps, st := scanString(t, buf.String())
				if len(reps) != 1 {
					t.Fatalf("case %d: %d reports from:\n%s", i, len(reps), buf.String())
				}
				if st.InvalidLines != 0 {
					t.Errorf("case %d: %d invalid lines", i, st.InvalidLines)
				}
				if d := cmp.Diff(want, reps[0], ignore); d != "" {
					t.Fatalf("case %d (-want +got):\n%s\nformatted:\n%s", i, d, buf.String())
				}
			}
		})
	}
}

// TestFormatCorpus: every corpus report, formatted for the kernel that
// printed it and parsed again, keeps the fields expected.jsonl checks.
func TestFormatCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*.log")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			reps, _ := parseFile(t, path)
			for i, r := range reps {
				if r.KernelVersion == "" {
					continue
				}
				var buf bytes.Buffer
				if err := Format(&buf, r, ""); err != nil {
					t.Fatal(err)
				}
				again, _ := scanString(t, buf.String())
				if len(again) != 1 {
					t.Fatalf("report %d: %d reports after formatting:\n%s", i, len(again), buf.String())
				}
				want, got := expectedView(r), expectedView(again[0])
				if r.Trigger == nil || r.Trigger.PID == nil {
					// 008: the release came from another task's CPU
					// line, which a report without a trigger PID cannot print.
					delete(want, "kernel_version")
					delete(got, "kernel_version")
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("report %d (-parsed +reparsed):\n%s\nformatted:\n%s", i, d, buf.String())
				}
			}
		})
	}
}

// TestFormatGolden pins the exact text of one report per era
// (testdata/golden/format-<release>.txt; rewrite with -update).
func TestFormatGolden(t *testing.T) {
	for _, rel := range []string{"2.6.32-431.11.2.el6.x86_64", "4.4.121", "4.14.5", "4.19.72", "5.0.1", "5.4.0-1059-azure", "6.8.0-50-generic", "6.12.0"} {
		t.Run(rel, func(t *testing.T) {
			r := genReport(rand.New(rand.NewSource(7)), rel)
			var buf bytes.Buffer
			if err := Format(&buf, r, ""); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/golden", "format-"+rel+".txt")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), buf.String()); d != "" {
				t.Errorf("%s (-want +got):\n%s", golden, d)
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	r := &Report{}
	for _, v := range []string{"", "linux", "5"} {
		if err := Format(&bytes.Buffer{}, r, v); err == nil || !strings.Contains(err.Error(), "kernel version") {
			t.Errorf("Format(%q) = %v, want a kernel version error", v, err)
		}
	}
	if err := Format(failWriter{}, &Report{Trigger: &Trigger{Comm: "x"}}, "5.4.0"); err == nil {
		t.Error("write error not returned")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
