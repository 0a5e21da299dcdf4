package oomlog

import (
	"strings"
)

// This file reads excerpts that start in the middle of a report: at the
// stack dump banner, inside the stack trace, or among the task table's
// rows, because the lines before were cut, scrolled away or grepped out.

// stackBanner is a stack dump banner ("CPU: 14 PID: 2625 Comm: node …")
// read while no report was open. dump_header() prints it for the task
// that invoked the OOM killer, so when the stack below it turns out to be
// the OOM killer's, its comm and pid are the trigger's.
type stackBanner struct {
	comm    string
	pid     *int
	release string
	line    int
	stamp   Stamp
}

// maxTraceLines is how far below its banner a stack trace may show the
// OOM killer's frames: a trace is at most a few dozen frames and
// registers (show_stack(), arch/*/kernel/dumpstack.c).
const maxTraceLines = 128

// oomFrames are functions on the stack of every OOM report
// (mm/oom_kill.c): dump_header() prints the banner from inside
// oom_kill_process() or out_of_memory(). dump_header itself is not
// looked for: its frame line holds no word the Scanner's prefilter
// passes, and the next frame names one of these.
var oomFrames = []string{"oom_kill_process", "out_of_memory"}

// isOOMFrame reports whether body is a stack trace line of the OOM killer
// (" oom_kill_process+0xe6/0x120", "[<ffffffff8116cdde>]
// oom_kill_process+0x24e/0x3b0", "dump_header from oom_kill_process+0x23c/0x248").
func isOOMFrame(body string) bool {
	if !strings.Contains(body, "+0x") {
		return false
	}
	for _, f := range oomFrames {
		if strings.Contains(body, f) {
			return true
		}
	}
	return false
}

// openFromTrace begins a report at an OOM killer's stack frame read while
// none was open: the header was not kept. The report starts at the stack
// dump banner above the frame, whose task is the trigger, when one was
// read close enough above it.
func (a *Assembler) openFromTrace(l *logLine) {
	st, first := l.stamp, l.no
	s := a.stack
	a.stack = nil
	if s != nil && l.no-s.line > maxTraceLines {
		s = nil
	}
	if s != nil {
		st, first = s.stamp, s.line
	}
	b := a.start(st, first, st.Caller)
	if s != nil {
		b.r.Trigger = &Trigger{Comm: s.comm, PID: s.pid}
		b.lead = s.comm
		b.r.KernelVersion = s.release
	}
	b.touch(l.no)
}

// rowShapes are the task-table column sets by their count of numbers
// after the pid (dump_task(), mm/oom_kill.c; spec/kernel.md §4.6), for
// rows whose header line was cut or grepped away.
var rowShapes = map[int][]column{
	// 6.8+: uid tgid total_vm rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj
	10: {colUID, colTGID, colTotalVM, colRSS, colRSSAnon, colRSSFile, colRSSShmem, colPgtablesBytes, colSwapEnts, colOOMScoreAdj},
	// 4.x ≤4.14: uid tgid total_vm rss nr_ptes nr_pmds swapents oom_score_adj
	8: {colUID, colTGID, colTotalVM, colRSS, colNrPtes, colNrPmds, colSwapEnts, colOOMScoreAdj},
	// 4.15–6.7: uid tgid total_vm rss pgtables_bytes swapents oom_score_adj.
	// 3.x (nr_ptes swapents) and 2.6 (cpu oom_adj) print seven numbers
	// too; their fifth and sixth columns are read only when the fifth is
	// a whole number of pages in bytes, which only pgtables_bytes is.
	7: {colUID, colTGID, colTotalVM, colRSS, colPgtablesBytes, colSwapEnts, colOOMScoreAdj},
}

// rowShape returns the columns of a task row by the count of numbers it
// holds, ok false when no era printed a row of that shape.
func rowShape(body string) (cols []column, format TableFormat, ok bool) {
	end := strings.IndexByte(body, ']')
	// "] " and a digit, as the Scanner's prefilter asks (isTaskRowAt):
	// dump_task() prints "[%7d] %5d …", the uid first.
	if end < 0 || end+1 >= len(body) || body[end+1] != ' ' {
		return nil, "", false
	}
	if first := strings.TrimLeft(body[end+1:], " "); first == "" || !isDigit(first[0]) {
		return nil, "", false
	}
	n := 0
	var fifth string
	for rest := body[end+1:]; ; {
		rest = strings.TrimLeft(rest, " ")
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			break
		}
		if _, ok := parseInt(rest[:sp]); !ok {
			break
		}
		n++
		if n == 5 {
			fifth = rest[:sp]
		}
		rest = rest[sp:]
	}
	cols, ok = rowShapes[n]
	if !ok {
		return nil, "", false
	}
	switch n {
	case 10:
		format = TableRSSSplit
	case 8:
		format = TableNrPtes
	case 7:
		if v, _ := parseInt(fifth); v > 0 && v%4096 == 0 {
			format = TablePgtables
		} else {
			// Which era's seventh-column row this is cannot be told:
			// keep the columns every era agrees on.
			cols = []column{colUID, colTGID, colTotalVM, colRSS, colSkip, colSkip, colOOMScoreAdj}
		}
	}
	return cols, format, true
}
