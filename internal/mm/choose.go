package mm

import "math"

// Choice is the victim select_bad_process() settles on, without the full
// ranking Select builds: one pass over the tasks, linear in their number.
type Choice struct {
	// Index of the chosen task in the scan, −1 when none is eligible.
	Index int
	// Points is the chosen task's badness under the rules.
	Points int64
	// TiedWith is how many eligible tasks have exactly Points (1: no tie).
	TiedWith int
}

// Choose runs the victim selection of rules r over tasks in scan order, as
// Select does, and returns only the choice. The simulator calls it once
// per OOM, so its cost is one Badness per task.
//
// select_bad_process()/oom_evaluate_task(), mm/oom_kill.c: ≤ 5.2 keeps the
// first of equal scores (leader preference), 5.3+ the last; ≥ 5.9/5.4.144+
// compare signed points from LONG_MIN.
func Choose(r Rules, tasks []Task, totalpages int64) Choice {
	c := Choice{Index: -1}
	best := int64(math.MinInt64)
	for i, t := range tasks {
		p, ok := Badness(r, t, totalpages)
		if !ok {
			continue
		}
		switch {
		case c.Index < 0 || p > best:
			c.Index, best, c.TiedWith = i, p, 1
		case p == best:
			c.TiedWith++
			if r != RulesLeader {
				c.Index = i
			}
		}
	}
	if c.Index >= 0 {
		c.Points = best
	}
	return c
}
