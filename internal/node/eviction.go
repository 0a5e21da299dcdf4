package node

import (
	"fmt"
	"os"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/proc"
)

// Eviction is kubelet's memory.available signal and the headroom to its
// hard eviction threshold.
type Eviction struct {
	Threshold      string `json:"threshold"`
	ThresholdBytes *int64 `json:"threshold_bytes"`
	// KubernetesNode is whether a kubepods cgroup exists.
	KubernetesNode bool   `json:"kubernetes_node"`
	CapacityBytes  *int64 `json:"capacity_bytes"`
	// NodeWorkingSetBytes is the root cgroup's usage − inactive_file.
	NodeWorkingSetBytes *int64 `json:"node_working_set_bytes"`
	// AvailableBytes is capacity − node working set: memory.available.
	AvailableBytes *int64 `json:"available_bytes"`
	// HeadroomBytes is available − threshold.
	HeadroomBytes *int64 `json:"headroom_bytes"`
	Summary       string `json:"summary"`
}

// eviction computes kubelet's memory.available (capacity − the root
// cgroup's working set, as cAdvisor's "/" container) and the headroom to
// threshold th.
//
// makeSignalObservations, pkg/kubelet/eviction/helpers.go:
// memory.available = capacity − workingSet of the node summary.
func (h *Host) eviction(th kube.EvictionThreshold, mem proc.Meminfo) Eviction {
	ev := Eviction{Threshold: th.Text}
	capacity := deref(mem.MemTotalKB, 0) * 1024
	ev.CapacityBytes = &capacity
	ev.ThresholdBytes = th.ThresholdBytes(capacity)
	if h.Layout.Memory != "" {
		for _, k := range []string{"/kubepods", "/kubepods.slice"} {
			if _, err := os.Stat(h.Layout.Dir(k)); err == nil {
				ev.KubernetesNode = true
			}
		}
		if root, err := cgroup.ReadMemory(h.Layout.Dir("/"), "/", h.Layout.Memory); err == nil {
			if root.UsageBytes == nil && mem.MemFreeKB != nil {
				// v2 root: no memory.current; runc uses MemTotal − MemFree.
				root.UsageBytes = ptr(capacity - *mem.MemFreeKB*1024)
				if root.InactiveFileBytes == nil && mem.InactiveFileKB != nil {
					root.InactiveFileBytes = ptr(*mem.InactiveFileKB * 1024)
				}
			}
			ev.NodeWorkingSetBytes = root.WorkingSetBytes()
		}
	}
	if ev.NodeWorkingSetBytes != nil {
		ev.AvailableBytes = ptr(capacity - *ev.NodeWorkingSetBytes)
		if ev.ThresholdBytes != nil {
			ev.HeadroomBytes = ptr(*ev.AvailableBytes - *ev.ThresholdBytes)
		}
	}
	size := bytesize.Format
	switch {
	case ev.HeadroomBytes == nil:
		ev.Summary = "the node's working set could not be read, so kubelet's memory.available is unknown"
	case !ev.KubernetesNode:
		ev.Summary = fmt.Sprintf("not a Kubernetes node (no kubepods cgroup); if it were, kubelet would start evicting pods after %s more working set (%s)", size(*ev.HeadroomBytes), th.Text)
	case *ev.HeadroomBytes <= 0:
		ev.Summary = fmt.Sprintf("memory.available (%s) is below %s: kubelet is evicting pods (MemoryPressure)", size(*ev.AvailableBytes), th.Text)
	default:
		ev.Summary = fmt.Sprintf("kubelet starts evicting pods after %s more node working set (memory.available %s, threshold %s)", size(*ev.HeadroomBytes), size(*ev.AvailableBytes), th.Text)
	}
	return ev
}
