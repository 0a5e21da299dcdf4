package oomlog

import (
	"strings"
	"testing"
	"time"
)

// oldRareWords is mayStart's search before hasRareWord: one scan per
// word. The reference hasRareWord must agree with.
func oldRareWords(b string) bool {
	// "oom" (invoked oom-killer, oom-kill:, oom_reaper, memory.oom.group),
	// "memory"/"Memory" (Out of memory, Memory cgroup …, memory: usage).
	for off := 0; ; {
		i := strings.IndexByte(b[off:], 'm')
		if i < 0 {
			break
		}
		i += off
		if i >= 2 && b[i-1] == 'o' && b[i-2] == 'o' {
			return true
		}
		if i+3 < len(b) && b[i+1] == 'o' && b[i+2] == 'r' && b[i+3] == 'y' {
			return true
		}
		off = i + 1
	}
	return oldHasWordAt(b, 'K', "Kill", "Kernel panic") || // Kill process, Killed process, panics
		oldHasWordAt(b, 'O', "OOM victim", "") ||
		oldHasWordAt(b, 'T', "Task", "") || // Task in, Tasks state, Tasks in
		oldHasWordAt(b, 'P', "PID: ", "Pid: ") || // the kernel release on CPU lines
		oldHasWordAt(b, 'L', "Linux version", "") ||
		oldHasPidHeader(b) ||
		oldHasTaskRow(b)
}

// hasTaskRow finds a task-table row, "[  14300]     0 14300 …": "[",
// spaces, digits, "]", then spaces and a digit (a dmesg stamp has a dot
// inside its brackets). Rows whose header was cut begin a report on their
// own (excerpt.go).
func oldHasTaskRow(b string) bool {
	for off := 0; ; {
		i := strings.IndexByte(b[off:], '[')
		if i < 0 {
			return false
		}
		i += off
		j := i + 1
		for j < len(b) && b[j] == ' ' {
			j++
		}
		d := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if j > d && j+2 < len(b) && b[j] == ']' && b[j+1] == ' ' {
			k := j + 1
			for k < len(b) && b[k] == ' ' {
				k++
			}
			if k < len(b) && isDigit(b[k]) {
				return true
			}
		}
		off = i + 1
	}
}

// hasWordAt reports whether b holds w1 or w2, both starting with c.
func oldHasWordAt(b string, c byte, w1, w2 string) bool {
	for off := 0; ; {
		i := strings.IndexByte(b[off:], c)
		if i < 0 {
			return false
		}
		i += off
		r := b[i:]
		if strings.HasPrefix(r, w1) || w2 != "" && strings.HasPrefix(r, w2) {
			return true
		}
		off = i + 1
	}
}

// hasPidHeader finds the task table header "[ pid ]" / "[  pid  ]".
func oldHasPidHeader(b string) bool {
	for off := 0; ; {
		i := strings.IndexByte(b[off:], ']')
		if i < 0 {
			return false
		}
		i += off
		j := i - 1
		for j >= 0 && b[j] == ' ' {
			j--
		}
		if j >= 2 && b[j] == 'd' && b[j-1] == 'i' && b[j-2] == 'p' {
			return true
		}
		off = i + 1
	}
}

func TestHasRareWordAgreesWithOneScanPerWord(t *testing.T) {
	for _, s := range []string{"", "m", "oom", "xoom", "memory", "Memory cgroup", "mory", "Kill", "Kil", "Kernel panic - not syncing",
		"OOM victim 1", "Tasks state", "CPU: 0 PID: 1 Comm: a", "Pid: 1, comm: a", "Linux version 6.1", "[  pid  ]", "[ pid ]", "pid]",
		"[  14300]     0 14300", "[ 12.345] a", "[1] 2", "[1]  ", "[1] x", "[  1]     0", "IPv6: ADDRCONF(NETDEV_CHANGE): veth1: link becomes ready",
		"]", "[", "[]", "m]o[K"} {
		if got, want := hasRareWord(s), oldRareWords(s); got != want {
			t.Errorf("hasRareWord(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzHasRareWord(f *testing.F) {
	f.Add("[  14300]     0 14300 dotnet")
	f.Add("invoked oom-killer")
	f.Add("[ pid ]   uid")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hasRareWord(s), oldRareWords(s); got != want {
			t.Errorf("hasRareWord(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzOtherProgram: a line the Scanner skips as another program's while
// a report is open is one the Assembler would drop as such.
func FuzzOtherProgram(f *testing.F) {
	for _, s := range []string{
		"Jan 16 21:33:51 node-1 systemd[1]: Started Session 1.\n",
		"Jan 16 21:33:51 node-1 kernel: [ 1.2] x\n",
		"Jan  5 15:19:27.123456 h CRON[14500]: y\n",
		"Jan 16 21:33:51 tag:\n",
		"Jan 16 21:33:51 h x:\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !otherProgram(s) {
			return
		}
		var st Stamp
		if _, src := splitPrefixInto(trimEOL(s), &st, time.UTC, nil); src != srcForeign {
			t.Errorf("otherProgram(%q) but splitPrefixInto reads source %v", s, src)
		}
	})
}
