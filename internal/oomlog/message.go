package oomlog

import (
	"strconv"
	"strings"
	"time"
)

// This file finds the kernel's message in a line whose log prefix oomlog
// does not know (OpenWrt's logread, a hypervisor's log wrapping the guest
// console, a bare "kernel: ", a remote syslog viewer, a serial console
// glued to a login prompt): enumerating prefixes never ends, so the
// kernel's own grammar is looked for wherever it starts. The prefix the
// first line of a report carried is then learned as a shape and stripped
// from the report's later lines, so that a task named "kernel: x" or
// "[1.5]" stays a name.

// maxPrefix bounds how far into a line the message is looked for: the
// longest prefix seen in real logs (a hypervisor's time, level, thread and
// guest tag, then syslog's time, host and tag, then dmesg's stamp) is
// under 100 bytes.
const maxPrefix = 256

// maxComm is TASK_COMM_LEN − 1 (include/linux/sched.h): a comm printed
// with %s is at most 15 bytes.
const maxComm = 15

// field is one space-separated field of a prefix; a bracket group
// ("[  379.197183]", "<4>[39290745.072205]") is one field even with
// spaces inside.
type field struct {
	start, end int
}

// nextField returns the field of s starting at or after i, or ok false.
func nextField(s string, i int) (f field, ok bool) {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) {
		return f, false
	}
	j := i
	// "<N>" then "[…]" is one stamp field, as is "[…]" alone.
	k := j
	if s[k] == '<' {
		if e := strings.IndexByte(s[k:], '>'); e > 0 && e <= 4 {
			k += e + 1
		}
	}
	if k < len(s) && s[k] == '[' {
		if e := strings.IndexByte(s[k:], ']'); e > 0 && e < 64 {
			return field{i, k + e + 1}, true
		}
	}
	for j < len(s) && s[j] != ' ' {
		j++
	}
	return field{i, j}, true
}

// stampField reports whether f is a dmesg stamp "[  123.456]", optionally
// after a console level "<4>", or a printk caller id "[ T123]".
func stampField(f string) bool {
	f = stripLevel(f)
	if len(f) < 3 || f[0] != '[' || f[len(f)-1] != ']' {
		return false
	}
	in := f[1 : len(f)-1]
	return isUptime(in) || isCaller(in)
}

// findMessage returns where the kernel's message starts in line: after
// the prefix's markers (afterMarkers), or, without any, at a field where
// the kernel's fixed report grammar begins. ok is false when the line
// holds neither.
func findMessage(line string) (start int, ok bool) {
	limit := min(len(line), maxPrefix)
	if after := afterMarkers(line[:limit]); after >= 0 {
		return after, after < len(line)
	}
	return findGrammar(line[:limit])
}

// afterMarkers returns where the text after the first "kernel:" tag or
// dmesg stamp of s starts (skipping the stamps, levels and caller ids
// right after it), or -1 when s has none.
func afterMarkers(s string) int {
	after := -1
	for i, n := 0, 0; n < 24; n++ {
		f, more := nextField(s, i)
		if !more {
			break
		}
		text := s[f.start:f.end]
		switch {
		case text == "kernel:" || stampField(text):
			after = f.end
		case after >= 0:
			// The first field after the marker(s) is the message.
			return f.start
		}
		i = f.end
	}
	if after >= 0 {
		for after < len(s) && s[after] == ' ' {
			after++
		}
	}
	return after
}

// findGrammar finds, at a field boundary, the start of a line of the
// report grammar that has fixed words at its start, or the comm of a
// header (at most 15 bytes before " invoked oom-killer:").
func findGrammar(s string) (int, bool) {
	if i := strings.Index(s, invokedSep); i > 0 {
		// The comm may hold spaces: take the longest run of whole fields
		// that fits in a comm; the stack dump banner corrects it later.
		for j := max(0, i-maxComm); j < i; j++ {
			if j == 0 || s[j-1] == ' ' {
				return j, true
			}
		}
		return 0, false
	}
	for _, anchor := range grammarStarts {
		if i := strings.Index(s, anchor); i > 0 && s[i-1] == ' ' {
			return i, true
		}
	}
	return 0, false
}

// grammarStarts are the fixed words that begin a line of a report
// (grammar.go), longest first where one begins another.
var grammarStarts = []string{
	"oom-kill:", "Memory cgroup out of memory: ", "Out of memory (oom_kill_allocating_task): ",
	"Out of memory and no killable processes", "Out of memory: ", "Killed process ",
	"Memory cgroup stats for ", "Tasks state (memory values in pages)", "Mem-Info:",
	"memory: usage ", "Task in ", "oom_reaper: ", "CPU: ",
}

// leaksPrefix reports whether body, classified as kind, still holds a log
// prefix in front of the kernel's grammar: a header's or cpuset line's
// "comm" longer than a comm can be or holding a stamp or tag, a kill line
// whose words before "Killed process" are not one of the kernel's.
func leaksPrefix(body string, kind lineKind) bool {
	switch kind {
	case lineHeader:
		return badComm(body[:strings.Index(body, invokedCut)])
	case lineCpuset:
		return badComm(body[:strings.Index(body, " cpuset=")])
	case lineKilled, lineChosen, lineExiting:
		word := "Killed process "
		switch kind {
		case lineChosen:
			word = "Kill process "
		case lineExiting:
			word = "OOM victim "
		}
		switch killMessage(body[:strings.Index(body, word)]) {
		case "", "Out of memory", "Memory cgroup out of memory", "Out of memory (oom_kill_allocating_task)":
			return false
		}
		return true
	}
	return false
}

// badComm reports whether the text before a header's " invoked" holds a
// log prefix's marker (a "kernel:" tag, a dmesg stamp) and so cannot be a
// comm alone. Its length says nothing: a syslog daemon or /dev/kmsg
// escapes a comm's control bytes into several characters each.
func badComm(comm string) bool {
	return afterMarkers(comm+" ") >= 0
}

// prefixShape is the prefix of a report's first line, field by field, as
// far as it must repeat on the report's later lines: the tags ("kernel:",
// "Guest:") literally, the dmesg stamps as stamps, other fields (times,
// hosts, levels, thread names) as any field.
type prefixShape []shapeField

type shapeField struct {
	tag   string // a field ending in ':' that must repeat as is
	stamp bool   // a dmesg stamp, caller id or "<N>[…]"
}

// learnShape records the shape of prefix, the text before the message;
// nil when the prefix has no tag or stamp to recognise it by, since a
// shape of "any field" fields would strip the start of any line.
func learnShape(prefix string) prefixShape {
	var sh prefixShape
	anchored := false
	for i := 0; ; {
		f, ok := nextField(prefix, i)
		if !ok {
			if !anchored {
				return nil
			}
			return sh
		}
		anchored = anchored || strings.HasSuffix(prefix[f.start:f.end], ":") || stampField(prefix[f.start:f.end])
		text := prefix[f.start:f.end]
		switch {
		case stampField(text):
			sh = append(sh, shapeField{stamp: true})
		case strings.HasSuffix(text, ":"):
			sh = append(sh, shapeField{tag: text})
		default:
			sh = append(sh, shapeField{})
		}
		i = f.end
	}
}

// strip removes a prefix of shape sh from line and returns the message;
// ok is false when line does not begin with such a prefix.
func (sh prefixShape) strip(line string) (prefix, body string, ok bool) {
	i := 0
	for _, want := range sh {
		f, more := nextField(line, i)
		if !more {
			return "", "", false
		}
		text := line[f.start:f.end]
		switch {
		case want.tag != "" && text != want.tag:
			return "", "", false
		case want.stamp != stampField(text):
			return "", "", false
		}
		i = f.end
	}
	if i < len(line) && line[i] == ' ' {
		i++
	}
	return line[:i], line[i:], true
}

// prefixStamp reads what a prefix oomlog learned says: a dmesg stamp's
// uptime and caller id, an ISO 8601 time, a ctime with its year (logread:
// "Tue Jul 29 06:26:59 2025"), a syslog time without one ("Jun  8
// 11:15:43"), and the host before a "kernel:" tag.
func prefixStamp(prefix string, loc *time.Location) Stamp {
	var st Stamp
	var fs []field
	for i := 0; ; {
		f, ok := nextField(prefix, i)
		if !ok {
			break
		}
		fs = append(fs, f)
		i = f.end
	}
	text := func(f field) string { return prefix[f.start:f.end] }
	for i, f := range fs {
		switch t := text(f); {
		case stampField(t):
			in := strings.TrimSpace(stripLevel(t))
			in = in[1 : len(in)-1]
			if isCaller(in) {
				st.Caller = strings.TrimLeft(in, " ")
			} else if v, err := strconv.ParseFloat(strings.TrimSpace(in), 64); err == nil {
				st.Uptime = &v
			}
		case t == "kernel:" && i > 0 && !isTimeField(text(fs[i-1])) && !isFacilityLevel(text(fs[i-1])):
			st.Host = text(fs[i-1])
		case st.Text == "":
			readTimeFields(prefix, fs[i:], &st, loc)
		}
	}
	return st
}

// isFacilityLevel reports whether f is a syslog "facility.level"
// ("kern.warn", as OpenWrt's logread prints where syslog prints a host).
func isFacilityLevel(f string) bool {
	fac, lvl, ok := strings.Cut(f, ".")
	return ok && facilities[fac] && levels[lvl]
}

// isTimeField reports whether f looks like part of a time stamp (a
// clock, a year, a day of the month).
func isTimeField(f string) bool {
	return f != "" && isDigit(f[0])
}

// readTimeFields reads a time stamp of prefix that starts at fs[0], if
// one does: ISO 8601, or [weekday] month day hh:mm:ss [year]. Stamp.Text
// is the stamp as printed.
func readTimeFields(prefix string, fs []field, st *Stamp, loc *time.Location) {
	text := func(f field) string { return stripLevel(prefix[f.start:f.end]) }
	f := text(fs[0])
	if len(f) >= 19 && f[4] == '-' && f[10] == 'T' {
		var tmp Stamp
		if _, ok := splitISO(f+" ", &tmp, loc); ok && tmp.Time != nil {
			st.Text, st.Time, st.TimeFrom = tmp.Text, tmp.Time, TimeFromStamp
		}
		return
	}
	k := 0
	if len(fs) > 1 && len(f) == 3 && monthNumber(f) == 0 && monthNumber(text(fs[1])) != 0 {
		k = 1 // a weekday first
	}
	if len(fs) < k+3 {
		return
	}
	month := monthNumber(text(fs[k]))
	day, err := strconv.Atoi(text(fs[k+1]))
	clock := text(fs[k+2])
	if month == 0 || err != nil || day < 1 || day > 31 || len(clock) != 8 || clock[2] != ':' || clock[5] != ':' {
		return
	}
	// The stamp as printed, from the month (past a "<N>" level glued to
	// it) to the clock or the year.
	start := fs[k].start + len(prefix[fs[k].start:fs[k].end]) - len(text(fs[k]))
	end := fs[k+2].end
	if len(fs) > k+3 && len(text(fs[k+3])) == 4 && allDigits(text(fs[k+3])) {
		y, _ := strconv.Atoi(text(fs[k+3]))
		h, _ := strconv.Atoi(clock[0:2])
		mi, _ := strconv.Atoi(clock[3:5])
		se, _ := strconv.Atoi(clock[6:8])
		t := time.Date(y, time.Month(month), day, h, mi, se, 0, loc)
		st.Time, st.TimeFrom = &t, TimeFromStamp
		end = fs[k+3].end
	}
	st.Text = prefix[start:end]
}
