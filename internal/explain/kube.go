package explain

import (
	"fmt"

	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// attribute reads the Kubernetes objects out of the report's memcg paths:
// task_memcg says which container the victim was in, oom_memcg which
// limit was hit (spec/kubernetes.md §3.4). nil when neither path is under
// a kubelet's kubepods hierarchy.
func attribute(r *oomlog.Report, e *Event) *Kube {
	ti, tok := kube.ParsePath(r.TaskMemcg)
	oi, ook := kube.ParsePath(r.OOMMemcg)
	if !tok && !ook {
		return nil
	}
	info := ti
	if !tok {
		info = oi
	}
	k := &Kube{Attribution: info.Attribution()}
	if tok && ti.Scope != kube.ScopeContainer {
		// The victim sits in a pod or QoS cgroup itself, not in a container.
		k.ContainerID = nil
	}
	if k.ContainerRuntime == nil && ook && oi.Runtime != "" {
		k.ContainerRuntime = strPtr(oi.Runtime)
	}
	switch {
	case e.OOMKind != nil && *e.OOMKind == "global":
		k.LimitScope = ptr("global")
	case ook:
		k.LimitScope = ptr(oi.Scope)
	}
	if pid, _, ok := kernelVictim(r); ok {
		for _, v := range r.Victims {
			if v.PID == pid && v.OOMScoreAdj != nil {
				k.VictimOOMScoreAdjMeaning = ptr(kube.ClassifyOOMScoreAdj(*v.OOMScoreAdj))
			}
		}
		if k.VictimOOMScoreAdjMeaning == nil {
			for i := range r.Tasks {
				if t := &r.Tasks[i]; matches(t, pid) {
					k.VictimOOMScoreAdjMeaning = ptr(kube.ClassifyOOMScoreAdj(t.OOMScoreAdj))
					break
				}
			}
		}
	}
	if pid, _, ok := kernelVictim(r); ok && tok && e.GroupKillPath == nil {
		k.VictimFirstListed = firstListed(r, pid)
	}
	k.OOMKilled, k.OOMKilledReason = verdict(r, e, k, ti, tok)
	return k
}

// firstListed says whether the victim is the first task of its container
// in the table: on 5.3+ the memcg dump walks each cgroup's processes in
// join order, so a container's first row is usually its main process.
// nil when the table cannot say (no table, ≤5.2 order, victim not in it).
func firstListed(r *oomlog.Report, pid int) *bool {
	if len(r.Tasks) == 0 || r.OOMMemcg == "" {
		return nil
	}
	if v, ok := reportVersion(r); !ok || !v.AtLeast(5, 3, 0) {
		return nil
	}
	found := false
	for i := range r.Tasks {
		if matches(&r.Tasks[i], pid) {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		// The sandbox (pause, -998) and CRI-O's conmon (-1000) have cgroups
		// of their own and are scanned before the app containers.
		if t.OOMScoreAdj == -998 || t.OOMScoreAdj <= -1000 || t.Name == "pause" {
			continue
		}
		return ptr(matches(t, pid))
	}
	return nil
}

// verdict says whether the container status will read OOMKilled
// (spec/kubernetes.md §4.3, §4.4): "yes", "no" or "unknown", with the why.
func verdict(r *oomlog.Report, e *Event, k *Kube, ti kube.PathInfo, tok bool) (string, string) {
	pid, comm, ok := kernelVictim(r)
	who := "the victim"
	if ok {
		who = fmt.Sprintf("%s (pid %d)", comm, pid)
	}
	if tok && ti.Conmon {
		return "no", who + " is CRI-O's conmon monitor, not a container process: no container status changes, but the container loses its monitor"
	}
	if !tok {
		return "no", "the victim's memcg is not a container's, so no container status changes"
	}
	if e.GroupKillPath != nil {
		return "yes", fmt.Sprintf("cgroup v2 memory.oom.group: the kernel killed every process in %s (except oom_score_adj -1000 ones), the container's main process included, so it exits with 137 and containerd and CRI-O report OOMKilled", *e.GroupKillPath)
	}
	global := e.OOMKind != nil && *e.OOMKind == "global"
	cg := ""
	if e.CgroupVersion != nil {
		cg = *e.CgroupVersion
	}
	var main string
	fl := k.VictimFirstListed // attribute's firstListed(r, pid), when there is a victim
	if !ok {
		fl = firstListed(r, pid)
	}
	if fl != nil {
		if *fl {
			main = " It is the first process the table lists for its container, so it is probably the main process: the container exits with 137."
		} else {
			main = " It is not the first process the table lists for its container, so it is probably not the main process: the container may keep running without it."
		}
	}
	pidNote := " The report shows host PIDs only, so whether it was PID 1 inside the container cannot be read from it."
	switch {
	case global && cg == "v1":
		return "no", "a global OOM on cgroup v1 fires no memcg OOM event in the container, so the runtime does not mark it OOMKilled; if " + who + " was the container's main process the container exits with 137 and reason Error, and the kubelet posts a node SystemOOM event." + pidNote
	case global:
		return "unknown", "on cgroup v2 the kernel counts this kill in the container's memory.events oom_kill, which containerd 1.6+ and CRI-O watch: they mark the container OOMKilled, shown when it exits (now, if " + who + " was its main process). On cgroup v1 a global OOM fires no container event: an exit of the main process reads Error, and the kubelet posts only a node SystemOOM event. The report does not show the cgroup version." + pidNote + main
	case cg == "v1":
		return "unknown", "cgroup v1 kills only " + who + ". If it was the container's main process the container exits with 137 and is reported OOMKilled. If it was a child, the container keeps running; containerd and CRI-O still record the memcg OOM event and report OOMKilled whenever the container later exits, for any reason." + pidNote + main
	case cg == "v2":
		return "unknown", "cgroup v2 without a memory.oom.group line: only " + who + " died (a kubelet older than 1.28, or singleProcessOOMKill: true). containerd 1.6+ and CRI-O see oom_kill in the container's memory.events and report OOMKilled when it exits; it exits now only if " + who + " was its main process." + pidNote + main
	default:
		return "unknown", "the report does not show the cgroup version. On cgroup v2 with kubelet 1.28+ the whole container is killed (a \"memory.oom.group\" line would follow the kill) and reported OOMKilled; otherwise only " + who + " died, and the container exits (137, OOMKilled) only if it was its main process, while containerd and CRI-O still mark it OOMKilled for a later exit." + pidNote + main
	}
}
