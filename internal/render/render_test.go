package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/lab"
)

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
	b.WriteString(AllocLine(base) + "\n")
	unknown := base
	unknown.RSSBytes, unknown.CommitBytes, unknown.CgroupUsageBytes, unknown.CgroupLimitBytes = nil, nil, nil, nil
	b.WriteString(AllocLine(unknown) + "\n")
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
		AllocSummary(&b, r, cfg)
	}
	golden(t, filepath.Join("testdata", "alloc/render.golden"), b.Bytes())
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
		LabResult(&b, r)
	}
	golden(t, filepath.Join("testdata", "lab/render.golden"), b.Bytes())
}

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -run %s -update)", err, t.Name())
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got):\n%s", file, d)
	}
}
