package sim

import (
	"slices"

	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// Kill-line prefixes (spec/kernel.md §4.8).
const (
	msgGlobal   = "Out of memory"
	msgMemcg    = "Memory cgroup out of memory"
	msgAllocing = "Out of memory (oom_kill_allocating_task)"
)

// scan returns the candidates in the kernel's scan order: for a memcg OOM
// mem_cgroup_scan_tasks() (pre-order from the OOMing memcg, children in
// creation order, tasks in join order); for a global OOM for_each_process
// (oldest first).
func (e *engine) scan(memcg *cgroup) []*proc {
	out := e.scanBuf[:0]
	defer func() { e.scanBuf = out[:0] }()
	if memcg == nil {
		for _, p := range e.procs {
			if !p.dead && p.started {
				out = append(out, p)
			}
		}
		return out
	}
	var walk func(c *cgroup)
	walk = func(c *cgroup) {
		out = append(out, c.tasks...)
		for _, ch := range c.children {
			walk(ch)
		}
	}
	walk(memcg)
	return out
}

// choose is select_bad_process() over cands in scan order: one Badness
// per task (mm.Choose), linear in the number of tasks.
func (e *engine) choose(cands []*proc, total int64) mm.Choice {
	if cap(e.tasks) < len(cands) {
		e.tasks = make([]mm.Task, len(cands))
	}
	tasks := e.tasks[:len(cands)]
	for i, p := range cands {
		tasks[i] = e.task(p)
	}
	return mm.Choose(e.rules, tasks, total)
}

func (e *engine) task(p *proc) mm.Task {
	// The −3 % CAP_SYS_ADMIN bonus exists up to 4.16 (d46078b28889).
	admin := p.admin && !e.v.AtLeast(4, 17, 0)
	return mm.Task{PID: p.pid, Name: p.name, RSSPages: p.resident(), SwapEnts: p.swapped, PgtablePages: p.pgtablePages(), OOMScoreAdj: p.adj, CapSysAdmin: admin}
}

// totalPages is oc->totalpages: RAM + swap for a global OOM, the memcg's
// mem_cgroup_get_max() otherwise.
func (e *engine) totalPages(memcg *cgroup) int64 {
	if memcg == nil {
		return e.ramPages + e.swapPages
	}
	return mm.MemcgTotalPages(e.v, e.s.Node.CgroupV2, memcg.maxPages, memcg.swapMax, e.swapPages, defaultSwappiness)
}

// oom is out_of_memory() for trigger's allocation: memcg is the memcg
// whose limit failed, nil for a global OOM. It reports whether a process
// was killed (the charge can be retried).
func (e *engine) oom(trigger *proc, memcg *cgroup) bool {
	isMemcg := memcg != nil
	cands := e.scan(memcg)
	total := e.totalPages(memcg)
	r := e.reportHeader(trigger, memcg, cands)
	idx := e.reports
	ev := Event{Event: EvOOMKill, TriggerProcess: trigger.name, TriggerPID: trigger.pid, Constraint: r.Constraint,
		OOMMemcg: r.OOMMemcg, TotalPages: i64(total), Rules: e.rules.ID(), ReportIndex: iptr(idx)}

	if mm.PanicsOnOOM(e.sys.PanicOnOOM, isMemcg) {
		r.PanicOnOOM = e.sys.PanicOnOOM
		r.Panic = mm.PanicOnOOMMessage(e.sys.PanicOnOOM)
		e.report(printed(r, e.v))
		e.panic(r.Panic, idx)
		return false
	}
	var victim *proc
	msg := msgGlobal
	if isMemcg {
		msg = msgMemcg
	}
	if mm.KillsAllocatingTask(e.sys.OOMKillAllocatingTask, isMemcg, e.task(trigger)) {
		victim, msg = trigger, msgAllocing
		p, _ := mm.Badness(e.rules, e.task(trigger), total)
		ev.Points, ev.AllocatingTask = i64(p), bptr(true)
	} else {
		ch := e.choose(cands, total)
		if ch.Index < 0 {
			r.NoKillable = true
			if !isMemcg {
				r.Panic = mm.NoKillablePanic(e.v)
				e.report(printed(r, e.v))
				e.panic(r.Panic, idx)
				return false
			}
			e.report(printed(r, e.v))
			return false
		}
		victim = cands[ch.Index]
		ev.Points, ev.Tie, ev.TiedWith = i64(ch.Points), bptr(ch.TiedWith > 1), ch.TiedWith
		if !e.v.AtLeast(5, 1, 0) {
			// ≤ 5.0 prints "Kill process … score S"; ≤ 5.2 rescales chosen_points × 1000 / totalpages for the message.
			score := int(ch.Points * 1000 / max(total, 1))
			r.ChosenScore, r.ChosenPID, r.ChosenComm = &score, iptr(victim.pid), victim.name
		}
		if mm.SacrificesChild(e.v) {
			var kids []*proc
			var kt []mm.Task
			for _, c := range victim.children {
				if !c.dead {
					kids = append(kids, c)
					kt = append(kt, e.task(c))
				}
			}
			if i := mm.PickChild(e.rules, kt, total); i >= 0 {
				ev.ChosenPID = victim.pid
				victim = kids[i]
			}
		}
	}
	r.SummaryComm, r.SummaryPID, r.SummaryUID = victim.name, iptr(victim.pid), iptr(victim.uid)
	if r.ChosenPID != nil {
		r.SummaryComm, r.SummaryPID = r.ChosenComm, r.ChosenPID
		for _, p := range cands {
			if p.pid == *r.ChosenPID {
				r.SummaryUID = iptr(p.uid)
			}
		}
	}
	r.TaskMemcg = victim.cg.path
	domain := memcg
	if domain == nil {
		domain = e.root
	}
	// memory.oom.group: the highest flagged memcg between the victim's and
	// the OOM domain is killed whole (mem_cgroup_get_oom_group()).
	var group []*proc
	if g := e.oomGroup(victim, domain); g != nil {
		r.GroupKillPath = g.path
		group = slices.Clone(e.scan(g))
	}
	freed := e.kill(r, victim, msg, false)
	ev.Process, ev.PID, ev.Cgroup, ev.Pod, ev.OOMScoreAdj = victim.name, victim.pid, victim.cg.path, victim.pod, iptr(victim.adj)
	ev.FreedBytes, ev.GroupKill = i64(freed*page), bptr(false)
	e.oomKills++
	e.emit(&ev)
	for _, p := range group {
		if p == victim {
			// oom_kill_memcg_member() does not skip the victim it just
			// killed and prints it again; the report lists it once and
			// oomlog.Format prints the repeat at its place in the scan.
			continue
		}
		if p.adj == mm.OOMScoreAdjMin || p.dead {
			continue
		}
		freed := e.kill(r, p, msg, true)
		gev := Event{Event: EvOOMKill, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, OOMScoreAdj: iptr(p.adj),
			TriggerProcess: trigger.name, TriggerPID: trigger.pid, Constraint: r.Constraint, OOMMemcg: r.OOMMemcg,
			TotalPages: i64(total), Rules: e.rules.ID(), GroupKill: bptr(true), FreedBytes: i64(freed * page), ReportIndex: iptr(idx)}
		e.oomKills++
		e.emit(&gev)
	}
	e.report(printed(r, e.v))
	return true
}

// report hands a finished report to Options.OnReport, or keeps it in
// Result.Reports.
func (e *engine) report(r *oomlog.Report) {
	e.reports++
	if e.opts.OnReport != nil {
		e.opts.OnReport(r)
		return
	}
	e.res.Reports = append(e.res.Reports, *r)
}

// printed keeps of r what kernel v prints, so that a report reads back
// from its text unchanged (spec/kernel.md §4): the oom-kill: summary line
// is 5.0+, the Killed line's UID/pgtables/adj 5.4+, its shmem-rss 4.5+,
// its message prefix 5.1+.
func printed(r *oomlog.Report, v mm.Version) *oomlog.Report {
	if v.AtLeast(5, 0, 0) && r.SummaryPID == nil && r.Trigger != nil {
		// No victim, no oom-kill: line: its constraint, memcg and
		// cpuset fields are not printed anywhere else.
		r.Constraint, r.OOMMemcg = "", ""
		r.Trigger.Nodemask, r.Trigger.Cpuset, r.Trigger.MemsAllowed = "", "", ""
	}
	if !v.AtLeast(5, 0, 0) {
		r.Constraint, r.SummaryComm, r.SummaryPID, r.SummaryUID = "", "", nil, nil
		if r.OOMMemcg == "" {
			r.TaskMemcg = ""
		}
	}
	for i := range r.Victims {
		vic := &r.Victims[i]
		if !v.AtLeast(5, 4, 0) {
			vic.UID, vic.PgtablesKB, vic.OOMScoreAdj = nil, nil, nil
		}
		if !v.AtLeast(4, 5, 0) {
			vic.ShmemRSSKB = nil
		}
		if !v.AtLeast(5, 1, 0) {
			vic.Message = ""
		}
	}
	return r
}

// oomGroup is the memcg killed whole after victim, nil for none: the
// highest memory.oom.group cgroup from the victim's up to the OOM domain,
// on cgroup v2 and 4.19+.
//
// mem_cgroup_get_oom_group(), mm/memcontrol.c.
func (e *engine) oomGroup(victim *proc, domain *cgroup) *cgroup {
	if !mm.GroupKillSupported(e.v, e.s.Node.CgroupV2) {
		return nil
	}
	var chain []*cgroup
	var flags []bool
	for c := victim.cg; c != nil; c = c.parent {
		chain = append(chain, c)
		flags = append(flags, c.oomGroup)
		if c == domain {
			break
		}
	}
	if chain[len(chain)-1] != domain {
		return nil // the victim was migrated out of the domain
	}
	if i := mm.GroupKillRoot(flags); i >= 0 {
		return chain[i]
	}
	return nil
}

// kill SIGKILLs p, prints its Killed line into r and frees its memory.
func (e *engine) kill(r *oomlog.Report, p *proc, msg string, group bool) int64 {
	v := oomlog.Victim{PID: p.pid, Comm: p.name, UID: iptr(p.uid), TotalVMKB: i64(p.totalVM * 4),
		AnonRSSKB: i64(p.anon * 4), FileRSSKB: i64(0), ShmemRSSKB: i64(p.shmem * 4), PgtablesKB: i64(p.pgtablePages() * 4),
		OOMScoreAdj: iptr(p.adj), GroupKill: group, Message: msg}
	if e.v.AtLeast(4, 6, 0) {
		v.Reaped = true
		v.ReapedAnonRSSKB, v.ReapedFileRSSKB, v.ReapedShmemRSSKB = i64(0), i64(0), i64(p.tmpfs*4)
	}
	r.Victims = append(r.Victims, v)
	freed := p.resident() - p.tmpfs + p.swapped
	e.stop(p, StopOOMKill)
	e.release(p)
	return freed
}

func (e *engine) panic(msg string, report int) {
	e.panicked = true
	ev := Event{Event: EvPanic, Message: "Kernel panic - not syncing: " + msg, ReportIndex: iptr(report)}
	e.emit(&ev)
}

// reportHeader builds what dump_header() prints: the trigger, the memcg
// usage block or Mem-Info, and the task table in scan order.
func (e *engine) reportHeader(trigger *proc, memcg *cgroup, cands []*proc) *oomlog.Report {
	order := 0
	up := e.t.Seconds() + bootSeconds
	r := &oomlog.Report{KernelVersion: e.v.String(), Stamp: oomlog.Stamp{Uptime: &up}}
	r.Trigger = &oomlog.Trigger{Comm: trigger.name, PID: iptr(trigger.pid), Order: &order, OOMScoreAdj: iptr(trigger.adj),
		GFPMask: "0x100cca", GFPFlags: []string{"GFP_HIGHUSER_MOVABLE"}, Cpuset: cpusetName(trigger.cg.path), MemsAllowed: "0"}
	switch {
	case e.v.AtLeast(4, 14, 0):
		r.Trigger.Nodemask = "(null)"
	case e.v.AtLeast(4, 9, 0):
		r.Trigger.Nodemask = "0"
	}
	if memcg != nil {
		r.Trigger.GFPMask, r.Trigger.GFPFlags = "0xcc0", []string{"GFP_KERNEL"}
		r.Constraint, r.OOMMemcg = "CONSTRAINT_MEMCG", memcg.path
		lim := memcg.maxPages * 4
		mu := &oomlog.MemcgUsage{UsageKB: i64(memcg.usage * 4), LimitKB: &lim, Failcnt: i64(memcg.failcnt), StatsPath: memcg.path}
		if e.s.Node.CgroupV2 {
			sl := mm.UnlimitedKB // memory.swap.max "max", swap or not
			if memcg.swapMax != Unlimited {
				sl = memcg.swapMax * 4
			}
			mu.SwapUsageKB, mu.SwapLimitKB, mu.SwapFailcnt = i64(memcg.swap*4), &sl, i64(0)
			// Before 5.3 the v2 report printed the v1 "memory+swap:" line
			// (mem_cgroup_print_oom_meminfo()), so a log says memsw.
			mu.SwapIsMemsw = !e.v.AtLeast(5, 3, 0)
		} else {
			sl := mm.UnlimitedKB
			if memcg.swapMax != Unlimited {
				sl = (memcg.maxPages + memcg.swapMax) * 4
			}
			mu.SwapUsageKB, mu.SwapLimitKB, mu.SwapFailcnt, mu.SwapIsMemsw = i64((memcg.usage+memcg.swap)*4), &sl, i64(0), true
			mu.KmemUsageKB, mu.KmemLimitKB = i64(0), i64(mm.UnlimitedKB)
		}
		var anon, shmem int64
		for _, p := range cands {
			anon += p.anon
			shmem += p.shmem
		}
		var cache int64
		var walk func(c *cgroup)
		walk = func(c *cgroup) {
			cache += c.cache
			shmem += c.orphan
			for _, ch := range c.children {
				walk(ch)
			}
		}
		walk(memcg)
		if e.v.AtLeast(5, 3, 0) {
			mu.Stats = map[string]int64{"anon": anon * page, "file": (cache + shmem) * page, "shmem": shmem * page}
		} else {
			// ≤ 5.2 prints the v1 memory.stat keys in KB.
			mu.Stats = map[string]int64{"cache": (cache + shmem) * page, "rss": anon * page, "rss_huge": 0, "shmem": shmem * page,
				"mapped_file": 0, "dirty": 0, "writeback": 0, "inactive_anon": 0, "active_anon": anon * page,
				"inactive_file": cache * page, "active_file": 0, "unevictable": 0}
		}
		r.Memcg = mu
	} else {
		r.Constraint, r.GlobalOOM = "CONSTRAINT_NONE", true
		free := e.freeRAM()
		reserved := int64(0)
		r.MemInfo = &oomlog.MemInfo{RAMPages: i64(e.ramPages), ReservedPages: &reserved, SwapTotalKB: i64(e.swapPages * 4),
			SwapFreeKB: i64((e.swapPages - e.swapUsed) * 4), FreePages: &free}
	}
	rows := cands
	if memcg != nil && !e.v.AtLeast(5, 3, 0) {
		// ≤ 5.2 dumps a memcg OOM's tasks with for_each_process filtered
		// by memcg: creation order, not the scan order (dump_tasks()).
		rows = slices.Clone(cands)
		slices.SortFunc(rows, func(a, b *proc) int { return a.order - b.order })
	}
	r.Tasks = make([]oomlog.Task, 0, len(rows))
	for _, p := range rows {
		r.Tasks = append(r.Tasks, e.row(p))
	}
	r.TableFormat = tableFormat(e.v)
	return r
}

// bootSeconds is the simulated uptime at t = 0, so report stamps look
// like a machine that has been up for a while.
const bootSeconds = 100

func tableFormat(v mm.Version) oomlog.TableFormat {
	switch {
	case v.AtLeast(6, 8, 0):
		return oomlog.TableRSSSplit
	case v.AtLeast(4, 15, 0):
		return oomlog.TablePgtables
	}
	return oomlog.TableNrPtes
}

func (e *engine) row(p *proc) oomlog.Task {
	t := oomlog.Task{PID: p.pid, UID: p.uid, TGID: p.pid, TotalVMPages: p.totalVM, RSSPages: p.resident(),
		SwapEnts: p.swapped, OOMScoreAdj: p.adj, Name: p.name,
		Has: oomlog.HasUID | oomlog.HasTGID | oomlog.HasSwapEnts | oomlog.HasPgtablesBytes}
	switch tableFormat(e.v) {
	case oomlog.TableNrPtes:
		t.PgtablesPages = p.pgtablePages()
		t.PgtablesBytes = p.pgtablePages() * page
		t.Has |= oomlog.HasPgtablesPages
	default:
		t.PgtablesBytes = p.pgtablePages() * page
	}
	if tableFormat(e.v) == oomlog.TableRSSSplit {
		t.RSSAnonPages, t.RSSFilePages, t.RSSShmemPages = p.anon, 0, p.shmem
		t.Has |= oomlog.HasRSSAnon | oomlog.HasRSSFile | oomlog.HasRSSShmem
	}
	return t
}

// kubeletTick is one housekeeping pass of the eviction manager: when
// memory.available is below the hard threshold, evict the first pod of
// kube.RankEviction (one per pass).
//
// managerImpl.synchronize, pkg/kubelet/eviction: memory.available =
// capacity − working set (usage − inactive file); rankMemoryPressure
// (spec/kubernetes.md §5).
func (e *engine) kubeletTick() {
	k := e.s.Kubelet
	workingSet := (e.ramPages - e.freeRAM() - e.baseCach - e.cgCache) * page
	available := e.ramPages*page - workingSet
	if available >= k.EvictionHardBytes {
		return
	}
	kv := kubeletVersion(k)
	usage := map[string]int64{}
	procs := map[string][]*proc{}
	var cands []kube.EvictionCandidate
	for _, p := range e.procs {
		if p.dead || !p.started || p.pod == "" {
			continue
		}
		if _, seen := procs[p.pod]; !seen {
			pod := e.pods[p.pod]
			kp := kubePod(*pod)
			cands = append(cands, kube.EvictionCandidate{Name: p.pod, Priority: int32(pod.Priority),
				RequestBytes: kube.PodMemoryRequest(kp, kv), Critical: pod.Critical || kube.IsCriticalPod(kp, kv)})
		}
		usage[p.pod] += p.resident() * page
		procs[p.pod] = append(procs[p.pod], p)
	}
	for i := range cands {
		u := usage[cands[i].Name]
		cands[i].UsageBytes = &u
	}
	ranked := kube.RankEviction(cands)
	if len(ranked) == 0 || ranked[0].Critical {
		return
	}
	v := ranked[0]
	ev := Event{Event: EvEvict, Pod: v.Name, QOSClass: PodQOS(*e.pods[v.Name], kv), WorkingSetBytes: i64(*v.UsageBytes), RequestBytes: i64(v.RequestBytes),
		MemoryAvailableBytes: i64(available), ThresholdBytes: i64(k.EvictionHardBytes)}
	for _, p := range procs[v.Name] {
		e.stop(p, StopEvicted)
		e.release(p)
	}
	e.evictions++
	e.emit(&ev)
}

func (e *engine) end() {
	ev := Event{Event: EvEnd, Kernel: e.v.String(), CommitLimitBytes: i64(e.commitLimit() * page), CommittedASBytes: i64(e.committed * page),
		OvercommitMemory: iptr(e.sys.OvercommitMemory), MemoryBytes: i64(e.ramPages * page),
		MemoryUsedBytes: i64((e.ramPages - e.freeRAM()) * page), SwapBytes: i64(e.swapPages * page), SwapUsedBytes: i64(e.swapUsed * page),
		OOMKills: iptr(e.oomKills), Evictions: iptr(e.evictions), Panicked: bptr(e.panicked), Truncated: bptr(e.res.Truncated)}
	ev.Processes = make([]EndProcess, 0, len(e.procs))
	for _, p := range e.procs {
		ep := EndProcess{Process: p.name, PID: p.pid, Cgroup: p.cg.path, OOMScoreAdj: p.adj, AllocatedBytes: p.allocated,
			CommittedBytes: p.committed * page, ResidentBytes: p.resident() * page, SwapBytes: p.swapped * page,
			StopReason: p.stopReason, HeapCeilingBytes: p.ceiling, ThrottledSeconds: p.throttled.Seconds()}
		if p.pod != "" {
			ep.Pod = &p.pod
		}
		if p.dead {
			ep.CommittedBytes = 0
		}
		if ep.StopReason == "" {
			ep.StopReason = StopRunning
		} else {
			t := p.stopT.Seconds()
			ep.StopTSeconds = &t
		}
		ev.Processes = append(ev.Processes, ep)
	}
	e.emit(&ev)
	e.res.End = ev
	if e.opts.OnEvent == nil {
		e.res.End = e.res.Events[len(e.res.Events)-1]
	}
}
