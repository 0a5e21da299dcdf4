// Package sim is oomkit's deterministic simulator: a node's RAM and swap,
// the overcommit sysctls, a kernel version, a memory-cgroup tree, pods,
// processes with allocation plans, managed runtimes and the kubelet's
// eviction loop, run forward on a simulated clock with the same kernel
// model (internal/mm) that explain and lab check against real kernels.
//
// A Scenario comes from YAML (Load) or from the built-in set named after
// the article's figures and movies (Builtin); Run plays it and returns the
// timeline of Events and the kernel-format OOM reports it produced.
package sim

import (
	"time"

	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
)

// Scenario is one simulated system and what its processes do.
type Scenario struct {
	// Name and Description are free text; built-ins carry the article's
	// figure or movie name.
	Name        string
	Description string
	// Kernel selects the version rules of overcommit and the OOM killer.
	Kernel    mm.Version
	Node      Node
	Sysctl    Sysctl
	Baseline  Baseline
	Kubelet   *Kubelet // nil: no kubelet, no eviction
	Cgroups   []Cgroup
	Pods      []Pod
	Processes []Process
	// Duration is how long the simulated clock runs at most.
	Duration time.Duration
}

// Node is the machine.
type Node struct {
	MemoryBytes  int64 // MemTotal
	SwapBytes    int64 // total swap
	HugetlbBytes int64 // persistent huge pages, taken from RAM
	// CgroupV2 selects the cgroup v2 rules (memory.oom.group, swap.max,
	// the v2 report lines); false is cgroup v1, as in the article.
	CgroupV2 bool
}

// Sysctl is the vm.* state at the start of the run.
type Sysctl struct {
	OvercommitMemory      int   // vm.overcommit_memory: 0, 1 or 2
	OvercommitRatio       int64 // vm.overcommit_ratio, percent
	OvercommitKBytes      int64 // vm.overcommit_kbytes; replaces the ratio when set
	OOMKillAllocatingTask bool  // vm.oom_kill_allocating_task
	PanicOnOOM            int   // vm.panic_on_oom: 0, 1 or 2
	AdminReserveKB        int64 // vm.admin_reserve_kbytes
	UserReserveKB         int64 // vm.user_reserve_kbytes
}

// Baseline is what the OS and everything not simulated already hold.
type Baseline struct {
	CommittedBytes int64 // in Committed_AS
	ResidentBytes  int64 // in RAM, never reclaimed
	PageCacheBytes int64 // in RAM, reclaimed before any OOM
}

// Kubelet is the node agent's eviction configuration.
type Kubelet struct {
	Version string
	// EvictionHardBytes is the memory.available hard threshold
	// (evictionHard: memory.available<100Mi).
	EvictionHardBytes int64
	// Housekeeping is how often the eviction manager looks (10s).
	Housekeeping time.Duration
	// MemoryQoS is the kubelet's MemoryQoS configuration (feature gate,
	// memoryThrottlingFactor, memoryReservationPolicy): on cgroup v2 the
	// pods' container and pod cgroups get the memory.high it writes.
	MemoryQoS kube.MemoryQoSConfig
}

// Unlimited is a memory.max / swap.max of "max".
const Unlimited int64 = -1

// Cgroup is one memory cgroup. Parents that the file does not list are
// created without a limit.
type Cgroup struct {
	Path           string
	MemoryMaxBytes int64 // Unlimited or bytes
	SwapMaxBytes   int64 // v2 memory.swap.max / v1 memsw limit minus memory; Unlimited or bytes
	OOMGroup       bool  // memory.oom.group (v2)
	// MemoryHighBytes is v2 memory.high in bytes (0 or Unlimited: max):
	// above it the cgroup's allocators reclaim and are throttled, never
	// killed.
	MemoryHighBytes int64
	PageCacheBytes  int64 // reclaimable page cache charged here at the start

	origin string // key path of the pod a generated cgroup comes from
}

// Pod is a pod spec as far as memory goes: its cgroups and oom_score_adj
// follow the kubelet's rules.
type Pod struct {
	Name string
	UID  string
	// Priority is spec.priority; pods at 2000000000 or more, and pods
	// marked Critical (static/mirror), are never evicted.
	Priority   int64
	Critical   bool
	Containers []Container
}

// Container is one container's resources. Zero means not set.
type Container struct {
	Name                     string
	RequestBytes, LimitBytes int64
	CPURequestMilli          int64
	CPULimitMilli            int64
}

// Runtime kinds.
const (
	RuntimeNative = "native"
	RuntimeDotnet = "dotnet"
	RuntimeJVM    = "jvm"
	RuntimeGo     = "go"
)

// Runtime is the process's language runtime and its heap knobs.
type Runtime struct {
	Kind string // native, dotnet, jvm, go
	// DotnetHeapHardLimitPercent is System.GC.HeapHardLimitPercent
	// (decimal, as in runtimeconfig.json); 0: the default.
	DotnetHeapHardLimitPercent int64
	// DotnetHeapHardLimitBytes is System.GC.HeapHardLimit; 0: unset.
	DotnetHeapHardLimitBytes int64
	// JVMMaxRAMPercentage is -XX:MaxRAMPercentage; 0: the default (25).
	JVMMaxRAMPercentage float64
	// JVMXmxBytes is -Xmx; 0: unset.
	JVMXmxBytes int64
	// GoMemLimitBytes is GOMEMLIMIT; 0: unset.
	GoMemLimitBytes int64
	// Env is extra KEY=VALUE environment the runtime reads
	// (DOTNET_GCHeapHardLimitPercent=0x4B, JAVA_TOOL_OPTIONS=…).
	Env []string
}

// Process is one simulated process (one thread group).
type Process struct {
	Name string
	PID  int
	UID  int
	// Cgroup is the memcg path; for pod processes it is derived from Pod
	// and Container.
	Cgroup    string
	Pod       string
	Container string
	// OOMScoreAdj is nil when not given: the kubelet's value for pod
	// processes, 0 otherwise.
	OOMScoreAdj *int
	CapSysAdmin bool
	Runtime     Runtime
	Start       time.Duration
	// BaseVSZBytes is address space reserved but never charged (PROT_NONE
	// reservations such as a runtime's); BaseRSSBytes is private memory
	// written at start (the program and its runtime).
	BaseVSZBytes int64
	BaseRSSBytes int64
	Actions      []Action

	pauseOf string // the pod whose sandbox this generated process is
}

// Action kinds.
const (
	ActAlloc  = "alloc"
	ActFork   = "fork"
	ActSleep  = "sleep"
	ActSysctl = "sysctl"
	ActExit   = "exit"
)

// Action is one step of a process's plan.
type Action struct {
	Kind   string
	Alloc  *Alloc
	Fork   *Fork
	Sleep  time.Duration
	Sysctl map[string]int64
}

// Alloc allocates Block bytes Repeat times (0: until stopped), one block
// every Every, writing TouchPercent of each block.
type Alloc struct {
	BlockBytes   int64
	TouchPercent float64
	Every        time.Duration
	Repeat       int
	Mapping      mm.Mapping
}

// Fork is fork(2) of the running process: the child inherits its mappings
// (and charges them again to Committed_AS), its cgroup and oom_score_adj,
// then runs Actions.
type Fork struct {
	Name    string
	PID     int
	Actions []Action
}
