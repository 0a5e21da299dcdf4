// Package api holds the agent's wire types: the items of GET
// /api/v1/events (docs/api.md), the headroom rows of the page, and what
// the store keeps. An item is an oomkit.event/v1 object (docs/event.md)
// with the agent's fields added at the top level.
package api

import (
	"time"

	"github.com/oomkit/oomkit/internal/explain"
)

// Report says how much of the kernel's OOM report the agent read for a
// kill (the header, memory state and task table that explain the choice,
// not the one-line kill notice).
const (
	// ReportComplete: the whole report, from "invoked oom-killer" to the
	// kill line.
	ReportComplete = "complete"
	// ReportTruncated: part of a report; records around it were lost (the
	// ring overran) or it was cut short.
	ReportTruncated = "truncated"
	// ReportMissing: no report: the kernel printed none (its dump is
	// rate-limited to 10 per 5 s, so only the "Killed process" line names
	// the victim) or none reached the agent (a kernel counter saw the kill).
	ReportMissing = "missing"
)

// Sources a kill can be seen by (SeenBy).
const (
	SeenKmsg    = "kmsg"           // a record in /dev/kmsg
	SeenCounter = "cgroup_counter" // the victim memcg's oom_kill counter
	SeenNode    = "node_counter"   // only /proc/vmstat oom_kill
)

// Victim kinds, for the metrics' victim label and the page.
const (
	VictimMain    = "main"    // the cgroup's first (oldest) process: a container's main process
	VictimChild   = "child"   // another process: Kubernetes will not say OOMKilled
	VictimUnknown = "unknown" // no task table, or no victim known
)

// Kill is one OOM kill (one OOM-killer invocation; a group kill is one
// Kill with several victims) as the agent stores and serves it.
type Kill struct {
	explain.Event
	// ID is stable across restarts and replays: "<boot>-k<seq>" (the kmsg
	// sequence number of the report's first record), "<boot>-c<inode>-<n>"
	// (the n-th kill counted by the memcg with that inode number, when no
	// kernel log record was read for it) or "<boot>-n<n>" (the node's n-th
	// kill, when only /proc/vmstat counted it).
	ID string `json:"id"`
	// ObservedAt is when the agent learned of the kill.
	ObservedAt time.Time `json:"observed_at"`
	// KilledAt is when the kernel killed, from the record's time stamp
	// (boot time + uptime) or, without one, ObservedAt.
	KilledAt time.Time `json:"killed_at"`
	// Report is ReportComplete, ReportTruncated or ReportMissing.
	Report string `json:"report"`
	// SeenBy lists the sources that saw the kill (SeenKmsg, SeenCounter, SeenNode).
	SeenBy []string `json:"seen_by"`
	// Cgroup is the memory cgroup of the (first) victim, null when unknown.
	Cgroup *string `json:"cgroup"`
	// CgroupFrom says how Cgroup is known: "report" (task_memcg), "proc"
	// (/proc/PID/cgroup of the victim read as the kill line arrived),
	// "counter" (the memcg whose oom_kill counter went up at the same
	// time) or null.
	CgroupFrom *string `json:"cgroup_from"`
	// Kills is how many processes were killed: what the kernel's oom_kill
	// counters count.
	Kills int `json:"kills"`
	// Victim is VictimMain, VictimChild or VictimUnknown for the (first) victim.
	Victim string `json:"victim"`
	// Kubernetes is the kill's Kubernetes attribution: the event's own
	// `kubernetes` object (it takes its place in the JSON) with what the
	// API server says of the pod. Null outside a kubelet's kubepods
	// hierarchy.
	Kubernetes *Kubernetes `json:"kubernetes"`
	// History is the victim cgroup's memory in the minutes before the
	// kill; null when the agent had not sampled it.
	History *History `json:"history"`
}

// Kubernetes is the `kubernetes` object of an agent's kill: the
// oomkit.event/v1 object (what the memory cgroup path and the report say;
// for a kill only a counter saw, what the path says) and, when the agent
// runs with --node-name, what the API server says of the pod. Fields not
// known are null: off the API server, or while it cannot be reached and
// the pod is not in the agent's informer yet (the kill is enriched when it
// is back).
type Kubernetes struct {
	explain.Kube
	// Namespace, Pod, Node and the container's Container name and
	// ContainerType ("regular", "init", "sidecar", "ephemeral", as
	// oomkit.container/v1 spells them).
	Namespace     *string `json:"namespace"`
	Pod           *string `json:"pod"`
	Container     *string `json:"container"`
	ContainerType *string `json:"container_type"`
	Node          *string `json:"node"`
	// WorkloadKind and Workload are the pod's top controller (a
	// ReplicaSet followed to its Deployment, a Job to its CronJob; "Pod"
	// and the pod's name without one).
	WorkloadKind *string `json:"workload_kind"`
	Workload     *string `json:"workload"`
	// MemoryRequestBytes and MemoryLimitBytes are the container's.
	MemoryRequestBytes *int64 `json:"memory_request_bytes"`
	MemoryLimitBytes   *int64 `json:"memory_limit_bytes"`
	// PodDeleted is true when the pod had been deleted when the kill was
	// attributed (deleted pods stay resolvable for 10 minutes).
	PodDeleted bool `json:"pod_deleted"`
}

// Names are the kill's namespace, pod and container, "" when unknown: the
// metrics' labels and the API's filters.
func (k *Kill) Names() (namespace, pod, container string) {
	if kb := k.Kubernetes; kb != nil {
		return deref(kb.Namespace), deref(kb.Pod), deref(kb.Container)
	}
	return "", "", ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Constraint is the kill's constraint as a metric label: "memcg",
// "global", "cpuset", "mempolicy" or "unknown".
func (k *Kill) Constraint() string {
	if k.Event.Constraint != nil {
		switch *k.Event.Constraint {
		case "CONSTRAINT_MEMCG":
			return "memcg"
		case "CONSTRAINT_NONE":
			return "global"
		case "CONSTRAINT_CPUSET":
			return "cpuset"
		case "CONSTRAINT_MEMORY_POLICY":
			return "mempolicy"
		}
	}
	if k.Event.OOMKind != nil {
		switch *k.Event.OOMKind {
		case "memcg":
			return "memcg"
		case "global":
			return "global"
		}
	}
	return "unknown"
}

// History is a memory cgroup's samples before a kill, oldest first.
type History struct {
	Cgroup          string   `json:"cgroup"`
	IntervalSeconds float64  `json:"interval_seconds"`
	Samples         []Sample `json:"samples"`
}

// Sample is one reading of a memory cgroup.
type Sample struct {
	At              time.Time `json:"at"`
	UsageBytes      int64     `json:"usage_bytes"`
	WorkingSetBytes int64     `json:"working_set_bytes"`
	// LimitBytes is null when the cgroup has no limit of its own.
	LimitBytes *int64 `json:"limit_bytes"`
}

// Headroom is one memory cgroup with a limit, as the page's "nearest
// their limit" table and the per-cgroup gauges show it.
type Headroom struct {
	Cgroup          string `json:"cgroup"`
	UsageBytes      int64  `json:"usage_bytes"`
	WorkingSetBytes int64  `json:"working_set_bytes"`
	LimitBytes      int64  `json:"limit_bytes"`
	// GrowthBytesPerSecond is the working set's recent growth (least
	// squares over the prediction window); 0 when flat or shrinking.
	GrowthBytesPerSecond float64 `json:"growth_bytes_per_second"`
	// OOMETASeconds is when the working set reaches the limit at that
	// rate; null when it is not growing or farther than the horizon.
	OOMETASeconds *float64 `json:"oom_eta_seconds"`
	Namespace     string   `json:"namespace"`
	Pod           string   `json:"pod"`
	Container     string   `json:"container"`
}
