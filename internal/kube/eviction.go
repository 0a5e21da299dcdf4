package kube

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// EvictionCandidate is a pod as the kubelet's eviction manager ranks it
// under memory pressure.
type EvictionCandidate struct {
	// Name identifies the pod to the caller ("namespace/name").
	Name string
	// Priority is spec.priority (0 when unset).
	Priority int32
	// RequestBytes is the pod's effective memory request (PodMemoryRequest).
	RequestBytes int64
	// UsageBytes is the pod's memory working set; nil when the kubelet has
	// no stats for it.
	UsageBytes *int64
	// Critical pods (static, mirror, priority ≥ 2e9) are never evicted by
	// the kubelet.
	Critical bool
}

// RankEviction orders pods the way the kubelet picks them for eviction under
// memory pressure, first victim first.
// rankMemoryPressure, pkg/kubelet/eviction/helpers.go: pods without stats
// first, then pods whose working set exceeds their request, then lower
// priority, then larger (working set − request). QoS is not an input.
// Critical pods, which evictPod refuses, come last in input order.
// The input is not modified.
func RankEviction(pods []EvictionCandidate) []EvictionCandidate {
	out := slices.Clone(pods)
	slices.SortStableFunc(out, func(a, b EvictionCandidate) int {
		if a.Critical != b.Critical {
			if a.Critical {
				return 1
			}
			return -1
		}
		if a.Critical {
			return 0
		}
		if (a.UsageBytes == nil) != (b.UsageBytes == nil) {
			if a.UsageBytes == nil {
				return -1
			}
			return 1
		}
		if a.UsageBytes == nil {
			return 0
		}
		ea, eb := *a.UsageBytes > a.RequestBytes, *b.UsageBytes > b.RequestBytes
		if ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(*b.UsageBytes-b.RequestBytes, *a.UsageBytes-a.RequestBytes)
	})
	return out
}

// PodMemoryRequest is the pod's effective memory request as the eviction
// manager and scheduler see it: PodRequests from k8s.io/component-helpers
// (init and sidecar aggregation, overhead), with pod-level requests counted
// from 1.34 when the PodLevelResources gate is on by default.
func PodMemoryRequest(pod *corev1.Pod, v Version) int64 {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{SkipPodLevelResources: !v.AtLeast(34)})
	return memoryValue(reqs)
}

// OOMCandidate is a process (a container's main process) competing in a
// node-level OOM.
type OOMCandidate struct {
	Name        string
	OOMScoreAdj int
	UsageBytes  int64
}

// NodeOOMPoints is the kernel's badness for a task using usageBytes with
// oom_score_adj adj on a node with nodeMemoryBytes of RAM (no swap), in
// pages, or nil for adj -1000 (never killed).
// oom_badness(), mm/oom_kill.c, ≥5.9: rss+swap+pgtables pages, plus
// adj × totalpages/1000, signed, no clamp.
func NodeOOMPoints(usageBytes int64, adj int, nodeMemoryBytes int64) *int64 {
	if adj <= -1000 {
		return nil
	}
	const page = 4096
	total := nodeMemoryBytes / page
	p := usageBytes/page + int64(adj)*(total/1000)
	return &p
}

// RankNodeOOM orders candidates by the kernel's badness in a node-level OOM,
// first victim first; adj -1000 candidates come last. Equal scores keep
// input order. The input is not modified.
func RankNodeOOM(c []OOMCandidate, nodeMemoryBytes int64) []OOMCandidate {
	out := slices.Clone(c)
	slices.SortStableFunc(out, func(a, b OOMCandidate) int {
		pa := NodeOOMPoints(a.UsageBytes, a.OOMScoreAdj, nodeMemoryBytes)
		pb := NodeOOMPoints(b.UsageBytes, b.OOMScoreAdj, nodeMemoryBytes)
		switch {
		case pa == nil && pb == nil:
			return 0
		case pa == nil:
			return 1
		case pb == nil:
			return -1
		}
		return cmp.Compare(*pb, *pa)
	})
	return out
}
