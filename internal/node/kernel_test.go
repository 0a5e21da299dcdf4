package node

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/proc"
)

// TestRankAgreesWithKernel: for every process on this machine the model's
// oom_score equals /proc/PID/oom_score. A process whose inputs changed
// between the reads is read again until two reads agree.
func TestRankAgreesWithKernel(t *testing.T) {
	h, err := Open(cgroup.Roots{}, nil)
	if err != nil {
		t.Fatalf("%v: a Linux test host has /proc", err)
	}
	snap, err := h.Rank("", RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Processes) < 2 {
		t.Fatalf("only %d processes", len(snap.Processes))
	}
	checkModelAgrees(t, h, snap)
}

// checkModelAgrees compares every row's model oom_score with the kernel's,
// re-reading a process whose inputs changed, and checks that rank 1 has
// the highest oom_score. The kernel may read up to snap.OOMScoreLag points
// off (per-CPU RSS counters, 6.2+; 0 before).
func checkModelAgrees(t *testing.T, h *Host, snap Ranking) {
	t.Helper()
	agrees := func(model, kernel int64) bool {
		d := model - kernel
		return d >= -snap.OOMScoreLag && d <= snap.OOMScoreLag
	}
	lagged := 0
	checked, reread, unsettled := 0, 0, 0
	for _, r := range snap.Processes {
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
			a, err1 := h.Proc.ReadTask(r.PID, proc.TaskOptions{})
			b, err2 := h.Proc.ReadTask(r.PID, proc.TaskOptions{})
			if proc.IsGone(err1) || proc.IsGone(err2) {
				ok = true // exited: nothing left to compare
				break
			}
			if err1 != nil || err2 != nil || !cmp.Equal(a, b) {
				continue
			}
			rows := rank([]proc.Task{a}, snap.Rules, capBonus(snap.Kernel), snap.GlobalTotalPages, snap.GlobalTotalPages)
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
	first := snap.Processes[0]
	for _, r := range snap.Processes {
		if r.OOMScore > first.OOMScore {
			t.Errorf("rank 1 is pid %d (oom_score %d) but pid %d has oom_score %d", first.PID, first.OOMScore, r.PID, r.OOMScore)
		}
	}
}

const touchEnv = "OOMKIT_NODETEST_TOUCH"

// TestTouchHelper is the child process of TestInspectRealMemcg: it
// waits for "go" on stdin (by then it is in the memcg), touches the number
// of bytes in $OOMKIT_NODETEST_TOUCH with one write per page, says
// "touched", and holds the memory until stdin closes.
func TestTouchHelper(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(touchEnv))
	if err != nil {
		t.Skip("helper process for TestInspectRealMemcg")
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(3)
	}
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println("mmap:", err)
		os.Exit(4)
	}
	for i := 0; i < n; i += os.Getpagesize() {
		mem[i] = 1
	}
	fmt.Println("touched")
	_, _ = io.Copy(io.Discard, in)
	runtime.KeepAlive(mem)
	os.Exit(0)
}

// meminfoKB reads one /proc/meminfo line.
func meminfoKB(t *testing.T, key string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/meminfo", key)
	return 0
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInspectRealMemcg: a throw-away memcg with a 64 MiB limit, a child in
// it that touched 32 MiB, and Inspect's numbers against the kernel's.
func TestInspectRealMemcg(t *testing.T) {
	const limit, touch = 64 << 20, 32 << 20
	m := kerneltest.NewMemcg(t, limit)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTouchHelper$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", touchEnv, touch))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	if err := m.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "touched\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	usageFile := filepath.Join(m.Dir, map[string]string{"v1": "memory.usage_in_bytes", "v2": "memory.current"}[string(m.Version)])
	usageBefore := readInt(t, usageFile)
	limitBefore, committedBefore := meminfoKB(t, "CommitLimit"), meminfoKB(t, "Committed_AS")
	h, err := Open(cgroup.Roots{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Inspect(Target{PID: cmd.Process.Pid}, kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))})
	if err != nil {
		t.Fatal(err)
	}
	usageAfter := readInt(t, usageFile)
	committedAfter := meminfoKB(t, "Committed_AS")
	if r.Overcommit.CommitLimitKB == nil || *r.Overcommit.CommitLimitKB != limitBefore {
		t.Errorf("commit_limit_kb %v, kernel %d", r.Overcommit.CommitLimitKB, limitBefore)
	}
	if r.Overcommit.CommitLimitMatches == nil || !*r.Overcommit.CommitLimitMatches {
		t.Errorf("computed commit limit %v differs from the kernel's %d", r.Overcommit.ComputedCommitLimitKB, limitBefore)
	}
	// Committed_AS moves with every mmap on the machine: inspect's read must
	// fall between (or within 1% of) the reads just before and after it.
	lo, hi := min(committedBefore, committedAfter), max(committedBefore, committedAfter)
	if c := r.Overcommit.CommittedASKB; c == nil || *c < lo-lo/100 || *c > hi+hi/100 {
		t.Errorf("committed_as_kb %v, kernel %d…%d", c, lo, hi)
	}
	c := r.Cgroup
	if c == nil {
		t.Fatalf("no cgroup in %+v", r)
	}
	if c.Path != m.Path || c.LimitBytes == nil || *c.LimitBytes != limit || c.LimitPath == nil || *c.LimitPath != m.Path {
		t.Errorf("cgroup %s limit %v at %v; want %s, %d", c.Path, c.LimitBytes, c.LimitPath, m.Path, limit)
	}
	if u := c.UsageBytes; u == nil || *u < min(usageBefore, usageAfter) || *u > max(usageBefore, usageAfter) || *u < touch {
		t.Errorf("usage_bytes %v, kernel %d…%d (touched %d)", u, usageBefore, usageAfter, touch)
	}
	if c.HeadroomBytes == nil || *c.HeadroomBytes != limit-*c.WorkingSetBytes {
		t.Errorf("headroom %v, want limit − working set %v", c.HeadroomBytes, c.WorkingSetBytes)
	}
	if v := c.NextVictim; v == nil || v.PID != cmd.Process.Pid || v.RSSPages < touch/4096 || v.TotalPages != limit/4096 {
		t.Errorf("next victim %+v, want the child %d with ≥ %d pages of %d", v, cmd.Process.Pid, touch/4096, limit/4096)
	}
	if len(r.Processes) != 1 || r.Processes[0].PID != cmd.Process.Pid {
		t.Errorf("processes %+v, want the child %d", r.Processes, cmd.Process.Pid)
	}
	t.Logf("CommitLimit %d kB, Committed_AS %v kB, memcg %s limit %d usage %d working set %d headroom %d",
		limitBefore, *r.Overcommit.CommittedASKB, c.Path, *c.LimitBytes, *c.UsageBytes, *c.WorkingSetBytes, *c.HeadroomBytes)
}
