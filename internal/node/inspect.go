package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/proc"
)

// InspectSchema is the value of a Report's "schema" field.
const InspectSchema = "oomkit.inspect/v1"

// Report is how close the node and one memory cgroup (or all of them) are
// to ENOMEM, an OOM kill and an eviction: the oomkit.inspect/v1 object
// (docs/inspect.md).
type Report struct {
	Schema string `json:"schema"`
	// KernelVersion is the kernel whose rules apply; nil when unknown.
	KernelVersion *string    `json:"kernel_version"`
	Memory        Memory     `json:"memory"`
	Overcommit    Overcommit `json:"overcommit"`
	Pressure      *Pressure  `json:"pressure"`
	OOMKillTotal  *int64     `json:"oom_kill_total"`
	OOMSysctls    OOMSysctls `json:"oom_sysctls"`
	Commit        *Commit    `json:"commit"`
	Cgroup        *Cgroup    `json:"cgroup"`
	// Cgroups is set instead of Cgroup when every cgroup is asked for.
	Cgroups   []Cgroup      `json:"cgroups,omitempty"`
	Eviction  Eviction      `json:"eviction"`
	Processes []ProcessHeap `json:"processes"`
	Gone      int           `json:"processes_exited"`
	Notes     []string      `json:"notes"`
}

// Target is what Inspect looks at besides the node. The zero Target is
// the calling process's own memory cgroup.
type Target struct {
	// PID inspects this process's memory cgroup, and lists it first.
	PID int
	// Cgroup inspects this memory cgroup.
	Cgroup string
	// All lists every memory cgroup, least headroom first.
	All bool
}

// Inspect reads the node and the target cgroup into a Report, with the
// headroom to kubelet's eviction threshold th. It fails only when the
// target does not exist (the error wraps cgroup.ErrRemoved, or satisfies
// proc.IsGone for a PID) or needs a memory controller there is not; what
// else cannot be read becomes a note.
func (h *Host) Inspect(t Target, th kube.EvictionThreshold) (Report, error) {
	mem, err := h.meminfo()
	if err != nil {
		return Report{}, err
	}
	r := Report{Schema: InspectSchema, Memory: memoryOf(mem), Notes: slices.Clone(h.Notes), Processes: []ProcessHeap{}}
	if h.Kernel != nil {
		r.KernelVersion = ptr(h.Kernel.String())
	}
	vm := h.Proc.SysVM()
	r.Notes = append(r.Notes, vm.Notes...)
	r.OOMSysctls = OOMSysctls{OOMKillAllocatingTask: vm.OOMKillAllocatingTask, PanicOnOOM: vm.PanicOnOOM}
	var notes []string
	r.Overcommit, notes = h.overcommit(mem, vm)
	r.Notes = append(r.Notes, notes...)
	var note string
	if r.Pressure, note = h.pressure(); note != "" {
		r.Notes = append(r.Notes, note)
	}
	if vs, err := h.Proc.VMStat(); err != nil {
		r.Notes = append(r.Notes, err.Error())
	} else {
		r.OOMKillTotal = vs.OOMKill
	}
	// Every process's commit charge, once: smaps walks page tables, about
	// a millisecond of CPU per process (BENCHMARKS.md).
	cen := h.Proc.CommitCensus(nil)
	r.Commit, notes = h.commit(cen, r.Overcommit, mem, vm)
	r.Notes = append(r.Notes, notes...)
	switch {
	case h.Layout.Memory == "":
		if t.Cgroup != "" || t.All {
			return r, cgroup.ErrNoMemoryController
		}
		r.Notes = append(r.Notes, "no memory cgroup controller: only the node is inspected")
	case t.All:
		if r.Cgroups, err = h.Cgroups(); err != nil {
			return r, err
		}
		for i := range r.Cgroups {
			c := &r.Cgroups[i]
			c.CommitBytes, c.SoftLimits = h.cgroupCommit(c.Path, cen), h.softLimits(c.Path, c.UsageBytes)
		}
	default:
		if err := h.inspectCgroup(&r, t, cen); err != nil {
			return r, err
		}
	}
	r.Eviction = h.eviction(th, mem)
	if r.Notes == nil {
		r.Notes = []string{}
	}
	return r, nil
}

// inspectCgroup fills in the target cgroup, its next victim and its
// processes' heap ceilings.
func (h *Host) inspectCgroup(r *Report, t Target, cen proc.CommitCensus) error {
	target := t.Cgroup
	if target == "" {
		var err error
		target, err = cgroup.ProcessMemcg(h.Roots, h.Layout, t.PID)
		if err != nil && t.PID == 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("own memory cgroup unknown (%v): only the node is inspected; use --cgroup or --pid", err))
			return nil
		}
		if err != nil {
			return err
		}
	}
	c, err := h.Cgroup(target)
	if err != nil {
		return err
	}
	if c.LimitBytes != nil {
		if c.NextVictim, err = h.NextVictim(target); err != nil {
			c.Notes = append(c.Notes, err.Error())
		}
	}
	c.CommitBytes, c.SoftLimits = h.cgroupCommit(target, cen), h.softLimits(target, c.UsageBytes)
	r.Cgroup = &c
	procs, gone, notes, err := h.Runtimes(target, t.PID, deref(c.LimitBytes, 0))
	switch {
	case errors.Is(err, cgroup.ErrRemoved):
		r.Notes = append(r.Notes, fmt.Sprintf("runtimes: %v", err))
	case err != nil:
		return err
	}
	if err == nil {
		for i := range procs {
			if cm, ok := cen.ByPID[procs[i].PID]; ok {
				procs[i].CommitBytes = ptr(cm.Bytes)
			}
		}
		r.Processes, r.Gone = procs, gone
		r.Notes = append(r.Notes, notes...)
	}
	return nil
}
