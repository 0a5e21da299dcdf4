// Package node is the live node as plain values, shared by 'oomkit top',
// 'oomkit inspect' and the agent: the host's facts (memory, kernel, CPUs,
// where the memory controller is), the OOM killer's ranking of processes
// for a global or a memcg OOM (rank.go), one memory cgroup or all of them
// with usage, working set, limit and headroom (cgroup.go), the overcommit,
// PSI and OOM sysctl verdicts (overcommit.go), kubelet's eviction headroom
// (eviction.go), the heap ceilings of the processes in a cgroup
// (runtimes.go), and the oomkit.inspect/v1 report built from them
// (inspect.go).
//
// Everything is read under the roots given to Open (a host's /proc and
// /sys through mounts, or fake trees in tests); there is no global state,
// errors are returned, never printed, and a Host may be used from several
// goroutines.
package node

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

// Host is a node as read through its proc and sys roots, with what does
// not change while it runs read once. Memory figures are read afresh by
// each call that uses them.
type Host struct {
	// Proc is the proc filesystem read.
	Proc proc.FS
	// Roots are the proc and sys roots.
	Roots cgroup.Roots
	// Layout is where the memory controller is (Memory "" when none).
	Layout cgroup.Layout
	// Kernel is the kernel whose rules apply: the one Open was told to
	// assume, else the running one; nil when unknown (KernelErr says why).
	Kernel    *mm.Version
	KernelErr error
	// CPUs is the number of online CPUs (the per-CPU RSS counters' lag).
	CPUs int
	// Notes say what Open could not read.
	Notes []string
}

// pageKB is the page size in kB the OOM arithmetic counts in.
const pageKB = mm.PageSize / 1024

// Open reads the host's facts under roots. assume, when not nil, is the
// kernel whose rules apply instead of the running one. Open fails only
// when roots.Proc is not a proc filesystem; anything else it cannot read
// becomes a note, and an unknown kernel version leaves Kernel nil.
func Open(roots cgroup.Roots, assume *mm.Version) (*Host, error) {
	fs, err := proc.NewFS(roots.Proc)
	if err != nil {
		return nil, fmt.Errorf("%w (is --proc-root a mounted /proc?)", err)
	}
	if roots.Proc == "" {
		roots.Proc = fs.Root()
	}
	h := &Host{Proc: fs, Roots: roots, Kernel: assume}
	if _, err := h.meminfo(); err != nil {
		return nil, err
	}
	if h.Kernel == nil {
		h.Kernel, h.KernelErr = runningKernel(fs)
		if h.KernelErr != nil {
			h.Notes = append(h.Notes, fmt.Sprintf("kernel version unknown: %v (use --assume-kernel)", h.KernelErr))
		}
	}
	if h.CPUs, err = fs.OnlineCPUs(); err != nil {
		h.CPUs = runtime.NumCPU()
	}
	h.Layout, err = cgroup.Detect(roots)
	if err != nil {
		h.Notes = append(h.Notes, fmt.Sprintf("cgroups not detected: %v", err))
	} else if h.Layout.Memory == "" {
		h.Notes = append(h.Notes, cgroup.ErrNoMemoryController.Error())
	}
	return h, nil
}

// runningKernel is the release in sys/kernel/osrelease.
func runningKernel(fs proc.FS) (*mm.Version, error) {
	rel, err := fs.OSRelease()
	if err != nil {
		return nil, err
	}
	v, err := mm.ParseVersion(rel)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// ErrKernelUnknown is wrapped by the calls that need the kernel's rules
// when the kernel version is unknown.
var ErrKernelUnknown = errors.New("the kernel version is unknown")

// kernel is the kernel version, or an error saying why it is unknown.
func (h *Host) kernel() (mm.Version, error) {
	if h.Kernel == nil {
		return mm.Version{}, fmt.Errorf("%w (%w): the OOM killer's rules depend on it; give --assume-kernel VERSION", ErrKernelUnknown, h.KernelErr)
	}
	return *h.Kernel, nil
}

// meminfo reads /proc/meminfo, which every figure needs MemTotal from.
func (h *Host) meminfo() (proc.Meminfo, error) {
	m, err := h.Proc.Meminfo()
	if err != nil {
		return m, fmt.Errorf("%w (is --proc-root a mounted /proc?)", err)
	}
	if m.MemTotalKB == nil {
		return m, fmt.Errorf("%s/meminfo has no MemTotal line (is --proc-root a mounted /proc?)", h.Proc.Root())
	}
	return m, nil
}

// globalTotalPages is totalram_pages + total_swap_pages, the denominator
// of a global OOM and of /proc/PID/oom_score.
func globalTotalPages(m proc.Meminfo) int64 {
	return deref(m.MemTotalKB, 0)/pageKB + deref(m.SwapTotalKB, 0)/pageKB
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
