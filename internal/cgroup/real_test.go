package cgroup_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// TestRealMemcg reads a throw-away memcg of the running kernel: the limit
// the test set, the usage file as the kernel prints it, and the ancestors
// up to the root.
func TestRealMemcg(t *testing.T) {
	const limit = 64 << 20
	m := kerneltest.NewMemcg(t, limit)
	l, own := kerneltest.Require(t)
	h, err := cgroup.ReadHierarchy(l, m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(h.Levels), strings.Count(m.Path, "/")+1; got != want {
		t.Fatalf("%d levels, want %d", got, want)
	}
	tg := h.Target()
	if tg.LimitBytes == nil || *tg.LimitBytes != limit {
		t.Errorf("limit %v, want %d", tg.LimitBytes, limit)
	}
	if i := h.EffectiveLimit(); h.Levels[i].Path != m.Path {
		t.Errorf("effective limit at %s, want %s", h.Levels[i].Path, m.Path)
	}
	raw, err := os.ReadFile(filepath.Join(m.Dir, map[cgroup.Version]string{cgroup.V1: "memory.usage_in_bytes", cgroup.V2: "memory.current"}[l.Memory]))
	if err != nil {
		t.Fatal(err)
	}
	usage, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if tg.UsageBytes == nil || *tg.UsageBytes != usage {
		t.Errorf("usage %v, want %d", tg.UsageBytes, usage)
	}
	if tg.OOMKillCount() == nil || *tg.OOMKillCount() != 0 {
		t.Errorf("oom kills %v, want 0", tg.OOMKillCount())
	}
	if len(tg.Notes) != 0 {
		t.Errorf("notes %q", tg.Notes)
	}
	if h.Levels[len(h.Levels)-2].Path != own {
		t.Errorf("parent %s, want %s", h.Levels[len(h.Levels)-2].Path, own)
	}
	paths, err := cgroup.Walk(l, "/")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range paths {
		found = found || p == m.Path
	}
	if !found {
		t.Errorf("Walk did not list %s", m.Path)
	}
}

// TestRealRemovedMidRead removes real memcgs while they are being read:
// every outcome must be a full read, a partial read with a note, or
// ErrRemoved — never a panic or another error.
func TestRealRemovedMidRead(t *testing.T) {
	l, own := kerneltest.Require(t)
	for i := 0; i < 20; i++ {
		m, err := cgroup.Create(l, own, cgroup.RandomName(kerneltest.Prefix))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = m.Remove() }()
		_, err = cgroup.ReadMemory(m.Dir, m.Path, l.Memory)
		<-done
		if err != nil && !strings.Contains(err.Error(), cgroup.ErrRemoved.Error()) {
			t.Errorf("read while removing: %v", err)
		}
	}
}

// TestRealWalkOrder: on cgroupfs, Walk lists a cgroup, then each child
// and its own subtree, children in creation order
// (mem_cgroup_scan_tasks() order), not by name.
func TestRealWalkOrder(t *testing.T) {
	l, _ := kerneltest.Require(t)
	m := kerneltest.NewMemcg(t, 0)
	kids := map[string]*cgroup.Memcg{}
	for _, name := range []string{"zz", "aa", "mm"} {
		c, err := m.Child(l, name)
		if err != nil {
			t.Fatal(err)
		}
		kids[name] = c
	}
	if _, err := kids["aa"].Child(l, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := kids["aa"].Child(l, "a"); err != nil {
		t.Fatal(err)
	}
	got, err := cgroup.Walk(l, m.Path)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range got {
		rel = append(rel, strings.TrimPrefix(p, m.Path))
	}
	if strings.Join(rel, ",") != ",/zz,/aa,/aa/b,/aa/a,/mm" {
		t.Errorf("Walk = %q, want the cgroup, then zz, aa (with b, a), mm in creation order", rel)
	}
	// RemoveDir takes the tree down leaves first (the kernel refuses to
	// remove a cgroup with children).
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Remove: %v", m.Dir, err)
	}
}
