package kerneltest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewMemcgLimitAndCleanup(t *testing.T) {
	var dir string
	t.Run("create", func(t *testing.T) {
		m := NewMemcg(t, 64<<20)
		dir = m.Dir
		f := "memory.limit_in_bytes"
		if m.Version == "v2" {
			f = "memory.max"
		}
		b, err := os.ReadFile(filepath.Join(m.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); got != 64<<20 {
			t.Errorf("limit = %d, want %d", got, 64<<20)
		}
		if !strings.HasPrefix(filepath.Base(m.Path), Prefix) {
			t.Errorf("path %q does not carry the prefix %q", m.Path, Prefix)
		}
	})
	if dir == "" {
		return
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still exists after the subtest ended (err %v)", dir, err)
	}
}

// TestSerializeOOMSpacesHolders checks that a second holder of the gate
// starts only after the report window of the first has passed.
func TestSerializeOOMSpacesHolders(t *testing.T) {
	var released time.Time
	t.Run("first", func(t *testing.T) {
		SerializeOOM(t)
		t.Cleanup(func() { released = time.Now() })
	})
	t.Run("second", func(t *testing.T) {
		SerializeOOM(t)
		if gap := time.Since(released); gap < reportWindow-100*time.Millisecond {
			t.Errorf("second holder started %v after the first released, want ≥ %v", gap, reportWindow)
		}
	})
}
