package mm

// Overcommit modes (vm.overcommit_memory).
const (
	OvercommitGuess  = 0 // heuristic (default)
	OvercommitAlways = 1 // never refuse
	OvercommitNever  = 2 // strict: Committed_AS may not pass CommitLimit
)

// Overcommit is the vm.overcommit_* sysctl state.
type Overcommit struct {
	Mode   int   // vm.overcommit_memory
	Ratio  int64 // vm.overcommit_ratio, percent
	KBytes int64 // vm.overcommit_kbytes; when non-zero it replaces Ratio
}

// CommitLimitPages is vm_commit_limit() in pages.
//
// vm_commit_limit(), mm/util.c (identical 4.4–6.18): overcommit_kbytes
// when set (no hugetlb subtraction), else (totalram − hugetlb) × ratio /
// 100; then + total swap (the size, not the free swap).
func CommitLimitPages(totalRAMPages, hugetlbPages, totalSwapPages int64, oc Overcommit) int64 {
	var allowed int64
	if oc.KBytes != 0 {
		allowed = oc.KBytes / (PageSize / 1024)
	} else {
		allowed = (totalRAMPages - hugetlbPages) * oc.Ratio / 100
	}
	return allowed + totalSwapPages
}

// GuessMaxPages is the largest single request mode 0 allows on kernel v,
// or −1 when the answer depends on free memory at the time of the call
// (≤ 5.1, which estimated free memory) and is not computed here.
//
// __vm_enough_memory(), mm/util.c, 5.2+ (8c7829b04c52): a request fails
// only if pages > totalram + total swap.
func GuessMaxPages(v Version, totalRAMPages, totalSwapPages int64) int64 {
	if v.AtLeast(5, 2, 0) || v.isRHEL8() {
		return totalRAMPages + totalSwapPages
	}
	return -1
}

// NeverAllows reports whether mode 2 lets a request of pages through.
// committedPages is Committed_AS before the request; reserve is what the
// caller loses from the limit: admin_reserve for a caller without
// CAP_SYS_ADMIN plus min(total_vm/32, user_reserve) of its own mm.
//
// __vm_enough_memory(), mm/util.c, mode 2 (4.4–6.18): the request is added
// first, then it succeeds iff Committed_AS < CommitLimit − reserves.
func NeverAllows(commitLimitPages, committedPages, pages, reservePages int64) bool {
	return committedPages+pages < commitLimitPages-reservePages
}
