package explain

import (
	"fmt"
	"strings"

	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

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

// analysis carries what analyse worked out, for the summary.
type analysis struct {
	rules      mm.Rules // RulesUnknown when the rule sets disagree
	version    *mm.Version
	sel        *mm.Selection
	m          model
	victimPID  int
	victimComm string
	haveVictim bool
	allocating bool
	outcomes   map[mm.Rules]*int
}

// analyse recomputes the kernel's choice and fills e.Analysis.
func analyse(r *oomlog.Report, e *Event, v mm.Version, haveVersion bool, opts Options) (Analysis, *analysis) {
	a := Analysis{RulesFrom: "unknown", Ranking: []Rank{}, ByRules: []RulesOutcome{}, Reasons: []string{}}
	var st analysis
	st.outcomes = map[mm.Rules]*int{}
	candidates := mm.AllRules
	switch {
	case opts.AssumeKernel != nil:
		st.version = opts.AssumeKernel
		st.rules = mm.RulesFor(*opts.AssumeKernel)
		a.RulesFrom = "assumed"
		a.AssumedKernel = ptr(opts.AssumeKernel.String())
	case haveVersion:
		st.version = &v
		st.rules = mm.RulesFor(v)
		a.RulesFrom = "report"
	default:
		candidates = hintRules(r)
	}
	st.m = buildModel(r, st.version, opts.PriorVictims)
	if st.m.tpKnown {
		a.TotalPages = ptr(st.m.tp)
	}
	a.TotalPagesFrom = totalPagesFrom(r, &st.m)
	st.victimPID, st.victimComm, st.haveVictim = kernelVictim(r)
	if st.haveVictim {
		a.KernelVictimPID = ptr(st.victimPID)
	}
	for _, v := range r.Victims {
		if strings.Contains(v.Message, "oom_kill_allocating_task") {
			st.allocating = true
		}
	}

	// Every rule set, so "which kernels explain this outcome" and "what
	// would another kernel have done" can be answered.
	sels := map[mm.Rules]mm.Selection{}
	for _, rs := range mm.AllRules {
		out := RulesOutcome{Rules: rs.ID(), Kernels: rs.String()}
		if r.Tasks != nil {
			sel := mm.Select(rs, st.m.tasks, st.m.tp)
			sels[rs] = sel
			if sel.Chosen >= 0 {
				out.PredictedVictimPID = ptr(st.m.rows[sel.Chosen].PID)
				st.outcomes[rs] = out.PredictedVictimPID
				if st.haveVictim {
					out.Agrees = ptr(matches(st.m.rows[sel.Chosen], st.victimPID))
				}
			}
		}
		a.ByRules = append(a.ByRules, out)
	}

	if st.rules == mm.RulesUnknown {
		// Unknown kernel: a prediction stands only if every rule set the
		// report's format allows makes it.
		var first *int
		same := true
		for i, rs := range candidates {
			p := st.outcomes[rs]
			if i == 0 {
				first = p
			} else if (p == nil) != (first == nil) || (p != nil && *p != *first) {
				same = false
			}
		}
		if len(candidates) == 1 {
			st.rules = candidates[0]
			a.RulesFrom = "format"
		} else if same && first != nil {
			// All agree: rank with the newest candidate, but leave Rules null.
			rs := candidates[len(candidates)-1]
			sel := sels[rs]
			st.sel = &sel
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
	}
	if st.rules != mm.RulesUnknown {
		a.Rules = ptr(st.rules.ID())
		a.RulesKernels = ptr(st.rules.String())
		if sel, ok := sels[st.rules]; ok {
			st.sel = &sel
		}
	}

	if st.sel != nil {
		sel := *st.sel
		top := opts.Top
		if top == 0 {
			top = DefaultTop
		}
		if opts.Verbose || top < 0 {
			top = len(sel.Ranking)
		}
		for _, rk := range sel.Ranking {
			if !rk.Eligible || len(a.Ranking) >= top {
				continue
			}
			t := st.m.tasks[rk.Index]
			a.Ranking = append(a.Ranking, Rank{
				PID: rk.PID, Name: rk.Name, Points: rk.Points, RawPoints: rawPoints(t, st.m.tp),
				OOMScoreAdj: t.OOMScoreAdj, RSSPages: t.RSSPages, Rank: rk.Rank,
			})
		}
		if sel.Chosen >= 0 {
			a.PredictedVictimPID = ptr(st.m.rows[sel.Chosen].PID)
			a.TiedWith = sel.TiedWith
			switch {
			case sel.Tie && sel.Rules == mm.RulesLeader:
				a.DecidedBy = ptr("tie_first_scanned")
			case sel.Tie:
				a.DecidedBy = ptr("tie_last_scanned")
			default:
				a.DecidedBy = ptr("score")
			}
			if st.haveVictim {
				a.Agrees = ptr(matches(st.m.rows[sel.Chosen], st.victimPID))
			}
		}
		if sel.Rules.Clamps() {
			for _, t := range st.m.tasks {
				if p, ok := mm.Badness(mm.RulesSigned, t, st.m.tp); ok && p <= 0 {
					a.Clamped++
				}
			}
		}
	}
	if st.allocating {
		// vm.oom_kill_allocating_task: no scan, the allocating task dies.
		a.DecidedBy = ptr("oom_kill_allocating_task")
		a.PredictedVictimPID = nil
		a.Agrees = nil
		if e.Trigger != nil && e.Trigger.PID != nil {
			a.PredictedVictimPID = ptr(*e.Trigger.PID)
			if st.haveVictim {
				a.Agrees = ptr(*e.Trigger.PID == st.victimPID)
			}
		}
		a.Reasons = append(a.Reasons, "vm.oom_kill_allocating_task=1: the kernel killed the allocating task without ranking the others")
	}
	a.Reasons = append(a.Reasons, reasons(r, e, &st, &a)...)
	return a, &st
}

// rawPoints is the badness before any clamp: rss + swap + page tables +
// adj × totalpages/1000.
func rawPoints(t mm.Task, tp int64) int64 {
	p := t.RSSPages + t.SwapEnts + t.PgtablePages + int64(t.OOMScoreAdj)*(tp/1000)
	if t.CapSysAdmin {
		base := t.RSSPages + t.SwapEnts + t.PgtablePages
		p -= base * 3 / 100
	}
	return p
}

// matches reports whether a task-table row is process pid: the row's pid
// is the thread that holds the mm, its tgid the process.
func matches(row oomlog.Task, pid int) bool {
	return row.PID == pid || (row.TGID != nil && *row.TGID == pid)
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
	rootBonus := v != nil && !v.AtLeast(4, 17, 0)
	for _, t := range r.Tasks {
		mt := mm.Task{PID: t.PID, Name: t.Name, RSSPages: t.RSSPages, OOMScoreAdj: t.OOMScoreAdj}
		if t.SwapEnts != nil {
			mt.SwapEnts = *t.SwapEnts
		}
		switch {
		case t.PgtablesPages != nil:
			mt.PgtablePages = *t.PgtablesPages
		case t.PgtablesBytes != nil:
			mt.PgtablePages = *t.PgtablesBytes / mm.PageSize
		}
		// ≤4.16 took 3% off for CAP_SYS_ADMIN; uid 0 is the closest the
		// table shows.
		mt.CapSysAdmin = rootBonus && t.UID != nil && *t.UID == 0
		for _, p := range prior {
			if matches(t, p) {
				mt.Unkillable = true
				m.skipped = append(m.skipped, t.PID)
			}
		}
		m.tasks = append(m.tasks, mt)
	}
	m.tp, m.tpKnown = totalPages(r)
	return m
}

// totalPages is the OOM killer's totalpages for the report.
//
// constrained_alloc(), mm/oom_kill.c: a memcg OOM uses
// mem_cgroup_get_max() (the limit, + swap where counted); a global one
// totalram_pages + total_swap_pages.
func totalPages(r *oomlog.Report) (int64, bool) {
	if m := r.Memcg; m != nil && m.LimitKB != nil && !r.GlobalOOM {
		tp := *m.LimitKB / 4
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
			tp += *mi.SwapTotalKB / 4
		}
		return tp, true
	}
	return 0, false
}

// totalPagesFrom says where totalpages came from, and how sure that is.
func totalPagesFrom(r *oomlog.Report, m *model) *string {
	if !m.tpKnown {
		return nil
	}
	if mc := r.Memcg; mc != nil && mc.LimitKB != nil && !r.GlobalOOM {
		if swapExact(mc) {
			return ptr("memcg_limit")
		}
		return ptr("memcg_limit_no_swap_assumed")
	}
	if r.Constraint == "CONSTRAINT_CPUSET" || r.Constraint == "CONSTRAINT_MEMORY_POLICY" {
		return ptr("ram_plus_swap_approx")
	}
	return ptr("ram_plus_swap")
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
func reasons(r *oomlog.Report, e *Event, st *analysis, a *Analysis) []string {
	var out []string
	if r.Tasks == nil {
		out = append(out, "the report has no task table (vm.oom_dump_tasks=0, a rate-limited report, or a cut log), so the choice cannot be recomputed")
		return out
	}
	if len(r.Tasks) == 0 {
		out = append(out, "the task table is empty")
	}
	for _, p := range st.m.skipped {
		out = append(out, fmt.Sprintf("pid %d was killed by an earlier OOM in this log; the kernel skips a victim that is exiting or reaped (MMF_OOM_SKIP), so it is left out of the ranking", p))
	}
	if !st.m.tpKnown {
		adj := false
		for _, t := range r.Tasks {
			if t.OOMScoreAdj != 0 {
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
	if st.haveVictim {
		found := false
		for _, row := range r.Tasks {
			if matches(row, st.victimPID) {
				found = true
			}
		}
		if !found && len(r.Tasks) > 0 {
			out = append(out, fmt.Sprintf("the victim %d (%s) is not in the task table: the table was cut, or the victim is a thread the table lists under another pid", st.victimPID, st.victimComm))
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
	sel := st.sel
	if sel != nil && sel.Rules == mm.RulesLeader && sel.Tie && e.OOMKind != nil && *e.OOMKind == "memcg" {
		out = append(out, "on ≤5.2 kernels a memcg OOM's task table is printed in process-creation order, not in the order the kernel scanned the memcg (thread by thread, cgroup by cgroup), so the first-scanned tie winner cannot be read off the table")
	}
	if a.Agrees != nil && !*a.Agrees {
		switch a.RulesFrom {
		case "assumed":
			out = append(out, fmt.Sprintf("under the assumed kernel %s (%s rules) the choice differs from the kernel that printed this report: that kernel would have chosen differently", *a.AssumedKernel, st.rules.String()))
		default:
			out = append(out, disagreement(r, st)...)
		}
	}
	if a.Agrees == nil && st.rules == mm.RulesUnknown && st.haveVictim {
		var ok, bad []string
		for _, rs := range mm.AllRules {
			p := st.outcomes[rs]
			switch {
			case p == nil:
			case *p == st.victimPID || rowTGID(r, *p) == st.victimPID:
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
func disagreement(r *oomlog.Report, st *analysis) []string {
	var out []string
	sel := st.sel
	var pred, kern *mm.Ranked
	for i := range sel.Ranking {
		rk := &sel.Ranking[i]
		if rk.Index == sel.Chosen {
			pred = rk
		}
		if matches(st.m.rows[rk.Index], st.victimPID) {
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
	for _, t := range r.Tasks {
		if t.PID == pid && t.TGID != nil {
			return *t.TGID
		}
	}
	return pid
}
