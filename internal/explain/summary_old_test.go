package explain

// The summary as it was written with fmt and string concatenation before
// it was written with appends (issue 14, speed): the reference the new
// one is held to, byte for byte, on every corpus report and in
// FuzzExplain.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

func init() {
	summaryHook = func(r *oomlog.Report, e *Event, c *choice) {
		if old := summarizeOld(r, e, c); old != e.Analysis.Summary {
			panic(fmt.Sprintf("summary differs from the fmt-written one:\n got %q\nwant %q", e.Analysis.Summary, old))
		}
	}
}

// withoutSummaryCheck turns the hook off for a benchmark: it would time
// the old summary too.
func withoutSummaryCheck(b *testing.B) {
	h := summaryHook
	summaryHook = nil
	b.Cleanup(func() { summaryHook = h })
}

// TestHumanBytesMatchesOld: bytesize.Format (which the summary appends
// with) prints what explain's FormatFloat one did, at every power-of-two
// edge and around it. (math.MinInt64 is left out: the old one printed
// nonsense for it, Format prints "-8 EiB".)
func TestHumanBytesMatchesOld(t *testing.T) {
	for sh := 0; sh < 63; sh++ {
		for _, d := range []int64{-1, 0, 1} {
			for _, n := range []int64{1<<sh + d, -(1<<sh + d), 1<<sh*1000/1024 + d, 1<<sh*1023/1024 + d} {
				if got, want := bytesize.Format(n), humanBytesOld(n); got != want {
					t.Fatalf("Format(%d) = %q, want %q", n, got, want)
				}
			}
		}
	}
	for _, n := range []int64{math.MaxInt64, 0} {
		if got, want := bytesize.Format(n), humanBytesOld(n); got != want {
			t.Fatalf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func humanKBOld(kb int64) string {
	if kb >= mm.UnlimitedKB {
		return "unlimited"
	}
	return humanBytesOld(kb * 1024)
}

func humanPagesOld(p int64) string { return humanBytesOld(p * mm.PageSize) }

// HumanBytes formats a byte count in binary units: "169 MiB", "1 GiB",
// "16.5 MiB", "512 B". Three significant digits at most.
func humanBytesOld(b int64) string {
	neg := b < 0
	if neg {
		b = -b
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(b)
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	var s string
	switch {
	case u == 0 || f >= 100:
		s = strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		s = strconv.FormatFloat(f, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(f, 'f', 2, 64)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if neg {
		s = "-" + s
	}
	return s + " " + units[u]
}

// summarize writes the plain-words paragraph.
func summarizeOld(r *oomlog.Report, e *Event, c *choice) string {
	var b strings.Builder
	b.Grow(1 << 10) // a summary is a few hundred bytes to a kilobyte
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
	if e.UptimeSeconds != nil {
		up := fmt.Sprintf("%.1f s after boot", *e.UptimeSeconds)
		if when == "" || strings.Trim(when, "[] ") == strconv.FormatFloat(*e.UptimeSeconds, 'f', 6, 64) {
			when = up
		} else {
			when += " (" + up + ")"
		}
	}
	if when != "" {
		b.WriteString("At " + when)
		if e.Host != nil {
			b.WriteString(" on " + *e.Host)
		}
		b.WriteString(", ")
	}
	b.WriteString(limitPhraseOld(r, e))
	b.WriteString(". ")

	if t := r.Trigger; t != nil && t.Comm != "" {
		fmt.Fprintf(&b, "The allocation that failed was by %s", procNameOld(t.Comm, t.PID))
		if t.Order != nil && *t.Order > 0 {
			fmt.Fprintf(&b, " (order %d, %s)", *t.Order, humanPagesOld(1<<*t.Order))
		}
		b.WriteString(". ")
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
		b.WriteString("No process could be killed (\"Out of memory and no killable processes\"). ")
	case first != nil && first.From == VictimFromSummaryLine:
		fmt.Fprintf(&b, "The kernel killed %s (the oom-kill: line names it; its Killed line is not in the log)", procNameOld(first.Comm, &first.PID))
	case first != nil:
		fmt.Fprintf(&b, "The kernel killed %s", victimWordsOld(first, r))
		if n := len(e.Victims) - 1; n > 0 && r.GroupKillPath != "" {
			fmt.Fprintf(&b, ", then %d more %s of %s because memory.oom.group is set", n, plural(n, "process", "processes"), r.GroupKillPath)
		} else if n > 0 {
			fmt.Fprintf(&b, " and %d more %s", n, plural(n, "process", "processes"))
		}
		b.WriteString(". ")
	case c.haveVictim:
		fmt.Fprintf(&b, "The kernel chose %s; the Killed line is not in the log. ", procNameOld(c.victimComm, &c.victimPID))
	case r.Truncated:
		b.WriteString("The report is cut off before the kill: the victim is unknown. ")
	}

	b.WriteString(whyOld(r, e, c))
	b.WriteString(otherKernelsOld(r, e, c))
	if k := e.Kubernetes; k != nil {
		b.WriteString(kubePhraseOld(k))
	}
	out := strings.TrimSpace(b.String())
	if out != "" {
		out = strings.ToUpper(out[:1]) + out[1:]
	}
	return out
}

func procNameOld(comm string, pid *int) string {
	if pid == nil {
		return comm
	}
	return fmt.Sprintf("%s (pid %d)", comm, *pid)
}

// victimWords is "dotnet (pid 14300, 169 MiB resident)", the size from
// the Killed line or else from the victim's table row.
func victimWordsOld(v *Victim, r *oomlog.Report) string {
	if s := victimSizeOld(v, r); s != "" {
		return fmt.Sprintf("%s (pid %d, %s)", v.Comm, v.PID, s)
	}
	return procNameOld(v.Comm, &v.PID)
}

// victimSize is "169 MiB resident" or "".
func victimSizeOld(v *Victim, r *oomlog.Report) string {
	var parts []int64
	for _, p := range []*int64{v.AnonRSSKB, v.FileRSSKB, v.ShmemRSSKB} {
		if p != nil {
			parts = append(parts, *p)
		}
	}
	if kb, ok := addKB(parts...); ok && len(parts) > 0 {
		return humanKBOld(kb) + " resident"
	}
	for i := range r.Tasks {
		if t := &r.Tasks[i]; matches(t, v.PID) {
			return humanPagesOld(t.RSSPages) + " resident"
		}
	}
	return ""
}

// limitPhrase says which limit was hit.
func limitPhraseOld(r *oomlog.Report, e *Event) string {
	var kind OOMKind
	if e.OOMKind != nil {
		kind = *e.OOMKind
	}
	switch kind {
	case OOMMemcg:
		s := "the memory cgroup"
		if r.OOMMemcg != "" {
			s += " " + r.OOMMemcg
		}
		if k := e.Kubernetes; k != nil && k.LimitScope != nil {
			s += " (" + scopeWords(k) + ")"
		}
		if m := r.Memcg; m != nil && m.LimitKB != nil {
			s += " hit its limit of " + humanKBOld(*m.LimitKB)
			var extra []string
			if m.UsageKB != nil {
				extra = append(extra, "usage "+humanKBOld(*m.UsageKB))
			}
			if m.Failcnt != nil {
				extra = append(extra, "failcnt "+strconv.FormatInt(*m.Failcnt, 10))
			}
			if len(extra) > 0 {
				s += " (" + strings.Join(extra, ", ") + ")"
			}
		} else {
			s += " hit its limit"
		}
		return s
	case OOMGlobal:
		s := "the machine ran out of memory (a global OOM"
		switch r.Constraint {
		case "CONSTRAINT_CPUSET":
			s = "the tasks of a cpuset ran out of memory on its nodes (a cpuset-constrained OOM"
		case "CONSTRAINT_MEMORY_POLICY":
			s = "an allocation bound to some NUMA nodes by its memory policy ran out of memory there (a mempolicy-constrained OOM"
		}
		if mi := r.MemInfo; mi != nil && mi.RAMPages != nil {
			s += ", " + humanPagesOld(*mi.RAMPages) + " RAM"
			if mi.SwapTotalKB != nil {
				if *mi.SwapTotalKB == 0 {
					s += ", no swap"
				} else {
					s += ", " + humanKBOld(*mi.SwapTotalKB) + " swap"
					if mi.SwapFreeKB != nil {
						s += " (" + humanKBOld(*mi.SwapFreeKB) + " free)"
					}
				}
			}
		}
		return s + ")"
	}
	return "the OOM killer ran (the report does not say whether a cgroup limit or the machine ran out)"
}

// why explains the choice.
func whyOld(r *oomlog.Report, e *Event, c *choice) string {
	a := &e.Analysis
	if a.DecidedBy != nil && *a.DecidedBy == DecidedByAllocatingTask {
		return "vm.oom_kill_allocating_task is set, so the kernel killed the task that was allocating instead of ranking the tasks. "
	}
	if r.Tasks == nil {
		return "The report has no task table, so the kernel's choice cannot be recomputed. "
	}
	if c.sel == nil || c.sel.Chosen < 0 {
		if c.rules == mm.RulesUnknown && len(a.ByRules) > 0 {
			return "The kernel version is unknown and the rule sets disagree on the victim (see the ranking by rule set). "
		}
		return "No task in the table was eligible. "
	}
	sel := *c.sel
	chosen := &c.m.rows[sel.Chosen]
	var b strings.Builder
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
			fmt.Fprintf(&b, "Every eligible task's score was ≤ 0 after its oom_score_adj (totalpages %d: %s) and was clamped to 1 %s (%s rules), so all %d tied and the tie rule decided: ",
				tp, adjListOld(c.m.tasks, sel), on, rulesName, sel.TiedWith)
		} else {
			fmt.Fprintf(&b, "%d tasks tied at %d points %s (%s rules), so the tie rule decided: ", sel.TiedWith, sel.Ranking[0].Points, on, rulesName)
		}
		if sel.Rules == mm.RulesLeader {
			fmt.Fprintf(&b, "the first task scanned, %s, was chosen whatever its size", procNameOld(chosen.Name, &chosen.PID))
		} else {
			fmt.Fprintf(&b, "the last task scanned, %s, was chosen whatever its size", procNameOld(chosen.Name, &chosen.PID))
		}
		// Name the biggest task that survived.
		big := -1
		for i, t := range c.m.tasks {
			if i == sel.Chosen || t.Unkillable || t.OOMScoreAdj == mm.OOMScoreAdjMin {
				continue
			}
			if big < 0 || t.RSSPages > c.m.tasks[big].RSSPages {
				big = i
			}
		}
		if big >= 0 && c.m.tasks[big].RSSPages > chosen.RSSPages {
			bt := &c.m.rows[big]
			fmt.Fprintf(&b, ", while %s survived", procSizeOld(bt.Name, bt.PID, bt.RSSPages))
		}
		if sel.Rules != mm.RulesLeader && laterPIDFirst(c.m.rows, sel.Chosen) {
			b.WriteString(" (the table lists tasks in the order the kernel scanned them; pid numbers wrap and do not tell)")
		}
		b.WriteString(". ")
	} else {
		ct := c.m.tasks[sel.Chosen]
		fmt.Fprintf(&b, "%s had the highest badness %s (%s rules): %d points (%d pages resident + swap + page tables",
			procNameOld(chosen.Name, &chosen.PID), on, rulesName, sel.Ranking[0].Points, ct.RSSPages+ct.SwapEnts+ct.PgtablePages)
		if ct.OOMScoreAdj != 0 && c.m.tpKnown {
			fmt.Fprintf(&b, ", %+d for oom_score_adj %d", int64(ct.OOMScoreAdj)*(tp/1000), ct.OOMScoreAdj)
		}
		b.WriteString(")")
		if len(sel.Ranking) > 1 && sel.Ranking[1].Eligible {
			rn := sel.Ranking[1]
			fmt.Fprintf(&b, ", ahead of %s with %d", procNameOld(rn.Name, &rn.PID), rn.Points)
		}
		b.WriteString(". ")
	}
	switch {
	case a.Agrees == nil:
	case *a.Agrees && a.RulesFrom != RulesFromAssumed:
		b.WriteString("The model agrees with the kernel's choice. ")
	case !*a.Agrees && a.RulesFrom == RulesFromAssumed:
		fmt.Fprintf(&b, "The kernel that printed this report (%s) killed pid %d instead: a %s kernel would have chosen differently. ", orUnknown(r.KernelVersion), c.victimPID, *a.AssumedKernel)
	case *a.Agrees:
		fmt.Fprintf(&b, "A %s kernel would have made the same choice as the kernel that printed this report. ", *a.AssumedKernel)
	default:
		fmt.Fprintf(&b, "The kernel killed pid %d instead; see the reasons. ", c.victimPID)
	}
	return b.String()
}

// adjList names the oom_score_adj values of the tied tasks and what they
// subtract: "-997 subtracts 261214 pages (1020 MiB)".
func adjListOld(tasks []mm.Task, sel mm.Selection) string {
	var seen []int // the distinct values are few: a slice, not a map
	var parts []string
	for i := range sel.Ranking {
		rk := &sel.Ranking[i]
		if !rk.Eligible {
			continue
		}
		adj := tasks[rk.Index].OOMScoreAdj
		if slices.Contains(seen, adj) {
			continue
		}
		seen = append(seen, adj)
		term := int64(adj) * (sel.TotalPages / 1000)
		if term < 0 {
			parts = append(parts, fmt.Sprintf("%d subtracts %d pages ≈ %s", adj, -term, humanPagesOld(-term)))
		} else {
			parts = append(parts, fmt.Sprintf("%d adds %d pages ≈ %s", adj, term, humanPagesOld(term)))
		}
	}
	return strings.Join(parts, ", ")
}

func procSizeOld(name string, pid int, rssPages int64) string {
	return fmt.Sprintf("%s (pid %d, %s resident)", name, pid, humanPagesOld(rssPages))
}

// otherKernels says what kernels with other rules would have done, when
// that differs.
func otherKernelsOld(r *oomlog.Report, e *Event, c *choice) string {
	if c.sel == nil || c.sel.Chosen < 0 || c.allocating {
		return ""
	}
	chosen := c.m.rows[c.sel.Chosen].PID
	var parts []string
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
		part := fmt.Sprintf("on %s the kernel would have chosen %s", kernelsWords(rs), procSizeOld(row.Name, *p, row.RSSPages))
		if rs == mm.RulesLeader && e.OOMKind != nil && *e.OOMKind == OOMMemcg {
			part += ", if the table's order is the scan order, which ≤5.2 does not promise for memcg OOMs"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, "; ")
	return strings.ToUpper(s[:1]) + s[1:] + ". "
}

// kubePhrase is the Kubernetes sentence of the summary.
func kubePhraseOld(k *Kube) string {
	var parts []string
	if k.PodUID != nil {
		p := "pod " + *k.PodUID
		if k.QOSClass != nil {
			p = *k.QOSClass + " " + p
		}
		parts = append(parts, p)
	}
	if k.ContainerID != nil {
		id := *k.ContainerID
		if len(id) > 12 {
			id = id[:12]
		}
		parts = append(parts, "container "+id)
	}
	s := "Kubernetes: " + strings.Join(parts, ", ") + ". "
	switch {
	case k.OOMKilled == "yes":
		s += "The container status will say OOMKilled (exit code 137)."
	case k.OOMKilled == "no":
		s += "No container will be reported OOMKilled for this kill."
	case k.VictimFirstListed != nil && !*k.VictimFirstListed:
		s += "The victim is probably not the container's main process, so the container probably keeps running; its status says OOMKilled only when it exits later."
	case k.VictimFirstListed != nil:
		s += "The victim is probably the container's main process: expect exit code 137 and OOMKilled."
	default:
		s += "Kubernetes reports OOMKilled only if the victim was the container's main process (or on cgroup v2 with kubelet 1.28+, which kills the whole container); the report cannot show which."
	}
	return s
}
