package node

import (
	"fmt"
	"slices"

	"github.com/oomkit/oomkit/internal/heap"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

// MaxRuntimeProcesses bounds the processes Runtimes looks at in one
// cgroup: three small files each, and a table a person reads.
const MaxRuntimeProcesses = 200

// ProcessHeap is one process of a cgroup with the heap ceiling its
// managed runtime sets, against the cgroup's limit.
type ProcessHeap struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// RSSBytes is its resident memory; CommitBytes its commit charge
	// (Inspect's census; nil when smaps could not be read).
	RSSBytes    *int64 `json:"rss_bytes"`
	CommitBytes *int64 `json:"commit_bytes"`
	// Runtime is dotnet, jvm, go or node; nil for native or unknown
	// programs.
	Runtime          *string `json:"runtime"`
	HeapCeilingBytes *int64  `json:"heap_ceiling_bytes"`
	// Source says how the ceiling was derived; Verdict who stops first:
	// the runtime (an exception) or the kernel (a kill).
	Source   string   `json:"source"`
	Verdict  string   `json:"verdict"`
	Warnings []string `json:"warnings"`
	Notes    []string `json:"notes"`
}

// Runtimes reads the processes of memcg and its descendants (pid first
// when it is given, at most MaxRuntimeProcesses) and works out the heap
// ceiling each one's runtime sets against limitBytes (0: none). gone
// counts processes that exited while they were read; notes say what was
// left out.
func (h *Host) Runtimes(memcg string, pid int, limitBytes int64) (procs []ProcessHeap, gone int, notes []string, err error) {
	mem, err := h.meminfo()
	if err != nil {
		return nil, 0, nil, err
	}
	pids, _, err := h.scanOrder(memcg)
	if err != nil {
		return nil, 0, nil, err
	}
	if pid > 0 {
		// The asked-for process first.
		if i := slices.Index(pids, pid); i > 0 {
			pids = append([]int{pid}, slices.Delete(pids, i, i+1)...)
		} else if i < 0 {
			pids = append([]int{pid}, pids...)
		}
	}
	if len(pids) > MaxRuntimeProcesses {
		notes = append(notes, fmt.Sprintf("the cgroup has %d processes: the runtime table shows the first %d", len(pids), MaxRuntimeProcesses))
		pids = pids[:MaxRuntimeProcesses]
	}
	node := deref(mem.MemTotalKB, 0) * 1024
	procs = []ProcessHeap{}
	for _, p := range pids {
		ph, ok := h.processHeap(p, limitBytes, node)
		if !ok {
			gone++
			continue
		}
		procs = append(procs, ph)
	}
	if gone > 0 {
		notes = append(notes, fmt.Sprintf("%d processes exited while they were read and are not listed", gone))
	}
	return procs, gone, notes, nil
}

// processHeap reads one process's comm, command line and environment and
// runs the heap-ceiling model; ok is false when it exited meanwhile.
func (h *Host) processHeap(pid int, limitBytes, nodeBytes int64) (ProcessHeap, bool) {
	ph := ProcessHeap{PID: pid, Warnings: []string{}, Notes: []string{}}
	comm, err := h.Proc.Comm(pid)
	if err != nil {
		if proc.IsGone(err) {
			return ph, false
		}
		ph.Notes = append(ph.Notes, fmt.Sprintf("comm: %v", err))
	}
	ph.Comm = comm
	argv, err := h.Proc.Cmdline(pid)
	if err != nil {
		if proc.IsGone(err) {
			return ph, false
		}
		ph.Notes = append(ph.Notes, fmt.Sprintf("cmdline: %v", err))
	}
	env, err := h.Proc.Environ(pid)
	switch {
	case err == nil:
	case proc.IsGone(err):
		return ph, false
	case proc.IsPermission(err):
		ph.Notes = append(ph.Notes, fmt.Sprintf("environ of pid %d: permission denied (run as root or as its user to see DOTNET_*, JAVA_TOOL_OPTIONS, GOMEMLIMIT, NODE_OPTIONS); runtime judged from the command line only", pid))
		env = nil
	default:
		ph.Notes = append(ph.Notes, fmt.Sprintf("environ: %v", err))
		env = nil
	}
	if t, err := h.Proc.ReadTask(pid, proc.TaskOptions{}); err == nil && t.Status.HasMM {
		ph.RSSBytes = ptr(t.Status.RSSPages(pageKB) * mm.PageSize)
	}
	c := heap.CeilingOf(heap.Process{Argv: argv, Env: env}, limitBytes, nodeBytes)
	if c.Runtime != "" {
		ph.Runtime = ptr(c.Runtime)
	}
	ph.HeapCeilingBytes, ph.Source, ph.Verdict = c.Bytes, c.Source, heap.Verdict(c, limitBytes)
	if c.Warnings != nil {
		ph.Warnings = c.Warnings
	}
	return ph, true
}
