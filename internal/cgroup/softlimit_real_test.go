package cgroup_test

import (
	"testing"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// TestRealSoftLimits sets the soft limit of a throw-away memcg through the
// kernel (v1 memory.soft_limit_in_bytes here; v2 memory.high/low/min in the
// VM, see internal/lab's memory-high-max scenario) and reads it back at
// every level up to the root.
func TestRealSoftLimits(t *testing.T) {
	m := kerneltest.NewMemcg(t, 64<<20)
	l, _ := kerneltest.Require(t)
	var file string
	const want = 32 << 20
	switch l.Memory {
	case cgroup.V1:
		file = "memory.soft_limit_in_bytes"
	default:
		file = "memory.high"
	}
	if err := m.Write(file, "33554432"); err != nil {
		t.Fatal(err)
	}
	levels := cgroup.ReadSoftLimitsUp(l, m.Path)
	if len(levels) < 2 || levels[len(levels)-1].Path != m.Path || levels[0].Path != "/" {
		t.Fatalf("levels %+v", levels)
	}
	got := levels[len(levels)-1]
	p := got.SoftLimitBytes
	if l.Memory == cgroup.V2 {
		p = got.HighBytes
	}
	if p == nil || *p != want || len(got.Notes) != 0 {
		t.Errorf("%s read back as %v (notes %v), want %d", file, p, got.Notes, want)
	}
}
