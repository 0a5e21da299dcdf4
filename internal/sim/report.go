package sim

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// WriteReport prints r as kernel v's OOM killer would, one dmesg line
// ("[ uptime] text") per line.
//
// This is the one place the simulator prints reports: when
// internal/oomlog gains its own Format, this becomes a call to it.
func WriteReport(w io.Writer, r *oomlog.Report, v mm.Version) error {
	bw := bufio.NewWriter(w)
	formatReport(bw, r, v)
	return bw.Flush()
}

// formatReport writes the printk text of dump_header() and the kill
// lines for kernel v (spec/kernel.md §4; mm/oom_kill.c, mm/memcontrol.c,
// lib/show_mem.c formats).
func formatReport(w *bufio.Writer, r *oomlog.Report, v mm.Version) {
	up := 0.0
	if r.Stamp.Uptime != nil {
		up = *r.Stamp.Uptime
	}
	line := func(format string, args ...any) {
		fmt.Fprintf(w, "[%12.6f] ", up)
		fmt.Fprintf(w, format, args...)
		fmt.Fprintln(w)
		up += 0.000001
	}
	t := r.Trigger
	memcg := r.Constraint == "CONSTRAINT_MEMCG"
	gfp := t.GFPMask
	if len(t.GFPFlags) > 0 {
		gfp += "(" + strings.Join(t.GFPFlags, "|") + ")"
	}
	order, adj := deref(t.Order), deref(t.OOMScoreAdj)
	switch {
	case v.AtLeast(5, 0, 0):
		line("%s invoked oom-killer: gfp_mask=%s, order=%d, oom_score_adj=%d", t.Comm, gfp, order, adj)
	case v.AtLeast(4, 15, 0):
		line("%s invoked oom-killer: gfp_mask=%s, nodemask=(null), order=%d, oom_score_adj=%d", t.Comm, gfp, order, adj)
	case v.AtLeast(4, 14, 0):
		line("%s invoked oom-killer: gfp_mask=%s, nodemask=(null),  order=%d, oom_score_adj=%d", t.Comm, gfp, order, adj)
	case v.AtLeast(4, 9, 0):
		line("%s invoked oom-killer: gfp_mask=%s, nodemask=0, order=%d, oom_score_adj=%d", t.Comm, gfp, order, adj)
	case v.AtLeast(4, 5, 0):
		line("%s invoked oom-killer: gfp_mask=%s, order=%d, oom_score_adj=%d", t.Comm, gfp, order, adj)
	default:
		line("%s invoked oom-killer: gfp_mask=%s, order=%d, oom_score_adj=%d", t.Comm, t.GFPMask, order, adj)
	}
	if !v.AtLeast(5, 0, 0) {
		line("%s cpuset=%s mems_allowed=%s", t.Comm, t.Cpuset, t.MemsAllowed)
	}
	if v.AtLeast(6, 12, 0) {
		line("CPU: 0 UID: %d PID: %d Comm: %.20s Not tainted %s #1", deref(r.SummaryUID), deref(t.PID), t.Comm, v)
	} else {
		line("CPU: 0 PID: %d Comm: %.20s Not tainted %s #1", deref(t.PID), t.Comm, v)
	}
	line("Hardware name: oomkit simulated machine, BIOS sim 01/01/2026")
	line("Call Trace:")
	line(" dump_stack+0x57/0x6d")
	line(" dump_header+0x4f/0x1eb")
	line(" oom_kill_process.cold+0xb/0x10")
	line(" out_of_memory+0x1cf/0x4d0")
	if memcg {
		line(" mem_cgroup_out_of_memory+0xbd/0xe0")
		line(" try_charge+0x76e/0x7f0")
	} else {
		line(" __alloc_pages_slowpath+0xc12/0xd30")
		line(" handle_mm_fault+0xdcb/0x1a30")
	}
	if m := r.Memcg; m != nil {
		formatMemcg(line, r, m, v)
	}
	if mi := r.MemInfo; mi != nil {
		line("Mem-Info:")
		line("active_anon:0 inactive_anon:0 isolated_anon:0")
		line(" active_file:0 inactive_file:0 isolated_file:0")
		line(" unevictable:0 dirty:0 writeback:0")
		line(" slab_reclaimable:0 slab_unreclaimable:0")
		line(" mapped:0 shmem:0 pagetables:0 bounce:0")
		line(" free:%d free_pcp:0 free_cma:0", deref(mi.FreePages))
		line("0 total pagecache pages")
		line("0 pages in swap cache")
		line("Free swap  = %dkB", deref(mi.SwapFreeKB))
		line("Total swap = %dkB", deref(mi.SwapTotalKB))
		line("%d pages RAM", deref(mi.RAMPages))
		line("0 pages HighMem/MovableOnly")
		line("%d pages reserved", deref(mi.ReservedPages))
	}
	if r.Tasks != nil {
		formatTasks(line, r.Tasks, r.TableFormat)
	}
	if r.PanicOnOOM != 0 || (r.NoKillable && r.Panic != "") {
		if r.NoKillable {
			line("Out of memory and no killable processes...")
		}
		line("Kernel panic - not syncing: %s", r.Panic)
		return
	}
	if r.NoKillable {
		line("Out of memory and no killable processes...")
		return
	}
	if v.AtLeast(5, 0, 0) && r.SummaryPID != nil {
		cpuset := t.Cpuset
		s := fmt.Sprintf("oom-kill:constraint=%s,nodemask=(null),cpuset=%s,mems_allowed=%s", r.Constraint, cpuset, t.MemsAllowed)
		if memcg {
			s += ",oom_memcg=" + r.OOMMemcg
		} else {
			s += ",global_oom"
		}
		s += fmt.Sprintf(",task_memcg=%s,task=%s,pid=%d,uid=%d", r.TaskMemcg, r.SummaryComm, deref(r.SummaryPID), deref(r.SummaryUID))
		line("%s", s)
	}
	for i, vic := range r.Victims {
		if vic.GroupKill && (i == 0 || !r.Victims[i-1].GroupKill) {
			line("Tasks in %s are going to be killed due to memory.oom.group set", r.GroupKillPath)
		}
		if i == 0 && !v.AtLeast(5, 1, 0) && r.ChosenPID != nil {
			msg := "Out of memory"
			if r.Memcg != nil {
				msg = "Memory cgroup out of memory"
			}
			line("%s: Kill process %d (%s) score %d or sacrifice child", msg, *r.ChosenPID, r.ChosenComm, deref(r.ChosenScore))
		}
		formatKilled(line, vic, v)
	}
	for _, vic := range r.Victims {
		if vic.Reaped {
			line("oom_reaper: reaped process %d (%s), now anon-rss:%dkB, file-rss:%dkB, shmem-rss:%dkB",
				vic.PID, vic.Comm, deref(vic.ReapedAnonRSSKB), deref(vic.ReapedFileRSSKB), deref(vic.ReapedShmemRSSKB))
		}
	}
}

type lineFunc func(format string, args ...any)

func formatMemcg(line lineFunc, r *oomlog.Report, m *oomlog.MemcgUsage, v mm.Version) {
	if !v.AtLeast(5, 0, 0) {
		line("Task in %s killed as a result of limit of %s", r.TaskMemcg, r.OOMMemcg)
	}
	line("memory: usage %dkB, limit %dkB, failcnt %d", deref(m.UsageKB), deref(m.LimitKB), deref(m.Failcnt))
	v1 := m.SwapIsMemsw
	if v1 || !v.AtLeast(5, 3, 0) {
		line("memory+swap: usage %dkB, limit %dkB, failcnt %d", deref(m.SwapUsageKB), deref(m.SwapLimitKB), deref(m.SwapFailcnt))
		line("kmem: usage %dkB, limit %dkB, failcnt 0", deref(m.KmemUsageKB), deref(m.KmemLimitKB))
	} else {
		line("swap: usage %dkB, limit %dkB, failcnt %d", deref(m.SwapUsageKB), deref(m.SwapLimitKB), deref(m.SwapFailcnt))
	}
	if !v.AtLeast(5, 3, 0) {
		var b strings.Builder
		for _, k := range []string{"cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"} {
			fmt.Fprintf(&b, " %s:%dKB", k, m.Stats[k]/1024)
		}
		line("Memory cgroup stats for %s:%s", m.StatsPath, b.String())
		return
	}
	line("Memory cgroup stats for %s:", m.StatsPath)
	for _, k := range statKeys(m.Stats) {
		line("%s %d", k, m.Stats[k])
	}
}

// statKeys orders memory.stat keys as the kernel prints them.
func statKeys(st map[string]int64) []string {
	order := []string{"anon", "file", "kernel_stack", "sock", "shmem", "file_mapped"}
	var out []string
	for _, k := range order {
		if _, ok := st[k]; ok {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range st {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func formatTasks(line lineFunc, tasks []oomlog.Task, f oomlog.TableFormat) {
	switch f {
	case oomlog.TableNrPtes:
		line("[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name")
		for _, t := range tasks {
			line("[%5d] %5d %5d %8d %8d %7d %7d %8d         %5d %s", t.PID, deref(t.UID), deref(t.TGID), t.TotalVMPages, t.RSSPages,
				deref(t.PgtablesPages), 0, deref(t.SwapEnts), t.OOMScoreAdj, t.Name)
		}
	case oomlog.TableRSSSplit:
		line("Tasks state (memory values in pages):")
		line("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name")
		for _, t := range tasks {
			line("[%7d] %5d %5d %8d %8d %8d %8d %9d %8d %8d         %5d %s", t.PID, deref(t.UID), deref(t.TGID), t.TotalVMPages, t.RSSPages,
				deref(t.RSSAnonPages), deref(t.RSSFilePages), deref(t.RSSShmemPages), deref(t.PgtablesBytes), deref(t.SwapEnts), t.OOMScoreAdj, t.Name)
		}
	default:
		line("Tasks state (memory values in pages):")
		line("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
		for _, t := range tasks {
			line("[%7d] %5d %5d %8d %8d %8d %8d         %5d %s", t.PID, deref(t.UID), deref(t.TGID), t.TotalVMPages, t.RSSPages,
				deref(t.PgtablesBytes), deref(t.SwapEnts), t.OOMScoreAdj, t.Name)
		}
	}
}

func formatKilled(line lineFunc, vic oomlog.Victim, v mm.Version) {
	prefix := vic.Message + ": "
	if !v.AtLeast(5, 1, 0) {
		prefix = "" // ≤ 5.0: the message went on the "Kill process" line
	}
	switch {
	case v.AtLeast(5, 4, 0):
		line("%sKilled process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB, shmem-rss:%dkB, UID:%d pgtables:%dkB oom_score_adj:%d",
			prefix, vic.PID, vic.Comm, deref(vic.TotalVMKB), deref(vic.AnonRSSKB), deref(vic.FileRSSKB), deref(vic.ShmemRSSKB),
			deref(vic.UID), deref(vic.PgtablesKB), deref(vic.OOMScoreAdj))
	case v.AtLeast(4, 5, 0):
		line("%sKilled process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB, shmem-rss:%dkB",
			prefix, vic.PID, vic.Comm, deref(vic.TotalVMKB), deref(vic.AnonRSSKB), deref(vic.FileRSSKB), deref(vic.ShmemRSSKB))
	default:
		line("%sKilled process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB",
			prefix, vic.PID, vic.Comm, deref(vic.TotalVMKB), deref(vic.AnonRSSKB), deref(vic.FileRSSKB))
	}
}

func deref[T int | int64 | string](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// cpusetName is the cpuset the kernel prints for a task: the last
// component of its cgroup path, "/" for the root.
func cpusetName(cg string) string {
	if cg == "/" || cg == "" {
		return "/"
	}
	return path.Base(cg)
}
