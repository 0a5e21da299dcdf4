package cli

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

// This file is inspect's commit charge and soft limits (issue 13). The
// model is in mm (commit.go, memhigh.go), the readers in proc (smaps.go,
// census.go) and cgroup (softlimit.go); this only assembles and renders.

// inspectCommit is the node's commit charge attributed: oomkit.inspect/v1 "commit".
type inspectCommit struct {
	CommittedASBytes    *int64 `json:"committed_as_bytes"`
	ProcessesBytes      int64  `json:"processes_bytes"`
	SharedAnonBytes     int64  `json:"shared_anon_bytes"`
	SysVShmBytes        *int64 `json:"sysv_shm_bytes"`
	TmpfsBytes          int64  `json:"tmpfs_bytes"`
	UnattributedBytes   *int64 `json:"unattributed_bytes"`
	UnreadableProcesses int    `json:"unreadable_processes"`
	Explanation         string `json:"explanation"`
	// TopCommitters are the largest commit charges, largest first.
	TopCommitters []inspectCommitter `json:"top_committers"`
	// ForkWouldFail lists, in mode 2, the processes whose next fork()
	// needs more than CommitLimit has left; null in other modes.
	ForkWouldFail []inspectCommitter `json:"fork_would_fail"`
}

type inspectCommitter struct {
	PID         int    `json:"pid"`
	Comm        string `json:"comm"`
	CommitBytes int64  `json:"commit_bytes"`
	RSSBytes    *int64 `json:"rss_bytes"`
}

// inspectSoftLimit is one level's soft limits: oomkit.inspect/v1 "soft_limits".
type inspectSoftLimit struct {
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

// topCommitters is how many of the biggest committers inspect names.
const topCommitters = 5

// inspectCommitCensus reads every process's commit charge once.
func inspectCommitCensus(h *topHost) proc.CommitCensus { return h.fs.CommitCensus(nil) }

// inspectCommitNode fills r.Commit from the census.
func inspectCommitNode(h *topHost, r *inspectReport, cen proc.CommitCensus) {
	c := &inspectCommit{CommittedASBytes: kbToBytes(cen.CommittedASKB), ProcessesBytes: cen.ProcessBytes(),
		SharedAnonBytes: cen.SharedAnonBytes, SysVShmBytes: cen.Shared.SysVBytes, TmpfsBytes: cen.Shared.TmpfsBytes,
		UnreadableProcesses: cen.Unreadable, TopCommitters: []inspectCommitter{}}
	r.Notes = append(r.Notes, cen.Notes...)
	pg := int64(mm.PageSize)
	if c.CommittedASBytes != nil {
		g := mm.CommitGap{CommittedPages: *c.CommittedASBytes / pg, ProcessPages: c.ProcessesBytes / pg,
			Outside: mm.Outside{SharedAnonPages: c.SharedAnonBytes / pg, SysVShmPages: derefOr(c.SysVShmBytes, 0) / pg, TmpfsPages: c.TmpfsBytes / pg}}
		c.UnattributedBytes = ptrTo(g.ResidualPages() * pg)
		c.Explanation = g.Explain(h.version, cen.Unreadable)
	}
	pids := make([]int, 0, len(cen.ByPID))
	for pid := range cen.ByPID {
		pids = append(pids, pid)
	}
	slices.SortFunc(pids, func(a, b int) int {
		if d := cen.ByPID[b].Bytes - cen.ByPID[a].Bytes; d != 0 {
			return map[bool]int{true: 1, false: -1}[d > 0]
		}
		return a - b
	})
	committer := func(pid int) (inspectCommitter, proc.Status, bool) {
		t, err := h.fs.ReadTask(pid, proc.TaskOptions{})
		if err != nil {
			return inspectCommitter{}, proc.Status{}, false
		}
		return inspectCommitter{PID: pid, Comm: t.Status.Name, CommitBytes: cen.ByPID[pid].Bytes, RSSBytes: ptrTo(t.Status.RSSPages(pageKB) * pg)}, t.Status, true
	}
	for _, pid := range pids {
		if len(c.TopCommitters) == topCommitters || cen.ByPID[pid].Bytes == 0 {
			break
		}
		if ic, _, ok := committer(pid); ok {
			c.TopCommitters = append(c.TopCommitters, ic)
		}
	}
	if derefOr(r.Overcommit.Mode, -1) == mm.OvercommitNever && r.Overcommit.CommittedASKB != nil {
		c.ForkWouldFail = []inspectCommitter{}
		vm := h.fs.SysVM()
		m := h.mem
		hp := derefOr(m.HugetlbPages(pageKB), 0)
		st := mm.CommitState{TotalRAMPages: derefOr(m.MemTotalKB, 0) / pageKB, HugetlbPages: hp, TotalSwapPages: derefOr(m.SwapTotalKB, 0) / pageKB,
			CommittedPages: *r.Overcommit.CommittedASKB / pageKB,
			Reserves:       mm.Reserves{AdminKB: derefOr(vm.AdminReserveKBytes, 0), UserKB: derefOr(vm.UserReserveKBytes, 0)}}
		oc := mm.Overcommit{Mode: mm.OvercommitNever, Ratio: derefOr(r.Overcommit.Ratio, 50), KBytes: derefOr(r.Overcommit.KBytes, 0)}
		for _, pid := range pids {
			cm := cen.ByPID[pid]
			// The cheapest test first: a fork that fits even for a
			// non-admin caller with this process's reserve cannot fail.
			caller := mm.Caller{TotalVMPages: cm.TotalBytes / pg}
			if !mm.ForkFails(h.version, oc, st, cm.Bytes/pg, caller) {
				continue
			}
			ic, status, ok := committer(pid)
			if !ok {
				continue
			}
			caller.CapSysAdmin = status.HasCapSysAdmin()
			if mm.ForkFails(h.version, oc, st, cm.Bytes/pg, caller) {
				c.ForkWouldFail = append(c.ForkWouldFail, ic)
			}
		}
	}
	r.Commit = c
}

// inspectCgroupCommit is the sum of the commit charges of the processes in
// the cgroup at path and below; nil when none of them could be read.
func inspectCgroupCommit(h *topHost, cgPath string, cen proc.CommitCensus) *int64 {
	var sum int64
	read := false
	var walk func(p string)
	walk = func(p string) {
		dir := h.layout.Dir(p)
		for _, pid := range cgroup.PIDs(dir) {
			if c, ok := cen.ByPID[pid]; ok {
				sum += c.Bytes
				read = true
			}
		}
		for _, ch := range cgroup.Children(dir) {
			walk(path.Join(p, ch))
		}
	}
	walk(cgPath)
	if !read {
		return nil
	}
	return &sum
}

// inspectSoftLimits reads the soft limits of cgPath and its ancestors.
func inspectSoftLimits(h *topHost, cgPath string, usage *int64) []inspectSoftLimit {
	out := []inspectSoftLimit{}
	levels := cgroup.ReadSoftLimitsUp(h.layout, cgPath)
	for i, s := range levels {
		var u *int64
		if i == len(levels)-1 {
			u = usage
		}
		e := s.Effects(u)
		if e == nil {
			e = []string{}
		}
		out = append(out, inspectSoftLimit{Path: s.Path, HighBytes: s.HighBytes, LowBytes: s.LowBytes, MinBytes: s.MinBytes,
			SwapMaxBytes: s.SwapMaxBytes, SoftLimitBytes: s.SoftLimitBytes, HighEvents: s.HighEvents, LowEvents: s.LowEvents, Effects: e})
	}
	return out
}

// writeInspectCommit prints the node's commit lines.
func writeInspectCommit(tw io.Writer, c *inspectCommit) {
	if c == nil {
		return
	}
	if c.Explanation != "" {
		fmt.Fprintf(tw, "  commit\t%s\n", c.Explanation)
	}
	if len(c.TopCommitters) > 0 {
		var parts []string
		for _, x := range c.TopCommitters {
			parts = append(parts, fmt.Sprintf("%d %s %s (rss %s)", x.PID, x.Comm, kube.FormatBytes(x.CommitBytes), bytesWord(x.RSSBytes, "?")))
		}
		fmt.Fprintf(tw, "  committers\t%s\n", strings.Join(parts, ", "))
	}
	if c.ForkWouldFail != nil {
		if len(c.ForkWouldFail) == 0 {
			fmt.Fprintf(tw, "  fork\tevery process can fork: each one's commit charge fits in what CommitLimit has left\n")
		} else {
			var parts []string
			for _, x := range c.ForkWouldFail {
				parts = append(parts, fmt.Sprintf("%d %s (needs %s)", x.PID, x.Comm, kube.FormatBytes(x.CommitBytes)))
			}
			fmt.Fprintf(tw, "  fork\tfork() would fail with ENOMEM (\"fork: Cannot allocate memory\") for: %s\n", strings.Join(parts, ", "))
		}
	}
}

// writeInspectSoftLimits prints the levels that have a soft limit set.
func writeInspectSoftLimits(tw io.Writer, c inspectCgroup) {
	if c.CommitBytes != nil {
		fmt.Fprintf(tw, "  commit\t%s charged to Committed_AS by its processes (usage %s)\n", kube.FormatBytes(*c.CommitBytes), bytesWord(c.UsageBytes, "?"))
	}
	for _, s := range c.SoftLimits {
		for _, e := range s.Effects {
			fmt.Fprintf(tw, "  soft limit\t%s: %s\n", s.Path, e)
		}
	}
}

func kbToBytes(kb *int64) *int64 {
	if kb == nil {
		return nil
	}
	return ptrTo(*kb * 1024)
}
