package mm

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// PageSize is the base page size the OOM arithmetic counts in (x86-64).
const PageSize = 4096

// OOMScoreAdjMin is OOM_SCORE_ADJ_MIN: a task with this adj is never chosen.
const OOMScoreAdjMin = -1000

// Rules names the OOM killer's selection rules of one range of kernels
// (spec/kernel.md §2.3, §2.4; DESIGN.md table).
type Rules int

// The three rule sets. The zero value is RulesUnknown.
const (
	RulesUnknown Rules = iota
	// RulesLeader: ≤ 5.2. Badness clamped to ≥ 1; among equal scores the
	// first thread-group leader scanned keeps the slot; the memcg scan
	// walks threads; ≤ 5.0 then sacrifices the first child with its own mm.
	RulesLeader
	// RulesClamp: 5.3–5.8 and 5.4.0–5.4.143 (and RHEL 8 4.18). Badness
	// clamped to ≥ 1; an equal score replaces the choice, so the last task
	// scanned wins a tie.
	RulesClamp
	// RulesSigned: ≥ 5.9 and 5.4.144+. Signed badness, no clamp; adj −1000
	// is ineligible (LONG_MIN); the last task scanned wins among exact equals.
	RulesSigned
)

// AllRules lists the rule sets, oldest first, for "try every rule set".
var AllRules = []Rules{RulesLeader, RulesClamp, RulesSigned}

// String names the rule set and the kernels it covers.
func (r Rules) String() string {
	switch r {
	case RulesLeader:
		return "≤5.2"
	case RulesClamp:
		return "5.3–5.8/5.4.0–5.4.143"
	case RulesSigned:
		return "≥5.9/5.4.144+"
	}
	return "unknown"
}

// ID is a stable machine name for the rule set, used in JSON.
func (r Rules) ID() string {
	switch r {
	case RulesLeader:
		return "leader_clamp"
	case RulesClamp:
		return "clamp_last_wins"
	case RulesSigned:
		return "signed"
	}
	return "unknown"
}

// Clamps reports whether badness ≤ 0 is raised to 1 under r.
func (r Rules) Clamps() bool { return r == RulesLeader || r == RulesClamp }

// RulesFor returns the OOM-killer rules of kernel v.
func RulesFor(v Version) Rules {
	switch {
	case v.isRHEL8():
		// RHEL 8.3 4.18.0-240: clamp kept, leader check gone, PROCS scan.
		return RulesClamp
	case !v.AtLeast(5, 3, 0):
		return RulesLeader
	case v.Major == 5 && v.Minor == 4:
		// 9066e5cfb73c was backported to 5.4.144 (spec/kernel.md §0).
		if v.Patch >= 144 {
			return RulesSigned
		}
		return RulesClamp
	case !v.AtLeast(5, 9, 0):
		return RulesClamp
	}
	return RulesSigned
}

// Task is what the OOM killer knows of one candidate: one task-table row.
type Task struct {
	PID  int
	Name string
	// RSSPages is get_mm_rss(): file + anon + shmem resident pages.
	RSSPages int64
	// SwapEnts is MM_SWAPENTS, in pages.
	SwapEnts int64
	// PgtablePages is mm_pgtables_bytes()/PAGE_SIZE (nr_ptes + nr_pmds on
	// ≤ 4.14).
	PgtablePages int64
	OOMScoreAdj  int
	// CapSysAdmin gives the ≤ 4.16 root bonus (−3 %).
	CapSysAdmin bool
	// Unkillable marks tasks the kernel never considers: init, kernel
	// threads, tasks without an mm, MMF_OOM_SKIP, in vfork.
	Unkillable bool
}

// Badness is oom_badness() for task t under rules r with the given
// totalpages. eligible is false for tasks the kernel skips (adj −1000 or
// unkillable); points is then 0.
//
// oom_badness(), mm/oom_kill.c: points = rss + swapents + pgtables pages,
// then adj × (totalpages/1000) in integer arithmetic; ≤ 5.8 and
// 5.4.0–5.4.143 return points > 0 ? points : 1; ≥ 5.9 and 5.4.144+ return
// the signed sum.
func Badness(r Rules, t Task, totalpages int64) (points int64, eligible bool) {
	points, eligible = RawBadness(r, t, totalpages)
	if !eligible {
		return 0, false
	}
	return r.clamp(points), true
}

// clamp is the ≤ 5.8 "points > 0 ? points : 1" of oom_badness().
func (r Rules) clamp(points int64) int64 {
	if r.Clamps() && points <= 0 {
		return 1
	}
	return points
}

// RawBadness is Badness before the clamp of the ≤ 5.8 rules: the signed
// sum that those kernels raise to 1 when it is ≤ 0.
func RawBadness(r Rules, t Task, totalpages int64) (points int64, eligible bool) {
	if t.Unkillable || t.OOMScoreAdj == OOMScoreAdjMin {
		return 0, false
	}
	points = t.RSSPages + t.SwapEnts + t.PgtablePages
	if t.CapSysAdmin && r == RulesLeader {
		// ≤ 4.16 only (d46078b28889 removed it in 4.17); callers set
		// CapSysAdmin only for those kernels.
		points -= points * 3 / 100
	}
	return points + int64(t.OOMScoreAdj)*(totalpages/1000), true
}

// Ranked is one task in the kernel's order of preference.
type Ranked struct {
	Index  int // position in the scanned slice
	PID    int
	Name   string
	Points int64
	// RawPoints is Points before the ≤ 5.8 clamp (RawBadness).
	RawPoints int64
	Eligible  bool
	// Rank is 1 for the task the kernel chooses, 2 for the runner-up, …;
	// 0 for ineligible tasks.
	Rank int
}

// Selection is the outcome of select_bad_process() over a scan.
type Selection struct {
	Rules      Rules
	TotalPages int64
	// Chosen is the index of the chosen task in the scanned slice, −1 when
	// no task is eligible ("Out of memory and no killable processes").
	Chosen int
	// Ranking lists every task, the chosen one first, then in the order the
	// kernel would have preferred them; ineligible tasks last.
	Ranking []Ranked
	// Tie is true when the chosen task's points equal the runner-up's, so
	// the tie rule, not the score, decided.
	Tie bool
	// TiedWith is how many eligible tasks share the chosen task's points
	// (1 when there is no tie).
	TiedWith int
}

// Select runs the victim selection of rules r over tasks in scan order.
//
// select_bad_process()/oom_evaluate_task(), mm/oom_kill.c: ≤ 5.2 skips an
// equal score when the current choice is a thread-group leader (first
// scanned wins; the task table lists leaders); 5.3+ replaces on equal (last
// scanned wins); ≥ 5.9/5.4.144+ starts from LONG_MIN with signed points.
func Select(r Rules, tasks []Task, totalpages int64) Selection {
	sel := Selection{Rules: r, TotalPages: totalpages, Chosen: -1}
	// One key per task, sorted by value: the comparison reads no other
	// slice. Index breaks every tie, so the order is total and an
	// unstable sort gives the one answer.
	type scored struct {
		points, raw int64
		index       int
		eligible    bool
	}
	sc := make([]scored, len(tasks))
	var chosen int64 = math.MinInt64
	for i, t := range tasks {
		raw, ok := RawBadness(r, t, totalpages)
		p := raw
		if ok {
			p = r.clamp(raw)
		}
		sc[i] = scored{p, raw, i, ok}
		if !ok {
			continue
		}
		switch {
		case sel.Chosen < 0:
			sel.Chosen, chosen = i, p
		case p > chosen:
			sel.Chosen, chosen = i, p
		case p == chosen && r != RulesLeader:
			sel.Chosen = i
		}
	}
	// Preference order: higher points first; among equals, the tie rule.
	slices.SortFunc(sc, func(x, y scored) int {
		switch {
		case x.eligible != y.eligible:
			if x.eligible {
				return -1
			}
			return 1
		case x.points != y.points:
			return cmp.Compare(y.points, x.points)
		case r == RulesLeader:
			return cmp.Compare(x.index, y.index)
		}
		return cmp.Compare(y.index, x.index)
	})
	sel.Ranking = make([]Ranked, len(tasks))
	rank := 0
	for k, s := range sc {
		i := s.index
		sel.Ranking[k] = Ranked{Index: i, PID: tasks[i].PID, Name: tasks[i].Name, Points: s.points, RawPoints: s.raw, Eligible: s.eligible}
		if s.eligible {
			rank++
			sel.Ranking[k].Rank = rank
			if sel.Chosen >= 0 && s.points == chosen {
				sel.TiedWith++
			}
		}
	}
	sel.Tie = sel.TiedWith > 1
	return sel
}

// OOMScore is /proc/PID/oom_score for a task whose badness under rules r
// is points (eligible false: 0), with global totalpages (RAM + swap).
//
// proc_oom_score(), fs/proc/base.c: ≤ 5.8 and 5.4.0–5.4.143 print
// badness × 1000 / totalpages; ≥ 5.9 and 5.4.144+ print
// (1000 + badness × 1000 / totalpages) × 2 / 3, truncating toward zero.
func OOMScore(r Rules, points int64, eligible bool, totalpages int64) int64 {
	if !eligible || totalpages <= 0 {
		return 0
	}
	if r == RulesSigned {
		return (1000 + points*1000/totalpages) * 2 / 3
	}
	return points * 1000 / totalpages
}

// DescribeTotalPages says where a totalpages value comes from, for
// explanations.
func DescribeTotalPages(totalpages int64, memcg bool) string {
	if memcg {
		return fmt.Sprintf("%d pages (the memcg limit, + swap where the kernel counts it)", totalpages)
	}
	return fmt.Sprintf("%d pages (RAM + swap)", totalpages)
}

// RSSCounterLagPages bounds, for one process, how far the RSS the OOM
// killer reads may be from the RSS /proc/PID/status shows, either way, on a
// machine with cpus online CPUs.
//
// Since 6.2 ("mm: convert mm's rss stats into percpu_counter") a process's
// file, anon and shmem page counts are per-CPU counters: each CPU keeps up
// to a batch of max(32, 2 × CPUs) updates, up or down, before folding them
// in. oom_badness() reads the folded count (get_mm_rss), which misses what
// the CPUs hold; status can show the exact sum. Observed in a Debian
// 6.12.117 guest: idle processes that had grown, whose oom_score stayed one
// point below the value status implies, about 10 pages short; a process
// that has shrunk reads above instead. Before 6.2 both read the same
// counters: 0.
func RSSCounterLagPages(v Version, cpus int) int64 {
	if !v.AtLeast(6, 2, 0) {
		return 0
	}
	cpus = max(cpus, 1)
	batch := max(32, 2*cpus)
	return int64(3 * cpus * batch)
}

// OOMScoreLag is how many points /proc/PID/oom_score may differ, either
// way, from OOMScore computed from status when the OOM killer's RSS is off
// by up to lagPages (RSSCounterLagPages): the lag in points, plus one for
// each of the formula's two truncations.
func OOMScoreLag(r Rules, lagPages, totalpages int64) int64 {
	if lagPages <= 0 || totalpages <= 0 {
		return 0
	}
	perMille := lagPages*1000/totalpages + 1
	if r == RulesSigned {
		return perMille*2/3 + 1
	}
	return perMille
}
