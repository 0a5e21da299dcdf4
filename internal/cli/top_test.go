package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/proc"
)

// TestTopModelAgreesWithKernel: for every process on this machine the
// model's oom_score equals /proc/PID/oom_score. A process whose inputs
// changed between the reads is read again until two reads agree.
func TestTopModelAgreesWithKernel(t *testing.T) {
	h, err := loadHost("/proc", "/sys", "")
	if err != nil {
		t.Fatalf("%v: a Linux test host has /proc", err)
	}
	snap, err := h.snapshot("")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Rows) < 2 {
		t.Fatalf("only %d processes", len(snap.Rows))
	}
	checkModelAgrees(t, h, snap)
}

// checkModelAgrees compares every row's model oom_score with the kernel's,
// re-reading a process whose inputs changed, and checks that rank 1 has
// the highest oom_score. The kernel may read up to snap.OOMScoreLag points
// off (per-CPU RSS counters, 6.2+; 0 before).
func checkModelAgrees(t *testing.T, h *topHost, snap topSnapshot) {
	t.Helper()
	agrees := func(model, kernel int64) bool {
		d := model - kernel
		return d >= -snap.OOMScoreLag && d <= snap.OOMScoreLag
	}
	lagged := 0
	checked, reread, unsettled := 0, 0, 0
	for _, r := range snap.Rows {
		if agrees(r.ModelOOMScore, r.OOMScore) {
			if r.ModelOOMScore != r.OOMScore {
				lagged++
			}
			checked++
			continue
		}
		// Re-read: stable inputs (two identical status reads around the
		// oom_score read) must give the kernel's number. A process busy
		// allocating can read stable twice and still have moved between
		// the files, so it gets more tries, a little apart; a model error
		// fails every one of them.
		ok, mismatch := false, ""
		for try := 0; try < 50 && !ok; try++ {
			if try > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			a, err1 := h.fs.ReadTask(r.PID, proc.TaskOptions{})
			b, err2 := h.fs.ReadTask(r.PID, proc.TaskOptions{})
			if proc.IsGone(err1) || proc.IsGone(err2) {
				ok = true // exited: nothing left to compare
				break
			}
			if err1 != nil || err2 != nil || !cmp.Equal(a, b) {
				continue
			}
			rows := rankTasks([]proc.Task{a}, h.rules, h.capBonus(), snap.GlobalTotalPages, snap.GlobalTotalPages, "global", "")
			ok = agrees(rows[0].ModelOOMScore, a.OOMScore)
			if !ok {
				mismatch = fmt.Sprintf("kernel oom_score %d, model %d (rss %d swap %d pgtables %d adj %d pages)",
					a.OOMScore, rows[0].ModelOOMScore, rows[0].RSSPages, rows[0].SwapPages, rows[0].PgtablesPages, rows[0].OOMScoreAdj)
			}
		}
		switch {
		case !ok && mismatch == "":
			// Never read the same twice in a row: nothing to compare.
			t.Logf("pid %d (%s): memory changing on every read, not compared", r.PID, r.Comm)
			unsettled++
			continue
		case !ok:
			t.Errorf("pid %d (%s): %s", r.PID, r.Comm, mismatch)
		}
		reread++
		checked++
	}
	t.Logf("%d processes: model oom_score == /proc/PID/oom_score for all (%d needed a re-read, %d never settled, %d off by no more than the %d-point per-CPU counter lag)",
		checked, reread, unsettled, lagged, snap.OOMScoreLag)
	if unsettled > checked {
		t.Errorf("only %d of %d processes could be compared", checked, checked+unsettled)
	}
	// The first in rank order has the highest oom_score.
	first := snap.Rows[0]
	for _, r := range snap.Rows {
		if r.OOMScore > first.OOMScore {
			t.Errorf("rank 1 is pid %d (oom_score %d) but pid %d has oom_score %d", first.PID, first.OOMScore, r.PID, r.OOMScore)
		}
	}
}

// TestTopJSONReal runs 'top --once --json' on this machine through the CLI.
func TestTopJSONReal(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"top", "--once", "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	var prevRank int
	var maxScore, firstScore int64 = -1, -1
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if m["schema"] != "oomkit.top/v1" {
			t.Fatalf("schema %v", m["schema"])
		}
		for _, k := range []string{"pid", "comm", "rank", "points", "oom_score_adj", "oom_score", "model_oom_score"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line %d has no %q: %s", n+1, k, sc.Text())
			}
		}
		score := int64(m["oom_score"].(float64))
		if n == 0 {
			firstScore = score
		}
		maxScore = max(maxScore, score)
		if r, ok := m["rank"].(float64); ok {
			if int(r) != prevRank+1 {
				t.Errorf("line %d: rank %v after %d", n+1, r, prevRank)
			}
			prevRank = int(r)
		}
		n++
	}
	if n < 2 || firstScore != maxScore {
		t.Errorf("%d lines; first oom_score %d, highest %d", n, firstScore, maxScore)
	}
}

// topFixture is a small machine: a Guaranteed pod whose two processes
// have adj −997, a Burstable java, a shell, a kernel thread, init and a
// process with adj −1000, with hostile names.
func topFixture(t testing.TB, root string) (procRoot, sysRoot string) {
	pod := "/kubepods/pod0057cc81-ea16-463a-96c2-fc74acfb9c47"
	ctr := pod + "/3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"
	ps := []fakeProcess{
		{pid: 1, comm: "systemd", anonKB: 8000, fileKB: 4000, pteKB: 80, start: 1},
		{pid: 2, comm: "kthreadd", kthread: true, start: 1},
		{pid: 300, comm: "sshd", anonKB: 2000, fileKB: 3000, pteKB: 60, adj: -1000, start: 50},
		{pid: 400, comm: "Plex Media Server", anonKB: 30000, fileKB: 8000, pteKB: 120, start: 60},
		{pid: 500, comm: "pause", anonKB: 4, fileKB: 0, pteKB: 4, adj: -998, memcg: pod + "/aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2", start: 70},
		{pid: 510, comm: "data_sim", anonKB: 900000, fileKB: 20000, pteKB: 1800, adj: -997, memcg: ctr, start: 71},
		{pid: 511, comm: "(resolved)", anonKB: 400, fileKB: 100, pteKB: 8, adj: -997, memcg: ctr, start: 72},
		{pid: 600, comm: `"with quotes"`, anonKB: 1200, fileKB: 800, shmemKB: 400, swapKB: 0, pteKB: 40, adj: 1000, start: 80},
		{pid: 601, comm: "[", anonKB: 1200, fileKB: 800, shmemKB: 400, pteKB: 40, adj: 1000, start: 81},
	}
	procRoot = writeFakeProc(t, root, defaultFakeHost, ps)
	sysRoot = filepath.Join(root, "sys")
	mem := filepath.Join(sysRoot, "fs/cgroup/memory")
	for _, d := range []string{"", "/kubepods", pod, ctr, pod + "/aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"} {
		must(t, os.MkdirAll(mem+d, 0o755))
		lim := "9223372036854771712"
		if d == pod || d == ctr {
			lim = "1073741824"
		}
		for f, v := range map[string]string{"memory.limit_in_bytes": lim, "memory.usage_in_bytes": "950000000", "memory.failcnt": "0",
			"memory.use_hierarchy": "1", "memory.swappiness": "60", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
			"memory.stat": "total_inactive_file 10000000\ntotal_active_file 2000000\n", "cgroup.procs": ""} {
			must(t, os.WriteFile(filepath.Join(mem+d, f), []byte(v+"\n"), 0o644))
		}
	}
	must(t, os.WriteFile(filepath.Join(mem+ctr, "cgroup.procs"), []byte("510\n511\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(mem+pod+"/aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2", "cgroup.procs"), []byte("500\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(sysRoot, "fs/cgroup/unified"), 0o755))
	return procRoot, sysRoot
}

func TestTopGolden(t *testing.T) {
	procRoot, sysRoot := topFixture(t, t.TempDir())
	pod := "/kubepods/pod0057cc81-ea16-463a-96c2-fc74acfb9c47"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"global.jsonl", []string{"--once", "--json"}},
		{"global.txt", []string{"--once"}},
		{"memcg.txt", []string{"--once", "--cgroup", pod}},
		// 5.4.0: every task in the pod clamps to 1 point; the last scanned wins.
		{"memcg-5.4.0.txt", []string{"--once", "--cgroup", pod, "--assume-kernel", "5.4.0"}},
		{"filter-sort.txt", []string{"--once", "--filter", "kubepods", "--sort", "rss"}},
		// 4.14: clamped badness, first scanned wins, root's 3 % bonus.
		{"global-4.14.txt", []string{"--once", "--assume-kernel", "4.14.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"top", "--proc-root", procRoot, "--sys-root", sysRoot}, tc.args...)
			if code := Main(args, nil, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden(t, filepath.Join("testdata", "top", tc.name), out.Bytes())
		})
	}
}

func TestTopOddHosts(t *testing.T) {
	t.Run("process exits mid-scan", func(t *testing.T) {
		procRoot, sysRoot := topFixture(t, t.TempDir())
		// Listed in cgroup.procs, already gone from /proc.
		os.RemoveAll(filepath.Join(procRoot, "511"))
		for _, format := range []string{"--once", "--json"} {
			var out, errb bytes.Buffer
			code := Main([]string{"top", format, "--proc-root", procRoot, "--sys-root", sysRoot, "--cgroup", "/kubepods"}, nil, &out, &errb)
			if code != 0 || !strings.Contains(errb.String(), "1 processes exited while they were read") || strings.Contains(out.String(), "(resolved)") {
				t.Errorf("%s: exit %d, stderr %q", format, code, errb.String())
			}
		}
	})
	t.Run("no cgroup memory controller", func(t *testing.T) {
		procRoot, _ := topFixture(t, t.TempDir())
		must(t, os.WriteFile(filepath.Join(procRoot, "self/mountinfo"), []byte("22 1 254:1 / / rw - ext4 /dev/root rw\n"), 0o444))
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--json", "--proc-root", procRoot, "--sys-root", t.TempDir()}, nil, &out, &errb)
		if code != 0 || strings.Count(out.String(), "\n") != 9 {
			t.Errorf("exit %d, %d lines, stderr %q", code, strings.Count(out.String(), "\n"), errb.String())
		}
		code = Main([]string{"top", "--once", "--proc-root", procRoot, "--cgroup", "/x"}, nil, &out, &errb)
		if code != 1 {
			t.Errorf("--cgroup without a controller: exit %d", code)
		}
	})
	t.Run("unknown cgroup", func(t *testing.T) {
		procRoot, sysRoot := topFixture(t, t.TempDir())
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--proc-root", procRoot, "--sys-root", sysRoot, "--cgroup", "/nope"}, nil, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "--all-cgroups") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	})
	t.Run("not a proc root", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--proc-root", t.TempDir()}, nil, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "--proc-root") {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	})
}

func TestTopUsage(t *testing.T) {
	for _, args := range [][]string{
		{"top", "--sort", "size"},
		{"top", "--interval", "0s"},
		{"top", "--limit", "-1"},
		{"top", "extra"},
		{"top", "--once", "--assume-kernel", "banana"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(args, nil, &out, &errb); code != ExitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, errb.String())
			}
		})
	}
}

// BenchmarkTopOnceJSON10k runs 'top --once --json' over a fake /proc of
// 10,000 processes.
func BenchmarkTopOnceJSON10k(b *testing.B) {
	root := b.TempDir()
	ps := make([]fakeProcess, 10000)
	for i := range ps {
		ps[i] = fakeProcess{pid: 100 + i, comm: fmt.Sprintf("worker-%d", i), anonKB: int64(1000 + i*7%50000), fileKB: int64(i % 3000),
			pteKB: 40 + int64(i%100)*4, adj: int64(i%3)*500 - 500, start: uint64(i),
			memcg: fmt.Sprintf("/kubepods/burstable/pod%08x-ea16-463a-96c2-fc74acfb9c47/%064x", i/10, i)}
	}
	procRoot := writeFakeProc(b, root, defaultFakeHost, ps)
	// The cgroup tree of such a node: 1,000 pods of 10 containers, one
	// process each, under /kubepods/burstable.
	sysRoot := filepath.Join(root, "sys")
	mem := filepath.Join(sysRoot, "fs/cgroup/memory")
	for _, p := range ps {
		dir := filepath.Join(mem, p.memcg)
		must(b, os.MkdirAll(dir, 0o755))
		must(b, os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprintf("%d\n", p.pid)), 0o644))
	}
	for _, d := range []string{"", "kubepods", "kubepods/burstable"} {
		must(b, os.WriteFile(filepath.Join(mem, d, "cgroup.procs"), nil, 0o644))
	}
	b.ResetTimer()
	defer reportCPU(b)()
	for b.Loop() {
		var out, errb bytes.Buffer
		if code := Main([]string{"top", "--once", "--json", "--proc-root", procRoot, "--sys-root", sysRoot}, nil, &out, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
}

// BenchmarkTopRealProc runs 'top --once --json' on this machine's /proc,
// and BenchmarkPS the baseline 'ps -eo pid,rss,comm' in the same run.
func BenchmarkTopRealProc(b *testing.B) {
	defer reportCPU(b)()
	for b.Loop() {
		var out, errb bytes.Buffer
		if code := Main([]string{"top", "--once", "--json"}, nil, &out, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
}

func BenchmarkPS(b *testing.B) {
	if _, err := exec.LookPath("ps"); err != nil {
		kerneltest.Skip(b, "no ps (procps) to compare with")
	}
	defer reportChildCPU(b)()
	for b.Loop() {
		if err := exec.Command("ps", "-eo", "pid,rss,comm").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports this process's CPU time (user + system) per
// operation, which a busy shared machine disturbs far less than wall time.
// Use as defer reportCPU(b)().
func reportCPU(b *testing.B) func() { return reportRusage(b, syscall.RUSAGE_SELF) }

// reportChildCPU is reportCPU for the child processes the benchmark ran.
func reportChildCPU(b *testing.B) func() { return reportRusage(b, syscall.RUSAGE_CHILDREN) }

func reportRusage(b *testing.B, who int) func() {
	var r0 syscall.Rusage
	_ = syscall.Getrusage(who, &r0)
	return func() {
		var r1 syscall.Rusage
		_ = syscall.Getrusage(who, &r1)
		cpu := r1.Utime.Nano() - r0.Utime.Nano() + r1.Stime.Nano() - r0.Stime.Nano()
		b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
	}
}
