// Package kerneltest lets tests use the real kernel: it checks that this
// process may create memory cgroups (root, a mounted memory controller, a
// writable own memcg) and creates throw-away memcgs under the test
// process's own memory cgroup, removed when the test ends.
//
// Where the host cannot run such tests they skip with the reason; with
// OOMKIT_REQUIRE_KERNEL_TESTS=1 (set by .ci/run) a skip is a failure, so CI
// cannot pass by skipping.
package kerneltest

import (
	"os"
	"sync"
	"testing"

	"github.com/oomkit/oomkit/internal/cgroup"
)

// RequireEnv is the environment variable that turns skips into failures.
const RequireEnv = "OOMKIT_REQUIRE_KERNEL_TESTS"

// Prefix names every cgroup the tests create.
const Prefix = "oomkit-test-"

var (
	once      sync.Once
	layout    cgroup.Layout
	ownPath   string
	reasonErr string
)

func probe() {
	if os.Geteuid() != 0 {
		reasonErr = "needs root to create memory cgroups"
		return
	}
	l, err := cgroup.Detect(cgroup.Roots{})
	if err != nil {
		reasonErr = err.Error()
		return
	}
	if l.Memory == "" {
		reasonErr = cgroup.ErrNoMemoryController.Error()
		return
	}
	p, err := cgroup.ProcessMemcg(cgroup.Roots{}, l, 0)
	if err != nil {
		reasonErr = err.Error()
		return
	}
	m, err := cgroup.Create(l, p, cgroup.RandomName(Prefix+"probe-"))
	if err != nil {
		reasonErr = "own memory cgroup is not writable: " + err.Error()
		return
	}
	if err := m.Remove(); err != nil {
		reasonErr = err.Error()
		return
	}
	layout, ownPath = l, p
}

// Skip skips (or, under OOMKIT_REQUIRE_KERNEL_TESTS=1, fails) the test
// with reason.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("kernel test cannot run here: %s (%s=1 makes this a failure)", reason, RequireEnv)
	}
	t.Skipf("kernel test skipped: %s", reason)
}

// Require skips the test unless this process can create memory cgroups
// under its own memcg, and returns the layout and the own memcg path.
func Require(t testing.TB) (cgroup.Layout, string) {
	t.Helper()
	once.Do(probe)
	if reasonErr != "" {
		Skip(t, reasonErr)
	}
	return layout, ownPath
}

// NewMemcg creates a memcg with the given hard limit (0: no limit) under
// the test process's own memcg and removes it, killing what is left in
// it, when the test ends.
func NewMemcg(t testing.TB, limitBytes int64) *cgroup.Memcg {
	t.Helper()
	l, own := Require(t)
	m, err := cgroup.Create(l, own, cgroup.RandomName(Prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Remove(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if limitBytes > 0 {
		if err := m.SetLimit(limitBytes); err != nil {
			t.Fatal(err)
		}
	}
	return m
}
