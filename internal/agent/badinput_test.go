package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/watch"
	"github.com/oomkit/oomkit/internal/watch/watchtest"
)

// fakeNode is a /proc and /sys tree with a cgroup v2 memory hierarchy of
// regular files, for input the kernel would never write.
type fakeNode struct {
	proc, sys string
	vmstat    int
	last      map[string]int
}

func newFakeNode(t testing.TB, cgroups ...string) *fakeNode {
	t.Helper()
	root := t.TempDir()
	n := &fakeNode{proc: filepath.Join(root, "proc"), sys: filepath.Join(root, "sys"), last: map[string]int{}}
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(n.proc, "self/mountinfo"), "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n")
	write(filepath.Join(n.proc, "sys/kernel/random/boot_id"), "00000000-0000-4000-8000-000000000001\n")
	write(filepath.Join(n.proc, "vmstat"), "nr_free_pages 1000\noom_kill 0\n")
	write(filepath.Join(n.sys, "fs/cgroup/cgroup.controllers"), "cpu memory pids\n")
	for _, c := range cgroups {
		n.set(t, c, "memory.current", "1048576\n")
		n.set(t, c, "memory.stat", "anon 1048576\ninactive_file 0\n")
		n.set(t, c, "memory.max", "67108864\n")
		n.set(t, c, "memory.events.local", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
	}
	return n
}

func (n *fakeNode) set(t testing.TB, cg, file, s string) {
	t.Helper()
	p := filepath.Join(n.sys, "fs/cgroup", cg, file)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write in place, as the kernel's files change: the agent keeps them open.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func (n *fakeNode) kills(t testing.TB, cg string, total int) {
	t.Helper()
	n.set(t, cg, "memory.events.local", fmt.Sprintf("low 0\nhigh 0\nmax 9\noom %d\noom_kill %d\noom_group_kill 0\n", total, total))
	n.vmstat += total - n.last[cg]
	n.last[cg] = total
	if err := os.WriteFile(filepath.Join(n.proc, "vmstat"), []byte(fmt.Sprintf("nr_free_pages 1000\noom_kill %d\n", n.vmstat)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (n *fakeNode) config(state string) Config {
	return Config{ProcRoot: n.proc, SysRoot: n.sys, StateDir: state, SampleInterval: 100 * time.Millisecond, ReportGrace: 300 * time.Millisecond,
		// A kernel log with nothing in it.
		OpenRecords: func(string) (watch.Source, error) { return watchtest.New(true), nil }}
}

// TestGarbageCounters: memory.events.local and memory.current holding
// garbage are one log line and a metric each, never a crash or a kill;
// a cgroup removed while it is read is dropped quietly.
func TestGarbageCounters(t *testing.T) {
	n := newFakeNode(t, "a", "b")
	n.set(t, "a", "memory.events.local", "low 0\noom_kill banana\n")
	n.set(t, "b", "memory.current", "\x1b[31mlots\n")
	ta := startAgent(t, n.config(t.TempDir()))
	waitFor(t, "the garbage to be noticed", 10*time.Second, func() bool {
		return metricSum(t, ta.url, "oomkit_source_errors_total", map[string]string{"source": "cgroup_counters"}) > 0 &&
			metricSum(t, ta.url, "oomkit_source_errors_total", map[string]string{"source": "cgroup"}) > 0
	})
	logs := ta.logs.String()
	for _, want := range []string{`oom_kill \"banana\" is not a number`, `cgroup=/a`, `cgroup=/b`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	if c := strings.Count(logs, "cgroup=/a"); c != 1 {
		t.Errorf("the garbage in /a was logged %d times, want once", c)
	}
	// Good numbers again: the first read is the baseline, the next kill counts.
	n.kills(t, "a", 5)
	waitFor(t, "the good value to be read", 10*time.Second, func() bool {
		return strings.Contains(ta.logs.String(), "") && metricSum(t, ta.url, "oomkit_memory_cgroups", nil) == 2
	})
	n.kills(t, "a", 6)
	waitFor(t, "the counted kill", 10*time.Second, func() bool { return len(ta.kills(t, "")) >= 1 })
	// Remove b while the agent reads it.
	if err := os.RemoveAll(filepath.Join(n.sys, "fs/cgroup/b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to be dropped", 10*time.Second, func() bool {
		return metricSum(t, ta.url, "oomkit_memory_cgroups", nil) == 1
	})
	got := inCgroup(ta.kills(t, ""), "/a")
	if len(got) < 1 || got[0].Report != api.ReportMissing {
		t.Fatalf("kills in /a: %+v", got)
	}
	total := 0
	for _, k := range got {
		total += k.Kills
	}
	if total > 1 {
		t.Errorf("%d kills in /a, the counter moved from 5 to 6 once (or from banana to 5: no kill)", total)
	}
}

// waitBaseline waits for a first start's counter baseline: kills before
// it are history, not counted.
func waitBaseline(t testing.TB, ta interface{ String() string }) {
	t.Helper()
	waitFor(t, "the counter baseline", 120*time.Second, func() bool {
		return strings.Contains(ta.String(), "kills are counted from now on")
	})
}

// TestPortInUse: a clear error, before anything else happens.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n := newFakeNode(t)
	cfg := n.config(t.TempDir())
	cfg.Listen = ln.Addr().String()
	err = Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("Run on a taken port: %v", err)
	}
}

// TestCorruptStore: a store that is not one is moved aside with a
// warning, and the agent runs.
func TestCorruptStore(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, store.FileName), []byte("this is not a bbolt file, it is garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newFakeNode(t, "a")
	ta := startAgent(t, n.config(state))
	if !strings.Contains(ta.logs.String(), "moved it aside") {
		t.Errorf("no warning about the corrupt store:\n%s", ta.logs.String())
	}
	aside, _ := filepath.Glob(filepath.Join(state, store.FileName+".corrupt-*"))
	if len(aside) != 1 {
		t.Errorf("moved aside: %v", aside)
	}
	get(t, ta.url+"/healthz")
}

// TestFullDisk: the store's file system fills up. The agent says so in
// one log line, keeps serving the kills from memory, loses none of what
// it had stored, and writes everything once there is room again.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Skip(t, "mounting a small tmpfs needs root")
	}
	state := t.TempDir()
	if err := unix.Mount("tmpfs", state, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		kerneltest.Skip(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() { _ = unix.Unmount(state, unix.MNT_DETACH) })
	n := newFakeNode(t, "a")
	ta := startAgent(t, n.config(state))
	waitBaseline(t, ta.logs)
	n.kills(t, "a", 3)
	waitFor(t, "3 kills stored", 10*time.Second, func() bool {
		return metricSum(t, ta.url, "oomkit_store_kills", nil) == 3
	})
	stored := ta.kills(t, "")
	// Fill the file system but for a few pages.
	filler := filepath.Join(state, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	n.kills(t, "a", 3000) // more than free pages can hold: the file must grow
	waitFor(t, "the store to fail", 20*time.Second, func() bool {
		return strings.Contains(ta.logs.String(), "cannot write the store")
	})
	if !strings.Contains(ta.logs.String(), "free space in --state-dir") {
		t.Errorf("the log does not say what to do:\n%s", ta.logs.String())
	}
	waitFor(t, "all kills served from memory", 20*time.Second, func() bool { return len(ta.kills(t, "")) == 3000 })
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the store to work again", 20*time.Second, func() bool {
		return metricSum(t, ta.url, "oomkit_store_kills", nil) == 3000
	})
	ta.stop(t)
	st, err := store.Open(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range stored {
		if !st.Has(k.ID) {
			t.Errorf("kill %s stored before the disk filled is gone", k.ID)
		}
	}
	if c := st.Count(); c != 3000 {
		t.Errorf("%d kills stored, want 3000", c)
	}
}

// TestSIGTERMMidWrite stops the agent with SIGTERM while kills pour in:
// it exits 0 within 5 s, and a restart counts every kill once.
func TestSIGTERMMidWrite(t *testing.T) {
	n := newFakeNode(t, "a")
	state := t.TempDir()
	cfg := n.config(state)
	cfg.OpenRecords = nil
	cfg.Kmsg = filepath.Join(t.TempDir(), "no-kmsg") // unreadable: counters only
	p := startProcAgent(t, cfg)
	waitBaseline(t, p.logs)
	var total atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n.kills(t, "a", i)
			total.Store(int64(i))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	waitFor(t, "kills being stored", 20*time.Second, func() bool {
		return metricSum(t, p.url, "oomkit_store_kills", nil) > 20
	})
	took, code := p.term(t)
	close(stop)
	<-done
	if code != 0 || took > 5*time.Second {
		t.Errorf("SIGTERM: exit %d after %v, want 0 within 5 s", code, took)
	}
	if !strings.Contains(p.logs.String(), "needs CAP_SYSLOG") && !strings.Contains(p.logs.String(), "cannot read the kernel log") {
		t.Errorf("no line about the unreadable kernel log:\n%s", p.logs.String())
	}
	q := startProcAgent(t, cfg)
	want := int(total.Load())
	deadline := time.Now().Add(30 * time.Second)
	for len(fetchKills(t, q.url, "")) < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := fetchKills(t, q.url, "")
	ids := map[string]bool{}
	for _, k := range got {
		if ids[k.ID] {
			t.Errorf("kill %s twice", k.ID)
		}
		ids[k.ID] = true
	}
	if len(got) != want {
		var ns []string
		for _, k := range got {
			ns = append(ns, k.ID[strings.LastIndexByte(k.ID, '-')+1:])
		}
		t.Errorf("%d kills, the counter says %d: %v\n%s\n%s", len(got), want, ns, tail(p.logs.String(), 1500), tail(q.logs.String(), 1500))
	}
	q.term(t)
}
