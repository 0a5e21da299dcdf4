package kube

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/heap"
)

// Container types as the analysis reports them.
const (
	ContainerInit      = "init"
	ContainerSidecar   = "sidecar" // restartable init container
	ContainerRegular   = "regular"
	ContainerEphemeral = "ephemeral"
)

// Usage sources: where a container's expected usage came from.
const (
	UsageGiven   = "given"   // --usage
	UsageRequest = "request" // its memory request
	UsageLimit   = "limit"   // its memory limit (no request)
	// UsageAssumed: nothing known. The container is taken to use one
	// thousandth of node memory, the weight of one oom_score_adj point: a
	// running container uses something, and at 0 an idle BestEffort
	// container would rank behind Burstable ones at their requests only
	// because the kubelet and the kernel round adj × memory down.
	UsageAssumed = "assumed"
)

// Options are the node and cluster the manifests are analysed for.
type Options struct {
	// NodeMemoryBytes is the node's RAM (cAdvisor MemoryCapacity).
	NodeMemoryBytes int64
	// Version is the kubelet version whose rules apply.
	Version Version
	// CgroupVersion is 1 or 2.
	CgroupVersion int
	// Runtime is the container runtime assumed where a pod's status does not
	// say: "containerd", "cri-o" or "docker".
	Runtime string
	// SingleProcessOOMKill is the kubelet setting, nil when unset.
	SingleProcessOOMKill *bool
	// UsageBytes gives expected container usage, keyed "pod/container" or
	// "namespace/pod/container".
	UsageBytes map[string]int64
	// MemoryQoS is the kubelet's MemoryQoS configuration (feature gate,
	// memoryThrottlingFactor, memoryReservationPolicy).
	MemoryQoS MemoryQoSConfig
	// NodeAllocatableBytes is the node's allocatable memory, which
	// memory.high is computed from for a container without a limit; 0
	// means NodeMemoryBytes.
	NodeAllocatableBytes int64
}

// Warning is a finding about a container: a stable code and a sentence
// that gives the reason and the fix.
type Warning struct {
	Code    string
	Message string
	// Error marks manifests the API server would reject.
	Error bool
}

// ContainerReport is what the kubelet and the kernel will do with one container.
type ContainerReport struct {
	Container     string
	ContainerType string
	// MemoryRequestBytes and MemoryLimitBytes are after defaulting; nil when unset.
	MemoryRequestBytes, MemoryLimitBytes *int64
	OOMScoreAdj                          int
	// CgroupfsPath and SystemdPath are the container's cgroup under each
	// driver; unknown pod UIDs and container IDs are written <uid> and <id>.
	CgroupfsPath, SystemdPath string
	// ContainerRuntime is the container runtime used for the paths.
	ContainerRuntime string
	Heap             heap.Ceiling
	HeapVerdict      string
	Regime           Regime
	// ExpectedUsageBytes feeds the node-OOM order; UsageSource says where it came from.
	ExpectedUsageBytes int64
	UsageSource        string
	// NodeOOMRank is the 1-based place in the node-level OOM order; 0 for
	// containers that do not run alongside the others (init, ephemeral) or
	// are never killed.
	NodeOOMRank int
	// MemoryQoS is what the kubelet writes to the container's memory.min,
	// memory.low and memory.high.
	MemoryQoS MemoryQoS
	Warnings  []Warning
}

// PodReport is one pod (or the pod a workload's template makes).
type PodReport struct {
	Workload
	QOSClass string
	// QOSFromStatus is true when status.qosClass decided the class.
	QOSFromStatus bool
	Priority      int32
	Critical      bool
	// MemoryRequestBytes is the pod's effective request (PodMemoryRequest).
	MemoryRequestBytes int64
	// MemoryLimitBytes is the pod cgroup's memory limit, nil when unlimited.
	MemoryLimitBytes *int64
	// ExpectedUsageBytes is the sum over its running containers.
	ExpectedUsageBytes int64
	// EvictionRank is the 1-based place in the eviction order; 0 when the
	// kubelet never evicts it (critical).
	EvictionRank int
	// MemoryQoS is what the kubelet writes to the pod cgroup.
	MemoryQoS  MemoryQoS
	Containers []ContainerReport
}

// Analysis is the result for a set of pods on one node.
type Analysis struct {
	Pods []PodReport
	// NodeOOMOrder indexes Pods/Containers, first victim first.
	NodeOOMOrder []ContainerRef
	// EvictionOrder indexes Pods, first evicted first.
	EvictionOrder []int
	// Invalid counts containers with an error-level warning.
	Invalid int
	// KubepodsMemoryQoS and BurstableMemoryQoS are what the kubelet writes
	// to the QoS-tier cgroups for these pods together.
	KubepodsMemoryQoS, BurstableMemoryQoS MemoryQoS
}

// ContainerRef points at Pods[Pod].Containers[Container].
type ContainerRef struct{ Pod, Container int }

// Analyze applies the API server's defaulting (and the LimitRanges of the
// pod's namespace) to each workload's pod and works out what the kubelet of
// opt.Version and the kernel will do with it. The workloads are not modified.
func Analyze(ws []Workload, lrs []LimitRangeDoc, opt Options) Analysis {
	var a Analysis
	for _, w := range ws {
		a.Pods = append(a.Pods, analyzePod(w, lrs, opt))
	}
	rankNodeOOM(&a, opt)
	rankEviction(&a, opt)
	var g, b int64
	for _, p := range a.Pods {
		switch p.QOSClass {
		case QOSGuaranteed:
			g = addSaturating(g, p.MemoryRequestBytes)
		case QOSBurstable:
			b = addSaturating(b, p.MemoryRequestBytes)
		}
	}
	a.KubepodsMemoryQoS, a.BurstableMemoryQoS = QOSTierMemoryQoS(opt.Version, opt.MemoryQoS, opt.CgroupVersion == 2, g, b)
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			for _, w := range c.Warnings {
				if w.Error {
					a.Invalid++
					break
				}
			}
		}
	}
	return a
}

func analyzePod(w Workload, lrs []LimitRangeDoc, opt Options) PodReport {
	pod := w.Pod.DeepCopy()
	ApplyDefaults(pod)
	for _, lr := range lrs {
		if lr.LimitRange.Namespace == "" || pod.Namespace == "" || lr.LimitRange.Namespace == pod.Namespace {
			ApplyLimitRange(pod, lr.LimitRange)
		}
	}
	v := opt.Version
	pr := PodReport{Workload: w, QOSClass: PodQOS(pod, v), Critical: IsCriticalPod(pod, v)}
	pr.Workload.Pod = pod
	if pod.Status.QOSClass != "" && v.AtLeast(29) {
		pr.QOSFromStatus = true
	}
	if pod.Spec.Priority != nil {
		pr.Priority = *pod.Spec.Priority
	}
	pr.MemoryRequestBytes = PodMemoryRequest(pod, v)
	pr.MemoryLimitBytes = podCgroupLimit(pod, pr.QOSClass, v)
	pr.MemoryQoS = PodMemoryQoS(pod, pr.QOSClass, v, opt.MemoryQoS, opt.CgroupVersion == 2)
	allocatable := opt.NodeAllocatableBytes
	if allocatable == 0 {
		allocatable = opt.NodeMemoryBytes
	}

	// A mirror pod's cgroup is named after the static pod's UID, the
	// config hash the kubelet puts in kubernetes.io/config.mirror, not
	// after the mirror object's own UID.
	uid := string(pod.UID)
	if h := pod.Annotations[configMirrorAnnotation]; h != "" {
		uid = h
	}
	if uid == "" {
		uid = "<uid>"
	}
	ids := map[string][2]string{} // container name → runtime, id
	for _, lists := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range lists {
			if scheme, id, ok := strings.Cut(cs.ContainerID, "://"); ok && id != "" {
				ids[cs.Name] = [2]string{runtimeFromScheme(scheme, opt.Runtime), id}
			}
		}
	}
	regime := OOMRegime(v, opt.CgroupVersion, opt.SingleProcessOOMKill)
	add := func(c *corev1.Container, typ string) {
		cr := ContainerReport{Container: c.Name, ContainerType: typ, Regime: regime}
		cr.MemoryRequestBytes = memoryPtr(c.Resources.Requests)
		cr.MemoryLimitBytes = memoryPtr(c.Resources.Limits)
		cr.OOMScoreAdj = ContainerOOMScoreAdj(pod, c, opt.NodeMemoryBytes, v)
		if typ != ContainerEphemeral {
			cr.MemoryQoS = ContainerMemoryQoS(pod, c, pr.QOSClass, v, opt.MemoryQoS, opt.CgroupVersion == 2, allocatable)
		}
		rt, id := opt.Runtime, "<id>"
		if x, ok := ids[c.Name]; ok {
			rt, id = x[0], x[1]
		}
		cr.ContainerRuntime = rt
		cr.CgroupfsPath = ContainerCgroupPath(DriverCgroupfs, rt, pr.QOSClass, uid, id)
		cr.SystemdPath = ContainerCgroupPath(DriverSystemd, rt, pr.QOSClass, uid, id)
		limit := int64(0)
		if cr.MemoryLimitBytes != nil {
			limit = *cr.MemoryLimitBytes
		} else if pr.MemoryLimitBytes != nil {
			limit = *pr.MemoryLimitBytes
		}
		proc := heap.Process{Argv: append(append([]string(nil), c.Command...), c.Args...), Image: c.Image}
		var hidden []string
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				if heap.ReadsEnv(e.Name) {
					hidden = append(hidden, e.Name)
				}
				continue
			}
			proc.Env = append(proc.Env, e.Name+"="+e.Value)
		}
		cr.Heap = heap.CeilingOf(proc, limit, opt.NodeMemoryBytes)
		for _, name := range hidden {
			cr.Heap.Warnings = append(cr.Heap.Warnings, name+" comes from valueFrom, which oomkit cannot read: the heap ceiling shown ignores it")
		}
		cr.HeapVerdict = heap.Verdict(cr.Heap, limit)
		cr.ExpectedUsageBytes, cr.UsageSource = expectedUsage(pod, c, opt.UsageBytes, opt.NodeMemoryBytes)
		cr.Warnings = containerWarnings(pod, &pr, c, &cr, v)
		pr.Containers = append(pr.Containers, cr)
		if typ == ContainerRegular || typ == ContainerSidecar {
			pr.ExpectedUsageBytes = addSaturating(pr.ExpectedUsageBytes, cr.ExpectedUsageBytes)
		}
	}
	for i := range pod.Spec.InitContainers {
		typ := ContainerInit
		if IsSidecar(pod, &pod.Spec.InitContainers[i]) {
			typ = ContainerSidecar
		}
		add(&pod.Spec.InitContainers[i], typ)
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i], ContainerRegular)
	}
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		add(&c, ContainerEphemeral)
	}
	sidecarWarnings(pod, &pr, v)
	if allocatable > 0 && pr.MemoryRequestBytes > allocatable && len(pr.Containers) > 0 {
		// The kubelet's admission (lifecycle.NewPredicateAdmitHandler →
		// noderesources.Fits, pkg/kubelet/lifecycle/predicate.go) fails
		// such a pod with reason OutOfmemory; the scheduler never places it.
		c := &pr.Containers[0]
		c.Warnings = append(c.Warnings, Warning{Code: "request_exceeds_node", Error: true, Message: fmt.Sprintf(
			"the pod's memory request %s is more than the node's allocatable memory %s: the kubelet refuses to admit it (OutOfmemory) and no scheduler places it",
			bytesize.Format(pr.MemoryRequestBytes), bytesize.Format(allocatable))})
	}
	return pr
}

// addSaturating is a+b for byte counts of 0 or more, held at 2⁶³−1 rather
// than wrapping (Kubernetes' quantities saturate the same way).
func addSaturating(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func runtimeFromScheme(scheme, fallback string) string {
	switch scheme {
	case "containerd":
		return RuntimeContainerd
	case "cri-o":
		return RuntimeCRIO
	case "docker":
		return RuntimeDocker
	}
	return fallback
}

// podCgroupLimit is the memory limit of the pod cgroup
// (ResourceConfigForPod, pkg/kubelet/cm/helpers_linux.go): Guaranteed and
// Burstable pods whose every container has a memory limit get the pod's
// aggregate limit (PodLimits); a pod-level limit counts from 1.34;
// otherwise the pod cgroup is unlimited.
func podCgroupLimit(pod *corev1.Pod, qos string, v Version) *int64 {
	if qos == QOSBestEffort {
		return nil
	}
	if v.AtLeast(34) && resourcehelper.IsPodLevelLimitsSet(pod) {
		if n := memoryPtr(pod.Spec.Resources.Limits); n != nil {
			return n
		}
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if q, ok := cs[i].Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
				return nil
			}
		}
	}
	lim := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{SkipPodLevelResources: true})
	return memoryPtr(lim)
}

// expectedUsage is the given usage, else the request, else the limit, else
// one thousandth of node memory (UsageAssumed).
func expectedUsage(pod *corev1.Pod, c *corev1.Container, given map[string]int64, nodeMemoryBytes int64) (int64, string) {
	for _, k := range []string{pod.Namespace + "/" + pod.Name + "/" + c.Name, pod.Name + "/" + c.Name} {
		if n, ok := given[k]; ok {
			return n, UsageGiven
		}
	}
	if n := memoryPtr(c.Resources.Requests); n != nil && *n > 0 {
		return *n, UsageRequest
	}
	if n := memoryPtr(c.Resources.Limits); n != nil && *n > 0 {
		return *n, UsageLimit
	}
	return max(nodeMemoryBytes/1000, 0), UsageAssumed
}

func containerWarnings(pod *corev1.Pod, pr *PodReport, c *corev1.Container, cr *ContainerReport, v Version) []Warning {
	var ws []Warning
	req, lim := cr.MemoryRequestBytes, cr.MemoryLimitBytes
	if req != nil && lim != nil && *lim > 0 && *lim < *req {
		ws = append(ws, Warning{Code: "limit_below_request", Error: true, Message: fmt.Sprintf(
			"memory limit %s is below the request %s: the API server rejects this pod; make the limit at least the request", bytesize.Format(*lim), bytesize.Format(*req))})
	}
	if cr.ContainerType == ContainerEphemeral {
		return ws
	}
	switch {
	case pr.QOSClass == QOSBestEffort:
		if cr.ContainerType != ContainerInit {
			ws = append(ws, Warning{Code: "best_effort", Message: "BestEffort pod: oom_score_adj 1000 makes it the first victim of a node-level OOM and early prey for eviction; set memory requests (and limits)"})
		}
	case (lim == nil || *lim == 0) && pr.MemoryLimitBytes == nil:
		ws = append(ws, Warning{Code: "no_memory_limit", Message: "no memory limit: it can grow until the node runs out and the kernel kills by oom_score_adj across all pods; set resources.limits.memory"})
	}
	if pr.QOSFromStatus {
		if computed := computeQOS(pod, v); computed != pr.QOSClass {
			ws = append(ws, Warning{Code: "qos_from_status", Message: fmt.Sprintf(
				"status.qosClass says %s but the spec now computes %s: the kubelet keeps %s (the class is fixed at creation); recreate the pod to change it", pr.QOSClass, computed, pr.QOSClass)})
		}
	}
	for _, hw := range cr.Heap.Warnings {
		ws = append(ws, Warning{Code: "heap", Message: hw})
	}
	return ws
}

// sidecarWarnings compares each sidecar with the regular containers.
func sidecarWarnings(pod *corev1.Pod, pr *PodReport, v Version) {
	if pr.QOSClass != QOSBurstable {
		return
	}
	var mainName string
	var mainReq int64 = -1
	mainAdj := 0
	for i := range pr.Containers {
		c := &pr.Containers[i]
		if c.ContainerType != ContainerRegular {
			continue
		}
		r := int64(0)
		if c.MemoryRequestBytes != nil {
			r = *c.MemoryRequestBytes
		}
		if mainReq < 0 || r < mainReq {
			mainName, mainReq, mainAdj = c.Container, r, c.OOMScoreAdj
		}
	}
	if mainReq < 0 {
		return
	}
	for i := range pr.Containers {
		c := &pr.Containers[i]
		if c.ContainerType != ContainerSidecar {
			continue
		}
		r := int64(0)
		if c.MemoryRequestBytes != nil {
			r = *c.MemoryRequestBytes
		}
		switch {
		case r > mainReq:
			c.Warnings = append(c.Warnings, Warning{Code: "sidecar_outranks_main", Message: fmt.Sprintf(
				"sidecar requests more memory (%s) than container %q (%s): its oom_score_adj %d is lower than %d, so in a node-level OOM the main container dies first; give the main container the larger request",
				bytesize.Format(r), mainName, bytesize.Format(mainReq), c.OOMScoreAdj, mainAdj)})
		case c.OOMScoreAdj > mainAdj:
			c.Warnings = append(c.Warnings, Warning{Code: "sidecar_dies_first", Message: fmt.Sprintf(
				"kubelet %s gives the sidecar oom_score_adj %d, above container %q's %d: it dies first in a node-level OOM (1.32+ caps a sidecar at its main container's value); raise its memory request to %s or upgrade",
				v, c.OOMScoreAdj, mainName, mainAdj, bytesize.Format(mainReq))})
		}
	}
}

// rankNodeOOM orders the running containers of every pod for a node-level
// OOM by the kernel's badness (RankNodeOOM: expected use plus
// adj × node/1000), and warns Burstable containers that use enough above
// their request to be picked before a BestEffort neighbour.
func rankNodeOOM(a *Analysis, opt Options) {
	var refs []ContainerRef
	var cands []OOMCandidate
	for pi := range a.Pods {
		for ci, c := range a.Pods[pi].Containers {
			if c.ContainerType == ContainerRegular || c.ContainerType == ContainerSidecar {
				cands = append(cands, OOMCandidate{Name: strconv.Itoa(len(refs)), OOMScoreAdj: c.OOMScoreAdj, UsageBytes: c.ExpectedUsageBytes})
				refs = append(refs, ContainerRef{pi, ci})
			}
		}
	}
	ctr := func(r ContainerRef) *ContainerReport { return &a.Pods[r.Pod].Containers[r.Container] }
	ranked := RankNodeOOM(cands, opt.NodeMemoryBytes)
	order := make([]ContainerRef, len(ranked))
	for i, c := range ranked {
		idx, _ := strconv.Atoi(c.Name)
		order[i] = refs[idx]
	}
	refs = order
	a.NodeOOMOrder = refs
	var bestEffort []ContainerRef
	for i, r := range refs {
		if ctr(r).OOMScoreAdj > -1000 {
			ctr(r).NodeOOMRank = i + 1
		}
		if a.Pods[r.Pod].QOSClass == QOSBestEffort {
			bestEffort = append(bestEffort, r)
		}
	}
	for _, r := range refs {
		p, cr := &a.Pods[r.Pod], ctr(r)
		if p.QOSClass != QOSBurstable {
			continue
		}
		req := int64(0)
		if cr.MemoryRequestBytes != nil {
			req = *cr.MemoryRequestBytes
		}
		if cr.ExpectedUsageBytes <= req {
			continue
		}
		mine := NodeOOMPoints(cr.ExpectedUsageBytes, cr.OOMScoreAdj, opt.NodeMemoryBytes)
		for _, b := range bestEffort {
			be := ctr(b)
			theirs := NodeOOMPoints(be.ExpectedUsageBytes, be.OOMScoreAdj, opt.NodeMemoryBytes)
			if mine == nil || theirs == nil || *mine <= *theirs {
				continue
			}
			cr.Warnings = append(cr.Warnings, Warning{Code: "burstable_before_besteffort", Message: fmt.Sprintf(
				"in a node-level OOM the kernel picks it before BestEffort %s/%s (%d points against %d): expected use %s is well above its %s request, and the kernel adds memory to oom_score_adj; raise the request toward real use",
				a.Pods[b.Pod].Name, be.Container, *mine, *theirs, bytesize.Format(cr.ExpectedUsageBytes), bytesize.Format(req))})
			break
		}
	}
}

// rankEviction orders pods as the eviction manager would.
func rankEviction(a *Analysis, opt Options) {
	cands := make([]EvictionCandidate, len(a.Pods))
	for i, p := range a.Pods {
		u := p.ExpectedUsageBytes
		cands[i] = EvictionCandidate{Name: strconv.Itoa(i), Priority: p.Priority, RequestBytes: p.MemoryRequestBytes, UsageBytes: &u, Critical: p.Critical}
	}
	for rank, c := range RankEviction(cands) {
		i, _ := strconv.Atoi(c.Name)
		a.EvictionOrder = append(a.EvictionOrder, i)
		if !c.Critical {
			a.Pods[i].EvictionRank = rank + 1
		}
	}
}
