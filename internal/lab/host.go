package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/vm"
)

// Prefix names every cgroup the lab creates.
const Prefix = "oomkit-lab-"

// Host is what the lab needs to know about the machine before it may run.
type Host struct {
	EUID int
	// Layout is the cgroup layout; Layout.Memory is "" without a memory
	// controller.
	Layout cgroup.Layout
	// OwnMemcg is the invoking process's memory cgroup, under which the
	// lab creates its own; "" when it could not be resolved.
	OwnMemcg string
	// OwnMemcgErr says why OwnMemcg is unusable (not writable, …), "" if
	// it is usable.
	OwnMemcgErr string
	// MemAvailableBytes is /proc/meminfo's MemAvailable, 0 if unknown.
	MemAvailableBytes int64
	// MemTotalBytes and SwapTotalBytes are /proc/meminfo's MemTotal and
	// SwapTotal.
	MemTotalBytes, SwapTotalBytes int64
	// KernelRelease is uname -r.
	KernelRelease string
	// CanLowerAdj is whether this process may set a negative
	// oom_score_adj on its children (CAP_SYS_RESOURCE; containers often
	// drop it). Without it scenarios run their processes at adj 0 and say
	// so.
	CanLowerAdj bool
	// ThrowawayVM is true inside a VM oomkit booted for `lab run --vm`,
	// the only place a scenario may exhaust the whole machine's memory.
	ThrowawayVM bool
}

// CurrentHost looks at this machine: euid, the cgroup layout, this
// process's memcg and whether a child can be created in it, MemAvailable.
func CurrentHost() Host {
	h := Host{EUID: os.Geteuid()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.KernelRelease = unix.ByteSliceToString(u.Release[:])
	}
	if v, err := alloc.MemAvailableBytes("/proc"); err == nil {
		h.MemAvailableBytes = v
	}
	h.CanLowerAdj = hasCap("/proc/self/status", unix.CAP_SYS_RESOURCE)
	h.ThrowawayVM = vm.InGuest()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "SwapTotal: %d kB", &kb); err == nil {
				h.SwapTotalBytes = kb * 1024
			}
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				h.MemTotalBytes = kb * 1024
			}
		}
	}
	l, err := cgroup.Detect(cgroup.Roots{})
	if err != nil {
		h.OwnMemcgErr = err.Error()
		return h
	}
	h.Layout = l
	if l.Memory == "" {
		h.OwnMemcgErr = cgroup.ErrNoMemoryController.Error()
		return h
	}
	p, err := cgroup.ProcessMemcg(cgroup.Roots{}, l, 0)
	if err != nil {
		h.OwnMemcgErr = err.Error()
		return h
	}
	h.OwnMemcg = p
	if h.EUID == 0 {
		if err := unix.Access(l.Dir(p), unix.W_OK); err != nil {
			h.OwnMemcgErr = fmt.Sprintf("memory cgroup %s is not writable: %v", l.Dir(p), err)
		}
	}
	return h
}

// RefusalError is a reason the lab will not run on this host; the CLI
// maps it to its own exit code.
type RefusalError struct{ Msg string }

func (e *RefusalError) Error() string { return e.Msg }

// CheckHost refuses to run where the lab cannot keep its safety promises:
// without root, without a writable memory cgroup of its own, or with a
// limit above half of MemAvailable (the lab's allocators would then push
// the rest of the machine into reclaim).
func CheckHost(h Host, limitBytes int64) error {
	if h.EUID != 0 {
		return &RefusalError{"the lab needs root to create memory cgroups (run it with sudo, or as root in a privileged container)"}
	}
	if h.Layout.Memory == "" || h.OwnMemcg == "" || h.OwnMemcgErr != "" {
		why := h.OwnMemcgErr
		if why == "" {
			why = cgroup.ErrNoMemoryController.Error()
		}
		return &RefusalError{fmt.Sprintf("no writable memory cgroup to run the lab in: %s (mount the memory controller read-write, e.g. run the container with --cgroupns=private and a writable /sys/fs/cgroup)", why)}
	}
	if h.MemAvailableBytes > 0 && limitBytes > h.MemAvailableBytes/2 {
		return &RefusalError{fmt.Sprintf("--limit %s is above half of MemAvailable (%s): choose --limit %s or less",
			bytesize.Format(limitBytes), bytesize.Format(h.MemAvailableBytes), bytesize.Format(h.MemAvailableBytes/2/bytesize.MiB*bytesize.MiB))}
	}
	return nil
}

// lockDir holds one lock file per live lab cgroup; a run holds an flock on
// its file while the cgroup exists, so cleanup can tell a crashed run's
// cgroup (lock free) from a concurrent run's (lock held).
func lockDir() string { return filepath.Join(os.TempDir(), "oomkit-lab-locks") }

// lockCgroup takes the lock of cgroup name and returns the held file.
func lockCgroup(name string) (*os.File, error) {
	if err := os.MkdirAll(lockDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", lockDir(), err)
	}
	f, err := os.OpenFile(filepath.Join(lockDir(), name+".lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, nil
}

func unlockCgroup(f *os.File) {
	if f == nil {
		return
	}
	_ = os.Remove(f.Name())
	_ = f.Close()
}

// CleanStale removes the oomkit-lab-* cgroups under the host's own memcg
// that no live run holds (a crashed or SIGKILLed run's), killing what is
// left in them, and returns their paths.
func CleanStale(h Host) ([]string, error) {
	dir := h.Layout.Dir(h.OwnMemcg)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		lf, err := lockCgroup(e.Name())
		if err != nil {
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue // a live run owns it
			}
			errs = append(errs, err)
			continue
		}
		if err := cgroup.RemoveDir(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, filepath.Join(h.OwnMemcg, e.Name()))
		}
		unlockCgroup(lf)
	}
	return removed, errors.Join(errs...)
}

// hasCap reports whether the CapEff line of a /proc/PID/status file has
// capability bit c.
func hasCap(statusPath string, c int) bool {
	b, err := os.ReadFile(statusPath)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<uint(c)) != 0
		}
	}
	return false
}
