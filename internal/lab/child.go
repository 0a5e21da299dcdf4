package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/cgroup"
)

// child is one `oomkit alloc` process the lab started.
type child struct {
	role  string
	memcg *cgroup.Memcg
	cmd   *exec.Cmd
	pid   int
	start *os.File // write end of the start pipe; nil once released

	mu      sync.Mutex
	tids    map[int]bool // thread IDs seen (the kernel may name a thread)
	records []alloc.Record
	stderr  bytes.Buffer
	changed chan struct{} // closed and replaced on every new record and at exit
	exited  bool
	state   *os.ProcessState
}

// spawn starts `alloc args… --json` stopped on its start pipe, moves it
// into m, and returns it; it allocates nothing until release.
func (r *run) spawn(role string, m *cgroup.Memcg, args ...string) (*child, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	argv := append(append(append([]string{}, r.cfg.ExeArgs...), "alloc"), args...)
	argv = append(argv, "--json")
	cmd := exec.Command(r.cfg.Exe, argv...)
	cmd.Env = append(append(os.Environ(), r.cfg.Env...), alloc.StartFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{pr}
	// A lab that dies must not leave allocators running (the next run's
	// cleanup would get them, but not before they fill their cgroup).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{role: role, memcg: m, cmd: cmd, start: pw, changed: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &c.mu, b: &c.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		pw.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", r.cfg.Exe, err)
	}
	c.pid = cmd.Process.Pid
	c.tids = map[int]bool{c.pid: true}
	r.children = append(r.children, c)
	if err := m.AddProcess(c.pid); err != nil {
		return nil, fmt.Errorf("move %s (pid %d) into %s: %w", role, c.pid, m.Path, err)
	}
	go c.read(out)
	return c, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 64<<10 {
		return len(p), nil
	}
	return w.b.Write(p)
}

func (c *child) read(out interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec alloc.Record
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		c.noteThreads()
		c.mu.Lock()
		c.records = append(c.records, rec)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
	st, _ := c.cmd.Process.Wait()
	c.mu.Lock()
	c.exited, c.state = true, st
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// noteThreads records the child's current thread IDs. A "Killed process
// N" line can name a thread instead of the process: when a memory.oom.group
// kill reaches a victim whose leader has already given up its mm, the
// kernel prints the thread that still holds it (find_lock_task_mm).
func (c *child) noteThreads() {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", c.pid))
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			c.tids[tid] = true
		}
	}
}

// hasThread reports whether tid is (or was) one of the child's threads.
func (c *child) hasThread(tid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tids[tid]
}

// release lets the child allocate.
func (c *child) release() error {
	if c.start == nil {
		return nil
	}
	c.noteThreads()
	_, err := c.start.Write([]byte{1})
	c.start.Close()
	c.start = nil
	if err != nil {
		return fmt.Errorf("release %s (pid %d): %w", c.role, c.pid, err)
	}
	return nil
}

// snapshot returns the records so far, whether the child exited, and a
// channel closed on the next change.
func (c *child) snapshot() ([]alloc.Record, bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]alloc.Record(nil), c.records...), c.exited, c.changed
}

// waitFor waits until ok says yes to a record, or the child exits, ctx ends
// or timeout passes.
func (c *child) waitFor(ctx context.Context, timeout time.Duration, what string, ok func(alloc.Record) bool) (alloc.Record, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		recs, exited, changed := c.snapshot()
		for _, r := range recs {
			if ok(r) {
				return r, nil
			}
		}
		if exited {
			return alloc.Record{}, fmt.Errorf("%s (pid %d) exited (%s) before %s%s", c.role, c.pid, c.exitText(), what, c.stderrText())
		}
		select {
		case <-ctx.Done():
			return alloc.Record{}, context.Cause(ctx)
		case <-deadline.C:
			return alloc.Record{}, fmt.Errorf("%s (pid %d) did not reach %s within %s", c.role, c.pid, what, timeout)
		case <-changed:
		}
	}
}

// waitHold waits for the "hold" record: --max reached, memory kept.
func (c *child) waitHold(ctx context.Context) (alloc.Record, error) {
	return c.waitFor(ctx, 20*time.Second, "its --max", func(r alloc.Record) bool { return r.Event == "hold" })
}

// alive reports whether the child is still running.
func (c *child) alive() bool {
	_, exited, _ := c.snapshot()
	return !exited
}

// killedBy returns the signal that ended the child, 0 if it is running or
// exited normally.
func (c *child) killedBy() syscall.Signal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.exited || c.state == nil {
		return 0
	}
	if ws, ok := c.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// last returns the child's last record, nil if none.
func (c *child) last() *alloc.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.records) == 0 {
		return nil
	}
	r := c.records[len(c.records)-1]
	return &r
}

func (c *child) exitText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		return "running"
	}
	return c.state.String()
}

func (c *child) stderrText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stderr.Len() == 0 {
		return ""
	}
	return ": " + string(bytes.TrimSpace(c.stderr.Bytes()))
}

// stop kills the child (if running) and waits for it to be reaped.
func (c *child) stop() {
	if c.start != nil {
		c.start.Close() // an unreleased child exits without allocating
		c.start = nil
	}
	_ = syscall.Kill(c.pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, exited, changed := c.snapshot(); exited {
			return
		} else {
			select {
			case <-changed:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// allocArgs builds alloc's flags.
func allocArgs(block, max int64, interval time.Duration, adj int, hold bool, extra ...string) []string {
	a := []string{"--block", strconv.FormatInt(block, 10), "--touch", "100%", "--interval", interval.String(),
		"--oom-score-adj", strconv.Itoa(adj)}
	if max > 0 {
		a = append(a, "--max", strconv.FormatInt(max, 10))
	}
	if hold {
		a = append(a, "--hold")
	}
	return append(a, extra...)
}

// measureRuntimeRSS starts an allocator, leaves it blocked on its start
// pipe (it allocates nothing), and reads what it has resident then: the
// Go runtime and the binary's touched pages. Those pages were charged to
// the memcg the process started in, so they count in its RSS (and its
// badness) but not in the scenario cgroup's usage; scenarios size their
// processes with it.
func measureRuntimeRSS(cfg Config) (int64, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer pw.Close()
	cmd := exec.Command(cfg.Exe, append(append(append([]string{}, cfg.ExeArgs...), "alloc"), "--block", "1", "--json")...)
	cmd.Env = append(append(os.Environ(), cfg.Env...), alloc.StartFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{pr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return 0, fmt.Errorf("start %s: %w", cfg.Exe, err)
	}
	pr.Close()
	defer func() {
		pw.Close() // unreleased: it exits without allocating
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	statm := fmt.Sprintf("/proc/%d/statm", cmd.Process.Pid)
	var last, stable int64
	for i := 0; i < 200 && stable < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		b, err := os.ReadFile(statm)
		if err != nil {
			return 0, fmt.Errorf("the allocator exited at start: %w", err)
		}
		var size, res int64
		if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
			return 0, fmt.Errorf("read %s: %w", statm, err)
		}
		if res == last {
			stable++
		} else {
			stable, last = 0, res
		}
	}
	return last * int64(os.Getpagesize()), nil
}
