package explain

import (
	"fmt"
	"math"

	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// This file keeps impossible numbers out of the explanation. A report's
// numbers are as the log printed them, and a corrupted or hostile log can
// print any: a negative usage, a size whose bytes overflow, an
// oom_score_adj of −5000. Each value outside what the kernel can print
// becomes a warning on the event and is left out (null; a task row or
// victim with one is left out whole), so the arithmetic below never wraps
// and the rest of the report is still explained.

// Bounds of what the kernel prints.
const (
	// maxKB: sizes are unsigned 64-bit byte or page counts printed in kB;
	// the largest is an unlimited ≤3.x memcg counter, RES_COUNTER_MAX
	// (ULLONG_MAX) >> 10 = 18014398509481983 kB (mm/memcontrol.c
	// mem_cgroup_print_oom_info()); 4.x+ print PAGE_COUNTER_MAX in kB,
	// 9007199254740988 (mm.UnlimitedKB). Every size at or above mm.UnlimitedKB
	// reads "unlimited", so none is ever turned into bytes.
	maxKB = math.MaxUint64 >> 10
	// maxPages: page counts (%lu); more cannot be turned into bytes.
	maxPages = math.MaxInt64 / mm.PageSize
	// maxPID is PID_MAX_LIMIT on 64-bit, 4 × 1024 × 1024
	// (include/linux/threads.h): no pid is larger.
	maxPID = 4 << 20
	// OOM_SCORE_ADJ_MIN/MAX (include/uapi/linux/oom.h): the kernel refuses
	// other values.
	minAdj, maxAdj = mm.OOMScoreAdjMin, 1000
)

// checker collects the warnings of one report's checks.
type checker struct {
	warnings []string
}

func (c *checker) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// kb returns p if it is a size the kernel can print, else nil and a warning.
func (c *checker) kb(what string, p *int64) *int64 {
	if p == nil || *p >= 0 && *p <= maxKB {
		return p
	}
	c.warn("%s %d kB is out of range [0, %d]: left out", what, *p, uint64(maxKB))
	return nil
}

// pages is kb for a page count.
func (c *checker) pages(what string, p *int64) *int64 {
	if p == nil || *p >= 0 && *p <= maxPages {
		return p
	}
	c.warn("%s %d pages is out of range [0, %d]: left out", what, *p, int64(maxPages))
	return nil
}

// count is kb for a counter without a unit (failcnt).
func (c *checker) count(what string, p *int64) *int64 {
	if p == nil || *p >= 0 {
		return p
	}
	c.warn("%s %d is negative: left out", what, *p)
	return nil
}

// adj returns p if it is an oom_score_adj the kernel accepts.
func (c *checker) adj(what string, p *int) *int {
	if p == nil || *p >= minAdj && *p <= maxAdj {
		return p
	}
	c.warn("%s oom_score_adj %d is out of range [%d, %d]: left out", what, *p, minAdj, maxAdj)
	return nil
}

// pid returns p if it is a pid the kernel can have.
func (c *checker) pid(what string, p *int) *int {
	if p == nil || *p >= 0 && *p <= maxPID {
		return p
	}
	c.warn("%s pid %d is out of range [0, %d]: left out", what, *p, maxPID)
	return nil
}

// checked returns r with every value the kernel cannot print left out, and
// the warnings that say so. r itself is not changed; parts that change are
// copied.
func checked(r *oomlog.Report) (*oomlog.Report, []string) {
	var c checker
	out := *r
	if t := r.Trigger; t != nil {
		ct := *t
		ct.PID = c.pid("the trigger's", t.PID)
		ct.OOMScoreAdj = c.adj("the trigger's", t.OOMScoreAdj)
		out.Trigger = &ct
	}
	out.SummaryPID = c.pid("the oom-kill: line's", r.SummaryPID)
	out.ChosenPID = c.pid(`the "Kill process" line's`, r.ChosenPID)
	if m := r.Memcg; m != nil {
		cm := *m
		cm.UsageKB = c.kb("memcg usage", m.UsageKB)
		cm.LimitKB = c.kb("memcg limit", m.LimitKB)
		cm.Failcnt = c.count("memcg failcnt", m.Failcnt)
		cm.SwapUsageKB = c.kb("memcg swap usage", m.SwapUsageKB)
		cm.SwapLimitKB = c.kb("memcg swap limit", m.SwapLimitKB)
		cm.SwapFailcnt = c.count("memcg swap failcnt", m.SwapFailcnt)
		cm.KmemUsageKB = c.kb("memcg kmem usage", m.KmemUsageKB)
		cm.KmemLimitKB = c.kb("memcg kmem limit", m.KmemLimitKB)
		out.Memcg = &cm
	}
	if mi := r.MemInfo; mi != nil {
		cmi := *mi
		cmi.RAMPages = c.pages("Mem-Info RAM", mi.RAMPages)
		cmi.ReservedPages = c.pages("Mem-Info reserved", mi.ReservedPages)
		cmi.FreePages = c.pages("Mem-Info free", mi.FreePages)
		cmi.SwapTotalKB = c.kb("Mem-Info total swap", mi.SwapTotalKB)
		cmi.SwapFreeKB = c.kb("Mem-Info free swap", mi.SwapFreeKB)
		out.MemInfo = &cmi
	}
	if r.Tasks != nil {
		out.Tasks = c.tasks(r.Tasks)
	}
	out.Victims = c.victims(r.Victims)
	if len(c.warnings) == 0 {
		return r, nil
	}
	return &out, c.warnings
}

// tasks returns the rows whose numbers the kernel can print; a row with
// another is left out of the table and the ranking.
func (c *checker) tasks(rows []oomlog.Task) []oomlog.Task {
	bad := func(t *oomlog.Task) string {
		switch {
		case t.PID < 0 || t.PID > maxPID:
			return fmt.Sprintf("pid %d", t.PID)
		case t.OOMScoreAdj < minAdj || t.OOMScoreAdj > maxAdj:
			return fmt.Sprintf("oom_score_adj %d", t.OOMScoreAdj)
		case t.RSSPages < 0 || t.RSSPages > maxPages:
			return fmt.Sprintf("rss %d pages", t.RSSPages)
		case t.TotalVMPages < 0 || t.TotalVMPages > maxPages:
			return fmt.Sprintf("total_vm %d pages", t.TotalVMPages)
		case t.Has&oomlog.HasSwapEnts != 0 && (t.SwapEnts < 0 || t.SwapEnts > maxPages):
			return fmt.Sprintf("swapents %d pages", t.SwapEnts)
		case t.Has&oomlog.HasPgtablesBytes != 0 && t.PgtablesBytes < 0:
			return fmt.Sprintf("pgtables %d bytes", t.PgtablesBytes)
		case t.Has&oomlog.HasPgtablesPages != 0 && (t.PgtablesPages < 0 || t.PgtablesPages > maxPages):
			return fmt.Sprintf("page tables %d pages", t.PgtablesPages)
		}
		return ""
	}
	var out []oomlog.Task
	for i := range rows {
		if why := bad(&rows[i]); why != "" {
			if out == nil {
				out = append(make([]oomlog.Task, 0, len(rows)), rows[:i]...)
			}
			c.warn("task row %d (pid %d): %s is out of range: the row is left out", i+1, rows[i].PID, why)
			continue
		}
		if out != nil {
			out = append(out, rows[i])
		}
	}
	if out == nil {
		return rows
	}
	return out
}

// victims returns the victims with their sizes and adj checked; a victim
// whose pid cannot be is left out.
func (c *checker) victims(vs []oomlog.Victim) []oomlog.Victim {
	var out []oomlog.Victim
	for i, v := range vs {
		cv := v
		who := fmt.Sprintf("victim %d's", v.PID)
		cv.TotalVMKB = c.kb(who+" total-vm", v.TotalVMKB)
		cv.AnonRSSKB = c.kb(who+" anon-rss", v.AnonRSSKB)
		cv.FileRSSKB = c.kb(who+" file-rss", v.FileRSSKB)
		cv.ShmemRSSKB = c.kb(who+" shmem-rss", v.ShmemRSSKB)
		cv.PgtablesKB = c.kb(who+" pgtables", v.PgtablesKB)
		cv.OOMScoreAdj = c.adj(who, v.OOMScoreAdj)
		cv.ReapedAnonRSSKB = c.kb(who+" reaped anon-rss", v.ReapedAnonRSSKB)
		cv.ReapedFileRSSKB = c.kb(who+" reaped file-rss", v.ReapedFileRSSKB)
		cv.ReapedShmemRSSKB = c.kb(who+" reaped shmem-rss", v.ReapedShmemRSSKB)
		keep := v.PID >= 0 && v.PID <= maxPID
		if !keep {
			c.warn("victim pid %d is out of range [0, %d]: left out", v.PID, maxPID)
		}
		if out == nil && (!keep || cv != v) {
			out = append(make([]oomlog.Victim, 0, len(vs)), vs[:i]...)
		}
		if out != nil && keep {
			out = append(out, cv)
		}
	}
	if out == nil {
		return vs
	}
	return out
}

// addKB adds kB sizes without wrapping: ok is false when the sum is not
// below mm.UnlimitedKB, so not a size that can be turned into bytes.
func addKB(xs ...int64) (sum int64, ok bool) {
	for _, x := range xs {
		if x < 0 || x >= mm.UnlimitedKB || sum >= mm.UnlimitedKB-x {
			return 0, false
		}
		sum += x
	}
	return sum, true
}
