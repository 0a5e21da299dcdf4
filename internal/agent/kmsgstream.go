package agent

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/kfile"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/oomlog"
	"github.com/oomkit/oomkit/internal/proc"
)

// RecordSource yields kernel log records in order: /dev/kmsg, or a
// reader a test injects (Config.OpenRecords) to lose records on purpose.
type RecordSource interface {
	// Next returns the next record; when none is waiting it blocks until
	// one comes or ctx ends (then it returns ctx's error).
	Next(ctx context.Context) (kmsg.Record, error)
	Close() error
}

// Timing of the kernel log stream. A report's records are printed within
// microseconds of each other under oom_lock (mm/oom_kill.c), so once a
// kill line has been read and the log stays quiet for killQuiet, the
// report is complete and is handed on: that keeps a kill's latency to
// milliseconds. A report whose header was read but whose kill line has not
// come is given headerQuiet (the printing task can be preempted) before it
// is handed on as it is.
const (
	killQuiet   = 5 * time.Millisecond
	headerQuiet = 2 * time.Second
	idleReport  = 2 * time.Second // how often a quiet stream says it is drained
)

// seenReport is a report read from the kernel log.
type seenReport struct {
	r *oomlog.Report
	// gapBefore is true when records were lost just before the report's
	// first record (its start may be what was lost).
	gapBefore bool
	// procCgroup maps victim PIDs to the memcg /proc/PID/cgroup named when
	// the kill line was read ("" when the process was already gone).
	procCgroup map[int]string
	at         time.Time
	// initial is true for reports that were in the ring when the agent
	// started.
	initial bool
}

// kmsgBatch is what the stream hands the agent's loop.
type kmsgBatch struct {
	reports []seenReport
	// last is the sequence number of the last record read; safe the
	// highest one below which every record is fully handled (no report is
	// still being assembled): the cursor to save.
	last, safe uint64
	haveLast   bool
	// lost counts records overwritten before they were read; overruns the
	// times it happened.
	lost, overruns uint64
	// drained is true when the ring had no more records.
	drained bool
	// initial is true until the ring was drained once (records that were
	// in the ring when the agent started).
	initial bool
	// killLine is true when a kill line was read: the kill counters just
	// went up.
	killLine bool
}

// kmsgStream turns records into reports (oomlog.Assembler) and batches.
type kmsgStream struct {
	src         RecordSource
	from        uint64 // first sequence number wanted
	checkStart  bool   // a first record after from means records were lost
	procRoot    string
	v1          bool
	out         chan<- kmsgBatch
	onMalformed func(err error)

	asm      *oomlog.Assembler
	batch    kmsgBatch
	last     uint64
	haveLast bool
	openFrom uint64 // first record of a report still being assembled
	open     bool
	killSeen bool      // a kill line was fed since the last flush
	headerAt time.Time // when the open report's header was read
	sentAt   time.Time
	initial  bool
	pending  map[int]string
	gap      bool // records were lost since the last report
}

// run reads until ctx ends or the source fails.
func (s *kmsgStream) run(ctx context.Context) error {
	s.asm = oomlog.NewAssembler(oomlog.Options{})
	// Only on the first start are the ring's records from before the
	// agent; after that, every record past the cursor is new to it.
	s.initial = !s.checkStart
	for {
		wait := idleReport
		switch {
		case s.killSeen:
			wait = killQuiet
		case s.open:
			wait = max(time.Until(s.headerAt.Add(headerQuiet)), time.Millisecond)
		}
		nctx, cancel := context.WithTimeout(ctx, wait)
		rec, err := s.src.Next(nctx)
		cancel()
		switch {
		case err == nil:
			s.record(rec)
			if time.Since(s.sentAt) > 250*time.Millisecond {
				s.send(false)
			}
		case ctx.Err() != nil:
			s.flush()
			s.send(false)
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if s.killSeen || (s.open && time.Since(s.headerAt) >= headerQuiet) {
				s.flush()
			}
			s.initial = s.initial && s.open
			s.send(true)
		case errors.Is(err, kmsg.ErrMalformed):
			s.onMalformed(err)
		case errors.Is(err, io.EOF):
			// A source that ends (a test's) is drained for good.
			s.flush()
			s.send(true)
			<-ctx.Done()
			return ctx.Err()
		default:
			s.flush()
			s.send(false)
			return err
		}
	}
}

// record handles one record.
func (s *kmsgStream) record(rec kmsg.Record) {
	if s.haveLast && rec.Seq <= s.last || !s.haveLast && rec.Seq < s.from {
		return // already handled before a restart
	}
	switch {
	case s.haveLast && rec.Seq > s.last+1:
		s.lose(rec.Seq - s.last - 1)
	case !s.haveLast && s.checkStart && rec.Seq > s.from:
		s.lose(rec.Seq - s.from)
	}
	s.last, s.haveLast = rec.Seq, true
	text := rec.Text
	if strings.Contains(text, " invoked oom-killer: ") {
		if !s.open {
			s.openFrom = rec.Seq
		}
		s.open, s.headerAt = true, time.Now()
	}
	if pid, ok := killLinePID(text); ok {
		if !s.open {
			s.openFrom, s.open = rec.Seq, true
		}
		s.killSeen = true
		s.batch.killLine = true
		if s.pending == nil {
			s.pending = map[int]string{}
		}
		s.pending[pid] = s.lookup(pid)
	}
	seq, up := rec.Seq, float64(rec.Usec)/1e6
	s.take(s.asm.Feed(oomlog.Record{Text: unescapeKmsg(text), HasStamp: true,
		Stamp: oomlog.Stamp{Seq: &seq, Uptime: &up, Caller: rec.Caller}}))
}

// unescapeKmsg undoes /dev/kmsg's escaping of bytes below ' ', from DEL
// up and of the backslash as \xNN (msg_add_ext_text(),
// kernel/printk/printk.c), so process names keep their exact bytes.
func unescapeKmsg(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// lose notes records overwritten before they were read.
func (s *kmsgStream) lose(n uint64) {
	s.batch.lost += n
	s.batch.overruns++
	s.gap = true
}

// flush hands on every report the assembler holds.
func (s *kmsgStream) flush() {
	s.take(s.asm.Flush())
	s.open, s.killSeen = false, false
}

// take adds finished reports to the batch.
func (s *kmsgStream) take(reps []*oomlog.Report) {
	for _, r := range reps {
		sr := seenReport{r: r, at: time.Now(), procCgroup: map[int]string{}, initial: s.initial}
		for _, v := range r.Victims {
			if cg, ok := s.pending[v.PID]; ok {
				sr.procCgroup[v.PID] = cg
				delete(s.pending, v.PID)
			}
		}
		if s.gap {
			sr.gapBefore = true
		}
		s.batch.reports = append(s.batch.reports, sr)
	}
	if len(reps) > 0 {
		s.gap = false
	}
	if len(s.pending) > 64 {
		clear(s.pending)
	}
}

// send hands the batch to the loop.
func (s *kmsgStream) send(drained bool) {
	b := s.batch
	b.last, b.haveLast, b.drained, b.initial = s.last, s.haveLast, drained, s.initial
	b.safe = s.last
	if s.open && s.openFrom > 0 {
		b.safe = s.openFrom - 1
	}
	if !b.haveLast && len(b.reports) == 0 && b.lost == 0 && !drained {
		return
	}
	s.out <- b
	s.batch = kmsgBatch{}
	s.sentAt = time.Now()
}

// lookup reads the memcg of pid from /proc/PID/cgroup: the victim is
// dying but its /proc entry stays until its parent reaps it, so this
// names the victim's cgroup for kill lines that come without a report.
func (s *kmsgStream) lookup(pid int) string {
	b, err := kfile.Read(filepath.Join(s.procRoot, strconv.Itoa(pid), "cgroup"), kfile.Small)
	if err != nil {
		return ""
	}
	return proc.ParseMemoryCgroup(b, s.v1)
}

// killLinePID finds the victim in a kill line: "…: Killed process PID
// (comm) …" (__oom_kill_process(), mm/oom_kill.c, 4.x+).
func killLinePID(text string) (int, bool) {
	i := strings.Index(text, "Killed process ")
	if i < 0 {
		return 0, false
	}
	rest := text[i+len("Killed process "):]
	j := strings.IndexByte(rest, ' ')
	if j <= 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(rest[:j])
	return pid, err == nil && pid > 0
}
