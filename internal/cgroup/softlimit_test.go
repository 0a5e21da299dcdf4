package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReadSoftLimitsV2 uses the files as a 6.1 kernel prints them for a
// kubelet MemoryQoS container (memory.high set, memory.min set, memory.low
// 0, swap.max max).
func TestReadSoftLimitsV2(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"memory.high":     "483183820\n",
		"memory.low":      "0\n",
		"memory.min":      "268435456\n",
		"memory.swap.max": "max\n",
		"memory.events":   "low 0\nhigh 17\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
	})
	got := ReadSoftLimits(dir, "/kubepods.slice/x", V2)
	i := func(n int64) *int64 { return &n }
	want := SoftLimits{Path: "/kubepods.slice/x", Version: V2, HighBytes: i(483183820), MinBytes: i(268435456), HighEvents: i(17), LowEvents: i(0)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadSoftLimits (-want +got):\n%s", diff)
	}
	eff := strings.Join(got.Effects(i(500000000)), "\n")
	for _, s := range []string{"memory.high 461 MiB", "hit 17 times", "over it now", "memory.min 256 MiB"} {
		if !strings.Contains(eff, s) {
			t.Errorf("Effects lack %q:\n%s", s, eff)
		}
	}
}

func TestReadSoftLimitsV2Unset(t *testing.T) {
	// The v2 root has none of the files; a cgroup without the memory
	// controller has none either: all unknown, no notes (missing files are
	// normal).
	got := ReadSoftLimits(t.TempDir(), "/", V2)
	if got.HighBytes != nil || got.LowBytes != nil || got.HighEvents != nil || len(got.Notes) != 0 {
		t.Errorf("got %+v", got)
	}
	bad := ReadSoftLimits(writeFiles(t, map[string]string{"memory.high": "lots\n"}), "/x", V2)
	if bad.HighBytes != nil || len(bad.Notes) != 1 {
		t.Errorf("unparsable memory.high: got %+v, want nil and one note", bad)
	}
}

func TestReadSoftLimitsV1(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	set := ReadSoftLimits(writeFiles(t, map[string]string{"memory.soft_limit_in_bytes": "134217728\n"}), "/a", V1)
	if diff := cmp.Diff(i(134217728), set.SoftLimitBytes); diff != "" {
		t.Error(diff)
	}
	unset := ReadSoftLimits(writeFiles(t, map[string]string{"memory.soft_limit_in_bytes": "9223372036854771712\n"}), "/a", V1)
	if unset.SoftLimitBytes != nil {
		t.Errorf("PAGE_COUNTER_MAX is no soft limit, got %d", *unset.SoftLimitBytes)
	}
}
