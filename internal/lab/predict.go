package lab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// planTask is one process of a scenario's setup as the model sees it
// before anything runs: its role, what it will have charged to the
// scenario's cgroup when the OOM killer scans (its RSS is that plus the
// runtime's own pages, which were charged where it started), its
// oom_score_adj, in scan (join) order.
type planTask struct {
	role     string
	rssBytes int64
	adj      int
	// group marks the processes a memory.oom.group kill takes along.
	group bool
}

// round is one expected OOM kill: the table the kernel will scan.
type round []planTask

// expect records what the model chooses from the setup, round by round,
// under this kernel's rules and the other eras' rules.
func (r *run) expect(rounds ...round) {
	r.plan = rounds
	for _, rules := range mm.AllRules {
		var roles []string
		for _, rd := range rounds {
			if rules == r.rules {
				eff := make(round, len(rd))
				for i, t := range rd {
					eff[i] = t
					eff[i].adj = r.effAdj(t.role, t.adj)
				}
				rd = eff
			}
			roles = append(roles, r.chooseFromPlan(rules, rd)...)
		}
		if rules == r.rules {
			r.res.ExpectedVictims = roles
			continue
		}
		r.other(rules).FromSetup = roles
	}
}

func (r *run) chooseFromPlan(rules mm.Rules, rd round) []string {
	tasks := make([]mm.Task, len(rd))
	for i, t := range rd {
		tasks[i] = mm.Task{Name: t.role, RSSPages: (t.rssBytes + r.cfg.runtimeRSS) / mm.PageSize, OOMScoreAdj: t.adj}
	}
	total := r.totalPages(r.limit / 1024)
	if r.nodePages > 0 {
		total = r.nodePages
	}
	sel := mm.Select(rules, tasks, total)
	if sel.Chosen < 0 {
		return nil
	}
	out := []string{rd[sel.Chosen].role}
	if rd[sel.Chosen].group {
		for i, t := range rd {
			if i != sel.Chosen && t.group && t.adj != mm.OOMScoreAdjMin {
				out = append(out, t.role)
			}
		}
	}
	return out
}

func (r *run) other(rules mm.Rules) *OtherKernel {
	for i := range r.res.OtherKernels {
		if r.res.OtherKernels[i].Rules == rules.ID() {
			return &r.res.OtherKernels[i]
		}
	}
	r.res.OtherKernels = append(r.res.OtherKernels, OtherKernel{Kernels: rules.String(), Rules: rules.ID(), FromReport: []Victim{}, FromSetup: []string{}})
	return &r.res.OtherKernels[len(r.res.OtherKernels)-1]
}

// totalPages is the OOM killer's totalpages for a memcg limit in kB: the
// limit, plus swap where the kernel counts it (SetLimit caps memory+swap
// at the limit on v1 and swap at 0 on v2, so that is none here).
func (r *run) totalPages(limitKB int64) int64 {
	limitPages := limitKB * 1024 / mm.PageSize
	swapLimit := limitPages // v1 memsw = limit
	if r.host.Layout.Memory == cgroup.V2 {
		swapLimit = 0
	}
	return mm.MemcgTotalPages(r.version, r.host.Layout.Memory == cgroup.V2, limitPages, swapLimit, r.host.SwapTotalBytes/mm.PageSize, 60)
}

// role returns the role of the lab process pid, nil if it is not one.
func (r *run) roleOf(pid int) *string {
	for _, c := range r.children {
		if c.pid == pid {
			return ptr(c.role)
		}
	}
	return nil
}

func (r *run) childOf(pid int) *child {
	for _, c := range r.children {
		if c.pid == pid {
			return c
		}
	}
	for _, c := range r.children {
		if c.hasThread(pid) {
			return c
		}
	}
	return nil
}

// victim names the process pid belongs to: a Killed line may name one of
// its threads (see noteThreads).
func (r *run) victim(pid int, comm string) Victim {
	if c := r.childOf(pid); c != nil {
		return Victim{PID: ptr(c.pid), Comm: ptr(comm), Role: ptr(c.role)}
	}
	return Victim{PID: ptr(pid), Comm: ptr(comm)}
}

// conclude reads the scenario's reports from the kernel log and fills the
// result: the kernel's victims, the model's choice from each report's
// table (this kernel's rules and the other eras'), the explained events,
// the oom_kill delta, and whether it all agrees with the setup's plan.
func (r *run) conclude() {
	res := r.res
	res.OOMKillDelta = ptr(r.oomKills() - r.killsAt0)
	reports := r.reports()
	killLines := 0
	var prior []int
	var kernelRounds, predictedRounds [][]Victim
	for i, rep := range reports {
		var kv []Victim
		seen := map[int]bool{}
		for _, v := range rep.Victims {
			if v.Exiting {
				continue
			}
			killLines++
			vic := r.victim(v.PID, v.Comm)
			if seen[*vic.PID] {
				if *vic.PID != v.PID {
					res.Notes = append(res.Notes, fmt.Sprintf("the kernel killed %s again as thread %d: a memory.oom.group kill reached the first victim after its leader had released its mm", names([]Victim{vic}), v.PID))
				}
				continue
			}
			seen[*vic.PID] = true
			kv = append(kv, vic)
		}
		// A group kill's repeated Killed line for its victim is one more
		// kill to the counter, though the report lists the process once.
		killLines += rep.RepeatedKills
		pv := r.predictFromReport(r.rules, rep, prior)
		for _, rules := range mm.AllRules {
			if rules != r.rules {
				o := r.other(rules)
				o.FromReport = append(o.FromReport, r.predictFromReport(rules, rep, prior)...)
				o.IntendedAdj = len(r.intended) > 0
			}
		}
		kernelRounds = append(kernelRounds, kv)
		predictedRounds = append(predictedRounds, pv)
		res.KernelVictims = append(res.KernelVictims, kv...)
		res.PredictedVictims = append(res.PredictedVictims, pv...)
		ev := explain.Explain(rep, explain.Options{File: "/dev/kmsg", PriorVictims: slices.Clone(prior)})
		if i == 0 {
			res.Event = &ev
		} else {
			res.LaterEvents = append(res.LaterEvents, ev)
		}
		for _, v := range kv {
			prior = append(prior, *v.PID)
		}
	}
	// The counter counts every __oom_kill_process, like the Killed lines
	// (a group kill can count its first victim twice).
	if n := int64(killLines); n != *res.OOMKillDelta {
		r.check("oom_kill counter matches the report", false,
			fmt.Sprintf("memcg oom_kill grew by %d, the kernel log has %d Killed line(s)", *res.OOMKillDelta, n))
	}

	agree := sameRounds(kernelRounds, predictedRounds)
	if !agree {
		r.check("kernel chose what the model predicted from the report's table", false,
			fmt.Sprintf("kernel %s, model %s", names(res.KernelVictims), names(res.PredictedVictims)))
	}
	// The setup plans len(r.plan) kills. A kill after those is the kernel
	// going again while the last victim's memory was still being freed (its
	// task has left the table, its pages are not yet uncharged, and another
	// process keeps allocating): it must still match the model's choice from
	// its own table, but the setup did not plan it.
	planned := kernelRounds
	if len(kernelRounds) > len(r.plan) && len(r.plan) > 0 {
		planned = kernelRounds[:len(r.plan)]
		for i := len(r.plan); i < len(kernelRounds); i++ {
			res.Notes = append(res.Notes, fmt.Sprintf("the kernel killed again right after the planned kill(s) (report %d: %s), while the earlier victim's memory was still being freed and another process was still allocating; the model chose the same from that report's task table", i+1, names(kernelRounds[i])))
		}
	}
	var roles []string
	for _, rd := range planned {
		for _, v := range rd {
			if v.Role != nil {
				roles = append(roles, *v.Role)
			} else {
				roles = append(roles, "?")
			}
		}
	}
	if !sameRoles(roles, res.ExpectedVictims, r.plan) {
		agree = false
		r.check("kernel chose what the model predicted from the setup", false,
			fmt.Sprintf("kernel %v, setup predicted %v", roles, res.ExpectedVictims))
	}
	for _, c := range res.Checks {
		agree = agree && c.OK
	}
	res.Agrees = agree
	res.Summary = r.summary(roles)
}

// predictFromReport is mm.Select over the report's task table: the
// victims that this report should show. Tasks killed by earlier reports
// are skipped (the kernel sets MMF_OOM_SKIP on them once reaped).
func (r *run) predictFromReport(rules mm.Rules, rep *oomlog.Report, prior []int) []Victim {
	if len(rep.Tasks) == 0 {
		return nil
	}
	tasks, _ := explain.Candidates(rep, &r.version, prior)
	for i := range tasks {
		if rules == r.rules {
			break
		}
		if role := r.roleOf(tasks[i].PID); role != nil {
			if adj, ok := r.intended[*role]; ok {
				tasks[i].OOMScoreAdj = adj
			}
		}
	}
	limitKB := r.limit / 1024
	if rep.Memcg != nil && rep.Memcg.LimitKB != nil {
		limitKB = *rep.Memcg.LimitKB
	}
	total := r.totalPages(limitKB)
	if rep.OOMMemcg == "" && r.nodePages > 0 {
		total = r.nodePages // a global OOM: RAM + swap
	}
	sel := mm.Select(rules, tasks, total)
	if sel.Chosen < 0 {
		return nil
	}
	chosen := tasks[sel.Chosen]
	out := []Victim{r.victim(chosen.PID, chosen.Name)}
	if rep.GroupKillPath != "" || r.groupKillPath(chosen.PID) != "" {
		// memory.oom.group: every other task in the group cgroup, except
		// adj −1000 (mm/oom_kill.c oom_kill_memcg_member).
		group := r.groupKillPath(chosen.PID)
		for i, t := range tasks {
			c := r.childOf(t.PID)
			if i == sel.Chosen || t.OOMScoreAdj == mm.OOMScoreAdjMin || t.Unkillable || c == nil || !under(c.memcg.Path, group) {
				continue
			}
			out = append(out, r.victim(t.PID, t.Name))
		}
	}
	return out
}

// groupKillPath is the highest cgroup from pid's memcg up to the scenario
// root with memory.oom.group set (what mem_cgroup_get_oom_group finds), ""
// on v1 or when none is set.
func (r *run) groupKillPath(pid int) string {
	c := r.childOf(pid)
	if c == nil || r.host.Layout.Memory != cgroup.V2 {
		return ""
	}
	found := ""
	for p := c.memcg.Path; under(p, r.root.Path); p = parentPath(p) {
		if readKeyedFirst(r.host.Layout.Dir(p)+"/memory.oom.group") == "1" {
			found = p
		}
		if p == r.root.Path {
			break
		}
	}
	return found
}

func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// sameRounds compares victims report by report: the first victim (the
// chosen one) exactly, the group-kill rest as a set.
func sameRounds(a, b [][]Victim) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		if len(a[i]) == 0 {
			continue
		}
		if *a[i][0].PID != *b[i][0].PID {
			return false
		}
		x, y := pids(a[i][1:]), pids(b[i][1:])
		slices.Sort(x)
		slices.Sort(y)
		if !slices.Equal(x, y) {
			return false
		}
	}
	return true
}

// sameRoles compares the kernel's victims' roles with the setup's plan,
// round by round: the chosen role exactly, the group-kill rest as a set.
func sameRoles(got, want []string, plan []round) bool {
	if len(got) != len(want) {
		return false
	}
	if len(plan) <= 1 {
		if len(got) == 0 {
			return true
		}
		if got[0] != want[0] {
			return false
		}
		g, w := slices.Clone(got[1:]), slices.Clone(want[1:])
		slices.Sort(g)
		slices.Sort(w)
		return slices.Equal(g, w)
	}
	return slices.Equal(got, want)
}

func pids(vs []Victim) []int {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		out = append(out, *v.PID)
	}
	return out
}

func names(vs []Victim) string {
	if len(vs) == 0 {
		return "nobody"
	}
	var parts []string
	for _, v := range vs {
		role := "?"
		if v.Role != nil {
			role = *v.Role
		}
		parts = append(parts, fmt.Sprintf("%s (pid %d)", role, *v.PID))
	}
	return strings.Join(parts, ", ")
}

// check records one scenario assertion.
func (r *run) check(name string, ok bool, detail string) {
	r.res.Checks = append(r.res.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// summary says in one or two sentences what happened and what other
// kernels would have done.
func (r *run) summary(roles []string) string {
	res := r.res
	var b strings.Builder
	if len(res.KernelVictims) == 0 {
		b.WriteString("the kernel killed nobody")
	} else {
		fmt.Fprintf(&b, "the kernel (%s, rules %s) killed %s", res.KernelVersion, r.rules, names(res.KernelVictims))
	}
	if res.Agrees {
		b.WriteString("; the model predicted the same from the report's task table and from the setup")
	} else {
		fmt.Fprintf(&b, "; the model predicted %s from the table and %v from the setup", names(res.PredictedVictims), res.ExpectedVictims)
	}
	for _, o := range res.OtherKernels {
		if len(o.FromReport) > 0 || len(o.FromSetup) > 0 {
			from := names(o.FromReport)
			if len(o.FromReport) == 0 {
				from = strings.Join(o.FromSetup, ", ") + " (from the setup)"
			}
			fmt.Fprintf(&b, "; a %s kernel would have killed %s", o.Kernels, from)
		}
	}
	return b.String()
}
