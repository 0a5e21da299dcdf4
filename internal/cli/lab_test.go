package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/lab"
)

// TestAllocLabRefusals is the table of refusals: arguments → exit code →
// the one-line message. None of these allocates or creates a cgroup.
func TestAllocLabRefusals(t *testing.T) {
	root := lab.Host{EUID: 0, Layout: cgroup.Layout{Memory: cgroup.V1, V1Memory: "/sys/fs/cgroup/memory"},
		OwnMemcg: "/user.slice", MemAvailableBytes: 8 * bytesize.GiB, KernelRelease: "6.18.0"}
	user := root
	user.EUID = 1000
	noMemcg := root
	noMemcg.Layout, noMemcg.OwnMemcg = cgroup.Layout{}, ""
	readOnly := root
	readOnly.OwnMemcgErr = "memory cgroup /sys/fs/cgroup/memory/user.slice is not writable: read-only file system"

	for _, tc := range []struct {
		name string
		args []string
		host *lab.Host
		code int
		msg  string
	}{
		{"touch over 100", []string{"alloc", "--block", "1MiB", "--touch", "150%"}, nil, 2, `oomkit: --touch: "150%" is outside 0%–100%`},
		{"block 0", []string{"alloc", "--block", "0"}, nil, 2, "oomkit: --block must be more than 0 bytes"},
		{"no block", []string{"alloc"}, nil, 2, "oomkit: --block is required"},
		{"bad size", []string{"alloc", "--block", "10parsecs"}, nil, 2, `oomkit: --block: "10parsecs" is not a size`},
		{"bad mode", []string{"alloc", "--block", "1MiB", "--mode", "brk"}, nil, 2, `oomkit: --mode "brk": want mmap, heap, file or shmem`},
		{"hold without max", []string{"alloc", "--block", "1MiB", "--hold"}, nil, 2, "oomkit: --hold needs --max"},
		{"adj out of range", []string{"alloc", "--block", "1MiB", "--oom-score-adj", "2000"}, nil, 2, "oomkit: --oom-score-adj 2000 is outside -1000…1000"},
		{"max 0", []string{"alloc", "--block", "1MiB", "--max", "0"}, nil, 2, "oomkit: --max 0"},
		{"unknown scenario", []string{"lab", "run", "twist-3"}, &root, 2, `oomkit: unknown scenario "twist-3" ('oomkit lab list' shows them)`},
		{"no scenario", []string{"lab", "run"}, &root, 2, "oomkit: name a scenario or use --all"},
		{"names and all", []string{"lab", "run", "--all", "twist-1"}, &root, 2, "oomkit: give scenario names or --all, not both"},
		{"limit too small", []string{"lab", "run", "--all", "--limit", "1MiB"}, &root, 2, "oomkit: --limit 1 MiB is too small"},
		{"limit not a size", []string{"lab", "run", "--all", "--limit", "lots"}, &root, 2, `oomkit: --limit: "lots" is not a size`},
		{"limit above half of MemAvailable", []string{"lab", "run", "--all", "--limit", "1TiB"}, &root, 4,
			"oomkit: --limit 1 TiB is above half of MemAvailable (8 GiB): choose --limit 4 GiB or less"},
		{"not root", []string{"lab", "run", "--all"}, &user, 4, "oomkit: the lab needs root to create memory cgroups"},
		{"no memory controller", []string{"lab", "run", "container-limit"}, &noMemcg, 4, "oomkit: no writable memory cgroup to run the lab in: no cgroup memory controller is mounted"},
		{"memcg not writable", []string{"lab", "run", "container-limit"}, &readOnly, 4, "oomkit: no writable memory cgroup to run the lab in: memory cgroup /sys/fs/cgroup/memory/user.slice is not writable"},
		{"clean as a user", []string{"lab", "clean"}, &user, 4, "oomkit: the lab needs root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.host != nil {
				h := *tc.host
				old := labHost
				labHost = func() lab.Host { return h }
				t.Cleanup(func() { labHost = old })
			}
			var out, errOut bytes.Buffer
			code := Main(tc.args, strings.NewReader(""), &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			msg := errOut.String()
			if !strings.HasPrefix(msg, tc.msg) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", msg, tc.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestLabRefusesLimitOnThisHost: the real host, a limit no machine here
// has half of: refused with exit 4 before anything is created.
func TestLabRefusesLimitOnThisHost(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"lab", "run", "--all", "--limit", "1000TiB"}, strings.NewReader(""), &out, &errOut); code != labExitRefused {
		t.Fatalf("exit %d, want %d: %s", code, labExitRefused, errOut.String())
	}
	if !strings.Contains(errOut.String(), "MemAvailable") && !strings.Contains(errOut.String(), "root") &&
		!strings.Contains(errOut.String(), "memory cgroup") {
		t.Errorf("message %q does not say why", errOut.String())
	}
}

func TestLabListGolden(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"lab", "list"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	golden(t, filepath.Join("testdata", "lab/list.golden"), out.Bytes())
}

// TestAllocRenderGolden pins the text alloc prints for fixed records: the
// progress line and every kind of summary (the ENOMEM one is the
// article's Figure 3).
func TestAllocRenderGolden(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	str := func(v string) *string { return &v }
	mode2 := 2
	cfg := alloc.Config{Mode: alloc.ModeMmap, BlockBytes: 100 * bytesize.MiB, TouchPercent: 50, MaxBytes: 1 * bytesize.GiB}
	base := alloc.Record{
		Schema: alloc.Schema, Event: "block", PID: 4242, Mode: alloc.ModeMmap, BlockBytes: 100 * bytesize.MiB, TouchPercent: 50,
		Blocks: 3, AllocatedBytes: 300 * bytesize.MiB, TouchedBytes: 150 * bytesize.MiB, RSSBytes: i64(156 * bytesize.MiB),
		CommitBytes: i64(300*bytesize.MiB + 612*bytesize.KiB), CommittedASBytes: i64(12 * bytesize.GiB), CommitLimitBytes: i64(12 * bytesize.GiB), OvercommitMode: &mode2,
		Cgroup: str("/oomkit-lab-0123456789ab"), CgroupUsageBytes: i64(152 * bytesize.MiB), CgroupLimitBytes: i64(256 * bytesize.MiB),
		ElapsedSeconds: 1.5,
	}
	var b bytes.Buffer
	b.WriteString(allocLine(base) + "\n")
	unknown := base
	unknown.RSSBytes, unknown.CommitBytes, unknown.CgroupUsageBytes, unknown.CgroupLimitBytes = nil, nil, nil, nil
	b.WriteString(allocLine(unknown) + "\n")
	for _, stop := range []struct {
		event, reason string
		signal, err   *string
	}{
		{"stop", alloc.StopMax, nil, nil},
		{"hold", alloc.StopMax, nil, nil},
		{"stop", alloc.StopENOMEM, nil, str("mmap 104857600 bytes: cannot allocate memory")},
		{"stop", alloc.StopRuntime, nil, str("the Go runtime's memory limit would be exceeded: 100 bytes mapped by the runtime + a 104857600-byte block > GOMEMLIMIT 104857600 bytes")},
		{"stop", alloc.StopSignal, str("SIGINT"), nil},
		{"stop", alloc.StopError, nil, str("write /tmp/(unlinked): no space left on device")},
	} {
		r := base
		r.Event, r.StopReason, r.Signal, r.Error = stop.event, &stop.reason, stop.signal, stop.err
		writeAllocSummary(&b, r, cfg)
	}
	golden(t, filepath.Join("testdata", "alloc/render.golden"), b.Bytes())
}

// TestSchemasDocumented: every field of oomkit.alloc/v1 and oomkit.lab/v1
// is documented in docs/alloc.md and docs/lab.md.
func TestSchemasDocumented(t *testing.T) {
	for doc, v := range map[string]any{"alloc.md": alloc.Record{}, "lab.md": lab.Result{}} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range jsonFields(reflect.TypeOf(v)) {
			if !bytes.Contains(b, []byte("`"+f+"`")) {
				t.Errorf("docs/%s does not document `%s`", doc, f)
			}
		}
	}
}

// jsonFields lists the JSON names of t's fields and of the structs it
// holds (slices, pointers), depth first.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != "" && !strings.Contains(t.PkgPath(), "oomkit/internal/alloc") && !strings.Contains(t.PkgPath(), "oomkit/internal/lab") {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, name)
		out = append(out, jsonFields(f.Type)...)
	}
	return out
}

// TestLabRenderGolden pins the text of one agreeing, one failing and one
// skipped scenario.
func TestLabRenderGolden(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	str := func(v string) *string { return &v }
	pid := func(v int) *int { return &v }
	ok := lab.Result{
		Schema: lab.Schema, Scenario: "twist-1", DurationSeconds: 0.93, OOMKillDelta: i64(1), Agrees: true,
		Summary:       "the kernel (6.18.0, rules ≥5.9/5.4.144+) killed main (pid 920); the model predicted the same from the report's task table and from the setup; a 5.3–5.8/5.4.0–5.4.143 kernel would have killed helper (pid 934)",
		Checks:        []lab.Check{{Name: "main was SIGKILLed", OK: true, Detail: "main (pid 920): signal: killed"}},
		KernelVictims: []lab.Victim{{PID: pid(920), Comm: str("oomkit"), Role: str("main")}},
	}
	bad := ok
	bad.Scenario, bad.Agrees = "child-not-init", false
	bad.Summary = "the kernel (6.18.0, rules ≥5.9/5.4.144+) killed init (pid 10); the model predicted child (pid 11) from the table and [child] from the setup"
	bad.Checks = []lab.Check{{Name: "init survived", OK: false, Detail: "init (pid 10): signal: killed"}}
	skip := lab.Result{Schema: lab.Schema, Scenario: "group-kill", Skipped: str("needs the cgroup v2 memory controller")}
	var b bytes.Buffer
	for _, r := range []lab.Result{ok, bad, skip} {
		writeLabResult(&b, r)
	}
	golden(t, filepath.Join("testdata", "lab/render.golden"), b.Bytes())
}
