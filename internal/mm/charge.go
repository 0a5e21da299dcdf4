package mm

// Mapping is the kind of memory mapping an allocation creates, as far as
// overcommit accounting tells them apart (spec/kernel.md §1.3).
type Mapping int

// The mapping kinds the simulator allocates.
const (
	// MapPrivate is a private writable mapping (malloc, brk, anonymous
	// mmap): charged in full at mmap time, VM_ACCOUNT.
	MapPrivate Mapping = iota
	// MapShared is a shared anonymous mapping (MAP_SHARED|MAP_ANONYMOUS):
	// charged in full when the shmem object is created, not VM_ACCOUNT, so
	// fork does not charge it again.
	MapShared
	// MapNoReserve is a private writable mapping with MAP_NORESERVE:
	// uncharged in modes 0 and 1; mode 2 ignores the flag and charges it.
	MapNoReserve
	// MapTmpfs is a tmpfs/memfd file mapped shared: the inode is
	// VM_NORESERVE, so each page is charged when it is first allocated.
	MapTmpfs
)

// String names the mapping as the scenario format spells it.
func (m Mapping) String() string {
	switch m {
	case MapPrivate:
		return "private"
	case MapShared:
		return "shared"
	case MapNoReserve:
		return "noreserve"
	case MapTmpfs:
		return "tmpfs"
	}
	return "unknown"
}

// ChargedAtMmap reports whether creating a mapping of kind m charges its
// whole length to Committed_AS, with vm.overcommit_memory = mode at mmap
// time.
//
// accountable_mapping()/mmap_region(), mm/mmap.c; shmem_zero_setup() →
// shmem_acct_size(), mm/shmem.c (4.4–6.18): private writable without
// VM_NORESERVE and shared anonymous are charged up front; MAP_NORESERVE is
// honoured only when mode ≠ 2; tmpfs inodes are VM_NORESERVE.
func ChargedAtMmap(m Mapping, mode int) bool {
	switch m {
	case MapPrivate, MapShared:
		return true
	case MapNoReserve:
		return mode == OvercommitNever
	}
	return false
}

// ChargedPerPage reports whether the pages of a mapping of kind m are
// charged to Committed_AS one by one as they are allocated.
//
// shmem_acct_block(), mm/shmem.c: VM_NORESERVE shmem/tmpfs inodes charge
// each page at allocation; a failure is ENOSPC on write, SIGBUS on a fault.
func ChargedPerPage(m Mapping) bool { return m == MapTmpfs }

// RechargedOnFork reports whether fork charges a mapping of kind m again
// for the child: only VM_ACCOUNT mappings are (dup_mmap). charged says
// whether the mapping was charged at mmap time.
//
// dup_mmap(), kernel/fork.c (mm/mmap.c in 6.18): security_vm_enough_memory_mm()
// for every VM_ACCOUNT VMA; shared mappings are not VM_ACCOUNT.
func RechargedOnFork(m Mapping, charged bool) bool {
	return charged && (m == MapPrivate || m == MapNoReserve)
}

// Reserves are vm.admin_reserve_kbytes and vm.user_reserve_kbytes.
type Reserves struct {
	AdminKB int64
	UserKB  int64
}

// DefaultReserves is what the kernel sets at boot for a machine with
// freeKB of free memory: min(free/32, 8 MiB) and min(free/32, 128 MiB).
//
// init_admin_reserve()/init_user_reserve(), mm/mmap.c (4.4–6.18).
func DefaultReserves(freeKB int64) Reserves {
	return Reserves{AdminKB: min(freeKB/32, 8<<10), UserKB: min(freeKB/32, 128<<10)}
}

// Caller is what __vm_enough_memory() knows of the task asking for memory.
type Caller struct {
	// CapSysAdmin is CAP_SYS_ADMIN in the initial user namespace (a
	// container's root usually lacks it).
	CapSysAdmin bool
	// TotalVMPages is the caller's mm->total_vm before the request.
	TotalVMPages int64
}

// GuessFree is the ≤ 5.1 mode-0 estimate of free memory, in pages.
type GuessFree struct {
	FreePages, FilePages, ShmemPages, FreeSwapPages, SlabReclaimablePages int64
	// TotalReservePages is totalreserve_pages (watermarks and lowmem
	// reserves).
	TotalReservePages int64
}

// CommitState is the machine-wide state the overcommit check reads.
type CommitState struct {
	TotalRAMPages  int64
	HugetlbPages   int64
	TotalSwapPages int64
	// CommittedPages is Committed_AS before the request (exact; the
	// kernel's per-CPU counter can be off by batch × ncpus).
	CommittedPages int64
	Reserves       Reserves
	// Guess is only read by mode 0 on ≤ 5.1 kernels.
	Guess GuessFree
}

// EnoughMemory is __vm_enough_memory(): whether a request of pages is
// allowed on kernel v under oc. The caller adds the pages to Committed_AS
// when it is (the kernel adds first and takes them back on failure; the
// counter ends the same).
//
// __vm_enough_memory(), mm/util.c (mm/mmap.c in 4.4): mode 1 always; mode 0
// 5.2+ (8c7829b04c52) fails only a single request > RAM + swap, ≤ 5.1
// estimates free memory minus totalreserve (and admin_reserve for a
// non-admin); mode 2 needs Committed_AS + pages < CommitLimit − admin_reserve
// (non-admin) − min(total_vm/32, user_reserve).
func EnoughMemory(v Version, oc Overcommit, s CommitState, pages int64, c Caller) bool {
	switch oc.Mode {
	case OvercommitAlways:
		return true
	case OvercommitGuess:
		if max := GuessMaxPages(v, s.TotalRAMPages, s.TotalSwapPages); max >= 0 {
			return pages <= max
		}
		g := s.Guess
		free := g.FreePages + g.FilePages - g.ShmemPages + g.FreeSwapPages + g.SlabReclaimablePages
		if free <= g.TotalReservePages {
			return false
		}
		free -= g.TotalReservePages
		if !c.CapSysAdmin {
			free -= s.Reserves.AdminKB / (PageSize / 1024)
		}
		return free > pages
	}
	limit := CommitLimitPages(s.TotalRAMPages, s.HugetlbPages, s.TotalSwapPages, oc)
	return NeverAllows(limit, s.CommittedPages, pages, ReservePages(s.Reserves, c))
}

// ReservePages is what a mode-2 caller loses from CommitLimit: the admin
// reserve unless it has CAP_SYS_ADMIN, and min(total_vm/32, user_reserve).
//
// __vm_enough_memory(), mm/util.c, OVERCOMMIT_NEVER branch (4.4–6.18).
func ReservePages(r Reserves, c Caller) int64 {
	var n int64
	if !c.CapSysAdmin {
		n += r.AdminKB / (PageSize / 1024)
	}
	n += min(c.TotalVMPages/32, r.UserKB/(PageSize/1024))
	return n
}
