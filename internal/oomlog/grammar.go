package oomlog

import "strings"

// lineKind is what a kernel message line is, as far as OOM reports go.
type lineKind uint8

// The kinds, in the order the kernel prints an OOM report (see grammar).
const (
	lineOther        lineKind = iota // a task row, a memory.stat or Mem-Info line, or not part of a report
	lineHeader                       // "<comm> invoked oom-killer: gfp_mask=…"
	lineCpuset                       // "<comm> cpuset=<name> mems_allowed=<list>"
	lineStack                        // "CPU: 0 PID: 14300 Comm: dotnet …" or 2.6's "Pid: 14300, comm: …"
	lineTaskIn                       // "Task in <memcg> killed as a result of limit of <memcg>"
	lineLimitReached                 // "Memory limit reached of cgroup <memcg>"
	lineUsage                        // "memory: usage …kB, limit …kB, failcnt …"
	lineUsageMore                    // "memory+swap: usage …", "swap: usage …", "kmem: usage …"
	lineStatsHeader                  // "Memory cgroup stats for <memcg>:"
	lineMemInfo                      // "Mem-Info:"
	lineTasksState                   // "Tasks state (memory values in pages):"
	lineTableHeader                  // "[  pid  ]   uid  tgid total_vm      rss … name"
	lineTaskRow                      // "[  14300]     0 14300 43012649    43356 …  -997 dotnet"
	linePanicOnOOM                   // "Out of memory: system-wide panic_on_oom is enabled"
	lineNoKillable                   // "Out of memory and no killable processes..."
	lineSummary                      // "oom-kill:constraint=…,task=…,pid=…,uid=…"
	lineChosen                       // "<msg>: Kill process N (comm) score S or sacrifice child"
	lineExiting                      // "<msg>: OOM victim N (comm) is already exiting. Skip killing the task"
	lineKilled                       // "<msg>: Killed process N (comm) total-vm:…kB, …"
	lineGroup                        // "Tasks in <memcg> are going to be killed due to memory.oom.group set"
	lineReaper                       // "oom_reaper: reaped process N (comm), now anon-rss:…"
	linePanic                        // "Kernel panic - not syncing: …"
	lineBoot                         // "Linux version …"
	lineKinds
)

// rule is one line of an OOM report's grammar.
type rule struct {
	// printedBy is the kernel function that prints the line and, where
	// not every kernel does, the versions that print it.
	printedBy string
	// opens is true for a line that can begin a report: the header, and
	// the lines a report whose header was not printed or not kept (a
	// rate-limited report, an excerpt) starts with.
	opens bool
	// follows reports whether the line can come next in report b, given
	// what b has read so far (nil: always). An opening line that cannot
	// is the first line of the next report; another line that cannot is
	// not read.
	follows func(b *builder) bool
	// wide lines are read by the Assembler for every report, open or
	// held, not only the one the line is routed to: the stack dump
	// banner names the kernel, a reaper line finds its victim wherever it
	// is, a boot or a panic ends what is open.
	wide bool
	// read takes the line into b (nil for a wide line when no report is
	// open) and reports whether it was used.
	read func(a *Assembler, b *builder, l *logLine) bool
}

// grammar is the OOM report line by line, in the order the kernel prints
// it (spec/kernel.md §4): out_of_memory() or mem_cgroup_out_of_memory()
// prints the whole report under oom_lock, dump_header() first, then the
// kill, and later the oom_reaper thread its line.
var grammar = [lineKinds]rule{
	// Lines without fixed words: what they are depends on the block they
	// are in (memory.stat lines, Mem-Info totals).
	lineOther: {printedBy: "memory_stat_format(), show_mem()", read: (*Assembler).readBlockLine},
	lineHeader: {printedBy: "dump_header(), mm/oom_kill.c", opens: true,
		follows: never, read: (*Assembler).readHeader},
	lineCpuset: {printedBy: "cpuset_print_current_mems_allowed(), kernel/cgroup/cpuset.c, ≤4.20",
		follows: stillBeforeKill, read: (*Assembler).readCpuset},
	lineStack: {printedBy: "dump_stack() → dump_stack_print_info(), lib/dump_stack.c",
		wide: true, read: (*Assembler).readStack},
	// The memcg block of a memcg OOM (dump_header() → mem_cgroup_print_oom_context()
	// and mem_cgroup_print_oom_meminfo(), ≤4.20 mem_cgroup_print_oom_info()).
	lineTaskIn: {printedBy: "mem_cgroup_print_oom_info(), mm/memcontrol.c, ≤4.20", opens: true,
		follows: beforeItsMemcg, read: (*Assembler).readTaskIn},
	lineLimitReached: {printedBy: "mem_cgroup_print_oom_info(), mm/memcontrol.c, ≤4.20, no victim yet", opens: true,
		follows: beforeItsMemcg, read: (*Assembler).readLimitReached},
	lineUsage: {printedBy: "mem_cgroup_print_oom_meminfo(), mm/memcontrol.c", opens: true,
		follows: beforeTable, read: (*Assembler).readUsage},
	lineUsageMore: {printedBy: "mem_cgroup_print_oom_meminfo(), mm/memcontrol.c (swap: v2; memory+swap:, kmem: v1)",
		follows: beforeTable, read: (*Assembler).readUsage},
	lineStatsHeader: {printedBy: "mem_cgroup_print_oom_meminfo(), mm/memcontrol.c (≤5.2 one line per memcg of the subtree)", opens: true,
		follows: beforeTable, read: (*Assembler).readStatsHeader},
	// The Mem-Info block of a global OOM.
	lineMemInfo: {printedBy: "dump_header() → show_mem() → show_free_areas(), mm/show_mem.c (≤6.0 lib/show_mem.c, mm/page_alloc.c)",
		follows: stillBeforeKill, read: (*Assembler).readMemInfo},
	// The task table (vm.oom_dump_tasks=1, the default).
	lineTasksState: {printedBy: "dump_tasks(), mm/oom_kill.c, 4.19+", opens: true,
		follows: beforeTable, read: (*Assembler).readTasksState},
	lineTableHeader: {printedBy: "dump_tasks(), mm/oom_kill.c", opens: true,
		follows: beforeTableHeader, read: (*Assembler).readTableHeader},
	// A row opens a report when its header was cut or grepped away; it is
	// then read by its shape (excerpt.go).
	lineTaskRow: {printedBy: "dump_task(), mm/oom_kill.c", opens: true,
		follows: stillBeforeKill, read: (*Assembler).readTaskRow},
	// What out_of_memory() does after dump_header().
	linePanicOnOOM: {printedBy: "check_panic_on_oom(), mm/oom_kill.c", opens: true,
		follows: stillBeforeKill, read: (*Assembler).readPanicOnOOM},
	lineNoKillable: {printedBy: "out_of_memory(), mm/oom_kill.c (a warning 4.19+, a panic ≤4.17)", opens: true,
		follows: stillBeforeKill, read: (*Assembler).readNoKillable},
	lineSummary: {printedBy: "oom_kill_process() → dump_oom_summary(), mm/oom_kill.c, 5.0+", opens: true,
		follows: beforeSummary, read: (*Assembler).readSummary},
	lineChosen: {printedBy: "oom_kill_process(), mm/oom_kill.c, ≤5.0", opens: true,
		follows: stillBeforeKill, read: (*Assembler).readChosen},
	lineExiting: {printedBy: "oom_kill_process(), mm/oom_kill.c, 5.10+", opens: true,
		follows: stillBeforeKill, read: (*Assembler).readKill},
	lineKilled: {printedBy: "__oom_kill_process(), mm/oom_kill.c", opens: true,
		follows: killDue, read: (*Assembler).readKill},
	lineGroup: {printedBy: "mem_cgroup_print_oom_group(), mm/memcontrol.c, 4.19+ (cgroup v2)", opens: true,
		follows: groupDue, read: (*Assembler).readGroup},
	// Later, from another thread.
	lineReaper: {printedBy: "oom_reap_task_mm()/oom_reap_task(), mm/oom_kill.c, 4.6+",
		wide: true, read: (*Assembler).readReaper},
	// Lines that end what is open.
	linePanic: {printedBy: "panic(), kernel/panic.c", wide: true, read: (*Assembler).readPanic},
	lineBoot:  {printedBy: "start_kernel() prints linux_banner, init/main.c", wide: true, read: (*Assembler).readBoot},
}

// The follows conditions of the grammar.

func never(*builder) bool { return false }

func stillBeforeKill(b *builder) bool { return b.stage == beforeKill }

// beforeTable: the memcg and task-table blocks come once, before the kill.
func beforeTable(b *builder) bool { return b.stage == beforeKill && b.r.Tasks == nil }

func beforeTableHeader(b *builder) bool { return b.stage == beforeKill && b.cols == nil }

// beforeItsMemcg: ≤4.20 names the memcgs once, before the table.
func beforeItsMemcg(b *builder) bool {
	return b.stage == beforeKill && b.r.OOMMemcg == "" && b.r.Tasks == nil
}

// beforeSummary: one summary line, before the Killed line.
func beforeSummary(b *builder) bool { return b.stage != afterKill && b.r.SummaryPID == nil }

// killDue: a report has one Killed line, except a memory.oom.group kill,
// which prints one per task of the group after the "Tasks in" line.
func killDue(b *builder) bool { return b.stage != afterKill || b.groupOpen }

// groupDue: the "Tasks in … memory.oom.group" line follows the first kill.
func groupDue(b *builder) bool { return b.stage == afterKill && b.r.GroupKillPath == "" }

// classify names the kind of a message line by its fixed words.
func classify(s string) lineKind {
	if len(s) == 0 {
		return lineOther
	}
	switch s[0] {
	case 'o':
		if strings.HasPrefix(s, "oom-kill:") {
			return lineSummary
		}
		if strings.HasPrefix(s, "oom_reaper: ") {
			return lineReaper
		}
	case 'C':
		if strings.HasPrefix(s, "CPU: ") && strings.Contains(s, "PID: ") {
			return lineStack
		}
	case 'P':
		if strings.HasPrefix(s, "Pid: ") && strings.Contains(s, ", comm: ") {
			return lineStack
		}
	case 'T':
		if strings.HasPrefix(s, "Task in ") && strings.Contains(s, " killed as a result of limit of ") {
			return lineTaskIn
		}
		if strings.HasPrefix(s, "Tasks state (memory values in pages)") {
			return lineTasksState
		}
		if strings.HasPrefix(s, "Tasks in ") && strings.HasSuffix(s, "memory.oom.group set") {
			return lineGroup
		}
	case 'M':
		if strings.HasPrefix(s, "Mem-Info:") {
			return lineMemInfo
		}
		if strings.HasPrefix(s, "Memory cgroup stats for ") {
			return lineStatsHeader
		}
		if strings.HasPrefix(s, "Memory limit reached of cgroup ") {
			return lineLimitReached
		}
	case 'm', 's', 'k':
		if strings.Contains(s, ": usage ") {
			if strings.HasPrefix(s, "memory: ") {
				return lineUsage
			}
			if strings.HasPrefix(s, "memory+swap: ") || strings.HasPrefix(s, "swap: ") || strings.HasPrefix(s, "kmem: ") {
				return lineUsageMore
			}
		}
	case '[':
		if strings.HasPrefix(s, "[ pid ]") || strings.HasPrefix(s, "[  pid  ]") {
			return lineTableHeader
		}
		if isRowStart(s) {
			// A task row: its name may say anything.
			return lineTaskRow
		}
	case 'K':
		if strings.HasPrefix(s, "Kernel panic - not syncing: ") {
			return linePanic
		}
	case 'L':
		if strings.HasPrefix(s, "Linux version ") {
			return lineBoot
		}
	}
	// Every line below holds a "-" (invoked oom-), "K" (Kill), "O" (OOM
	// victim, Out of memory) or "=" (cpuset=); most lines of a report
	// (stack frames, Mem-Info and memory.stat lines) hold none, and one
	// pass over them costs less than the searches.
	if !hasClassByte(s) {
		return lineOther
	}
	// A comm may hold the other lines' words; the header's arguments
	// cannot be part of a 15-byte comm.
	if strings.Contains(s, invokedSep+"gfp_mask=") {
		return lineHeader
	}
	if strings.Contains(s, "Killed process ") {
		return lineKilled
	}
	if strings.Contains(s, invokedSep) || strings.HasSuffix(s, " invoked oom-killer") || cutHeader(s) {
		return lineHeader
	}
	if strings.Contains(s, "Kill process ") && strings.Contains(s, "sacrifice child") {
		return lineChosen
	}
	if strings.Contains(s, "OOM victim ") && strings.Contains(s, " is already exiting") {
		return lineExiting
	}
	if strings.HasPrefix(s, "Out of memory") {
		if strings.HasPrefix(s, "Out of memory and no killable processes") {
			return lineNoKillable
		}
		if strings.HasSuffix(s, "panic_on_oom is enabled") {
			return linePanicOnOOM
		}
	}
	if strings.Contains(s, " cpuset=") && strings.Contains(s, " mems_allowed=") {
		return lineCpuset
	}
	return lineOther
}

// classByte marks the bytes of which classify's searches need one.
var classByte = [256]bool{'-': true, 'K': true, 'O': true, '=': true}

func hasClassByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if classByte[s[i]] {
			return true
		}
	}
	return false
}

// cutHeader reports whether s ends in the middle of " invoked
// oom-killer", past " invoked oom-": a header cut before its arguments.
func cutHeader(s string) bool {
	i := strings.LastIndex(s, invokedCut)
	return i > 0 && strings.HasPrefix(invokedSep, s[i:])
}

// isRowStart reports whether s begins like a task row or a dmesg stamp:
// "[", spaces, digits, "]".
func isRowStart(s string) bool {
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	d := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i > d && i < len(s) && s[i] == ']'
}
