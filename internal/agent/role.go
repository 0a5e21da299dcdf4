package agent

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/kfile"
	"github.com/oomkit/oomkit/internal/proc"
)

// victimRole decides whether a kill's (first) victim was its container's
// main process — the container dies with it, and Kubernetes reports
// OOMKilled — or a child, whose death leaves the container running and
// Kubernetes silent. In the order of what the agent trusts most:
//
//  1. memory.oom.group (a "going to be killed due to memory.oom.group
//     set" line): the kernel killed every process of the cgroup, the main
//     one too — main.
//  2. The cgroup as it is now: a container's main process is its oldest
//     (the runtime starts it first; `kubectl exec` and children come
//     later). If the victim's /proc entry is still there (it is a zombie
//     until its parent reaps it), it was the main process unless a process
//     of the cgroup that started before it is still alive. On cgroup v1 a
//     child's kill leaves that older process alive; the main process's
//     kill leaves only younger ones, which die with it (the PID
//     namespace's init is gone).
//  3. The report's task table: the first task it lists for the victim's
//     memcg (5.3+ tables are in join order) — victimKind.
//  4. The victim already reaped and its cgroup empty: nothing outlived it,
//     so it was the main (or only) process.
//
// Otherwise, and for a kill only a counter saw, unknown.
func (a *Agent) victimRole(k *api.Kill, live bool) string {
	e := &k.Event
	if e.GroupKillPath != nil {
		return api.VictimMain
	}
	if len(e.Victims) == 0 {
		return api.VictimUnknown
	}
	var pids []int
	readable := false
	if live && k.Cgroup != nil && a.layout.Memory != "" {
		pids, readable = cgroupProcs(a.layout.Dir(*k.Cgroup))
		if readable {
			if role, ok := a.liveRole(e.Victims[0].PID, e.Victims[0].Comm, pids); ok {
				return role
			}
		}
	}
	if r := victimKind(e); r != api.VictimUnknown {
		return r
	}
	if readable && len(pids) == 0 {
		return api.VictimMain
	}
	return api.VictimUnknown
}

// cgroupProcs lists the processes in the cgroup directory dir; ok is false
// when cgroup.procs cannot be read (the cgroup was removed).
func cgroupProcs(dir string) (pids []int, ok bool) {
	b, err := kfile.Read(filepath.Join(dir, "cgroup.procs"), kfile.Large)
	if err != nil {
		return nil, false
	}
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, true
}

// liveRole compares the victim's start time with those of the processes
// left in its cgroup; ok is false when the victim's /proc entry is gone
// (or names another process: its PID was reused).
func (a *Agent) liveRole(victim int, comm string, pids []int) (string, bool) {
	fs, err := proc.NewFS(a.cfg.ProcRoot)
	if err != nil {
		return "", false
	}
	v, err := fs.Stat(victim)
	if err != nil {
		return "", false
	}
	if c, err := fs.Comm(victim); err != nil || c != comm {
		return "", false
	}
	for _, p := range pids {
		if p == victim {
			continue
		}
		s, err := fs.Stat(p)
		if err != nil {
			continue // gone since cgroup.procs was read
		}
		if s.StartTime < v.StartTime || s.StartTime == v.StartTime && p < victim {
			return api.VictimChild, true
		}
	}
	return api.VictimMain, true
}
