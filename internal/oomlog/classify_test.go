package oomlog

import (
	"strings"
	"testing"
)

// oldClassify is classify before its one-pass guard (hasClassByte): the
// reference classify must agree with.
func oldClassify(s string) lineKind {
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

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997",
		"Killed process 14300 (dotnet) total-vm:172107900kB",
		"Memory cgroup out of memory: Kill process 4358 (bash) score 1880 or sacrifice child",
		"OOM victim 123 (x) is already exiting. Skip killing the task",
		"Out of memory and no killable processes...",
		"dotnet cpuset=/ mems_allowed=0",
		" ? __alloc_pages_nodemask+0x2b0/0x2f0",
		"active_anon:4106 inactive_anon:0 isolated_anon:0",
		"x invoked oom-",
		"CPU: 0 PID: 14300 Comm: dotnet Not tainted 5.4.0-1059-azure #62~18.04.1-Ubuntu",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := classify(s), oldClassify(s); got != want {
			t.Errorf("classify(%q) = %v, want %v", s, got, want)
		}
	})
}
