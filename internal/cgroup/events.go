package cgroup

// Events is v2 memory.events. Counters are hierarchical since 5.2 (an
// event counts in the cgroup and every ancestor) unless cgroup2 is mounted
// with memory_localevents. nil is a key this kernel does not print.
type Events struct {
	// Low: reclaimed although under memory.low.
	Low *int64
	// High: throttled for exceeding memory.high (never an OOM).
	High *int64
	// Max: a charge hit memory.max and reclaim was about to run.
	Max *int64
	// OOM: the memcg OOM path was entered (order ≤ 3), before any kill.
	OOM *int64
	// OOMKill: processes of this cgroup killed by any OOM kill (4.13+).
	OOMKill *int64
	// OOMGroupKill: memory.oom.group group kills (5.17+).
	OOMGroupKill *int64
}

// parseEvents reads memory.events.
func parseEvents(b []byte) (Events, error) {
	s, err := parseStat(b)
	if err != nil {
		return Events{}, err
	}
	return Events{
		Low: s.get("low"), High: s.get("high"), Max: s.get("max"),
		OOM: s.get("oom"), OOMKill: s.get("oom_kill"), OOMGroupKill: s.get("oom_group_kill"),
	}, nil
}
