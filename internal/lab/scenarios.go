package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/mm"
)

// killTimeout bounds the wait for a scenario's OOM kills.
const killTimeout = 30 * time.Second

// Guaranteed-pod adjustments, as the kubelet sets them (the article's logs).
const (
	adjGuaranteed = -997
	adjPause      = -998
)

var scenarios = []Scenario{
	{Name: "container-limit", Title: "One process allocates and touches blocks until the memcg limit; the kernel kills it (the article's OOM Scenario #1)", run: containerLimit},
	{Name: "twist-1", Title: "Guaranteed pod (adj -997): main holds ~85% of the limit, a helper started later allocates until the OOM", run: twist1},
	{Name: "twist-2", Title: "Roles reversed: a helper holds a little, the main process (joined first) allocates until the OOM", run: twist2},
	{Name: "adj-extremes", Title: "An adj -1000 process is never chosen; an adj 1000 process is chosen first even when small", run: adjExtremes},
	{Name: "child-not-init", Title: "A container-like tree: the child is the victim and the first process keeps running (v1: no OOMKilled)", run: childNotInit},
	{Name: "pod-limit", Title: "The limit is on the pod cgroup, none on the container's: the report's oom_memcg is the pod", run: podLimit},
	{Name: "page-cache", Title: "Page cache of twice the limit is reclaimed, nobody is killed; shmem of the same size is charged and killed", run: pageCache},
	{Name: "group-kill", Title: "cgroup v2 memory.oom.group=1: one OOM kill takes every process of the container", Needs: "v2", run: groupKill},
	{Name: "child-not-init-v2", Title: "child-not-init with memory.oom.group=1 (kubelet 1.28+ on v2): the first process dies too", Needs: "v2", run: childNotInitV2},
	{Name: "memory-high", Title: "cgroup v2 memory.high: a cgroup over it is throttled and reclaimed, not killed", Needs: "v2", run: memoryHigh},
	{Name: "memory-high-max", Title: "memory.high below memory.max (MemoryQoS): past high the kernel counts high events and throttles as the model predicts, and kills only at memory.max", Needs: "v2", run: memoryHighMax},
	{Name: "node-oom", Title: "The node runs out of memory (a global OOM) with QoS-class adjs: BestEffort dies first however small, then the leaking Burstable process, never Guaranteed", Needs: "vm", run: nodeOOM},
}

// start spawns and releases an allocator.
func (r *run) start(role string, m *cgroup.Memcg, args []string) (*child, error) {
	c, err := r.spawn(role, m, args...)
	if err != nil {
		return nil, err
	}
	return c, c.release()
}

// startHolding starts an allocator with --hold and waits until it holds.
func (r *run) startHolding(role string, m *cgroup.Memcg, args []string) (*child, error) {
	c, err := r.start(role, m, args)
	if err != nil {
		return nil, err
	}
	_, err = c.waitHold(r.ctx)
	return c, err
}

// waitExit waits for c to end (the kernel's SIGKILL is sent before the
// Killed line, but the process takes a moment to go).
func (r *run) waitExit(c *child, d time.Duration) {
	deadline := time.Now().Add(d)
	for c.alive() && time.Now().Before(deadline) && r.ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *run) checkKilled(c *child) {
	r.waitExit(c, 3*time.Second)
	sig := c.killedBy()
	r.check(c.role+" was SIGKILLed", sig == syscall.SIGKILL,
		fmt.Sprintf("%s (pid %d): %s", c.role, c.pid, c.exitText()))
}

func (r *run) checkAlive(c *child, why string) {
	r.check(c.role+" survived", c.alive(), fmt.Sprintf("%s (pid %d): %s; %s", c.role, c.pid, c.exitText(), why))
}

func containerLimit(r *run) error {
	L := r.limit
	r.expect(round{{role: "app", rssBytes: L}})
	app, err := r.start("app", r.root, allocArgs(L/8, 0, 20*time.Millisecond, 0, false))
	if err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.checkKilled(app)
	r.conclude()
	return nil
}

// twist1 is the article's first twist: the container's main process holds
// ~900 MB of 1 GiB; a second process started later (kubectl exec) allocates
// and triggers the OOM. 5.4.0–5.4.143 killed the later, smaller one: every
// −997 score clamps to 1 and the last one scanned wins the tie.
func twist1(r *run) error {
	L, rt := r.limit, r.cfg.runtimeRSS
	if rt > L/4 {
		return fmt.Errorf("an allocator has %s resident before it allocates, too much for a %s limit: use a larger --limit", bytesize.Format(rt), bytesize.Format(L))
	}
	// main's RSS (its charge plus the runtime pages charged where it
	// started) is 85% of the limit, as the article's 900 MB of 1 GiB.
	mainCharge := L*85/100 - rt
	r.expect(round{
		{role: "main", rssBytes: mainCharge, adj: adjGuaranteed},
		{role: "helper", rssBytes: L - mainCharge, adj: adjGuaranteed},
	})
	if _, err := r.startHolding("main", r.root, allocArgs(L/16, mainCharge, 0, r.adj("main", adjGuaranteed), true)); err != nil {
		return err
	}
	// Small blocks at an interval, and a --max just past what triggers the
	// OOM, so the helper does little after main is killed (see the notes
	// on a second kill in conclude).
	if _, err := r.start("helper", r.root, allocArgs(L/128, L-mainCharge+L/8, 20*time.Millisecond, r.adj("helper", adjGuaranteed), true)); err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.checkKilled(r.children[0])
	r.conclude()
	return nil
}

// twist2 reverses the roles: the helper has finished a small allocation
// and holds it; the main process, first in the cgroup, allocates until the
// OOM. 5.4.0–5.4.143 killed the helper again (last scanned), not the
// trigger. The helper holds 15% plus the runtime's own pages (the
// article's 60 MB of 1 GiB is 6%) so that main's RSS, which also counts
// the pages the Go runtime touched before it joined the cgroup, stays near
// 85% of the limit: above 99.7% an adj −997 score turns positive and no
// longer clamps.
func twist2(r *run) error {
	L, rt := r.limit, r.cfg.runtimeRSS
	if rt > L/4 {
		return fmt.Errorf("an allocator has %s resident before it allocates, too much for a %s limit: use a larger --limit", bytesize.Format(rt), bytesize.Format(L))
	}
	helperCharge := L*15/100 + rt
	r.expect(round{
		{role: "main", rssBytes: L - helperCharge, adj: adjGuaranteed},
		{role: "helper", rssBytes: helperCharge, adj: adjGuaranteed},
	})
	main, err := r.spawn("main", r.root, allocArgs(L/20, 0, 10*time.Millisecond, r.adj("main", adjGuaranteed), false)...)
	if err != nil {
		return err
	}
	if _, err := r.startHolding("helper", r.root, allocArgs(L/100, helperCharge, 0, r.adj("helper", adjGuaranteed), true)); err != nil {
		return err
	}
	if err := main.release(); err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.checkKilled(main)
	r.conclude()
	return nil
}

func adjExtremes(r *run) error {
	L := r.limit
	// adj −1000 needs CAP_SYS_RESOURCE; without it that half is not tried.
	withMin := r.host.CanLowerAdj
	var first, second round
	if withMin {
		first = append(first, planTask{role: "adj-min", rssBytes: L / 2, adj: -1000})
		second = append(second, planTask{role: "adj-min", rssBytes: L / 2, adj: -1000})
	} else {
		r.res.Notes = append(r.res.Notes, "this host does not let oomkit set oom_score_adj -1000 (no CAP_SYS_RESOURCE), so the \"-1000 is never chosen\" half was not tried; run it as full root (or with --vm)")
	}
	rest := L - L/32
	if withMin {
		rest = L/2 - L/32
	}
	first = append(first, planTask{role: "adj-max", rssBytes: L / 32, adj: 1000}, planTask{role: "allocator", rssBytes: rest})
	second = append(second, planTask{role: "allocator", rssBytes: rest + L/32})
	r.expect(first, second)
	var never *child
	if withMin {
		c, err := r.startHolding("adj-min", r.root, allocArgs(L/8, L/2, 0, -1000, true))
		if err != nil {
			return err
		}
		never = c
	}
	favourite, err := r.startHolding("adj-max", r.root, allocArgs(L/32, L/32, 0, 1000, true))
	if err != nil {
		return err
	}
	last, err := r.start("allocator", r.root, allocArgs(L/16, 0, 10*time.Millisecond, 0, false))
	if err != nil {
		return err
	}
	if err := r.waitKills(2, killTimeout); err != nil {
		return err
	}
	r.checkKilled(favourite)
	r.checkKilled(last)
	if never != nil {
		r.checkAlive(never, "oom_score_adj -1000 is never chosen, even when it holds half the limit")
	}
	r.conclude()
	return nil
}

func childNotInit(r *run) error {
	return childTree(r, false)
}

func childNotInitV2(r *run) error {
	return childTree(r, true)
}

// childTree: the container's first process holds a little; a later one
// (what the entrypoint spawned, or kubectl exec) allocates until the OOM.
// Without memory.oom.group only the child dies; with it (kubelet 1.28+ on
// v2) the whole container goes, first process included.
func childTree(r *run, group bool) error {
	L := r.limit
	if group {
		if err := r.root.Write("memory.oom.group", "1"); err != nil {
			return err
		}
	}
	r.expect(round{
		{role: "init", rssBytes: L / 8, group: group},
		{role: "child", rssBytes: L * 7 / 8, group: group},
	})
	init, err := r.startHolding("init", r.root, allocArgs(L/16, L/8, 0, 0, true))
	if err != nil {
		return err
	}
	kid, err := r.start("child", r.root, allocArgs(L/16, 0, 10*time.Millisecond, 0, false))
	if err != nil {
		return err
	}
	want := int64(1)
	if group {
		want = 2
	}
	if err := r.waitKills(want, killTimeout); err != nil {
		return err
	}
	r.checkKilled(kid)
	if group {
		r.checkKilled(init)
	} else {
		time.Sleep(200 * time.Millisecond)
		r.checkAlive(init, "the first process keeps running: on cgroup v1 the container is not restarted and, unless the runtime saw the OOM event, Kubernetes reports no OOMKilled")
	}
	r.conclude()
	return nil
}

// podLimit puts the limit on the pod cgroup and none on the container's,
// with a pause-like process in a sibling cgroup created first, as the
// kubelet lays it out.
func podLimit(r *run) error {
	L := r.limit
	pause, err := r.child("pause")
	if err != nil {
		return err
	}
	app, err := r.child("app")
	if err != nil {
		return err
	}
	r.expect(round{
		{role: "pause", rssBytes: bytesize.MiB, adj: adjPause},
		{role: "app", rssBytes: L, adj: adjGuaranteed},
	})
	if _, err := r.startHolding("pause", pause, allocArgs(bytesize.MiB, bytesize.MiB, 0, r.adj("pause", adjPause), true)); err != nil {
		return err
	}
	a, err := r.start("app", app, allocArgs(L/16, 0, 10*time.Millisecond, r.adj("app", adjGuaranteed), false))
	if err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.checkKilled(a)
	if reps := r.reports(); len(reps) > 0 {
		rep := reps[0]
		r.check("oom_memcg is the pod cgroup", rep.OOMMemcg == r.root.Path,
			fmt.Sprintf("oom_memcg=%s, pod cgroup %s (hierarchical accounting: the container's pages count against the pod's limit)", rep.OOMMemcg, r.root.Path))
		r.check("task_memcg is the container cgroup", rep.TaskMemcg == app.Path,
			fmt.Sprintf("task_memcg=%s, container cgroup %s", rep.TaskMemcg, app.Path))
	}
	r.conclude()
	return nil
}

// pageCache writes twice the limit through the page cache of a file on a
// disk (clean after fdatasync, so reclaim drops it and nobody is killed),
// then maps and touches the same amount of shmem (a memfd: charged like
// tmpfs, and without swap not reclaimable) and is killed.
func pageCache(r *run) error {
	L := r.limit
	dir := os.TempDir()
	var st unix.Statfs_t
	diskBacked := unix.Statfs(dir, &st) == nil && st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC
	if diskBacked {
		w, err := r.start("file-writer", r.root, append(allocArgs(L/4, 2*L, 0, 0, false), "--mode", "file", "--dir", dir))
		if err != nil {
			return err
		}
		r.waitExit(w, killTimeout)
		last := w.last()
		ok := !w.alive() && w.killedBy() == 0 && last != nil && last.StopReason != nil && *last.StopReason == alloc.StopMax
		detail := fmt.Sprintf("file-writer (pid %d) %s", w.pid, w.exitText())
		if last != nil {
			detail += fmt.Sprintf(" after writing %s through the page cache of %s under a %s limit", bytesize.Format(last.TouchedBytes), dir, bytesize.Format(L))
			if last.CgroupUsageBytes != nil {
				detail += fmt.Sprintf("; cgroup usage at the end %s", bytesize.Format(*last.CgroupUsageBytes))
			}
		}
		r.check("page cache is reclaimed, not killed", ok && r.oomKills() == r.killsAt0, detail+w.stderrText())
	} else {
		r.check("page cache is reclaimed, not killed", true, fmt.Sprintf("not tried: %s is tmpfs/ramfs (no disk-backed filesystem for page cache here)", dir))
	}
	r.expect(round{{role: "shmem", rssBytes: L}})
	s, err := r.start("shmem", r.root, append(allocArgs(L/8, 2*L, 0, 0, false), "--mode", "shmem"))
	if err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.checkKilled(s)
	r.conclude()
	return nil
}

// groupKill: a container cgroup (under the pod, which has the limit) with
// memory.oom.group=1, as the kubelet sets it on v2 since 1.28.
func groupKill(r *run) error {
	L := r.limit
	ctr, err := r.child("container")
	if err != nil {
		return err
	}
	if err := ctr.Write("memory.oom.group", "1"); err != nil {
		return err
	}
	r.expect(round{
		{role: "init", rssBytes: L / 8, group: true},
		{role: "worker", rssBytes: L / 8, group: true},
		{role: "allocator", rssBytes: L * 3 / 4, group: true},
	})
	var procs []*child
	for _, role := range []string{"init", "worker"} {
		c, err := r.startHolding(role, ctr, allocArgs(L/16, L/8, 0, 0, true))
		if err != nil {
			return err
		}
		procs = append(procs, c)
	}
	a, err := r.start("allocator", ctr, allocArgs(L/16, 0, 10*time.Millisecond, 0, false))
	if err != nil {
		return err
	}
	procs = append(procs, a)
	if err := r.waitKills(3, killTimeout); err != nil {
		return err
	}
	for _, c := range procs {
		r.checkKilled(c)
	}
	if reps := r.reports(); len(reps) > 0 {
		r.check("the report names the group", reps[0].GroupKillPath == ctr.Path,
			fmt.Sprintf("\"Tasks in %s are going to be killed due to memory.oom.group set\"; container %s", reps[0].GroupKillPath, ctr.Path))
	}
	n := readKeyed(filepath.Join(r.root.Dir, "memory.events"), "oom_group_kill")
	r.check("memory.events oom_group_kill counted it", n >= 1, "oom_group_kill "+strconv.FormatInt(n, 10))
	r.conclude()
	return nil
}

// memoryHigh sets memory.high to half of memory.max and allocates a little
// past it: the kernel reclaims and throttles (memory.events "high"
// grows) but never invokes the OOM killer for memory.high.
func memoryHigh(r *run) error {
	L := r.limit
	if err := r.root.Write("memory.high", strconv.FormatInt(L/2, 10)); err != nil {
		return err
	}
	r.expect()
	c, err := r.startHolding("allocator", r.root, allocArgs(L/64, L/2+L/50, 0, 0, true))
	if err != nil {
		return err
	}
	high := readKeyed(filepath.Join(r.root.Dir, "memory.events"), "high")
	r.check("memory.high was crossed", high > 0, fmt.Sprintf("memory.events high %d", high))
	r.checkAlive(c, "memory.high throttles and reclaims; only memory.max invokes the OOM killer")
	r.conclude()
	return nil
}

// Kubelet adjs for the node-oom pods, as the kubelet computes them for a
// Burstable container: 1000 − 1000 × request / node memory.
const (
	adjBurstable70 = 300 // requests 70% of the node
	adjBurstable90 = 100 // requests 90% of the node
	adjBestEffort  = 1000
)

// nodeOOM exhausts the whole (virtual) machine, as pods exceeding their
// requests exhaust a node: the kernel's global OOM killer ranks every
// process by its usage plus oom_score_adj × (RAM + swap) / 1000, so the
// QoS classes' adjs decide. A 4 MiB BestEffort process (1000) dies first;
// then the leaking Burstable process (adj 100, hundreds of MiB) scores
// above a Burstable one that asked for more and uses little (300); the
// Guaranteed process (-997) survives. Only in a throw-away VM.
func nodeOOM(r *run) error {
	ram := r.host.MemTotalBytes
	if ram <= 0 {
		return fmt.Errorf("node-oom needs MemTotal from /proc/meminfo")
	}
	// No memory limit: the OOM is the machine's. The cgroup keeps the swap
	// limit of 0 the lab gave it, so the leak's pages stay resident, where
	// the OOM killer counts them the same with or without guest swap.
	if err := r.root.Write("memory.max", "max"); err != nil {
		return err
	}
	r.res.LimitBytes = nil
	r.cfg.logf("%s: limit removed from %s: the machine's %s of RAM and %s of swap are the limit", r.res.Scenario, r.root.Path, bytesize.Format(ram), bytesize.Format(r.host.SwapTotalBytes))
	// The lab must survive the OOM it causes (its allocators set their own
	// adj); later scenarios get its adj back.
	const selfAdj = "/proc/self/oom_score_adj"
	old, err := os.ReadFile(selfAdj)
	if err != nil {
		return err
	}
	if err := os.WriteFile(selfAdj, []byte("-1000"), 0); err != nil {
		return fmt.Errorf("node-oom: protect the lab from the OOM killer: %w", err)
	}
	defer func() { _ = os.WriteFile(selfAdj, old, 0) }()
	r.nodePages = (ram + r.host.SwapTotalBytes) / mm.PageSize
	guaranteed, burstable, bestEffort := ram/8, ram/16, 4*bytesize.MiB
	// The leak's size when the OOM comes depends on what else holds RAM
	// (the kernel, the initramfs); half of RAM is a low estimate that
	// still ranks it where the kernel will.
	leak := ram / 2
	r.expect(
		round{
			{role: "guaranteed", rssBytes: guaranteed, adj: adjGuaranteed},
			{role: "burstable", rssBytes: burstable, adj: adjBurstable70},
			{role: "besteffort", rssBytes: bestEffort, adj: adjBestEffort},
			{role: "leak", rssBytes: leak, adj: adjBurstable90},
		},
		round{
			{role: "guaranteed", rssBytes: guaranteed, adj: adjGuaranteed},
			{role: "burstable", rssBytes: burstable, adj: adjBurstable70},
			{role: "leak", rssBytes: leak, adj: adjBurstable90},
		},
	)
	g, err := r.startHolding("guaranteed", r.root, allocArgs(guaranteed/8, guaranteed, 0, r.adj("guaranteed", adjGuaranteed), true))
	if err != nil {
		return err
	}
	if _, err := r.startHolding("burstable", r.root, allocArgs(burstable/4, burstable, 0, adjBurstable70, true)); err != nil {
		return err
	}
	be, err := r.startHolding("besteffort", r.root, allocArgs(bestEffort, bestEffort, 0, adjBestEffort, true))
	if err != nil {
		return err
	}
	lk, err := r.start("leak", r.root, allocArgs(4*bytesize.MiB, 0, 0, adjBurstable90, false))
	if err != nil {
		return err
	}
	if err := r.waitKills(2, killTimeout); err != nil {
		return err
	}
	r.checkKilled(be)
	r.checkKilled(lk)
	r.checkAlive(g, "adj -997 takes nearly all of RAM + swap off its score")
	r.conclude()
	return nil
}
