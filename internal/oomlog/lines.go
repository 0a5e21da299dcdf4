package oomlog

import (
	"math"
	"strconv"
	"strings"
)

// This file parses one kernel message line of an OOM report each. The
// functions split on the separators the kernel's printk formats use; the
// format each one reads is quoted in its comment with its source.

// parseInt reads a decimal integer with an optional sign.
func parseInt(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	neg := false
	i := 0
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i = 1
		if len(s) == 1 {
			return 0, false
		}
	}
	var n int64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63-1-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func parseIntPtr(s string) *int {
	n, ok := parseInt(s)
	if !ok || n > 1<<31-1 || n < -(1<<31) {
		return nil
	}
	v := int(n)
	return &v
}

// parseUIDPtr reads the kill line's "UID:%u" (__oom_kill_process(),
// mm/oom_kill.c): a kuid_t, any 32-bit unsigned value (4294967294 and up
// show up for nobody/overflow IDs), unlike the int fields around it.
func parseUIDPtr(s string) *int {
	n, ok := parseInt(s)
	if !ok || n < 0 || n > 1<<32-1 {
		return nil
	}
	v := int(n)
	return &v
}

func parseInt64Ptr(s string) *int64 {
	n, ok := parseInt(s)
	if !ok {
		return nil
	}
	return &n
}

// parseKB reads "1234kB" (or "1234KB", "1234") as kB.
// A count of digits too large for 64 bits is read as math.MaxInt64, so
// the range checks of explain (explain/check.go) warn about it and leave
// it out, rather than it vanishing without a word.
func parseKB(s string) *int64 {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "kB"), "KB")
	if p := parseInt64Ptr(s); p != nil || !allDigits(s) {
		return p
	}
	n := int64(math.MaxInt64)
	return &n
}

const invokedSep = " invoked oom-killer: "

// invokedCut is as much of invokedSep as a header cut short must still
// print to be told apart from other text.
const invokedCut = " invoked oom-"

// parseHeader reads "<comm> invoked oom-killer: gfp_mask=0x..(FLAGS),
// [nodemask=LIST,] order=N, oom_score_adj=N" (dump_header(), mm/oom_kill.c,
// every version; 2.6 prints "oom_adj=N, oom_score_adj=N" or "oomkilladj=N").
func parseHeader(body string) (*Trigger, bool) {
	i := strings.Index(body, invokedSep)
	if i < 0 {
		// Cut before its arguments: "systemd invoked oom-kil".
		if j := strings.Index(body, invokedCut); j > 0 {
			return &Trigger{Comm: body[:j]}, false
		}
		return nil, false
	}
	t := &Trigger{Comm: body[:i]}
	args := body[i+len(invokedSep):]
	ok := false
	if v, found := argValue(args, "gfp_mask="); found {
		ok = true
		if p := strings.IndexByte(v, '('); p >= 0 {
			t.GFPMask = v[:p]
			flags := strings.TrimSuffix(v[p+1:], ")")
			if flags != "" {
				t.GFPFlags = strings.Split(flags, "|")
			}
		} else {
			t.GFPMask = v
		}
	}
	if j := strings.Index(args, "nodemask="); j >= 0 {
		v := args[j+len("nodemask="):]
		// The nodemask list itself may contain commas ("0,2-3"); it ends
		// at the ", order=" / ",  order=" that follows it.
		if k := strings.Index(v, "order="); k >= 0 {
			v = strings.TrimRight(v[:k], ", ")
		}
		t.Nodemask = v
	}
	if v, found := argValue(args, "order="); found {
		t.Order = parseIntPtr(v)
		ok = ok && t.Order != nil
	}
	if v, found := argValue(args, "oom_score_adj="); found {
		t.OOMScoreAdj = parseIntPtr(v)
	}
	if v, found := argValue(args, "oom_adj="); found {
		t.OOMAdj = parseIntPtr(v)
	} else if v, found := argValue(args, "oomkilladj="); found {
		t.OOMAdj = parseIntPtr(v)
	}
	return t, ok
}

// headerCut reports whether a header ends before its last field, the
// trigger's oom_score_adj (or 2.6's oomkilladj=): a line cut short.
func headerCut(body string) bool {
	i := strings.LastIndex(body, "adj=")
	return i < 0 || parseIntPtr(body[i+len("adj="):]) == nil
}

// argValue finds key (at the start or after a space or comma) in a
// "k=v, k=v" list and returns its value up to the next comma.
func argValue(args, key string) (string, bool) {
	off := 0
	for {
		j := strings.Index(args[off:], key)
		if j < 0 {
			return "", false
		}
		j += off
		if j == 0 || args[j-1] == ' ' || args[j-1] == ',' {
			v := args[j+len(key):]
			if k := strings.IndexByte(v, ','); k >= 0 {
				v = v[:k]
			}
			return strings.TrimSpace(v), true
		}
		off = j + len(key)
	}
}

// parseCpuset reads "<comm> cpuset=<name> mems_allowed=<list>"
// (cpuset_print_current_mems_allowed(), kernel/cgroup/cpuset.c, ≤4.20).
func parseCpuset(body string) (comm, cpuset, mems string, ok bool) {
	i := strings.Index(body, " cpuset=")
	if i < 0 {
		return
	}
	rest := body[i+len(" cpuset="):]
	j := strings.LastIndex(rest, " mems_allowed=")
	if j < 0 {
		return
	}
	return body[:i], rest[:j], rest[j+len(" mems_allowed="):], true
}

// parseCPULine reads the dump_stack() banner: "CPU: %d PID: %d Comm: %.20s
// <taint> <release> #<build>" (lib/dump_stack.c 4.4–6.8), "CPU: %d UID: %u
// PID: %d Comm: …" (6.12+), and 2.6's "Pid: %d, comm: %.20s <taint>
// <release> #<build>".
func parseCPULine(body string) (comm string, pid *int, release string, ok bool) {
	var rest string
	if r, found := strings.CutPrefix(body, "CPU: "); found {
		j := strings.Index(r, "PID: ")
		if j < 0 {
			return
		}
		r = r[j+len("PID: "):]
		p, after, found := strings.Cut(r, " Comm: ")
		if !found {
			return
		}
		pid = parseIntPtr(p)
		rest = after
	} else if r, found := strings.CutPrefix(body, "Pid: "); found {
		p, after, found := strings.Cut(r, ", comm: ")
		if !found {
			return
		}
		pid = parseIntPtr(p)
		rest = after
	} else {
		return
	}
	// A pid out of range is left nil (the caller warns); the comm and the
	// release are still read.
	// The comm is at most 20 bytes and may hold spaces; the taint marker
	// follows it.
	cut := -1
	for _, m := range []string{" Not tainted", " Tainted: ", " Kdump: loaded"} {
		if k := strings.Index(rest, m); k >= 0 && (cut < 0 || k < cut) {
			cut = k
		}
	}
	if cut < 0 {
		return rest, pid, "", true
	}
	comm = rest[:cut]
	tail := rest[cut:]
	for _, m := range []string{" Not tainted", " Tainted: "} {
		if k := strings.Index(tail, m); k >= 0 {
			for _, f := range strings.Fields(tail[k+len(m):]) {
				if isDigit(f[0]) {
					release = f
					break
				}
			}
			break
		}
	}
	return comm, pid, release, true
}

// parseTaskIn reads "Task in <task memcg> killed as a result of limit of
// <oom memcg>" (mem_cgroup_print_oom_info(), mm/memcontrol.c, ≤4.20).
func parseTaskIn(body string) (task, oom string, ok bool) {
	r, found := strings.CutPrefix(body, "Task in ")
	if !found {
		return
	}
	task, oom, ok = strings.Cut(r, " killed as a result of limit of ")
	return
}

// memcgUsage is one "memory: usage %llukB, limit %llukB, failcnt %lu" line
// (mem_cgroup_print_oom_meminfo(), mm/memcontrol.c).
type memcgUsage struct {
	kind                  string // "memory", "memory+swap", "swap", "kmem"
	usage, limit, failcnt *int64
}

func parseUsage(body string) (memcgUsage, bool) {
	kind, rest, found := strings.Cut(body, ": usage ")
	if !found {
		return memcgUsage{}, false
	}
	switch kind {
	case "memory", "memory+swap", "swap", "kmem":
	default:
		return memcgUsage{}, false
	}
	u := memcgUsage{kind: kind}
	us, rest, _ := strings.Cut(rest, ", limit ")
	ls, fs, _ := strings.Cut(rest, ", failcnt ")
	u.usage, u.limit, u.failcnt = parseKB(us), parseKB(ls), parseInt64Ptr(fs)
	return u, u.usage != nil && u.limit != nil
}

// parseStatsHeader reads "Memory cgroup stats for <path>:" and its ≤5.2
// one-line form "…: cache:0KB rss:980KB …" (values in KB).
func parseStatsHeader(body string) (path, inline string, ok bool) {
	r, found := strings.CutPrefix(body, "Memory cgroup stats for ")
	if !found {
		return
	}
	if p, in, found := strings.Cut(r, ": "); found && strings.Contains(in, "KB") {
		return p, in, true
	}
	return strings.TrimSuffix(r, ":"), "", true
}

// parseStatKV reads one "anon 1068539904" line of the 5.3+ memory.stat
// dump (memory_stat_format(), mm/memcontrol.c).
func parseStatKV(body string) (string, int64, bool) {
	k, v, found := strings.Cut(strings.TrimSpace(body), " ")
	if !found || k == "" {
		return "", 0, false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' {
			return "", 0, false
		}
	}
	n, ok := parseInt(v)
	return k, n, ok
}

// parseSummary reads the 5.0+ summary line (dump_oom_summary(),
// mm/oom_kill.c): "oom-kill:constraint=%s,nodemask=%*pbl[,cpuset=%s,
// mems_allowed=%*pbl][,oom_memcg=%s|,global_oom][,task_memcg=%s],task=%s,
// pid=%d,uid=%d". Paths and names may contain commas, so each field is
// found by the key that follows it. A line cut short (cut true) keeps the
// fields before the cut; the victim's task, pid and uid only when whole.
func parseSummary(body string, r *Report, t *Trigger) (ok, cut bool) {
	s, found := strings.CutPrefix(body, "oom-kill:")
	if !found {
		return false, false
	}
	// The victim fields are last; take them from the end.
	u := strings.LastIndex(s, ",uid=")
	if u < 0 || !allDigits(s[u+len(",uid="):]) {
		return parseSummaryCut(s, r, t), true
	}
	uid := s[u+len(",uid="):]
	s = s[:u]
	p := strings.LastIndex(s, ",pid=")
	if p < 0 {
		return false, false
	}
	pid := s[p+len(",pid="):]
	s = s[:p]
	tk := strings.LastIndex(s, ",task=")
	if tk < 0 {
		tk = strings.LastIndex(s, "task=")
		if tk != 0 {
			return false, false
		}
		r.SummaryComm = s[len("task="):]
	} else {
		r.SummaryComm = s[tk+len(",task="):]
	}
	if tk >= 0 {
		s = s[:tk]
	} else {
		s = ""
	}
	r.SummaryPID = parseIntPtr(pid)
	r.SummaryUID = parseIntPtr(uid)
	readSummaryContext(s, r, t)
	return r.SummaryPID != nil, false
}

// readSummaryContext reads the summary line's fields before task=.
func readSummaryContext(s string, r *Report, t *Trigger) {
	if i := strings.Index(s, ",task_memcg="); i >= 0 {
		r.TaskMemcg = s[i+len(",task_memcg="):]
		s = s[:i]
	}
	if strings.HasSuffix(s, ",global_oom") {
		r.GlobalOOM = true
		s = strings.TrimSuffix(s, ",global_oom")
	} else if i := strings.Index(s, ",oom_memcg="); i >= 0 {
		r.OOMMemcg = s[i+len(",oom_memcg="):]
		s = s[:i]
	}
	var nodemask, cpuset, mems string
	if i := strings.Index(s, ",mems_allowed="); i >= 0 {
		mems = s[i+len(",mems_allowed="):]
		s = s[:i]
	}
	if i := strings.Index(s, ",cpuset="); i >= 0 {
		cpuset = s[i+len(",cpuset="):]
		s = s[:i]
	}
	if i := strings.Index(s, ",nodemask="); i >= 0 {
		nodemask = s[i+len(",nodemask="):]
		s = s[:i]
	}
	if c, found := strings.CutPrefix(s, "constraint="); found {
		r.Constraint = c
	}
	if t != nil {
		t.Nodemask, t.Cpuset, t.MemsAllowed = nodemask, cpuset, mems
	}
}

// summaryKeys are the summary line's keys in print order.
var summaryKeys = []string{"constraint=", ",nodemask=", ",cpuset=", ",mems_allowed=", ",oom_memcg=", ",global_oom", ",task_memcg=", ",task=", ",pid=", ",uid="}

// parseSummaryCut reads a summary line cut short: each key in print
// order, its value up to the next key found or the cut. The cut value is
// kept as far as it was printed, except a victim's name and numbers,
// which a cut can make another name or number.
func parseSummaryCut(s string, r *Report, t *Trigger) bool {
	vals := map[string]string{}
	last := ""
	pos := 0
	for _, k := range summaryKeys {
		i := strings.Index(s[pos:], k)
		if i < 0 {
			continue
		}
		i += pos
		if last != "" {
			vals[last] = s[pos:i]
		}
		last, pos = k, i+len(k)
	}
	if last == "" {
		return false
	}
	vals[last] = s[pos:]
	whole := func(k string) (string, bool) {
		v, ok := vals[k]
		return v, ok && k != last
	}
	if v, ok := vals["constraint="]; ok {
		r.Constraint = v
	}
	if _, ok := vals[",global_oom"]; ok {
		r.GlobalOOM = true
	}
	if v, ok := vals[",oom_memcg="]; ok {
		r.OOMMemcg = v
	}
	if v, ok := vals[",task_memcg="]; ok {
		r.TaskMemcg = v
	}
	if t != nil {
		t.Nodemask, t.Cpuset, t.MemsAllowed = vals[",nodemask="], vals[",cpuset="], vals[",mems_allowed="]
	}
	if v, ok := whole(",task="); ok {
		r.SummaryComm = v
	}
	if v, ok := whole(",pid="); ok {
		r.SummaryPID = parseIntPtr(v)
	}
	return true
}

// killMessages are the prefixes oom_kill_process() puts before "Kill
// process"/"Killed process" (mm/oom_kill.c).
func killMessage(prefix string) string {
	return strings.TrimSuffix(strings.TrimSuffix(prefix, " "), ":")
}

// parseChosen reads "<msg>: Kill process %d (%s) score %u or sacrifice
// child" (oom_kill_process(), mm/oom_kill.c, ≤5.0).
func parseChosen(body string) (msg string, pid int, comm string, score *int, ok bool) {
	i := strings.Index(body, "Kill process ")
	if i < 0 {
		return
	}
	msg = killMessage(body[:i])
	rest := body[i+len("Kill process "):]
	p, rest, found := strings.Cut(rest, " (")
	if !found {
		return
	}
	pp := parseIntPtr(p)
	if pp == nil {
		return
	}
	j := strings.LastIndex(rest, ") score ")
	if j < 0 {
		return
	}
	comm = rest[:j]
	sc := rest[j+len(") score "):]
	sc, _, _ = strings.Cut(sc, " ")
	return msg, *pp, comm, parseIntPtr(sc), true
}

// parseKilled reads every wording of the kill line (__oom_kill_process(),
// mm/oom_kill.c): "[<msg>: ]Killed process %d (%s) total-vm:%lukB,
// anon-rss:%lukB, file-rss:%lukB[, shmem-rss:%lukB][, UID:%u pgtables:%lukB
// oom_score_adj:%hd]", RHEL 6's "Killed process %d, UID %d, (%s) …" and old
// 2.6 "vsz:%lukB" forms.
func parseKilled(body string) (Victim, bool) {
	i := strings.Index(body, "Killed process ")
	if i < 0 {
		return Victim{}, false
	}
	v := Victim{Message: killMessage(body[:i])}
	rest := body[i+len("Killed process "):]
	k := 0
	for k < len(rest) && isDigit(rest[k]) {
		k++
	}
	pid := parseIntPtr(rest[:k])
	if pid == nil {
		return Victim{}, false
	}
	v.PID = *pid
	rest = rest[k:]
	if r, found := strings.CutPrefix(rest, ", UID "); found {
		u, after, found := strings.Cut(r, ",")
		if !found {
			return v, false
		}
		v.UID = parseIntPtr(u)
		rest = after
	}
	rest = strings.TrimPrefix(rest, " ")
	if !strings.HasPrefix(rest, "(") {
		return v, false
	}
	rest = rest[1:]
	// The comm may hold ") " itself; it ends at the last ")" before the
	// first size field.
	end := len(rest)
	for _, m := range []string{" total-vm:", " vsz:"} {
		if j := strings.Index(rest, m); j >= 0 && j < end {
			end = j
		}
	}
	c := strings.LastIndexByte(rest[:end], ')')
	if c < 0 {
		// Cut inside the comm: the pid is whole, the comm is not.
		v.Cut = true
		return v, true
	}
	v.Comm = rest[:c]
	fields := rest[c+1:]
	for len(fields) > 0 {
		var f string
		f, fields, _ = strings.Cut(fields, " ")
		f = strings.TrimSuffix(f, ",")
		key, val, found := strings.Cut(f, ":")
		if !found {
			continue
		}
		switch key {
		case "total-vm", "vsz":
			v.TotalVMKB = parseKB(val)
		case "anon-rss":
			v.AnonRSSKB = parseKB(val)
		case "file-rss":
			v.FileRSSKB = parseKB(val)
		case "shmem-rss":
			v.ShmemRSSKB = parseKB(val)
		case "UID":
			v.UID = parseUIDPtr(val)
		case "pgtables":
			v.PgtablesKB = parseKB(val)
		case "oom_score_adj":
			v.OOMScoreAdj = parseIntPtr(val)
		}
	}
	v.Cut = killedCut(rest[c+1:])
	return v, true
}

// killedCut reports whether the fields after a Killed line's comm end
// inside a field: every wording ends with a size in kB or, 5.4+, with
// oom_score_adj:N; the oldest print none ("Killed process 1234 (foo)").
func killedCut(fields string) bool {
	f := strings.TrimRight(fields, " ")
	if f == "" || f == "." {
		return false
	}
	last := f[strings.LastIndexByte(f, ' ')+1:]
	if strings.HasSuffix(last, "kB") || strings.HasSuffix(last, "kB,") {
		return false
	}
	for _, k := range []string{"oom_score_adj:", "UID:"} { // 5.4+; RHEL 8's backport ends at UID
		if n, ok := strings.CutPrefix(last, k); ok && parseIntPtr(n) != nil {
			return false
		}
	}
	return true
}

// parseExiting reads "<msg>: OOM victim %d (%s) is already exiting. Skip
// killing the task" (oom_kill_process(), mm/oom_kill.c, 5.10+).
func parseExiting(body string) (Victim, bool) {
	i := strings.Index(body, "OOM victim ")
	if i < 0 {
		return Victim{}, false
	}
	rest := body[i+len("OOM victim "):]
	p, rest, found := strings.Cut(rest, " (")
	if !found {
		return Victim{}, false
	}
	pid := parseIntPtr(p)
	j := strings.LastIndex(rest, ") is already exiting")
	if pid == nil || j < 0 {
		return Victim{}, false
	}
	return Victim{PID: *pid, Comm: rest[:j], Message: killMessage(body[:i]), Exiting: true}, true
}

// reaperLine is an oom_reaper line (oom_reap_task_mm()/oom_reap_task(),
// mm/oom_kill.c, 4.6+): "oom_reaper: reaped process %d (%s), now
// anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB" or "oom_reaper: unable
// to reap pid:%d (%s)".
type reaperLine struct {
	pid               int
	comm              string
	failed            bool
	anon, file, shmem *int64
}

func parseReaper(body string) (reaperLine, bool) {
	rest, found := strings.CutPrefix(body, "oom_reaper: ")
	if !found {
		return reaperLine{}, false
	}
	var l reaperLine
	if r, found := strings.CutPrefix(rest, "reaped process "); found {
		rest = r
	} else if r, found := strings.CutPrefix(rest, "unable to reap pid:"); found {
		rest = r
		l.failed = true
	} else {
		return l, false
	}
	p, rest, found := strings.Cut(rest, " (")
	pid := parseIntPtr(p)
	if !found || pid == nil {
		return l, false
	}
	l.pid = *pid
	if j := strings.LastIndex(rest, "), now "); j >= 0 {
		l.comm = rest[:j]
		for _, f := range strings.Split(rest[j+len("), now "):], ", ") {
			key, val, _ := strings.Cut(f, ":")
			switch key {
			case "anon-rss":
				l.anon = parseKB(val)
			case "file-rss":
				l.file = parseKB(val)
			case "shmem-rss":
				l.shmem = parseKB(val)
			}
		}
	} else if j := strings.LastIndexByte(rest, ')'); j >= 0 {
		l.comm = rest[:j]
	}
	return l, true
}

// parseGroup reads "Tasks in %s are going to be killed due to
// memory.oom.group set" (mem_cgroup_print_oom_group(), mm/memcontrol.c, 4.19+).
func parseGroup(body string) (string, bool) {
	r, found := strings.CutPrefix(body, "Tasks in ")
	if !found {
		return "", false
	}
	return strings.CutSuffix(r, " are going to be killed due to memory.oom.group set")
}

// Task-table columns, from the header the kernel printed (dump_task(),
// mm/oom_kill.c).
type column uint8

const (
	colSkip column = iota
	colUID
	colTGID
	colTotalVM
	colRSS
	colRSSAnon
	colRSSFile
	colRSSShmem
	colPgtablesBytes
	colNrPtes
	colNrPmds
	colSwapEnts
	colOOMScoreAdj
	colCPU
	colOOMAdj
)

var columnNames = map[string]column{
	"uid": colUID, "tgid": colTGID, "total_vm": colTotalVM, "rss": colRSS,
	"rss_anon": colRSSAnon, "rss_file": colRSSFile, "rss_shmem": colRSSShmem,
	"pgtables_bytes": colPgtablesBytes, "nr_ptes": colNrPtes, "nr_pmds": colNrPmds,
	"swapents": colSwapEnts, "oom_score_adj": colOOMScoreAdj, "cpu": colCPU, "oom_adj": colOOMAdj,
}

// parseTableHeader reads "[ pid ]   uid  tgid total_vm      rss … name"
// and returns the numeric columns after the pid, in order.
func parseTableHeader(body string) ([]column, TableFormat, bool) {
	if !strings.HasPrefix(body, "[ ") {
		return nil, "", false
	}
	end := strings.IndexByte(body, ']')
	if end < 0 || strings.TrimSpace(body[1:end]) != "pid" {
		return nil, "", false
	}
	f := strings.Fields(body[end+1:])
	if len(f) < 2 || f[len(f)-1] != "name" {
		return nil, "", false
	}
	cols := make([]column, 0, len(f)-1)
	has := map[column]bool{}
	for _, name := range f[:len(f)-1] {
		c := columnNames[name]
		cols = append(cols, c)
		has[c] = true
	}
	format := TableUnknown
	switch {
	case has[colRSSAnon]:
		format = TableRSSSplit
	case has[colPgtablesBytes]:
		format = TablePgtables
	case has[colNrPtes]:
		format = TableNrPtes
	case has[colOOMAdj]:
		format = TableOOMAdj
	}
	return cols, format, true
}

// parseTaskRow reads one "[%7d] %5d %5d %8lu …         %5hd %s" row. The
// name is everything after the single space that follows the last number,
// so names with spaces, brackets and parentheses survive.
func parseTaskRow(body string, cols []column) (Task, bool) {
	var t Task
	ok := parseTaskRowInto(body, cols, &t)
	return t, ok
}

// parseTaskRowInto is parseTaskRow into *t, which must be zero (the
// table's next slot, so the row is not copied there). On failure *t is
// left partly written.
func parseTaskRowInto(body string, cols []column, t *Task) bool {
	if len(body) < 3 || body[0] != '[' {
		return false
	}
	end := strings.IndexByte(body, ']')
	if end < 0 {
		return false
	}
	pid, ok := parseInt(strings.TrimLeft(body[1:end], " "))
	if !ok || pid < 0 || pid > 1<<31-1 {
		return false
	}
	t.PID = int(pid)
	rest := body[end+1:]
	var ptes, pmds int64
	var has TaskColumns
	for _, c := range cols {
		var n int64
		n, rest, ok = rowField(rest)
		if !ok {
			return false
		}
		switch c {
		case colUID:
			t.UID = int(n)
			has |= HasUID
		case colTGID:
			t.TGID = int(n)
			has |= HasTGID
		case colTotalVM:
			t.TotalVMPages = n
		case colRSS:
			t.RSSPages = n
		case colRSSAnon:
			t.RSSAnonPages = n
			has |= HasRSSAnon
		case colRSSFile:
			t.RSSFilePages = n
			has |= HasRSSFile
		case colRSSShmem:
			t.RSSShmemPages = n
			has |= HasRSSShmem
		case colPgtablesBytes:
			t.PgtablesBytes = n
			has |= HasPgtablesBytes
		case colNrPtes:
			ptes = n
			has |= HasPgtablesPages
		case colNrPmds:
			pmds = n
		case colSwapEnts:
			t.SwapEnts = n
			has |= HasSwapEnts
		case colOOMScoreAdj:
			t.OOMScoreAdj = int(n)
		case colCPU:
			t.CPU = int(n)
			has |= HasCPU
		case colOOMAdj:
			t.OOMAdj = int(n)
			has |= HasOOMAdj
		}
	}
	if has&HasPgtablesPages != 0 {
		// ≤4.14: the page tables are nr_ptes (+ nr_pmds, 4.x) pages.
		t.PgtablesPages = ptes + pmds
		t.PgtablesBytes = t.PgtablesPages * 4096
		has |= HasPgtablesBytes
	}
	t.Has = has
	if rest != "" {
		t.Name = rest[1:]
	}
	return true
}

// rowField reads one number of a task row: spaces, then what parseInt
// accepts, then the space before the next column (so never the name).
// It returns the rest from that space on. A row is about ten of these,
// and a report a hundred rows: one pass over the bytes rather than
// TrimLeft, IndexByte and parseInt.
func rowField(s string) (n int64, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	start := i
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	digits := i
	for ; i < len(s) && s[i] != ' '; i++ {
		c := s[i] - '0'
		// Eighteen digits cannot overflow; only longer numbers pay for
		// the division.
		if c > 9 || i-digits >= 18 && n > (1<<63-1-int64(c))/10 {
			return 0, "", false
		}
		n = n*10 + int64(c)
	}
	if i == len(s) || i == digits || i-start > 20 {
		return 0, "", false
	}
	if neg {
		n = -n
	}
	return n, s[i:], true
}

// parseCount reads the leading number of "524158 pages RAM".
func parseCount(body, suffix string) *int64 {
	n, found := strings.CutSuffix(body, suffix)
	if !found {
		return nil
	}
	return parseInt64Ptr(n)
}

// parseFreePages finds "free:N" (pages, no unit) in the global counter
// paragraph of show_free_areas() (mm/show_mem.c).
func parseFreePages(body string) *int64 {
	for rest := body; rest != ""; {
		var f string
		f, rest, _ = strings.Cut(rest, " ")
		if v, found := strings.CutPrefix(f, "free:"); found {
			return parseInt64Ptr(v)
		}
	}
	return nil
}

// releaseOf returns the kernel release's "major.minor.patch" numbers;
// ok is false when s does not start with one.
func releaseOf(s string) (major, minor, patch int, ok bool) {
	parts := [3]int{}
	i, n := 0, 0
	for n < 3 {
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == i {
			break
		}
		parts[n], _ = strconv.Atoi(s[i:j])
		n++
		if j >= len(s) || s[j] != '.' {
			break
		}
		i = j + 1
	}
	if n < 2 {
		return 0, 0, 0, false
	}
	return parts[0], parts[1], parts[2], true
}
