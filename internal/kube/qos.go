package kube

import (
	"math/big"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	kubectlqos "k8s.io/kubectl/pkg/util/qos"
)

// Values the kubelet writes to oom_score_adj (pkg/kubelet/qos/policy.go).
const (
	// GuaranteedOOMScoreAdj is the Guaranteed (and node-critical) value since
	// 1.20 (PR #71269); it was -998 before.
	GuaranteedOOMScoreAdj = -997
	// GuaranteedOOMScoreAdjBefore120 is the Guaranteed value before 1.20,
	// the same as the pause container's.
	GuaranteedOOMScoreAdjBefore120 = -998
	// SandboxOOMScoreAdj is the pause (sandbox) container's value, set by
	// containerd (defaultSandboxOOMAdj) and CRI-O.
	SandboxOOMScoreAdj = -998
	// KubeletOOMScoreAdj is the kubelet's and kube-proxy's own value.
	KubeletOOMScoreAdj = -999
	// BestEffortOOMScoreAdj is the BestEffort value.
	BestEffortOOMScoreAdj = 1000
)

// Priorities the Priority admission plugin resolves the two built-in
// priority classes to (pkg/apis/scheduling/types.go).
const (
	SystemCriticalPriority     = 2000000000
	SystemNodeCriticalPriority = SystemCriticalPriority + 1000
)

const (
	systemNodeCriticalClassName = "system-node-critical"
	systemClusterCriticalClass  = "system-cluster-critical"
	criticalPodAnnotation       = "scheduler.alpha.kubernetes.io/critical-pod"
	configSourceAnnotation      = "kubernetes.io/config.source"
	configMirrorAnnotation      = "kubernetes.io/config.mirror"
	configSourceAPI             = "api"
	namespaceSystem             = "kube-system"
)

// ApplyDefaults does to a pod what the API server does before the kubelet
// sees it and what no one does for templates: the Priority admission
// plugin's priority for the built-in system classes, and SetDefaults_Pod's
// requests-from-limits (pkg/apis/core/v1/defaults.go: a limit is copied into
// the request when the request key is absent, for containers, init
// containers and pod-level resources; an explicit 0 request stays).
func ApplyDefaults(pod *corev1.Pod) {
	spec := &pod.Spec
	for i := range spec.Containers {
		defaultRequests(&spec.Containers[i].Resources)
	}
	for i := range spec.InitContainers {
		defaultRequests(&spec.InitContainers[i].Resources)
	}
	if spec.Resources != nil {
		defaultRequests(spec.Resources)
	}
	if spec.Priority == nil {
		switch spec.PriorityClassName {
		case systemNodeCriticalClassName:
			p := int32(SystemNodeCriticalPriority)
			spec.Priority = &p
		case systemClusterCriticalClass:
			p := int32(SystemCriticalPriority)
			spec.Priority = &p
		}
	}
}

func defaultRequests(r *corev1.ResourceRequirements) {
	for name, lim := range r.Limits {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		r.Requests[name] = lim.DeepCopy()
	}
}

// ApplyLimitRange applies the LimitRanger admission plugin's container
// defaults of lr to pod (plugin/pkg/admission/limitranger): missing limits
// from default, missing requests from defaultRequest, where the
// LimitRange's own defaulting (SetDefaults_LimitRangeItem) first fills
// default from max and defaultRequest from default, then from min.
// Call it after ApplyDefaults, as admission runs after decoding.
func ApplyLimitRange(pod *corev1.Pod, lr *corev1.LimitRange) {
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		def := corev1.ResourceList{}
		defReq := corev1.ResourceList{}
		for k, v := range item.Default {
			def[k] = v
		}
		for k, v := range item.DefaultRequest {
			defReq[k] = v
		}
		for k, v := range item.Max {
			if _, ok := def[k]; !ok {
				def[k] = v
			}
		}
		for k, v := range def {
			if _, ok := defReq[k]; !ok {
				defReq[k] = v
			}
		}
		for k, v := range item.Min {
			if _, ok := defReq[k]; !ok {
				defReq[k] = v
			}
		}
		apply := func(r *corev1.ResourceRequirements) {
			for k, v := range defReq {
				if _, ok := r.Requests[k]; !ok {
					if r.Requests == nil {
						r.Requests = corev1.ResourceList{}
					}
					r.Requests[k] = v.DeepCopy()
				}
			}
			for k, v := range def {
				if _, ok := r.Limits[k]; !ok {
					if r.Limits == nil {
						r.Limits = corev1.ResourceList{}
					}
					r.Limits[k] = v.DeepCopy()
				}
			}
		}
		for i := range pod.Spec.Containers {
			apply(&pod.Spec.Containers[i].Resources)
		}
		for i := range pod.Spec.InitContainers {
			apply(&pod.Spec.InitContainers[i].Resources)
		}
	}
}

// PodQOS returns the pod's QoS class as the kubelet of version v sees it:
// status.qosClass when set and the kubelet is 1.29+ (GetPodQOS, kubectl
// commit cacd4f855), else computed from the spec by k8s.io/kubectl's
// ComputePodQOS. Pod-level resources count only from 1.34, when the
// PodLevelResources gate is on by default; 1.34–1.36 treat an empty
// pod-level resources: {} as set (BestEffort), fixed in 1.37.
// Apply ApplyDefaults first for templates and freshly written manifests.
func PodQOS(pod *corev1.Pod, v Version) string {
	if pod.Status.QOSClass != "" && v.AtLeast(29) {
		return string(pod.Status.QOSClass)
	}
	return computeQOS(pod, v)
}

func computeQOS(pod *corev1.Pod, v Version) string {
	switch {
	case pod.Spec.Resources == nil:
	case !v.AtLeast(34):
		p := *pod
		p.Spec.Resources = nil
		return string(kubectlqos.ComputePodQOS(&p))
	case !v.AtLeast(37) && !resourcehelper.IsPodLevelResourcesSet(pod):
		// ≤1.36: "gate on and spec.resources != nil" classified the pod by
		// its (empty) pod-level resources alone.
		p := corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: *pod.Spec.Resources}}}}
		return string(kubectlqos.ComputePodQOS(&p))
	}
	return string(kubectlqos.ComputePodQOS(pod))
}

// IsCriticalPod is the kubelet's IsCriticalPod of version v
// (pkg/kubelet/types/pod_update.go): a static or mirror pod, or priority at
// least 2e9 (1.14+, PR #73758); before 1.16 also the critical-pod annotation
// in kube-system (PR #39114, 1.6+).
func IsCriticalPod(pod *corev1.Pod, v Version) bool {
	if v.AtLeast(14) {
		if isStaticPod(pod) || isMirrorPod(pod) {
			return true
		}
		if pod.Spec.Priority != nil && *pod.Spec.Priority >= SystemCriticalPriority {
			return true
		}
	}
	if v.AtLeast(6) && !v.AtLeast(16) && pod.Namespace == namespaceSystem {
		if _, ok := pod.Annotations[criticalPodAnnotation]; ok {
			return true
		}
	}
	return false
}

// IsNodeCriticalPod reports a critical pod in the system-node-critical class.
func IsNodeCriticalPod(pod *corev1.Pod, v Version) bool {
	return IsCriticalPod(pod, v) && pod.Spec.PriorityClassName == systemNodeCriticalClassName
}

// lowAdjForCritical reports whether the kubelet of version v gives pod the
// Guaranteed value for being critical: any critical pod before 1.22,
// only system-node-critical pods since (PR #99729).
func lowAdjForCritical(pod *corev1.Pod, v Version) bool {
	if v.AtLeast(22) {
		return IsNodeCriticalPod(pod, v)
	}
	return IsCriticalPod(pod, v)
}

func isStaticPod(pod *corev1.Pod) bool {
	src, ok := pod.Annotations[configSourceAnnotation]
	return ok && src != configSourceAPI
}

func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[configMirrorAnnotation]
	return ok
}

// IsSidecar reports whether c is one of pod's restartable init containers
// (restartPolicy: Always).
func IsSidecar(pod *corev1.Pod, c *corev1.Container) bool {
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		return false
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			return true
		}
	}
	return false
}

// guaranteedAdj is the Guaranteed value of version v.
func guaranteedAdj(v Version) int {
	if v.AtLeast(20) {
		return GuaranteedOOMScoreAdj
	}
	return GuaranteedOOMScoreAdjBefore120
}

// ContainerOOMScoreAdj is the oom_score_adj the kubelet of version v gives
// container c of pod on a node with memoryCapacityBytes of RAM (cAdvisor's
// MemoryCapacity: total RAM, not allocatable).
// GetContainerOOMScoreAdjust, pkg/kubelet/qos/policy.go: node-critical or
// Guaranteed ⇒ -997 (-998 before 1.20), BestEffort ⇒ 1000, Burstable ⇒
// 1000 − 1000·request/capacity clamped to [3, 999] ([2, 999] before 1.20);
// 1.32+: a sidecar never scores above the smallest regular request; 1.34+:
// pod-level requests add an equal share of what containers leave unrequested.
// A capacity ≤ 0 (unknown) gives Burstable containers 999.
// Ephemeral containers are passed converted to *corev1.Container; they have
// no resources, so they get 999 in a Burstable pod.
func ContainerOOMScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacityBytes int64, v Version) int {
	gAdj := guaranteedAdj(v)
	if lowAdjForCritical(pod, v) {
		return gAdj
	}
	switch PodQOS(pod, v) {
	case QOSGuaranteed:
		return gAdj
	case QOSBestEffort:
		return BestEffortOOMScoreAdj
	}
	capacity := memoryCapacityBytes
	if capacity <= 0 {
		return BestEffortOOMScoreAdj - 1
	}
	req := memoryValue(c.Resources.Requests)
	share := int64(0)
	if v.AtLeast(34) && resourcehelper.IsPodLevelRequestsSet(pod) {
		share = podLevelShare(pod)
	}
	adj := 1000 - requestPermille(req, share, capacity)
	if v.AtLeast(32) && IsSidecar(pod, c) {
		minReq := int64(-1)
		for i := range pod.Spec.Containers {
			r := memoryValue(pod.Spec.Containers[i].Resources.Requests)
			if minReq < 0 || r < minReq {
				minReq = r
			}
		}
		if minReq >= 0 {
			if m := 1000 - requestPermille(minReq, share, capacity); adj > m {
				adj = m
			}
		}
	}
	floor := int64(1000 + gAdj)
	if adj < floor {
		return int(floor)
	}
	if adj == BestEffortOOMScoreAdj {
		return BestEffortOOMScoreAdj - 1
	}
	return int(adj)
}

// requestPermille is 1000 × (req + share) / capacity, truncated as the kubelet's
// int64 arithmetic does (pkg/kubelet/qos/policy.go), but held within
// [-2000, 2000] instead of wrapping: the kubelet's product overflows past
// 8 PiB of request, where only the clamp to the Guaranteed floor matters
// (and such a pod is never admitted: analyzePod says so).
func requestPermille(req, share, capacity int64) int64 {
	p := new(big.Int).Add(big.NewInt(req), big.NewInt(share))
	p.Mul(p, big.NewInt(1000))
	p.Quo(p, big.NewInt(capacity))
	switch {
	case p.Cmp(big.NewInt(2000)) > 0:
		return 2000
	case p.Cmp(big.NewInt(-2000)) < 0:
		return -2000
	}
	return p.Int64()
}

// podLevelShare is the pod-level memory request left over by the
// containers' aggregate request, split evenly over containers and init
// containers (integer division), as the 1.34+ kubelet adds it.
func podLevelShare(pod *corev1.Pod) int64 {
	podReq := memoryValue(pod.Spec.Resources.Requests)
	if podReq == 0 {
		return 0
	}
	agg := resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{})
	n := int64(len(pod.Spec.Containers) + len(pod.Spec.InitContainers))
	if n == 0 {
		return 0
	}
	return (podReq - memoryValue(agg)) / n
}

// memoryValue is the memory entry of l in bytes, 0 when absent.
func memoryValue(l corev1.ResourceList) int64 {
	q, ok := l[corev1.ResourceMemory]
	if !ok {
		return 0
	}
	return q.Value()
}

// memoryPtr is the memory entry of l in bytes, nil when absent.
func memoryPtr(l corev1.ResourceList) *int64 {
	q, ok := l[corev1.ResourceMemory]
	if !ok {
		return nil
	}
	n := q.Value()
	return &n
}
