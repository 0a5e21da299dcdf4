package explain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// kbPerPage turns the report's kB into the OOM killer's pages (PAGE_SIZE,
// x86-64).
const kbPerPage = mm.PageSize / 1024

// model is the task table as the mm package sees it.
type model struct {
	rows  []oomlog.Task
	tasks []mm.Task
	// tp is totalpages; tpKnown is false when neither a memcg limit nor
	// Mem-Info was printed (the adj term is then left out).
	tp      int64
	tpKnown bool
	// skipped are rows left out as earlier victims.
	skipped []int
}

// choice is the kernel's choice as analyse recomputed it: what the summary
// needs beyond the Analysis it fills.
type choice struct {
	// rules are the kernel's rules; RulesUnknown when the kernel version
	// is unknown and the rule sets its format allows disagree.
	rules   mm.Rules
	version *mm.Version // assumed or printed; nil when unknown
	// sel is the prediction: under rules, or the one every rule set the
	// format allows agrees on; nil when there is none.
	sel *mm.Selection
	m   model
	// victimPID/victimComm are the kernel's choice, when haveVictim.
	victimPID  int
	victimComm string
	haveVictim bool
	// allocating: vm.oom_kill_allocating_task=1 chose the victim.
	allocating bool
	// outcomes is each rule set's predicted victim pid.
	outcomes map[mm.Rules]*int
}

// analyse recomputes the kernel's choice: the rules of the kernel, the
// model of the task table, the selection under every rule set, the
// ranking, and the caveats.
func analyse(r *oomlog.Report, e *Event, v mm.Version, haveVersion bool, opts Options) (Analysis, *choice) {
	a := Analysis{RulesFrom: RulesFromUnknown, Ranking: []Rank{}, ByRules: []RulesOutcome{}, Reasons: []string{}}
	c := &choice{outcomes: map[mm.Rules]*int{}}
	candidates := c.pickRules(&a, r, v, haveVersion, opts)
	c.m = buildModel(r, c.version, opts.PriorVictims)
	if c.m.tpKnown {
		a.TotalPages = ptr(c.m.tp)
	}
	a.TotalPagesFrom = totalPagesFrom(r, &c.m)
	c.victimPID, c.victimComm, c.haveVictim = kernelVictim(r)
	if c.haveVictim {
		a.KernelVictimPID = ptr(c.victimPID)
	}
	c.allocating = allocatingTask(r)

	c.chooseByRules(&a, r)
	ranked := c.rules
	if c.rules == mm.RulesUnknown {
		ranked = c.settleUnknown(&a, candidates)
	}
	if c.rules != mm.RulesUnknown {
		a.Rules = ptr(c.rules.ID())
		a.RulesKernels = ptr(c.rules.String())
	}
	if ranked != mm.RulesUnknown && r.Tasks != nil {
		sel := mm.Select(ranked, c.m.tasks, c.m.tp)
		c.sel = &sel
	}
	if c.sel != nil {
		c.rank(&a, opts)
		c.decide(&a)
	}
	if c.allocating {
		c.allocatingDecides(&a, e)
	}
	a.Reasons = append(a.Reasons, reasons(r, e, c, &a)...)
	return a, c
}

// pickRules sets the rules from --assume-kernel or the report's release,
// and returns the rule sets the report's format allows when neither says.
func (c *choice) pickRules(a *Analysis, r *oomlog.Report, v mm.Version, haveVersion bool, opts Options) []mm.Rules {
	switch {
	case opts.AssumeKernel != nil:
		c.version = opts.AssumeKernel
		c.rules = mm.RulesFor(*opts.AssumeKernel)
		a.RulesFrom = RulesFromAssumed
		a.AssumedKernel = ptr(opts.AssumeKernel.String())
	case haveVersion:
		c.version = &v
		c.rules = mm.RulesFor(v)
		a.RulesFrom = RulesFromReport
	default:
		return hintRules(r)
	}
	return mm.AllRules
}

// allocatingTask reports whether vm.oom_kill_allocating_task chose the
// victim (the kill line says so).
func allocatingTask(r *oomlog.Report) bool {
	for _, v := range r.Victims {
		if strings.Contains(v.Message, "oom_kill_allocating_task") {
			return true
		}
	}
	return false
}

// chooseByRules runs the selection of every rule set over the task table
// (its choice only; the ranking is built for one), so "which kernels
// explain this outcome" and "what would another kernel have done" can be
// answered.
func (c *choice) chooseByRules(a *Analysis, r *oomlog.Report) {
	for _, rs := range mm.AllRules {
		out := RulesOutcome{Rules: rs.ID(), Kernels: rs.String()}
		if r.Tasks != nil {
			if ch := mm.Choose(rs, c.m.tasks, c.m.tp); ch.Index >= 0 {
				out.PredictedVictimPID = ptr(c.m.rows[ch.Index].PID)
				c.outcomes[rs] = out.PredictedVictimPID
				if c.haveVictim {
					out.Agrees = ptr(matches(&c.m.rows[ch.Index], c.victimPID))
				}
			}
		}
		a.ByRules = append(a.ByRules, out)
	}
}

// settleUnknown decides what an unknown kernel version leaves: one rule
// set when the format allows only one; else a prediction only if every
// rule set the format allows makes it (ranked with the newest of them,
// Rules left null). It returns the rule set to rank with, RulesUnknown
// for none.
func (c *choice) settleUnknown(a *Analysis, candidates []mm.Rules) mm.Rules {
	first := c.outcomes[candidates[0]]
	same := true
	for _, rs := range candidates[1:] {
		p := c.outcomes[rs]
		if (p == nil) != (first == nil) || (p != nil && *p != *first) {
			same = false
		}
	}
	ranked := mm.RulesUnknown
	switch {
	case len(candidates) == 1:
		c.rules = candidates[0]
		a.RulesFrom = RulesFromFormat
		ranked = c.rules
	case same && first != nil:
		ranked = candidates[len(candidates)-1]
	}
	names := make([]string, len(candidates))
	for i, rs := range candidates {
		names[i] = rs.String()
	}
	if len(candidates) < len(mm.AllRules) {
		a.Reasons = append(a.Reasons, fmt.Sprintf("the report does not print the kernel version; its format allows only the %s rules", strings.Join(names, ", ")))
	} else {
		a.Reasons = append(a.Reasons, "the report does not print the kernel version: every rule set was tried (pass --assume-kernel VERSION to pick one)")
	}
	return ranked
}

// rank lists the top of the selection's order of preference.
func (c *choice) rank(a *Analysis, opts Options) {
	top := opts.Top
	if top == 0 {
		top = DefaultTop
	}
	if opts.Verbose || top < 0 {
		top = len(c.sel.Ranking)
	}
	for _, rk := range c.sel.Ranking {
		if !rk.Eligible || len(a.Ranking) >= top {
			continue
		}
		t := c.m.tasks[rk.Index]
		a.Ranking = append(a.Ranking, Rank{
			PID: rk.PID, Name: rk.Name, Points: rk.Points, RawPoints: rk.RawPoints,
			OOMScoreAdj: t.OOMScoreAdj, RSSPages: t.RSSPages, Rank: rk.Rank,
		})
	}
}

// decide fills the prediction: the chosen task, what decided it, whether
// it is the kernel's choice, how many scores the clamp raised.
func (c *choice) decide(a *Analysis) {
	sel := c.sel
	if sel.Chosen >= 0 {
		a.PredictedVictimPID = ptr(c.m.rows[sel.Chosen].PID)
		a.TiedWith = sel.TiedWith
		switch {
		case sel.Tie && sel.Rules == mm.RulesLeader:
			a.DecidedBy = ptr(DecidedByTieFirstScanned)
		case sel.Tie:
			a.DecidedBy = ptr(DecidedByTieLastScanned)
		default:
			a.DecidedBy = ptr(DecidedByScore)
		}
		if c.haveVictim {
			a.Agrees = ptr(matches(&c.m.rows[sel.Chosen], c.victimPID))
		}
	}
	if sel.Rules.Clamps() {
		for _, rk := range sel.Ranking {
			if rk.Eligible && rk.RawPoints <= 0 {
				a.Clamped++
			}
		}
	}
}

// allocatingDecides replaces the prediction: vm.oom_kill_allocating_task
// kills the allocating task without a scan.
func (c *choice) allocatingDecides(a *Analysis, e *Event) {
	a.DecidedBy = ptr(DecidedByAllocatingTask)
	a.PredictedVictimPID = nil
	a.Agrees = nil
	if e.Trigger != nil && e.Trigger.PID != nil {
		a.PredictedVictimPID = ptr(*e.Trigger.PID)
		if c.haveVictim {
			a.Agrees = ptr(*e.Trigger.PID == c.victimPID)
		}
	}
	a.Reasons = append(a.Reasons, "vm.oom_kill_allocating_task=1: the kernel killed the allocating task without ranking the others")
}

// matches reports whether a task-table row is process pid: the row's pid
// is the thread that holds the mm, its tgid the process.
func matches(row *oomlog.Task, pid int) bool {
	return row.PID == pid || (row.Has&oomlog.HasTGID != 0 && row.TGID == pid)
}

// hintRules narrows the rule sets by what the report's format shows when
// it does not print the kernel version (spec/kernel.md §4, §7).
func hintRules(r *oomlog.Report) []mm.Rules {
	switch {
	case r.TableFormat == oomlog.TableRSSSplit:
		return []mm.Rules{mm.RulesSigned} // 6.8+
	case r.ChosenScore != nil || r.TableFormat == oomlog.TableNrPtes || r.TableFormat == oomlog.TableOOMAdj:
		return []mm.Rules{mm.RulesLeader} // "Kill process … score" ≤5.0; nr_ptes ≤4.14
	}
	for _, v := range r.Victims {
		if v.PgtablesKB != nil {
			return []mm.Rules{mm.RulesClamp, mm.RulesSigned} // 5.4+ Killed line
		}
	}
	return mm.AllRules
}

// buildModel turns the task table into mm tasks and works out totalpages.
func buildModel(r *oomlog.Report, v *mm.Version, prior []int) model {
	m := model{rows: r.Tasks}
	m.tasks, m.skipped = Candidates(r, v, prior)
	m.tp, m.tpKnown = totalPages(r)
	return m
}

// Candidates is the report's task table as the OOM killer's candidates,
// in printed order, under kernel v (nil: unknown): rss, swap entries and
// page-table pages per row, the ≤4.16 root bonus for uid 0, and earlier
// victims marked unkillable. skipped lists those victims' rows.
//
// prior holds the pids of earlier Killed lines of the same log. A row is
// an earlier victim when its pid or its tgid is one: the kernel skips a
// victim by process, not by thread (oom_evaluate_task(), mm/oom_kill.c:
// tsk_is_oom_victim() reads signal->oom_mm, shared by every thread, and
// MMF_OOM_SKIP is a flag of the mm), while the Killed line and the row
// each print some thread of it that holds the mm (find_lock_task_mm()).
func Candidates(r *oomlog.Report, v *mm.Version, prior []int) (tasks []mm.Task, skipped []int) {
	rootBonus := v != nil && !v.AtLeast(4, 17, 0)
	// A log's earlier victims may be many (a storm): look them up in a
	// sorted copy, not once per row.
	sorted := slices.Clone(prior)
	slices.Sort(sorted)
	earlier := func(pid int) bool { _, found := slices.BinarySearch(sorted, pid); return found }
	tasks = make([]mm.Task, len(r.Tasks))
	for i := range r.Tasks {
		t, mt := &r.Tasks[i], &tasks[i]
		mt.PID, mt.Name, mt.RSSPages, mt.OOMScoreAdj = t.PID, t.Name, t.RSSPages, t.OOMScoreAdj
		if t.Has&oomlog.HasSwapEnts != 0 {
			mt.SwapEnts = t.SwapEnts
		}
		switch {
		case t.Has&oomlog.HasPgtablesPages != 0:
			mt.PgtablePages = t.PgtablesPages
		case t.Has&oomlog.HasPgtablesBytes != 0:
			mt.PgtablePages = t.PgtablesBytes / mm.PageSize
		}
		// ≤4.16 took 3% off for CAP_SYS_ADMIN; uid 0 is the closest the
		// table shows.
		mt.CapSysAdmin = rootBonus && t.Has&oomlog.HasUID != 0 && t.UID == 0
		if earlier(t.PID) || t.Has&oomlog.HasTGID != 0 && earlier(t.TGID) {
			mt.Unkillable = true
			skipped = append(skipped, t.PID)
		}
	}
	return tasks, skipped
}

// totalPages is the OOM killer's totalpages for the report.
//
// constrained_alloc(), mm/oom_kill.c: a memcg OOM uses
// mem_cgroup_get_max() (the limit, + swap where counted); a global one
// totalram_pages + total_swap_pages.
func totalPages(r *oomlog.Report) (int64, bool) {
	if m := r.Memcg; m != nil && m.LimitKB != nil && !r.GlobalOOM {
		tp := *m.LimitKB / kbPerPage
		if tp <= 0 {
			tp = 1
		}
		return tp, true
	}
	if mi := r.MemInfo; mi != nil && mi.RAMPages != nil {
		tp := *mi.RAMPages
		if mi.ReservedPages != nil && *mi.ReservedPages < tp {
			tp -= *mi.ReservedPages
		}
		if mi.SwapTotalKB != nil {
			tp += *mi.SwapTotalKB / kbPerPage
		}
		return tp, true
	}
	return 0, false
}

// totalPagesFrom says where totalpages came from, and how sure that is.
func totalPagesFrom(r *oomlog.Report, m *model) *TotalPagesSource {
	if !m.tpKnown {
		return nil
	}
	if mc := r.Memcg; mc != nil && mc.LimitKB != nil && !r.GlobalOOM {
		if swapExact(mc) {
			return ptr(TotalPagesMemcgLimit)
		}
		return ptr(TotalPagesMemcgLimitNoSwap)
	}
	if r.Constraint == "CONSTRAINT_CPUSET" || r.Constraint == "CONSTRAINT_MEMORY_POLICY" {
		return ptr(TotalPagesRAMPlusSwapApprox)
	}
	return ptr(TotalPagesRAMPlusSwap)
}

// swapExact reports whether the memcg's swap allowance is known to add
// nothing to totalpages: v2 swap.max 0, or a v1 memsw limit equal to the
// memory limit.
func swapExact(mc *oomlog.MemcgUsage) bool {
	if mc.SwapLimitKB == nil {
		return false
	}
	if mc.SwapIsMemsw {
		return *mc.SwapLimitKB == *mc.LimitKB
	}
	return *mc.SwapLimitKB == 0
}

// swapInUse reports whether the memcg block shows swap being used, so
// the node has swap and totalpages may be larger than the limit.
func swapInUse(mc *oomlog.MemcgUsage) bool {
	if mc.SwapUsageKB == nil {
		return false
	}
	if mc.SwapIsMemsw {
		return mc.UsageKB != nil && *mc.SwapUsageKB > *mc.UsageKB
	}
	return *mc.SwapUsageKB > 0
}

// reasons lists the caveats on the prediction, and the likely reasons
// when it disagrees with the kernel.
func reasons(r *oomlog.Report, e *Event, c *choice, a *Analysis) []string {
	var out []string
	if r.Tasks == nil {
		out = append(out, "the report has no task table (vm.oom_dump_tasks=0, a rate-limited report, or a cut log), so the choice cannot be recomputed")
		return out
	}
	if len(r.Tasks) == 0 {
		out = append(out, "the task table is empty")
	}
	for _, p := range c.m.skipped {
		out = append(out, fmt.Sprintf("pid %d was killed by an earlier OOM in this log; the kernel skips a victim that is exiting or reaped (MMF_OOM_SKIP), so it is left out of the ranking", p))
	}
	if !c.m.tpKnown {
		adj := false
		for i := range r.Tasks {
			if r.Tasks[i].OOMScoreAdj != 0 {
				adj = true
			}
		}
		if adj {
			out = append(out, "totalpages is unknown (no memcg limit or Mem-Info in the report), so the ranking leaves oom_score_adj out")
		}
	}
	if mc := r.Memcg; mc != nil && swapInUse(mc) && !swapExact(mc) {
		out = append(out, "the memcg uses swap, so the kernel's totalpages was the limit plus up to the swap it may use; the report does not print the node's swap size, and the ranking uses the limit alone")
	}
	if c.haveVictim {
		found := false
		for i := range r.Tasks {
			if matches(&r.Tasks[i], c.victimPID) {
				found = true
			}
		}
		if !found && len(r.Tasks) > 0 {
			out = append(out, fmt.Sprintf("the victim %d (%s) is not in the task table: the table was cut, or the victim is a thread the table lists under another pid", c.victimPID, c.victimComm))
		}
	}
	if r.ChosenPID != nil {
		for _, v := range r.Victims {
			if !v.GroupKill && v.PID != *r.ChosenPID {
				out = append(out, fmt.Sprintf("the kernel chose pid %d and then killed its child %d (%s) instead (≤5.0 \"sacrifice child\"); the model predicts the chosen process", *r.ChosenPID, v.PID, v.Comm))
				break
			}
		}
	}
	sel := c.sel
	if sel != nil && sel.Rules == mm.RulesLeader && sel.Tie && e.OOMKind != nil && *e.OOMKind == OOMMemcg {
		out = append(out, "on ≤5.2 kernels a memcg OOM's task table is printed in process-creation order, not in the order the kernel scanned the memcg (thread by thread, cgroup by cgroup), so the first-scanned tie winner cannot be read off the table")
	}
	if a.Agrees != nil && !*a.Agrees {
		switch a.RulesFrom {
		case RulesFromAssumed:
			out = append(out, fmt.Sprintf("under the assumed kernel %s (%s rules) the choice differs from the kernel that printed this report: that kernel would have chosen differently", *a.AssumedKernel, c.rules.String()))
		default:
			out = append(out, disagreement(r, c)...)
		}
	}
	if a.Agrees == nil && c.rules == mm.RulesUnknown && c.haveVictim {
		var ok, bad []string
		for _, rs := range mm.AllRules {
			p := c.outcomes[rs]
			switch {
			case p == nil:
			case *p == c.victimPID || rowTGID(r, *p) == c.victimPID:
				ok = append(ok, rs.String())
			default:
				bad = append(bad, fmt.Sprintf("%s would have chosen %d", rs.String(), *p))
			}
		}
		if len(ok) > 0 {
			out = append(out, "the kernel's choice is explained by the "+strings.Join(ok, ", ")+" rules")
		}
		if len(bad) > 0 {
			out = append(out, strings.Join(bad, "; "))
		}
	}
	if len(e.Victims) > 1 && r.GroupKillPath != "" {
		out = append(out, fmt.Sprintf("memory.oom.group killed every task in %s, so the choice only decided which process died first", r.GroupKillPath))
	}
	return out
}

// disagreement lists the likely reasons the kernel chose another task
// than the model under the report's own rules.
func disagreement(r *oomlog.Report, c *choice) []string {
	var out []string
	sel := c.sel
	var pred, kern *mm.Ranked
	for i := range sel.Ranking {
		rk := &sel.Ranking[i]
		if rk.Index == sel.Chosen {
			pred = rk
		}
		if matches(&c.m.rows[rk.Index], c.victimPID) {
			kern = rk
		}
	}
	if pred != nil && kern != nil && kern.Eligible {
		d := pred.Points - kern.Points
		out = append(out, fmt.Sprintf("the kernel's victim scores %d points below the predicted one; the task table is a snapshot printed after the choice, and memory moves between the two", d))
	}
	if kern != nil && !kern.Eligible {
		out = append(out, "the kernel's victim is ineligible by its table row (oom_score_adj -1000): its adj changed after the choice, or the row is not that process")
	}
	out = append(out, "tasks that are exiting or already OOM victims are skipped (MMF_OOM_SKIP), and a previous victim that has not exited yet makes the kernel wait instead of choosing")
	if e := r.Constraint; e == "" || e == "CONSTRAINT_NONE" || e == "CONSTRAINT_CPUSET" || e == "CONSTRAINT_MEMORY_POLICY" {
		if r.OOMMemcg == "" {
			out = append(out, "a global OOM with vm.oom_kill_allocating_task=1 kills the allocating task without a scan")
		}
	}
	if r.Constraint == "CONSTRAINT_CPUSET" || r.Constraint == "CONSTRAINT_MEMORY_POLICY" {
		out = append(out, "a cpuset or mempolicy OOM only considers tasks whose allowed nodes intersect the allocation's, which the table does not show")
	}
	return out
}

func rowTGID(r *oomlog.Report, pid int) int {
	for i := range r.Tasks {
		if t := &r.Tasks[i]; t.PID == pid && t.Has&oomlog.HasTGID != 0 {
			return t.TGID
		}
	}
	return pid
}
