package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/node"
)

// bytesWord prints a byte count for humans, "unlimited"/"?" for nil.
func bytesWord(p *int64, nilWord string) string {
	if p == nil {
		return nilWord
	}
	return bytesize.Format(*p)
}

// InspectText prints an inspect report for people.
func InspectText(w io.Writer, r node.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Memory
	fmt.Fprintf(tw, "Node\tkernel %s\n", vs(derefOr(r.KernelVersion, "unknown")))
	fmt.Fprintf(tw, "  memory\t%s total, %s available; swap %s total, %s free\n", KBWord(m.MemTotalKB), KBWord(m.MemAvailableKB), KBWord(m.SwapTotalKB), KBWord(m.SwapFreeKB))
	oc := r.Overcommit
	fmt.Fprintf(tw, "  overcommit\tvm.overcommit_memory=%s ratio=%s kbytes=%s\n", intWord(oc.Mode), intWord(oc.Ratio), intWord(oc.KBytes))
	match := ""
	if oc.CommitLimitMatches != nil {
		match = map[bool]string{true: " (recomputed: the same)", false: fmt.Sprintf(" (recomputed: %s — they differ)", KBWord(oc.ComputedCommitLimitKB))}[*oc.CommitLimitMatches]
	}
	fmt.Fprintf(tw, "  CommitLimit\t%s%s; Committed_AS %s\n", KBWord(oc.CommitLimitKB), match, KBWord(oc.CommittedASKB))
	fmt.Fprintf(tw, "  \t%s\n", oc.Summary)
	writeInspectCommit(tw, r.Commit)
	if p := r.Pressure; p != nil && p.SomeAvg10 != nil {
		fmt.Fprintf(tw, "  pressure\tsome %.2f%% %.2f%% %.2f%% (10s/60s/300s)", *p.SomeAvg10, *p.SomeAvg60, *p.SomeAvg300)
		if p.FullAvg10 != nil {
			fmt.Fprintf(tw, ", full %.2f%% %.2f%% %.2f%%", *p.FullAvg10, *p.FullAvg60, *p.FullAvg300)
		}
		fmt.Fprintln(tw)
	} else {
		fmt.Fprintf(tw, "  pressure\tunknown (no PSI)\n")
	}
	fmt.Fprintf(tw, "  OOM kills\t%s since boot; panic_on_oom=%s oom_kill_allocating_task=%s\n", intWord(r.OOMKillTotal), intWord(r.OOMSysctls.PanicOnOOM), intWord(r.OOMSysctls.OOMKillAllocatingTask))
	fmt.Fprintf(tw, "  eviction\t%s\n", r.Eviction.Summary)
	tw.Flush()
	if c := r.Cgroup; c != nil {
		fmt.Fprintln(w)
		writeInspectCgroup(w, *c)
	}
	if len(r.Cgroups) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HEADROOM\tLIMIT\tWORKING SET\tUSAGE\tOOM KILLS\tPOD/CONTAINER\tCGROUP")
		for _, c := range r.Cgroups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", bytesWord(c.HeadroomBytes, "-"), bytesWord(c.LimitBytes, "unlimited"),
				bytesWord(c.WorkingSetBytes, "?"), bytesWord(c.UsageBytes, "?"), intWord(c.OOMKillCount), vs(podLabel(c.Kubernetes)), vs(c.Path))
		}
		tw.Flush()
	}
	if len(r.Processes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Runtimes")
		// Native processes with nothing to say each get the same verdict:
		// one line names them all.
		var natives []string
		nativeVerdict := ""
		for _, p := range r.Processes {
			if p.Runtime == nil && p.HeapCeilingBytes == nil && len(p.Warnings) == 0 && len(p.Notes) == 0 &&
				(nativeVerdict == "" || p.Verdict == nativeVerdict) {
				nativeVerdict = p.Verdict
				natives = append(natives, fmt.Sprintf("%d %s", p.PID, vs(p.Comm)))
			}
		}
		if len(natives) > 1 {
			fmt.Fprintf(w, "  %d native processes (no managed heap): %s\n    %s\n", len(natives), nativeVerdict, strings.Join(natives, ", "))
		}
		for _, p := range r.Processes {
			rt := "native"
			if p.Runtime != nil {
				rt = vs(*p.Runtime)
			} else if len(natives) > 1 && p.HeapCeilingBytes == nil && len(p.Warnings) == 0 && len(p.Notes) == 0 && p.Verdict == nativeVerdict {
				continue
			}
			fmt.Fprintf(w, "  %d %s (%s, heap ceiling %s; rss %s, commit %s): %s\n", p.PID, vs(p.Comm), rt, bytesWord(p.HeapCeilingBytes, "none"),
				bytesWord(p.RSSBytes, "?"), bytesWord(p.CommitBytes, "?"), vs(p.Verdict))
			for _, x := range p.Warnings {
				fmt.Fprintf(w, "    warning: %s\n", vs(x))
			}
			for _, x := range p.Notes {
				fmt.Fprintf(w, "    note: %s\n", vs(x))
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", vs(n))
	}
}

func writeInspectCgroup(w io.Writer, c node.Cgroup) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ver := c.Version
	if c.Hybrid {
		ver += " (hybrid: v1 controllers and a cgroup2 mount)"
	}
	fmt.Fprintf(tw, "cgroup\t%s\n", vs(c.Path))
	fmt.Fprintf(tw, "  version\t%s\n", ver)
	if k := c.Kubernetes; k != nil {
		fmt.Fprintf(tw, "  kubernetes\tpod %s, container %s (%s level; QoS %s; %s driver)\n", vs(derefOr(k.PodUID, "?")),
			vs(shortID(derefOr(k.ContainerID, "-"), 12)), derefOr(k.CgroupLevel, "?"), derefOr(k.QOSClass, "Guaranteed (no QoS segment)"), derefOr(k.CgroupDriver, "?"))
	}
	lim := "none at any level: only a global OOM or an eviction can stop it"
	if c.LimitBytes != nil {
		lim = fmt.Sprintf("%s, set at %s", bytesize.Format(*c.LimitBytes), vs(*c.LimitPath))
	}
	fmt.Fprintf(tw, "  limit\t%s\n", lim)
	fmt.Fprintf(tw, "  usage\t%s; working set %s (usage − inactive_file); reclaimable page cache %s\n", bytesWord(c.UsageBytes, "?"), bytesWord(c.WorkingSetBytes, "?"), bytesWord(c.ReclaimableBytes, "?"))
	if c.HeadroomBytes != nil {
		fmt.Fprintf(tw, "  headroom\t%s more resident memory before the memcg OOM killer runs (at %s)\n", bytesize.Format(*c.HeadroomBytes), vs(*c.HeadroomPath))
	}
	if v := c.NextVictim; v != nil {
		fmt.Fprintf(tw, "  next victim\tpid %d (%s): %d points, totalpages %d (rss %s, oom_score_adj %d) — see 'oomkit top --cgroup %s'\n",
			v.PID, vs(v.Comm), v.Points, v.TotalPages, pagesWord(v.RSSPages), v.OOMScoreAdj, vs(c.Path))
	}
	switch c.Version {
	case "v1":
		fmt.Fprintf(tw, "  v1\tfailcnt %s, oom_kill %s, oom_kill_disable %s, under_oom %s, use_hierarchy %s, swappiness %s, memsw limit %s\n",
			intWord(c.FailCnt), intWord(c.OOMKillCount), boolWord(c.OOMKillDisable), boolWord(c.UnderOOM), boolWord(c.UseHierarchy), intWord(c.Swappiness), bytesWord(c.MemswLimitBytes, "unlimited"))
	case "v2":
		if e := c.Events; e != nil {
			fmt.Fprintf(tw, "  events\toom %s, oom_kill %s, oom_group_kill %s, high %s, max %s\n", intWord(e.OOM), intWord(e.OOMKill), intWord(e.OOMGroupKill), intWord(e.High), intWord(e.Max))
		}
		fmt.Fprintf(tw, "  v2\tmemory.high %s, swap.max %s (using %s), oom.group %s\n", bytesWord(c.HighBytes, "max"), bytesWord(c.SwapLimitBytes, "max"), bytesWord(c.SwapUsageBytes, "?"), boolWord(c.OOMGroup))
	}
	if c.CommitBytes != nil {
		fmt.Fprintf(tw, "  commit\t%s charged to Committed_AS by its processes (usage %s)\n", bytesize.Format(*c.CommitBytes), bytesWord(c.UsageBytes, "?"))
	}
	for _, s := range c.SoftLimits {
		for _, e := range s.Effects {
			fmt.Fprintf(tw, "  soft limit\t%s: %s\n", vs(s.Path), vs(e))
		}
	}
	tw.Flush()
	if len(c.Levels) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LEVEL\tLIMIT\tUSAGE\tWORKING SET\tHEADROOM")
		for _, l := range c.Levels {
			p := vs(l.Path)
			if !l.Applies {
				p += " (use_hierarchy 0: does not apply)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p, bytesWord(l.LimitBytes, "unlimited"), bytesWord(l.UsageBytes, "?"), bytesWord(l.WorkingSetBytes, "?"), bytesWord(l.HeadroomBytes, "-"))
		}
		tw.Flush()
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", vs(n))
	}
}

// writeInspectCommit prints the node's commit charge lines.
func writeInspectCommit(tw io.Writer, c *node.Commit) {
	if c == nil {
		return
	}
	if c.Explanation != "" {
		fmt.Fprintf(tw, "  commit\t%s\n", c.Explanation)
	}
	var parts []string
	for _, x := range c.TopCommitters {
		parts = append(parts, fmt.Sprintf("%d %s %s (rss %s)", x.PID, vs(x.Comm), bytesize.Format(x.CommitBytes), bytesWord(x.RSSBytes, "?")))
	}
	if len(parts) > 0 {
		fmt.Fprintf(tw, "  committers\t%s\n", strings.Join(parts, ", "))
	}
	switch {
	case c.ForkWouldFail == nil:
	case len(c.ForkWouldFail) == 0:
		fmt.Fprintf(tw, "  fork\tevery process can fork: each one's commit charge fits in what CommitLimit has left\n")
	default:
		parts = parts[:0]
		for _, x := range c.ForkWouldFail {
			parts = append(parts, fmt.Sprintf("%d %s (needs %s)", x.PID, vs(x.Comm), bytesize.Format(x.CommitBytes)))
		}
		fmt.Fprintf(tw, "  fork\tfork() would fail with ENOMEM (\"fork: Cannot allocate memory\") for: %s\n", strings.Join(parts, ", "))
	}
}

func intWord(p *int64) string {
	if p == nil {
		return "?"
	}
	return strconv.FormatInt(*p, 10)
}

func boolWord(p *bool) string {
	if p == nil {
		return "?"
	}
	return map[bool]string{true: "1", false: "0"}[*p]
}
