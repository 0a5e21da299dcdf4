package mm

import "time"

// This file is cgroup v2 memory.high: the soft limit that throttles instead
// of killing. A charge that leaves a memcg (or an ancestor) above
// memory.high succeeds; the task then pays on its way back to user space
// (mem_cgroup_handle_over_high(), mm/memcontrol.c): it reclaims from every
// memcg over its high, each such memcg counts a "high" event, and if
// reclaim cannot bring the overage down the task sleeps a penalty that
// grows with the square of the overage. memory.high never invokes the OOM
// killer; only memory.max does.

// ChargeBatchPages is MEMCG_CHARGE_BATCH, the pages a charge takes at once
// into the per-CPU stock and the nominal size of one over-high charge: 32
// up to 6.0, 64 from 6.1 ("memcg: increase MEMCG_CHARGE_BATCH to 64",
// include/linux/memcontrol.h).
func ChargeBatchPages(v Version) int64 {
	if v.AtLeast(6, 1, 0) {
		return 64
	}
	return 32
}

// Constants of the memory.high penalty (mm/memcontrol.c, 5.4–6.18).
const (
	// delayPrecisionShift is MEMCG_DELAY_PRECISION_SHIFT: the overage is a
	// fixed-point fraction of memory.high with 20 fractional bits.
	delayPrecisionShift = 20
	// delayScalingShift is MEMCG_DELAY_SCALING_SHIFT: overage² × HZ is
	// scaled down by 2^14 more, so an overage of 100 % owes 64 s per batch.
	delayScalingShift = 14
	// MaxHighDelay is MEMCG_MAX_HIGH_DELAY_JIFFIES (2 × HZ): the longest
	// sleep per return to user space, so a task over high still moves. A
	// penalty of at most HZ/100 jiffies (8 ms at HZ 250, 10 ms at 1000) is
	// forgiven.
	MaxHighDelay = 2 * time.Second
)

// HighOverage is calculate_overage(): how far usage is above high, as a
// fraction of high with 20 fractional bits; 0 when usage ≤ high.
func HighOverage(usagePages, highPages int64) uint64 {
	if usagePages <= highPages {
		return 0
	}
	high := max(highPages, 1)
	return uint64(usagePages-high) << delayPrecisionShift / uint64(high)
}

// HighPenalty is the sleep mem_cgroup_handle_over_high() imposes on a task
// that charged nrPages while the largest overage among its memcg and the
// memcg's ancestors was maxOverage (HighOverage), with the kernel's HZ
// (jiffies per second: 100, 250, 300 or 1000). Zero means no sleep:
// kernels before 5.4 only reclaim, and a penalty ≤ HZ/100 is forgiven.
//
// calculate_high_delay(), mem_cgroup_handle_over_high(), mm/memcontrol.c
// (5.4 0e4b01df8659 "throttle allocators when failing reclaim over
// memory.high"; this form 5.8–6.18): jiffies = overage² × HZ >> 20 >> 14,
// × nrPages / MEMCG_CHARGE_BATCH, at most 2 × HZ.
func HighPenalty(v Version, nrPages int64, maxOverage uint64, hz int64) time.Duration {
	if !v.AtLeast(5, 4, 0) || maxOverage == 0 || hz <= 0 {
		return 0
	}
	// overage < 2^20 × (usage/high); a memcg far above high saturates at
	// the clamp anyway, so cap it where the square cannot overflow.
	ov := min(maxOverage, 1<<24)
	jiffies := ov * ov * uint64(hz) >> delayPrecisionShift >> delayScalingShift
	jiffies = jiffies * uint64(max(nrPages, 0)) / uint64(ChargeBatchPages(v))
	jiffies = min(jiffies, uint64(2*hz))
	if jiffies <= uint64(hz/100) {
		return 0
	}
	return time.Duration(jiffies) * time.Second / time.Duration(hz)
}

// Protection is what memory.min and memory.low do to reclaim of a memcg
// whose usage is within them (Documentation/admin-guide/cgroup-v2.rst,
// mem_cgroup_calculate_protection(), mm/memcontrol.c 4.18–6.18).
type Protection int

// The protection a memcg's usage enjoys.
const (
	// Unprotected: reclaim takes from it as from any other.
	Unprotected Protection = iota
	// LowProtected (usage ≤ effective memory.low): reclaimed only when no
	// unprotected memory is left anywhere in the reclaim's scope; each
	// such reclaim counts a "low" event.
	LowProtected
	// MinProtected (usage ≤ effective memory.min): never reclaimed; if
	// nothing else can be reclaimed the OOM killer runs instead.
	MinProtected
)

// ProtectionOf classifies usage against memory.min and memory.low (nil for
// 0, the default); an effective protection larger than the parent's is cut
// by the kernel, which this ignores.
func ProtectionOf(usageBytes int64, minBytes, lowBytes *int64) Protection {
	switch {
	case minBytes != nil && *minBytes > 0 && usageBytes <= *minBytes:
		return MinProtected
	case lowBytes != nil && *lowBytes > 0 && usageBytes <= *lowBytes:
		return LowProtected
	}
	return Unprotected
}

// String names the protection as the JSON output spells it.
func (p Protection) String() string {
	switch p {
	case LowProtected:
		return "low"
	case MinProtected:
		return "min"
	}
	return "none"
}
