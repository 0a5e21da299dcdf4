package node

import (
	"fmt"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

// Memory is the node's memory as /proc/meminfo prints it.
type Memory struct {
	MemTotalKB     *int64 `json:"mem_total_kb"`
	MemAvailableKB *int64 `json:"mem_available_kb"`
	SwapTotalKB    *int64 `json:"swap_total_kb"`
	SwapFreeKB     *int64 `json:"swap_free_kb"`
	HugetlbKB      *int64 `json:"hugetlb_kb"`
}

// Overcommit is the node's overcommit policy and what it means now: how
// far allocations are from failing with ENOMEM.
type Overcommit struct {
	// Mode is vm.overcommit_memory: 0 guess, 1 always, 2 never.
	Mode     *int64 `json:"mode"`
	ModeName string `json:"mode_name"`
	Ratio    *int64 `json:"ratio"`
	KBytes   *int64 `json:"kbytes"`
	// CommitLimitKB is /proc/meminfo's; ComputedCommitLimitKB is
	// vm_commit_limit() recomputed from the inputs.
	CommitLimitKB         *int64 `json:"commit_limit_kb"`
	ComputedCommitLimitKB *int64 `json:"computed_commit_limit_kb"`
	CommitLimitMatches    *bool  `json:"commit_limit_matches"`
	CommittedASKB         *int64 `json:"committed_as_kb"`
	// HeadroomKB is CommitLimit − Committed_AS in mode 2, else nil.
	HeadroomKB *int64 `json:"headroom_kb"`
	// LargestAllocationKB is mode 0's single-request ceiling on 5.2+
	// (RAM + swap), else nil.
	LargestAllocationKB *int64 `json:"largest_allocation_kb"`
	Summary             string `json:"summary"`
}

// Pressure is /proc/pressure/memory (PSI): the share of time some or all
// non-idle tasks stalled on memory, in percent, and the total in µs.
type Pressure struct {
	SomeAvg10   *float64 `json:"some_avg10"`
	SomeAvg60   *float64 `json:"some_avg60"`
	SomeAvg300  *float64 `json:"some_avg300"`
	SomeTotalUS *uint64  `json:"some_total_us"`
	FullAvg10   *float64 `json:"full_avg10"`
	FullAvg60   *float64 `json:"full_avg60"`
	FullAvg300  *float64 `json:"full_avg300"`
	FullTotalUS *uint64  `json:"full_total_us"`
}

// OOMSysctls are the OOM killer's sysctls under /proc/sys/vm.
type OOMSysctls struct {
	OOMKillAllocatingTask *int64 `json:"oom_kill_allocating_task"`
	PanicOnOOM            *int64 `json:"panic_on_oom"`
}

// memoryOf is the Memory part of m.
func memoryOf(m proc.Meminfo) Memory {
	return Memory{MemTotalKB: m.MemTotalKB, MemAvailableKB: m.MemAvailableKB, SwapTotalKB: m.SwapTotalKB, SwapFreeKB: m.SwapFreeKB, HugetlbKB: m.HugetlbKB}
}

// overcommit works out the overcommit verdict from meminfo and the
// sysctls, with a note when the kernel's CommitLimit and the recomputed
// one differ.
//
// __vm_enough_memory() and vm_commit_limit(), mm/util.c (mm.CommitLimitPages,
// mm.GuessMaxPages).
func (h *Host) overcommit(m proc.Meminfo, vm proc.SysVM) (Overcommit, []string) {
	var notes []string
	oc := Overcommit{Mode: vm.OvercommitMemory, Ratio: vm.OvercommitRatio, KBytes: vm.OvercommitKBytes,
		CommitLimitKB: m.CommitLimitKB, CommittedASKB: m.CommittedASKB}
	ramPages := deref(m.MemTotalKB, 0) / pageKB
	swapPages := deref(m.SwapTotalKB, 0) / pageKB
	if oc.Ratio != nil {
		hp := deref(m.HugetlbPages(pageKB), 0)
		c := mm.CommitLimitPages(ramPages, hp, swapPages, mm.Overcommit{Ratio: *oc.Ratio, KBytes: deref(oc.KBytes, 0)}) * pageKB
		oc.ComputedCommitLimitKB = &c
		if oc.CommitLimitKB != nil {
			oc.CommitLimitMatches = ptr(c == *oc.CommitLimitKB)
			if c != *oc.CommitLimitKB {
				notes = append(notes, fmt.Sprintf("CommitLimit is %d kB but vm_commit_limit() of the inputs gives %d kB: memory or huge pages changed between the reads, or this kernel computes it differently", *oc.CommitLimitKB, c))
			}
		}
	}
	size := func(kb int64) string { return bytesize.Format(kb * 1024) }
	switch deref(oc.Mode, -1) {
	case mm.OvercommitNever:
		oc.ModeName = "never"
		if oc.CommitLimitKB == nil || oc.CommittedASKB == nil {
			oc.Summary = "mode 2 (never overcommit): CommitLimit or Committed_AS is missing from /proc/meminfo, so the bytes left cannot be computed"
			break
		}
		left := *oc.CommitLimitKB - *oc.CommittedASKB
		oc.HeadroomKB = &left
		oc.Summary = fmt.Sprintf("mode 2 (never overcommit): %s of address space can still be committed before mmap, brk and fork fail with ENOMEM (CommitLimit %s − Committed_AS %s; non-root callers lose admin_reserve_kbytes and ~3%% of their own size more). fork() charges the parent's private writable memory again, so a process with more committed than that cannot fork, even to exec a tiny program.",
			size(left), size(*oc.CommitLimitKB), size(*oc.CommittedASKB))
	case mm.OvercommitGuess:
		oc.ModeName = "guess"
		committed := "?"
		if oc.CommittedASKB != nil {
			committed = size(*oc.CommittedASKB)
		}
		switch {
		case h.Kernel == nil:
			oc.Summary = fmt.Sprintf("mode 0 (heuristic, the default): one allocation fails with ENOMEM only if it alone is larger than a ceiling that depends on the kernel version (RAM + swap on 5.2+), which is unknown (give --assume-kernel); Committed_AS (%s) is not checked", committed)
		case mm.GuessMaxPages(*h.Kernel, ramPages, swapPages) >= 0:
			kb := mm.GuessMaxPages(*h.Kernel, ramPages, swapPages) * pageKB
			oc.LargestAllocationKB = &kb
			oc.Summary = fmt.Sprintf("mode 0 (heuristic, the default): on %s one allocation fails with ENOMEM only if it alone is larger than RAM + swap (%s); Committed_AS (%s) is not checked, so memory runs out at page-fault time and the OOM killer, not ENOMEM, decides",
				h.Kernel, size(kb), committed)
		default:
			oc.Summary = fmt.Sprintf("mode 0 (heuristic): kernel %s (before 5.2) refuses a request larger than free memory + page cache + free swap at that moment; the ceiling moves with usage and is not computed here", h.Kernel)
		}
	case mm.OvercommitAlways:
		oc.ModeName = "always"
		oc.Summary = "mode 1 (always overcommit): no commit limit; allocations never fail for lack of memory, and running out is left to the OOM killer"
	default:
		oc.Summary = "vm.overcommit_memory could not be read"
	}
	return oc, notes
}

// pressure reads PSI: nil without it, with a note saying why.
func (h *Host) pressure() (*Pressure, string) {
	p, err := h.Proc.MemoryPressure()
	switch {
	case err != nil:
		return nil, err.Error()
	case p == nil:
		return nil, "no memory pressure information (PSI): the kernel is older than 4.20, built without CONFIG_PSI, or booted with psi=0"
	}
	out := &Pressure{}
	if s := p.Some; s != nil {
		out.SomeAvg10, out.SomeAvg60, out.SomeAvg300, out.SomeTotalUS = &s.Avg10, &s.Avg60, &s.Avg300, &s.TotalMicroseconds
	}
	if f := p.Full; f != nil {
		out.FullAvg10, out.FullAvg60, out.FullAvg300, out.FullTotalUS = &f.Avg10, &f.Avg60, &f.Avg300, &f.TotalMicroseconds
	}
	return out, ""
}
