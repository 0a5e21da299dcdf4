package oomlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// allocEnv turns the test binary into an allocator child that sets its
// oom_score_adj to the value given, waits for a line on stdin (by then it
// is in the test memcg) and touches memory until the kernel kills it.
const allocEnv = "OOMKIT_OOMLOG_TEST_ALLOC"

func init() {
	if os.Getenv(allocEnv) != "" {
		// Fault the pages in on the main thread, so the CPU line's PID
		// (the faulting thread's id) is the child's PID.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if adj := os.Getenv(allocEnv); adj != "" {
		os.Exit(allocChild(adj))
	}
	os.Exit(m.Run())
}

func allocChild(adj string) int {
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 3
	}
	for {
		b, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
	}
}

// readKmsg returns the raw /dev/kmsg records ("prio,seq,usec,flags;text"
// plus dictionary lines) from fd until the ring has no more.
func readKmsg(t *testing.T, fd int) []string {
	t.Helper()
	var recs []string
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return recs
		case errors.Is(err, unix.EPIPE):
			continue // records overwritten; the next read goes on
		case err != nil:
			t.Fatalf("read /dev/kmsg: %v", err)
		}
		recs = append(recs, string(buf[:n]))
	}
}

// TestThisKernel makes this machine's kernel print a memcg OOM report (in
// a throw-away memcg with a 64 MiB limit) and reads it back from raw
// /dev/kmsg records and from dmesg in its plain, -T, iso, -x, reltime and
// delta formats.
// Every field is checked against what the test set up. (The victim's
// anon-rss can exceed the limit: pages the child touched before it was
// moved into the memcg stay charged to its old one on cgroup v1.)
func TestThisKernel(t *testing.T) {
	kerneltest.SerializeOOM(t)
	const limit = 64 << 20
	m := kerneltest.NewMemcg(t, limit)
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		kerneltest.Skip(t, fmt.Sprintf("open /dev/kmsg: %v", err))
	}
	defer unix.Close(fd)
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), allocEnv+"=300", "GOGC=off", "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	if err := m.AddProcess(pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("allocator ended with %v, want SIGKILL from the OOM killer", werr)
	}
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])

	find := func(reps []*Report) *Report {
		for _, r := range reps {
			for _, v := range r.Victims {
				if v.PID == pid {
					return r
				}
			}
		}
		return nil
	}

	// Raw /dev/kmsg records, dictionary lines and all. The reaper line
	// may come up to 2 s after the kill.
	a := NewAssembler(Options{})
	var reps []*Report
	deadline := time.Now().Add(3 * time.Second) // the reaper prints within ~2 s
	var kr *Report
	for {
		for _, rec := range readKmsg(t, fd) {
			reps = append(reps, a.Feed(Record{Text: rec})...)
		}
		if kr = find(reps); kr != nil || time.Now().After(deadline) {
			break
		}
		// Wait in poll(2) for the next record, or the deadline.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("poll /dev/kmsg: %v", err)
		}
	}
	if kr == nil {
		reps = append(reps, a.Flush()...)
		kr = find(reps)
	}
	if kr == nil {
		t.Fatalf("no report with victim %d in /dev/kmsg (%d reports)", pid, len(reps))
	}
	check := func(name string, r *Report) {
		t.Helper()
		if r.Trigger == nil || r.Trigger.Comm != comm || r.Trigger.PID == nil || *r.Trigger.PID != pid || r.Trigger.OOMScoreAdj == nil || *r.Trigger.OOMScoreAdj != 300 {
			t.Errorf("%s: trigger %+v, want %s pid %d adj 300", name, r.Trigger, comm, pid)
		}
		if r.KernelVersion != release {
			t.Errorf("%s: kernel %q, want %q", name, r.KernelVersion, release)
		}
		if r.Constraint != "CONSTRAINT_MEMCG" || r.OOMMemcg != m.Path || r.TaskMemcg != m.Path || r.GlobalOOM {
			t.Errorf("%s: constraint %q oom_memcg %q task_memcg %q global %v, want CONSTRAINT_MEMCG in %s", name, r.Constraint, r.OOMMemcg, r.TaskMemcg, r.GlobalOOM, m.Path)
		}
		if r.Memcg == nil || r.Memcg.LimitKB == nil || *r.Memcg.LimitKB != limit>>10 || r.Memcg.StatsPath != m.Path || len(r.Memcg.Stats) == 0 {
			t.Errorf("%s: memcg %+v, want limit %d kB and stats for %s", name, r.Memcg, limit>>10, m.Path)
		}
		v := r.Victims[0]
		if v.PID != pid || v.Comm != comm || v.OOMScoreAdj == nil || *v.OOMScoreAdj != 300 || v.Message != "Memory cgroup out of memory" ||
			v.AnonRSSKB == nil || *v.AnonRSSKB < 16<<10 {
			t.Errorf("%s: victim %d %q adj %v %q anon-rss %v kB, want pid %d adj 300 with anon-rss > 16 MiB",
				name, v.PID, v.Comm, deref(v.OOMScoreAdj), v.Message, deref(v.AnonRSSKB), pid)
		}
		if r.SummaryPID == nil || *r.SummaryPID != pid || r.SummaryComm != comm {
			t.Errorf("%s: summary %v %q", name, r.SummaryPID, r.SummaryComm)
		}
		var row *Task
		for i := range r.Tasks {
			if r.Tasks[i].PID == pid {
				row = &r.Tasks[i]
			}
		}
		if row == nil || row.OOMScoreAdj != 300 || row.Name != comm || row.RSSPages < 4096 {
			t.Errorf("%s: task row %+v, want pid %d adj 300 rss ≥ 16 MiB", name, row, pid)
		}
		if r.Truncated || len(r.Warnings) > 0 {
			t.Errorf("%s: truncated %v, warnings %q", name, r.Truncated, r.Warnings)
		}
	}
	check("kmsg", kr)
	if kr.Stamp.Seq == nil || kr.Stamp.Uptime == nil {
		t.Errorf("kmsg stamp %+v, want seq and uptime", kr.Stamp)
	}
	if st := a.Stats(); st.InvalidLines != 0 {
		t.Errorf("kmsg: %d invalid lines", st.InvalidLines)
	}

	// The same report through dmesg's own formats.
	if _, err := exec.LookPath("dmesg"); err != nil {
		t.Logf("no dmesg command: %v", err)
		return
	}
	for _, args := range [][]string{nil, {"-T"}, {"--time-format", "iso"}, {"-x"}, {"--time-format", "reltime"}, {"--time-format", "delta"}, {"-x", "--time-format", "iso"}} {
		name := strings.Join(append([]string{"dmesg"}, args...), " ")
		out, err := exec.Command("dmesg", args...).Output()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		reps, _ := scanString(t, string(out))
		r := find(reps)
		if r == nil {
			t.Errorf("%s: no report with victim %d", name, pid)
			continue
		}
		check(name, r)
		switch {
		case args == nil && (r.Stamp.Uptime == nil || *r.Stamp.Uptime != *kr.Stamp.Uptime):
			t.Errorf("%s: uptime %v, want %v", name, r.Stamp.Uptime, *kr.Stamp.Uptime)
		case (args != nil && (args[0] == "-T" || args[len(args)-1] == "iso")) && r.Stamp.Time == nil:
			t.Errorf("%s: stamp %+v has no time", name, r.Stamp)
		}
		if !bytes.Contains(out, []byte("invoked oom-killer")) {
			t.Errorf("%s: no header in output", name)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
