package sim

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
)

// Sandbox (pause) process defaults: containerd's defaultSandboxOOMAdj and
// the few pages the pause binary touches.
const (
	pauseOOMScoreAdj = -998
	pauseRSSBytes    = 4 << 10
	pauseVSZBytes    = 964 << 10
)

// validate checks references and limits and expands pods into their
// cgroups and sandbox processes.
func (l *loader) validate(s *Scenario) error {
	if err := l.expandPods(s); err != nil {
		return err
	}
	if err := l.cgroupTree(s); err != nil {
		return err
	}
	known := map[string]bool{"/": true}
	for _, c := range s.Cgroups {
		known[c.Path] = true
	}
	pids := map[int]string{}
	claim := func(pid int, p string) error {
		if pid == 0 {
			return nil
		}
		if prev, ok := pids[pid]; ok {
			return l.errorf(p, "%d is already the pid of %s", pid, prev)
		}
		pids[pid] = p
		return nil
	}
	var forks func(acts []Action, p string) error
	forks = func(acts []Action, p string) error {
		for i, a := range acts {
			if a.Fork == nil {
				continue
			}
			fp := fmt.Sprintf("%s[%d].fork", p, i)
			if err := claim(a.Fork.PID, fp+".pid"); err != nil {
				return err
			}
			if err := forks(a.Fork.Actions, fp+".actions"); err != nil {
				return err
			}
		}
		return nil
	}
	npause := 0
	for _, pr := range s.Processes {
		if pr.pauseOf != "" {
			npause++
		}
	}
	for i := range s.Processes {
		pr := &s.Processes[i]
		p := fmt.Sprintf("processes[%d]", i-npause)
		if pr.pauseOf == "" && pr.Pod == "" && !known[pr.Cgroup] && pr.Cgroup != "" {
			return l.errorf(p+".cgroup", "%q is not defined under cgroups", pr.Cgroup)
		}
		if pr.Cgroup == "" {
			pr.Cgroup = "/"
		}
		if err := claim(pr.PID, p+".pid"); err != nil {
			return err
		}
		if err := forks(pr.Actions, p+".actions"); err != nil {
			return err
		}
	}
	next := 1000
	for i := range s.Processes {
		if s.Processes[i].PID == 0 {
			for pids[next] != "" {
				next++
			}
			s.Processes[i].PID = next
			pids[next] = "auto"
		}
	}
	return nil
}

// cgroupTree adds the unlisted ancestors of every cgroup (unlimited, just
// before their first child), rejects duplicates, and rejects a child whose
// memory_max is larger than an ancestor's.
func (l *loader) cgroupTree(s *Scenario) error {
	seen := map[string]int{}
	var out []Cgroup
	limit := map[string]int64{"/": Unlimited}
	for i, c := range s.Cgroups {
		p := fmt.Sprintf("cgroups[%d]", i)
		if c.Path == "/" {
			return l.errorf(p+".path", "the root cgroup / cannot be limited; its limit is the node")
		}
		if _, dup := seen[c.Path]; dup {
			if c.origin != "" {
				return l.errorf(c.origin, "its cgroup %s is also listed under cgroups", c.Path)
			}
			return l.errorf(p+".path", "%s is listed twice", c.Path)
		}
		var parents []string
		for d := parentPath(c.Path); d != "/"; d = parentPath(d) {
			if _, ok := seen[d]; ok {
				break
			}
			parents = append(parents, d)
		}
		for j := len(parents) - 1; j >= 0; j-- {
			seen[parents[j]] = len(out)
			limit[parents[j]] = limit[parentPath(parents[j])]
			out = append(out, Cgroup{Path: parents[j], MemoryMaxBytes: Unlimited, SwapMaxBytes: Unlimited})
		}
		eff := limit[parentPath(c.Path)]
		if c.MemoryMaxBytes != Unlimited && eff != Unlimited && c.MemoryMaxBytes > eff {
			where := p + ".memory_max"
			if c.origin != "" {
				where = c.origin
			}
			return l.errorf(where, "%s is larger than its parent's limit (%s under %s): the child can never use it",
				bytesize.Format(c.MemoryMaxBytes), bytesize.Format(eff), nearestLimited(c.Path, s.Cgroups, limit))
		}
		if c.OOMGroup && !s.Node.CgroupV2 {
			return l.errorf(p+".oom_group", "memory.oom.group exists only on cgroup v2 (set node.cgroup_version: 2)")
		}
		if c.MemoryHighBytes > 0 && !s.Node.CgroupV2 {
			return l.errorf(p+".memory_high", "memory.high exists only on cgroup v2 (set node.cgroup_version: 2)")
		}
		if c.MemoryMaxBytes != Unlimited && (eff == Unlimited || c.MemoryMaxBytes < eff) {
			eff = c.MemoryMaxBytes
		}
		limit[c.Path] = eff
		seen[c.Path] = len(out)
		out = append(out, c)
	}
	s.Cgroups = out
	return nil
}

func nearestLimited(p string, cgs []Cgroup, limit map[string]int64) string {
	want := limit[parentPath(p)]
	for d := parentPath(p); d != "/"; d = parentPath(d) {
		for _, c := range cgs {
			if c.Path == d && c.MemoryMaxBytes == want {
				return d
			}
		}
	}
	return parentPath(p)
}

// parentPath is the cgroup's parent: "/a/b" → "/a", "/a" → "/".
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// kubePod is the pod as the kubelet sees it, after the API server's
// defaulting (requests from limits): the input of internal/kube's QoS,
// oom_score_adj and eviction rules.
func kubePod(p Pod) *corev1.Pod {
	pod := &corev1.Pod{}
	pod.Name, pod.UID = p.Name, types.UID(p.UID)
	prio := int32(p.Priority)
	pod.Spec.Priority = &prio
	for _, c := range p.Containers {
		res := corev1.ResourceRequirements{}
		add := func(list *corev1.ResourceList, mem, cpu int64) {
			if mem == 0 && cpu == 0 {
				return
			}
			*list = corev1.ResourceList{}
			if mem != 0 {
				(*list)[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
			}
			if cpu != 0 {
				(*list)[corev1.ResourceCPU] = *resource.NewMilliQuantity(cpu, resource.DecimalSI)
			}
		}
		add(&res.Requests, c.RequestBytes, c.CPURequestMilli)
		add(&res.Limits, c.LimitBytes, c.CPULimitMilli)
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c.Name, Resources: res})
	}
	kube.ApplyDefaults(pod)
	return pod
}

// PodQOS is the pod's QoS class under kubelet v (kube.PodQOS, i.e.
// ComputePodQOS; spec/kubernetes.md §1.1).
func PodQOS(p Pod, v kube.Version) string { return kube.PodQOS(kubePod(p), v) }

// podCgroup is the kubelet's cgroupfs path of a pod: /kubepods/pod<uid>
// for Guaranteed, /kubepods/{burstable,besteffort}/pod<uid> otherwise.
func podCgroup(qos, uid string) string {
	switch qos {
	case kube.QOSBurstable:
		return "/kubepods/burstable/pod" + uid
	case kube.QOSBestEffort:
		return "/kubepods/besteffort/pod" + uid
	}
	return "/kubepods/pod" + uid
}

// kubeletVersion is the scenario's kubelet release (1.30 without a
// kubelet section).
func kubeletVersion(k *Kubelet) kube.Version {
	if k != nil {
		if v, err := kube.ParseVersion(k.Version); err == nil {
			return v
		}
	}
	return kube.Version{Major: 1, Minor: 30}
}

// expandPods gives every pod its pod and container cgroups (pause first)
// and a sandbox process, and resolves the processes that name a pod.
func (l *loader) expandPods(s *Scenario) error {
	kv := kubeletVersion(s.Kubelet)
	pods := map[string]int{}
	var podCgroups []Cgroup
	var pauses []Process
	for i := range s.Pods {
		pod := &s.Pods[i]
		p := fmt.Sprintf("pods[%d]", i)
		if _, dup := pods[pod.Name]; dup {
			return l.errorf(p+".name", "pod %q is listed twice", pod.Name)
		}
		pods[pod.Name] = i
		if pod.UID == "" {
			pod.UID = fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
		}
		qos := PodQOS(*pod, kv)
		base := podCgroup(qos, pod.UID)
		podLimit := int64(0)
		for _, c := range pod.Containers {
			if c.LimitBytes == 0 {
				podLimit = Unlimited
				break
			}
			podLimit += c.LimitBytes
		}
		if podLimit == 0 {
			podLimit = Unlimited
		}
		// MemoryQoS (kube.ContainerMemoryQoS, PodMemoryQoS): only
		// memory.high acts in the simulation (protection needs reclaim
		// from other cgroups, which it does not model).
		var qcfg kube.MemoryQoSConfig
		if s.Kubelet != nil {
			qcfg = s.Kubelet.MemoryQoS
		}
		kp := kubePod(*pod)
		podHigh := int64(0)
		if h := kube.PodMemoryQoS(kp, qos, kv, qcfg, s.Node.CgroupV2).HighBytes; h != nil {
			podHigh = *h
		}
		podCgroups = append(podCgroups, Cgroup{Path: base, MemoryMaxBytes: podLimit, SwapMaxBytes: Unlimited, MemoryHighBytes: podHigh, origin: p},
			Cgroup{Path: base + "/pause", MemoryMaxBytes: Unlimited, SwapMaxBytes: Unlimited, origin: p})
		names := map[string]bool{"pause": true}
		for j, c := range pod.Containers {
			if names[c.Name] {
				return l.errorf(fmt.Sprintf("%s.containers[%d].name", p, j), "container %q is listed twice (pause is the sandbox)", c.Name)
			}
			names[c.Name] = true
			lim := c.LimitBytes
			if lim == 0 {
				lim = Unlimited
			}
			// The kubelet's default swap behaviour (NoSwap) writes
			// memory.swap.max = 0 for containers on cgroup v2.
			swapMax := Unlimited
			if s.Node.CgroupV2 {
				swapMax = 0
			}
			high := int64(0)
			if h := kube.ContainerMemoryQoS(kp, &kp.Spec.Containers[j], qos, kv, qcfg, s.Node.CgroupV2, s.Node.MemoryBytes).HighBytes; h != nil {
				high = *h
			}
			podCgroups = append(podCgroups, Cgroup{Path: base + "/" + c.Name, MemoryMaxBytes: lim, SwapMaxBytes: swapMax, MemoryHighBytes: high, origin: p})
		}
		adj := pauseOOMScoreAdj
		pauses = append(pauses, Process{Name: "pause", UID: 65535, Cgroup: base + "/pause", Pod: pod.Name, Container: "pause",
			OOMScoreAdj: &adj, Runtime: Runtime{Kind: RuntimeNative}, BaseVSZBytes: pauseVSZBytes - pauseRSSBytes, BaseRSSBytes: pauseRSSBytes, pauseOf: pod.Name})
	}
	s.Cgroups = append(podCgroups, s.Cgroups...)
	for i := range s.Processes {
		pr := &s.Processes[i]
		p := fmt.Sprintf("processes[%d]", i)
		if pr.Pod == "" {
			if pr.Container != "" {
				return l.errorf(p+".container", "needs pod as well")
			}
			continue
		}
		if pr.Cgroup != "" {
			return l.errorf(p+".cgroup", "give either cgroup or pod/container, not both")
		}
		pi, ok := pods[pr.Pod]
		if !ok {
			return l.errorf(p+".pod", "%q is not defined under pods", pr.Pod)
		}
		pod := s.Pods[pi]
		var ctr *Container
		for j := range pod.Containers {
			if pod.Containers[j].Name == pr.Container {
				ctr = &pod.Containers[j]
			}
		}
		if ctr == nil {
			if pr.Container == "" && len(pod.Containers) == 1 {
				ctr = &pod.Containers[0]
				pr.Container = ctr.Name
			} else {
				return l.errorf(p+".container", "%q is not a container of pod %q", pr.Container, pr.Pod)
			}
		}
		kp := kubePod(pod)
		pr.Cgroup = podCgroup(kube.PodQOS(kp, kv), pod.UID) + "/" + ctr.Name
		if pr.OOMScoreAdj == nil {
			// GetContainerOOMScoreAdjust, pkg/kubelet/qos/policy.go.
			var kc *corev1.Container
			for j := range kp.Spec.Containers {
				if kp.Spec.Containers[j].Name == ctr.Name {
					kc = &kp.Spec.Containers[j]
				}
			}
			adj := kube.ContainerOOMScoreAdj(kp, kc, s.Node.MemoryBytes, kv)
			pr.OOMScoreAdj = &adj
		}
	}
	s.Processes = append(pauses, s.Processes...)
	return nil
}
