package agent

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kfile"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/proc"
	"github.com/oomkit/oomkit/internal/watch"
)

// Timing of the kernel log. A report's records are printed under
// oom_lock (mm/oom_kill.c), a single kill's kill line last, so once a
// kill line has been read and the log stays quiet for killQuiet (or
// longer, when the kernel printed this report slowly: watch's AfterKill)
// the report is complete and is handed on. A memory.oom.group kill prints
// more lines after the first kill line, and printk wakes a reader only at
// the next timer tick (wake_up_klogd_work is lazy irq_work,
// kernel/printk/printk.c: up to 10 ms at HZ=100), so the quiet must
// outlast a tick: 5 ms split group kills in two in a 6.1 guest. A report whose header was read but whose
// kill line has not come (the printing task can be preempted) waits
// watch.DefaultIdle.
const killQuiet = 25 * time.Millisecond

// kmsgRetry is how long the agent waits before opening the kernel log
// again after it could not.
const kmsgRetry = 30 * time.Second

// kmsgMsg is what the kernel log reader hands the loop, in the order it
// read it.
type kmsgMsg struct {
	// item is an explained report or a gap; nil for a message that only
	// says the reader caught up.
	item *watch.Item
	at   time.Time // when the reader had it
	// cursor is the stream's cursor after item (haveCursor false when it
	// has none yet): saved once the loop has handled item.
	cursor     watch.Cursor
	haveCursor bool
	// caughtUp: the log has been read to its end, and every event in it
	// was sent before this message.
	caughtUp bool
	// initial: item was in the ring when the agent started for the first
	// time; its kills are kept as they are, not reconciled with counters
	// that were not read back then.
	initial bool
}

// openKmsg opens the kernel log for following: /dev/kmsg, or what a test
// injects (Config.OpenRecords).
func (a *Agent) openKmsg() (watch.Source, error) {
	if a.cfg.OpenRecords != nil {
		return a.cfg.OpenRecords(a.cfg.Kmsg)
	}
	return kmsg.Open(a.cfg.Kmsg, true)
}

// readKmsg follows the kernel log through a watch.Stream, resuming after
// the saved cursor, and reopens it when it fails.
func (a *Agent) readKmsg(ctx context.Context, out chan<- kmsgMsg) {
	send := func(m kmsgMsg) bool {
		select {
		case out <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	logged := false
	initial := a.baselinePending
	for ctx.Err() == nil {
		src, err := a.openKmsg()
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
				initial = false
				send(kmsgMsg{caughtUp: true})
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
		a.resumeMu.Lock()
		after := a.resume
		a.resumeMu.Unlock()
		var st *watch.Stream
		st = watch.New(readingSource{src, func() { a.kmsgIdle.Store(false) }}, watch.Options{
			BootID: a.boot, After: after, Name: a.cfg.Kmsg, AfterKill: killQuiet,
			CaughtUp: func() {
				c, ok := st.Cursor()
				if send(kmsgMsg{caughtUp: true, at: time.Now(), cursor: c, haveCursor: ok}) {
					a.kmsgIdle.Store(true)
				}
				initial = false
			},
		})
		err = a.follow(ctx, st, send, &initial)
		a.kmsgIdle.Store(false)
		st.Close()
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

// readingSource is the kernel log source with a callback for every record
// read: the reader is no longer idle.
type readingSource struct {
	watch.Source
	read func()
}

func (r readingSource) Next(ctx context.Context) (kmsg.Record, error) {
	rec, err := r.Source.Next(ctx)
	if err == nil {
		r.read()
	}
	return rec, err
}

// OnWait passes the stream's hook on to a source that says when it waits.
func (r readingSource) OnWait(f func()) {
	if w, ok := r.Source.(interface{ OnWait(func()) }); ok {
		w.OnWait(f)
	}
}

// Close closes the source when it is an io.Closer.
func (r readingSource) Close() error {
	if c, ok := r.Source.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// follow hands every item of st to the loop until ctx ends or the stream
// fails. Reports still open when ctx ends are left to the next start: the
// cursor never passes them.
func (a *Agent) follow(ctx context.Context, st *watch.Stream, send func(kmsgMsg) bool, initial *bool) error {
	for {
		it, err := st.Next(ctx)
		switch {
		case err == nil:
			c, ok := st.Cursor()
			if !send(kmsgMsg{item: &it, at: time.Now(), cursor: c, haveCursor: ok, initial: *initial}) {
				return ctx.Err()
			}
		case errors.Is(err, io.EOF):
			// A source that ends (a test's) has been read for good.
			c, ok := st.Cursor()
			if send(kmsgMsg{caughtUp: true, at: time.Now(), cursor: c, haveCursor: ok}) {
				a.kmsgIdle.Store(true)
			}
			*initial = false
			<-ctx.Done()
			return ctx.Err()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, kmsg.ErrMalformed):
			a.sourceError("kmsg", "", err)
		default:
			return err
		}
	}
}

// handleKmsg accounts for what the kernel log said.
func (a *Agent) handleKmsg(m kmsgMsg) {
	now := time.Now()
	if it := m.item; it != nil {
		switch {
		case it.Gap != nil:
			var lost uint64
			if it.Gap.Lost != nil {
				lost = *it.Gap.Lost
			}
			a.metrics.Overrun(1, lost)
			a.gapBefore = true
			a.log.Warn("kernel log records were overwritten before the agent read them; kills among them are counted from the kernel's counters",
				"cause", it.Gap.Cause.String(), "records_lost", lost)
		case it.Event != nil:
			live := !m.initial
			if live && len(it.Event.Victims) > 0 {
				// The counters went up before the kill line was printed.
				a.scan(now, nil)
			}
			a.report(it, m.at, live, now)
			if live {
				a.scan(now, nil)
			}
		}
	}
	if m.haveCursor && m.cursor.BootID == a.boot && (!a.rec.st.HaveCursor || m.cursor.Seq > a.rec.st.Cursor) {
		a.rec.st.Cursor, a.rec.st.HaveCursor = m.cursor.Seq, true
		a.dirty = true
		c := m.cursor
		a.resumeMu.Lock()
		a.resume = &c
		a.resumeMu.Unlock()
	}
	if m.caughtUp {
		// When the reader was at the log's end, not when the loop took
		// the message: records the kernel wrote since are not read yet,
		// and counter increments after m.at may still have kill lines
		// coming (the loop takes messages late while the writer is
		// behind).
		a.logCaught = m.at
		if m.at.IsZero() {
			a.logCaught = now
		}
		if a.baselinePending {
			a.takeBaseline(now)
		}
	}
}

// report makes a kill of a report read from the kernel log.
func (a *Agent) report(it *watch.Item, at time.Time, live bool, now time.Time) {
	r, e := it.Report, *it.Event
	id := a.boot + "-k" + strconv.FormatUint(it.FirstSeq, 10)
	gapBefore := a.gapBefore
	a.gapBefore = false
	if a.rec.kills[id] != nil || a.lookupKill(id) != nil {
		return // read again after a restart: already a kill
	}
	k := &api.Kill{Event: e, ID: id, ObservedAt: at, KilledAt: at, Kills: len(e.Victims), SeenBy: []string{api.SeenKmsg}}
	if !a.bootAt.IsZero() {
		k.KilledAt = a.bootAt.Add(it.SinceBoot).UTC()
	}
	switch {
	case r.Trigger != nil && len(e.Victims) > 0 && !gapBefore:
		k.Report = api.ReportComplete
	case r.Trigger == nil && !gapBefore && len(e.Victims) > 0:
		// Only the kill line: the kernel printed no report for it.
		k.Report = api.ReportMissing
		k.Warnings = append(k.Warnings, "the kernel printed only the kill line: its OOM report was rate-limited (at most 10 per 5 s)")
	default:
		k.Report = api.ReportTruncated
	}
	if gapBefore {
		k.Warnings = append(k.Warnings, "kernel log records were lost just before this report: its start may be missing")
	}
	victims := make([]victimCgroup, 0, len(e.Victims))
	for i, v := range e.Victims {
		cg, soft := "", true
		if i == 0 && e.TaskMemcg != nil {
			cg, soft = *e.TaskMemcg, false
		} else if live {
			cg = a.procCgroup(v.PID)
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
	k.Victim = a.victimRole(k, live)
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
	added, updated := a.rec.report(k, victims, live, now)
	if added != nil {
		a.add(added, now, !live)
	}
	if updated != nil {
		a.put(updated, true)
		u := *updated
		u.Kills = k.Kills
		a.metrics.Kill(&u, now)
	}
}

// procCgroup reads the memcg of pid from /proc/PID/cgroup: the victim is
// dying but its /proc entry stays until its parent reaps it, so this
// names the victim's cgroup for kill lines that come without a report (a
// hint: an exiting task may already show another cgroup).
func (a *Agent) procCgroup(pid int) string {
	b, err := kfile.Read(filepath.Join(a.cfg.ProcRoot, strconv.Itoa(pid), "cgroup"), kfile.Small)
	if err != nil {
		return ""
	}
	return proc.ParseMemoryCgroup(b, a.layout.Memory == cgroup.V1)
}

// victimKind says whether the (first) victim was its cgroup's main
// process, as the report's task table tells: the first task the table
// lists (5.3+ tables are in join order) in a memcg OOM confined to the
// victim's own memcg, or the Kubernetes reading of the table.
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
