package render

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/visible"
)

// ExplainEvent writes one explained OOM event as readable text: n is
// its number in the output, boot the boot time dmesg stamps count from.
func ExplainEvent(w *bufio.Writer, e *explain.Event, n int, verbose bool, boot time.Time) {
	src := e.Source.File
	if e.Source.Line != nil {
		src += fmt.Sprintf(":%d", *e.Source.Line)
		if e.Source.LastLine != nil && *e.Source.LastLine != *e.Source.Line {
			src += fmt.Sprintf("-%d", *e.Source.LastLine)
		}
	} else if e.KmsgSeq != nil {
		src += fmt.Sprintf(" seq %d", *e.KmsgSeq)
	}
	fmt.Fprintf(w, "OOM kill #%d  (%s)\n", n, visible.String(src))
	// Every value shown comes, in whole or in part, from the log: each
	// row shows it escaped (visible.String).
	row := func(k, v string) { fmt.Fprintf(w, "  %-10s %s\n", k, visible.String(v)) }

	var when []string
	if e.Time != nil {
		when = append(when, *e.Time)
	} else if e.TimeText != nil && e.KmsgSeq == nil && !isUptimeStamp(*e.TimeText, e.UptimeSeconds) {
		when = append(when, *e.TimeText)
	}
	if e.UptimeSeconds != nil {
		up := fmt.Sprintf("%.6f s after boot", *e.UptimeSeconds)
		if !boot.IsZero() {
			// Boot time + uptime drifts across suspend: an estimate.
			t := boot.Add(time.Duration(*e.UptimeSeconds * float64(time.Second)))
			up += " (≈ " + t.Local().Format("2006-01-02 15:04:05 MST") + ")"
		}
		when = append(when, up)
	}
	if e.Host != nil {
		when = append(when, "on "+*e.Host)
	}
	if len(when) == 0 {
		when = append(when, "not in the log")
	}
	row("when", strings.Join(when, ", "))

	a := &e.Analysis
	kv := "not printed"
	if e.KernelVersion != nil {
		kv = *e.KernelVersion
	}
	if a.RulesKernels != nil {
		kv += fmt.Sprintf(" (OOM rules of %s", *a.RulesKernels)
		if a.AssumedKernel != nil {
			kv += ", assumed " + *a.AssumedKernel
		}
		kv += ")"
	}
	row("kernel", kv)
	row("limit", limitLine(e))
	if t := e.Trigger; t != nil {
		s := visible.String(derefOr(t.Comm, "?"))
		if t.PID != nil {
			s += fmt.Sprintf(" (pid %d)", *t.PID)
		}
		if t.GFPMask != nil {
			s += " gfp_mask=" + *t.GFPMask
			if len(t.GFPFlags) > 0 {
				s += "(" + strings.Join(t.GFPFlags, "|") + ")"
			}
		}
		if t.Order != nil {
			s += fmt.Sprintf(" order=%d", *t.Order)
		}
		if t.OOMScoreAdj != nil {
			s += fmt.Sprintf(" oom_score_adj=%d", *t.OOMScoreAdj)
		}
		row("trigger", s)
	}
	if len(e.Victims) == 0 {
		v := "none printed"
		if e.NoKillable {
			v = "none: no killable process"
		} else if e.Truncated {
			v = "unknown: the report is cut off before the kill"
		}
		row("killed", v)
	}
	for i, v := range e.Victims {
		k := "killed"
		if i > 0 {
			k = ""
		}
		row(k, victimLine(&v))
	}
	if e.GroupKillPath != nil {
		row("", "memory.oom.group: every task in "+visible.String(*e.GroupKillPath)+" was killed")
	}
	if e.Panic != nil {
		row("panic", *e.Panic)
	}
	if k := e.Kubernetes; k != nil {
		var p []string
		if k.PodUID != nil {
			p = append(p, "pod "+*k.PodUID)
		}
		if k.QOSClass != nil {
			p = append(p, "QoS "+*k.QOSClass)
		}
		if k.ContainerID != nil {
			p = append(p, "container "+*k.ContainerID)
		}
		row("kubernetes", strings.Join(p, ", "))
		p = p[:0]
		p = append(p, "driver "+derefOr(k.CgroupDriver, "unknown"), "runtime "+derefOr(k.ContainerRuntime, "unknown (the cgroup name does not say)"), "limit scope "+derefOr(k.LimitScope, "unknown"))
		row("", strings.Join(p, ", "))
		if k.VictimOOMScoreAdjMeaning != nil {
			row("", "victim's oom_score_adj: "+*k.VictimOOMScoreAdjMeaning)
		}
		row("OOMKilled?", k.OOMKilled)
		wrap(w, visible.String(k.OOMKilledReason), "             ", 100)
	}

	// The ranking.
	if len(a.Ranking) > 0 {
		tp := "unknown (adj left out)"
		if a.TotalPages != nil {
			tp = fmt.Sprintf("%d pages = %s", *a.TotalPages, explain.HumanPages(*a.TotalPages))
			if a.TotalPagesFrom != nil {
				tp += ", " + totalPagesWords(string(*a.TotalPagesFrom))
			}
		}
		fmt.Fprintf(w, "  ranking    (totalpages %s)\n", tp)
		fmt.Fprintf(w, "    %4s %8s  %-16s %10s %6s %11s %11s\n", "rank", "pid", "name", "rss", "adj", "points", "raw")
		for _, r := range a.Ranking {
			mark := ""
			if a.KernelVictimPID != nil && r.PID == *a.KernelVictimPID {
				mark = "  <- killed"
			}
			if a.PredictedVictimPID != nil && r.PID == *a.PredictedVictimPID {
				if mark == "" {
					mark = "  <- predicted"
				} else {
					mark += ", predicted"
				}
			}
			fmt.Fprintf(w, "    %4d %8d  %-16s %10s %6d %11d %11d%s\n", r.Rank, r.PID, trunc(visible.String(r.Name), 16), explain.HumanPages(r.RSSPages), r.OOMScoreAdj, r.Points, r.RawPoints, mark)
		}
		if n := eligible(e); n > len(a.Ranking) {
			fmt.Fprintf(w, "    … %d more eligible (--top N or --verbose)\n", n-len(a.Ranking))
		}
	}
	if a.DecidedBy != nil {
		row("decided by", decidedWords(a))
	}
	if a.PredictedVictimPID != nil || a.Agrees != nil {
		m := "predicts " + intOr(a.PredictedVictimPID, "nothing")
		switch {
		case a.Agrees == nil:
		case *a.Agrees:
			m += ", the kernel's choice"
		default:
			m += ", the kernel chose " + intOr(a.KernelVictimPID, "?")
		}
		row("model", m)
	}
	var others []string
	for _, br := range a.ByRules {
		if br.PredictedVictimPID == nil || (a.Rules != nil && br.Rules == *a.Rules) {
			continue
		}
		others = append(others, fmt.Sprintf("%s kernels: pid %d", br.Kernels, *br.PredictedVictimPID))
	}
	if len(others) > 0 {
		row("others", "on "+strings.Join(others, "; "))
	}
	for i, r := range a.Reasons {
		k := "note"
		if i > 0 {
			k = ""
		}
		fmt.Fprintf(w, "  %-10s ", k)
		wrapRest(w, visible.String(r), "             ", 100)
	}
	fmt.Fprintf(w, "  summary\n")
	wrap(w, visible.String(a.Summary), "    ", 100)
	for _, wn := range e.Warnings {
		row("warning", visible.String(wn))
	}
	if verbose && e.Tasks != nil {
		fmt.Fprintf(w, "  tasks      (%d, in the order printed)\n", len(e.Tasks))
		fmt.Fprintf(w, "    %8s %6s %8s %10s %10s %10s %8s %6s  %s\n", "pid", "uid", "tgid", "total_vm", "rss", "pgtables", "swap", "adj", "name")
		for _, t := range e.Tasks {
			pg := "-"
			if t.PgtablesBytes != nil {
				pg = bytesize.Format(*t.PgtablesBytes)
			}
			sw := "-"
			if t.SwapEnts != nil {
				sw = explain.HumanPages(*t.SwapEnts)
			}
			fmt.Fprintf(w, "    %8d %6s %8s %10s %10s %10s %8s %6d  %s\n", t.PID, intOr(t.UID, "-"), intOr(t.TGID, "-"),
				explain.HumanPages(t.TotalVMPages), explain.HumanPages(t.RSSPages), pg, sw, t.OOMScoreAdj, visible.String(t.Name))
		}
	}
}

func eligible(e *explain.Event) int {
	n := 0
	for _, t := range e.Tasks {
		if t.OOMScoreAdj > mm.OOMScoreAdjMin {
			n++
		}
	}
	return n
}

func limitLine(e *explain.Event) string {
	kind := derefOr((*string)(e.OOMKind), "")
	switch kind {
	case "memcg":
		s := "memcg " + visible.String(derefOr(e.OOMMemcg, "(path not printed)"))
		if m := e.Memcg; m != nil {
			if m.UsageKB != nil && m.LimitKB != nil {
				s += fmt.Sprintf(": usage %s of limit %s", explain.HumanKB(*m.UsageKB), explain.HumanKB(*m.LimitKB))
			}
			if m.Failcnt != nil {
				s += fmt.Sprintf(", failcnt %d", *m.Failcnt)
			}
			if m.SwapLimitKB != nil {
				what := "swap"
				if m.SwapIsMemsw {
					what = "memory+swap"
				}
				s += fmt.Sprintf("; %s limit %s", what, explain.HumanKB(*m.SwapLimitKB))
			}
		}
		return s
	case "global":
		s := "node (global OOM"
		if c := derefOr(e.Constraint, ""); c != "" && c != "CONSTRAINT_NONE" {
			s += ", " + c
		}
		s += ")"
		if mi := e.MemInfo; mi != nil && mi.RAMPages != nil {
			s += ": RAM " + explain.HumanPages(*mi.RAMPages)
			if mi.SwapTotalKB != nil {
				s += ", swap " + explain.HumanKB(*mi.SwapTotalKB)
			}
		}
		return s
	}
	return "not in the report"
}

func victimLine(v *explain.Victim) string {
	s := fmt.Sprintf("%s (pid %d)", visible.String(v.Comm), v.PID)
	var parts []string
	var sum int64
	have := false
	for _, p := range []struct {
		n string
		v *int64
	}{{"anon", v.AnonRSSKB}, {"file", v.FileRSSKB}, {"shmem", v.ShmemRSSKB}} {
		if p.v != nil {
			sum += *p.v
			have = true
			parts = append(parts, p.n+" "+explain.HumanKB(*p.v))
		}
	}
	if have {
		s += " " + explain.HumanKB(sum) + " resident (" + strings.Join(parts, ", ") + ")"
	}
	if v.TotalVMKB != nil {
		s += ", " + explain.HumanKB(*v.TotalVMKB) + " virtual"
	}
	if v.OOMScoreAdj != nil {
		s += fmt.Sprintf(", oom_score_adj %d", *v.OOMScoreAdj)
	}
	if v.UID != nil {
		s += fmt.Sprintf(", uid %d", *v.UID)
	}
	switch {
	case v.Reaped:
		s += ", reaped"
	case v.ReapFailed:
		s += ", the reaper could not reap it"
	}
	if v.GroupKill {
		s += " [memory.oom.group]"
	}
	return s
}

func totalPagesWords(from string) string {
	switch from {
	case "memcg_limit":
		return "the memcg limit"
	case "memcg_limit_no_swap_assumed":
		return "the memcg limit; no swap assumed"
	case "ram_plus_swap":
		return "RAM + swap"
	case "ram_plus_swap_approx":
		return "RAM + swap, an upper bound for a cpuset/mempolicy OOM"
	}
	return from
}

func decidedWords(a *explain.Analysis) string {
	switch *a.DecidedBy {
	case "score":
		return "score: the victim had the most points"
	case "tie_last_scanned":
		s := fmt.Sprintf("tie: %d tasks share the top score", a.TiedWith)
		if a.Clamped > 0 {
			s += fmt.Sprintf(" (%d clamped to 1)", a.Clamped)
		}
		return s + "; the last task scanned wins"
	case "tie_first_scanned":
		s := fmt.Sprintf("tie: %d tasks share the top score", a.TiedWith)
		if a.Clamped > 0 {
			s += fmt.Sprintf(" (%d clamped to 1)", a.Clamped)
		}
		return s + "; the first task scanned keeps the slot"
	case "oom_kill_allocating_task":
		return "vm.oom_kill_allocating_task: the allocating task, no ranking"
	}
	return string(*a.DecidedBy)
}

func intOr(p *int, def string) string {
	if p == nil {
		return def
	}
	return fmt.Sprint(*p)
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// wrap writes text word-wrapped at width, every line indented.
func wrap(w *bufio.Writer, text, indent string, width int) {
	_, _ = w.WriteString(indent)
	wrapRest(w, text, indent, width)
}

// wrapRest writes text word-wrapped; the first line continues the current
// one, the others start with indent.
func wrapRest(w *bufio.Writer, text, indent string, width int) {
	col := len(indent)
	for i, word := range strings.Fields(text) {
		n := len([]rune(word))
		if i > 0 {
			if col+1+n > width {
				_, _ = w.WriteString("\n" + indent)
				col = len(indent)
			} else {
				_ = w.WriteByte(' ')
				col++
			}
		}
		_, _ = w.WriteString(word)
		col += n
	}
	_ = w.WriteByte('\n')
}

// isUptimeStamp reports whether a stamp is just the dmesg "[ s.us]" form
// of the uptime, which the line shows anyway.
func isUptimeStamp(text string, up *float64) bool {
	if up == nil {
		return false
	}
	f, err := strconv.ParseFloat(strings.Trim(text, "[] "), 64)
	return err == nil && f == *up
}
