package vm_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

// envHold makes a hog keep its memory after allocating, until killed.
const envHold = "OOMKIT_VMTEST_HOLD"

// TestCgroupReadersV2 checks internal/cgroup's v2 readers against a live
// cgroup v2 memory controller: what they read must be what was set up and
// what the kernel counted, before and after a group OOM kill.
func TestCgroupReadersV2(t *testing.T) {
	if !vm.InGuest() {
		vmtest.RunTest(t, vm.Config{})
		return
	}
	const limit = 64 << 20
	l, err := cgroup.Detect(cgroup.Roots{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Memory != cgroup.V2 || l.V2 != "/sys/fs/cgroup" {
		t.Fatalf("Detect = %+v, want the memory controller on v2 at /sys/fs/cgroup", l)
	}
	m, err := cgroup.Create(l, "/", "oomkit-vmtest-readers")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetLimit(limit); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"memory.oom.group": "1", "memory.high": "60M"} {
		if err := m.Write(f, v); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := syscall.Open(m.Dir, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)

	// Two hogs of 16 MiB that hold their memory.
	t.Setenv(envHold, "1")
	holders := startHogs(t, 2, 16, fd)
	waitUsage(t, m.Dir, 32<<20)
	mem, err := cgroup.ReadMemory(m.Dir, m.Path, cgroup.V2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: limit %v usage %v high %v swap %v/%v oom.group %v notes %v",
		deref(mem.LimitBytes), deref(mem.UsageBytes), deref(mem.HighBytes), deref(mem.SwapUsageBytes), deref(mem.SwapLimitBytes), mem.OOMGroup != nil && *mem.OOMGroup, mem.Notes)
	switch {
	case mem.LimitBytes == nil || *mem.LimitBytes != limit || mem.Unlimited:
		t.Errorf("LimitBytes = %v (unlimited %v), want %d", deref(mem.LimitBytes), mem.Unlimited, limit)
	case mem.HighBytes == nil || *mem.HighBytes != 60<<20:
		t.Errorf("HighBytes = %v, want %d", deref(mem.HighBytes), 60<<20)
	case mem.UsageBytes == nil || *mem.UsageBytes < 32<<20 || *mem.UsageBytes > limit:
		t.Errorf("UsageBytes = %v, want 32 MiB (two hogs) to the limit", deref(mem.UsageBytes))
	case mem.OOMGroup == nil || !*mem.OOMGroup:
		t.Errorf("OOMGroup = %v, want true", mem.OOMGroup)
	case mem.Events == nil || val(mem.Events.OOMKill) != 0 || val(mem.Events.OOMGroupKill) != 0:
		t.Errorf("Events = %+v, want no kills yet", mem.Events)
	}
	if ws := mem.WorkingSetBytes(); ws == nil || *ws > *mem.UsageBytes || *ws < 32<<20 {
		t.Errorf("WorkingSetBytes = %v, want ≤ usage %v and ≥ 32 MiB of anonymous memory", deref(ws), deref(mem.UsageBytes))
	}
	if h, err := cgroup.ReadHierarchy(l, m.Path); err != nil {
		t.Error(err)
	} else if i := h.EffectiveLimit(); i < 0 || h.Levels[i].Path != m.Path {
		t.Errorf("EffectiveLimit = level %d of %d, want the test cgroup", i, len(h.Levels))
	}
	for _, c := range holders {
		if got, err := cgroup.ProcessMemcg(cgroup.Roots{}, l, c.Process.Pid); err != nil || got != m.Path {
			t.Errorf("ProcessMemcg(%d) = %q, %v; want %q", c.Process.Pid, got, err, m.Path)
		}
	}

	// A third hog runs the cgroup out of memory: the group kill takes all.
	os.Unsetenv(envHold)
	all := append(holders, startHogs(t, 1, 256, fd)...)
	for _, c := range all {
		_ = c.Wait()
		if ws := c.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("pid %d: %v, want SIGKILL", c.Process.Pid, c.ProcessState)
		}
	}
	mem, err = cgroup.ReadMemory(m.Dir, m.Path, cgroup.V2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after: events %+v", eventsString(mem.Events))
	if mem.Events == nil || val(mem.Events.OOMGroupKill) < 1 || val(mem.Events.OOMKill) < 3 || val(mem.Events.Max) < 1 {
		t.Errorf("Events = %v, want oom_group_kill ≥ 1, oom_kill ≥ 3, max ≥ 1", eventsString(mem.Events))
	}
	if n := mem.OOMKillCount(); n == nil || *n != val(mem.Events.OOMKill) {
		t.Errorf("OOMKillCount = %v, want memory.events oom_kill", deref(n))
	}
	if err := m.Remove(); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Stat(m.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Remove", m.Dir)
	}
}

// val is *p, or -1 for nil (every counter here is ≥ 0).
func val(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// deref is *p for printing, nil for nil.
func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func eventsString(e *cgroup.Events) map[string]any {
	if e == nil {
		return nil
	}
	return map[string]any{"high": deref(e.High), "max": deref(e.Max), "oom": deref(e.OOM), "oom_kill": deref(e.OOMKill), "oom_group_kill": deref(e.OOMGroupKill)}
}

// waitUsage waits until memory.current in dir reaches n bytes.
func waitUsage(t *testing.T, dir string, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(dir + "/memory.current")
		if err != nil {
			t.Fatal(err)
		}
		cur, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if cur >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory.current %d did not reach %d within 30s", cur, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
