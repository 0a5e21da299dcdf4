package mm

// DupMmapCharge charges, VMA by VMA, what fork charges for the child: the
// pages of every VM_ACCOUNT mapping of the parent, checked against the
// parent's mm by enough (which also adds the pages to Committed_AS when it
// allows them). It returns the pages charged; when a VMA is refused, ok is
// false and the caller must take the charged pages back (fork fails with
// ENOMEM).
//
// dup_mmap(), kernel/fork.c 4.4–6.14 (mm/mmap.c 6.18): each VM_ACCOUNT VMA
// goes through security_vm_enough_memory_mm(oldmm, len) ("sic"), so the
// child needs CommitLimit headroom equal to the parent's private writable
// footprint even if it execs at once.
func DupMmapCharge(accountedVMAPages []int64, enough func(pages int64) bool) (charged int64, ok bool) {
	for _, p := range accountedVMAPages {
		if p == 0 {
			continue
		}
		if !enough(p) {
			return charged, false
		}
		charged += p
	}
	return charged, true
}
