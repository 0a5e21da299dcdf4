package sim

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/heap"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

const page = mm.PageSize

// DefaultMaxSteps bounds a run: allocations, other process steps and
// kubelet ticks. Two million keeps a collected timeline under a gigabyte.
const DefaultMaxSteps = 2_000_000

// defaultSwappiness is vm.swappiness (and every memcg's) in the model.
const defaultSwappiness = 60

// Options tune a run.
type Options struct {
	// OnEvent receives every event as it happens; the event is only valid
	// during the call. When it is nil the events are collected in
	// Result.Events.
	OnEvent func(*Event)
	// OnReport receives every kernel-format OOM report when it is
	// complete (after the events that point at it); the report is only
	// valid during the call. When it is nil the reports are collected in
	// Result.Reports. With both set, a run's memory does not grow with its
	// events or its OOM kills.
	OnReport func(*oomlog.Report)
	// MaxSteps bounds the number of steps; 0 means DefaultMaxSteps.
	MaxSteps int
	// Stop, when set, is asked before every step; the run ends early
	// when it says so (e.g. the output the events go to failed).
	Stop func() bool
}

// Result is what a run produced.
type Result struct {
	// Events is the timeline (empty when Options.OnEvent was set), ending
	// with the end record.
	Events []Event
	// Reports are the kernel's OOM reports, in order (empty when
	// Options.OnReport was set); Event.ReportIndex counts them from 0.
	Reports []oomlog.Report
	// End is the final record.
	End Event
	// Truncated is set when the run stopped at MaxSteps.
	Truncated bool
}

type cgroup struct {
	path     string
	parent   *cgroup
	children []*cgroup
	maxPages int64 // Unlimited or pages
	swapMax  int64 // Unlimited or pages
	oomGroup bool
	// highPages is memory.high (Unlimited or pages); highEvents counts
	// memory.events "high" (hierarchical, 5.2+).
	highPages  int64
	highEvents int64

	usage   int64 // hierarchical charged pages in RAM (anon, shmem, cache)
	swap    int64 // hierarchical pages swapped out
	cache   int64 // local reclaimable page cache
	orphan  int64 // local tmpfs pages whose process is gone
	failcnt int64
	tasks   []*proc // join order, alive only
}

type proc struct {
	name     string
	pid, uid int
	adj      int
	admin    bool
	cg       *cgroup
	pod      string
	parent   *proc
	children []*proc
	order    int // creation order: the global scan walks this

	totalVM     int64   // pages of address space
	vmas        []int64 // VM_ACCOUNT mappings, pages (dup_mmap charges each)
	committed   int64   // pages this mm put in Committed_AS (freed at exit)
	tmpfsComm   int64   // tmpfs pages charged (they outlive the process)
	anon        int64   // resident private pages
	shmem       int64   // resident shared/tmpfs pages
	tmpfs       int64   // of shmem, tmpfs pages (orphaned at exit)
	swapped     int64   // pages in swap
	touched     int64   // pages ever written (page tables)
	heapBytes   int64   // bytes allocated by the plan (runtime heap)
	ceiling     *int64  // runtime heap ceiling
	ceilingSrc  string  // how the ceiling was derived
	rtKind      string  // runtime kind
	hardCeil    bool    // the runtime stops at the ceiling (.NET, JVM)
	allocated   int64   // bytes allocated by alloc actions (the tool's counter)
	acts        []Action
	pc          int
	left        int // allocations left in the current alloc action; −1: until stopped
	started     bool
	pendingBase int64 // base pages written when the process starts
	dead        bool
	stopReason  string
	stopT       time.Duration
	stalled     bool
	// throttle is the memory.high penalty owed before the next step;
	// throttled the sum slept so far.
	throttle, throttled time.Duration
}

func (p *proc) resident() int64 { return p.anon + p.shmem }

func (p *proc) pgtablePages() int64 { return 1 + (p.touched+511)/512 }

type item struct {
	t   time.Duration
	seq int64
	p   *proc // nil: kubelet tick
}

// queue is a binary min-heap of items by (t, seq), typed so that pushing
// does not box.
type queue []item

func (q queue) less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}

func (q *queue) push(it item) {
	*q = append(*q, it)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *queue) pop() item {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

type engine struct {
	s     *Scenario
	v     mm.Version
	rules mm.Rules
	sys   Sysctl
	opts  Options
	res   *Result

	t                      time.Duration
	ramPages, swapPages    int64
	hugetlbPages           int64
	baseResident, baseCach int64
	resident               int64 // process and orphaned tmpfs pages in RAM
	cgCache                int64 // page cache charged to cgroups
	swapUsed               int64
	committed              int64 // Committed_AS, pages
	reserves               mm.Reserves

	root    *cgroup
	cgroups map[string]*cgroup
	procs   []*proc
	pids    map[int]bool
	nextPID int
	q       queue
	seq     int64

	pods      map[string]*Pod
	tasks     []mm.Task // reused by choose
	scanBuf   []*proc   // reused by scan
	scratch   Event     // what OnEvent sees
	slab      []int64   // backing store of the events' *int64 fields
	reports   int       // OOM reports made so far
	oomKills  int
	evictions int
	panicked  bool
}

// Run plays the scenario and returns its timeline and OOM reports.
func Run(s *Scenario, opts Options) (*Result, error) {
	e, err := newEngine(s, opts)
	if err != nil {
		return nil, err
	}
	e.run()
	return e.res, nil
}

func newEngine(s *Scenario, opts Options) (*engine, error) {
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	e := &engine{s: s, v: s.Kernel, rules: mm.RulesFor(s.Kernel), sys: s.Sysctl, opts: opts, res: &Result{},
		ramPages: s.Node.MemoryBytes / page, swapPages: s.Node.SwapBytes / page, hugetlbPages: s.Node.HugetlbBytes / page,
		baseResident: s.Baseline.ResidentBytes / page, baseCach: s.Baseline.PageCacheBytes / page,
		committed: s.Baseline.CommittedBytes / page,
		cgroups:   map[string]*cgroup{}, pids: map[int]bool{}, nextPID: 300, pods: map[string]*Pod{}}
	free := e.ramPages - e.hugetlbPages - e.baseResident - e.baseCach
	if free < 0 {
		return nil, fmt.Errorf("baseline resident + page_cache (%s) is more than node memory (%s)",
			bytesize.Format((e.baseResident+e.baseCach)*page), bytesize.Format(e.ramPages*page))
	}
	e.reserves = mm.DefaultReserves(free * page / 1024)
	if e.sys.AdminReserveKB >= 0 {
		e.reserves.AdminKB = e.sys.AdminReserveKB
	}
	if e.sys.UserReserveKB >= 0 {
		e.reserves.UserKB = e.sys.UserReserveKB
	}
	e.root = &cgroup{path: "/", maxPages: Unlimited, swapMax: Unlimited, highPages: Unlimited}
	e.cgroups["/"] = e.root
	for _, c := range s.Cgroups {
		parent := e.cgroups[parentPath(c.Path)]
		if parent == nil {
			return nil, fmt.Errorf("cgroup %s: parent not defined", c.Path)
		}
		cg := &cgroup{path: c.Path, parent: parent, maxPages: Unlimited, swapMax: Unlimited, oomGroup: c.OOMGroup, highPages: Unlimited}
		if c.MemoryHighBytes > 0 {
			cg.highPages = c.MemoryHighBytes / page
		}
		if c.MemoryMaxBytes != Unlimited {
			cg.maxPages = c.MemoryMaxBytes / page
		}
		if c.SwapMaxBytes != Unlimited {
			cg.swapMax = c.SwapMaxBytes / page
		}
		parent.children = append(parent.children, cg)
		e.cgroups[c.Path] = cg
		if n := c.PageCacheBytes / page; n > 0 {
			cg.cache = n
			e.cgCache += n
			for a := cg; a != nil; a = a.parent {
				a.usage += n
			}
		}
	}
	if e.freeRAM() < 0 {
		return nil, fmt.Errorf("baseline and cgroup page cache are more than node memory (%s)", bytesize.Format(e.ramPages*page))
	}
	for i := range s.Pods {
		e.pods[s.Pods[i].Name] = &s.Pods[i]
	}
	for _, pr := range s.Processes {
		e.pids[pr.PID] = true
		forEachForkPID(pr.Actions, func(pid int) { e.pids[pid] = true })
	}
	for i := range s.Processes {
		pr := &s.Processes[i]
		cg := e.cgroups[pr.Cgroup]
		if cg == nil {
			return nil, fmt.Errorf("process %s: cgroup %s not defined", pr.Name, pr.Cgroup)
		}
		p := &proc{name: pr.Name, pid: pr.PID, uid: pr.UID, admin: pr.CapSysAdmin, cg: cg, pod: pr.Pod, acts: pr.Actions, rtKind: pr.Runtime.Kind}
		if pr.OOMScoreAdj != nil {
			p.adj = *pr.OOMScoreAdj
		}
		e.push(pr.Start, p)
		e.procs = append(e.procs, p)
		p.order = len(e.procs)
		e.setCeiling(p, pr.Runtime)
		p.totalVM = pr.BaseVSZBytes / page
		p.pendingBase = (pr.BaseRSSBytes + page - 1) / page
	}
	if k := s.Kubelet; k != nil {
		e.push(k.Housekeeping, nil)
	}
	return e, nil
}

func forEachForkPID(acts []Action, f func(int)) {
	for _, a := range acts {
		if a.Fork != nil {
			if a.Fork.PID != 0 {
				f(a.Fork.PID)
			}
			forEachForkPID(a.Fork.Actions, f)
		}
	}
}

// setCeiling works out the runtime's heap ceiling inside the process's
// effective memory limit (heap.CeilingOf, spec/kubernetes.md §6).
func (e *engine) setCeiling(p *proc, rt Runtime) {
	limit := int64(0)
	for c := p.cg; c != nil; c = c.parent {
		if c.maxPages != Unlimited && (limit == 0 || c.maxPages*page < limit) {
			limit = c.maxPages * page
		}
	}
	env := slices.Clone(rt.Env)
	var argv []string
	switch rt.Kind {
	case RuntimeDotnet:
		argv = []string{"dotnet"}
		if rt.DotnetHeapHardLimitBytes > 0 {
			env = append(env, fmt.Sprintf("DOTNET_GCHeapHardLimit=0x%X", rt.DotnetHeapHardLimitBytes))
		}
		if rt.DotnetHeapHardLimitPercent > 0 {
			env = append(env, fmt.Sprintf("DOTNET_GCHeapHardLimitPercent=0x%X", rt.DotnetHeapHardLimitPercent))
		}
		p.hardCeil = true
	case RuntimeJVM:
		argv = []string{"java"}
		if rt.JVMMaxRAMPercentage > 0 {
			argv = append(argv, fmt.Sprintf("-XX:MaxRAMPercentage=%g", rt.JVMMaxRAMPercentage))
		}
		if rt.JVMXmxBytes > 0 {
			argv = append(argv, fmt.Sprintf("-Xmx%d", rt.JVMXmxBytes))
		}
		argv = append(argv, "-jar", "app.jar")
		p.hardCeil = true
	case RuntimeGo:
		argv = []string{"app"}
		if rt.GoMemLimitBytes > 0 {
			env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", rt.GoMemLimitBytes))
		} else if !slices.ContainsFunc(env, func(kv string) bool { return len(kv) > 11 && kv[:11] == "GOMEMLIMIT=" }) {
			p.ceilingSrc = "Go sets no memory limit by default (GOMEMLIMIT unset)"
			return
		}
	default:
		return
	}
	h := heap.CeilingOf(heap.Process{Argv: argv, Env: env}, limit, e.s.Node.MemoryBytes)
	p.ceiling, p.ceilingSrc = h.Bytes, h.Source
}

func (e *engine) push(t time.Duration, p *proc) {
	e.seq++
	e.q.push(item{t: t, seq: e.seq, p: p})
}

func (e *engine) emit(ev *Event) {
	ev.Schema = Schema
	ev.TSeconds = e.t.Seconds()
	if e.opts.OnEvent != nil {
		e.scratch = *ev
		e.opts.OnEvent(&e.scratch)
		return
	}
	e.res.Events = append(e.res.Events, *ev)
}

// num returns a pointer to v for an event field, carved from a slab so
// that a million events do not mean millions of allocations.
func (e *engine) num(v int64) *int64 {
	if len(e.slab) == cap(e.slab) {
		e.slab = make([]int64, 0, 4096)
	}
	e.slab = append(e.slab, v)
	return &e.slab[len(e.slab)-1]
}

func (e *engine) freeRAM() int64 {
	return e.ramPages - e.hugetlbPages - e.baseResident - e.baseCach - e.cgCache - e.resident
}

func (e *engine) overcommit() mm.Overcommit {
	return mm.Overcommit{Mode: e.sys.OvercommitMemory, Ratio: e.sys.OvercommitRatio, KBytes: e.sys.OvercommitKBytes}
}

func (e *engine) commitLimit() int64 {
	return mm.CommitLimitPages(e.ramPages, e.hugetlbPages, e.swapPages, e.overcommit())
}

// enough is __vm_enough_memory() for p asking for pages; it adds them to
// Committed_AS when allowed.
func (e *engine) enough(p *proc, pages int64) bool {
	st := mm.CommitState{TotalRAMPages: e.ramPages, HugetlbPages: e.hugetlbPages, TotalSwapPages: e.swapPages,
		CommittedPages: e.committed, Reserves: e.reserves,
		Guess: mm.GuessFree{FreePages: e.freeRAM(), FilePages: e.baseCach + e.cgCache + e.shmemTotal(), ShmemPages: e.shmemTotal(),
			FreeSwapPages: e.swapPages - e.swapUsed}}
	if !mm.EnoughMemory(e.v, e.overcommit(), st, pages, mm.Caller{CapSysAdmin: p.admin, TotalVMPages: p.totalVM}) {
		return false
	}
	e.committed += pages
	return true
}

// shmemTotal is only needed by the ≤ 5.1 guess; it is computed on demand.
func (e *engine) shmemTotal() int64 {
	if e.v.AtLeast(5, 2, 0) || e.sys.OvercommitMemory != mm.OvercommitGuess {
		return 0
	}
	var n int64
	for _, p := range e.procs {
		if !p.dead {
			n += p.shmem
		}
	}
	for _, c := range e.cgroups {
		n += c.orphan
	}
	return n
}

func (e *engine) run() {
	steps := 0
	for len(e.q) > 0 && !e.panicked {
		it := e.q.pop()
		if it.t > e.s.Duration {
			break
		}
		steps++
		if steps > e.opts.MaxSteps {
			e.res.Truncated = true
			break
		}
		if e.opts.Stop != nil && e.opts.Stop() {
			break
		}
		e.t = it.t
		if it.p == nil {
			e.kubeletTick()
			if e.anyRunning() {
				e.push(e.t+e.s.Kubelet.Housekeeping, nil)
			}
			continue
		}
		if it.p.dead || it.p.stalled {
			continue
		}
		e.step(it.p)
	}
	if !e.panicked && len(e.q) > 0 && e.t < e.s.Duration {
		e.t = e.s.Duration
	}
	e.end()
}

func (e *engine) anyRunning() bool {
	for _, it := range e.q {
		if it.p != nil && !it.p.dead && !it.p.stalled {
			return true
		}
	}
	return false
}

// start makes p a member of its cgroup (join order) and writes its base
// memory.
func (e *engine) start(p *proc) bool {
	p.started = true
	p.cg.tasks = append(p.cg.tasks, p)
	if p.pendingBase > 0 {
		n := p.pendingBase
		p.pendingBase = 0
		if !e.enough(p, n) {
			e.stop(p, StopENOMEM)
			ev := Event{Event: EvENOMEM, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, Mapping: "private", BlockBytes: i64(n * page), Errno: "ENOMEM",
				CommittedASBytes: i64(e.committed * page), CommitLimitBytes: i64(e.commitLimit() * page)}
			e.emit(&ev)
			return false
		}
		p.totalVM += n
		p.committed += n
		p.vmas = append(p.vmas, n)
		if !e.touch(p, n, false, false) {
			return false
		}
	}
	return true
}

// stop records why p stopped. A process that finished its plan still
// holds its memory, so a later kill or eviction replaces "max".
func (e *engine) stop(p *proc, reason string) {
	if p.stopReason == "" || p.stopReason == StopMax && !p.dead {
		p.stopReason, p.stopT = reason, e.t
	}
}

// step runs p's next action and schedules the one after.
func (e *engine) step(p *proc) {
	if !p.started && !e.start(p) {
		return
	}
	for p.pc < len(p.acts) {
		a := p.acts[p.pc]
		switch a.Kind {
		case ActAlloc:
			if p.left == 0 {
				p.left = a.Alloc.Repeat
				if p.left == 0 {
					p.left = -1
				}
			}
			if !e.alloc(p, a.Alloc) {
				return
			}
			if p.left > 0 {
				p.left--
			}
			if p.left == 0 {
				p.pc++
			}
			// Every block is one step, even back to back (every: 0), so
			// MaxSteps bounds a run whatever repeat says. A memory.high
			// penalty delays the next one.
			e.push(e.t+a.Alloc.Every+p.throttle, p)
			p.throttle = 0
			return
		case ActSleep:
			p.pc++
			if a.Sleep > 0 {
				e.push(e.t+a.Sleep, p)
				return
			}
		case ActSysctl:
			p.pc++
			keys := slices.Sorted(maps.Keys(a.Sysctl))
			for _, k := range keys {
				applySysctl(&e.sys, k, a.Sysctl[k])
			}
			ev := Event{Event: EvSysctl, Process: p.name, PID: p.pid, Sysctl: a.Sysctl, OvercommitMemory: iptr(e.sys.OvercommitMemory),
				CommittedASBytes: i64(e.committed * page), CommitLimitBytes: i64(e.commitLimit() * page)}
			e.emit(&ev)
		case ActFork:
			p.pc++
			e.fork(p, a.Fork)
			if p.dead || e.panicked {
				return
			}
		case ActExit:
			p.pc = len(p.acts)
			e.stop(p, StopExited)
			e.release(p)
			ev := Event{Event: EvExit, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod}
			e.emit(&ev)
			return
		}
	}
	e.stop(p, StopMax)
}

// alloc is one block of an alloc action; false when p stopped.
func (e *engine) alloc(p *proc, a *Alloc) bool {
	pages := (a.BlockBytes + page - 1) / page
	if p.hardCeil && p.ceiling != nil && p.heapBytes+a.BlockBytes > *p.ceiling {
		e.stop(p, StopRuntimeOOM)
		ev := Event{Event: EvRuntimeOOM, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, Runtime: p.rtKind,
			BlockBytes: i64(a.BlockBytes), AllocatedBytes: i64(p.allocated), HeapCeilingBytes: i64(*p.ceiling), HeapCeilingSource: p.ceilingSrc}
		e.emit(&ev)
		e.release(p)
		return false
	}
	charged := mm.ChargedAtMmap(a.Mapping, e.sys.OvercommitMemory)
	if charged && !e.enough(p, pages) {
		e.stop(p, StopENOMEM)
		ev := Event{Event: EvENOMEM, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, Mapping: a.Mapping.String(),
			BlockBytes: i64(a.BlockBytes), AllocatedBytes: i64(p.allocated), Errno: "ENOMEM",
			CommittedASBytes: i64(e.committed * page), CommitLimitBytes: i64(e.commitLimit() * page), OvercommitMemory: iptr(e.sys.OvercommitMemory)}
		e.emit(&ev)
		return false
	}
	p.totalVM += pages
	p.allocated += a.BlockBytes
	p.heapBytes += a.BlockBytes
	if charged {
		p.committed += pages
		if mm.RechargedOnFork(a.Mapping, true) {
			p.vmas = append(p.vmas, pages)
		}
	}
	touch := int64(float64(pages)*a.TouchPercent/100 + 0.5)
	shmem := a.Mapping == mm.MapShared || a.Mapping == mm.MapTmpfs
	if touch > 0 && mm.ChargedPerPage(a.Mapping) {
		// tmpfs: each page is charged as it is allocated; a refusal is
		// ENOSPC on write (SIGBUS on a fault), not ENOMEM.
		if !e.enough(p, touch) {
			e.stop(p, StopENOMEM)
			ev := Event{Event: EvENOMEM, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, Mapping: a.Mapping.String(),
				BlockBytes: i64(a.BlockBytes), AllocatedBytes: i64(p.allocated), Errno: "ENOSPC",
				CommittedASBytes: i64(e.committed * page), CommitLimitBytes: i64(e.commitLimit() * page), OvercommitMemory: iptr(e.sys.OvercommitMemory)}
			e.emit(&ev)
			return false
		}
		p.tmpfsComm += touch
	}
	if touch > 0 && !e.touchThrottled(p, touch, shmem, a.Mapping == mm.MapTmpfs) {
		return false
	}
	ev := Event{Event: EvAlloc, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, Mapping: a.Mapping.String(),
		BlockBytes: e.num(a.BlockBytes), TouchedBytes: e.num(touch * page), AllocatedBytes: e.num(p.allocated), ResidentBytes: e.num(p.resident() * page),
		CommittedASBytes: e.num(e.committed * page), CommitLimitBytes: e.num(e.commitLimit() * page)}
	e.emit(&ev)
	return true
}

// fork is fork(2): dup_mmap charges every VM_ACCOUNT mapping again.
func (e *engine) fork(p *proc, f *Fork) {
	charged, ok := mm.DupMmapCharge(p.vmas, func(pages int64) bool { return e.enough(p, pages) })
	if !ok {
		e.committed -= charged
		ev := Event{Event: EvForkFailed, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, Errno: "ENOMEM",
			ChargedBytes: i64(sum(p.vmas) * page), CommittedASBytes: i64(e.committed * page), CommitLimitBytes: i64(e.commitLimit() * page),
			OvercommitMemory: iptr(e.sys.OvercommitMemory)}
		e.emit(&ev)
		return
	}
	pid := f.PID
	if pid == 0 {
		for e.pids[e.nextPID] {
			e.nextPID++
		}
		pid = e.nextPID
	}
	e.pids[pid] = true
	name := f.Name
	if name == "" {
		name = p.name
	}
	c := &proc{name: name, pid: pid, uid: p.uid, adj: p.adj, admin: p.admin, cg: p.cg, pod: p.pod, parent: p, acts: f.Actions,
		totalVM: p.totalVM, vmas: slices.Clone(p.vmas), committed: charged, ceiling: p.ceiling, ceilingSrc: p.ceilingSrc, rtKind: p.rtKind, hardCeil: p.hardCeil}
	p.children = append(p.children, c)
	e.procs = append(e.procs, c)
	c.order = len(e.procs)
	c.started = true
	c.cg.tasks = append(c.cg.tasks, c)
	ev := Event{Event: EvFork, Process: p.name, PID: p.pid, Cgroup: p.cg.path, Pod: p.pod, ChildProcess: c.name, ChildPID: c.pid,
		ChargedBytes: i64(charged * page), CommittedASBytes: i64(e.committed * page), CommitLimitBytes: i64(e.commitLimit() * page)}
	e.emit(&ev)
	e.push(e.t, c)
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// room is how many pages p's cgroup chain can still charge (−1: no limit)
// and the first level, leaf first, that would fail.
func room(cg *cgroup) (int64, *cgroup) {
	r, at := int64(-1), (*cgroup)(nil)
	for c := cg; c != nil; c = c.parent {
		if c.maxPages == Unlimited {
			continue
		}
		left := max(c.maxPages-c.usage, 0)
		if r < 0 || left < r {
			r, at = left, c
		}
	}
	return r, at
}

func (e *engine) charge(p *proc, n int64, shmem, tmpfs bool) {
	if shmem {
		p.shmem += n
		if tmpfs {
			p.tmpfs += n
		}
	} else {
		p.anon += n
	}
	p.touched += n
	e.resident += n
	for c := p.cg; c != nil; c = c.parent {
		c.usage += n
	}
}

// touch writes n pages for p: the page allocator first (reclaim, swap,
// global OOM), then the memcg charge (reclaim, swap, memcg OOM). It
// returns false when p is gone, stuck, or the machine panicked.
func (e *engine) touch(p *proc, n int64, shmem, tmpfs bool) bool {
	for n > 0 {
		if p.dead || e.panicked {
			return false
		}
		free := e.freeRAM()
		if free <= 0 {
			if e.reclaimGlobal(n) > 0 {
				continue
			}
			if !e.oom(p, nil) {
				return false
			}
			continue
		}
		c := min(n, free)
		r, over := room(p.cg)
		if r < 0 || r >= c {
			e.charge(p, c, shmem, tmpfs)
			n -= c
			continue
		}
		if r > 0 {
			e.charge(p, r, shmem, tmpfs)
			n -= r
			continue
		}
		over.failcnt++
		if e.reclaimMemcg(over, c) > 0 {
			continue
		}
		if e.oom(p, over) {
			continue
		}
		if e.panicked || p.dead {
			return false
		}
		// No victim in the memcg.
		if mm.NoVictimForceCharges(e.v) {
			e.charge(p, c, shmem, tmpfs)
			n -= c
			continue
		}
		p.stalled = true
		e.stop(p, StopRunning)
		return false
	}
	return true
}

// reclaimGlobal drops page cache, then swaps out the oldest processes'
// pages, to free up to want pages of RAM.
func (e *engine) reclaimGlobal(want int64) int64 {
	got := min(e.baseCach, want)
	e.baseCach -= got
	if got < want {
		got += e.dropCache(e.root, want-got)
	}
	if got < want {
		got += e.swapOut(e.root, want-got)
	}
	return got
}

// reclaimMemcg is try_to_free_mem_cgroup_pages() on cg's subtree.
func (e *engine) reclaimMemcg(cg *cgroup, want int64) int64 {
	got := e.dropCache(cg, want)
	if got < want {
		got += e.swapOut(cg, want-got)
	}
	return got
}

func (e *engine) dropCache(cg *cgroup, want int64) int64 {
	var got int64
	var walk func(c *cgroup)
	walk = func(c *cgroup) {
		if got >= want {
			return
		}
		if c.cache > 0 {
			d := min(c.cache, want-got)
			c.cache -= d
			e.cgCache -= d
			for a := c; a != nil; a = a.parent {
				a.usage -= d
			}
			got += d
		}
		for _, ch := range c.children {
			walk(ch)
		}
	}
	walk(cg)
	return got
}

// swapOut moves resident pages of processes in cg's subtree to swap,
// oldest process first, within the node's free swap and every level's
// swap limit.
func (e *engine) swapOut(cg *cgroup, want int64) int64 {
	if e.swapUsed >= e.swapPages {
		return 0
	}
	var got int64
	for _, p := range e.procs {
		if got >= want || e.swapUsed >= e.swapPages {
			break
		}
		if p.dead || p.resident() == 0 || !under(p.cg, cg) {
			continue
		}
		n := min(p.resident(), want-got, e.swapPages-e.swapUsed)
		for c := p.cg; c != nil; c = c.parent {
			if c.swapMax != Unlimited {
				n = min(n, max(c.swapMax-c.swap, 0))
			}
		}
		if n <= 0 {
			continue
		}
		fromAnon := min(p.anon, n)
		p.anon -= fromAnon
		rest := n - fromAnon
		p.shmem -= rest
		p.tmpfs = min(p.tmpfs, p.shmem)
		p.swapped += n
		e.resident -= n
		e.swapUsed += n
		for c := p.cg; c != nil; c = c.parent {
			c.usage -= n
			c.swap += n
		}
		got += n
	}
	return got
}

// under reports whether c is a or below it.
func under(c, a *cgroup) bool {
	for ; c != nil; c = c.parent {
		if c == a {
			return true
		}
	}
	return false
}

// release frees p's memory as exit_mmap does; tmpfs pages stay behind in
// the cgroup (the files outlive the process).
func (e *engine) release(p *proc) {
	if p.dead {
		return
	}
	p.dead = true
	freed := p.resident() - p.tmpfs
	e.resident -= freed
	e.swapUsed -= p.swapped
	e.committed -= p.committed
	for c := p.cg; c != nil; c = c.parent {
		c.usage -= freed
		c.swap -= p.swapped
	}
	p.cg.orphan += p.tmpfs
	p.anon, p.shmem, p.tmpfs, p.swapped = 0, 0, 0, 0
	if i := slices.Index(p.cg.tasks, p); i >= 0 {
		p.cg.tasks = slices.Delete(p.cg.tasks, i, i+1)
	}
}
