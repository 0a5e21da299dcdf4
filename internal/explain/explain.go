package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// DefaultTop is the ranking size when Options.Top is 0.
const DefaultTop = 5

// Options tune Explain.
type Options struct {
	// File names the report's source in Event.Source ("-" for stdin,
	// "/dev/kmsg", "sample:twist-1").
	File string
	// AssumeKernel overrides the kernel version the report prints (or
	// supplies one it does not print): "what would kernel X have done".
	AssumeKernel *mm.Version
	// Top is the ranking size (DefaultTop when 0, every task when < 0).
	Top int
	// Verbose puts every eligible task in the ranking.
	Verbose bool
	// PriorVictims are PIDs killed by earlier reports of the same log: a
	// victim that is exiting or was reaped is skipped by the next scan
	// (MMF_OOM_SKIP) although a later task table may still list it.
	PriorVictims []int
}

// Explain turns one report into an Event. Values the kernel cannot print
// (check.go) are left out with a warning, and the rest is explained.
func Explain(r *oomlog.Report, opts Options) Event {
	r, impossible := checked(r)
	e := Event{
		Schema:   Schema,
		Source:   Source{File: opts.File},
		Victims:  []Victim{},
		Warnings: append(append([]string{}, r.Warnings...), impossible...),
	}
	if opts.File == "" {
		e.Source.File = "-"
	}
	if r.Stamp.Seq == nil {
		if r.FirstLine > 0 {
			e.Source.Line = ptr(r.FirstLine)
		}
		if r.LastLine > 0 {
			e.Source.LastLine = ptr(r.LastLine)
		}
	}
	facts(&e, r)
	v, haveVersion := reportVersion(r)
	if !haveVersion && r.KernelVersion != "" {
		e.Warnings = append(e.Warnings, fmt.Sprintf("kernel version %q does not parse; trying every rule set", r.KernelVersion))
	}
	e.Kubernetes = attribute(r, &e)
	var c *choice
	e.Analysis, c = analyse(r, &e, v, haveVersion, opts)
	e.Analysis.Summary = summarize(r, &e, c)
	return e
}

// reportVersion parses the release the report printed.
func reportVersion(r *oomlog.Report) (mm.Version, bool) {
	if r.KernelVersion == "" {
		return mm.Version{}, false
	}
	v, err := mm.ParseVersion(r.KernelVersion)
	return v, err == nil
}

// facts copies what the report says into e.
func facts(e *Event, r *oomlog.Report) {
	st := r.Stamp
	if st.Time != nil {
		e.Time = ptr(st.Time.Format(time.RFC3339Nano))
		if st.TimeFrom != "" {
			e.TimeFrom = ptr(TimeSource(st.TimeFrom))
		}
	}
	e.TimeText = strPtr(st.Text)
	e.UptimeSeconds = st.Uptime
	e.Host = strPtr(st.Host)
	e.BootID = strPtr(st.BootID)
	e.KmsgSeq = st.Seq
	e.KernelVersion = strPtr(r.KernelVersion)
	switch {
	case r.KernelVersion == "":
	case r.KernelVersionInferred:
		e.KernelVersionFrom = ptr(KernelVersionInferred)
	default:
		e.KernelVersionFrom = ptr(KernelVersionFromReport)
	}
	if t := r.Trigger; t != nil {
		e.Trigger = &Trigger{
			Comm:        strPtr(t.Comm),
			PID:         t.PID,
			GFPMask:     strPtr(t.GFPMask),
			GFPFlags:    t.GFPFlags,
			Order:       t.Order,
			OOMScoreAdj: t.OOMScoreAdj,
		}
	}
	e.Constraint = strPtr(r.Constraint)
	switch {
	case r.OOMMemcg != "" || r.Constraint == "CONSTRAINT_MEMCG" || r.Memcg != nil:
		e.OOMKind = ptr(OOMMemcg)
	case r.GlobalOOM || r.MemInfo != nil || r.Constraint != "":
		e.OOMKind = ptr(OOMGlobal)
	default:
		for _, v := range r.Victims {
			switch {
			case strings.HasPrefix(v.Message, "Memory cgroup"):
				e.OOMKind = ptr(OOMMemcg)
			case strings.HasPrefix(v.Message, "Out of memory"):
				e.OOMKind = ptr(OOMGlobal)
			}
			if e.OOMKind != nil {
				break
			}
		}
	}
	e.OOMMemcg = strPtr(r.OOMMemcg)
	e.TaskMemcg = strPtr(r.TaskMemcg)
	if m := r.Memcg; m != nil {
		e.Memcg = &Memcg{
			UsageKB: m.UsageKB, LimitKB: m.LimitKB, Failcnt: m.Failcnt,
			SwapUsageKB: m.SwapUsageKB, SwapLimitKB: m.SwapLimitKB, SwapIsMemsw: m.SwapIsMemsw,
			KmemUsageKB: m.KmemUsageKB, StatsPath: strPtr(m.StatsPath),
		}
	}
	if m := r.MemInfo; m != nil {
		e.MemInfo = &MemInfo{RAMPages: m.RAMPages, ReservedPages: m.ReservedPages,
			SwapTotalKB: m.SwapTotalKB, SwapFreeKB: m.SwapFreeKB, FreePages: m.FreePages}
	}
	if r.Tasks != nil {
		e.Tasks = make([]Task, len(r.Tasks))
		// The event's optional values point into the report's rows.
		for i := range r.Tasks {
			t, et := &r.Tasks[i], &e.Tasks[i]
			et.PID, et.UID, et.TGID = t.PID, column(t, oomlog.HasUID, &t.UID), column(t, oomlog.HasTGID, &t.TGID)
			et.TotalVMPages, et.RSSPages = t.TotalVMPages, t.RSSPages
			et.RSSAnonPages = column(t, oomlog.HasRSSAnon, &t.RSSAnonPages)
			et.RSSFilePages = column(t, oomlog.HasRSSFile, &t.RSSFilePages)
			et.RSSShmemPages = column(t, oomlog.HasRSSShmem, &t.RSSShmemPages)
			et.PgtablesBytes = column(t, oomlog.HasPgtablesBytes, &t.PgtablesBytes)
			et.SwapEnts = column(t, oomlog.HasSwapEnts, &t.SwapEnts)
			et.OOMScoreAdj, et.Name = t.OOMScoreAdj, t.Name
		}
	}
	for _, v := range r.Victims {
		if v.Exiting {
			e.Warnings = append(e.Warnings, fmt.Sprintf("victim %d (%s) was already exiting: the kernel skipped killing it", v.PID, v.Comm))
			continue
		}
		e.Victims = append(e.Victims, Victim{
			PID: v.PID, Comm: v.Comm, TotalVMKB: v.TotalVMKB, AnonRSSKB: v.AnonRSSKB,
			FileRSSKB: v.FileRSSKB, ShmemRSSKB: v.ShmemRSSKB, UID: v.UID, PgtablesKB: v.PgtablesKB,
			OOMScoreAdj: v.OOMScoreAdj, Reaped: v.Reaped, ReapFailed: v.ReapFailed,
			GroupKill: v.GroupKill, Message: strPtr(v.Message), From: victimFrom(v),
		})
	}
	e.GroupKillPath = strPtr(r.GroupKillPath)
	e.NoKillable = r.NoKillable
	e.Panic = strPtr(r.Panic)
	// A line cut short leaves the report as incomplete as a missing kill
	// line does; its warnings say which.
	e.Truncated = r.Truncated || r.CutLines > 0
	e.CgroupVersion = cgroupVersion(r)
}

// victimFrom says which line showed the kill.
func victimFrom(v oomlog.Victim) VictimSource {
	if v.FromSummary {
		return VictimFromSummaryLine
	}
	return VictimFromKilledLine
}

// cgroupVersion reads v1 or v2 off the report's format: 5.3+ prints
// "memory+swap:"/"kmem:" only on v1 and "swap:" only on v2 (≤5.2 prints
// memory+swap for both); memory.oom.group exists only on v2.
func cgroupVersion(r *oomlog.Report) *string {
	if r.GroupKillPath != "" {
		return ptr("v2")
	}
	m := r.Memcg
	if m == nil {
		return nil
	}
	if m.SwapUsageKB != nil && !m.SwapIsMemsw {
		return ptr("v2")
	}
	if m.SwapIsMemsw || m.KmemUsageKB != nil {
		if v, ok := reportVersion(r); ok && v.AtLeast(5, 3, 0) {
			return ptr("v1")
		}
	}
	return nil
}

// kernelVictim is the task the kernel chose: the process named by a ≤5.0
// "Kill process P … or sacrifice child" line, else the first Killed line
// that is not a memory.oom.group follower, else the oom-kill: line's pid.
func kernelVictim(r *oomlog.Report) (pid int, comm string, ok bool) {
	if r.ChosenPID != nil {
		return *r.ChosenPID, r.ChosenComm, true
	}
	for _, v := range r.Victims {
		if !v.GroupKill && !v.Exiting {
			return v.PID, v.Comm, true
		}
	}
	if r.SummaryPID != nil {
		return *r.SummaryPID, r.SummaryComm, true
	}
	if len(r.Victims) > 0 {
		return r.Victims[0].PID, r.Victims[0].Comm, true
	}
	return 0, "", false
}

func ptr[T any](v T) *T { return &v }

// column returns v, a task row's optional value, or nil when the row did
// not print that column.
func column[T int | int64](t *oomlog.Task, c oomlog.TaskColumns, v *T) *T {
	if t.Has&c == 0 {
		return nil
	}
	return v
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
