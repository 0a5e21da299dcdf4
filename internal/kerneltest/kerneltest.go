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
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// WaitUsage blocks until the memory cgroup in dir has charged at least
// bytes, or has been removed, or 60 s have passed (a guard: the test
// fails). On cgroup v1 the kernel says when: a memory threshold
// (cgroup.event_control with memory.usage_in_bytes and an eventfd,
// Documentation/admin-guide/cgroup-v1/memory.rst §9) signals the crossing.
// cgroup v2 has no such notification, so there memory.current is read
// each millisecond.
func WaitUsage(t testing.TB, dir string, bytes int64) {
	t.Helper()
	usage := func() (int64, bool) {
		for _, f := range []string{"memory.usage_in_bytes", "memory.current"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
				return n, err == nil
			}
		}
		return 0, false
	}
	deadline := time.Now().Add(60 * time.Second)
	efd := -1
	if uf, err := os.Open(filepath.Join(dir, "memory.usage_in_bytes")); err == nil {
		defer uf.Close()
		if efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
			t.Fatalf("eventfd: %v", err)
		}
		defer unix.Close(efd)
		ctl := fmt.Sprintf("%d %d %d", efd, uf.Fd(), bytes)
		if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(ctl), 0); err != nil {
			t.Fatalf("register a memory threshold in %s: %v", dir, err)
		}
	}
	for {
		// A threshold fires on crossings only: look first.
		if n, ok := usage(); !ok || n >= bytes {
			return // reached, or the cgroup is gone
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("memory cgroup %s did not reach %d bytes within 60 s", dir, bytes)
		}
		if efd < 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		fds := []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			t.Fatalf("poll: %v", err)
		}
		if fds[0].Revents != 0 {
			var b [8]byte
			_, _ = unix.Read(efd, b[:])
		}
	}
}

// StartInMemcg runs this test binary again with env added (its TestMain
// turns env into a helper process), moves it into m while it waits for a
// line on stdin, then sends "go\n": nothing it allocates is charged
// outside m. The process is killed with the test (and if the test binary
// dies). It returns the command and the helper's standard output.
func StartInMemcg(t testing.TB, m *cgroup.Memcg, env ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	c := exec.Command("/proc/self/exe")
	c.Env = append(os.Environ(), env...)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	if err := m.AddProcess(c.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	return c, out
}
