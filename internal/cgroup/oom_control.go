package cgroup

// OOMControl is v1 memory.oom_control.
type OOMControl struct {
	// OOMKillDisable: tasks hitting the limit in a page fault sleep instead
	// of an OOM kill.
	OOMKillDisable bool
	// UnderOOM: the cgroup is in an OOM right now.
	UnderOOM bool
	// OOMKill counts kills of this cgroup's processes (4.13+; nil before).
	OOMKill *int64
}

// parseOOMControl reads memory.oom_control.
func parseOOMControl(b []byte) (OOMControl, error) {
	s, err := parseStat(b)
	if err != nil {
		return OOMControl{}, err
	}
	return OOMControl{
		OOMKillDisable: s["oom_kill_disable"] == 1,
		UnderOOM:       s["under_oom"] == 1,
		OOMKill:        s.get("oom_kill"),
	}, nil
}
