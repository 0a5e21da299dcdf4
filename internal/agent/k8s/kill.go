package k8s

import (
	"time"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/visible"
)

// Role is what the victim was to its container: the label `victim` of
// oomkit_oom_kills_total and the choice between the reasons OOMKill and
// OOMKillChild.
type Role string

// Roles.
const (
	// RoleMain: the container's main process (or, with memory.oom.group,
	// the whole container) died; the container exits with 137 and
	// Kubernetes reports OOMKilled.
	RoleMain Role = "main"
	// RoleChild: a child process died and the container keeps running;
	// Kubernetes reports nothing.
	RoleChild Role = "child"
	// RoleUnknown: the agent could not tell.
	RoleUnknown Role = "unknown"
)

// Kill is one OOM kill as the agent hands it to the Publisher. Fill it from
// an explained report with KillFromEvent, or by hand for a kill the
// kernel's counters saw but no report explains (Report "missing").
type Kill struct {
	// ID is the kill's stable ID (boot ID + kmsg sequence number, or boot
	// ID + cgroup + counter value): the same kill always has the same ID,
	// across agent restarts and replays. Required.
	ID string
	// Time is when the kernel killed (wall clock). Required.
	Time time.Time
	// CgroupPath is the memory cgroup the victim was in (task_memcg), as
	// the kernel prints it (or relative to the memory controller's mount):
	// it carries the pod UID and container ID. For a kill without a
	// report, the cgroup whose counter moved.
	CgroupPath string
	// LimitCgroupPath is the cgroup whose limit was hit (oom_memcg); ""
	// for a global OOM or when unknown.
	LimitCgroupPath string
	// LimitBytes is that cgroup's limit, nil when unknown.
	LimitBytes *int64
	// VictimPID and VictimComm name the killed process; 0 and "" when unknown.
	VictimPID  int
	VictimComm string
	// Role is main, child or unknown ("" counts as unknown).
	Role Role
	// Constraint is the oom-kill line's constraint (CONSTRAINT_MEMCG,
	// CONSTRAINT_NONE, …), "" when unknown.
	Constraint string
	// Global is true for a global OOM (the node, a cpuset or a mempolicy
	// ran out): the node gets an Event of its own naming the pods hit.
	Global bool
	// Summary is the explanation in plain words (explain's
	// Analysis.Summary); it is cut at a sentence to fit an Event's note.
	Summary string
	// Report is "complete", "truncated" or "missing".
	Report string
}

// KillFromEvent fills a Kill from an explained report: id is its stable
// ID, at when it happened, role what the agent found the victim to be.
func KillFromEvent(id string, at time.Time, e *explain.Event, role Role) Kill {
	k := Kill{ID: id, Time: at, Role: role, Summary: e.Analysis.Summary, Report: "complete"}
	if e.Truncated {
		k.Report = "truncated"
	}
	if e.TaskMemcg != nil {
		k.CgroupPath = *e.TaskMemcg
	}
	if e.OOMMemcg != nil {
		k.LimitCgroupPath = *e.OOMMemcg
	}
	if k.CgroupPath == "" {
		k.CgroupPath = k.LimitCgroupPath
	}
	if e.Memcg != nil && e.Memcg.LimitKB != nil {
		b := *e.Memcg.LimitKB * 1024
		k.LimitBytes = &b
	}
	if e.Constraint != nil {
		k.Constraint = *e.Constraint
	}
	k.Global = e.OOMKind != nil && *e.OOMKind == "global"
	if k.Global {
		k.LimitCgroupPath = ""
	}
	for _, v := range e.Victims {
		if !v.GroupKill {
			k.VictimPID, k.VictimComm = v.PID, v.Comm
			break
		}
	}
	if k.VictimPID == 0 && len(e.Victims) > 0 {
		k.VictimPID, k.VictimComm = e.Victims[0].PID, e.Victims[0].Comm
	}
	if e.GroupKillPath != nil && role == RoleUnknown {
		// memory.oom.group: the kernel killed every process of the
		// container, its main process included.
		k.Role = RoleMain
	}
	return k
}

// role is r with "" read as unknown.
func (k *Kill) role() Role {
	switch k.Role {
	case RoleMain, RoleChild:
		return k.Role
	}
	return RoleUnknown
}

// victim names the killed process for people: "python3 (pid 4242)".
func (k *Kill) victim() string {
	comm := printable(k.VictimComm)
	switch {
	case comm != "" && k.VictimPID > 0:
		return comm + " (pid " + itoa(k.VictimPID) + ")"
	case comm != "":
		return comm
	case k.VictimPID > 0:
		return "pid " + itoa(k.VictimPID)
	}
	return "a process"
}

// printable makes a process name safe for an Event, which kubectl shows
// on terminals: a comm is any 15 bytes the process chose, so control
// characters and invalid UTF-8 become visible escapes.
func printable(s string) string { return visible.String(s) }
