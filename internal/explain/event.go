// Package explain turns one parsed kernel OOM report into an Event: the
// report's facts in the oomkit.event/v1 JSON contract (docs/event.md), the
// kernel's victim choice recomputed from the task table under the rules of
// the kernel that printed it, the Kubernetes attribution of the memcg paths,
// whether Kubernetes will report OOMKilled, and a summary in plain words.
// It does no I/O.
package explain

import "github.com/oomkit/oomkit/internal/kube"

// Schema is the value of every Event's "schema" field.
const Schema = "oomkit.event/v1"

// Event is one OOM-killer invocation, explained. Values the report does
// not carry are nil (JSON null), never a made-up zero or "".
type Event struct {
	Schema string `json:"schema"`
	Source Source `json:"source"`
	// Time is RFC 3339, null when the log does not say; TimeFrom says how
	// it is known.
	Time     *string     `json:"time"`
	TimeFrom *TimeSource `json:"time_from"`
	// TimeText is the first line's stamp as printed.
	TimeText      *string  `json:"time_text"`
	UptimeSeconds *float64 `json:"uptime_seconds"`
	Host          *string  `json:"host"`
	// BootID is the journal's _BOOT_ID of the report's first line.
	BootID *string `json:"boot_id"`
	// KmsgSeq is the /dev/kmsg sequence number of the first record.
	KmsgSeq       *uint64 `json:"kmsg_seq"`
	KernelVersion *string `json:"kernel_version"`
	// KernelVersionFrom says whether the report printed KernelVersion or
	// it was inferred from another line of the same log, host and boot.
	KernelVersionFrom *KernelVersionSource `json:"kernel_version_from"`
	Trigger           *Trigger             `json:"trigger"`
	Constraint        *string              `json:"constraint"`
	// OOMKind is null when the report does not say.
	OOMKind   *OOMKind `json:"oom_kind"`
	OOMMemcg  *string  `json:"oom_memcg"`
	TaskMemcg *string  `json:"task_memcg"`
	// CgroupVersion is "v1" or "v2" when the report's format shows it
	// (memory+swap/kmem lines are v1; a swap: line or memory.oom.group is
	// v2), else null.
	CgroupVersion *string  `json:"cgroup_version"`
	Memcg         *Memcg   `json:"memcg"`
	MemInfo       *MemInfo `json:"mem_info"`
	Tasks         []Task   `json:"tasks"`
	Victims       []Victim `json:"victims"`
	GroupKillPath *string  `json:"group_kill_path"`
	NoKillable    bool     `json:"no_killable"`
	Panic         *string  `json:"panic"`
	Truncated     bool     `json:"truncated"`
	Kubernetes    *Kube    `json:"kubernetes"`
	Analysis      Analysis `json:"analysis"`
	Warnings      []string `json:"warnings"`
}

// Source is where the report was read.
type Source struct {
	// File is the path given, "-" for standard input, "/dev/kmsg", or
	// "sample:NAME" for a bundled sample.
	File string `json:"file"`
	// Line and LastLine are the 1-based lines of the report's first and
	// last line in File; null for /dev/kmsg, where records have sequence
	// numbers instead.
	Line     *int `json:"line"`
	LastLine *int `json:"last_line"`
}

// Trigger is the task whose allocation invoked the OOM killer.
type Trigger struct {
	Comm *string `json:"comm"`
	PID  *int    `json:"pid"`
	// GFPMask is the mask as printed ("0xcc0"), GFPFlags its decoded flags.
	GFPMask     *string  `json:"gfp_mask"`
	GFPFlags    []string `json:"gfp_flags"`
	Order       *int     `json:"order"`
	OOMScoreAdj *int     `json:"oom_score_adj"`
}

// Memcg is the usage block of a memcg OOM, in kB as printed.
type Memcg struct {
	UsageKB     *int64 `json:"usage_kb"`
	LimitKB     *int64 `json:"limit_kb"`
	Failcnt     *int64 `json:"failcnt"`
	SwapUsageKB *int64 `json:"swap_usage_kb"`
	SwapLimitKB *int64 `json:"swap_limit_kb"`
	// SwapIsMemsw is true when the swap values are the v1 memory+swap
	// totals rather than swap alone.
	SwapIsMemsw bool    `json:"swap_is_memsw"`
	KmemUsageKB *int64  `json:"kmem_usage_kb"`
	StatsPath   *string `json:"stats_path"`
}

// MemInfo is what a global OOM's Mem-Info block says about the machine.
type MemInfo struct {
	RAMPages      *int64 `json:"ram_pages"`
	ReservedPages *int64 `json:"reserved_pages"`
	SwapTotalKB   *int64 `json:"swap_total_kb"`
	SwapFreeKB    *int64 `json:"swap_free_kb"`
	FreePages     *int64 `json:"free_pages"`
}

// Task is one task-table row, in pages as printed (pgtables in bytes).
type Task struct {
	PID           int    `json:"pid"`
	UID           *int   `json:"uid"`
	TGID          *int   `json:"tgid"`
	TotalVMPages  int64  `json:"total_vm_pages"`
	RSSPages      int64  `json:"rss_pages"`
	RSSAnonPages  *int64 `json:"rss_anon_pages"`
	RSSFilePages  *int64 `json:"rss_file_pages"`
	RSSShmemPages *int64 `json:"rss_shmem_pages"`
	PgtablesBytes *int64 `json:"pgtables_bytes"`
	SwapEnts      *int64 `json:"swapents"`
	OOMScoreAdj   int    `json:"oom_score_adj"`
	Name          string `json:"name"`
}

// Victim is one process the kernel killed ("Killed process" line).
type Victim struct {
	PID         int     `json:"pid"`
	Comm        string  `json:"comm"`
	TotalVMKB   *int64  `json:"total_vm_kb"`
	AnonRSSKB   *int64  `json:"anon_rss_kb"`
	FileRSSKB   *int64  `json:"file_rss_kb"`
	ShmemRSSKB  *int64  `json:"shmem_rss_kb"`
	UID         *int    `json:"uid"`
	PgtablesKB  *int64  `json:"pgtables_kb"`
	OOMScoreAdj *int    `json:"oom_score_adj"`
	Reaped      bool    `json:"reaped"`
	ReapFailed  bool    `json:"reap_failed"`
	GroupKill   bool    `json:"group_kill"`
	Message     *string `json:"message"`
	// From says which line showed the kill.
	From VictimSource `json:"from"`
}

// Kube is the Kubernetes reading of the report's memcg paths: the
// victim's memcg (task_memcg, or oom_memcg when task_memcg is not a
// kubelet path) in the shape every schema shares, and what the report
// adds to it.
type Kube struct {
	kube.Attribution
	// LimitScope is the level whose limit was hit: "container", "pod",
	// "qos", "node" (the kubepods cgroup, node allocatable) or "global"
	// (the machine ran out, no cgroup limit).
	LimitScope *string `json:"limit_scope"`
	// VictimOOMScoreAdjMeaning says who the kubelet gives the victim's
	// oom_score_adj to.
	VictimOOMScoreAdjMeaning *string `json:"victim_oom_score_adj_meaning"`
	// OOMKilled is whether the container status will say OOMKilled:
	// "yes", "no", or "unknown" when the report cannot tell;
	// OOMKilledReason says why, and what cannot be known.
	OOMKilled string `json:"oomkilled"`
	// VictimFirstListed is whether the victim is the first task the
	// table lists for its container (after the sandbox): on 5.3+ tables
	// are in join order, so the first is usually the main process. Null
	// when the table cannot say.
	VictimFirstListed *bool  `json:"victim_first_listed"`
	OOMKilledReason   string `json:"oomkilled_reason"`
}

// Analysis is the kernel's choice recomputed from the task table.
type Analysis struct {
	// Rules is the rule set used ("leader_clamp", "clamp_last_wins",
	// "signed"), null when the kernel version is unknown and the rule
	// sets disagree.
	Rules *string `json:"rules"`
	// RulesKernels names the kernels of Rules ("5.3–5.8/5.4.0–5.4.143").
	RulesKernels *string `json:"rules_kernels"`
	// RulesFrom says where Rules came from.
	RulesFrom RulesSource `json:"rules_from"`
	// AssumedKernel is the --assume-kernel version, null otherwise.
	AssumedKernel *string `json:"assumed_kernel"`
	// TotalPages is the denominator of the oom_score_adj term, and
	// TotalPagesFrom where it came from; both null when unknown.
	TotalPages     *int64            `json:"total_pages"`
	TotalPagesFrom *TotalPagesSource `json:"total_pages_from"`
	// Ranking is the top of the kernel's order of preference, best first.
	Ranking []Rank `json:"ranking"`
	// PredictedVictimPID is the task the model picks, null when there is
	// no task table or no eligible task.
	PredictedVictimPID *int `json:"predicted_victim_pid"`
	// KernelVictimPID is the task the kernel chose (the first, non-group
	// Killed line, or the chosen process of a ≤5.0 "Kill process" line).
	KernelVictimPID *int `json:"kernel_victim_pid"`
	// Agrees is whether the prediction is the kernel's choice; null when
	// either is unknown.
	Agrees *bool `json:"agrees"`
	// DecidedBy is what decided the choice, null without a prediction.
	DecidedBy *Decision `json:"decided_by"`
	// Clamped is how many eligible tasks had their badness raised to 1.
	Clamped int `json:"clamped"`
	// TiedWith is how many eligible tasks share the top score.
	TiedWith int `json:"tied_with"`
	// ByRules is the prediction under every rule set, and whether it
	// matches the kernel's choice.
	ByRules []RulesOutcome `json:"by_rules"`
	// Reasons are the likely reasons when the prediction and the kernel
	// disagree, or caveats on the prediction.
	Reasons []string `json:"reasons"`
	Summary string   `json:"summary"`
}

// Rank is one task in the kernel's order of preference.
type Rank struct {
	PID         int    `json:"pid"`
	Name        string `json:"name"`
	Points      int64  `json:"points"`
	RawPoints   int64  `json:"raw_points"`
	OOMScoreAdj int    `json:"oom_score_adj"`
	RSSPages    int64  `json:"rss_pages"`
	Rank        int    `json:"rank"`
}

// RulesOutcome is the victim one rule set predicts.
type RulesOutcome struct {
	Rules              string `json:"rules"`
	Kernels            string `json:"kernels"`
	PredictedVictimPID *int   `json:"predicted_victim_pid"`
	Agrees             *bool  `json:"agrees"`
}

// TimeSource says how Event.Time is known.
type TimeSource string

const (
	// TimeFromStamp: the log prefix printed a full date.
	TimeFromStamp TimeSource = "stamp"
	// TimeFromJournal: the journal's __REALTIME_TIMESTAMP, the time
	// journald received the record.
	TimeFromJournal TimeSource = "journal"
	// TimeYearInferred: a syslog stamp without a year, the year taken
	// from the file's modification time.
	TimeYearInferred TimeSource = "year_inferred"
)

// KernelVersionSource says where Event.KernelVersion came from.
type KernelVersionSource string

const (
	// KernelVersionFromReport: the report's own stack dump banner.
	KernelVersionFromReport KernelVersionSource = "report"
	// KernelVersionInferred: another line of the same log, host and boot
	// (another report's banner, before or after it, or the boot's "Linux
	// version" line).
	KernelVersionInferred KernelVersionSource = "inferred"
)

// VictimSource says which line showed that a process was killed.
type VictimSource string

const (
	// VictimFromKilledLine: its "Killed process" line.
	VictimFromKilledLine VictimSource = "killed_line"
	// VictimFromSummaryLine: only the oom-kill: summary line (task=,
	// pid=, uid=); the Killed line is not in the log.
	VictimFromSummaryLine VictimSource = "summary_line"
)

// OOMKind is which memory ran out.
type OOMKind string

const (
	// OOMMemcg: a memory cgroup hit its limit.
	OOMMemcg OOMKind = "memcg"
	// OOMGlobal: the machine, a cpuset or a mempolicy's nodes ran out.
	OOMGlobal OOMKind = "global"
)

// RulesSource says where Analysis.Rules came from.
type RulesSource string

const (
	// RulesFromReport: the release the report's stack dump banner printed.
	RulesFromReport RulesSource = "report"
	// RulesFromAssumed: --assume-kernel.
	RulesFromAssumed RulesSource = "assumed"
	// RulesFromFormat: no release printed, but the report's format
	// allows only one rule set.
	RulesFromFormat RulesSource = "format"
	// RulesFromUnknown: every rule set the format allows was tried.
	RulesFromUnknown RulesSource = "unknown"
)

// TotalPagesSource says where Analysis.TotalPages came from, and how sure
// it is (constrained_alloc(), mm/oom_kill.c).
type TotalPagesSource string

const (
	// TotalPagesMemcgLimit: the memcg limit, and no swap can be added.
	TotalPagesMemcgLimit TotalPagesSource = "memcg_limit"
	// TotalPagesMemcgLimitNoSwap: the memcg limit; the swap the kernel
	// may add is not printed, so none is assumed.
	TotalPagesMemcgLimitNoSwap TotalPagesSource = "memcg_limit_no_swap_assumed"
	// TotalPagesRAMPlusSwap: Mem-Info's RAM less reserved, plus swap.
	TotalPagesRAMPlusSwap TotalPagesSource = "ram_plus_swap"
	// TotalPagesRAMPlusSwapApprox: the same, an upper bound for a cpuset
	// or mempolicy OOM, which counts only the allowed nodes.
	TotalPagesRAMPlusSwapApprox TotalPagesSource = "ram_plus_swap_approx"
)

// Decision is what decided the kernel's choice.
type Decision string

const (
	// DecidedByScore: the victim had the most points.
	DecidedByScore Decision = "score"
	// DecidedByTieLastScanned: tasks tied; the last one scanned wins (5.3+).
	DecidedByTieLastScanned Decision = "tie_last_scanned"
	// DecidedByTieFirstScanned: tasks tied; the first one scanned keeps
	// the slot (≤5.2).
	DecidedByTieFirstScanned Decision = "tie_first_scanned"
	// DecidedByAllocatingTask: vm.oom_kill_allocating_task=1 killed the
	// allocating task without a scan.
	DecidedByAllocatingTask Decision = "oom_kill_allocating_task"
)
