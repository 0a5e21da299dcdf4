package oomlog

import "strings"

// lineKind is what a message line is, as far as OOM reports go.
type lineKind uint8

const (
	kOther lineKind = iota
	kHeader
	kCpuset
	kCPU
	kTaskIn
	kMemLimit
	kUsage
	kStatsHeader
	kMemInfo
	kTasksState
	kTableHeader
	kSummary
	kChosen
	kKilled
	kExiting
	kGroup
	kReaper
	kNoKillable
	kPanic
	kPanicOnOOM
	kBoot
)

// classify names the kind of a message line by its fixed words.
func classify(s string) lineKind {
	if len(s) == 0 {
		return kOther
	}
	switch s[0] {
	case 'o':
		if strings.HasPrefix(s, "oom-kill:") {
			return kSummary
		}
		if strings.HasPrefix(s, "oom_reaper: ") {
			return kReaper
		}
	case 'C':
		if strings.HasPrefix(s, "CPU: ") && strings.Contains(s, "PID: ") {
			return kCPU
		}
	case 'P':
		if strings.HasPrefix(s, "Pid: ") && strings.Contains(s, ", comm: ") {
			return kCPU
		}
	case 'T':
		if strings.HasPrefix(s, "Task in ") && strings.Contains(s, " killed as a result of limit of ") {
			return kTaskIn
		}
		if strings.HasPrefix(s, "Tasks state (memory values in pages)") {
			return kTasksState
		}
		if strings.HasPrefix(s, "Tasks in ") && strings.HasSuffix(s, "memory.oom.group set") {
			return kGroup
		}
	case 'M':
		if strings.HasPrefix(s, "Mem-Info:") {
			return kMemInfo
		}
		if strings.HasPrefix(s, "Memory cgroup stats for ") {
			return kStatsHeader
		}
		if strings.HasPrefix(s, "Memory limit reached of cgroup ") {
			return kMemLimit
		}
	case 'm', 's', 'k':
		if strings.Contains(s, ": usage ") && (strings.HasPrefix(s, "memory: ") || strings.HasPrefix(s, "memory+swap: ") ||
			strings.HasPrefix(s, "swap: ") || strings.HasPrefix(s, "kmem: ")) {
			return kUsage
		}
	case '[':
		if strings.HasPrefix(s, "[ pid ]") || strings.HasPrefix(s, "[  pid  ]") {
			return kTableHeader
		}
		if isRowStart(s) {
			// A task row: its name may say anything.
			return kOther
		}
	case 'K':
		if strings.HasPrefix(s, "Kernel panic - not syncing: ") {
			return kPanic
		}
	case 'L':
		if strings.HasPrefix(s, "Linux version ") {
			return kBoot
		}
	}
	// A comm may hold the other line's words; the header's arguments
	// cannot be part of a 15-byte comm.
	if strings.Contains(s, invokedSep+"gfp_mask=") {
		return kHeader
	}
	if strings.Contains(s, "Killed process ") {
		return kKilled
	}
	if strings.Contains(s, invokedSep) {
		return kHeader
	}
	if strings.Contains(s, "Kill process ") && strings.Contains(s, "sacrifice child") {
		return kChosen
	}
	if strings.Contains(s, "OOM victim ") && strings.Contains(s, " is already exiting") {
		return kExiting
	}
	if strings.HasPrefix(s, "Out of memory") {
		if strings.HasPrefix(s, "Out of memory and no killable processes") {
			return kNoKillable
		}
		if strings.HasSuffix(s, "panic_on_oom is enabled") {
			return kPanicOnOOM
		}
	}
	if strings.Contains(s, " cpuset=") && strings.Contains(s, " mems_allowed=") {
		return kCpuset
	}
	return kOther
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

// starts reports whether a line of kind k begins a report when none is
// open (a header-less tail, a lone kill line of a rate-limited storm).
func starts(k lineKind) bool {
	switch k {
	case kHeader, kTaskIn, kMemLimit, kUsage, kStatsHeader, kTasksState, kTableHeader,
		kSummary, kChosen, kKilled, kExiting, kGroup, kNoKillable, kPanicOnOOM:
		return true
	}
	return false
}
