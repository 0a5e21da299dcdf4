package oomlog

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// kver is a kernel version reduced to what decides the report's text.
type kver struct{ major, minor, patch int }

func (v kver) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// Format writes r as the kernel of release kernelVersion would print it
// (mm/oom_kill.c dump_header()/oom_kill_process(), mm/memcontrol.c
// mem_cgroup_print_oom_*(), mm/show_mem.c of that version; spec/kernel.md
// §4): header, cpuset line (≤4.20), CPU line, memcg block or Mem-Info
// totals, task table in that version's columns, the oom-kill: summary line
// (5.0+), kill line(s) in that version's wording, group-kill lines and
// oom_reaper lines (4.6+). Each line gets a dmesg "[ uptime]" prefix when
// r.Stamp.Uptime is set. An empty kernelVersion means r.KernelVersion.
//
// Fields the chosen version does not print are left out, so
// Parse(Format(r)) gives back r restricted to what that kernel prints. The
// exceptions are lines distribution kernels backported (the oom-kill:
// summary on RHEL 8's 4.18, shmem-rss on RHEL 7's 3.10, the 5.4 Killed-line
// fields on RHEL 8): they are printed when the report holds them, so a
// report parsed from such a kernel formats back to the same fields.
func Format(w io.Writer, r *Report, kernelVersion string) error {
	if kernelVersion == "" {
		kernelVersion = r.KernelVersion
	}
	maj, min, patch, ok := releaseOf(kernelVersion)
	if !ok {
		return fmt.Errorf("kernel version %q: want a release such as 5.4.0 or 6.8.0-50-generic", kernelVersion)
	}
	f := formatter{v: kver{maj, min, patch}, release: kernelVersion, r: r, w: bufio.NewWriter(w)}
	if r.Stamp.Uptime != nil && !math.IsNaN(*r.Stamp.Uptime) && *r.Stamp.Uptime >= 0 && *r.Stamp.Uptime < 1e12 {
		us := int64(math.Round(*r.Stamp.Uptime * 1e6))
		f.prefix = fmt.Sprintf("[%5d.%06d] ", us/1e6, us%1e6)
	}
	f.report()
	return f.w.Flush()
}

type formatter struct {
	v       kver
	release string
	r       *Report
	w       *bufio.Writer
	prefix  string
}

// line writes one prefixed line. bufio.Writer keeps its first error, and
// Format returns it from Flush.
func (f *formatter) line(format string, args ...any) {
	_, _ = f.w.WriteString(f.prefix)
	_, _ = fmt.Fprintf(f.w, format, args...)
	_ = f.w.WriteByte('\n')
}

func orZero[T int | int64](p *T) T {
	if p == nil {
		return 0
	}
	return *p
}

func (f *formatter) report() {
	r, v := f.r, f.v
	if t := r.Trigger; t != nil {
		f.header(t)
		if !v.atLeast(5, 0) && (t.Cpuset != "" || t.MemsAllowed != "") {
			f.line("%s cpuset=%s mems_allowed=%s", t.Comm, t.Cpuset, t.MemsAllowed)
		}
		if t.PID != nil {
			switch {
			case v.major == 2:
				f.line("Pid: %d, comm: %s Not tainted %s #1", *t.PID, t.Comm, f.release)
			case v.atLeast(6, 12):
				f.line("CPU: 0 UID: 0 PID: %d Comm: %s Not tainted %s #1", *t.PID, t.Comm, f.release)
			default:
				f.line("CPU: 0 PID: %d Comm: %s Not tainted %s #1", *t.PID, t.Comm, f.release)
			}
			f.line("Call Trace:")
			f.line(" dump_header+0x4a/0x211")
			f.line(" oom_kill_process+0xb/0x10")
			f.line(" out_of_memory+0x1f1/0x520")
		}
	}
	if r.Memcg != nil || (!v.atLeast(5, 0) && r.OOMMemcg != "") {
		f.memcg()
	}
	if r.MemInfo != nil {
		f.memInfo(r.MemInfo)
	}
	if r.Tasks != nil {
		f.tasks()
	}
	switch r.PanicOnOOM {
	case 1:
		f.line("Out of memory: system-wide panic_on_oom is enabled")
	case 2:
		f.line("Out of memory: compulsory panic_on_oom is enabled")
	}
	if r.SummaryPID != nil { // 5.0+, and RHEL 8's 4.18
		f.summary()
	}
	if r.NoKillable {
		f.line("Out of memory and no killable processes...")
	}
	if r.ChosenPID != nil && !v.atLeast(5, 1) {
		msg := "Memory cgroup out of memory"
		if r.GlobalOOM {
			msg = "Out of memory"
		}
		f.line("%s: Kill process %d (%s) score %d or sacrifice child", msg, *r.ChosenPID, r.ChosenComm, orZero(r.ChosenScore))
	}
	groupDone := false
	for i := range r.Victims {
		vi := &r.Victims[i]
		if vi.FromSummary {
			continue // no Killed line was read: the summary line names it
		}
		if vi.GroupKill && !groupDone && r.GroupKillPath != "" {
			f.groupKill(r)
			groupDone = true
		}
		if !vi.GroupKill || r.GroupKillPath == "" {
			f.victim(vi)
		}
	}
	if !groupDone && r.GroupKillPath != "" && len(r.Victims) > 0 {
		f.groupKill(r)
	}
	if v.atLeast(4, 6) {
		for _, vi := range r.Victims {
			switch {
			case vi.Reaped:
				f.line("oom_reaper: reaped process %d (%s), now anon-rss:%dkB, file-rss:%dkB, shmem-rss:%dkB",
					vi.PID, vi.Comm, orZero(vi.ReapedAnonRSSKB), orZero(vi.ReapedFileRSSKB), orZero(vi.ReapedShmemRSSKB))
			case vi.ReapFailed:
				f.line("oom_reaper: unable to reap pid:%d (%s)", vi.PID, vi.Comm)
			}
		}
	}
	if r.Panic != "" {
		f.line("Kernel panic - not syncing: %s", r.Panic)
	}
}

// header prints the "invoked oom-killer" line in the version's form
// (spec/kernel.md §4.1).
func (f *formatter) header(t *Trigger) {
	v := f.v
	var b strings.Builder
	fmt.Fprintf(&b, "%s invoked oom-killer: gfp_mask=%s", t.Comm, t.GFPMask)
	if v.atLeast(4, 5) && len(t.GFPFlags) > 0 {
		fmt.Fprintf(&b, "(%s)", strings.Join(t.GFPFlags, "|"))
	}
	switch {
	case v.atLeast(4, 9) && !v.atLeast(5, 0):
		nm := t.Nodemask
		if nm == "" {
			nm = "(null)"
		}
		b.WriteString(", nodemask=" + nm)
		if v.major == 4 && v.minor == 14 {
			b.WriteString(",  order=") // 4.14 built the line with pr_cont and left two spaces
		} else {
			b.WriteString(", order=")
		}
	default:
		b.WriteString(", order=")
	}
	fmt.Fprintf(&b, "%d", orZero(t.Order))
	switch {
	case v.major == 2 && t.OOMScoreAdj == nil:
		fmt.Fprintf(&b, ", oomkilladj=%d", orZero(t.OOMAdj))
	case v.major == 2:
		fmt.Fprintf(&b, ", oom_adj=%d, oom_score_adj=%d", orZero(t.OOMAdj), *t.OOMScoreAdj)
	default:
		fmt.Fprintf(&b, ", oom_score_adj=%d", orZero(t.OOMScoreAdj))
	}
	f.line("%s", b.String())
}

// memcg prints the memcg usage block (spec/kernel.md §4.5).
func (f *formatter) memcg() {
	r, v := f.r, f.v
	m := r.Memcg
	if m == nil {
		m = &MemcgUsage{}
	}
	if !v.atLeast(5, 0) {
		if len(r.Victims) > 0 || r.TaskMemcg != "" {
			f.line("Task in %s killed as a result of limit of %s", r.TaskMemcg, r.OOMMemcg)
		} else {
			f.line("Memory limit reached of cgroup %s", r.OOMMemcg)
		}
	}
	if r.Memcg == nil {
		return
	}
	if m.UsageKB != nil || m.LimitKB != nil {
		f.line("memory: usage %dkB, limit %dkB, failcnt %d", orZero(m.UsageKB), orZero(m.LimitKB), orZero(m.Failcnt))
	}
	v1 := m.SwapIsMemsw || m.KmemUsageKB != nil || !v.atLeast(5, 3)
	if v1 {
		if m.SwapUsageKB != nil || m.SwapLimitKB != nil {
			f.line("memory+swap: usage %dkB, limit %dkB, failcnt %d", orZero(m.SwapUsageKB), orZero(m.SwapLimitKB), orZero(m.SwapFailcnt))
		}
		if m.KmemUsageKB != nil || m.KmemLimitKB != nil {
			f.line("kmem: usage %dkB, limit %dkB, failcnt 0", orZero(m.KmemUsageKB), orZero(m.KmemLimitKB))
		}
	} else if m.SwapUsageKB != nil || m.SwapLimitKB != nil {
		f.line("swap: usage %dkB, limit %dkB, failcnt %d", orZero(m.SwapUsageKB), orZero(m.SwapLimitKB), orZero(m.SwapFailcnt))
	}
	if m.Stats == nil {
		return
	}
	keys := statKeys(m.Stats)
	if !v.atLeast(5, 3) {
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s:%dKB", k, m.Stats[k]/1024)
		}
		f.line("Memory cgroup stats for %s: %s", m.StatsPath, b.String())
		return
	}
	f.line("Memory cgroup stats for %s:", m.StatsPath)
	for _, k := range keys {
		f.line("%s %d", k, m.Stats[k])
	}
}

// statOrder is the order memory.stat prints its first keys in
// (memory_stats[], mm/memcontrol.c); other keys follow sorted.
var statOrder = []string{"anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock", "vmalloc", "shmem",
	"file_mapped", "file_dirty", "file_writeback", "swapcached", "anon_thp", "file_thp", "shmem_thp", "inactive_anon", "active_anon",
	"inactive_file", "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "slab",
	"cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "swap"}

func statKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	rank := map[string]int{}
	for i, k := range statOrder {
		rank[k] = i + 1
	}
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank[keys[i]], rank[keys[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0 || rj != 0:
			return ri != 0
		}
		return keys[i] < keys[j]
	})
	return keys
}

// memInfo prints the Mem-Info lines a report reads back (spec/kernel.md §4.4).
func (f *formatter) memInfo(m *MemInfo) {
	f.line("Mem-Info:")
	f.line("active_anon:0 inactive_anon:0 isolated_anon:0")
	if m.FreePages != nil {
		f.line(" free:%d free_pcp:0 free_cma:0", *m.FreePages)
	}
	if m.SwapFreeKB != nil {
		f.line("Free swap  = %dkB", *m.SwapFreeKB)
	}
	if m.SwapTotalKB != nil {
		f.line("Total swap = %dkB", *m.SwapTotalKB)
	}
	if m.RAMPages != nil {
		f.line("%d pages RAM", *m.RAMPages)
	}
	f.line("0 pages HighMem/MovableOnly")
	if m.ReservedPages != nil {
		f.line("%d pages reserved", *m.ReservedPages)
	}
}

// tasks prints the task table in the version's columns (spec/kernel.md §4.6).
func (f *formatter) tasks() {
	v := f.v
	switch {
	case v.major == 2:
		f.line("[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name")
		for _, t := range f.r.Tasks {
			f.line("[%5d] %5d %5d %8d %8d %3d %7d         %5d %s", t.PID, t.UID, t.TGID, t.TotalVMPages, t.RSSPages,
				t.CPU, t.OOMAdj, t.OOMScoreAdj, t.Name)
		}
	case !v.atLeast(4, 1):
		f.line("[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name")
		for _, t := range f.r.Tasks {
			f.line("[%5d] %5d %5d %8d %8d %7d %8d         %5d %s", t.PID, t.UID, t.TGID, t.TotalVMPages, t.RSSPages,
				ptePages(t), t.SwapEnts, t.OOMScoreAdj, t.Name)
		}
	case !v.atLeast(4, 15):
		f.line("[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name")
		for _, t := range f.r.Tasks {
			f.line("[%5d] %5d %5d %8d %8d %7d %7d %8d         %5d %s", t.PID, t.UID, t.TGID, t.TotalVMPages, t.RSSPages,
				ptePages(t), 0, t.SwapEnts, t.OOMScoreAdj, t.Name)
		}
	case !v.atLeast(4, 19):
		f.line("[ pid ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
		for _, t := range f.r.Tasks {
			f.line("[%5d] %5d %5d %8d %8d %8d %8d         %5d %s", t.PID, t.UID, t.TGID, t.TotalVMPages, t.RSSPages,
				t.PgtablesBytes, t.SwapEnts, t.OOMScoreAdj, t.Name)
		}
	case !v.atLeast(6, 8):
		f.line("Tasks state (memory values in pages):")
		f.line("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
		for _, t := range f.r.Tasks {
			f.line("[%7d] %5d %5d %8d %8d %8d %8d         %5d %s", t.PID, t.UID, t.TGID, t.TotalVMPages, t.RSSPages,
				t.PgtablesBytes, t.SwapEnts, t.OOMScoreAdj, t.Name)
		}
	default:
		f.line("Tasks state (memory values in pages):")
		f.line("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name")
		for _, t := range f.r.Tasks {
			f.line("[%7d] %5d %5d %8d %8d %8d %8d %9d %8d %8d         %5d %s", t.PID, t.UID, t.TGID, t.TotalVMPages, t.RSSPages,
				t.RSSAnonPages, t.RSSFilePages, t.RSSShmemPages, t.PgtablesBytes, t.SwapEnts, t.OOMScoreAdj, t.Name)
		}
	}
}

// ptePages is the nr_ptes(+nr_pmds) count of a ≤4.14 row.
func ptePages(t Task) int64 {
	if t.Has&HasPgtablesPages != 0 {
		return t.PgtablesPages
	}
	return (t.PgtablesBytes + 4095) / 4096
}

// summary prints the 5.0+ oom-kill: line (spec/kernel.md §4.7).
func (f *formatter) summary() {
	r := f.r
	var b strings.Builder
	constraint := r.Constraint
	if constraint == "" {
		constraint = "CONSTRAINT_NONE"
	}
	nodemask, cpuset, mems := "(null)", "", ""
	if t := r.Trigger; t != nil {
		if t.Nodemask != "" {
			nodemask = t.Nodemask
		}
		cpuset, mems = t.Cpuset, t.MemsAllowed
	}
	fmt.Fprintf(&b, "oom-kill:constraint=%s,nodemask=%s", constraint, nodemask)
	if cpuset != "" || mems != "" {
		fmt.Fprintf(&b, ",cpuset=%s,mems_allowed=%s", cpuset, mems)
	}
	if r.GlobalOOM {
		b.WriteString(",global_oom")
	} else if r.OOMMemcg != "" {
		fmt.Fprintf(&b, ",oom_memcg=%s", r.OOMMemcg)
	}
	if r.TaskMemcg != "" {
		fmt.Fprintf(&b, ",task_memcg=%s", r.TaskMemcg)
	}
	fmt.Fprintf(&b, ",task=%s,pid=%d,uid=%d", r.SummaryComm, *r.SummaryPID, orZero(r.SummaryUID))
	f.line("%s", b.String())
}

// victim prints one kill line in the version's wording (spec/kernel.md §4.8).
func (f *formatter) victim(vi *Victim) {
	v := f.v
	// Distribution kernels backport newer wordings (RHEL 7 prints
	// shmem-rss on 3.10, RHEL 8 the 5.4 fields on 4.18), so a field the
	// report holds is printed even where the mainline release had no slot
	// for it; a field it lacks is printed only where the release always
	// printed one.
	msg := ""
	if vi.Message != "" {
		msg = vi.Message + ": "
	}
	if vi.Exiting {
		m := vi.Message
		if m == "" {
			m = "Out of memory"
		}
		f.line("%s: OOM victim %d (%s) is already exiting. Skip killing the task", m, vi.PID, vi.Comm)
		return
	}
	var b strings.Builder
	if v.major == 2 && vi.UID != nil {
		fmt.Fprintf(&b, "Killed process %d, UID %d, (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB",
			vi.PID, *vi.UID, vi.Comm, orZero(vi.TotalVMKB), orZero(vi.AnonRSSKB), orZero(vi.FileRSSKB))
		f.line("%s", b.String())
		return
	}
	fmt.Fprintf(&b, "%sKilled process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB",
		msg, vi.PID, vi.Comm, orZero(vi.TotalVMKB), orZero(vi.AnonRSSKB), orZero(vi.FileRSSKB))
	if v.atLeast(4, 5) || vi.ShmemRSSKB != nil {
		fmt.Fprintf(&b, ", shmem-rss:%dkB", orZero(vi.ShmemRSSKB))
	}
	switch {
	case v.atLeast(5, 4) || vi.PgtablesKB != nil || vi.OOMScoreAdj != nil:
		fmt.Fprintf(&b, ", UID:%d pgtables:%dkB oom_score_adj:%d", orZero(vi.UID), orZero(vi.PgtablesKB), orZero(vi.OOMScoreAdj))
	case vi.UID != nil:
		fmt.Fprintf(&b, ", UID:%d", *vi.UID) // RHEL 8.3
	}
	f.line("%s", b.String())
}

// groupKill prints the memory.oom.group walk: the "Tasks in" line, then a
// Killed line per member in scan order (the task table's order). The walk
// (oom_kill_memcg_member(), mm/oom_kill.c) does not skip the victim just
// killed: when r.RepeatedKills says the kernel killed it again, its Killed
// line comes again at its place in the scan; the parser lists it once.
func (f *formatter) groupKill(r *Report) {
	f.line("Tasks in %s are going to be killed due to memory.oom.group set", r.GroupKillPath)
	var first *Victim
	if len(r.Victims) > 0 && !r.Victims[0].GroupKill && r.RepeatedKills > 0 {
		again := r.Victims[0]
		again.GroupKill = true
		first = &again
	}
	printed := make(map[int]bool)
	byPID := make(map[int]*Victim)
	for i := range r.Victims {
		if r.Victims[i].GroupKill {
			byPID[r.Victims[i].PID] = &r.Victims[i]
		}
	}
	for _, t := range r.Tasks {
		switch {
		case first != nil && t.PID == first.PID && !printed[t.PID]:
			f.victim(first)
			printed[t.PID] = true
		case byPID[t.PID] != nil && !printed[t.PID]:
			f.victim(byPID[t.PID])
			printed[t.PID] = true
		}
	}
	if first != nil && !printed[first.PID] {
		f.victim(first)
		printed[first.PID] = true
	}
	for i := range r.Victims {
		if vi := &r.Victims[i]; vi.GroupKill && !printed[vi.PID] {
			f.victim(vi)
			printed[vi.PID] = true
		}
	}
}
