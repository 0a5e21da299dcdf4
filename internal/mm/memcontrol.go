package mm

import "math"

// PageCounterMaxPages is PAGE_COUNTER_MAX on 64-bit: an unlimited memcg
// counter, LONG_MAX / PAGE_SIZE pages (include/linux/page_counter.h).
const PageCounterMaxPages int64 = math.MaxInt64 / PageSize

// UnlimitedKB is an unlimited memcg counter as an OOM report prints it:
// mem_cgroup_print_oom_meminfo() (mm/memcontrol.c) prints
// K(memcg->memory.max), PAGE_COUNTER_MAX pages in kB: 9007199254740988.
const UnlimitedKB int64 = PageCounterMaxPages * (PageSize / 1024)

// MemcgTotalPages is the OOM killer's totalpages for a memcg OOM:
// mem_cgroup_get_max() of the memcg whose counter failed. limitPages is the
// memory limit, swapLimitPages the v2 memory.swap.max or the v1
// memory.memsw limit (−1 when unlimited), totalSwapPages the machine's swap
// size, swappiness the memcg's.
//
// mem_cgroup_get_max(), mm/memcontrol.c: without swap (or swappiness 0) the
// limit alone; 4.9–5.4: min(max + total_swap, memsw.max) on v1; 5.10+ on v1
// max + min(memsw.max − max, total_swap); v2 max + min(swap.max,
// total_swap). A result of 0 becomes 1.
func MemcgTotalPages(v Version, cgroupV2 bool, limitPages, swapLimitPages, totalSwapPages int64, swappiness int) int64 {
	total := limitPages
	if totalSwapPages > 0 && swappiness != 0 {
		switch {
		case cgroupV2:
			sw := totalSwapPages
			if swapLimitPages >= 0 && swapLimitPages < sw {
				sw = swapLimitPages
			}
			total = limitPages + sw
		case v.AtLeast(5, 10, 0):
			sw := totalSwapPages
			if swapLimitPages >= 0 && swapLimitPages-limitPages < sw {
				sw = swapLimitPages - limitPages
			}
			total = limitPages + sw
		default:
			total = limitPages + totalSwapPages
			if swapLimitPages >= 0 && swapLimitPages < total {
				total = swapLimitPages
			}
		}
	}
	if total <= 0 {
		return 1
	}
	return total
}
