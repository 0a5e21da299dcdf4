package kube

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// MemoryQoS (KEP-2570) is the kubelet writing cgroup v2 memory.min,
// memory.low and memory.high: protection from reclaim for what a pod
// requested, and throttling before the hard limit kills. It is a feature
// gate (alpha 1.22, off by default; beta and on by default in 1.37) that
// acts only on cgroup v2, and what it writes changed over the releases:
//
//	1.22–1.26  container memory.min = request; memory.high = limit (or node
//	           allocatable) × memoryThrottlingFactor (default 0.8) when above
//	           the request; pod memory.min = pod request; kubepods memory.min
//	           = Guaranteed + Burstable requests, kubepods/burstable = Burstable
//	1.27–1.35  memory.high = floor((request + factor × (limit or allocatable −
//	           request)) / page) × page, not for request = limit; default 0.9
//	1.36       memoryReservationPolicy: None (default) writes memory.min 0 and
//	           memory.low 0; TieredReservation gives Guaranteed memory.min and
//	           Burstable memory.low = request at container and pod level,
//	           kubepods memory.min = G + B, kubepods/burstable memory.low = B
//	1.37       gate on by default, but memoryThrottlingFactor has no default:
//	           unset, no memory.high is written; BestEffort gets one (from node
//	           allocatable); with PodLevelResources and a pod-level limit the
//	           pod cgroup gets memory.high and its limitless containers none;
//	           TieredReservation also sets kubepods memory.low = B; with the
//	           gate off, containers get memory.high "max" (a reset)
//
// Sources: pkg/kubelet/kuberuntime/kuberuntime_container_linux.go
// (generateLinuxContainerResources), pkg/kubelet/cm/helpers_linux.go
// (ResourceConfigForPod, ApplyPodLevelMemoryHigh),
// pkg/kubelet/cm/qos_container_manager_linux.go (setMemoryQoS), the
// kubelet config defaults (pkg/kubelet/apis/config/v1beta1/defaults.go)
// and pkg/features/kube_features.go, read at v1.26.15, v1.34.4, v1.36.1
// and v1.37.2.

// MemoryReservationPolicy values (kubelet config memoryReservationPolicy, 1.36+).
const (
	ReservationNone   = "None"
	ReservationTiered = "TieredReservation"
)

// MemoryQoSConfig is the kubelet configuration MemoryQoS reads; nil and ""
// fields take the kubelet version's defaults.
type MemoryQoSConfig struct {
	// Gate is the MemoryQoS feature gate (default off before 1.37, on from 1.37).
	Gate *bool
	// ThrottlingFactor is memoryThrottlingFactor: 0.8 by default in
	// 1.22–1.26, 0.9 in 1.27–1.36, no default from 1.37.
	ThrottlingFactor *float64
	// ReservationPolicy is memoryReservationPolicy (1.36+): None or
	// TieredReservation.
	ReservationPolicy string
	// PodLevelResources is that feature gate (beta and on from 1.34).
	PodLevelResources *bool
}

// Validate rejects what the kubelet's config validation rejects
// (pkg/kubelet/apis/config/validation, 1.37), with what to do instead.
func (c MemoryQoSConfig) Validate(v Version) error {
	if f := c.ThrottlingFactor; f != nil && (*f <= 0 || *f > 1) {
		return fmt.Errorf("memoryThrottlingFactor %v must be greater than 0 and at most 1.0", *f)
	}
	switch c.ReservationPolicy {
	case "", ReservationNone:
	case ReservationTiered:
		if !v.AtLeast(36) {
			return fmt.Errorf("memoryReservationPolicy %s needs kubelet 1.36 or newer (this is %s)", ReservationTiered, v)
		}
		if !c.GateOn(v) {
			return fmt.Errorf("memoryReservationPolicy %s requires the MemoryQoS feature gate", ReservationTiered)
		}
	default:
		return fmt.Errorf("memoryReservationPolicy %q: want %s or %s", c.ReservationPolicy, ReservationNone, ReservationTiered)
	}
	if !v.AtLeast(22) && c.Gate != nil && *c.Gate {
		return fmt.Errorf("the MemoryQoS feature gate exists from kubelet 1.22 on (this is %s)", v)
	}
	return nil
}

// GateOn reports whether MemoryQoS is enabled on kubelet v.
func (c MemoryQoSConfig) GateOn(v Version) bool {
	if !v.AtLeast(22) {
		return false
	}
	if c.Gate != nil {
		return *c.Gate
	}
	return v.AtLeast(37)
}

// Factor is the memoryThrottlingFactor in effect, nil when none is (1.37+
// without one configured: no memory.high is written).
func (c MemoryQoSConfig) Factor(v Version) *float64 {
	switch {
	case c.ThrottlingFactor != nil:
		return c.ThrottlingFactor
	case v.AtLeast(37):
		return nil
	case v.AtLeast(27):
		return ptrTo(0.9)
	}
	return ptrTo(0.8)
}

func (c MemoryQoSConfig) tiered(v Version) bool {
	return v.AtLeast(36) && c.ReservationPolicy == ReservationTiered
}

func (c MemoryQoSConfig) podLevelResources(v Version) bool {
	if c.PodLevelResources != nil {
		return *c.PodLevelResources && v.AtLeast(32)
	}
	return v.AtLeast(34)
}

// MemoryQoS is what the kubelet writes to one cgroup's memory.min,
// memory.low and memory.high; nil is a file it does not write (the cgroup
// keeps the kernel's default: 0, 0, max). HighMax is memory.high written as
// "max" (1.37 with the gate off resets a container's memory.high).
type MemoryQoS struct {
	MinBytes, LowBytes, HighBytes *int64
	HighMax                       bool
}

// pageBytes is the page size the 1.27+ formula rounds memory.high down to
// (os.Getpagesize() on the node; 4 KiB on x86-64 and most arm64 nodes).
const pageBytes = 4096

// ContainerMemoryQoS is what kubelet v writes for container c of pod (after
// defaulting) on a cgroup v2 node with nodeAllocatableBytes of allocatable
// memory. cgroupV2 false: nothing (MemoryQoS is v2 only).
func ContainerMemoryQoS(pod *corev1.Pod, c *corev1.Container, qos string, v Version, cfg MemoryQoSConfig, cgroupV2 bool, nodeAllocatableBytes int64) MemoryQoS {
	var q MemoryQoS
	if !cgroupV2 {
		return q
	}
	if !cfg.GateOn(v) {
		if v.AtLeast(37) {
			q.HighMax = true
		}
		return q
	}
	req := memoryValue(c.Resources.Requests)
	lim := memoryValue(c.Resources.Limits)
	switch {
	case !v.AtLeast(36):
		if req != 0 {
			q.MinBytes = ptrTo(req)
		}
	case req != 0 && cfg.tiered(v):
		if qos == QOSGuaranteed {
			q.MinBytes = ptrTo(req)
		} else {
			q.LowBytes = ptrTo(req)
		}
	default:
		q.MinBytes, q.LowBytes = ptrTo(int64(0)), ptrTo(int64(0))
	}
	f := cfg.Factor(v)
	if f == nil {
		return q
	}
	base := lim
	if base == 0 {
		base = nodeAllocatableBytes
	}
	var high int64
	switch {
	case !v.AtLeast(27):
		// 1.22–1.26: limit × factor, no rounding, even for request = limit
		// (where it falls below the request and is dropped).
		if base > 0 {
			high = int64(float64(base) * *f)
		}
	case !v.AtLeast(37) && req == lim:
		return q
	case v.AtLeast(37) && (req == lim && req != 0 || lim == 0 && cfg.podLevelResources(v) && podLevelMemoryLimit(pod) > 0):
		return q
	default:
		if base > 0 {
			high = int64(math.Floor((float64(req)+(float64(base)-float64(req))**f)/pageBytes)) * pageBytes
		}
	}
	if high != 0 && high > req {
		q.HighBytes = ptrTo(high)
	}
	return q
}

// PodMemoryQoS is what kubelet v writes to the pod's cgroup.
func PodMemoryQoS(pod *corev1.Pod, qos string, v Version, cfg MemoryQoSConfig, cgroupV2 bool) MemoryQoS {
	var q MemoryQoS
	if !cgroupV2 || !cfg.GateOn(v) {
		return q
	}
	opts := resourcehelper.PodResourcesOptions{SkipPodLevelResources: !cfg.podLevelResources(v)}
	req := memoryValue(resourcehelper.PodRequests(pod, opts))
	switch {
	case !v.AtLeast(36):
		if req > 0 {
			q.MinBytes = ptrTo(req)
		}
	case cfg.tiered(v) && req > 0:
		if qos == QOSGuaranteed {
			q.MinBytes = ptrTo(req)
		} else {
			q.LowBytes = ptrTo(req)
		}
	}
	// ApplyPodLevelMemoryHigh (1.37): only for a pod with pod-level
	// resources whose memory limit is declared (at pod level, or by every
	// container), and a factor configured.
	if f := cfg.Factor(v); v.AtLeast(37) && f != nil && cfg.podLevelResources(v) && pod.Spec.Resources != nil &&
		resourcehelper.IsPodLevelResourcesSet(pod) && (podLevelMemoryLimit(pod) > 0 || allContainersLimitMemory(pod)) {
		lim := memoryValue(resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}))
		podReq := memoryValue(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
		if lim != 0 && (podReq != lim || podReq == 0) {
			high := int64(math.Floor((float64(podReq)+(float64(lim)-float64(podReq))**f)/pageBytes)) * pageBytes
			if high > 0 && high > podReq {
				q.HighBytes = ptrTo(high)
			}
		}
	}
	return q
}

func allContainersLimitMemory(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if memoryValue(list[i].Resources.Limits) == 0 {
				return false
			}
		}
	}
	return true
}

// podLevelMemoryLimit is spec.resources.limits.memory (pod-level
// resources), 0 when unset.
func podLevelMemoryLimit(pod *corev1.Pod) int64 {
	if pod.Spec.Resources == nil {
		return 0
	}
	return memoryValue(pod.Spec.Resources.Limits)
}

// QOSTierMemoryQoS is what kubelet v writes to the QoS-tier cgroups
// (kubepods and kubepods/burstable) given the sums of the Guaranteed and
// Burstable pods' memory requests on the node.
func QOSTierMemoryQoS(v Version, cfg MemoryQoSConfig, cgroupV2 bool, guaranteedBytes, burstableBytes int64) (kubepods, burstable MemoryQoS) {
	if !cgroupV2 || !cfg.GateOn(v) {
		return
	}
	switch {
	case !v.AtLeast(36):
		if guaranteedBytes+burstableBytes > 0 {
			kubepods.MinBytes = ptrTo(guaranteedBytes + burstableBytes)
		}
		if burstableBytes > 0 {
			burstable.MinBytes = ptrTo(burstableBytes)
		}
	case cfg.tiered(v):
		kubepods.MinBytes = ptrTo(guaranteedBytes + burstableBytes)
		if v.AtLeast(37) {
			kubepods.LowBytes = ptrTo(burstableBytes)
		}
		burstable.LowBytes = ptrTo(burstableBytes)
	default:
		kubepods.MinBytes = ptrTo(int64(0))
		if v.AtLeast(37) {
			kubepods.LowBytes = ptrTo(int64(0))
		}
		burstable.LowBytes = ptrTo(int64(0))
	}
	return
}

func ptrTo[T any](v T) *T { return &v }
