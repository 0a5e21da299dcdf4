package sim

import (
	"time"

	"github.com/oomkit/oomkit/internal/mm"
)

// simHZ is the kernel tick rate the memory.high penalty is computed with:
// CONFIG_HZ=250, Debian's and Ubuntu's generic kernels (the penalty is
// counted in jiffies; other rates change it by rounding only).
const simHZ = 250

// reclaimRetries is MAX_RECLAIM_RETRIES: how often
// mem_cgroup_handle_over_high() reclaims again (5.9+) before it sleeps.
const reclaimRetries = 16

// highLimited reports whether p's cgroup or an ancestor has a memory.high.
func highLimited(cg *cgroup) bool {
	for c := cg; c != nil; c = c.parent {
		if c.highPages != Unlimited {
			return true
		}
	}
	return false
}

// touchThrottled is touch, but where a memory.high applies the pages are
// charged one charge batch at a time, each followed by what the task does
// on its way back to user space (overHigh), as page faults do.
func (e *engine) touchThrottled(p *proc, n int64, shmem, tmpfs bool) bool {
	if !highLimited(p.cg) {
		return e.touch(p, n, shmem, tmpfs)
	}
	batch := mm.ChargeBatchPages(e.v)
	var slept time.Duration
	var events int64
	var worst *cgroup
	for n > 0 {
		c := min(n, batch)
		if !e.touch(p, c, shmem, tmpfs) {
			return false
		}
		n -= c
		d, ev, w := e.overHigh(p, c)
		slept += d
		events += ev
		if w != nil {
			worst = w
		}
	}
	if worst != nil {
		p.throttle += slept
		p.throttled += slept
		ev := Event{Event: EvHigh, Process: p.name, PID: p.pid, Cgroup: worst.path, Pod: p.pod,
			UsageBytes: i64(worst.usage * page), HighBytes: i64(worst.highPages * page), HighEvents: i64(worst.highEvents),
			NewHighEvents: i64(events), ThrottledSeconds: fptr(slept.Seconds()), ResidentBytes: i64(p.resident() * page)}
		e.emit(&ev)
	}
	return true
}

// overHigh is mem_cgroup_handle_over_high() after p charged nr pages: every
// cgroup of p's chain over its memory.high counts a "high" event and is
// reclaimed (reclaim_high()); if the penalty for the largest overage is
// more than HZ/100, reclaim is retried (16 times without progress, 5.9+)
// and then slept. It returns the sleep, the high events counted, and the
// cgroup with the largest overage (nil when none was over).
//
// mem_cgroup_handle_over_high(), reclaim_high(), mm/memcontrol.c (5.4–6.18).
func (e *engine) overHigh(p *proc, nr int64) (time.Duration, int64, *cgroup) {
	var events int64
	var worst *cgroup
	retries := 0
	if e.v.AtLeast(5, 9, 0) {
		retries = reclaimRetries
	}
	want := nr
	for {
		var reclaimed int64
		var maxOv uint64
		for c := p.cg; c != nil && c != e.root; c = c.parent {
			if c.highPages == Unlimited || c.usage <= c.highPages {
				continue
			}
			events++
			hier := e.v.AtLeast(5, 2, 0)
			for a := c; a != nil; a = a.parent {
				a.highEvents++
				if !hier {
					break
				}
			}
			reclaimed += e.reclaimMemcg(c, want)
		}
		for c := p.cg; c != nil && c != e.root; c = c.parent {
			if c.highPages == Unlimited {
				continue
			}
			if ov := mm.HighOverage(c.usage, c.highPages); ov > maxOv || worst == nil && ov > 0 {
				maxOv, worst = ov, c
			}
		}
		pen := mm.HighPenalty(e.v, nr, maxOv, simHZ)
		if pen == 0 {
			return 0, events, worst
		}
		if reclaimed > 0 || retries > 0 {
			if reclaimed == 0 {
				retries--
			}
			want = 32 // SWAP_CLUSTER_MAX on a retry
			continue
		}
		return pen, events, worst
	}
}

func fptr(v float64) *float64 { return &v }
