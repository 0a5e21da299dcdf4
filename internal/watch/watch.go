// Package watch is the stream of explained OOM kills from the kernel's log:
// records from a Source (the /dev/kmsg reader, or a source a test injects)
// go through an oomlog.Assembler into explain.Events, pulled one Item at a
// time with Next. `oomkit explain` reads /dev/kmsg with it (the whole ring,
// or --follow), and so will the node agent.
//
// Each event carries what a long-running reader needs to key it and to
// resume after a restart: the boot ID, the /dev/kmsg sequence numbers of
// the report's first and last record, and the first record's time since
// boot. Records the kernel overwrote before they were read come out as Gap
// items (and in Stats), never silently.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kfile"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// DefaultIdle is how long a followed log must stay quiet before a finished
// report still waiting for its victims' oom_reaper lines is returned: the
// reaper prints within about two seconds of the kill (oom_reap_task(),
// mm/oom_kill.c, retries for MAX_OOM_REAP_RETRIES × 100 ms).
const DefaultIdle = 2 * time.Second

// BootIDPath is where the kernel publishes the current boot's random ID
// (drivers/char/random.c); sequence numbers restart with every boot.
const BootIDPath = "/proc/sys/kernel/random/boot_id"

// priorVictimsKept bounds the victims remembered for later reports of the
// same log; a victim matters only to the next few reports.
const priorVictimsKept = 256

// maxSegments bounds the record-number → sequence-number map: it grows by
// one entry per gap only, and a report's last record is always recent.
const maxSegments = 1024

// Source hands out kernel log records in sequence-number order. A
// *kmsg.Reader is one; tests inject others (internal/watch/watchtest).
type Source interface {
	// Next returns the next record; io.EOF when a finite source has no
	// more; ctx's error when ctx ends first (promptly, even while
	// blocked); an error wrapping kmsg.ErrMalformed for a record that does
	// not parse, after which reading goes on. Other errors end the stream.
	Next(ctx context.Context) (kmsg.Record, error)
	// Overruns counts the times the source found the next record already
	// overwritten (read(2) of /dev/kmsg failed with EPIPE). Only an overrun
	// before the first record needs it: later ones show as jumps in the
	// sequence numbers.
	Overruns() int
}

// Cursor is where a stream stopped, for a reader that persists it and
// resumes after a restart.
type Cursor struct {
	// BootID is the boot the sequence number belongs to (BootIDPath).
	BootID string `json:"boot_id"`
	// Seq is the sequence number of the first record of the last event
	// handled.
	Seq uint64 `json:"seq"`
}

// Options configure a stream. The zero value reads the whole ring once.
type Options struct {
	// Follow waits for new records at the end of the ring instead of
	// ending with io.EOF (Open only: a Source given to New follows or not
	// on its own).
	Follow bool
	// FromEnd skips the records already in the ring (Open only).
	FromEnd bool
	// Idle is how long the source may stay quiet before finished reports
	// are returned without waiting longer for oom_reaper lines
	// (DefaultIdle when 0).
	Idle time.Duration
	// AfterKill, when shorter than Idle, is the quiet that suffices once a
	// kill line was read: the kernel prints a report's records under
	// oom_lock (__oom_kill_process(), mm/oom_kill.c), a single kill's kill
	// line last, so a reader that must hand a kill on at once (the node
	// agent) returns it soon after its kill line. It gives up the victims'
	// oom_reaper lines, which come later. The kernel does not always print
	// that fast: a memory.oom.group kill prints a line and one kill line
	// per process after the first kill line, and a console on a serial
	// port makes every printk wait for it (~7 ms a line at 115200 baud).
	// So the quiet is at least three times the longest gap between the
	// open report's records, by their kernel time stamps. 0: Idle.
	AfterKill time.Duration
	// CaughtUp, when set, is called each time the stream has returned
	// every event of the records read so far and the source waits for the
	// next record: the reader has caught up with the kernel. It runs on
	// the goroutine calling Next, inside Next; it may call Cursor and
	// Stats, not Next. Only a source that says when it waits (OnWait, as
	// *kmsg.Reader does) calls it.
	CaughtUp func()
	// Name is the source named in each Event's source.file (default
	// kmsg.DefaultPath).
	Name string
	// Explain tunes the explanations (Top, Verbose, AssumeKernel); its File
	// and PriorVictims are the stream's.
	Explain explain.Options
	// Parse tunes the Assembler.
	Parse oomlog.Options
	// BootID is the boot the records belong to; Open reads BootIDPath when
	// it is "".
	BootID string
	// After resumes after a persisted cursor: events whose first record is
	// at or before After.Seq in the same boot were handled and are not
	// returned again. The records before the cursor are still read, so a
	// report the cursor cuts through comes out whole, and the earlier
	// victims are known. A cursor from another boot is ignored (a Gap item
	// says so).
	After *Cursor
}

// GapCause says why records are missing.
type GapCause int

const (
	// Overwritten: the kernel overwrote records before this stream read
	// them (the log outran the reader; read(2) failed with EPIPE or the
	// sequence numbers jumped).
	Overwritten GapCause = iota
	// SinceCursor: the records right after the resume cursor are no longer
	// in the ring; they were overwritten while nothing read them.
	SinceCursor
	// NewBoot: the resume cursor belongs to another boot. The records that
	// boot logged after the cursor are gone with it (uncounted); Lost
	// counts the records of this boot overwritten before the oldest one
	// still in the ring.
	NewBoot
)

func (c GapCause) String() string {
	switch c {
	case Overwritten:
		return "overwritten"
	case SinceCursor:
		return "since_cursor"
	case NewBoot:
		return "new_boot"
	}
	return fmt.Sprintf("GapCause(%d)", int(c))
}

// Gap is a run of missing records.
type Gap struct {
	Cause GapCause
	// Next is the sequence number of the first record read after the gap.
	Next uint64
	// Lost is how many records are missing; nil when unknown (records
	// overwritten before the first one this stream read).
	Lost *uint64
}

// Item is what Next returns: one explained OOM kill, or a gap.
type Item struct {
	// Event is the explained report; nil for a gap.
	Event *explain.Event
	// Report is the report Event was explained from; nil for a gap.
	Report *oomlog.Report
	// BootID is the boot the sequence numbers belong to ("" if unknown).
	BootID string
	// FirstSeq and LastSeq are the sequence numbers of the report's first
	// and last record. (BootID, FirstSeq) is the event's stable key: a
	// stream that reads the same records again gives the same key.
	FirstSeq, LastSeq uint64
	// SinceBoot is the time stamp of the report's first record: time since
	// boot on the kernel's printk clock (CLOCK_MONOTONIC, not counting
	// suspend, on most kernels).
	SinceBoot time.Duration
	// Gap, when not nil, says records were lost; the item has no event.
	Gap *Gap
}

// Cursor is the cursor to persist once this item's event is handled:
// Options.After resumes after it. The kernel prints one OOM report at a
// time (oom_lock, mm/oom_kill.c, held from the header to the kill), and
// the stream returns reports in the order they began, so every event
// keyed at or before it has been returned. Gap items have no cursor.
func (it Item) Cursor() Cursor { return Cursor{BootID: it.BootID, Seq: it.FirstSeq} }

// Stats counts what a stream read.
type Stats struct {
	Records   int    // records read
	Malformed int    // records that did not parse (skipped)
	Events    int    // events returned
	Resumed   int    // events at or before the resume cursor, not returned
	Gaps      int    // gap items returned
	Lost      uint64 // records known lost (the sum of the gaps' Lost)
	// Parser is the Assembler's count of what it could not use.
	Parser oomlog.Stats
}

// Stream is the pull API: Next returns items until the source ends.
type Stream struct {
	src    Source
	closer io.Closer
	opts   Options
	asm    *oomlog.Assembler
	x      Explainer
	queue  []Item
	stats  Stats

	line     int       // records fed to the Assembler (its line numbers)
	segs     []segment // where sequence numbers jump, by line
	seen     bool
	lastSeq  uint64
	overruns int
	pending  bool // records fed since the Assembler was last flushed
	killSeen bool // a kill line was fed since the Assembler was last flushed
	// printGap is the longest gap between consecutive records, by their
	// kernel time stamps, since a report's header line (reportAt: the
	// last one's stamp, inReport: a header was fed since the last flush).
	printGap time.Duration
	reportAt uint64
	inReport bool
	eof      bool
	after    *Cursor // the resume cursor, when it applies to this boot
}

// segment says that the record fed as line has sequence number seq, and
// the records after it follow one by one.
type segment struct {
	line int
	seq  uint64
}

// New returns a stream over src.
func New(src Source, opts Options) *Stream {
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if opts.Name == "" {
		opts.Name = kmsg.DefaultPath
	}
	s := &Stream{src: src, opts: opts, asm: oomlog.NewAssembler(opts.Parse)}
	s.x.Options = opts.Explain
	s.x.Options.File = opts.Name
	if c, ok := src.(io.Closer); ok {
		s.closer = c
	}
	if w, ok := src.(waitNotifier); ok && opts.CaughtUp != nil {
		w.OnWait(s.waiting)
	}
	return s
}

// waitNotifier is a Source that says when it is about to wait for the
// next record (kmsg.Reader.OnWait).
type waitNotifier interface{ OnWait(func()) }

// waiting is called by the source when it waits: the stream has caught up
// unless events are still queued or the Assembler holds a report.
func (s *Stream) waiting() {
	if len(s.queue) > 0 {
		return
	}
	if _, held := s.asm.Pending(); held {
		return
	}
	s.opts.CaughtUp()
}

// Open opens the kernel log device at path (kmsg.DefaultPath when "") and
// returns a stream over it; the boot ID is read from BootIDPath unless
// opts.BootID is set. Open's errors are kmsg.Open's (*kmsg.OpenError).
func Open(path string, opts Options) (*Stream, error) {
	rd, err := kmsg.Open(path, opts.Follow)
	if err != nil {
		return nil, err
	}
	if opts.FromEnd {
		if err := rd.SeekEnd(); err != nil {
			rd.Close()
			return nil, err
		}
	}
	if opts.BootID == "" {
		opts.BootID = ReadBootID(BootIDPath)
	}
	if opts.Name == "" {
		opts.Name = path
	}
	return New(rd, opts), nil
}

// ReadBootID returns the boot ID in the file at path, "" when it cannot be
// read.
func ReadBootID(path string) string {
	b, err := kfile.Read(path, kfile.Small)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Close closes the source when it is an io.Closer.
func (s *Stream) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// Stats returns the counts so far.
func (s *Stream) Stats() Stats {
	st := s.stats
	st.Parser = s.asm.Stats()
	return st
}

// Next returns the next item. It returns io.EOF when the source has ended
// and every report has been returned; ctx.Err() as soon as ctx ends (the
// reports still open are kept: Drain returns them); an error wrapping
// kmsg.ErrMalformed for a record that did not parse, after which Next may
// be called again. Any other error ends the stream.
func (s *Stream) Next(ctx context.Context) (Item, error) {
	var idle *idleTimer
	defer func() { idle.stop() }()
	for {
		if len(s.queue) > 0 {
			it := s.queue[0]
			s.queue = s.queue[1:]
			return it, nil
		}
		if s.eof {
			return Item{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return Item{}, err
		}
		rctx := ctx
		if s.pending {
			// Reports may be waiting for more records: stop waiting for
			// the source after Idle (AfterKill once a kill line came).
			d := s.quiet()
			if idle == nil || idle.ctx.Err() != nil {
				idle.stop()
				idle = newIdleTimer(ctx, d)
			} else {
				idle.t.Reset(d)
			}
			rctx = idle.ctx
		}
		rec, err := s.src.Next(rctx)
		switch {
		case err == nil:
			s.record(rec)
		case errors.Is(err, io.EOF):
			s.flush()
			s.eof = true
		case ctx.Err() != nil:
			return Item{}, ctx.Err()
		case rctx != ctx && rctx.Err() != nil:
			// Quiet for a while: return what is finished.
			s.flush()
		case errors.Is(err, kmsg.ErrMalformed):
			s.stats.Malformed++
			return Item{}, err
		default:
			return Item{}, err
		}
	}
}

// idleTimer is a context that ends after a quiet spell; each record resets
// the spell without a new context and timer.
type idleTimer struct {
	ctx    context.Context
	cancel context.CancelFunc
	t      *time.Timer
}

func newIdleTimer(parent context.Context, d time.Duration) *idleTimer {
	ctx, cancel := context.WithCancel(parent)
	return &idleTimer{ctx: ctx, cancel: cancel, t: time.AfterFunc(d, cancel)}
}

func (it *idleTimer) stop() {
	if it != nil {
		it.t.Stop()
		it.cancel()
	}
}

// Drain finishes every report still open or held and returns them, with
// any items not yet returned: for a caller that stops reading (cancelled,
// or after an error). The stream can go on after it.
func (s *Stream) Drain() []Item {
	s.flush()
	out := s.queue
	s.queue = nil
	return out
}

// record takes one record: gap accounting, then the Assembler. A gap item
// goes after the events of reports that ended before it, even when the
// record after the gap is what completed them.
func (s *Stream) record(rec kmsg.Record) {
	s.stats.Records++
	gap := s.gap(rec.Seq)
	s.line++
	if n := len(s.segs); n == 0 || rec.Seq != s.segs[n-1].seq+uint64(s.line-s.segs[n-1].line) {
		s.segs = append(s.segs, segment{line: s.line, seq: rec.Seq})
		if len(s.segs) > maxSegments {
			s.segs = append(s.segs[:0], s.segs[len(s.segs)-maxSegments:]...)
		}
	}
	// The Assembler numbers the records as this stream does (one line
	// each), decodes the kernel's \xNN escapes (exact process names) and
	// skips records of user space.
	reps := s.asm.FeedKmsg(rec)
	s.pending = true
	switch {
	case s.opts.AfterKill == 0:
		// Only the quiet after a kill line uses the printing gaps.
	case strings.Contains(rec.Text, " invoked oom-killer: "):
		// The header's first line (dump_header(), mm/oom_kill.c).
		s.inReport, s.reportAt = true, rec.Usec
	case s.inReport && rec.Usec > s.reportAt:
		s.printGap = max(s.printGap, time.Duration(rec.Usec-s.reportAt)*time.Microsecond)
		s.reportAt = rec.Usec
	}
	if s.opts.AfterKill > 0 && strings.Contains(rec.Text, "Killed process ") {
		// The kill line (__oom_kill_process(), mm/oom_kill.c: "…Killed
		// process PID (comm) …"), printed after the rest of its report.
		s.killSeen = true
	}
	if gap == nil {
		s.reports(reps)
		return
	}
	var before, after []*oomlog.Report
	for _, r := range reps {
		if r.LastLine < s.line {
			before = append(before, r)
		} else {
			after = append(after, r)
		}
	}
	s.reports(before)
	s.addGap(*gap)
	s.reports(after)
}

// gap returns the gap before seq, if records are missing there.
func (s *Stream) gap(seq uint64) *Gap {
	overran := s.src.Overruns() > s.overruns
	s.overruns = s.src.Overruns()
	first := !s.seen
	prev := s.lastSeq
	s.seen, s.lastSeq = true, seq
	if !first {
		if seq > prev+1 {
			return &Gap{Cause: Overwritten, Next: seq, Lost: ptr(seq - prev - 1)}
		}
		return nil
	}
	a := s.opts.After
	switch {
	case a != nil && a.BootID != s.opts.BootID:
		// Sequence numbers restart at 0 with every boot.
		return &Gap{Cause: NewBoot, Next: seq, Lost: ptr(seq)}
	case a != nil:
		s.after = a
		if seq > a.Seq+1 {
			return &Gap{Cause: SinceCursor, Next: seq, Lost: ptr(seq - a.Seq - 1)}
		}
	case overran:
		return &Gap{Cause: Overwritten, Next: seq}
	}
	return nil
}

func (s *Stream) addGap(g Gap) {
	s.stats.Gaps++
	if g.Lost != nil {
		s.stats.Lost += *g.Lost
	}
	s.queue = append(s.queue, Item{BootID: s.opts.BootID, Gap: &g})
}

// quiet is how long the source may stay silent before the reports read
// so far are handed on: Idle, or after a kill line AfterKill, at least
// three times the longest gap between the open report's records.
func (s *Stream) quiet() time.Duration {
	if s.killSeen && s.opts.AfterKill > 0 {
		return min(s.opts.Idle, max(s.opts.AfterKill, 3*s.printGap))
	}
	return s.opts.Idle
}

// flush returns what the Assembler still holds.
func (s *Stream) flush() {
	s.reports(s.asm.Flush())
	s.pending, s.killSeen = false, false
	s.inReport, s.printGap = false, 0
}

// Cursor is where the stream stands, for a reader that persists it and
// resumes with Options.After: every event whose first record is at or
// before it has been returned by Next (or was at or before Options.After),
// and no record after it belongs to one. Unlike an Item's cursor it moves
// on with records that belong to no report, so a resumed stream does not
// take the records read before for lost ones. ok is false until a record
// was read (and no resume cursor of this boot applies).
func (s *Stream) Cursor() (c Cursor, ok bool) {
	if s.seen {
		// The first record of an event not yet returned: held by the
		// Assembler, or queued.
		var next uint64
		held := false
		if line, ok := s.asm.Pending(); ok {
			next, held = s.seqOf(line), true
		}
		for _, it := range s.queue {
			if it.Event != nil {
				if !held || it.FirstSeq < next {
					next, held = it.FirstSeq, true
				}
				break
			}
		}
		switch {
		case !held:
			c, ok = Cursor{BootID: s.opts.BootID, Seq: s.lastSeq}, true
		case next > 0:
			c, ok = Cursor{BootID: s.opts.BootID, Seq: next - 1}, true
		}
	}
	if a := s.after; a != nil && (!ok || a.Seq > c.Seq) {
		return *a, true
	}
	if a := s.opts.After; !s.seen && a != nil && a.BootID == s.opts.BootID {
		return *a, true
	}
	return c, ok
}

// reports explains finished reports and queues them.
func (s *Stream) reports(reps []*oomlog.Report) {
	for _, r := range reps {
		e := s.x.Explain(r)
		it := Item{Event: &e, Report: r, BootID: s.opts.BootID, FirstSeq: s.seqOf(r.FirstLine), LastSeq: s.seqOf(r.LastLine)}
		if r.Stamp.Seq != nil {
			it.FirstSeq = *r.Stamp.Seq
		}
		if r.Stamp.Uptime != nil {
			it.SinceBoot = time.Duration(math.Round(*r.Stamp.Uptime*1e6)) * time.Microsecond
		}
		if s.after != nil && it.FirstSeq <= s.after.Seq {
			s.stats.Resumed++
			continue
		}
		s.stats.Events++
		s.queue = append(s.queue, it)
	}
}

// seqOf is the sequence number of the record fed as line.
func (s *Stream) seqOf(line int) uint64 {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].line > line }) - 1
	if i < 0 {
		return 0
	}
	return s.segs[i].seq + uint64(line-s.segs[i].line)
}

// Explainer explains the reports of one log in order, remembering their
// victims: a victim the kernel is still reaping is skipped by the next
// OOM's scan (MMF_OOM_SKIP) although the next task table may list it.
type Explainer struct {
	// Options for every report; PriorVictims is the Explainer's.
	Options explain.Options
	prior   []int
}

// Explain explains r, the next report of the log.
func (x *Explainer) Explain(r *oomlog.Report) explain.Event {
	opts := x.Options
	opts.PriorVictims = x.prior
	e := explain.Explain(r, opts)
	if e.Analysis.KernelVictimPID != nil {
		x.prior = append(x.prior, *e.Analysis.KernelVictimPID)
		if len(x.prior) > priorVictimsKept {
			x.prior = x.prior[len(x.prior)-priorVictimsKept:]
		}
	}
	return e
}

func ptr[T any](v T) *T { return &v }
