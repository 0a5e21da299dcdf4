package node

import (
	"fmt"
	"path"
	"slices"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
)

// Cgroup is one memory cgroup: its limits up the tree, usage, working
// set, headroom, events, and what its path says about Kubernetes. Sizes
// are in bytes; nil is unknown or, for limits, unlimited.
type Cgroup struct {
	Version string `json:"version"`
	Hybrid  bool   `json:"hybrid"`
	Path    string `json:"path"`
	// LimitBytes is the effective limit (the smallest that applies);
	// LimitPath the cgroup where it is set.
	LimitBytes *int64  `json:"limit_bytes"`
	LimitPath  *string `json:"limit_path"`
	// HeadroomPath is the level with the least headroom (it can be an
	// ancestor shared with siblings).
	HeadroomPath     *string `json:"headroom_path"`
	UsageBytes       *int64  `json:"usage_bytes"`
	WorkingSetBytes  *int64  `json:"working_set_bytes"`
	ReclaimableBytes *int64  `json:"reclaimable_bytes"`
	HeadroomBytes    *int64  `json:"headroom_bytes"`
	HighBytes        *int64  `json:"high_bytes"`
	SwapLimitBytes   *int64  `json:"swap_limit_bytes"`
	SwapUsageBytes   *int64  `json:"swap_usage_bytes"`
	MemswLimitBytes  *int64  `json:"memsw_limit_bytes"`
	MemswUsageBytes  *int64  `json:"memsw_usage_bytes"`
	FailCnt          *int64  `json:"failcnt"`
	OOMKillCount     *int64  `json:"oom_kill_count"`
	OOMKillDisable   *bool   `json:"oom_kill_disable"`
	UnderOOM         *bool   `json:"under_oom"`
	Events           *Events `json:"events"`
	OOMGroup         *bool   `json:"oom_group"`
	UseHierarchy     *bool   `json:"use_hierarchy"`
	Swappiness       *int64  `json:"swappiness"`
	// CommitBytes is the commit charge of its processes and its
	// descendants'; SoftLimits its and its ancestors' soft limits. Both
	// only in Inspect's report.
	CommitBytes *int64      `json:"commit_bytes"`
	SoftLimits  []SoftLimit `json:"soft_limits"`
	// Levels run from the root to the cgroup; nil in Cgroups' list.
	Levels []Level `json:"levels,omitempty"`
	// NextVictim is the process the memcg OOM killer would choose now
	// (NextVictim); nil when not asked, without a limit or with no
	// eligible process.
	NextVictim *Victim           `json:"next_victim,omitempty"`
	Kubernetes *kube.Attribution `json:"kubernetes"`
	Notes      []string          `json:"notes"`
}

// Events are cgroup v2 memory.events counters.
type Events struct {
	OOM          *int64 `json:"oom"`
	OOMKill      *int64 `json:"oom_kill"`
	OOMGroupKill *int64 `json:"oom_group_kill"`
	High         *int64 `json:"high"`
	Max          *int64 `json:"max"`
}

// Level is one cgroup on the way from the root to the inspected one.
type Level struct {
	Path            string `json:"path"`
	LimitBytes      *int64 `json:"limit_bytes"`
	UsageBytes      *int64 `json:"usage_bytes"`
	WorkingSetBytes *int64 `json:"working_set_bytes"`
	HeadroomBytes   *int64 `json:"headroom_bytes"`
	// Applies is whether the level's limit charges the cgroup (v1
	// use_hierarchy 0 cuts it off).
	Applies bool `json:"applies"`
}

// Victim is the process a memcg OOM would kill now.
type Victim struct {
	PID         int    `json:"pid"`
	Comm        string `json:"comm"`
	Points      int64  `json:"points"`
	OOMScoreAdj int64  `json:"oom_score_adj"`
	RSSPages    int64  `json:"rss_pages"`
	TotalPages  int64  `json:"total_pages"`
}

// Cgroup reads one memory cgroup and every level above it. The error
// wraps cgroup.ErrRemoved when it does not exist, and
// cgroup.ErrNoMemoryController without a memory controller.
func (h *Host) Cgroup(path string) (Cgroup, error) {
	hier, err := cgroup.ReadHierarchy(h.Layout, path)
	if err != nil {
		return Cgroup{}, err
	}
	return h.cgroupOf(hier), nil
}

// Cgroups reads every memory cgroup, least headroom first (unlimited
// ones last), without Levels: the node's cgroups with their usage,
// working set, limit and headroom. A cgroup's headroom is the least over
// itself and its ancestors (a pod's limit binds its containers).
func (h *Host) Cgroups() ([]Cgroup, error) {
	paths, err := cgroup.Walk(h.Layout, "/")
	if err != nil {
		return nil, err
	}
	// Read each cgroup once; the walk lists parents first.
	read := make(map[string]cgroup.Memory, len(paths))
	out := make([]Cgroup, 0, len(paths))
	for _, p := range paths {
		m, err := cgroup.ReadMemory(h.Layout.Dir(p), p, h.Layout.Memory)
		if err != nil {
			continue // removed between the walk and the read
		}
		read[p] = m
		var hier cgroup.Hierarchy
		for q := p; ; q = path.Dir(q) {
			if a, ok := read[q]; ok {
				hier.Levels = append(hier.Levels, a)
			}
			if q == "/" {
				break
			}
		}
		slices.Reverse(hier.Levels)
		hier.Applies = make([]bool, len(hier.Levels))
		for i := len(hier.Levels) - 1; i >= 0; i-- {
			hier.Applies[i] = i == len(hier.Levels)-1 || hier.Applies[i+1] && deref(hier.Levels[i].UseHierarchy, true)
		}
		c := h.cgroupOf(hier)
		c.Levels = nil
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Cgroup) int {
		switch {
		case a.HeadroomBytes == nil || b.HeadroomBytes == nil:
			return boolOrder(a.HeadroomBytes == nil, b.HeadroomBytes == nil)
		case *a.HeadroomBytes < *b.HeadroomBytes:
			return -1
		case *a.HeadroomBytes > *b.HeadroomBytes:
			return 1
		}
		return 0
	})
	return out, nil
}

// boolOrder sorts false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// cgroupOf turns a hierarchy into a Cgroup.
func (h *Host) cgroupOf(hier cgroup.Hierarchy) Cgroup {
	t := hier.Target()
	c := Cgroup{
		Version: string(h.Layout.Memory), Hybrid: h.Layout.Hybrid, Path: t.Path,
		UsageBytes: t.UsageBytes, WorkingSetBytes: t.WorkingSetBytes(), ReclaimableBytes: t.ReclaimableBytes(),
		HighBytes: t.HighBytes, SwapLimitBytes: t.SwapLimitBytes, SwapUsageBytes: t.SwapUsageBytes,
		MemswLimitBytes: t.MemswLimitBytes, MemswUsageBytes: t.MemswUsageBytes, FailCnt: t.FailCnt,
		OOMKillCount: t.OOMKillCount(), OOMGroup: t.OOMGroup, UseHierarchy: t.UseHierarchy, Swappiness: t.Swappiness,
		Kubernetes: kube.Attribute(t.Path), Notes: []string{},
	}
	if t.OOMControl != nil {
		c.OOMKillDisable, c.UnderOOM = &t.OOMControl.OOMKillDisable, &t.OOMControl.UnderOOM
	}
	if e := t.Events; e != nil {
		c.Events = &Events{e.OOM, e.OOMKill, e.OOMGroupKill, e.High, e.Max}
	}
	if i := hier.EffectiveLimit(); i >= 0 {
		c.LimitBytes, c.LimitPath = hier.Levels[i].LimitBytes, &hier.Levels[i].Path
	}
	if i := hier.Binding(); i >= 0 {
		c.HeadroomBytes, c.HeadroomPath = hier.Levels[i].HeadroomBytes(), &hier.Levels[i].Path
	}
	for i, m := range hier.Levels {
		c.Levels = append(c.Levels, Level{Path: m.Path, LimitBytes: m.LimitBytes, UsageBytes: m.UsageBytes,
			WorkingSetBytes: m.WorkingSetBytes(), HeadroomBytes: m.HeadroomBytes(), Applies: hier.Applies[i]})
		for _, n := range m.Notes {
			if m.Path != t.Path {
				n = m.Path + ": " + n
			}
			c.Notes = append(c.Notes, n)
		}
	}
	return c
}

// NextVictim is the process memcg's OOM would kill now: the first of
// Rank(memcg); nil with no eligible process.
func (h *Host) NextVictim(memcg string) (*Victim, error) {
	r, err := h.Rank(memcg, RankOptions{})
	if err != nil {
		return nil, fmt.Errorf("next victim: %w", err)
	}
	for _, p := range r.Processes {
		if p.Rank != nil && *p.Rank == 1 {
			return &Victim{PID: p.PID, Comm: p.Comm, Points: *p.Points, OOMScoreAdj: p.OOMScoreAdj,
				RSSPages: p.RSSPages, TotalPages: r.TotalPages}, nil
		}
	}
	return nil, nil
}
