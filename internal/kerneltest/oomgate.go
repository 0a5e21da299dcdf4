package kerneltest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reportWindow is how long to wait after the last OOM of another test
// before causing one: oom_kill_process() prints the full report under
// __ratelimit(&oom_rs), DEFAULT_RATELIMIT_INTERVAL 5 s with a burst of 10,
// and a window that began at or before that last OOM has ended 5 s after
// it. Tests that read the kernel's report would otherwise see only a bare
// "Killed process" line when another package's tests OOM at the same time.
const reportWindow = 5500 * time.Millisecond

// gatePath is shared by every test process of this machine (go test runs
// packages in parallel).
var gatePath = filepath.Join(os.TempDir(), "oomkit-kerneltest-oom.lock")

// SerializeOOM makes t the only test on this machine that causes OOM
// kills until it ends, and starts it only once the kernel's report rate
// limit has a fresh window. Call it at the start of every test that
// triggers an OOM kill and reads the kernel's report.
func SerializeOOM(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(gatePath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("open the OOM test gate: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock the OOM test gate %s: %v", gatePath, err)
	}
	if b, err := os.ReadFile(gatePath); err == nil {
		if ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			if wait := time.Until(time.Unix(0, ns).Add(reportWindow)); wait > 0 && wait <= reportWindow {
				time.Sleep(wait)
			}
		}
	}
	t.Cleanup(func() {
		_ = os.WriteFile(gatePath, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o600)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
