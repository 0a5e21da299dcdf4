package mm

import (
	"fmt"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// This file is the per-process side of overcommit accounting: which
// mappings a process is charged for (so that its commit charge can be read
// from /proc/PID/smaps), what is charged to Committed_AS outside every
// process, and what fork() needs. charge.go has the same rules seen from an
// allocation plan (the simulator's view); overcommit.go has the check.

// VMA is one mapping as the commit rules see it. The fields are the
// VmFlags two-letter codes of /proc/PID/smaps (show_smap_vma_flags(),
// fs/proc/task_mmu.c, 3.8+).
type VMA struct {
	Pages int64
	// Write is "wr" (VM_WRITE), Shared "sh" (VM_SHARED), NoReserve "nr"
	// (VM_NORESERVE), Hugetlb "ht" (VM_HUGETLB), Account "ac" (VM_ACCOUNT).
	Write, Shared, NoReserve, Hugetlb, Account bool
}

// Accountable reports whether a mapping with these flags is charged to
// Committed_AS when it is created or made writable: private and writable,
// without VM_NORESERVE, not hugetlb.
//
// accountable_mapping(), mm/mmap.c (mm/vma.h in 6.12+), and the same test
// in mprotect_fixup(), mm/mprotect.c (4.4–6.18): (flags & (VM_NORESERVE |
// VM_SHARED | VM_WRITE)) == VM_WRITE, hugetlbfs files excepted.
func (v VMA) Accountable() bool {
	return v.Write && !v.Shared && !v.NoReserve && !v.Hugetlb
}

// NoReserveHonoured reports whether mmap(MAP_NORESERVE) makes a private
// writable mapping VM_NORESERVE (uncharged) under vm.overcommit_memory =
// mode. The flag is decided once, at mmap time: a mapping made in mode 0
// stays uncharged after a switch to mode 2.
//
// do_mmap(), mm/mmap.c (4.4–6.18): "if (flags & MAP_NORESERVE) { if
// (sysctl_overcommit_memory != OVERCOMMIT_NEVER) vm_flags |= VM_NORESERVE;
// }" (hugetlbfs files always honour it).
func NoReserveHonoured(mode int) bool { return mode != OvercommitNever }

// ProcessCommitPages is a process's own commit charge: the pages of its
// VM_ACCOUNT mappings. Every charge a process makes for its address space
// lands on a VM_ACCOUNT VMA, and every uncharge (munmap, mremap shrink,
// exit_mmap, 6.12+ mprotect dropping write from a never-faulted anonymous
// VMA) takes a VM_ACCOUNT VMA's pages back, so the sum moves exactly as
// Committed_AS does when the process maps, grows or unmaps.
//
// Charged and flagged together (4.4–6.18): insert_vm_struct() of the exec
// stack (fs/exec.c), mmap_region() of an accountable
// mapping (mm/mmap.c; mm/vma.c 6.12+), do_brk_flags() (brk growth),
// acct_stack_growth() on a VM_STACK_FLAGS VMA (which includes VM_ACCOUNT),
// mprotect_fixup() making a private mapping writable (mm/mprotect.c),
// vma_to_resize()/mremap growth; dup_mmap() charges a child for each of
// the parent's VM_ACCOUNT VMAs (kernel/fork.c; mm/mmap.c 6.18).
func ProcessCommitPages(vmas []VMA) int64 {
	var n int64
	for _, v := range vmas {
		if v.Account {
			n += v.Pages
		}
	}
	return n
}

// ForkChargePages is what fork() charges for the child: the same VM_ACCOUNT
// pages the parent holds (dup_mmap(), see DupMmapCharge), so a process's
// commit charge is also the headroom its next fork needs. vfork() and
// clone(CLONE_VM) share the mm and charge nothing.
func ForkChargePages(processCommitPages int64) int64 { return processCommitPages }

// ForkFails reports whether a fork() by a process whose commit charge is
// commitPages fails with ENOMEM ("fork: Cannot allocate memory") under oc
// now. Mode 2 checks each VM_ACCOUNT VMA in turn against the parent's mm;
// the last check sees all of them added, so the fork fails iff the whole
// charge does not fit. Modes 0 (5.2+) and 1 practically never fail a fork:
// mode 0 checks each VMA alone against RAM + swap.
//
// dup_mmap() → security_vm_enough_memory_mm(oldmm, len) per VM_ACCOUNT VMA
// (kernel/fork.c 4.4–6.14, mm/mmap.c 6.18); __vm_enough_memory(), mm/util.c.
func ForkFails(v Version, oc Overcommit, s CommitState, commitPages int64, parent Caller) bool {
	if commitPages == 0 {
		return false
	}
	return !EnoughMemory(v, oc, s, commitPages, parent)
}

// Outside is what Committed_AS holds that no process's VM_ACCOUNT mapping
// shows: shared memory objects charged once, to the object, not to the
// processes that map them (none of their VMAs is VM_ACCOUNT).
type Outside struct {
	// SharedAnonPages: MAP_SHARED|MAP_ANONYMOUS (and shared /dev/zero)
	// mappings, charged in full when the object is created, until its
	// last mapping goes. shmem_zero_setup() → shmem_acct_size(), mm/shmem.c.
	SharedAnonPages int64
	// SysVShmPages: shmget() segments, charged in full at shmget unless
	// SHM_NORESERVE outside mode 2, until IPC_RMID and the last detach
	// (newseg(), ipc/shm.c); SHM_HUGETLB segments are not charged.
	SysVShmPages int64
	// TmpfsPages: tmpfs and memfd files (VM_NORESERVE inodes), charged page
	// by page as their blocks are allocated, resident or swapped, until
	// truncated or deleted. shmem_acct_blocks(), mm/shmem.c.
	TmpfsPages int64
}

// Pages is the sum of the parts.
func (o Outside) Pages() int64 { return o.SharedAnonPages + o.SysVShmPages + o.TmpfsPages }

// SysVShmCharged reports whether shmget() charges a segment: not hugetlb,
// and not SHM_NORESERVE unless the mode is 2 (which ignores that flag as
// mmap ignores MAP_NORESERVE).
//
// newseg(), ipc/shm.c (4.4–6.18): "if ((shmflg & SHM_NORESERVE) &&
// sysctl_overcommit_memory != OVERCOMMIT_NEVER) acctflag = VM_NORESERVE".
func SysVShmCharged(hugetlb, noReserve bool, mode int) bool {
	return !hugetlb && (!noReserve || mode == OvercommitNever)
}

// CommitGap is Committed_AS next to the charges that can be attributed: the
// processes' VM_ACCOUNT pages and the shared memory objects. Residual is
// what is left; it is not an error but the sum of what no file names:
//   - memfd and unlinked tmpfs files that no mounted tmpfs counts (their
//     blocks live on the kernel's internal shm mount);
//   - processes whose smaps could not be read (a sandboxed or hidepid
//     /proc, a process that started or exited between the reads);
//   - processes outside this /proc's PID namespace, which Committed_AS
//     counts all the same;
//   - on ≤ 5.8 the per-CPU counter's lag: Committed_AS was read with
//     percpu_counter_read_positive() (off by up to batch × CPUs), 5.10+
//     sums it exactly (see CommittedASExact).
type CommitGap struct {
	CommittedPages int64
	ProcessPages   int64
	Outside        Outside
}

// ResidualPages is Committed_AS − processes − shared memory objects.
func (g CommitGap) ResidualPages() int64 {
	return g.CommittedPages - g.ProcessPages - g.Outside.Pages()
}

// CommittedASExact reports whether /proc/meminfo's Committed_AS is the
// exact counter on kernel v: vm_memory_committed() uses
// percpu_counter_sum_positive() since 5.10 (mm/util.c), before that
// percpu_counter_read_positive(), which lags by up to batch × CPUs pages.
func CommittedASExact(v Version) bool { return v.AtLeast(5, 10, 0) }

// PageRound rounds a length in bytes up to whole pages, as every commit
// charge is made: vma_pages() of a page-aligned VMA, PAGE_ALIGN(len) in
// do_mmap() and brk().
func PageRound(bytes int64) int64 { return (bytes + PageSize - 1) / PageSize }

// Explain says in plain words what the gap between Committed_AS and the
// attributed charges is made of; unreadable is the number of processes
// whose charge could not be read, v the kernel.
func (g CommitGap) Explain(v Version, unreadable int) string {
	mib := func(pages int64) string { return bytesize.Format(pages * PageSize) }
	s := fmt.Sprintf("Committed_AS %s = processes' private writable mappings %s + shared anonymous %s + SysV shm %s + tmpfs %s + unattributed %s.",
		mib(g.CommittedPages), mib(g.ProcessPages), mib(g.Outside.SharedAnonPages), mib(g.Outside.SysVShmPages), mib(g.Outside.TmpfsPages), mib(g.ResidualPages()))
	var why []string
	if unreadable > 0 {
		why = append(why, fmt.Sprintf("%d process(es) whose smaps could not be read", unreadable))
	}
	if !CommittedASExact(v) {
		why = append(why, "the per-CPU counter's lag (Committed_AS is approximate before 5.10)")
	}
	if g.ResidualPages() < 0 {
		return s + " More is attributed than Committed_AS holds: processes mapped or unmapped between the reads (Committed_AS was read last)."
	}
	why = append(why, "memfd and unlimited-tmpfs files (no file counts them)", "processes outside this PID namespace", "processes that started or exited during the walk")
	return s + " Unattributed is " + strings.Join(why, "; ") + "."
}
