package node

import (
	"slices"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

// Commit is the node's commit charge (Committed_AS) attributed: to the
// processes, to shared memory outside them, and the rest.
type Commit struct {
	CommittedASBytes    *int64 `json:"committed_as_bytes"`
	ProcessesBytes      int64  `json:"processes_bytes"`
	SharedAnonBytes     int64  `json:"shared_anon_bytes"`
	SysVShmBytes        *int64 `json:"sysv_shm_bytes"`
	TmpfsBytes          int64  `json:"tmpfs_bytes"`
	UnattributedBytes   *int64 `json:"unattributed_bytes"`
	UnreadableProcesses int    `json:"unreadable_processes"`
	// Explanation puts the parts next to Committed_AS in words; "" when
	// the kernel version (which decides how exact Committed_AS is) is
	// unknown.
	Explanation string `json:"explanation"`
	// TopCommitters are the largest commit charges, largest first.
	TopCommitters []Committer `json:"top_committers"`
	// ForkWouldFail lists, in mode 2, the processes whose next fork()
	// needs more than CommitLimit has left; nil in other modes.
	ForkWouldFail []Committer `json:"fork_would_fail"`
}

// Committer is one process's commit charge.
type Committer struct {
	PID         int    `json:"pid"`
	Comm        string `json:"comm"`
	CommitBytes int64  `json:"commit_bytes"`
	RSSBytes    *int64 `json:"rss_bytes"`
}

// SoftLimit is one level's soft limits and what each does now.
type SoftLimit struct {
	Path           string   `json:"path"`
	HighBytes      *int64   `json:"high_bytes"`
	LowBytes       *int64   `json:"low_bytes"`
	MinBytes       *int64   `json:"min_bytes"`
	SwapMaxBytes   *int64   `json:"swap_max_bytes"`
	SoftLimitBytes *int64   `json:"soft_limit_bytes"`
	HighEvents     *int64   `json:"high_events"`
	LowEvents      *int64   `json:"low_events"`
	Effects        []string `json:"effects"`
}

// topCommitters is how many of the biggest committers a Commit names.
const topCommitters = 5

// commit attributes Committed_AS from a census of every process's commit
// charge (proc.CommitCensus) and, in mode 2, finds the processes that
// could not fork. oc and m are the report's overcommit and meminfo.
//
// mm.CommitGap, mm.ForkFails: dup_mmap() charges the parent's VM_ACCOUNT
// mappings again (kernel/fork.c, mm/mmap.c 6.18).
func (h *Host) commit(cen proc.CommitCensus, oc Overcommit, m proc.Meminfo, vm proc.SysVM) (*Commit, []string) {
	notes := slices.Clone(cen.Notes)
	c := &Commit{CommittedASBytes: kbToBytes(cen.CommittedASKB), ProcessesBytes: cen.ProcessBytes(),
		SharedAnonBytes: cen.SharedAnonBytes, SysVShmBytes: cen.Shared.SysVBytes, TmpfsBytes: cen.Shared.TmpfsBytes,
		UnreadableProcesses: cen.Unreadable, TopCommitters: []Committer{}}
	pg := int64(mm.PageSize)
	if c.CommittedASBytes != nil {
		g := mm.CommitGap{CommittedPages: *c.CommittedASBytes / pg, ProcessPages: c.ProcessesBytes / pg,
			Outside: mm.Outside{SharedAnonPages: c.SharedAnonBytes / pg, SysVShmPages: deref(c.SysVShmBytes, 0) / pg, TmpfsPages: c.TmpfsBytes / pg}}
		c.UnattributedBytes = ptr(g.ResidualPages() * pg)
		if h.Kernel != nil {
			c.Explanation = g.Explain(*h.Kernel, cen.Unreadable)
		}
	}
	pids := make([]int, 0, len(cen.ByPID))
	for pid := range cen.ByPID {
		pids = append(pids, pid)
	}
	slices.SortFunc(pids, func(a, b int) int {
		if d := cen.ByPID[b].Bytes - cen.ByPID[a].Bytes; d != 0 {
			return boolOrder(d > 0, d < 0)
		}
		return a - b
	})
	committer := func(pid int) (Committer, proc.Status, bool) {
		t, err := h.Proc.ReadTask(pid, proc.TaskOptions{})
		if err != nil {
			return Committer{}, proc.Status{}, false
		}
		return Committer{PID: pid, Comm: t.Status.Name, CommitBytes: cen.ByPID[pid].Bytes, RSSBytes: ptr(t.Status.RSSPages(pageKB) * pg)}, t.Status, true
	}
	for _, pid := range pids {
		if len(c.TopCommitters) == topCommitters || cen.ByPID[pid].Bytes == 0 {
			break
		}
		if x, _, ok := committer(pid); ok {
			c.TopCommitters = append(c.TopCommitters, x)
		}
	}
	if deref(oc.Mode, -1) != mm.OvercommitNever || oc.CommittedASKB == nil {
		return c, notes
	}
	if h.Kernel == nil {
		return c, append(notes, "which processes could not fork depends on the kernel version, which is unknown (give --assume-kernel)")
	}
	c.ForkWouldFail = []Committer{}
	st := mm.CommitState{TotalRAMPages: deref(m.MemTotalKB, 0) / pageKB, HugetlbPages: deref(m.HugetlbPages(pageKB), 0),
		TotalSwapPages: deref(m.SwapTotalKB, 0) / pageKB, CommittedPages: *oc.CommittedASKB / pageKB,
		Reserves: mm.Reserves{AdminKB: deref(vm.AdminReserveKBytes, 0), UserKB: deref(vm.UserReserveKBytes, 0)}}
	policy := mm.Overcommit{Mode: mm.OvercommitNever, Ratio: deref(oc.Ratio, 50), KBytes: deref(oc.KBytes, 0)}
	for _, pid := range pids {
		cm := cen.ByPID[pid]
		// The cheapest test first: a fork that fits even for a non-admin
		// caller with this process's reserve cannot fail.
		caller := mm.Caller{TotalVMPages: cm.TotalBytes / pg}
		if !mm.ForkFails(*h.Kernel, policy, st, cm.Bytes/pg, caller) {
			continue
		}
		x, status, ok := committer(pid)
		if !ok {
			continue
		}
		caller.CapSysAdmin = status.HasCapSysAdmin()
		if mm.ForkFails(*h.Kernel, policy, st, cm.Bytes/pg, caller) {
			c.ForkWouldFail = append(c.ForkWouldFail, x)
		}
	}
	return c, notes
}

// cgroupCommit is the sum of the commit charges of the processes in
// memcg and below; nil when none of them could be read.
func (h *Host) cgroupCommit(memcg string, cen proc.CommitCensus) *int64 {
	pids, _, err := h.scanOrder(memcg)
	if err != nil {
		return nil
	}
	var sum *int64
	for _, pid := range pids {
		if c, ok := cen.ByPID[pid]; ok {
			sum = ptr(deref(sum, 0) + c.Bytes)
		}
	}
	return sum
}

// softLimits reads the soft limits of memcg and its ancestors, and what
// each does at the cgroup's usage.
func (h *Host) softLimits(memcg string, usage *int64) []SoftLimit {
	out := []SoftLimit{}
	levels := cgroup.ReadSoftLimitsUp(h.Layout, memcg)
	for i, s := range levels {
		var u *int64
		if i == len(levels)-1 {
			u = usage
		}
		e := s.Effects(u)
		if e == nil {
			e = []string{}
		}
		out = append(out, SoftLimit{Path: s.Path, HighBytes: s.HighBytes, LowBytes: s.LowBytes, MinBytes: s.MinBytes,
			SwapMaxBytes: s.SwapMaxBytes, SoftLimitBytes: s.SoftLimitBytes, HighEvents: s.HighEvents, LowEvents: s.LowEvents, Effects: e})
	}
	return out
}

func kbToBytes(kb *int64) *int64 {
	if kb == nil {
		return nil
	}
	return ptr(*kb * 1024)
}
