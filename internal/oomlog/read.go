package oomlog

import (
	"fmt"
	"strings"
	"sync"
)

// This file reads each line of the grammar (grammar.go) into a report.
// The line parsers themselves are in lines.go.

func (a *Assembler) readHeader(b *builder, l *logLine) bool {
	t, ok := parseHeader(l.body)
	if t == nil {
		a.malformed(b, l.no, "header without a comm")
		return false
	}
	b.r.Trigger = t
	b.lead = t.Comm
	switch {
	case headerCut(l.body):
		a.cut(b, l.no, "header")
	case !ok:
		a.malformed(b, l.no, "header without gfp_mask= or order=")
	}
	return true
}

// cut counts a line of b that ends before its grammar does; what it
// printed up to the cut was kept.
func (a *Assembler) cut(b *builder, lineNo int, what string) {
	b.r.CutLines++
	b.warn(fmt.Sprintf("line %d: %s cut short; the fields before the cut are kept", lineNo, what))
}

// readCpuset takes the ≤4.20 cpuset line printed for the trigger.
func (a *Assembler) readCpuset(b *builder, l *logLine) bool {
	comm, cpuset, mems, ok := parseCpuset(l.body)
	t := b.r.Trigger
	if !ok || t == nil || comm != t.Comm || t.Cpuset != "" {
		return false
	}
	t.Cpuset, t.MemsAllowed = cpuset, mems
	return true
}

// readStack reads the stack dump banner. It names the kernel release for
// the reports of its host and boot, and the trigger's pid for the report
// it is part of. Stack dumps of other splats print it too; one read while
// no report is open may begin an excerpt's report (excerpt.go).
func (a *Assembler) readStack(b *builder, l *logLine) bool {
	comm, pid, release, ok := parseCPULine(l.body)
	if !ok {
		return false
	}
	if release != "" {
		a.learnRelease(release)
	}
	if b == nil {
		a.stack = &stackBanner{comm: comm, pid: pid, release: release, line: l.no, stamp: a.ownStamp(l.stamp)}
		return false
	}
	if b.stage != beforeKill {
		return false
	}
	t := b.r.Trigger
	if t == nil || t.PID != nil || comm != t.Comm && !strings.HasSuffix(b.lead, " "+comm) {
		return false
	}
	// The banner prints the comm whole: where the header's did not
	// show where it starts (a prefix oomlog did not know), this does.
	t.Comm = comm
	t.PID = pid
	if pid == nil {
		a.malformed(b, l.no, "stack dump banner with a PID out of range")
	}
	b.r.KernelVersion = release
	b.touch(l.no)
	return true
}

// readBoot: a new boot, so nothing open can continue.
func (a *Assembler) readBoot(_ *builder, l *logLine) bool {
	a.finishAll()
	a.newBoot()
	if f := strings.Fields(l.body); len(f) >= 3 {
		a.release = f[2]
	}
	return true
}

// readPanic ends the report it interrupts. "Kernel panic - not syncing: Out
// of memory…" is a report of its own when none is open.
func (a *Assembler) readPanic(b *builder, l *logLine) bool {
	if b == nil {
		if !strings.Contains(l.body, "Out of memory") {
			return false
		}
		b = a.start(l.stamp, l.no, "")
	}
	b.r.Panic = strings.TrimPrefix(l.body, "Kernel panic - not syncing: ")
	if strings.Contains(l.body, "no killable processes") {
		b.r.NoKillable = true // ≤4.17 panics with this text (spec/kernel.md §2.9)
	}
	b.touch(l.no)
	a.finish(b)
	return true
}

func (a *Assembler) readTaskIn(b *builder, l *logLine) bool {
	b.r.TaskMemcg, b.r.OOMMemcg, _ = parseTaskIn(l.body)
	b.block = noBlock
	return true
}

func (a *Assembler) readLimitReached(b *builder, l *logLine) bool {
	b.r.OOMMemcg = strings.TrimPrefix(l.body, "Memory limit reached of cgroup ")
	b.block = noBlock
	return true
}

// readUsage reads one counter line of the memcg block.
func (a *Assembler) readUsage(b *builder, l *logLine) bool {
	u, ok := parseUsage(l.body)
	if !ok {
		a.malformed(b, l.no, "memcg usage line without usage or limit")
		return false
	}
	r := b.r
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
	b.block = noBlock
	return true
}

// readStatsHeader starts the memory.stat block of the OOMing memcg: 5.3+
// prints "key value" lines (bytes) after it, ≤5.2 the values on the line
// itself (KB) for every memcg of the subtree, the OOMing one first.
func (a *Assembler) readStatsHeader(b *builder, l *logLine) bool {
	path, inline, _ := parseStatsHeader(l.body)
	if b.statsSeen {
		b.block = noBlock
		return true
	}
	b.statsSeen = true
	r := b.r
	if r.Memcg == nil {
		r.Memcg = &MemcgUsage{}
	}
	r.Memcg.StatsPath = path
	r.Memcg.Stats = map[string]int64{}
	if inline == "" {
		b.block = statsBlock
		return true
	}
	for _, f := range strings.Fields(inline) {
		key, val, found := strings.Cut(f, ":")
		if !found {
			continue
		}
		if n := parseKB(val); n != nil && len(r.Memcg.Stats) < maxStats {
			r.Memcg.Stats[key] = *n * 1024
		}
	}
	b.block = noBlock
	return true
}

func (a *Assembler) readMemInfo(b *builder, l *logLine) bool {
	if b.r.MemInfo == nil {
		b.r.MemInfo = &MemInfo{}
	}
	b.r.GlobalOOM = true
	b.block = memInfoBlock
	return true
}

func (a *Assembler) readTasksState(b *builder, l *logLine) bool {
	if b.r.Tasks == nil {
		b.newTable()
	}
	b.block = noBlock
	return true
}

func (a *Assembler) readTableHeader(b *builder, l *logLine) bool {
	cols, format, ok := parseTableHeader(l.body)
	if !ok {
		a.malformed(b, l.no, "task table header without a name column")
		return false
	}
	b.cols, b.r.TableFormat = cols, format
	if b.r.Tasks == nil {
		b.newTable()
	}
	b.block = taskTable
	return true
}

func (a *Assembler) readPanicOnOOM(b *builder, l *logLine) bool {
	b.r.PanicOnOOM = 1
	if strings.Contains(l.body, "compulsory") {
		b.r.PanicOnOOM = 2
	}
	return true
}

func (a *Assembler) readNoKillable(b *builder, l *logLine) bool {
	b.r.NoKillable = true
	b.stage = afterKill
	b.block = noBlock
	return true
}

func (a *Assembler) readSummary(b *builder, l *logLine) bool {
	ok, cut := parseSummary(l.body, b.r, b.r.Trigger)
	switch {
	case cut && ok:
		a.cut(b, l.no, "oom-kill: line")
	case !ok:
		a.malformed(b, l.no, "oom-kill: line without task=, pid=, uid=")
	}
	b.block = noBlock
	return true
}

// readChosen reads ≤5.0's "Kill process … or sacrifice child": the
// process chosen, whose child may be the one killed.
func (a *Assembler) readChosen(b *builder, l *logLine) bool {
	msg, pid, comm, score, ok := parseChosen(l.body)
	if !ok {
		a.malformed(b, l.no, "Kill process line without pid or comm")
		return false
	}
	r := b.r
	r.ChosenPID, r.ChosenComm, r.ChosenScore = &pid, comm, score
	if strings.HasPrefix(msg, "Out of memory") {
		r.GlobalOOM = true
	}
	b.stage = victimChosen
	b.block = noBlock
	return true
}

// readKill reads a Killed line or a 5.10+ "OOM victim … is already
// exiting" line.
func (a *Assembler) readKill(b *builder, l *logLine) bool {
	var v Victim
	var ok bool
	if l.kind == lineKilled {
		v, ok = parseKilled(l.body)
	} else {
		v, ok = parseExiting(l.body)
	}
	if !ok {
		a.malformed(b, l.no, "kill line without pid or comm")
		return false
	}
	if v.Cut {
		a.cut(b, l.no, "Killed line")
	}
	r := b.r
	b.stage = afterKill
	b.block = noBlock
	if b.groupOpen {
		v.GroupKill = true
		// oom_kill_memcg_member() walks the whole group, the first
		// victim included, so its Killed line comes twice: it is one
		// process, listed once and counted twice.
		if hasVictim(r.Victims, v.PID) {
			r.RepeatedKills++
			return true
		}
	} else if strings.HasPrefix(v.Message, "Out of memory") {
		r.GlobalOOM = true
	}
	if len(r.Victims) < maxTasks {
		r.Victims = append(r.Victims, v)
	}
	return true
}

func (a *Assembler) readGroup(b *builder, l *logLine) bool {
	b.r.GroupKillPath, _ = parseGroup(l.body)
	b.groupOpen = true
	return true
}

// readBlockLine reads a line without fixed words by the block it is in:
// memory.stat lines, Mem-Info totals. Such lines mean nothing once the
// kill was read.
func (a *Assembler) readBlockLine(b *builder, l *logLine) bool {
	if b.stage != beforeKill {
		return false
	}
	switch b.block {
	case statsBlock:
		key, n, ok := parseStatKV(l.body)
		if ok && len(b.r.Memcg.Stats) < maxStats {
			b.r.Memcg.Stats[key] = n
		}
		return ok
	case memInfoBlock:
		return readMemInfoLine(b.r.MemInfo, l.body)
	}
	return false
}

// readTaskRow reads one row of the task table with the header's columns,
// or by its shape when the header was cut or grepped away.
func (a *Assembler) readTaskRow(b *builder, l *logLine) bool {
	body := l.body
	cols := b.cols
	r := b.r
	if cols == nil {
		shape, format, ok := rowShape(body)
		if !ok {
			return false
		}
		cols = shape
		if r.TableFormat == TableUnknown {
			r.TableFormat = format
		}
		if r.Tasks == nil {
			b.newTable()
		}
	}
	if len(r.Tasks) >= maxTasks {
		if _, ok := parseTaskRow(body, cols); !ok {
			a.malformed(b, l.no, "task table row that does not match the header")
			return false
		}
		b.dropped++
		if b.dropped == 1 {
			b.warn(fmt.Sprintf("task table longer than %d rows; the rest were not kept", maxTasks))
		}
		return true
	}
	r.Tasks = append(r.Tasks, Task{})
	if !parseTaskRowInto(body, cols, &r.Tasks[len(r.Tasks)-1]) {
		r.Tasks[len(r.Tasks)-1] = Task{}
		r.Tasks = r.Tasks[:len(r.Tasks)-1]
		a.malformed(b, l.no, "task table row that does not match the header")
		return false
	}
	b.block = taskTable
	return true
}

// The rows of a table being read go into a scratch table from a pool,
// and the report gets a copy of its exact size when it is returned: a
// table grown by append would be allocated about twice over (every
// smaller array it outgrew, and the room left at the end).
var tables = sync.Pool{New: func() any { return new([]Task) }}

// tasksCap is the room a new scratch table starts with: a container's or
// a small node's table fits, a busy node's grows a few times (and stays
// grown in the pool).
const tasksCap = 64

// maxPooledTasks bounds the scratch tables the pool keeps: a table of a
// huge node is not held on to for the next report.
const maxPooledTasks = 1 << 12

// newTable gives b's report an empty table (a non-nil one: the table's
// header was printed) in a scratch table.
func (b *builder) newTable() {
	t := tables.Get().(*[]Task)
	if cap(*t) == 0 {
		*t = make([]Task, 0, tasksCap)
	}
	b.scratch = t
	b.r.Tasks = (*t)[:0]
}

// keepTable gives b's report its table in an array of its own, and puts
// the scratch table back.
func (b *builder) keepTable() {
	if b.scratch == nil {
		return
	}
	rows := b.r.Tasks
	b.r.Tasks = append(make([]Task, 0, len(rows)), rows...)
	if cap(rows) <= maxPooledTasks {
		clear(rows[:cap(rows)]) // the names, and rows a wrapped line undid
		*b.scratch = rows[:0]
		tables.Put(b.scratch)
	}
	b.scratch = nil
}

// readMemInfoLine takes the totals oomkit uses from a line of the Mem-Info
// block (show_mem(), mm/show_mem.c).
func readMemInfoLine(m *MemInfo, body string) bool {
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
		return m.FreePages != nil
	default:
		return false
	}
	return true
}

// readReaper attaches an oom_reaper line to its victim, in an open or a
// held report, newest first.
func (a *Assembler) readReaper(_ *builder, l *logLine) bool {
	rl, ok := parseReaper(l.body)
	if !ok {
		a.countInvalid(l.no)
		return false
	}
	for i := len(a.open) - 1; i >= 0; i-- {
		if markReaped(a.open[i], rl, l.no) {
			return true
		}
	}
	for i := len(a.done) - 1; i >= 0; i-- {
		if markReaped(a.done[i], rl, l.no) {
			a.expire()
			return true
		}
	}
	a.stats.OrphanReaperLines++
	return false
}

// markReaped records reaper line rl on b's victim of that pid, if b has
// one still unreaped.
func markReaped(b *builder, rl reaperLine, lineNo int) bool {
	for i := range b.r.Victims {
		v := &b.r.Victims[i]
		if v.PID != rl.pid || v.Reaped || v.ReapFailed {
			continue
		}
		if rl.failed {
			v.ReapFailed = true
		} else {
			v.Reaped = true
			v.ReapedAnonRSSKB, v.ReapedFileRSSKB, v.ReapedShmemRSSKB = rl.anon, rl.file, rl.shmem
		}
		b.touch(lineNo)
		return true
	}
	return false
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
