package node

import (
	"fmt"
	"math"
	"path"
	"slices"
	"time"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

// Ranking is the OOM killer's order of preference, at one moment, over
// the processes of the node (a global OOM) or of one memory cgroup and its
// descendants (a memcg OOM).
type Ranking struct {
	// Memcg is the cgroup ranked for, "" for a global OOM.
	Memcg string
	// Processes are in rank order: the eligible ones by rank, then those
	// the kernel never chooses.
	Processes []Process
	// TotalPages is the ranking's denominator; GlobalTotalPages the one
	// /proc/PID/oom_score uses.
	TotalPages, GlobalTotalPages int64
	Rules                        mm.Rules
	Kernel                       mm.Version
	// OOMScoreLag is how many points the kernel's oom_score may differ
	// from ModelOOMScore on this kernel and CPU count (mm.OOMScoreLag).
	OOMScoreLag int64
	// Meminfo is /proc/meminfo as read for this ranking.
	Meminfo proc.Meminfo
	// Commit is whether the processes carry their commit charge
	// (RankOptions.Commit).
	Commit bool
	// Gone counts processes that exited while they were read.
	Gone  int
	Notes []string
	At    time.Time
}

// OOMKind is "global" or "memcg", as oomkit.event/v1's oom_kind.
func (r Ranking) OOMKind() string {
	if r.Memcg == "" {
		return "global"
	}
	return "memcg"
}

// Process is one process in a Ranking: the badness inputs, the model's
// points and the kernel's own oom_score. The JSON names are
// oomkit.top/v1's (docs/top.md).
type Process struct {
	// Rank is 1 for the process the kernel kills first; nil for
	// processes it never chooses.
	Rank   *int    `json:"rank"`
	PID    int     `json:"pid"`
	Comm   string  `json:"comm"`
	Cgroup *string `json:"cgroup"`
	// Kubernetes is what the cgroup path says, shared by the processes
	// of one cgroup (read-only).
	Kubernetes *kube.Attribution `json:"kubernetes"`
	// RSSPages, SwapPages and PgtablesPages are oom_badness()'s inputs.
	RSSPages      int64 `json:"rss_pages"`
	SwapPages     int64 `json:"swap_pages"`
	PgtablesPages int64 `json:"pgtables_pages"`
	// CommitBytes is the commit charge (the VM_ACCOUNT mappings of
	// /proc/PID/smaps) with RankOptions.Commit; nil without.
	CommitBytes *int64 `json:"commit_bytes"`
	OOMScoreAdj int64  `json:"oom_score_adj"`
	// Points is oom_badness() against the ranking's TotalPages; nil when
	// the kernel never chooses the process.
	Points   *int64 `json:"points"`
	Eligible bool   `json:"eligible"`
	// IneligibleReason says why the kernel never chooses it.
	IneligibleReason *string `json:"ineligible_reason"`
	// OOMScore is /proc/PID/oom_score; ModelOOMScore is the same computed
	// from the inputs (always against the global totalpages).
	OOMScore      int64 `json:"oom_score"`
	ModelOOMScore int64 `json:"model_oom_score"`
}

// RankOptions choose what Rank reads besides the OOM killer's inputs.
type RankOptions struct {
	// Commit reads each process's commit charge from /proc/PID/smaps: a
	// page-table walk, about a millisecond of CPU per process.
	Commit bool
}

// Rank reads every process (memcg "") or those of memcg and its
// descendants, and ranks them as the OOM killer would for a global or a
// memcg OOM. The error wraps cgroup.ErrNoMemoryController or
// cgroup.ErrRemoved when memcg cannot be read, ErrKernelUnknown without a
// kernel version.
func (h *Host) Rank(memcg string, o RankOptions) (Ranking, error) {
	v, err := h.kernel()
	if err != nil {
		return Ranking{}, err
	}
	mem, err := h.meminfo()
	if err != nil {
		return Ranking{}, err
	}
	r := Ranking{Rules: mm.RulesFor(v), Kernel: v, Meminfo: mem, At: time.Now(), Notes: slices.Clone(h.Notes), Commit: o.Commit}
	r.GlobalTotalPages = globalTotalPages(mem)
	r.TotalPages = r.GlobalTotalPages
	r.OOMScoreLag = mm.OOMScoreLag(r.Rules, mm.RSSCounterLagPages(v, h.CPUs), r.GlobalTotalPages)
	var pids []int
	var memcgOf map[int]string
	if memcg == "" {
		if pids, err = h.Proc.PIDs(); err != nil {
			return r, err
		}
	} else {
		if h.Layout.Memory == "" {
			return r, fmt.Errorf("a memcg OOM ranking needs a memory cgroup controller: %w", cgroup.ErrNoMemoryController)
		}
		r.Memcg = path.Clean("/" + memcg)
		hier, err := cgroup.ReadHierarchy(h.Layout, r.Memcg)
		if err != nil {
			return r, err
		}
		var note string
		r.TotalPages, note = h.memcgTotalPages(hier, mem)
		if note != "" {
			r.Notes = append(r.Notes, note)
		}
		if pids, memcgOf, err = h.scanOrder(r.Memcg); err != nil {
			return r, err
		}
	}
	// Globally, /proc/PID/cgroup (one small file per process) is cheaper
	// than walking a tree that may hold a cgroup per container.
	scan := h.Proc.ReadTasks(pids, proc.TaskOptions{Memcg: memcg == "" && h.Layout.Memory != "", MemcgV1: h.Layout.Memory == cgroup.V1, Commit: o.Commit})
	r.Gone = scan.Gone
	r.Notes = append(r.Notes, scan.Notes...)
	for i := range scan.Tasks {
		t := &scan.Tasks[i]
		if p, ok := memcgOf[t.PID]; ok {
			t.Memcg = p
		} else if h.Layout.Memory != "" && t.Memcg == "" {
			// Started after the walk (or the tree is unreadable): ask /proc.
			t.Memcg, _ = h.Proc.MemoryCgroup(t.PID, h.Layout.Memory == cgroup.V1)
		}
	}
	if memcg == "" {
		h.orderByCreation(scan.Tasks, r.Rules, r.TotalPages)
	}
	r.Processes = rank(scan.Tasks, r.Rules, capBonus(v), r.TotalPages, r.GlobalTotalPages)
	return r, nil
}

// scanOrder lists the processes of memcg and its descendants in
// mem_cgroup_scan_tasks()'s order — the cgroup, then its descendants in
// pre-order, each one's processes in cgroup.procs order — with the memcg
// each is in.
func (h *Host) scanOrder(memcg string) ([]int, map[int]string, error) {
	paths, err := cgroup.Walk(h.Layout, memcg)
	if err != nil {
		return nil, nil, err
	}
	var pids []int
	memcgOf := map[int]string{}
	for _, p := range paths {
		for _, pid := range cgroup.PIDs(h.Layout.Dir(p)) {
			memcgOf[pid] = p
			pids = append(pids, pid)
		}
	}
	return pids, memcgOf, nil
}

// capBonus reports a kernel before 4.17, whose oom_badness() took 3 %
// off for CAP_SYS_ADMIN (removed by d46078b28889).
func capBonus(v mm.Version) bool { return !v.AtLeast(4, 17, 0) }

// modelTask is t as the OOM killer sees it, and why the kernel never
// chooses it ("" when it may). capBonus is true on kernels before 4.17.
//
// oom_badness() and oom_unkillable_task(), mm/oom_kill.c: init and kernel
// threads are skipped, a task without an mm (a zombie) scores nothing,
// and oom_score_adj -1000 is never chosen.
func modelTask(t proc.Task, capBonus bool) (mm.Task, string) {
	st := t.Status
	mt := mm.Task{
		PID: t.PID, Name: st.Name,
		RSSPages: st.RSSPages(pageKB), SwapEnts: st.SwapPages(pageKB), PgtablePages: st.PgtablePages(pageKB),
		OOMScoreAdj: int(t.OOMScoreAdj), CapSysAdmin: capBonus && st.HasCapSysAdmin(),
		Unkillable: st.Kthread || !st.HasMM || t.PID == 1,
	}
	switch {
	case st.Kthread:
		return mt, "kernel thread"
	case !st.HasMM:
		return mt, "no memory (kernel thread or zombie)"
	case t.PID == 1:
		return mt, "init"
	case t.OOMScoreAdj == mm.OOMScoreAdjMin:
		return mt, "oom_score_adj -1000"
	}
	return mt, ""
}

// orderByCreation puts tasks (in PID order) into for_each_process()
// order, oldest first, where it matters: only the relative order of tasks
// with equal badness decides a tie, so /proc/PID/stat (the start time) is
// read only for those, and they are permuted among their own places. PID
// order is creation order until PIDs wrap.
func (h *Host) orderByCreation(tasks []proc.Task, rules mm.Rules, totalpages int64) {
	bonus := capBonus(*h.Kernel)
	groups := map[int64][]int{}
	for i, t := range tasks {
		mt, _ := modelTask(t, bonus)
		if p, ok := mm.Badness(rules, mt, totalpages); ok {
			groups[p] = append(groups[p], i)
		}
	}
	for _, idx := range groups {
		if len(idx) < 2 {
			continue
		}
		tied := make([]proc.Task, len(idx))
		for j, i := range idx {
			tied[j] = tasks[i]
			if st, err := h.Proc.Stat(tasks[i].PID); err == nil {
				tied[j].StartTime = st.StartTime
			} else {
				tied[j].StartTime = math.MaxUint64 // exited: order unknown, keep it last
			}
		}
		slices.SortStableFunc(tied, func(a, b proc.Task) int {
			if a.StartTime != b.StartTime {
				if a.StartTime < b.StartTime {
					return -1
				}
				return 1
			}
			return a.PID - b.PID
		})
		for j, i := range idx {
			tasks[i] = tied[j]
		}
	}
}

// memcgTotalPages is mem_cgroup_get_max() of the cgroup (or, without a
// limit of its own, of the nearest limited ancestor), with a note when it
// is not the cgroup's own.
func (h *Host) memcgTotalPages(hier cgroup.Hierarchy, mem proc.Meminfo) (int64, string) {
	i := len(hier.Levels) - 1
	note := ""
	if hier.Levels[i].LimitBytes == nil {
		i = hier.EffectiveLimit()
		if i < 0 {
			return globalTotalPages(mem), fmt.Sprintf("%s and its ancestors have no memory limit: a memcg OOM cannot happen there; ranking with the global totalpages", hier.Target().Path)
		}
		note = fmt.Sprintf("%s has no memory limit of its own: ranking with the limit of %s, whose OOM would scan it", hier.Target().Path, hier.Levels[i].Path)
	}
	m := hier.Levels[i]
	limit := *m.LimitBytes / mm.PageSize
	swapLimit := int64(-1)
	switch {
	case m.SwapLimitBytes != nil:
		swapLimit = *m.SwapLimitBytes / mm.PageSize
	case m.MemswLimitBytes != nil:
		swapLimit = *m.MemswLimitBytes / mm.PageSize
	}
	swappiness := int(deref(m.Swappiness, 60))
	if m.Version == cgroup.V2 {
		swappiness = int(deref(h.Proc.SysVM().Swappiness, 60))
	}
	return mm.MemcgTotalPages(*h.Kernel, m.Version == cgroup.V2, limit, swapLimit, deref(mem.SwapTotalKB, 0)/pageKB, swappiness), note
}

// rank runs the model over tasks in scan order.
func rank(tasks []proc.Task, rules mm.Rules, bonus bool, totalpages, globalTotal int64) []Process {
	mt := make([]mm.Task, len(tasks))
	why := make([]string, len(tasks))
	for i, t := range tasks {
		mt[i], why[i] = modelTask(t, bonus)
	}
	sel := mm.Select(rules, mt, totalpages)
	out := make([]Process, 0, len(tasks))
	// Processes of one cgroup share its path's attribution.
	attribution := map[string]*kube.Attribution{}
	for _, r := range sel.Ranking {
		t, m := tasks[r.Index], mt[r.Index]
		p := Process{
			PID: t.PID, Comm: t.Status.Name, OOMScoreAdj: t.OOMScoreAdj, Eligible: r.Eligible, OOMScore: t.OOMScore, CommitBytes: t.CommitBytes,
			RSSPages: m.RSSPages, SwapPages: m.SwapEnts, PgtablesPages: m.PgtablePages,
		}
		if r.Eligible {
			p.Rank, p.Points = ptr(r.Rank), ptr(r.Points)
		} else if why[r.Index] != "" {
			p.IneligibleReason = ptr(why[r.Index])
		}
		// /proc/PID/oom_score always scales against the global totalpages.
		gp, ok := mm.Badness(rules, m, globalTotal)
		p.ModelOOMScore = mm.OOMScore(rules, gp, ok, globalTotal)
		if t.Memcg != "" {
			p.Cgroup = ptr(t.Memcg)
			a, ok := attribution[t.Memcg]
			if !ok {
				a = kube.Attribute(t.Memcg)
				attribution[t.Memcg] = a
			}
			p.Kubernetes = a
		}
		out = append(out, p)
	}
	return out
}
