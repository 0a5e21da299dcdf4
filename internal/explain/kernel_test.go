package explain

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// allocEnv makes the test binary an allocator child: "MiB,adj" where MiB 0
// means "until killed".
const allocEnv = "OOMKIT_EXPLAIN_TEST_ALLOC"

func TestMain(m *testing.M) {
	if spec := os.Getenv(allocEnv); spec != "" {
		os.Exit(allocChild(spec))
	}
	code := m.Run()
	removeBigLogs()
	os.Exit(code)
}

// allocChild sets its own oom_score_adj, waits for a line on stdin (the
// parent has moved it into the test memcg by then), allocates and touches
// MiB mebibytes (forever when 0), says "ready" and waits to be killed.
func allocChild(spec string) int {
	mib, adj, ok := strings.Cut(spec, ",")
	if !ok {
		return 3
	}
	n, _ := strconv.Atoi(mib)
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return 3
	}
	const chunk = 1 << 20
	for i := 0; n == 0 || i < n; i++ {
		b, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		for j := 0; j < chunk; j += 4096 {
			b[j] = 1
		}
	}
	fmt.Println("ready")
	_, _ = in.ReadString('\n') // until the parent closes stdin or the kernel kills us
	return 0
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	adj   int
}

// startChild starts an allocator, moves it into the memcg and lets it go.
func startChild(t *testing.T, addProcess func(int) error, mib, adj int, wait bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d", allocEnv, mib, adj))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), adj: adj}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := addProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if wait {
		line, err := c.out.ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("child %d: %q, %v", cmd.Process.Pid, line, err)
		}
	}
	return c
}

// TestRealKernelOOM makes this machine's kernel kill a process in a
// throw-away memcg and checks the explanation of its report, read back
// from /dev/kmsg, against what the test set up.
func TestRealKernelOOM(t *testing.T) {
	kerneltest.SerializeOOM(t)
	const limit = 128 << 20
	m := kerneltest.NewMemcg(t, limit)
	rd, err := kmsg.Open(kmsg.DefaultPath, true)
	if err != nil {
		kerneltest.Skip(t, err.Error())
	}
	defer rd.Close()
	if err := rd.SeekEnd(); err != nil {
		t.Fatal(err)
	}

	// Two small processes with known oom_score_adj, then a big one that
	// allocates until the kernel kills it. The adjs are positive: lowering
	// one needs CAP_SYS_RESOURCE, which test machines may not grant. With
	// totalpages 32768, adj 100 adds 3200 points, far below the big one's
	// ~25000 pages (even under -race, whose shadow memory swells RSS).
	small1 := startChild(t, m.AddProcess, 2, 100, true)
	small2 := startChild(t, m.AddProcess, 2, 50, true)
	big := startChild(t, m.AddProcess, 0, 0, false)
	werr := big.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("big allocator ended with %v, want SIGKILL from the OOM killer", werr)
	}
	bigPID := big.cmd.Process.Pid

	reps, raw := readReports(t, rd)
	var rep *oomlog.Report
	for _, r := range reps {
		if r.OOMMemcg == m.Path {
			rep = r
			break
		}
	}
	if rep == nil {
		t.Fatalf("no OOM report for %s among %d reports read from /dev/kmsg", m.Path, len(reps))
	}
	e := Explain(rep, Options{File: kmsg.DefaultPath})
	if p := os.Getenv("OOMKIT_SAVE_REPORT"); p != "" {
		// How samples/real-6.18-cgroup-v1.log was made.
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	got := map[string]any{
		"kernel_version": deref(e.KernelVersion),
		"oom_kind":       string(deref(e.OOMKind)),
		"oom_memcg":      deref(e.OOMMemcg),
		"task_memcg":     deref(e.TaskMemcg),
		"limit_kb":       deref(e.Memcg.LimitKB),
		"victims":        len(e.Victims),
		"victim_pid":     e.Victims[0].PID,
		"victim_adj":     deref(e.Victims[0].OOMScoreAdj),
		"predicted":      deref(e.Analysis.PredictedVictimPID),
		"agrees":         deref(e.Analysis.Agrees),
		"rules":          deref(e.Analysis.Rules),
		"total_pages":    deref(e.Analysis.TotalPages),
		"kmsg_seq_set":   e.KmsgSeq != nil,
		"kubernetes":     e.Kubernetes == nil,
	}
	want := map[string]any{
		"kernel_version": release,
		"oom_kind":       "memcg",
		"oom_memcg":      m.Path,
		"task_memcg":     m.Path,
		"limit_kb":       int64(limit / 1024),
		"victims":        1,
		"victim_pid":     bigPID,
		"victim_adj":     0,
		"predicted":      bigPID,
		"agrees":         true,
		"rules":          "signed", // this machine runs 6.x
		"total_pages":    int64(limit / 4096),
		"kmsg_seq_set":   true,
		"kubernetes":     true,
	}
	if diff := cmpDiff(want, got); diff != "" {
		t.Errorf("explained real report (-want +got):\n%s", diff)
	}
	// Every task of the memcg is in the table with the adj it set.
	rows := map[int]int{}
	for _, row := range e.Tasks {
		rows[row.PID] = row.OOMScoreAdj
	}
	wantRows := map[int]int{small1.cmd.Process.Pid: 100, small2.cmd.Process.Pid: 50, bigPID: 0}
	if diff := cmpDiff(wantRows, rows); diff != "" {
		t.Errorf("task table pid → oom_score_adj (-want +got):\n%s", diff)
	}
	if !strings.Contains(e.Analysis.Summary, fmt.Sprintf("killed %s (pid %d", e.Victims[0].Comm, bigPID)) {
		t.Errorf("summary does not name the victim:\n%s", e.Analysis.Summary)
	}
	t.Logf("kmsg seq %d: %s", *e.KmsgSeq, e.Analysis.Summary)
}

// readReports reads /dev/kmsg records until the log has been quiet for two
// seconds and returns the reports in them, and the records in /dev/kmsg
// text form.
func readReports(t *testing.T, rd *kmsg.Reader) ([]*oomlog.Report, []byte) {
	t.Helper()
	asm := oomlog.NewAssembler(oomlog.Options{})
	var reps []*oomlog.Report
	var raw []byte
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		rec, err := rd.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw = rec.AppendText(raw)
		seq, up := rec.Seq, float64(rec.Usec)/1e6
		reps = append(reps, asm.Feed(oomlog.Record{Text: rec.Text, Stamp: oomlog.Stamp{Seq: &seq, Uptime: &up, Caller: rec.Caller}, HasStamp: true})...)
	}
	return append(reps, asm.Flush()...), raw
}

// TestRealKernelOOMScoreAdj is the adj term on the real kernel: a small
// process with oom_score_adj 1000 (+32768 points in a 128 MiB memcg) dies
// before a big one with 0, and the model says so; the big one dies in the
// next OOM, with the first victim left out of the ranking.
func TestRealKernelOOMScoreAdj(t *testing.T) {
	kerneltest.SerializeOOM(t)
	const limit = 128 << 20
	m := kerneltest.NewMemcg(t, limit)
	rd, err := kmsg.Open(kmsg.DefaultPath, true)
	if err != nil {
		kerneltest.Skip(t, err.Error())
	}
	defer rd.Close()
	if err := rd.SeekEnd(); err != nil {
		t.Fatal(err)
	}
	small := startChild(t, m.AddProcess, 2, 1000, true)
	big := startChild(t, m.AddProcess, 0, 0, false)
	_ = big.cmd.Wait()
	_ = small.cmd.Wait()
	reps, _ := readReports(t, rd)
	var mine []*oomlog.Report
	for _, r := range reps {
		if r.OOMMemcg == m.Path {
			mine = append(mine, r)
		}
	}
	if len(mine) < 2 {
		t.Fatalf("%d OOM reports for %s, want 2 (small, then big)", len(mine), m.Path)
	}
	smallPID, bigPID := small.cmd.Process.Pid, big.cmd.Process.Pid
	var prior []int
	var got [][]any
	for _, r := range mine[:2] {
		e := Explain(r, Options{PriorVictims: prior})
		a := e.Analysis
		prior = append(prior, deref(a.KernelVictimPID))
		top := Rank{}
		if len(a.Ranking) > 0 {
			top = a.Ranking[0]
		}
		got = append(got, []any{deref(a.KernelVictimPID), deref(a.PredictedVictimPID), deref(a.Agrees), top.PID, top.OOMScoreAdj})
	}
	want := [][]any{
		{smallPID, smallPID, true, smallPID, 1000},
		{bigPID, bigPID, true, bigPID, 0},
	}
	if diff := cmpDiff(want, got); diff != "" {
		t.Errorf("victim, predicted, agrees, top pid, top adj per OOM (-want +got):\n%s", diff)
	}
}
