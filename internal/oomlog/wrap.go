package oomlog

// This file joins a line that a terminal, a mail client or a web form
// wrapped: when every line of a report carries a log prefix and a line
// without any prefix follows one of them, not indented (the kernel's own
// continuation lines are) and meaning nothing on its own, it is the rest
// of the line before. The line before is read again, whole.

// maxWrapped bounds a line joined from its wrapped pieces: a kernel
// record is at most 8 KiB even escaped (CONSOLE_EXT_LOG_MAX,
// kernel/printk/printk.c), and a bound keeps a run of prefixless lines from
// being joined into one ever longer line.
const maxWrapped = 8 << 10

// lastRead is what a report's last line changed, so that it can be read
// again once the rest of the line turns up. Its stamp is not kept: no
// line read again uses it.
type lastRead struct {
	line      logLine
	victims   int // len(Victims) before the line
	tasks     int // len(Tasks) before the line
	cut       int // CutLines before the line
	statsSeen bool
}

// remember records l as b's last line, before it is read.
//
// It runs for every line a report reads, so it writes field by field:
// the kept line's stamp stays zero, and assigning a whole lastRead would
// copy that stamp's pointers (through the collector's write barrier
// while it marks) every time.
func (b *builder) remember(l *logLine) {
	p := &b.last
	p.line.text, p.line.body = l.text, l.body
	p.line.kind, p.line.no, p.line.prefixed = l.kind, l.no, l.prefixed
	p.victims, p.tasks, p.cut, p.statsSeen = len(b.r.Victims), len(b.r.Tasks), b.r.CutLines, b.statsSeen
}

// wrappedRest reports whether line, fed as lineNo with no prefix at all,
// is the rest of the newest report's last line; if so it reads that line
// again with its rest.
func (a *Assembler) wrappedRest(line string, lineNo int) bool {
	if len(a.open) == 0 || line == "" || line[0] == ' ' || line[0] == '\t' {
		return false
	}
	b := a.open[len(a.open)-1]
	prev := &b.last.line
	if prev.no != lineNo-1 || b.lastLine != lineNo-1 || !prev.prefixed {
		return false
	}
	if classify(line) != lineOther || grammar[prev.kind].wide || len(prev.text)+len(line) > maxWrapped {
		return false
	}
	if prev.kind == lineOther {
		// A block line (a task row, a memory.stat line): wrapped only if
		// it did not read whole.
		if _, _, ok := parseStatKV(line); ok {
			return false
		}
	}
	joined := *prev
	joined.text += line
	joined.body += line
	joined.kind = classify(joined.body)
	// Undo what the cut line did, then read it whole.
	r := b.r
	r.Victims = r.Victims[:min(b.last.victims, len(r.Victims))]
	if r.Tasks != nil {
		r.Tasks = r.Tasks[:min(b.last.tasks, len(r.Tasks))]
	}
	r.CutLines = b.last.cut
	b.statsSeen = b.last.statsSeen
	if grammar[joined.kind].read(a, b, &joined) {
		b.touch(lineNo)
	}
	b.last.line = joined
	b.last.line.no = lineNo
	return true
}
