package kube

// OOM regimes: what the kernel kills when a container hits its limit.
const (
	// RegimeGroupKill: memory.oom.group=1 on the container cgroup; every
	// process in the container dies (except oom_score_adj -1000 ones), the
	// init process with them, so Kubernetes reports OOMKilled.
	RegimeGroupKill = "group_kill"
	// RegimeSingleProcess: the kernel kills the one process with the highest
	// badness; if that is a child, the container keeps running.
	RegimeSingleProcess = "single_process"
)

// Regime is the OOM regime of a container and why.
type Regime struct {
	Mode   string // RegimeGroupKill or RegimeSingleProcess
	Reason string
}

// OOMRegime is the regime a kubelet of version v sets up on cgroup version
// cgroupVersion (1 or 2). singleProcessOOMKill is the kubelet configuration
// field (nil: unset).
// kuberuntime_container_linux.go: 1.28+ writes memory.oom.group=1 for every
// container on cgroup v2 (PR #117793); 1.32+ singleProcessOOMKill (PR
// #126096) turns that off, and is forced true on cgroup v1.
func OOMRegime(v Version, cgroupVersion int, singleProcessOOMKill *bool) Regime {
	switch {
	case cgroupVersion == 1:
		return Regime{RegimeSingleProcess, "cgroup v1 has no memory.oom.group: the kernel kills one process; a killed child leaves the container running without OOMKilled"}
	case !v.AtLeast(28):
		return Regime{RegimeSingleProcess, "kubelet before 1.28 does not set memory.oom.group: the kernel kills one process; a killed child leaves the container running without OOMKilled"}
	case singleProcessOOMKill != nil && *singleProcessOOMKill && v.AtLeast(32):
		return Regime{RegimeSingleProcess, "singleProcessOOMKill: true in the kubelet configuration turns off group kills: the kernel kills one process"}
	}
	return Regime{RegimeGroupKill, "cgroup v2 and kubelet 1.28+: memory.oom.group=1 kills every process in the container, so it restarts as OOMKilled"}
}
