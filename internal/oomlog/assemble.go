package oomlog

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one line of kernel log text handed to an Assembler.
type Record struct {
	// Text is the line. Unless HasStamp is set, its log prefix (dmesg,
	// syslog, journal, /dev/kmsg record header) is parsed into the stamp
	// and removed. Embedded newlines and rsyslog "#012" escapes split it
	// into several lines that share the stamp.
	Text string
	// Stamp and HasStamp let a source that parsed the prefix itself (a
	// /dev/kmsg reader: seq and µs) pass the bare message in Text.
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
	// "2006-01-02 15:04:05"); default UTC.
	Location *time.Location
}

const (
	defaultMaxLine = 64 << 10
	defaultHold    = 4096
	staleLines     = 4096    // an open report with no line of its own for this long is over
	postKillLines  = 64      // group-kill lines follow the first Killed line closely
	maxTasks       = 1 << 17 // rows kept per table; more are counted in a warning
	maxWarnings    = 64
	maxStats       = 512
	maxOpen        = 8
)

func (o Options) withDefaults() Options {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = defaultMaxLine
	}
	if o.HoldLines <= 0 {
		o.HoldLines = defaultHold
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	return o
}

type stage uint8

const (
	stOpen   stage = iota // before the kill line
	stChosen              // "Kill process … or sacrifice child" seen, "Killed process" due
	stKilled              // kill line seen; group-kill lines may follow
)

type section uint8

const (
	secNone section = iota
	secStats
	secMemInfo
	secTable
)

// builder is a report being read.
type builder struct {
	r          *Report
	caller     string
	stage      stage
	sec        section
	cols       []column
	statsSeen  bool // a "Memory cgroup stats for" block was read (≤5.2 prints one per memcg)
	groupOpen  bool
	lastLine   int
	finishedAt int
	dropped    int // task rows over maxTasks
}

// Assembler groups kernel log lines into Reports. Feed it lines in order;
// it returns each report once the report is complete: at the next report's
// first line, when its lines stop, or on Flush. Finished reports wait up to
// Options.HoldLines lines for their victims' oom_reaper lines; a caller that
// follows a live log should call Flush when the log has been idle for a few
// seconds (the reaper prints within ~2 s of the kill).
type Assembler struct {
	opts        Options
	line        int
	open        []*builder
	done        []*builder
	lastRelease string
	prevKmsg    bool
	stats       Stats
	out         []*Report
}

// NewAssembler returns an Assembler with opts (zero value: defaults).
func NewAssembler(opts Options) *Assembler {
	return &Assembler{opts: opts.withDefaults()}
}

// Feed adds one record and returns the reports it completed, if any.
func (a *Assembler) Feed(rec Record) []*Report {
	a.line++
	if rec.Line > 0 {
		a.line = rec.Line
	}
	a.stats.Lines++
	if rec.HasStamp {
		a.prevKmsg = false
		a.feedBody(rec.Text, rec.Stamp, a.line)
	} else {
		a.feedRaw(rec.Text, a.line)
	}
	a.expire()
	return a.take()
}

// Flush finishes every report still open or held and returns them.
func (a *Assembler) Flush() []*Report {
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

// busy reports whether a report is open; when none is, lines that fail the
// prefilter can be skipped unparsed (held reports only wait for oom_reaper
// lines, which pass it).
func (a *Assembler) busy() bool { return len(a.open) > 0 }

// skip counts a line that the prefilter ruled out, remembering whether it
// was a /dev/kmsg record (whose dictionary lines follow).
func (a *Assembler) skip(lineNo int, line []byte) {
	a.line = lineNo
	a.stats.Lines++
	// As feedRaw: a dictionary line keeps the record's state.
	if !a.prevKmsg || len(line) == 0 || line[0] != ' ' {
		a.prevKmsg = kmsgHead(stripLevel(line)) >= 0
	}
	if len(a.done) > 0 {
		a.expire()
	}
}

// feedRaw parses the prefix of one raw line and feeds its message text.
func (a *Assembler) feedRaw(line string, lineNo int) {
	line = strings.TrimRight(line, "\r\n")
	if a.prevKmsg && len(line) > 0 && line[0] == ' ' {
		// Dictionary entries of the previous /dev/kmsg record ("
		// SUBSYSTEM=…"), not message text.
		return
	}
	var st Stamp
	body, src := splitPrefix(line, &st, a.opts.Location)
	a.prevKmsg = src == srcKmsg
	if src == srcForeign {
		return
	}
	if src == srcKmsg {
		// A raw newline in a record starts its dictionary (" SUBSYSTEM=…");
		// newlines in the text itself are escaped as \x0a.
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			body = body[:i]
		}
	}
	if src == srcKmsg && strings.Contains(body, `\x`) {
		body = unescapeKmsg(body)
	}
	a.feedBody(body, st, lineNo)
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

// feedLine handles one message line.
func (a *Assembler) feedLine(s string, st Stamp, lineNo int) {
	body := strings.TrimLeft(s, " \t")
	kind := classify(body)
	b := a.route(st.Caller, kind)

	if b == nil && (kind == kOther || kind == kUsage && !strings.HasPrefix(body, "memory: ")) {
		// Only the first line of a memcg block can begin a report.
		return
	}
	if b != nil && !validText(s) {
		a.stats.InvalidLines++
		b.warn(fmt.Sprintf("line %d: NUL bytes or invalid UTF-8 in the log text", lineNo))
	}

	switch kind {
	case kReaper:
		a.reaper(body, lineNo)
		return
	case kCPU:
		comm, pid, release, ok := parseCPULine(body)
		if !ok {
			return
		}
		if release != "" {
			a.lastRelease = release
		}
		if b != nil && b.stage == stOpen && b.r.Trigger != nil && b.r.Trigger.PID == nil && comm == b.r.Trigger.Comm {
			b.r.Trigger.PID = pid
			b.r.KernelVersion = release
			b.touch(lineNo)
		}
		return
	case kBoot:
		// A new boot: nothing open can continue.
		for len(a.open) > 0 {
			a.finish(a.open[0])
		}
		if f := strings.Fields(body); len(f) >= 3 {
			a.lastRelease = f[2]
		}
		return
	case kPanic:
		if b == nil {
			if !strings.Contains(body, "Out of memory") {
				return
			}
			b = a.start(nil, st, lineNo, "")
		}
		b.r.Panic = strings.TrimPrefix(body, "Kernel panic - not syncing: ")
		if strings.Contains(body, "no killable processes") {
			b.r.NoKillable = true // ≤4.17 panics with this text (spec/kernel.md §2.9)
		}
		b.touch(lineNo)
		a.finish(b)
		return
	}

	if kind == kKilled || kind == kExiting {
		// Without caller ids, a report's kill line can come after the
		// next report's header (another CPU printed in between): it
		// belongs to the report whose summary or "Kill process" line
		// named its pid.
		if pid, ok := killedPID(body); ok {
			if o := a.namedVictim(pid, b); o != nil {
				a.apply(o, kind, s, body, lineNo)
				return
			}
		}
	}
	if starts(kind) && (b == nil || !a.fits(b, kind)) {
		if b != nil {
			a.finish(b)
		}
		if kind == kHeader {
			t, ok := parseHeader(body)
			if !ok {
				a.stats.InvalidLines++
			}
			nb := a.start(t, st, lineNo, st.Caller)
			if !ok {
				nb.warn(fmt.Sprintf("line %d: header without gfp_mask= or order=", lineNo))
			}
			return
		}
		b = a.start(nil, st, lineNo, st.Caller)
	}
	if b == nil {
		return
	}
	a.apply(b, kind, s, body, lineNo)
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

// namedVictim returns the report, other than cur, still without a victim
// whose summary or chosen process is pid; nil when cur is that report or
// there is none.
func (a *Assembler) namedVictim(pid int, cur *builder) *builder {
	names := func(b *builder) bool {
		r := b.r
		return len(r.Victims) == 0 && !r.NoKillable &&
			(r.SummaryPID != nil && *r.SummaryPID == pid || r.ChosenPID != nil && *r.ChosenPID == pid)
	}
	if cur == nil || names(cur) {
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
		if starts(kind) {
			return nil
		}
	}
	return a.open[len(a.open)-1]
}

// fits reports whether a report-starting line of kind k continues b rather
// than beginning a new report.
func (a *Assembler) fits(b *builder, k lineKind) bool {
	r := b.r
	switch k {
	case kHeader:
		return false
	case kKilled:
		return b.stage != stKilled || b.groupOpen
	case kExiting, kChosen, kNoKillable:
		return b.stage == stOpen
	case kSummary:
		return b.stage != stKilled && r.SummaryPID == nil
	case kGroup:
		return b.stage == stKilled && r.GroupKillPath == ""
	case kTasksState:
		return b.stage == stOpen && r.Tasks == nil
	case kTableHeader:
		return b.stage == stOpen && b.cols == nil
	case kTaskIn, kMemLimit:
		return b.stage == stOpen && r.OOMMemcg == "" && r.Tasks == nil
	case kUsage, kStatsHeader:
		return b.stage == stOpen && r.Tasks == nil
	case kPanicOnOOM:
		return b.stage == stOpen
	}
	return true
}

func (a *Assembler) start(t *Trigger, st Stamp, lineNo int, caller string) *builder {
	if len(a.open) >= maxOpen {
		a.finish(a.open[0])
	}
	b := &builder{r: &Report{FirstLine: lineNo, LastLine: lineNo, Stamp: st, Trigger: t}, caller: caller, lastLine: lineNo}
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

func (a *Assembler) malformed(b *builder, lineNo int, what string) {
	a.stats.InvalidLines++
	b.warn(fmt.Sprintf("line %d: %s", lineNo, what))
}

// apply adds a line of kind k to b.
func (a *Assembler) apply(b *builder, k lineKind, s, body string, lineNo int) {
	r := b.r
	switch k {
	case kCpuset:
		comm, cpuset, mems, ok := parseCpuset(body)
		if ok && r.Trigger != nil && comm == r.Trigger.Comm && r.Trigger.Cpuset == "" {
			r.Trigger.Cpuset, r.Trigger.MemsAllowed = cpuset, mems
			b.touch(lineNo)
		}
		return
	case kTaskIn:
		task, oom, _ := parseTaskIn(body)
		r.TaskMemcg, r.OOMMemcg = task, oom
		b.sec = secNone
	case kMemLimit:
		r.OOMMemcg = strings.TrimPrefix(body, "Memory limit reached of cgroup ")
		b.sec = secNone
	case kUsage:
		u, ok := parseUsage(body)
		if !ok {
			a.malformed(b, lineNo, "memcg usage line without usage or limit")
			return
		}
		if r.Memcg == nil {
			r.Memcg = &MemcgUsage{}
		}
		m := r.Memcg
		switch u.kind {
		case "memory":
			m.UsageKB, m.LimitKB, m.Failcnt = u.usage, u.limit, u.failcnt
		case "memory+swap":
			m.SwapUsageKB, m.SwapLimitKB, m.SwapFailcnt = u.usage, u.limit, u.failcnt
			m.SwapIsMemsw = true
		case "swap":
			m.SwapUsageKB, m.SwapLimitKB, m.SwapFailcnt = u.usage, u.limit, u.failcnt
		case "kmem":
			m.KmemUsageKB, m.KmemLimitKB = u.usage, u.limit
		}
		b.sec = secNone
	case kStatsHeader:
		path, inline, _ := parseStatsHeader(body)
		if b.statsSeen {
			b.sec = secNone
			break
		}
		b.statsSeen = true
		if r.Memcg == nil {
			r.Memcg = &MemcgUsage{}
		}
		r.Memcg.StatsPath = path
		r.Memcg.Stats = map[string]int64{}
		if inline != "" {
			for _, f := range strings.Fields(inline) {
				key, val, found := strings.Cut(f, ":")
				if !found {
					continue
				}
				if n := parseKB(val); n != nil && len(r.Memcg.Stats) < maxStats {
					r.Memcg.Stats[key] = *n * 1024
				}
			}
			b.sec = secNone
		} else {
			b.sec = secStats
		}
	case kMemInfo:
		if r.MemInfo == nil {
			r.MemInfo = &MemInfo{}
		}
		r.GlobalOOM = true
		b.sec = secMemInfo
	case kTasksState:
		if r.Tasks == nil {
			r.Tasks = []Task{}
		}
		b.sec = secNone
	case kTableHeader:
		cols, format, ok := parseTableHeader(body)
		if !ok {
			a.malformed(b, lineNo, "task table header without a name column")
			return
		}
		b.cols, r.TableFormat = cols, format
		if r.Tasks == nil {
			r.Tasks = []Task{}
		}
		b.sec = secTable
	case kSummary:
		if !parseSummary(body, r, r.Trigger) {
			a.malformed(b, lineNo, "oom-kill: line without task=, pid=, uid=")
		}
		b.sec = secNone
	case kChosen:
		msg, pid, comm, score, ok := parseChosen(body)
		if !ok {
			a.malformed(b, lineNo, "Kill process line without pid or comm")
			return
		}
		r.ChosenPID, r.ChosenComm, r.ChosenScore = &pid, comm, score
		if strings.HasPrefix(msg, "Out of memory") {
			r.GlobalOOM = true
		}
		b.stage = stChosen
		b.sec = secNone
	case kKilled, kExiting:
		var v Victim
		var ok bool
		if k == kKilled {
			v, ok = parseKilled(body)
		} else {
			v, ok = parseExiting(body)
		}
		if !ok {
			a.malformed(b, lineNo, "kill line without pid or comm")
			return
		}
		if b.groupOpen {
			v.GroupKill = true
			// oom_kill_memcg_member() walks the whole group, the first
			// victim included, so its Killed line comes twice: it is one
			// process, listed once.
			if hasVictim(r.Victims, v.PID) {
				r.RepeatedKills++
				b.stage = stKilled
				b.sec = secNone
				b.touch(lineNo) // still a line of this report
				return
			}
		} else if strings.HasPrefix(v.Message, "Out of memory") {
			r.GlobalOOM = true
		}
		if len(r.Victims) < maxTasks {
			r.Victims = append(r.Victims, v)
		}
		b.stage = stKilled
		b.sec = secNone
	case kGroup:
		r.GroupKillPath, _ = parseGroup(body)
		b.groupOpen = true
	case kNoKillable:
		r.NoKillable = true
		b.stage = stKilled
		b.sec = secNone
	case kPanicOnOOM:
		r.PanicOnOOM = 1
		if strings.Contains(body, "compulsory") {
			r.PanicOnOOM = 2
		}
	case kOther:
		if !a.applyWeak(b, s, body, lineNo) {
			return
		}
	}
	b.touch(lineNo)
}

// applyWeak handles lines that mean something only inside a report: task
// rows, memory.stat lines, Mem-Info totals.
func (a *Assembler) applyWeak(b *builder, s, body string, lineNo int) bool {
	r := b.r
	if b.stage != stOpen {
		return false
	}
	switch b.sec {
	case secTable:
		if len(body) > 0 && body[0] == '[' {
			t, ok := parseTaskRow(body, b.cols)
			if !ok {
				if strings.HasPrefix(body, "[<") {
					return false // an old-style stack frame
				}
				a.malformed(b, lineNo, "task table row that does not match the header")
				return false
			}
			if len(r.Tasks) >= maxTasks {
				b.dropped++
				if b.dropped == 1 {
					b.warn(fmt.Sprintf("task table longer than %d rows; the rest were not kept", maxTasks))
				}
				return true
			}
			r.Tasks = append(r.Tasks, t)
			return true
		}
	case secStats:
		if key, n, ok := parseStatKV(body); ok {
			if len(r.Memcg.Stats) < maxStats {
				r.Memcg.Stats[key] = n
			}
			return true
		}
	case secMemInfo:
		m := r.MemInfo
		switch {
		case strings.HasSuffix(body, " pages RAM"):
			m.RAMPages = parseCount(body, " pages RAM")
		case strings.HasSuffix(body, " pages reserved") && !strings.Contains(body, "cma"):
			m.ReservedPages = parseCount(body, " pages reserved")
		case strings.HasPrefix(body, "Total swap = "):
			m.SwapTotalKB = parseKB(strings.TrimPrefix(body, "Total swap = "))
		case strings.HasPrefix(body, "Free swap"):
			_, v, _ := strings.Cut(body, "= ")
			m.SwapFreeKB = parseKB(v)
		case m.FreePages == nil && !strings.HasPrefix(body, "Node ") && strings.Contains(body, "free:"):
			m.FreePages = parseFreePages(body)
			if m.FreePages == nil {
				return false
			}
		default:
			return false
		}
		return true
	}
	return false
}

// reaper attaches an oom_reaper line to its victim, in an open or a held
// report, newest first.
func (a *Assembler) reaper(body string, lineNo int) {
	l, ok := parseReaper(body)
	if !ok {
		a.stats.InvalidLines++
		return
	}
	mark := func(b *builder) bool {
		for i := range b.r.Victims {
			v := &b.r.Victims[i]
			if v.PID != l.pid || v.Reaped || v.ReapFailed {
				continue
			}
			if l.failed {
				v.ReapFailed = true
			} else {
				v.Reaped = true
				v.ReapedAnonRSSKB, v.ReapedFileRSSKB, v.ReapedShmemRSSKB = l.anon, l.file, l.shmem
			}
			b.touch(lineNo)
			return true
		}
		return false
	}
	for i := len(a.open) - 1; i >= 0; i-- {
		if mark(a.open[i]) {
			return
		}
	}
	for i := len(a.done) - 1; i >= 0; i-- {
		if mark(a.done[i]) {
			a.expire()
			return
		}
	}
	a.stats.OrphanReaperLines++
}

// finish closes b and holds it for reaper lines.
func (a *Assembler) finish(b *builder) {
	for i, o := range a.open {
		if o == b {
			a.open = append(a.open[:i], a.open[i+1:]...)
			break
		}
	}
	r := b.r
	if r.KernelVersion == "" {
		// The report printed no CPU line of its own (cut short, or
		// interleaved with another splat); the kernel that printed the
		// lines before it in the same boot is the same kernel.
		r.KernelVersion = a.lastRelease
	}
	b.finishedAt = a.line
	a.done = append(a.done, b)
}

// expire finishes stale open reports and releases held reports whose reaper
// lines came or whose wait is over.
func (a *Assembler) expire() {
	for i := 0; i < len(a.open); {
		b := a.open[i]
		limit := staleLines
		if b.stage == stKilled {
			limit = postKillLines
		}
		if a.line-b.lastLine > limit {
			a.finish(b)
			continue
		}
		i++
	}
	n := 0
	for n < len(a.done) {
		b := a.done[n]
		if a.line-b.finishedAt < a.holdFor(b) {
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

func (a *Assembler) emit(b *builder) {
	b.r.Truncated = len(b.r.Victims) == 0 && !b.r.NoKillable
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

// hasVictim reports whether victims already holds pid.
func hasVictim(victims []Victim, pid int) bool {
	for i := range victims {
		if victims[i].PID == pid {
			return true
		}
	}
	return false
}
