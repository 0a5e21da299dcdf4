package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func p64(n int64) *int64 { return &n }

func TestParseFlat(t *testing.T) {
	ev, err := parseEvents([]byte("low 0\nhigh 12\nmax 3\noom 2\noom_kill 1\noom_group_kill 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Events{Low: p64(0), High: p64(12), Max: p64(3), OOM: p64(2), OOMKill: p64(1), OOMGroupKill: p64(1)}, ev); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	// 5.15 has no oom_group_kill: nil, not 0.
	ev, _ = parseEvents([]byte("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"))
	if ev.OOMGroupKill != nil {
		t.Errorf("oom_group_kill = %d, want nil", *ev.OOMGroupKill)
	}
	oc, err := parseOOMControl([]byte("oom_kill_disable 1\nunder_oom 0\noom_kill 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(OOMControl{OOMKillDisable: true, OOMKill: p64(4)}, oc); d != "" {
		t.Errorf("oom_control (-want +got):\n%s", d)
	}
	// 4.9 prints no oom_kill line.
	oc, _ = parseOOMControl([]byte("oom_kill_disable 0\nunder_oom 1\n"))
	if d := cmp.Diff(OOMControl{UnderOOM: true}, oc); d != "" {
		t.Errorf("4.9 oom_control (-want +got):\n%s", d)
	}
	st, err := parseStat([]byte("total_inactive_file 16384\nhierarchical_memory_limit 18446744073709551615\n"))
	if err != nil || st["total_inactive_file"] != 16384 || st["hierarchical_memory_limit"] != 1<<63-1 {
		t.Errorf("stat = %v, %v", st, err)
	}
	for _, bad := range []string{"novalue\n", "key notanumber\n"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

const (
	podPath = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice"
	ctrPath = podPath + "/cri-containerd-3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope"
)

// level is a Memory reduced to what the hierarchy tests compare.
type level struct {
	Path       string
	Limit      *int64
	Unlimited  bool
	WorkingSet *int64
	Headroom   *int64
	OOMKill    *int64
	Applies    bool
}

func levels(h Hierarchy) []level {
	var out []level
	for i, m := range h.Levels {
		out = append(out, level{m.Path, m.LimitBytes, m.Unlimited, m.WorkingSetBytes(), m.HeadroomBytes(), m.OOMKillCount(), h.Applies[i]})
	}
	return out
}

func TestFixtureV2(t *testing.T) {
	roots := Roots{Proc: "testdata/v2/proc", Sys: "testdata/v2/sys"}
	l, err := Detect(roots)
	if err != nil {
		t.Fatal(err)
	}
	if l.Memory != V2 || l.Hybrid {
		t.Fatalf("layout %+v, want pure v2", l)
	}
	p, err := ProcessMemcg(roots, l, 4711)
	if err != nil || p != ctrPath {
		t.Fatalf("ProcessMemcg = %q, %v", p, err)
	}
	h, err := ReadHierarchy(l, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []level{
		{Path: "/", Unlimited: true, Applies: true},
		{Path: "/kubepods.slice", Limit: p64(24000000000), WorkingSet: p64(3221225472 - 536870912), Headroom: p64(24000000000 - (3221225472 - 536870912)), OOMKill: p64(1), Applies: true},
		{Path: "/kubepods.slice/kubepods-burstable.slice", Unlimited: true, WorkingSet: p64(3000000000 - 536870912), OOMKill: p64(1), Applies: true},
		{Path: podPath, Limit: p64(2147483648), WorkingSet: p64(1600000000), Headroom: p64(547483648), OOMKill: p64(1), Applies: true},
		{Path: ctrPath, Limit: p64(1610612736), WorkingSet: p64(1250000000), Headroom: p64(360612736), OOMKill: p64(1), Applies: true},
	}
	if d := cmp.Diff(want, levels(h)); d != "" {
		t.Errorf("levels (-want +got):\n%s", d)
	}
	if got := h.EffectiveLimit(); got != 4 {
		t.Errorf("EffectiveLimit = %d, want 4 (the container's own limit)", got)
	}
	if got := h.Binding(); got != 4 {
		t.Errorf("Binding = %d, want 4", got)
	}
	c := h.Target()
	if c.OOMGroup == nil || !*c.OOMGroup || c.Events == nil || *c.Events.OOMGroupKill != 0 || *c.Events.Max != 3 {
		t.Errorf("container events/oom.group: %+v %+v", c.Events, c.OOMGroup)
	}
	if c.SwapLimitBytes != nil || c.SwapUsageBytes == nil || c.HighBytes != nil {
		t.Errorf("swap/high: %v %v %v", c.SwapLimitBytes, c.SwapUsageBytes, c.HighBytes)
	}
	if got := c.ReclaimableBytes(); got == nil || *got != 200000000 {
		t.Errorf("Reclaimable = %v", got)
	}
	if len(c.Notes) != 0 {
		t.Errorf("notes: %q", c.Notes)
	}
	if n := h.Levels[0].Notes; len(n) != 1 || !strings.Contains(n[0], "/proc/meminfo") {
		t.Errorf("root notes: %q", n)
	}
	// The sidecar grows: the pod, shared by both containers, binds first.
	paths, err := Walk(l, "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 6 || paths[0] != "/" || paths[3] != podPath {
		t.Errorf("Walk = %q", paths)
	}
	// A subtree: the pod first, then its containers (by name: a fixture
	// tree is not kernfs, whose inode numbers give the creation order).
	sub, err := Walk(l, podPath)
	wantSub := []string{podPath, ctrPath, podPath + "/cri-containerd-aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope"}
	if d := cmp.Diff(wantSub, sub); err != nil || d != "" {
		t.Errorf("Walk(pod): %v (-want +got):\n%s", err, d)
	}
	if _, err := Walk(l, "/kubepods.slice/gone"); !errors.Is(err, ErrRemoved) {
		t.Errorf("Walk of a missing cgroup: %v, want ErrRemoved", err)
	}
	if got := l.Path(l.Dir(ctrPath)); got != ctrPath {
		t.Errorf("Path(Dir) = %q", got)
	}
}

func TestFixtureHybrid(t *testing.T) {
	roots := Roots{Proc: "testdata/hybrid/proc", Sys: "testdata/hybrid/sys"}
	l, err := Detect(roots)
	if err != nil {
		t.Fatal(err)
	}
	if l.Memory != V1 || !l.Hybrid || len(l.V2Controllers) != 0 {
		t.Fatalf("layout %+v, want hybrid with v1 memory", l)
	}
	const own = "/process_api/eb9b31023abc25aeac90dba9de18798c"
	h, err := ReadHierarchy(l, own)
	if err != nil {
		t.Fatal(err)
	}
	want := []level{
		{Path: "/", Unlimited: true, WorkingSet: p64(663264000), OOMKill: p64(0), Applies: true},
		{Path: "/process_api", Unlimited: true, WorkingSet: p64(3899392 - 16384), OOMKill: p64(0), Applies: true},
		{Path: own, Limit: p64(268435456), WorkingSet: p64(2899968 - 16384), Headroom: p64(268435456 - 2899968 + 16384), OOMKill: p64(2), Applies: true},
	}
	if d := cmp.Diff(want, levels(h)); d != "" {
		t.Errorf("levels (-want +got):\n%s", d)
	}
	m := h.Target()
	if *m.FailCnt != 7 || !*m.UseHierarchy || *m.Swappiness != 60 || *m.MemswLimitBytes != 268435456 || m.OOMControl.OOMKillDisable {
		t.Errorf("v1 files: %+v", m)
	}
}

func TestNonHierarchicalV1(t *testing.T) {
	root := t.TempDir()
	if err := exec.Command("cp", "-r", "testdata/hybrid/.", root).Run(); err != nil {
		t.Fatal(err)
	}
	// Before 5.11 a parent with use_hierarchy 0 does not charge its children.
	must(t, os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory/process_api/memory.use_hierarchy"), []byte("0\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory/process_api/memory.limit_in_bytes"), []byte("1048576\n"), 0o644))
	l, err := Detect(Roots{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHierarchy(l, "/process_api/eb9b31023abc25aeac90dba9de18798c")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]bool{false, false, true}, h.Applies); d != "" {
		t.Errorf("Applies (-want +got):\n%s", d)
	}
	if got := h.EffectiveLimit(); got != 2 {
		t.Errorf("EffectiveLimit = %d, want 2: the 1 MiB parent limit does not apply", got)
	}
}

func TestRemovedWhileReading(t *testing.T) {
	root := t.TempDir()
	if err := exec.Command("cp", "-r", "testdata/v2/.", root).Run(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "sys/fs/cgroup", ctrPath)
	testHookRead = func(name string) {
		if name == "memory.swap.max" {
			os.RemoveAll(dir)
		}
	}
	defer func() { testHookRead = nil }()
	m, err := ReadMemory(dir, ctrPath, V2)
	if err != nil {
		t.Fatal(err)
	}
	if m.LimitBytes == nil || *m.LimitBytes != 1610612736 || m.Events != nil {
		t.Errorf("partial read: limit %v events %v; want the limit read before removal and no events", m.LimitBytes, m.Events)
	}
	if len(m.Notes) != 1 || !strings.Contains(m.Notes[0], "removed while it was read") {
		t.Errorf("notes %q", m.Notes)
	}
	testHookRead = nil
	if _, err := ReadMemory(dir, ctrPath, V2); !errors.Is(err, ErrRemoved) {
		t.Errorf("reading a removed cgroup: %v, want ErrRemoved", err)
	}
}

// FuzzParseStat: memory.stat, memory.events and oom_control never panic.
func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"low 0\nhigh 12\nmax 3\noom 2\noom_kill 1\n", "oom_kill_disable 1\nunder_oom 0\n", "hierarchical_memory_limit 18446744073709551615\n", "x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStat(b)
		_, _ = parseEvents(b)
		_, _ = parseOOMControl(b)
	})
}
