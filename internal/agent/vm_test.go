package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

// TestRealKillsV2 runs the agent in a cgroup v2 guest (memory.events,
// inotify, a memory.oom.group kill): a single kill and a group kill each
// appear once, with the right victims and cgroup, in the API, the
// metrics, the page and the store, and the agent's count per cgroup is
// the kernel's memory.events.local oom_kill.
func TestRealKillsV2(t *testing.T) {
	if testing.Short() && !vm.InGuest() {
		t.Skip("boots a VM")
	}
	if !vm.InGuest() {
		vmtest.RunTest(t, vm.Config{})
		return
	}
	if err := loopbackUp(); err != nil {
		t.Fatalf("bring up lo: %v", err)
	}
	l, err := cgroup.Detect(cgroup.Roots{})
	if err != nil || l.Memory != cgroup.V2 {
		t.Fatalf("no cgroup v2 memory controller: %v %+v", err, l)
	}
	state := t.TempDir()
	ta := startAgent(t, Config{StateDir: state, SampleInterval: 100 * time.Millisecond})
	waitBaseline(t, ta.logs)
	single, err := cgroup.Create(l, "/", "single")
	if err != nil {
		t.Fatal(err)
	}
	group, err := cgroup.Create(l, "/", "group")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*cgroup.Memcg{single, group} {
		if err := m.SetLimit(64 << 20); err != nil {
			t.Fatal(err)
		}
		if err := m.Write("memory.swap.max", "0"); err != nil {
			t.Logf("memory.swap.max: %v", err)
		}
		waitSampled(t, ta.url, m.Path)
	}
	if err := group.Write("memory.oom.group", "1"); err != nil {
		t.Fatal(err)
	}

	cmd, victim := startHog(t, single, "256:10")
	_ = cmd.Wait()
	var groupPIDs []int
	var cmds []interface{ Wait() error }
	for i := 0; i < 3; i++ {
		c, pid := startHog(t, group, "256:20")
		groupPIDs = append(groupPIDs, pid)
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
	kernel := map[string]int64{}
	for _, m := range []*cgroup.Memcg{single, group} {
		b, err := os.ReadFile(filepath.Join(m.Dir, "memory.events.local"))
		if err != nil {
			t.Fatal(err)
		}
		kernel[m.Path], _, _ = keyValue(b, "oom_kill")
	}
	t.Logf("memory.events.local oom_kill: %v", kernel)
	sum := func(ks []api.Kill) (n int64) {
		for _, k := range ks {
			n += int64(k.Kills)
		}
		return n
	}
	waitFor(t, "the kills in the API", 60*time.Second, func() bool {
		all := ta.kills(t, "")
		return sum(inCgroup(all, single.Path)) == kernel[single.Path] && sum(inCgroup(all, group.Path)) == kernel[group.Path]
	})
	all := ta.kills(t, "")
	s := inCgroup(all, single.Path)
	if len(s) != 1 || len(s[0].Victims) != 1 || s[0].Victims[0].PID != victim || s[0].Report != api.ReportComplete || s[0].Victim != api.VictimMain {
		t.Errorf("single kill: %+v", s)
	}
	if s[0].CgroupVersion == nil || *s[0].CgroupVersion != "v2" {
		t.Errorf("single kill: cgroup_version %v", s[0].CgroupVersion)
	}
	g := inCgroup(all, group.Path)
	if len(g) != 1 {
		t.Fatalf("%d kills in the group, want 1 group kill: %+v", len(g), g)
	}
	if g[0].GroupKillPath == nil || *g[0].GroupKillPath != group.Path {
		t.Errorf("group kill path %v", g[0].GroupKillPath)
	}
	// The victims are the processes the kernel named in its Killed
	// lines, read here from the guest's own log: a group kill names the
	// chosen victim twice, and where a process's leader has already
	// dropped its mm, __oom_kill_process() names one of its threads
	// (task_pid_nr(find_lock_task_mm(p)), mm/oom_kill.c) — so the kernel's
	// lines, not the hogs' PIDs, are what the agent must show.
	named, lines := killedLines(t)
	delete(named, victim)
	var want, got []int
	for pid := range named {
		want = append(want, pid)
	}
	for _, v := range g[0].Victims {
		got = append(got, v.PID)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("group victims %v, the kernel's Killed lines named %v", got, want)
	}
	for _, pid := range groupPIDs {
		if !named[pid] {
			t.Logf("hog %d not named in a Killed line (the kernel named a thread of it): %v", pid, want)
		}
	}
	if n := int64(lines - 1); n != kernel[group.Path] || int64(g[0].Kills) != n {
		t.Errorf("the kernel printed %d Killed lines for the group and counted %d kills; the agent %d", n, kernel[group.Path], g[0].Kills)
	}
	if got := metricSum(t, ta.url, "oomkit_oom_kills_total", map[string]string{"constraint": "memcg"}); got != float64(kernel[single.Path]+kernel[group.Path]) {
		t.Errorf("oomkit_oom_kills_total{constraint=memcg} = %v, the kernel counted %v", got, kernel)
	}
	page := get(t, ta.url+"/")
	for _, k := range []api.Kill{s[0], g[0]} {
		if !strings.Contains(page, `id="kill-`+k.ID+`"`) {
			t.Errorf("the page lacks kill %s", k.ID)
		}
	}
	ta.stop(t)
	st, err := store.Open(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range []api.Kill{s[0], g[0]} {
		if !st.Has(k.ID) {
			t.Errorf("kill %s not stored", k.ID)
		}
	}
	for _, m := range []*cgroup.Memcg{single, group} {
		_ = m.Remove()
	}
	t.Logf("kills: single %s (%d), group %s (%d kills, %d victims)", s[0].ID, s[0].Kills, g[0].ID, g[0].Kills, len(g[0].Victims))
}

// loopbackUp brings up lo, which the guest's /init leaves down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// killedLines reads the kernel log of this guest and returns the PIDs its
// "Killed process N" lines name and the number of such lines.
func killedLines(t *testing.T) (map[int]bool, int) {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	defer unix.Close(fd)
	named, lines := map[int]bool{}, 0
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE {
			continue // overwritten records: read on
		}
		if err != nil {
			break // EAGAIN: the end of the ring
		}
		_, text, _ := strings.Cut(string(buf[:n]), ";")
		text, _, _ = strings.Cut(text, "\n")
		if _, rest, ok := strings.Cut(text, "Killed process "); ok {
			var pid int
			if _, err := fmt.Sscanf(rest, "%d", &pid); err == nil {
				named[pid] = true
				lines++
			}
		}
	}
	return named, lines
}
