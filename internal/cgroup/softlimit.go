package cgroup

import (
	"fmt"
	"path"
	"slices"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// SoftLimits are the limits of one memory cgroup that act before its hard
// limit: they throttle, protect or steer reclaim, and never kill. A nil
// *_Bytes field is a limit that is not set (v2 "max" for high and
// swap.max, 0 for low, min and v1's soft limit is reported as 0), a file
// this kernel does not have, or one that could not be read (Notes says
// which).
type SoftLimits struct {
	Path    string
	Version Version
	// HighBytes is v2 memory.high: above it the cgroup's allocating tasks
	// reclaim and are throttled on their way back to user space
	// (mem_cgroup_handle_over_high(), mm/memcontrol.c); never an OOM kill.
	HighBytes *int64
	// LowBytes is v2 memory.low: usage within it is reclaimed only when
	// nothing unprotected is left (a "low" event each time it is).
	LowBytes *int64
	// MinBytes is v2 memory.min (4.18+): usage within it is never
	// reclaimed; the OOM killer runs instead.
	MinBytes *int64
	// SwapMaxBytes is v2 memory.swap.max: the cgroup's swap cap; at it,
	// anonymous memory can no longer be reclaimed to swap.
	SwapMaxBytes *int64
	// SoftLimitBytes is v1 memory.soft_limit_in_bytes: under global memory
	// pressure kswapd and direct reclaim take from cgroups above it first
	// (mem_cgroup_soft_limit_reclaim(), mm/memcontrol-v1.c); deprecated in
	// 6.x, never a kill.
	SoftLimitBytes *int64
	// HighEvents and LowEvents are memory.events "high" (times the cgroup
	// was over memory.high and reclaimed, hierarchical since 5.2) and "low"
	// (times it was reclaimed although under memory.low).
	HighEvents *int64
	LowEvents  *int64
	// Notes say what could not be read.
	Notes []string
}

// ReadSoftLimits reads the soft limits of the cgroup directory dir (path
// is the cgroup path to report).
func ReadSoftLimits(dir, cgPath string, v Version) SoftLimits {
	m := Memory{Path: cgPath, Dir: dir, Version: v}
	r := reader{m: &m}
	s := SoftLimits{Path: cgPath, Version: v}
	set := func(p *int64) *int64 {
		if p == nil || *p == 0 {
			return nil
		}
		return p
	}
	switch v {
	case V2:
		s.HighBytes, _, _ = r.limit("memory.high")
		s.SwapMaxBytes, _, _ = r.limit("memory.swap.max")
		s.LowBytes = set(r.int("memory.low"))
		s.MinBytes = set(r.int("memory.min"))
		if b, ok := r.read("memory.events"); ok {
			if e, err := parseEvents(b); err != nil {
				r.note("memory.events", err)
			} else {
				s.HighEvents, s.LowEvents = e.High, e.Low
			}
		}
	default:
		p, _, _ := r.limit("memory.soft_limit_in_bytes")
		s.SoftLimitBytes = set(p)
	}
	s.Notes = m.Notes
	if r.removed {
		s.Notes = append(s.Notes, fmt.Sprintf("cgroup %s was removed while it was read", cgPath))
	}
	return s
}

// ReadSoftLimitsUp reads the soft limits of cgPath and each ancestor, root
// first: memory.high and memory.max act at every level (a charge walks up
// the tree), and protection is effective only as far as every ancestor
// grants it.
func ReadSoftLimitsUp(l Layout, cgPath string) []SoftLimits {
	if l.Memory == "" {
		return nil
	}
	var out []SoftLimits
	for p := path.Clean("/" + cgPath); ; p = path.Dir(p) {
		out = append(out, ReadSoftLimits(l.Dir(p), p, l.Memory))
		if p == "/" {
			break
		}
	}
	slices.Reverse(out)
	return out
}

// Effects says in plain words what each limit that is set will do, for a
// cgroup whose usage is usageBytes (nil when unknown).
func (s SoftLimits) Effects(usageBytes *int64) []string {
	var out []string
	if s.HighBytes != nil {
		e := fmt.Sprintf("memory.high %s: above it allocations reclaim and are throttled (sleeps up to 2 s per return to user space); never an OOM kill", bytesize.Format(*s.HighBytes))
		if s.HighEvents != nil {
			e += fmt.Sprintf("; hit %d times", *s.HighEvents)
		}
		if usageBytes != nil && *usageBytes > *s.HighBytes {
			e += "; over it now"
		}
		out = append(out, e)
	}
	if s.MinBytes != nil {
		out = append(out, fmt.Sprintf("memory.min %s: this much of its usage is never reclaimed (the OOM killer runs instead)", bytesize.Format(*s.MinBytes)))
	}
	if s.LowBytes != nil {
		e := fmt.Sprintf("memory.low %s: usage within it is reclaimed only when nothing unprotected is left", bytesize.Format(*s.LowBytes))
		if s.LowEvents != nil && *s.LowEvents > 0 {
			e += fmt.Sprintf("; that happened %d times", *s.LowEvents)
		}
		out = append(out, e)
	}
	if s.SwapMaxBytes != nil {
		out = append(out, fmt.Sprintf("memory.swap.max %s: at most this much of its memory can go to swap", bytesize.Format(*s.SwapMaxBytes)))
	}
	if s.SoftLimitBytes != nil {
		out = append(out, fmt.Sprintf("memory.soft_limit_in_bytes %s: under node memory pressure it is reclaimed first while above this; never an OOM kill", bytesize.Format(*s.SoftLimitBytes)))
	}
	return out
}
