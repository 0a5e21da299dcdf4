package agent

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/explain"
)

// kmsgRetry is how long the agent waits before opening the kernel log
// again after it could not.
const kmsgRetry = 30 * time.Second

// readKmsg runs the kernel log stream, reopening the log when it fails.
func (a *Agent) readKmsg(ctx context.Context, out chan<- kmsgBatch) {
	open := a.cfg.OpenRecords
	if open == nil {
		open = func(path string) (RecordSource, error) { return openKmsg(path) }
	}
	logged := false
	for ctx.Err() == nil {
		src, err := open(a.cfg.Kmsg)
		if err != nil {
			a.kmsgUp.Store(false)
			a.metrics.SourceUp("kmsg", false)
			a.metrics.SourceError("kmsg")
			if !logged {
				msg := "cannot read the kernel log; OOM kills are still counted from the kernel's counters, but without reports (no victim, no explanation)"
				if errors.Is(err, fs.ErrPermission) {
					msg = "cannot read the kernel log: kernel.dmesg_restrict=1 needs CAP_SYSLOG (run as root, or give the agent CAP_SYSLOG: AmbientCapabilities=CAP_SYSLOG in its systemd unit, capabilities.add [SYSLOG] in a pod); OOM kills are still counted from the kernel's counters, but without reports"
				}
				a.log.Error(msg, "path", a.cfg.Kmsg, "error", err.Error())
				logged = true
				// Nothing to wait for: the counters' baseline is now.
				out <- kmsgBatch{drained: true}
			}
			select {
			case <-ctx.Done():
			case <-time.After(kmsgRetry):
			}
			continue
		}
		if logged {
			a.log.Info("reading the kernel log again", "path", a.cfg.Kmsg)
			logged = false
		}
		a.kmsgUp.Store(true)
		a.metrics.SourceUp("kmsg", true)
		s := &kmsgStream{src: src, procRoot: a.cfg.ProcRoot, v1: a.layout.Memory == cgroup.V1, out: out,
			onMalformed: func(err error) { a.sourceError("kmsg", "", err) }}
		a.resumeMu.Lock()
		s.from, s.checkStart = a.resumeFrom, a.resumeCheck
		a.resumeMu.Unlock()
		err = s.run(ctx)
		src.Close()
		if ctx.Err() != nil {
			return
		}
		a.kmsgUp.Store(false)
		a.metrics.SourceUp("kmsg", false)
		a.metrics.SourceError("kmsg")
		a.log.Error("the kernel log failed; reopening it", "path", a.cfg.Kmsg, "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// handleBatch accounts for what the kernel log said.
func (a *Agent) handleBatch(b kmsgBatch) {
	now := time.Now()
	if b.lost > 0 {
		a.metrics.Overrun(b.overruns, b.lost)
		a.log.Warn("kernel log records were overwritten before the agent read them; kills among them are counted from the kernel's counters", "records_lost", b.lost)
	}
	if b.killLine {
		// The counters went up before the kill line was printed.
		a.scan(now, nil)
	}
	for _, sr := range b.reports {
		a.report(sr, now)
	}
	if b.killLine && len(b.reports) > 0 {
		a.scan(now, nil)
	}
	if b.haveLast {
		if !a.rec.st.HaveCursor || b.safe > a.rec.st.Cursor {
			a.rec.st.Cursor, a.rec.st.HaveCursor = b.safe, true
			a.dirty = true
			a.resumeMu.Lock()
			a.resumeFrom, a.resumeCheck = b.safe+1, true
			a.resumeMu.Unlock()
		}
	}
	if b.drained {
		a.logCaught = now
		if a.baselinePending {
			a.takeBaseline(now)
		}
	}
}

// report makes a kill of a report read from the kernel log.
func (a *Agent) report(sr seenReport, now time.Time) {
	r := sr.r
	if r.Stamp.Seq == nil {
		return
	}
	id := a.boot + "-k" + strconv.FormatUint(*r.Stamp.Seq, 10)
	if a.rec.kills[id] != nil || a.lookupKill(id) != nil {
		return // read again after a restart: already a kill
	}
	e := explain.Explain(r, explain.Options{File: a.cfg.Kmsg})
	k := &api.Kill{Event: e, ID: id, ObservedAt: sr.at, KilledAt: sr.at, Kills: len(e.Victims), SeenBy: []string{api.SeenKmsg}}
	if e.UptimeSeconds != nil && !a.bootAt.IsZero() {
		k.KilledAt = a.bootAt.Add(time.Duration(*e.UptimeSeconds * float64(time.Second))).UTC()
	}
	switch {
	case r.Trigger != nil && len(e.Victims) > 0 && !sr.gapBefore:
		k.Report = api.ReportComplete
	case r.Trigger == nil && !sr.gapBefore && len(e.Victims) > 0:
		// Only the kill line: the kernel printed no report for it.
		k.Report = api.ReportMissing
		k.Warnings = append(k.Warnings, "the kernel printed only the kill line: its OOM report was rate-limited (at most 10 per 5 s)")
	default:
		k.Report = api.ReportTruncated
	}
	if sr.gapBefore {
		k.Warnings = append(k.Warnings, "kernel log records were lost just before this report: its start may be missing")
	}
	victims := make([]victimCgroup, 0, len(e.Victims))
	for i, v := range e.Victims {
		cg, soft := sr.procCgroup[v.PID], true
		if i == 0 && e.TaskMemcg != nil {
			cg, soft = *e.TaskMemcg, false
		}
		victims = append(victims, victimCgroup{pid: v.PID, cgroup: cg, soft: soft && cg != ""})
	}
	// A group kill kills its chosen victim a second time (the kernel
	// counts it twice, the report lists it once).
	for i := 0; i < r.RepeatedKills && len(victims) > 0; i++ {
		victims = append(victims, victims[0])
	}
	k.Kills = len(victims)
	if len(victims) > 0 && victims[0].cgroup != "" {
		cg := victims[0].cgroup
		from := "proc"
		if e.TaskMemcg != nil && *e.TaskMemcg == cg {
			from = "report"
		}
		k.Cgroup, k.CgroupFrom = &cg, &from
	}
	k.Victim = victimKind(&e)
	plot := ""
	switch {
	case e.OOMMemcg != nil:
		plot = *e.OOMMemcg
	case k.Cgroup != nil:
		plot = a.memcgs.limited(*k.Cgroup)
	}
	if plot != "" {
		k.History = a.memcgs.history(plot, k.KilledAt, historyBefore, a.cfg.SampleInterval)
	}
	added, updated := a.rec.report(k, victims, !sr.initial, now)
	if added != nil {
		a.add(added, now)
	}
	if updated != nil {
		a.put(updated, true)
		u := *updated
		u.Kills = k.Kills
		a.metrics.Kill(&u, now)
	}
}

// victimKind says whether the (first) victim was its cgroup's main
// process: the first task the table lists (5.3+ tables are in join order)
// in a memcg OOM confined to the victim's own memcg, or the Kubernetes
// reading of the table.
func victimKind(e *explain.Event) string {
	if k := e.Kubernetes; k != nil && k.VictimFirstListed != nil {
		if *k.VictimFirstListed {
			return api.VictimMain
		}
		return api.VictimChild
	}
	if len(e.Victims) == 0 || len(e.Tasks) == 0 || e.OOMMemcg == nil || e.TaskMemcg == nil || *e.OOMMemcg != *e.TaskMemcg {
		return api.VictimUnknown
	}
	v := e.Victims[0].PID
	for _, t := range e.Tasks {
		tgid := t.PID
		if t.TGID != nil {
			tgid = *t.TGID
		}
		if tgid == v || t.PID == v {
			if t.PID == e.Tasks[0].PID {
				return api.VictimMain
			}
			return api.VictimChild
		}
	}
	return api.VictimUnknown
}
