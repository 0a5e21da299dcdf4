package explain

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// HumanKB formats a kB count as printed by the kernel.
func HumanKB(kb int64) string { return string(appendHumanKB(nil, kb)) }

// appendHumanKB appends HumanKB(kb) to dst.
func appendHumanKB(dst []byte, kb int64) []byte {
	if kb >= mm.UnlimitedKB {
		return append(dst, "unlimited"...)
	}
	return bytesize.AppendFormat(dst, kb*1024)
}

// HumanPages formats a page count.
func HumanPages(p int64) string { return bytesize.Format(p * mm.PageSize) }

// words is the summary being written: appends into one buffer (pooled
// with the rest of Explain's scratch) instead of a string per phrase.
type words []byte

func (w *words) add(s ...string) {
	for _, x := range s {
		*w = append(*w, x...)
	}
}

func (w *words) addInt(n int64) { *w = strconv.AppendInt(*w, n, 10) }

// addSigned is fmt's %+d.
func (w *words) addSigned(n int64) {
	if n >= 0 {
		*w = append(*w, '+')
	}
	w.addInt(n)
}

func (w *words) addBytes(n int64) { *w = bytesize.AppendFormat(*w, n) }
func (w *words) addKB(kb int64)   { *w = appendHumanKB(*w, kb) }
func (w *words) addPages(p int64) { w.addBytes(p * mm.PageSize) }

// summarize writes the plain-words paragraph.
func summarize(r *oomlog.Report, e *Event, c *choice) string {
	w := &c.work.summary
	*w = (*w)[:0]
	// When and where.
	when := ""
	switch {
	case e.Time != nil:
		when = *e.Time
	case e.TimeText != nil && e.KmsgSeq == nil:
		// A /dev/kmsg record's stamp is its "prio,seq,usec" prefix: the
		// uptime below says it better.
		when = *e.TimeText
	}
	if when != "" || e.UptimeSeconds != nil {
		w.add("At ")
		if e.UptimeSeconds != nil {
			var num [32]byte
			up := strconv.AppendFloat(num[:0], *e.UptimeSeconds, 'f', 1, 64)
			up = bytes.TrimPrefix(up, []byte("+")) // "+Inf": fmt's %.1f printed "Inf"
			if when == "" || strings.Trim(when, "[] ") == strconv.FormatFloat(*e.UptimeSeconds, 'f', 6, 64) {
				*w = append(*w, up...)
				w.add(" s after boot")
			} else {
				w.add(when, " (")
				*w = append(*w, up...)
				w.add(" s after boot)")
			}
		} else {
			w.add(when)
		}
		if e.Host != nil {
			w.add(" on ", *e.Host)
		}
		w.add(", ")
	}
	limitPhrase(w, r, e)
	w.add(". ")

	if t := r.Trigger; t != nil && t.Comm != "" {
		w.add("The allocation that failed was by ")
		procName(w, t.Comm, t.PID)
		if t.Order != nil && *t.Order > 0 {
			w.add(" (order ")
			w.addInt(int64(*t.Order))
			w.add(", ")
			w.addPages(1 << *t.Order)
			w.add(")")
		}
		w.add(". ")
	}

	// Who died.
	var first *Victim
	for i := range e.Victims {
		if !e.Victims[i].GroupKill {
			first = &e.Victims[i]
			break
		}
	}
	if first == nil && len(e.Victims) > 0 {
		first = &e.Victims[0]
	}
	switch {
	case r.NoKillable:
		w.add("No process could be killed (\"Out of memory and no killable processes\"). ")
	case first != nil && first.From == VictimFromSummaryLine:
		w.add("The kernel killed ")
		procName(w, first.Comm, &first.PID)
		w.add(" (the oom-kill: line names it; its Killed line is not in the log)")
	case first != nil:
		w.add("The kernel killed ")
		victimWords(w, first, r)
		if n := len(e.Victims) - 1; n > 0 && r.GroupKillPath != "" {
			w.add(", then ")
			w.addInt(int64(n))
			w.add(" more ", plural(n, "process", "processes"), " of ", r.GroupKillPath, " because memory.oom.group is set")
		} else if n > 0 {
			w.add(" and ")
			w.addInt(int64(n))
			w.add(" more ", plural(n, "process", "processes"))
		}
		w.add(". ")
	case c.haveVictim:
		w.add("The kernel chose ")
		procName(w, c.victimComm, &c.victimPID)
		w.add("; the Killed line is not in the log. ")
	case r.Truncated:
		w.add("The report is cut off before the kill: the victim is unknown. ")
	}

	why(w, r, e, c)
	otherKernels(w, e, c)
	if k := e.Kubernetes; k != nil {
		kubePhrase(w, k)
	}
	out := bytes.TrimSpace(*w)
	if len(out) > 0 && out[0] < utf8.RuneSelf {
		if 'a' <= out[0] && out[0] <= 'z' {
			out[0] -= 'a' - 'A'
		}
		return string(out)
	}
	t := string(out)
	if t != "" {
		t = strings.ToUpper(t[:1]) + t[1:]
	}
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// procName is "comm (pid N)", or comm when the pid is unknown.
func procName(w *words, comm string, pid *int) {
	w.add(comm)
	if pid != nil {
		w.add(" (pid ")
		w.addInt(int64(*pid))
		w.add(")")
	}
}

// victimWords is "dotnet (pid 14300, 169 MiB resident)", the size from
// the Killed line or else from the victim's table row.
func victimWords(w *words, v *Victim, r *oomlog.Report) {
	w.add(v.Comm, " (pid ")
	w.addInt(int64(v.PID))
	if victimSize(w, v, r) {
		w.add(" resident")
	}
	w.add(")")
}

// victimSize writes ", 169 MiB" and reports whether it knew the size.
func victimSize(w *words, v *Victim, r *oomlog.Report) bool {
	var parts [3]int64
	n := 0
	for _, p := range [...]*int64{v.AnonRSSKB, v.FileRSSKB, v.ShmemRSSKB} {
		if p != nil {
			parts[n] = *p
			n++
		}
	}
	if kb, ok := addKB(parts[:n]...); ok && n > 0 {
		w.add(", ")
		w.addKB(kb)
		return true
	}
	for i := range r.Tasks {
		if t := &r.Tasks[i]; matches(t, v.PID) {
			w.add(", ")
			w.addPages(t.RSSPages)
			return true
		}
	}
	return false
}

// limitPhrase says which limit was hit.
func limitPhrase(w *words, r *oomlog.Report, e *Event) {
	var kind OOMKind
	if e.OOMKind != nil {
		kind = *e.OOMKind
	}
	switch kind {
	case OOMMemcg:
		w.add("the memory cgroup")
		if r.OOMMemcg != "" {
			w.add(" ", r.OOMMemcg)
		}
		if k := e.Kubernetes; k != nil && k.LimitScope != nil {
			w.add(" (", scopeWords(k), ")")
		}
		if m := r.Memcg; m != nil && m.LimitKB != nil {
			w.add(" hit its limit of ")
			w.addKB(*m.LimitKB)
			sep := " ("
			if m.UsageKB != nil {
				w.add(sep, "usage ")
				w.addKB(*m.UsageKB)
				sep = ", "
			}
			if m.Failcnt != nil {
				w.add(sep, "failcnt ")
				w.addInt(*m.Failcnt)
				sep = ", "
			}
			if sep == ", " {
				w.add(")")
			}
		} else {
			w.add(" hit its limit")
		}
	case OOMGlobal:
		switch r.Constraint {
		case "CONSTRAINT_CPUSET":
			w.add("the tasks of a cpuset ran out of memory on its nodes (a cpuset-constrained OOM")
		case "CONSTRAINT_MEMORY_POLICY":
			w.add("an allocation bound to some NUMA nodes by its memory policy ran out of memory there (a mempolicy-constrained OOM")
		default:
			w.add("the machine ran out of memory (a global OOM")
		}
		if mi := r.MemInfo; mi != nil && mi.RAMPages != nil {
			w.add(", ")
			w.addPages(*mi.RAMPages)
			w.add(" RAM")
			if mi.SwapTotalKB != nil {
				if *mi.SwapTotalKB == 0 {
					w.add(", no swap")
				} else {
					w.add(", ")
					w.addKB(*mi.SwapTotalKB)
					w.add(" swap")
					if mi.SwapFreeKB != nil {
						w.add(" (")
						w.addKB(*mi.SwapFreeKB)
						w.add(" free)")
					}
				}
			}
		}
		w.add(")")
	default:
		w.add("the OOM killer ran (the report does not say whether a cgroup limit or the machine ran out)")
	}
}

// scopeWords names the Kubernetes limit: "the pod limit of Guaranteed pod 3b5e…".
func scopeWords(k *Kube) string {
	pod := "pod"
	if k.QOSClass != nil {
		pod = *k.QOSClass + " pod"
	}
	if k.PodUID != nil {
		pod += " " + *k.PodUID
	}
	switch *k.LimitScope {
	case "container":
		return "a container limit in " + pod
	case "pod":
		return "the pod-level limit of " + pod
	case "qos":
		q := "a QoS tier"
		if k.QOSClass != nil {
			q = "the " + *k.QOSClass + " QoS tier"
		}
		return "the limit of " + q + " of all pods"
	case "node":
		return "the kubepods limit: node allocatable memory for all pods"
	}
	return *k.LimitScope
}

// why explains the choice.
func why(w *words, r *oomlog.Report, e *Event, c *choice) {
	a := &e.Analysis
	if a.DecidedBy != nil && *a.DecidedBy == DecidedByAllocatingTask {
		w.add("vm.oom_kill_allocating_task is set, so the kernel killed the task that was allocating instead of ranking the tasks. ")
		return
	}
	if r.Tasks == nil {
		w.add("The report has no task table, so the kernel's choice cannot be recomputed. ")
		return
	}
	if c.sel == nil || c.sel.Chosen < 0 {
		if c.rules == mm.RulesUnknown && len(a.ByRules) > 0 {
			w.add("The kernel version is unknown and the rule sets disagree on the victim (see the ranking by rule set). ")
			return
		}
		w.add("No task in the table was eligible. ")
		return
	}
	sel := c.sel
	chosen := &c.m.rows[sel.Chosen]
	rulesName := sel.Rules.String()
	on := "on this kernel"
	if a.RulesFrom == RulesFromAssumed {
		on = "on the assumed kernel " + *a.AssumedKernel
	}
	if c.rules == mm.RulesUnknown {
		on = "under every rule set the report's format allows"
	}
	tp := c.m.tp
	if sel.Tie {
		if a.Clamped >= sel.TiedWith && sel.Rules.Clamps() {
			// The article's twist: every score ≤ 0, clamped to 1.
			w.add("Every eligible task's score was ≤ 0 after its oom_score_adj (totalpages ")
			w.addInt(tp)
			w.add(": ")
			adjList(w, c.m.tasks, sel)
			w.add(") and was clamped to 1 ", on, " (", rulesName, " rules), so all ")
			w.addInt(int64(sel.TiedWith))
			w.add(" tied and the tie rule decided: ")
		} else {
			w.addInt(int64(sel.TiedWith))
			w.add(" tasks tied at ")
			w.addInt(sel.Ranking[0].Points)
			w.add(" points ", on, " (", rulesName, " rules), so the tie rule decided: ")
		}
		if sel.Rules == mm.RulesLeader {
			w.add("the first task scanned, ")
		} else {
			w.add("the last task scanned, ")
		}
		procName(w, chosen.Name, &chosen.PID)
		w.add(", was chosen whatever its size")
		// Name the biggest task that survived.
		big := -1
		for i := range c.m.tasks {
			t := &c.m.tasks[i]
			if i == sel.Chosen || t.Unkillable || t.OOMScoreAdj == mm.OOMScoreAdjMin {
				continue
			}
			if big < 0 || t.RSSPages > c.m.tasks[big].RSSPages {
				big = i
			}
		}
		if big >= 0 && c.m.tasks[big].RSSPages > chosen.RSSPages {
			bt := &c.m.rows[big]
			w.add(", while ")
			procSize(w, bt.Name, bt.PID, bt.RSSPages)
			w.add(" survived")
		}
		if sel.Rules != mm.RulesLeader && laterPIDFirst(c.m.rows, sel.Chosen) {
			w.add(" (the table lists tasks in the order the kernel scanned them; pid numbers wrap and do not tell)")
		}
		w.add(". ")
	} else {
		ct := &c.m.tasks[sel.Chosen]
		procName(w, chosen.Name, &chosen.PID)
		w.add(" had the highest badness ", on, " (", rulesName, " rules): ")
		w.addInt(sel.Ranking[0].Points)
		w.add(" points (")
		w.addInt(ct.RSSPages + ct.SwapEnts + ct.PgtablePages)
		w.add(" pages resident + swap + page tables")
		if ct.OOMScoreAdj != 0 && c.m.tpKnown {
			w.add(", ")
			w.addSigned(int64(ct.OOMScoreAdj) * (tp / 1000))
			w.add(" for oom_score_adj ")
			w.addInt(int64(ct.OOMScoreAdj))
		}
		w.add(")")
		if len(sel.Ranking) > 1 && sel.Ranking[1].Eligible {
			rn := &sel.Ranking[1]
			w.add(", ahead of ")
			procName(w, rn.Name, &rn.PID)
			w.add(" with ")
			w.addInt(rn.Points)
		}
		w.add(". ")
	}
	switch {
	case a.Agrees == nil:
	case *a.Agrees && a.RulesFrom != RulesFromAssumed:
		w.add("The model agrees with the kernel's choice. ")
	case !*a.Agrees && a.RulesFrom == RulesFromAssumed:
		w.add("The kernel that printed this report (", orUnknown(r.KernelVersion), ") killed pid ")
		w.addInt(int64(c.victimPID))
		w.add(" instead: a ", *a.AssumedKernel, " kernel would have chosen differently. ")
	case *a.Agrees:
		w.add("A ", *a.AssumedKernel, " kernel would have made the same choice as the kernel that printed this report. ")
	default:
		w.add("The kernel killed pid ")
		w.addInt(int64(c.victimPID))
		w.add(" instead; see the reasons. ")
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "version unknown"
	}
	return s
}

// adjList names the oom_score_adj values of the tied tasks and what they
// subtract: "-997 subtracts 261214 pages (1020 MiB)".
func adjList(w *words, tasks []mm.Task, sel *mm.Selection) {
	var seenBuf [8]int
	seen := seenBuf[:0] // the distinct values are few: a slice, not a map
	for i := range sel.Ranking {
		rk := &sel.Ranking[i]
		if !rk.Eligible {
			continue
		}
		adj := tasks[rk.Index].OOMScoreAdj
		if slices.Contains(seen, adj) {
			continue
		}
		if len(seen) > 0 {
			w.add(", ")
		}
		seen = append(seen, adj)
		term := int64(adj) * (sel.TotalPages / 1000)
		w.addInt(int64(adj))
		if term < 0 {
			w.add(" subtracts ")
			term = -term
		} else {
			w.add(" adds ")
		}
		w.addInt(term)
		w.add(" pages ≈ ")
		w.addPages(term)
	}
}

// laterPIDFirst reports whether a task scanned before the chosen one has
// a higher pid, so that pid order and scan order differ.
func laterPIDFirst(rows []oomlog.Task, chosen int) bool {
	for i := range rows[:chosen] {
		if rows[i].PID > rows[chosen].PID {
			return true
		}
	}
	return false
}

// procSize is "name (pid N, 169 MiB resident)".
func procSize(w *words, name string, pid int, rssPages int64) {
	w.add(name, " (pid ")
	w.addInt(int64(pid))
	w.add(", ")
	w.addPages(rssPages)
	w.add(" resident)")
}

// otherKernels says what kernels with other rules would have done, when
// that differs.
func otherKernels(w *words, e *Event, c *choice) {
	if c.sel == nil || c.sel.Chosen < 0 || c.allocating {
		return
	}
	chosen := c.m.rows[c.sel.Chosen].PID
	sep := "On "
	for _, rs := range mm.AllRules {
		if rs == c.sel.Rules {
			continue
		}
		p := c.outcomes[rs]
		if p == nil || *p == chosen {
			continue
		}
		row := &oomlog.Task{}
		for i := range c.m.rows {
			if c.m.rows[i].PID == *p {
				row = &c.m.rows[i]
			}
		}
		w.add(sep, kernelsWords(rs), " the kernel would have chosen ")
		procSize(w, row.Name, *p, row.RSSPages)
		if rs == mm.RulesLeader && e.OOMKind != nil && *e.OOMKind == OOMMemcg {
			w.add(", if the table's order is the scan order, which ≤5.2 does not promise for memcg OOMs")
		}
		sep = "; on "
	}
	if sep != "On " {
		w.add(". ")
	}
}

func kernelsWords(rs mm.Rules) string {
	switch rs {
	case mm.RulesLeader:
		return "≤5.2 kernels (clamp to 1, first-scanned wins a tie)"
	case mm.RulesClamp:
		return "5.3–5.8 and 5.4.0–5.4.143 kernels (clamp to 1, last-scanned wins a tie)"
	case mm.RulesSigned:
		return "5.4.144+ and 5.9+ kernels (signed badness, no clamp)"
	}
	return rs.String()
}

// kubePhrase is the Kubernetes sentence of the summary.
func kubePhrase(w *words, k *Kube) {
	w.add("Kubernetes: ")
	sep := ""
	if k.PodUID != nil {
		if k.QOSClass != nil {
			w.add(*k.QOSClass, " ")
		}
		w.add("pod ", *k.PodUID)
		sep = ", "
	}
	if k.ContainerID != nil {
		id := *k.ContainerID
		if len(id) > 12 {
			id = id[:12]
		}
		w.add(sep, "container ", id)
	}
	w.add(". ")
	switch {
	case k.OOMKilled == "yes":
		w.add("The container status will say OOMKilled (exit code 137).")
	case k.OOMKilled == "no":
		w.add("No container will be reported OOMKilled for this kill.")
	case k.VictimFirstListed != nil && !*k.VictimFirstListed:
		w.add("The victim is probably not the container's main process, so the container probably keeps running; its status says OOMKilled only when it exits later.")
	case k.VictimFirstListed != nil:
		w.add("The victim is probably the container's main process: expect exit code 137 and OOMKilled.")
	default:
		w.add("Kubernetes reports OOMKilled only if the victim was the container's main process (or on cgroup v2 with kubelet 1.28+, which kills the whole container); the report cannot show which.")
	}
}
