package mm

// PanicsOnOOM reports whether vm.panic_on_oom = value panics the machine for
// an OOM of this kind (memcg or not) instead of killing.
//
// check_panic_on_oom(), mm/oom_kill.c (4.4–6.18): 1 panics only for
// CONSTRAINT_NONE; 2 for every constraint, memcg included; sysrq never.
func PanicsOnOOM(value int, memcg bool) bool {
	switch {
	case value <= 0:
		return false
	case value == 1:
		return !memcg
	}
	return true
}

// PanicOnOOMMessage is the line check_panic_on_oom() panics with.
func PanicOnOOMMessage(value int) string {
	if value == 2 {
		return "Out of memory: compulsory panic_on_oom is enabled"
	}
	return "Out of memory: system-wide panic_on_oom is enabled"
}

// KillsAllocatingTask reports whether vm.oom_kill_allocating_task makes the
// OOM killer kill current (the allocating task) without a scan.
//
// out_of_memory(), mm/oom_kill.c (4.9–6.18): only for non-memcg OOMs, when
// current has an mm, is not unkillable and its adj is not −1000.
func KillsAllocatingTask(sysctl, memcg bool, current Task) bool {
	return sysctl && !memcg && !current.Unkillable && current.OOMScoreAdj != OOMScoreAdjMin
}

// SacrificesChild reports whether kernel v kills a child of the chosen
// process instead of the process itself.
//
// oom_kill_process(), mm/oom_kill.c ≤ 5.0; removed by bbbe48029720 in 5.1.
func SacrificesChild(v Version) bool { return !v.AtLeast(5, 1, 0) }

// PickChild is the ≤ 5.0 "sacrifice child" choice among children (in fork
// order, each with its own mm): the highest badness, strictly greater than
// the best so far starting from 0, so among tied children the oldest. It
// returns −1 when no child qualifies (the parent dies).
//
// oom_kill_process(), mm/oom_kill.c ≤ 5.0: victim_points starts at 0,
// "if (child_points > victim_points)".
func PickChild(r Rules, children []Task, totalpages int64) int {
	best, bestPoints := -1, int64(0)
	for i, c := range children {
		p, ok := Badness(r, c, totalpages)
		if ok && p > bestPoints {
			best, bestPoints = i, p
		}
	}
	return best
}

// GroupKillSupported reports whether kernel v honours memory.oom.group on a
// cgroup hierarchy of that version (v2 only, 4.19+).
//
// mem_cgroup_get_oom_group(), mm/memcontrol.c 4.19–6.18: returns NULL on v1.
func GroupKillSupported(v Version, cgroupV2 bool) bool {
	return cgroupV2 && v.AtLeast(4, 19, 0)
}

// GroupKillRoot returns the index, in chain, of the memcg whose whole
// subtree is killed after the victim: chain runs from the victim's memcg
// up to the OOM domain (the OOMing memcg, or the root for a global OOM),
// oomGroup[i] is that memcg's memory.oom.group. The highest flagged memcg
// wins; −1 means no group kill.
//
// mem_cgroup_get_oom_group(), mm/memcontrol.c 4.19–6.18.
func GroupKillRoot(oomGroup []bool) int {
	root := -1
	for i, g := range oomGroup {
		if g {
			root = i
		}
	}
	return root
}

// NoVictimForceCharges reports whether a memcg charge that found no OOM
// victim is forced over the limit (true) or fails with ENOMEM, which a page
// fault retries (false).
//
// try_charge(), mm/memcontrol.c: 5.4 OOM_FAILED → force; 5.15.135 and 6.x
// fail the charge (passed_oom/task_is_dying).
func NoVictimForceCharges(v Version) bool { return !v.AtLeast(5, 15, 0) }

// NoKillablePanic is the panic that ends a global OOM with no eligible
// task: ≤ 4.17 panics with the "no killable processes" text itself; 4.19+
// warns with it and then panics with "System is deadlocked on memory".
//
// out_of_memory(), mm/oom_kill.c.
func NoKillablePanic(v Version) string {
	if v.AtLeast(4, 19, 0) || v.isRHEL8() {
		return "System is deadlocked on memory"
	}
	return "Out of memory and no killable processes..."
}
