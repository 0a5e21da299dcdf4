package oomlog

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oomkit/oomkit/internal/kmsg"
)

// Record is one line of kernel log text handed to an Assembler.
type Record struct {
	// Text is the line. Unless HasStamp is set, its log prefix (dmesg,
	// syslog, journal, /dev/kmsg record header) is parsed into the stamp
	// and removed. Embedded newlines and rsyslog "#012" escapes split it
	// into several lines that share the stamp.
	Text string
	// Stamp and HasStamp let a source that parsed the prefix itself pass
	// the bare message in Text (a /dev/kmsg reader should use FeedKmsg).
	Stamp    Stamp
	HasStamp bool
	// Line is the 1-based line number in the caller's input; 0 lets the
	// Assembler number records itself.
	Line int
}

// Stats counts what a Scanner or Assembler read, so callers can warn about
// input it could not use.
type Stats struct {
	Lines        int // lines (records) read
	LinesTooLong int // lines cut at Options.MaxLineBytes
	// InvalidLines are lines in or next to a report that could not be
	// read: NUL bytes, invalid UTF-8, or an OOM line missing its fields.
	InvalidLines int
	// OrphanReaperLines are oom_reaper lines whose victim was in no
	// report seen (its Killed line was before the input began).
	OrphanReaperLines int
	Reports           int // reports returned
}

// Options tune a Scanner or Assembler. The zero value is ready to use.
type Options struct {
	// MaxLineBytes caps a line's length; longer lines are cut and counted
	// in Stats.LinesTooLong (default 64 KiB).
	MaxLineBytes int
	// HoldLines is how many lines a finished report waits for the
	// oom_reaper lines of its victims before it is returned anyway
	// (default 4096). Flush returns held reports at once.
	HoldLines int
	// Location is the time zone of stamps that print none (dmesg -T,
	// syslog, "2006-01-02 15:04:05"); default UTC.
	Location *time.Location
	// ModTime is the modification time of the file being read, zero when
	// unknown (standard input, /dev/kmsg). A syslog stamp without a year
	// ("Jan 16 21:33:51") gets the latest year that does not put it after
	// ModTime: rotated logs keep the time of their last line. Such a
	// Stamp.Time is marked TimeYearInferred.
	ModTime time.Time
}

// Bounds on what the Assembler keeps. Each says why it is large enough for
// any real log, and what it protects against in a hostile one.
const (
	// defaultMaxLineBytes: the kernel prints at most 1 KiB per record
	// (LOG_LINE_MAX/PRINTKRB_RECORD_MAX, kernel/printk/printk.c), 8 KiB
	// once /dev/kmsg escapes it (CONSOLE_EXT_LOG_MAX); a syslog daemon
	// joining a record's embedded lines with "#012" (the ≤6.x memory.stat
	// block) makes a few KiB. 64 KiB keeps all of them whole and bounds a
	// line of garbage.
	defaultMaxLineBytes = 64 << 10
	// defaultHoldLines: the oom_reaper prints its line up to
	// OOM_REAPER_DELAY (2 s, queue_oom_reaper(), mm/oom_kill.c, 5.18+ and
	// stable backports) plus MAX_OOM_REAP_RETRIES × HZ/10 (1 s) after the
	// kill; 4096 lines cover those 3 s on a node logging over 1,000 lines
	// a second. A follower flushes on idle instead.
	defaultHoldLines = 4096
	// staleLines: out_of_memory() prints a whole report in one go under
	// oom_lock (mm/oom_kill.c); what comes between two of its lines is
	// other CPUs' and programs' output of those few milliseconds, far less
	// than this. An open report that gets no line of its own for this long
	// lost its end. (Until then the Scanner reads every line for it.)
	staleLines = 512
	// postKillLines: after the Killed line come only the group kill's
	// Killed lines (mem_cgroup_scan_tasks(oom_kill_memcg_member), still
	// under oom_lock) and, for a report whose summary named a victim, its
	// Killed line printed after another CPU's header.
	postKillLines = 64
	// maxTasks: rows kept per table. dump_tasks() prints one row per
	// process; 131,072 is 4× the default pid_max (32768,
	// include/linux/threads.h) and bounds a report to ~20 MB.
	maxTasks = 1 << 17
	// maxWarnings per report: enough to see what went wrong.
	maxWarnings = 64
	// maxStats: memory.stat keys kept; memory_stat_format()
	// (mm/memcontrol.c) prints about 60 in 6.x.
	maxStats = 512
	// maxOpen: reports open at once. A kernel prints its reports one
	// after another (oom_lock); several are open only when a report lost
	// its end or a log interleaves CPUs' output by caller id. Eight bounds
	// the routing work per line.
	maxOpen = 8
)

func (o Options) withDefaults() Options {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = defaultMaxLineBytes
	}
	if o.HoldLines <= 0 {
		o.HoldLines = defaultHoldLines
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	return o
}

// stage is how far a report has got.
type stage uint8

const (
	beforeKill   stage = iota // header, memcg or Mem-Info block, task table
	victimChosen              // ≤5.0 "Kill process … or sacrifice child" read; "Killed process" due
	afterKill                 // kill line read; group-kill lines may follow
)

// block is the multi-line block whose untagged lines a report is reading.
type block uint8

const (
	noBlock      block = iota
	statsBlock         // memory.stat "key value" lines after "Memory cgroup stats for"
	memInfoBlock       // show_mem() lines after "Mem-Info:"
	taskTable          // rows after the table header
)

// builder is a report being read.
type builder struct {
	r      *Report
	caller string
	stage  stage
	block  block
	cols   []column
	// statsSeen: a "Memory cgroup stats for" block was read (≤5.2
	// prints one per memcg of the subtree; the first is the OOMing one).
	statsSeen bool
	// groupOpen: the memory.oom.group line was read; Killed lines follow.
	groupOpen bool
	// boot is the host and boot the report was printed in.
	boot bootKey
	// last is the report's last line read, kept so that a line a
	// terminal or a mail wrapped can be read again whole (wrap.go).
	last lastRead
	// lead is the raw text before " invoked oom-killer" on the header:
	// the trigger's comm, and perhaps more of a prefix oomlog did not
	// know, which the stack dump banner's comm then settles.
	lead       string
	lastLine   int
	finishedAt int
	dropped    int // task rows over maxTasks
	// scratch is the pooled table the rows are read into (read.go).
	scratch *[]Task
}

// logLine is one message line, its prefix removed.
type logLine struct {
	text  string // as printed, leading blanks kept (a task name may start with one)
	body  string // text without leading blanks
	kind  lineKind
	no    int
	stamp Stamp
	// prefixed: the raw line carried a log prefix (a stamp, a tag), so a
	// line without one right after it may be its wrapped rest (wrap.go).
	prefixed bool
}

// Assembler groups kernel log lines into Reports. Feed it lines in order;
// it returns each report once the report is complete: at the next report's
// first line, when its lines stop, or on Flush. Finished reports wait up to
// Options.HoldLines lines for their victims' oom_reaper lines; a caller that
// follows a live log should call Flush when the log has been idle for a few
// seconds (the reaper prints within ~3 s of the kill).
type Assembler struct {
	opts Options
	line int
	open []*builder // reports being read, oldest first
	done []*builder // finished reports held for their reaper lines
	// prevKmsg: the last line was a /dev/kmsg record, so lines starting
	// with a space are its dictionary, not text.
	prevKmsg bool
	// cur is the message line being read (feedLine).
	cur logLine
	// uptimeScratch holds the uptime of the line being read until the
	// line begins a report (ownStamp).
	uptimeScratch float64
	// raw is the line being fed, prefix and all, until its first message
	// line was read: where oomlog did not know the prefix, the message
	// is looked for in it.
	raw string
	// shape is the prefix oomlog learned (message.go) from the line that
	// began the report being read, nil while prefixes are ones it knows;
	// viaShape is set while a line found that way is read.
	shape    prefixShape
	viaShape bool
	started  int // reports begun
	// invalidLine is the last line counted in stats.InvalidLines: a line
	// with two faults is one line that could not be read.
	invalidLine int
	// prefixed: the line being read carried a log prefix.
	prefixed bool
	// boot is the host and boot the lines come from; release the kernel
	// release last printed in it (boot.go).
	boot    bootKey
	release string
	uptime  float64 // the last dmesg uptime read
	// stack is the last stack dump banner read outside a report, and
	// oomFrame the line of the last OOM-killer frame of a stack trace
	// seen outside one (excerpt.go).
	stack *stackBanner
	// export is set once the input turned out to be journalctl -o export.
	export *exportReader
	// expireAt is the line at which the first held report may be returned,
	// as expire last worked out; lines read in between cannot change it
	// unless the Assembler reads them (skip does not).
	expireAt int
	stats    Stats
	out      []*Report
}

// NewAssembler returns an Assembler with opts (zero value: defaults).
func NewAssembler(opts Options) *Assembler {
	return &Assembler{opts: opts.withDefaults()}
}

// Feed adds one record and returns the reports it completed, if any.
func (a *Assembler) Feed(rec Record) []*Report {
	a.count(rec.Line)
	if rec.HasStamp {
		a.prevKmsg = false
		a.feedBody(rec.Text, rec.Stamp, a.line)
	} else {
		a.feedRaw(rec.Text, a.line)
	}
	a.expire()
	return a.take()
}

// FeedKmsg adds one /dev/kmsg record (from kmsg.Reader.Next) and returns
// the reports it completed, if any. Records of user space (a facility
// other than the kernel's) are counted and skipped; the kernel's \xNN
// escapes in the text are decoded.
func (a *Assembler) FeedKmsg(rec kmsg.Record) []*Report {
	a.count(0)
	a.prevKmsg = false
	if rec.Facility() == 0 {
		seq, up := rec.Seq, float64(rec.Usec)/1e6
		a.feedKmsgText(rec.Text, Stamp{Seq: &seq, Uptime: &up, Caller: rec.Caller}, a.line)
	}
	a.expire()
	return a.take()
}

// count numbers the next line: lineNo when the caller numbers its lines,
// else one more than the last.
func (a *Assembler) count(lineNo int) {
	a.line++
	if lineNo > 0 {
		a.line = lineNo
	}
	a.stats.Lines++
}

// Flush finishes every report still open or held and returns them.
func (a *Assembler) Flush() []*Report {
	if x := a.export; x != nil && x.first != 0 {
		// The last entry of an export ends with the input, not an empty line.
		a.feedJournal(&x.entry, x.first)
		x.entry, x.first = journalEntry{}, 0
	}
	for len(a.open) > 0 {
		a.finish(a.open[0])
	}
	for _, b := range a.done {
		a.emit(b)
	}
	a.done = a.done[:0]
	return a.take()
}

// Stats returns the counts so far.
func (a *Assembler) Stats() Stats { return a.stats }

func (a *Assembler) take() []*Report {
	if len(a.out) == 0 {
		return nil
	}
	out := a.out
	a.out = nil
	return out
}

// busy reports whether a report is open.
func (a *Assembler) busy() bool { return len(a.open) > 0 }

// needsEveryLine reports whether an open report may read a line that the
// Scanner's prefilter (mayStart) would skip: one still before its kill,
// whose blocks hold lines without any of the prefilter's words (task
// rows' names aside, memory.stat and Mem-Info lines, the cpuset line), or
// one whose last line was the line before (the next may be its wrapped
// rest). Otherwise the lines that matter all pass the prefilter: kill,
// group-kill and reaper lines, banners, and every line that begins a
// report; held reports wait only for those.
func (a *Assembler) needsEveryLine() bool {
	for _, b := range a.open {
		if b.stage != afterKill || b.lastLine == a.line {
			return true
		}
	}
	return false
}

// skip counts a line that the prefilter ruled out, remembering whether it
// was a /dev/kmsg record (whose dictionary lines follow).
func (a *Assembler) skip(lineNo int, line string) {
	a.line = lineNo
	a.stats.Lines++
	// As feedRaw: a dictionary line keeps the record's state.
	if !a.prevKmsg || len(line) == 0 || line[0] != ' ' {
		a.prevKmsg = kmsgHead(stripLevel(line)) >= 0
	}
	if a.busy() || len(a.done) > 0 && a.line >= a.expireAt {
		a.expire()
	}
}

// trimEOL is strings.TrimRight(s, "\r\n") without building the cutset
// for every line.
func trimEOL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// feedRaw parses the prefix of one raw line and feeds its message text.
func (a *Assembler) feedRaw(line string, lineNo int) {
	if a.export != nil || exportStarts(line) {
		if a.export == nil {
			a.export = &exportReader{}
		}
		a.exportLine(line, lineNo)
		return
	}
	line = trimEOL(line)
	if len(line) > 0 && line[0] == '{' {
		if e, ok := journalJSON(line); ok {
			a.prevKmsg = false
			a.feedJournal(&e, lineNo)
			return
		}
	}
	if a.prevKmsg && len(line) > 0 && line[0] == ' ' {
		// Dictionary entries of the previous /dev/kmsg record ("
		// SUBSYSTEM=…"), not message text.
		return
	}
	if a.shape != nil {
		if prefix, body, ok := a.shape.strip(line); ok {
			a.prevKmsg = false
			a.viaShape, a.prefixed = true, prefix != ""
			a.feedBody(body, prefixStamp(prefix, a.opts.Location), lineNo)
			a.viaShape = false
			return
		}
	}
	var st Stamp
	body, src := splitPrefixInto(line, &st, a.opts.Location, &a.uptimeScratch)
	a.prevKmsg = src == srcKmsg || src == srcForeignKmsg
	switch src {
	case srcForeign, srcForeignKmsg:
		return
	case srcKmsg:
		a.feedKmsgText(body, st, lineNo)
		return
	case srcPlain:
		if st == (Stamp{}) && a.wrappedRest(line, lineNo) {
			return
		}
	}
	a.prefixed = len(body) < len(line)
	a.raw = line
	a.feedBody(body, st, lineNo)
	a.raw = ""
}

// refeed handles a line whose prefix oomlog did not know: when no report
// is open and the line says nothing as parsed, or when its prefix leaked
// into a comm or a kill message, it looks for the kernel's message in
// the raw line, feeds that instead, and when it begins a report, gives
// the report the prefix's shape to strip from its later lines. It reports
// whether it did.
func (a *Assembler) refeed(raw string, l *logLine) bool {
	// Text oomlog does not know (outside a report), or a known line whose
	// name field swallowed a prefix.
	unknown := l.kind == lineOther && !a.busy()
	if !unknown && !leaksPrefix(l.body, l.kind) {
		return false
	}
	start, ok := findMessage(raw)
	if !ok {
		return false
	}
	msg := raw[start:]
	first := msg
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	if i := strings.Index(first, "#012"); i >= 0 {
		first = first[:i]
	}
	kind := classify(strings.TrimLeft(first, " \t"))
	if g := &grammar[kind]; !g.opens && !g.wide || leaksPrefix(strings.TrimLeft(first, " \t"), kind) {
		return false
	}
	st := prefixStamp(raw[:start], a.opts.Location)
	if st.Text == "" {
		st.Text, st.Time, st.TimeFrom = l.stamp.Text, l.stamp.Time, l.stamp.TimeFrom
	}
	if st.Host == "" {
		st.Host = l.stamp.Host
	}
	// The prefix's shape holds for the lines after this one only if this
	// line began a report or was a stack banner that may begin one.
	old, started := a.shape, a.started
	a.shape = learnShape(raw[:start])
	a.viaShape, a.prefixed = true, start > 0
	a.feedBody(msg, st, l.no)
	a.viaShape = false
	if a.started == started && kind != lineStack {
		a.shape = old
	}
	return true
}

// feedKmsgText feeds the text of a /dev/kmsg record: the kernel escaped
// non-printable bytes (and newlines) in it as \xNN.
func (a *Assembler) feedKmsgText(text string, st Stamp, lineNo int) {
	if strings.Contains(text, `\x`) {
		text = unescapeKmsg(text)
	}
	a.feedBody(text, st, lineNo)
}

// feedBody splits embedded newlines and rsyslog "#012" escapes and feeds
// each piece.
func (a *Assembler) feedBody(body string, st Stamp, lineNo int) {
	for {
		i := strings.IndexByte(body, '\n')
		j := strings.Index(body, "#012")
		if i < 0 && j < 0 {
			a.feedLine(strings.TrimRight(body, "\r"), st, lineNo)
			return
		}
		cut, w := i, 1
		if i < 0 || (j >= 0 && j < i) {
			cut, w = j, 4
		}
		a.feedLine(strings.TrimRight(body[:cut], "\r"), st, lineNo)
		body = body[cut+w:]
	}
}

// unescapeKmsg undoes /dev/kmsg's "\xNN" escaping of non-printable bytes.
func unescapeKmsg(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, ok := hexByte(s[i+2], s[i+3]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hexByte(h, l byte) (byte, bool) {
	x, ok1 := hexVal(h)
	y, ok2 := hexVal(l)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// feedLine reads one message line: it finds the report the line belongs
// to, begins a new one when the grammar says the line cannot continue it,
// and reads the line into it.
func (a *Assembler) feedLine(text string, st Stamp, lineNo int) {
	// The line lives in the Assembler: the grammar's readers are called
	// through the table, so a local would escape to the heap per line.
	l := &a.cur
	*l = logLine{text: text, body: trimBlanks(text), no: lineNo, stamp: st, prefixed: a.prefixed}
	l.kind = classify(l.body)
	if raw := a.raw; raw != "" {
		// Only the first message of a raw line follows its prefix.
		a.raw = ""
		if a.refeed(raw, l) {
			return
		}
	}
	g := &grammar[l.kind]
	b := a.route(st.Caller, l.kind)
	// Only lines that are used follow the boot (noteStamp): the Scanner's
	// prefilter skips others unread, and both readers must agree.
	if b == nil && !g.opens && !g.wide {
		if l.kind == lineOther && isOOMFrame(l.body) {
			a.noteStamp(&l.stamp)
			a.openFromTrace(l)
		}
		return
	}
	if g.wide {
		if b != nil && !validText(text) {
			a.malformed(b, lineNo, "NUL bytes or invalid UTF-8 in the log text")
		}
		a.noteStamp(&l.stamp)
		g.read(a, b, l)
		return
	}
	if o := a.killOwner(l, b); o != nil {
		b = o
	} else if b == nil || g.follows != nil && !g.follows(b) {
		if !g.opens || !opensHere(l) {
			return
		}
		if b != nil {
			a.finish(b)
		}
		a.noteStamp(&l.stamp)
		b = a.start(st, lineNo, st.Caller)
	}
	b.remember(l)
	if g.read(a, b, l) {
		a.noteStamp(&l.stamp)
		b.touch(lineNo)
	}
	if b.lastLine == lineNo && !validText(text) {
		// Only a line the report used is its to warn about: the Scanner
		// does not read the others.
		a.malformed(b, lineNo, "NUL bytes or invalid UTF-8 in the log text")
	}
}

// trimBlanks removes leading spaces and tabs (strings.TrimLeft builds a
// set of its cutset on every call).
func trimBlanks(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return s[i:]
}

// opensHere reports whether an opening line can begin a report on its
// own: a task row only when its shape is one the kernel prints.
func opensHere(l *logLine) bool {
	if l.kind != lineTaskRow {
		return true
	}
	_, _, ok := rowShape(l.body)
	return ok
}

// killOwner returns the report a kill line belongs to when that is not
// cur: without caller ids, a report's kill line can come after the next
// report's header (another CPU printed in between), and it belongs to the
// report whose summary or "Kill process" line named its pid. Nil when cur
// is that report, or none is.
func (a *Assembler) killOwner(l *logLine, cur *builder) *builder {
	if l.kind != lineKilled && l.kind != lineExiting || cur == nil {
		return nil
	}
	pid, ok := killedPID(l.body)
	if !ok {
		return nil
	}
	names := func(b *builder) bool {
		r := b.r
		return len(r.Victims) == 0 && !r.NoKillable &&
			(r.SummaryPID != nil && *r.SummaryPID == pid || r.ChosenPID != nil && *r.ChosenPID == pid)
	}
	if names(cur) {
		return nil
	}
	for i := len(a.open) - 1; i >= 0; i-- {
		if a.open[i] != cur && names(a.open[i]) {
			return a.open[i]
		}
	}
	for i := len(a.done) - 1; i >= 0; i-- {
		if names(a.done[i]) {
			return a.done[i]
		}
	}
	return nil
}

// killedPID reads the pid of a "Killed process N" or "OOM victim N" line.
func killedPID(body string) (int, bool) {
	i := strings.Index(body, "Killed process ")
	n := len("Killed process ")
	if i < 0 {
		if i = strings.Index(body, "OOM victim "); i < 0 {
			return 0, false
		}
		n = len("OOM victim ")
	}
	r := body[i+n:]
	k := 0
	for k < len(r) && isDigit(r[k]) {
		k++
	}
	p := parseIntPtr(r[:k])
	if p == nil {
		return 0, false
	}
	return *p, true
}

// validText reports whether s has no NUL bytes and is valid UTF-8.
func validText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// route picks the open report a line belongs to: the one with the line's
// printk caller id when the log has them, else the newest.
func (a *Assembler) route(caller string, kind lineKind) *builder {
	if len(a.open) == 0 {
		return nil
	}
	if caller != "" {
		for i := len(a.open) - 1; i >= 0; i-- {
			if a.open[i].caller == caller {
				return a.open[i]
			}
		}
		if grammar[kind].opens {
			return nil
		}
	}
	return a.open[len(a.open)-1]
}

// start opens a new report at line lineNo.
func (a *Assembler) start(st Stamp, lineNo int, caller string) *builder {
	if len(a.open) >= maxOpen {
		a.finish(a.open[0])
	}
	if !a.viaShape {
		// The report's first line has a prefix oomlog knows: a prefix it
		// learned earlier no longer applies.
		a.shape = nil
	}
	a.started++
	b := &builder{r: &Report{FirstLine: lineNo, LastLine: lineNo, Stamp: a.ownStamp(st)}, caller: caller, lastLine: lineNo, boot: a.boot}
	a.open = append(a.open, b)
	return b
}

func (b *builder) touch(lineNo int) {
	b.lastLine = lineNo
	if lineNo > b.r.LastLine {
		b.r.LastLine = lineNo
	}
}

func (b *builder) warn(w string) {
	if len(b.r.Warnings) < maxWarnings {
		b.r.Warnings = append(b.r.Warnings, w)
	}
}

// malformed counts a line of b that could not be read and says so in b.
func (a *Assembler) malformed(b *builder, lineNo int, what string) {
	a.countInvalid(lineNo)
	b.warn(fmt.Sprintf("line %d: %s", lineNo, what))
}

// countInvalid counts line lineNo as one that could not be read, once.
func (a *Assembler) countInvalid(lineNo int) {
	if lineNo != a.invalidLine || a.stats.InvalidLines == 0 {
		a.stats.InvalidLines++
		a.invalidLine = lineNo
	}
}

// ownStamp returns st with its own copy of the uptime where st's points
// into the scratch of the line being read.
func (a *Assembler) ownStamp(st Stamp) Stamp {
	if st.Uptime == &a.uptimeScratch {
		v := a.uptimeScratch
		st.Uptime = &v
	}
	return st
}

// finish closes b and holds it for reaper lines.
func (a *Assembler) finish(b *builder) {
	for i, o := range a.open {
		if o == b {
			a.open = append(a.open[:i], a.open[i+1:]...)
			break
		}
	}
	// A report that printed no stack dump banner of its own (cut short,
	// or interleaved with another splat) was printed by the kernel that
	// printed the lines before it in the same boot, or after it (boot.go).
	a.inferRelease(b)
	b.finishedAt = a.line
	a.done = append(a.done, b)
}

// finishAll closes every open report: the log moved on (a new boot).
func (a *Assembler) finishAll() {
	for len(a.open) > 0 {
		a.finish(a.open[0])
	}
}

// expire finishes stale open reports and releases held reports whose reaper
// lines came or whose wait is over.
func (a *Assembler) expire() {
	for i := 0; i < len(a.open); {
		b := a.open[i]
		limit := staleLines
		if b.stage == afterKill {
			limit = postKillLines
		}
		if a.line-b.lastLine > limit {
			a.finish(b)
			continue
		}
		i++
	}
	n := 0
	a.expireAt = math.MaxInt
	for n < len(a.done) {
		b := a.done[n]
		if hold := a.holdFor(b); a.line-b.finishedAt < hold {
			// Reports are returned in order: the first still held
			// decides when anything can be next.
			a.expireAt = b.finishedAt + hold
			break
		}
		a.emit(b)
		n++
	}
	if n > 0 {
		a.done = append(a.done[:0], a.done[n:]...)
	}
}

// holdFor is how many lines a finished report may wait for lines that
// still belong to it: its victims' oom_reaper lines (Options.HoldLines, on
// kernels with a reaper, 4.6+, or unknown ones), or its kill line when its
// summary named a victim but the next report began first (postKillLines).
func (a *Assembler) holdFor(b *builder) int {
	r := b.r
	if r.KernelVersion == "" {
		// Wait for a later stack dump banner of the same boot to name
		// the kernel (boot.go), as long as for reaper lines.
		return a.opts.HoldLines
	}
	if len(r.Victims) == 0 {
		if !r.NoKillable && r.Panic == "" && (r.SummaryPID != nil || r.ChosenPID != nil) {
			return postKillLines
		}
		return 0
	}
	if maj, min, _, ok := releaseOf(r.KernelVersion); ok && (maj < 4 || maj == 4 && min < 6) {
		return 0
	}
	for _, v := range r.Victims {
		if !v.Reaped && !v.ReapFailed && !v.Exiting {
			return a.opts.HoldLines
		}
	}
	return 0
}

// emit returns b's report. A report whose summary line named a victim
// but whose Killed line is not in the log (an excerpt, a grep for
// oom-kill:, a journal that dropped a line) lists that victim, marked
// FromSummary: the summary is printed as the kill begins
// (oom_kill_process(), mm/oom_kill.c), so the kernel did kill it.
func (a *Assembler) emit(b *builder) {
	r := b.r
	b.keepTable()
	r.Truncated = len(r.Victims) == 0 && !r.NoKillable
	if len(r.Victims) == 0 && r.SummaryPID != nil && !r.NoKillable {
		r.Victims = append(r.Victims, Victim{PID: *r.SummaryPID, Comm: r.SummaryComm, UID: r.SummaryUID, FromSummary: true})
	}
	inferYear(&r.Stamp, a.opts.ModTime, a.opts.Location)
	if b.dropped > 0 && len(b.r.Warnings) > 0 {
		for i, w := range b.r.Warnings {
			if strings.HasPrefix(w, "task table longer than") {
				b.r.Warnings[i] = fmt.Sprintf("task table longer than %d rows; %d rows were not kept", maxTasks, b.dropped)
			}
		}
	}
	a.stats.Reports++
	a.out = append(a.out, b.r)
}
