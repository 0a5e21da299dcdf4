package sim

// Schema is the JSON schema name of every record Run emits.
const Schema = "oomkit.sim/v1"

// Event kinds.
const (
	EvAlloc      = "alloc"
	EvENOMEM     = "enomem"
	EvOOMKill    = "oom_kill"
	EvEvict      = "evict"
	EvRuntimeOOM = "runtime_oom"
	EvHigh       = "memory_high"
	EvFork       = "fork"
	EvForkFailed = "fork_failed"
	EvSysctl     = "sysctl"
	EvExit       = "exit"
	EvPanic      = "panic"
	EvEnd        = "end"
)

// Stop reasons in the end record.
const (
	StopMax        = "max"         // the plan finished; the process holds its memory
	StopENOMEM     = "enomem"      // an allocation was refused; the tool stopped there
	StopOOMKill    = "oom_kill"    // killed by the kernel's OOM killer
	StopEvicted    = "evicted"     // its pod was evicted by the kubelet
	StopRuntimeOOM = "runtime_oom" // its runtime refused to grow the heap past its ceiling
	StopExited     = "exited"      // an exit action
	StopRunning    = "running"     // still allocating (or stuck in a fault) when the run ended
)

// Event is one record of the timeline, also the oomkit.sim/v1 JSON record.
// Fields that do not apply to an event are left out; a value that applies
// but is unknown is null.
type Event struct {
	Schema   string  `json:"schema"`
	TSeconds float64 `json:"t_seconds"`
	Event    string  `json:"event"`
	Process  string  `json:"process,omitempty"`
	PID      int     `json:"pid,omitempty"`
	Cgroup   string  `json:"cgroup,omitempty"`
	Pod      string  `json:"pod,omitempty"`

	// alloc, enomem
	Mapping        string `json:"mapping,omitempty"`
	BlockBytes     *int64 `json:"block_bytes,omitempty"`
	TouchedBytes   *int64 `json:"touched_bytes,omitempty"`
	AllocatedBytes *int64 `json:"allocated_bytes,omitempty"`
	ResidentBytes  *int64 `json:"resident_bytes,omitempty"`
	Errno          string `json:"errno,omitempty"`
	// Node-wide commit state after the event (alloc, enomem, fork*, sysctl).
	CommittedASBytes *int64 `json:"committed_as_bytes,omitempty"`
	CommitLimitBytes *int64 `json:"commit_limit_bytes,omitempty"`
	OvercommitMemory *int   `json:"overcommit_memory,omitempty"`

	// oom_kill
	Constraint     string `json:"constraint,omitempty"`
	OOMMemcg       string `json:"oom_memcg,omitempty"`
	TriggerProcess string `json:"trigger_process,omitempty"`
	TriggerPID     int    `json:"trigger_pid,omitempty"`
	OOMScoreAdj    *int   `json:"oom_score_adj,omitempty"`
	Points         *int64 `json:"points,omitempty"`
	TotalPages     *int64 `json:"total_pages,omitempty"`
	Rules          string `json:"rules,omitempty"`
	Tie            *bool  `json:"tie,omitempty"`
	TiedWith       int    `json:"tied_with,omitempty"`
	GroupKill      *bool  `json:"group_kill,omitempty"`
	AllocatingTask *bool  `json:"allocating_task,omitempty"`
	ChosenPID      int    `json:"chosen_pid,omitempty"` // ≤5.0: the process chosen before "sacrifice child"
	FreedBytes     *int64 `json:"freed_bytes,omitempty"`
	ReportIndex    *int   `json:"report_index,omitempty"` // into the run's kernel-format reports

	// evict
	QOSClass             string `json:"qos_class,omitempty"`
	WorkingSetBytes      *int64 `json:"working_set_bytes,omitempty"`
	RequestBytes         *int64 `json:"request_bytes,omitempty"`
	MemoryAvailableBytes *int64 `json:"memory_available_bytes,omitempty"`
	ThresholdBytes       *int64 `json:"threshold_bytes,omitempty"`

	// memory_high: the cgroup over its memory.high with the largest
	// overage after one block, its usage and high, its "high" events so
	// far, the events this block added, and the seconds the allocator
	// was throttled for the block.
	UsageBytes       *int64   `json:"usage_bytes,omitempty"`
	HighBytes        *int64   `json:"high_bytes,omitempty"`
	HighEvents       *int64   `json:"high_events,omitempty"`
	NewHighEvents    *int64   `json:"new_high_events,omitempty"`
	ThrottledSeconds *float64 `json:"throttled_seconds,omitempty"`

	// runtime_oom
	Runtime           string `json:"runtime,omitempty"`
	HeapCeilingBytes  *int64 `json:"heap_ceiling_bytes,omitempty"`
	HeapCeilingSource string `json:"heap_ceiling_source,omitempty"`

	// fork, fork_failed
	ChildProcess string `json:"child_process,omitempty"`
	ChildPID     int    `json:"child_pid,omitempty"`
	ChargedBytes *int64 `json:"charged_bytes,omitempty"`

	// sysctl
	Sysctl map[string]int64 `json:"sysctl,omitempty"`

	// panic
	Message string `json:"message,omitempty"`

	// end
	Processes       []EndProcess `json:"processes,omitempty"`
	MemoryBytes     *int64       `json:"memory_bytes,omitempty"`
	MemoryUsedBytes *int64       `json:"memory_used_bytes,omitempty"`
	SwapBytes       *int64       `json:"swap_bytes,omitempty"`
	SwapUsedBytes   *int64       `json:"swap_used_bytes,omitempty"`
	OOMKills        *int         `json:"oom_kills,omitempty"`
	Evictions       *int         `json:"evictions,omitempty"`
	Panicked        *bool        `json:"panicked,omitempty"`
	// Truncated is true when the run stopped at its step limit.
	Truncated *bool  `json:"truncated,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
}

// EndProcess is one process in the end record.
type EndProcess struct {
	Process        string   `json:"process"`
	PID            int      `json:"pid"`
	Cgroup         string   `json:"cgroup"`
	Pod            *string  `json:"pod"`
	OOMScoreAdj    int      `json:"oom_score_adj"`
	AllocatedBytes int64    `json:"allocated_bytes"`
	CommittedBytes int64    `json:"committed_bytes"`
	ResidentBytes  int64    `json:"resident_bytes"`
	SwapBytes      int64    `json:"swap_bytes"`
	StopReason     string   `json:"stop_reason"`
	StopTSeconds   *float64 `json:"stop_t_seconds"`
	// ThrottledSeconds is the time memory.high throttling put it to
	// sleep (0 without a memory.high).
	ThrottledSeconds float64 `json:"throttled_seconds"`
	// HeapCeilingBytes is the managed runtime's heap ceiling, null when it
	// has none.
	HeapCeilingBytes *int64 `json:"heap_ceiling_bytes"`
}

func i64(v int64) *int64 { return &v }
func iptr(v int) *int    { return &v }
func bptr(v bool) *bool  { return &v }
