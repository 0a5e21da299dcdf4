package agent

import (
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
	"github.com/oomkit/oomkit/internal/explain"
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
	checkGroupVictims(t, g[0].Victims, groupPIDs, []int{victim, os.Getpid()})
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

// checkGroupVictims checks a memory.oom.group kill's victims against the
// hogs' PIDs: each hog is a victim, and the one extra victim the kernel
// may name is a thread of the first (chosen) victim.
//
// oom_kill_process() (mm/oom_kill.c, 6.1) kills the chosen victim, then
// mem_cgroup_scan_tasks(oom_group, oom_kill_memcg_member) kills every
// process of the group again, the chosen one included. Each kill is
// __oom_kill_process(), which prints task_pid_nr(find_lock_task_mm(p)):
// the first thread of p that still has an mm. The chosen victim was just
// SIGKILLed, so its leader may have dropped its mm already, and the line
// names one of its threads (a TID, with the process's comm). Only the
// chosen victim is killed before the walk, so at most one such line; the
// TID was allocated after its leader's PID (the guest's PIDs are far from
// wrapping), and is not the PID of a process the test knows.
func checkGroupVictims(t *testing.T, victims []explain.Victim, hogs, others []int) {
	t.Helper()
	got := map[int]explain.Victim{}
	for _, v := range victims {
		got[v.PID] = v
	}
	for _, pid := range hogs {
		if _, ok := got[pid]; !ok {
			t.Errorf("group victims %+v: hog %d missing", victims, pid)
		}
	}
	var extra []int
	for _, v := range victims {
		if slices.Contains(hogs, v.PID) {
			continue
		}
		extra = append(extra, v.PID)
		chosen := victims[0]
		switch {
		case slices.Contains(others, v.PID):
			t.Errorf("group victim %d (%s) is a process outside the group", v.PID, v.Comm)
		case !slices.Contains(hogs, chosen.PID):
			t.Errorf("group victims %+v: the first (chosen) victim %d is not a hog", victims, chosen.PID)
		case v.Comm != chosen.Comm:
			t.Errorf("group victim %d (%s): not a hog, and not a thread of the chosen victim %d (%s)", v.PID, v.Comm, chosen.PID, chosen.Comm)
		case v.PID < chosen.PID:
			t.Errorf("group victim %d: a thread of the chosen victim %d would have a later TID", v.PID, chosen.PID)
		}
	}
	if len(extra) > 1 {
		t.Errorf("group victims %+v: %v not hogs, want at most one thread of the chosen victim", victims, extra)
	}
	if len(extra) == 1 {
		t.Logf("the kernel named thread %d of the chosen victim %d in the group walk (its leader had dropped its mm)", extra[0], victims[0].PID)
	}
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
