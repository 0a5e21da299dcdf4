package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

func init() {
	register(newInspectCommand)
}

// inspectConfig is what the inspect flags ask for.
type inspectConfig struct {
	procRoot, sysRoot string
	pid               int
	cgroup            string
	allCgroups        bool
	evictionHard      string
	assumeKernel      string
	json              bool
}

// maxInspectProcesses bounds the runtime table of one cgroup.
const maxInspectProcesses = 200

func newInspectCommand(s *streams) *cobra.Command {
	var cfg inspectConfig
	cmd := &cobra.Command{
		Use:   "inspect [--pid N | --cgroup PATH | --all-cgroups] [--json]",
		Short: "How close is this node, cgroup or process to ENOMEM, an OOM kill, an eviction — and why",
		Long: `inspect answers "how close is this to ENOMEM, to an OOM kill, to an
eviction, and why?" for the node and for one memory cgroup.

Node: the overcommit mode and what it means now — mode 2 (never): how many
bytes are left before allocations fail with ENOMEM (CommitLimit −
Committed_AS), and that fork() charges a big process's private memory again;
mode 0 (guess, the default): the largest single allocation this kernel
version allows; mode 1 (always): no commit limit. CommitLimit is shown as
the kernel reports it and as recomputed from MemTotal, huge pages,
overcommit_ratio/kbytes and swap. Also MemTotal, MemAvailable, swap, PSI
memory pressure (when the kernel has it) and the OOM kills since boot.

cgroup (default: oomkit's own; --pid N: that process's; --cgroup PATH):
the cgroup version as mounted (v1, v2, hybrid), the limit at every level up
to the root and the one that binds, usage, working set as kubelet computes
it (usage − inactive_file), reclaimable page cache, swap, v1 failcnt and
oom_control, v2 memory.events and memory.oom.group. Headroom is limit −
working set at the binding level: how much more can stay resident before
the memcg OOM killer runs. On a Kubernetes node it also shows the headroom
to kubelet's hard eviction threshold (--eviction-hard) and what the cgroup
path says about the pod, container and QoS class.

Runtimes: for each process in the cgroup, the managed heap ceiling its
runtime will set (.NET GCHeapHardLimit/Percent, JVM -Xmx/MaxRAMPercentage,
GOMEMLIMIT, Node.js --max-old-space-size) against the limit, and who stops
first: the runtime (an exception) or the kernel (a kill).

--all-cgroups lists every memory cgroup, least headroom first.

Exit status:
  0  success (partial results carry notes)
  1  error (no /proc, no such pid or cgroup)
  2  usage error`,
		Example: `  oomkit inspect                       # this node and oomkit's own cgroup
  oomkit inspect --pid 4242            # the cgroup of process 4242
  oomkit inspect --cgroup /kubepods/burstable/pod0057cc81-ea16-463a-96c2-fc74acfb9c47
  oomkit inspect --all-cgroups         # every memory cgroup, least headroom first
  oomkit inspect --json | jq .overcommit
  oomkit inspect --eviction-hard 'memory.available<500Mi' --proc-root /host/proc --sys-root /host/sys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, set := range []bool{cmd.Flags().Changed("pid"), cfg.cgroup != "", cfg.allCgroups} {
				if set {
					n++
				}
			}
			if n > 1 {
				return usageError("--pid, --cgroup and --all-cgroups are alternatives: give one")
			}
			if cmd.Flags().Changed("pid") && cfg.pid <= 0 {
				return usageError("--pid %d: want a process ID > 0", cfg.pid)
			}
			th, err := parseEvictionHard(cfg.evictionHard)
			if err != nil {
				return usageError("--eviction-hard: %v", err)
			}
			return runInspect(s, cfg, th)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.pid, "pid", 0, "inspect the memory cgroup of this process and its runtime")
	f.StringVar(&cfg.cgroup, "cgroup", "", "inspect this memory cgroup (a path such as /kubepods/burstable/pod…)")
	f.BoolVar(&cfg.allCgroups, "all-cgroups", false, "list every memory cgroup, least headroom first")
	f.StringVar(&cfg.evictionHard, "eviction-hard", "memory.available<100Mi", "kubelet's hard eviction threshold for memory (QUANTITY or PERCENT of capacity)")
	f.StringVar(&cfg.assumeKernel, "assume-kernel", "", "use this kernel version's rules instead of the running kernel's")
	f.BoolVar(&cfg.json, "json", false, "print one oomkit.inspect/v1 JSON object (see docs/inspect.md)")
	f.StringVar(&cfg.procRoot, "proc-root", "/proc", "where proc(5) is mounted (e.g. the host's, in a container)")
	f.StringVar(&cfg.sysRoot, "sys-root", "/sys", "where sysfs is mounted")
	return cmd
}

// evictionThreshold is a parsed memory.available threshold.
type evictionThreshold struct {
	Text    string
	Bytes   *int64   // absolute
	Percent *float64 // of capacity
}

// parseEvictionHard reads kubelet's "memory.available<100Mi" (or "<10%");
// other signals may be listed, comma-separated, and are ignored.
func parseEvictionHard(s string) (evictionThreshold, error) {
	for _, part := range strings.Split(s, ",") {
		sig, val, ok := strings.Cut(strings.TrimSpace(part), "<")
		if !ok {
			return evictionThreshold{}, fmt.Errorf("%q: want SIGNAL<QUANTITY, e.g. memory.available<100Mi", part)
		}
		if sig != "memory.available" {
			continue
		}
		th := evictionThreshold{Text: "memory.available<" + val}
		if p, ok := strings.CutSuffix(val, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return evictionThreshold{}, fmt.Errorf("%q: want a percentage 0–100", val)
			}
			th.Percent = &f
			return th, nil
		}
		q, err := resource.ParseQuantity(val)
		if err != nil || q.Sign() < 0 {
			return evictionThreshold{}, fmt.Errorf("%q: want a quantity such as 100Mi or 1Gi", val)
		}
		n := q.Value()
		th.Bytes = &n
		return th, nil
	}
	return evictionThreshold{}, fmt.Errorf("%q has no memory.available threshold", s)
}

// The oomkit.inspect/v1 object (docs/inspect.md).
type inspectReport struct {
	Schema        string            `json:"schema"`
	KernelVersion string            `json:"kernel_version"`
	Memory        inspectMemory     `json:"memory"`
	Overcommit    inspectOvercommit `json:"overcommit"`
	Pressure      *inspectPressure  `json:"pressure"`
	OOMKillTotal  *int64            `json:"oom_kill_total"`
	OOMSysctls    inspectOOMSysctls `json:"oom_sysctls"`
	Commit        *inspectCommit    `json:"commit"`
	Cgroup        *inspectCgroup    `json:"cgroup"`
	// Cgroups is set by --all-cgroups instead of Cgroup.
	Cgroups   []inspectCgroup  `json:"cgroups,omitempty"`
	Eviction  inspectEviction  `json:"eviction"`
	Processes []inspectProcess `json:"processes"`
	Gone      int              `json:"processes_exited"`
	Notes     []string         `json:"notes"`
}

type inspectMemory struct {
	MemTotalKB     *int64 `json:"mem_total_kb"`
	MemAvailableKB *int64 `json:"mem_available_kb"`
	SwapTotalKB    *int64 `json:"swap_total_kb"`
	SwapFreeKB     *int64 `json:"swap_free_kb"`
	HugetlbKB      *int64 `json:"hugetlb_kb"`
}

type inspectOvercommit struct {
	Mode     *int64 `json:"mode"`
	ModeName string `json:"mode_name"`
	Ratio    *int64 `json:"ratio"`
	KBytes   *int64 `json:"kbytes"`
	// CommitLimitKB is /proc/meminfo's; ComputedCommitLimitKB is
	// vm_commit_limit() recomputed from the inputs.
	CommitLimitKB         *int64 `json:"commit_limit_kb"`
	ComputedCommitLimitKB *int64 `json:"computed_commit_limit_kb"`
	CommitLimitMatches    *bool  `json:"commit_limit_matches"`
	CommittedASKB         *int64 `json:"committed_as_kb"`
	// HeadroomKB is CommitLimit − Committed_AS in mode 2, else null.
	HeadroomKB *int64 `json:"headroom_kb"`
	// LargestAllocationKB is mode 0's single-request ceiling on 5.2+
	// (RAM + swap), else null.
	LargestAllocationKB *int64 `json:"largest_allocation_kb"`
	Summary             string `json:"summary"`
}

type inspectPressure struct {
	SomeAvg10   *float64 `json:"some_avg10"`
	SomeAvg60   *float64 `json:"some_avg60"`
	SomeAvg300  *float64 `json:"some_avg300"`
	SomeTotalUS *uint64  `json:"some_total_us"`
	FullAvg10   *float64 `json:"full_avg10"`
	FullAvg60   *float64 `json:"full_avg60"`
	FullAvg300  *float64 `json:"full_avg300"`
	FullTotalUS *uint64  `json:"full_total_us"`
}

type inspectOOMSysctls struct {
	OOMKillAllocatingTask *int64 `json:"oom_kill_allocating_task"`
	PanicOnOOM            *int64 `json:"panic_on_oom"`
}

type inspectLevel struct {
	Path            string `json:"path"`
	LimitBytes      *int64 `json:"limit_bytes"`
	UsageBytes      *int64 `json:"usage_bytes"`
	WorkingSetBytes *int64 `json:"working_set_bytes"`
	HeadroomBytes   *int64 `json:"headroom_bytes"`
	Applies         bool   `json:"applies"`
}

type inspectCgroup struct {
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
	Events           *struct {
		OOM          *int64 `json:"oom"`
		OOMKill      *int64 `json:"oom_kill"`
		OOMGroupKill *int64 `json:"oom_group_kill"`
		High         *int64 `json:"high"`
		Max          *int64 `json:"max"`
	} `json:"events"`
	OOMGroup     *bool  `json:"oom_group"`
	UseHierarchy *bool  `json:"use_hierarchy"`
	Swappiness   *int64 `json:"swappiness"`
	// CommitBytes is the commit charge of its processes (and its
	// descendants'); SoftLimits its and its ancestors' soft limits.
	CommitBytes *int64             `json:"commit_bytes"`
	SoftLimits  []inspectSoftLimit `json:"soft_limits"`
	Levels      []inspectLevel     `json:"levels,omitempty"`
	// NextVictim is the process the memcg OOM killer would choose now
	// (the cgroup and its descendants, ranked as 'oomkit top --cgroup'
	// does); null without a limit or with no eligible process.
	NextVictim *inspectVictim     `json:"next_victim,omitempty"`
	Kubernetes *inspectKubernetes `json:"kubernetes"`
	Notes      []string           `json:"notes"`
}

type inspectVictim struct {
	PID         int    `json:"pid"`
	Comm        string `json:"comm"`
	Points      int64  `json:"points"`
	OOMScoreAdj int64  `json:"oom_score_adj"`
	RSSPages    int64  `json:"rss_pages"`
	TotalPages  int64  `json:"total_pages"`
}

type inspectKubernetes struct {
	PodUID      *string `json:"pod_uid"`
	ContainerID *string `json:"container_id"`
	QOSClass    *string `json:"qos_class"`
	Driver      *string `json:"driver"`
	Runtime     *string `json:"runtime"`
	Scope       *string `json:"scope"`
}

type inspectEviction struct {
	Threshold           string `json:"threshold"`
	ThresholdBytes      *int64 `json:"threshold_bytes"`
	KubernetesNode      bool   `json:"kubernetes_node"`
	CapacityBytes       *int64 `json:"capacity_bytes"`
	NodeWorkingSetBytes *int64 `json:"node_working_set_bytes"`
	AvailableBytes      *int64 `json:"available_bytes"`
	HeadroomBytes       *int64 `json:"headroom_bytes"`
	Summary             string `json:"summary"`
}

type inspectProcess struct {
	PID              int      `json:"pid"`
	Comm             string   `json:"comm"`
	RSSBytes         *int64   `json:"rss_bytes"`
	CommitBytes      *int64   `json:"commit_bytes"`
	Runtime          *string  `json:"runtime"`
	HeapCeilingBytes *int64   `json:"heap_ceiling_bytes"`
	Source           string   `json:"source"`
	Verdict          string   `json:"verdict"`
	Warnings         []string `json:"warnings"`
	Notes            []string `json:"notes"`
}

func runInspect(s *streams, cfg inspectConfig, th evictionThreshold) error {
	h, err := loadHost(cfg.procRoot, cfg.sysRoot, cfg.assumeKernel)
	if err != nil {
		return err
	}
	r := inspectReport{Schema: "oomkit.inspect/v1", KernelVersion: h.version.String(), Notes: slices.Clone(h.notes), Processes: []inspectProcess{}}
	inspectNode(h, &r)
	cen := inspectCommitCensus(h)
	inspectCommitNode(h, &r, cen)
	switch {
	case h.layout.Memory == "":
		if cfg.cgroup != "" || cfg.allCgroups {
			return fmt.Errorf("%w", cgroup.ErrNoMemoryController)
		}
		r.Notes = append(r.Notes, "no memory cgroup controller: only the node is inspected")
	case cfg.allCgroups:
		paths, err := cgroup.Walk(h.layout)
		if err != nil {
			return err
		}
		// Read each cgroup once; a cgroup's headroom is the least over
		// itself and its ancestors (a pod's limit binds its containers).
		read := map[string]cgroup.Memory{}
		for _, p := range paths {
			m, err := cgroup.ReadMemory(h.layout.Dir(p), p, h.layout.Memory)
			if err != nil {
				continue // removed between the walk and the read
			}
			read[p] = m
			hier := cgroup.Hierarchy{}
			for q := p; ; q = path.Dir(q) {
				if a, ok := read[q]; ok {
					hier.Levels = append([]cgroup.Memory{a}, hier.Levels...)
				}
				if q == "/" {
					break
				}
			}
			hier.Applies = make([]bool, len(hier.Levels))
			for i := len(hier.Levels) - 1; i >= 0; i-- {
				hier.Applies[i] = i == len(hier.Levels)-1 || hier.Applies[i+1] && (hier.Levels[i].UseHierarchy == nil || *hier.Levels[i].UseHierarchy)
			}
			c := inspectOneCgroup(h, hier)
			c.Levels = nil
			c.CommitBytes = inspectCgroupCommit(h, p, cen)
			c.SoftLimits = inspectSoftLimits(h, p, c.UsageBytes)
			r.Cgroups = append(r.Cgroups, c)
		}
		slices.SortStableFunc(r.Cgroups, func(a, b inspectCgroup) int {
			switch {
			case a.HeadroomBytes == nil && b.HeadroomBytes == nil:
				return 0
			case a.HeadroomBytes == nil:
				return 1
			case b.HeadroomBytes == nil:
				return -1
			case *a.HeadroomBytes < *b.HeadroomBytes:
				return -1
			case *a.HeadroomBytes > *b.HeadroomBytes:
				return 1
			}
			return 0
		})
	default:
		target := cfg.cgroup
		if target == "" {
			target, err = cgroup.ProcessMemcg(h.roots, h.layout, cfg.pid)
			if err != nil && cfg.pid == 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("own memory cgroup unknown (%v): only the node is inspected; use --cgroup or --pid", err))
				break
			}
			if err != nil {
				if proc.IsGone(err) {
					return fmt.Errorf("no process %d (list processes with 'oomkit top --once')", cfg.pid)
				}
				return err
			}
		}
		hier, err := cgroup.ReadHierarchy(h.layout, target)
		if err != nil {
			if errors.Is(err, cgroup.ErrRemoved) {
				return fmt.Errorf("%w (list memory cgroups with 'oomkit inspect --all-cgroups')", err)
			}
			return err
		}
		c := inspectOneCgroup(h, hier)
		if c.LimitBytes != nil {
			c.NextVictim = inspectNextVictim(h, &c, target)
		}
		c.CommitBytes = inspectCgroupCommit(h, target, cen)
		c.SoftLimits = inspectSoftLimits(h, target, c.UsageBytes)
		r.Cgroup = &c
		inspectRuntimes(h, &r, hier, cfg.pid)
		for i := range r.Processes {
			p := &r.Processes[i]
			if cm, ok := cen.ByPID[p.PID]; ok {
				p.CommitBytes = ptrTo(cm.Bytes)
			}
			if t, err := h.fs.ReadTask(p.PID, proc.TaskOptions{}); err == nil && t.Status.HasMM {
				p.RSSBytes = ptrTo(t.Status.RSSPages(pageKB) * mm.PageSize)
			}
		}
	}
	inspectEvict(h, &r, th)
	if r.Notes == nil {
		r.Notes = []string{}
	}
	if cfg.json {
		enc := json.NewEncoder(s.out)
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	writeInspectText(s.out, r)
	return nil
}

// inspectNode fills the node-wide part: meminfo, overcommit, PSI, sysctls.
func inspectNode(h *topHost, r *inspectReport) {
	m := h.mem
	r.Memory = inspectMemory{MemTotalKB: m.MemTotalKB, MemAvailableKB: m.MemAvailableKB, SwapTotalKB: m.SwapTotalKB, SwapFreeKB: m.SwapFreeKB, HugetlbKB: m.HugetlbKB}
	vm := h.fs.SysVM()
	r.Notes = append(r.Notes, vm.Notes...)
	r.OOMSysctls = inspectOOMSysctls{OOMKillAllocatingTask: vm.OOMKillAllocatingTask, PanicOnOOM: vm.PanicOnOOM}
	oc := inspectOvercommit{Mode: vm.OvercommitMemory, Ratio: vm.OvercommitRatio, KBytes: vm.OvercommitKBytes,
		CommitLimitKB: m.CommitLimitKB, CommittedASKB: m.CommittedASKB}
	ramPages := derefOr(m.MemTotalKB, 0) / pageKB
	swapPages := derefOr(m.SwapTotalKB, 0) / pageKB
	if oc.Ratio != nil {
		hp := m.HugetlbPages(pageKB)
		if hp == nil {
			hp = ptrTo(int64(0))
		}
		c := mm.CommitLimitPages(ramPages, *hp, swapPages, mm.Overcommit{Ratio: *oc.Ratio, KBytes: derefOr(oc.KBytes, 0)}) * pageKB
		oc.ComputedCommitLimitKB = &c
		if oc.CommitLimitKB != nil {
			oc.CommitLimitMatches = ptrTo(c == *oc.CommitLimitKB)
			if c != *oc.CommitLimitKB {
				r.Notes = append(r.Notes, fmt.Sprintf("CommitLimit is %d kB but vm_commit_limit() of the inputs gives %d kB: memory or huge pages changed between the reads, or this kernel computes it differently", *oc.CommitLimitKB, c))
			}
		}
	}
	mode := derefOr(oc.Mode, -1)
	switch mode {
	case mm.OvercommitNever:
		oc.ModeName = "never"
		if oc.CommitLimitKB != nil && oc.CommittedASKB != nil {
			left := *oc.CommitLimitKB - *oc.CommittedASKB
			oc.HeadroomKB = &left
			oc.Summary = fmt.Sprintf("mode 2 (never overcommit): %s of address space can still be committed before mmap, brk and fork fail with ENOMEM (CommitLimit %s − Committed_AS %s; non-root callers lose admin_reserve_kbytes and ~3%% of their own size more). fork() charges the parent's private writable memory again, so a process with more committed than that cannot fork, even to exec a tiny program.",
				kube.FormatBytes(left*1024), kube.FormatBytes(*oc.CommitLimitKB*1024), kube.FormatBytes(*oc.CommittedASKB*1024))
		} else {
			oc.Summary = "mode 2 (never overcommit): CommitLimit or Committed_AS is missing from /proc/meminfo, so the bytes left cannot be computed"
		}
	case mm.OvercommitGuess:
		oc.ModeName = "guess"
		if g := mm.GuessMaxPages(h.version, ramPages, swapPages); g >= 0 {
			kb := g * pageKB
			oc.LargestAllocationKB = &kb
			oc.Summary = fmt.Sprintf("mode 0 (heuristic, the default): on %s one allocation fails with ENOMEM only if it alone is larger than RAM + swap (%s); Committed_AS (%s) is not checked, so memory runs out at page-fault time and the OOM killer, not ENOMEM, decides",
				h.version, kube.FormatBytes(kb*1024), kbWord(oc.CommittedASKB))
		} else {
			oc.Summary = fmt.Sprintf("mode 0 (heuristic): kernel %s (before 5.2) refuses a request larger than free memory + page cache + free swap at that moment; the ceiling moves with usage and is not computed here", h.version)
		}
	case mm.OvercommitAlways:
		oc.ModeName = "always"
		oc.Summary = "mode 1 (always overcommit): no commit limit; allocations never fail for lack of memory, and running out is left to the OOM killer"
	default:
		oc.Summary = "vm.overcommit_memory could not be read"
	}
	r.Overcommit = oc
	if p, err := h.fs.MemoryPressure(); err != nil {
		r.Notes = append(r.Notes, err.Error())
	} else if p == nil {
		r.Notes = append(r.Notes, "no memory pressure information (PSI): the kernel is older than 4.20, built without CONFIG_PSI, or booted with psi=0")
	} else {
		ip := &inspectPressure{}
		if p.Some != nil {
			ip.SomeAvg10, ip.SomeAvg60, ip.SomeAvg300, ip.SomeTotalUS = &p.Some.Avg10, &p.Some.Avg60, &p.Some.Avg300, &p.Some.TotalMicroseconds
		}
		if p.Full != nil {
			ip.FullAvg10, ip.FullAvg60, ip.FullAvg300, ip.FullTotalUS = &p.Full.Avg10, &p.Full.Avg60, &p.Full.Avg300, &p.Full.TotalMicroseconds
		}
		r.Pressure = ip
	}
	if vs, err := h.fs.VMStat(); err != nil {
		r.Notes = append(r.Notes, err.Error())
	} else {
		r.OOMKillTotal = vs.OOMKill
	}
}

// inspectOneCgroup turns a hierarchy into the report's cgroup object.
func inspectOneCgroup(h *topHost, hier cgroup.Hierarchy) inspectCgroup {
	t := hier.Target()
	c := inspectCgroup{
		Version: string(h.layout.Memory), Hybrid: h.layout.Hybrid, Path: t.Path,
		UsageBytes: t.UsageBytes, WorkingSetBytes: t.WorkingSetBytes(), ReclaimableBytes: t.ReclaimableBytes(),
		HighBytes: t.HighBytes, SwapLimitBytes: t.SwapLimitBytes, SwapUsageBytes: t.SwapUsageBytes,
		MemswLimitBytes: t.MemswLimitBytes, MemswUsageBytes: t.MemswUsageBytes, FailCnt: t.FailCnt,
		OOMKillCount: t.OOMKillCount(), OOMGroup: t.OOMGroup, UseHierarchy: t.UseHierarchy, Swappiness: t.Swappiness,
		Notes: []string{},
	}
	if t.OOMControl != nil {
		c.OOMKillDisable, c.UnderOOM = &t.OOMControl.OOMKillDisable, &t.OOMControl.UnderOOM
	}
	if e := t.Events; e != nil {
		c.Events = &struct {
			OOM          *int64 `json:"oom"`
			OOMKill      *int64 `json:"oom_kill"`
			OOMGroupKill *int64 `json:"oom_group_kill"`
			High         *int64 `json:"high"`
			Max          *int64 `json:"max"`
		}{e.OOM, e.OOMKill, e.OOMGroupKill, e.High, e.Max}
	}
	if i := hier.EffectiveLimit(); i >= 0 {
		c.LimitBytes, c.LimitPath = hier.Levels[i].LimitBytes, &hier.Levels[i].Path
	}
	if i := hier.Binding(); i >= 0 {
		c.HeadroomBytes, c.HeadroomPath = hier.Levels[i].HeadroomBytes(), &hier.Levels[i].Path
	}
	for i, m := range hier.Levels {
		c.Levels = append(c.Levels, inspectLevel{Path: m.Path, LimitBytes: m.LimitBytes, UsageBytes: m.UsageBytes,
			WorkingSetBytes: m.WorkingSetBytes(), HeadroomBytes: m.HeadroomBytes(), Applies: hier.Applies[i]})
		for _, n := range m.Notes {
			if m.Path != t.Path {
				n = m.Path + ": " + n
			}
			c.Notes = append(c.Notes, n)
		}
	}
	if info, ok := kube.ParsePath(t.Path); ok {
		k := &inspectKubernetes{}
		for dst, v := range map[**string]string{&k.PodUID: info.PodUID, &k.ContainerID: info.ContainerID, &k.QOSClass: info.QOSClass,
			&k.Driver: info.Driver, &k.Runtime: info.Runtime, &k.Scope: info.Scope} {
			if v != "" {
				*dst = ptrTo(v)
			}
		}
		c.Kubernetes = k
	}
	return c
}

// inspectNextVictim ranks the cgroup's processes for its memcg OOM.
func inspectNextVictim(h *topHost, c *inspectCgroup, target string) *inspectVictim {
	snap, err := h.snapshot(target)
	if err != nil {
		c.Notes = append(c.Notes, fmt.Sprintf("next victim: %v", err))
		return nil
	}
	for _, row := range snap.Rows {
		if row.Rank != nil && *row.Rank == 1 {
			return &inspectVictim{PID: row.PID, Comm: row.Comm, Points: *row.Points, OOMScoreAdj: row.OOMScoreAdj,
				RSSPages: row.RSSPages, TotalPages: row.TotalPages}
		}
	}
	return nil
}

// inspectRuntimes lists the processes of the cgroup (subtree) with the
// heap ceiling their runtime will set against the effective limit.
func inspectRuntimes(h *topHost, r *inspectReport, hier cgroup.Hierarchy, pid int) {
	var pids []int
	var walk func(p string)
	walk = func(p string) {
		dir := h.layout.Dir(p)
		pids = append(pids, cgroup.PIDs(dir)...)
		for _, c := range cgroup.Children(dir) {
			walk(path.Join(p, c))
		}
	}
	walk(hier.Target().Path)
	if pid > 0 {
		// The asked-for process first.
		if i := slices.Index(pids, pid); i > 0 {
			pids = append([]int{pid}, slices.Delete(pids, i, i+1)...)
		} else if i < 0 {
			pids = append([]int{pid}, pids...)
		}
	}
	if len(pids) > maxInspectProcesses {
		r.Notes = append(r.Notes, fmt.Sprintf("the cgroup has %d processes: the runtime table shows the first %d", len(pids), maxInspectProcesses))
		pids = pids[:maxInspectProcesses]
	}
	var limit int64
	if i := hier.EffectiveLimit(); i >= 0 {
		limit = *hier.Levels[i].LimitBytes
	}
	node := derefOr(h.mem.MemTotalKB, 0) * 1024
	for _, p := range pids {
		ip := inspectProcess{PID: p, Warnings: []string{}, Notes: []string{}}
		comm, err := h.fs.Comm(p)
		if err != nil {
			if proc.IsGone(err) {
				r.Gone++
				continue
			}
			ip.Notes = append(ip.Notes, fmt.Sprintf("comm: %v", err))
		}
		ip.Comm = comm
		argv, err := h.fs.Cmdline(p)
		if err != nil {
			if proc.IsGone(err) {
				r.Gone++
				continue
			}
			ip.Notes = append(ip.Notes, fmt.Sprintf("cmdline: %v", err))
		}
		env, err := h.fs.Environ(p)
		switch {
		case err == nil:
		case proc.IsGone(err):
			r.Gone++
			continue
		case proc.IsPermission(err):
			ip.Notes = append(ip.Notes, fmt.Sprintf("environ of pid %d: permission denied (run as root or as its user to see DOTNET_*, JAVA_TOOL_OPTIONS, GOMEMLIMIT, NODE_OPTIONS); runtime judged from the command line only", p))
			env = nil
		default:
			ip.Notes = append(ip.Notes, fmt.Sprintf("environ: %v", err))
			env = nil
		}
		heap := kube.HeapCeiling(kube.Process{Argv: argv, Env: env}, limit, node)
		if heap.Runtime != "" {
			ip.Runtime = ptrTo(heap.Runtime)
		}
		ip.HeapCeilingBytes = heap.CeilingBytes
		ip.Source = heap.Source
		ip.Verdict = kube.Verdict(heap, limit)
		if heap.Warnings != nil {
			ip.Warnings = heap.Warnings
		}
		r.Processes = append(r.Processes, ip)
	}
	if r.Gone > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d processes exited while they were read and are not listed", r.Gone))
	}
}

// inspectEvict computes kubelet's memory.available signal and the headroom
// to the hard eviction threshold.
func inspectEvict(h *topHost, r *inspectReport, th evictionThreshold) {
	ev := inspectEviction{Threshold: th.Text}
	capacity := derefOr(h.mem.MemTotalKB, 0) * 1024
	ev.CapacityBytes = &capacity
	switch {
	case th.Bytes != nil:
		ev.ThresholdBytes = th.Bytes
	case th.Percent != nil:
		ev.ThresholdBytes = ptrTo(int64(float64(capacity) * *th.Percent / 100))
	}
	if h.layout.Memory != "" {
		for _, k := range []string{"/kubepods", "/kubepods.slice"} {
			if _, err := os.Stat(h.layout.Dir(k)); err == nil {
				ev.KubernetesNode = true
			}
		}
		// The node's working set is the root cgroup's (cAdvisor's "/").
		root, err := cgroup.ReadMemory(h.layout.Dir("/"), "/", h.layout.Memory)
		if err == nil {
			usage := root.UsageBytes
			if usage == nil && h.mem.MemFreeKB != nil {
				// v2 root: no memory.current; runc uses MemTotal − MemFree.
				usage = ptrTo(capacity - *h.mem.MemFreeKB*1024)
				if root.InactiveFileBytes == nil && h.mem.InactiveFileKB != nil {
					root.InactiveFileBytes = ptrTo(*h.mem.InactiveFileKB * 1024)
				}
			}
			root.UsageBytes = usage
			ev.NodeWorkingSetBytes = root.WorkingSetBytes()
		}
	}
	if ev.NodeWorkingSetBytes != nil {
		ev.AvailableBytes = ptrTo(capacity - *ev.NodeWorkingSetBytes)
		if ev.ThresholdBytes != nil {
			ev.HeadroomBytes = ptrTo(*ev.AvailableBytes - *ev.ThresholdBytes)
		}
	}
	switch {
	case ev.HeadroomBytes == nil:
		ev.Summary = "the node's working set could not be read, so kubelet's memory.available is unknown"
	case !ev.KubernetesNode:
		ev.Summary = fmt.Sprintf("not a Kubernetes node (no kubepods cgroup); if it were, kubelet would start evicting pods after %s more working set (%s)", kube.FormatBytes(*ev.HeadroomBytes), th.Text)
	case *ev.HeadroomBytes <= 0:
		ev.Summary = fmt.Sprintf("memory.available (%s) is below %s: kubelet is evicting pods (MemoryPressure)", kube.FormatBytes(*ev.AvailableBytes), th.Text)
	default:
		ev.Summary = fmt.Sprintf("kubelet starts evicting pods after %s more node working set (memory.available %s, threshold %s)", kube.FormatBytes(*ev.HeadroomBytes), kube.FormatBytes(*ev.AvailableBytes), th.Text)
	}
	r.Eviction = ev
}

// bytesWord prints a byte count for humans, "unlimited"/"?" for nil.
func bytesWord(p *int64, nilWord string) string {
	if p == nil {
		return nilWord
	}
	return kube.FormatBytes(*p)
}

func writeInspectText(w io.Writer, r inspectReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Memory
	fmt.Fprintf(tw, "Node\tkernel %s\n", r.KernelVersion)
	fmt.Fprintf(tw, "  memory\t%s total, %s available; swap %s total, %s free\n", kbWord(m.MemTotalKB), kbWord(m.MemAvailableKB), kbWord(m.SwapTotalKB), kbWord(m.SwapFreeKB))
	oc := r.Overcommit
	fmt.Fprintf(tw, "  overcommit\tvm.overcommit_memory=%s ratio=%s kbytes=%s\n", intWord(oc.Mode), intWord(oc.Ratio), intWord(oc.KBytes))
	match := ""
	if oc.CommitLimitMatches != nil {
		match = map[bool]string{true: " (recomputed: the same)", false: fmt.Sprintf(" (recomputed: %s — they differ)", kbWord(oc.ComputedCommitLimitKB))}[*oc.CommitLimitMatches]
	}
	fmt.Fprintf(tw, "  CommitLimit\t%s%s; Committed_AS %s\n", kbWord(oc.CommitLimitKB), match, kbWord(oc.CommittedASKB))
	fmt.Fprintf(tw, "  \t%s\n", oc.Summary)
	writeInspectCommit(tw, r.Commit)
	if p := r.Pressure; p != nil && p.SomeAvg10 != nil {
		fmt.Fprintf(tw, "  pressure\tsome %.2f%% %.2f%% %.2f%% (10s/60s/300s)", *p.SomeAvg10, *p.SomeAvg60, *p.SomeAvg300)
		if p.FullAvg10 != nil {
			fmt.Fprintf(tw, ", full %.2f%% %.2f%% %.2f%%", *p.FullAvg10, *p.FullAvg60, *p.FullAvg300)
		}
		fmt.Fprintln(tw)
	} else {
		fmt.Fprintf(tw, "  pressure\tunknown (no PSI)\n")
	}
	fmt.Fprintf(tw, "  OOM kills\t%s since boot; panic_on_oom=%s oom_kill_allocating_task=%s\n", intWord(r.OOMKillTotal), intWord(r.OOMSysctls.PanicOnOOM), intWord(r.OOMSysctls.OOMKillAllocatingTask))
	fmt.Fprintf(tw, "  eviction\t%s\n", r.Eviction.Summary)
	tw.Flush()
	if c := r.Cgroup; c != nil {
		fmt.Fprintln(w)
		writeInspectCgroup(w, *c)
	}
	if len(r.Cgroups) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HEADROOM\tLIMIT\tWORKING SET\tUSAGE\tOOM KILLS\tPOD/CONTAINER\tCGROUP")
		for _, c := range r.Cgroups {
			pod := "-"
			if k := c.Kubernetes; k != nil && k.PodUID != nil {
				pod = "pod" + shortID(*k.PodUID, 8)
				if k.ContainerID != nil {
					pod += "/" + shortID(*k.ContainerID, 12)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", bytesWord(c.HeadroomBytes, "-"), bytesWord(c.LimitBytes, "unlimited"),
				bytesWord(c.WorkingSetBytes, "?"), bytesWord(c.UsageBytes, "?"), intWord(c.OOMKillCount), pod, c.Path)
		}
		tw.Flush()
	}
	if len(r.Processes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Runtimes")
		// Native processes with nothing to say each get the same verdict:
		// one line names them all.
		var natives []string
		nativeVerdict := ""
		for _, p := range r.Processes {
			if p.Runtime == nil && p.HeapCeilingBytes == nil && len(p.Warnings) == 0 && len(p.Notes) == 0 &&
				(nativeVerdict == "" || p.Verdict == nativeVerdict) {
				nativeVerdict = p.Verdict
				natives = append(natives, fmt.Sprintf("%d %s", p.PID, p.Comm))
			}
		}
		if len(natives) > 1 {
			fmt.Fprintf(w, "  %d native processes (no managed heap): %s\n    %s\n", len(natives), nativeVerdict, strings.Join(natives, ", "))
		}
		for _, p := range r.Processes {
			rt := "native"
			if p.Runtime != nil {
				rt = *p.Runtime
			} else if len(natives) > 1 && p.HeapCeilingBytes == nil && len(p.Warnings) == 0 && len(p.Notes) == 0 && p.Verdict == nativeVerdict {
				continue
			}
			fmt.Fprintf(w, "  %d %s (%s, heap ceiling %s; rss %s, commit %s): %s\n", p.PID, p.Comm, rt, bytesWord(p.HeapCeilingBytes, "none"),
				bytesWord(p.RSSBytes, "?"), bytesWord(p.CommitBytes, "?"), p.Verdict)
			for _, x := range p.Warnings {
				fmt.Fprintf(w, "    warning: %s\n", x)
			}
			for _, x := range p.Notes {
				fmt.Fprintf(w, "    note: %s\n", x)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func writeInspectCgroup(w io.Writer, c inspectCgroup) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ver := c.Version
	if c.Hybrid {
		ver += " (hybrid: v1 controllers and a cgroup2 mount)"
	}
	fmt.Fprintf(tw, "cgroup\t%s\n", c.Path)
	fmt.Fprintf(tw, "  version\t%s\n", ver)
	if k := c.Kubernetes; k != nil {
		fmt.Fprintf(tw, "  kubernetes\tpod %s, container %s (%s level; QoS %s; %s driver)\n", derefOr(k.PodUID, "?"),
			shortID(derefOr(k.ContainerID, "-"), 12), derefOr(k.Scope, "?"), derefOr(k.QOSClass, "Guaranteed (no QoS segment)"), derefOr(k.Driver, "?"))
	}
	lim := "none at any level: only a global OOM or an eviction can stop it"
	if c.LimitBytes != nil {
		lim = fmt.Sprintf("%s, set at %s", kube.FormatBytes(*c.LimitBytes), *c.LimitPath)
	}
	fmt.Fprintf(tw, "  limit\t%s\n", lim)
	fmt.Fprintf(tw, "  usage\t%s; working set %s (usage − inactive_file); reclaimable page cache %s\n", bytesWord(c.UsageBytes, "?"), bytesWord(c.WorkingSetBytes, "?"), bytesWord(c.ReclaimableBytes, "?"))
	if c.HeadroomBytes != nil {
		fmt.Fprintf(tw, "  headroom\t%s more resident memory before the memcg OOM killer runs (at %s)\n", kube.FormatBytes(*c.HeadroomBytes), *c.HeadroomPath)
	}
	if v := c.NextVictim; v != nil {
		fmt.Fprintf(tw, "  next victim\tpid %d (%s): %d points, totalpages %d (rss %s, oom_score_adj %d) — see 'oomkit top --cgroup %s'\n",
			v.PID, v.Comm, v.Points, v.TotalPages, pagesWord(v.RSSPages), v.OOMScoreAdj, c.Path)
	}
	switch c.Version {
	case "v1":
		fmt.Fprintf(tw, "  v1\tfailcnt %s, oom_kill %s, oom_kill_disable %s, under_oom %s, use_hierarchy %s, swappiness %s, memsw limit %s\n",
			intWord(c.FailCnt), intWord(c.OOMKillCount), boolWord(c.OOMKillDisable), boolWord(c.UnderOOM), boolWord(c.UseHierarchy), intWord(c.Swappiness), bytesWord(c.MemswLimitBytes, "unlimited"))
	case "v2":
		if e := c.Events; e != nil {
			fmt.Fprintf(tw, "  events\toom %s, oom_kill %s, oom_group_kill %s, high %s, max %s\n", intWord(e.OOM), intWord(e.OOMKill), intWord(e.OOMGroupKill), intWord(e.High), intWord(e.Max))
		}
		fmt.Fprintf(tw, "  v2\tmemory.high %s, swap.max %s (using %s), oom.group %s\n", bytesWord(c.HighBytes, "max"), bytesWord(c.SwapLimitBytes, "max"), bytesWord(c.SwapUsageBytes, "?"), boolWord(c.OOMGroup))
	}
	writeInspectSoftLimits(tw, c)
	tw.Flush()
	if len(c.Levels) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LEVEL\tLIMIT\tUSAGE\tWORKING SET\tHEADROOM")
		for _, l := range c.Levels {
			p := l.Path
			if !l.Applies {
				p += " (use_hierarchy 0: does not apply)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p, bytesWord(l.LimitBytes, "unlimited"), bytesWord(l.UsageBytes, "?"), bytesWord(l.WorkingSetBytes, "?"), bytesWord(l.HeadroomBytes, "-"))
		}
		tw.Flush()
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func intWord(p *int64) string {
	if p == nil {
		return "?"
	}
	return strconv.FormatInt(*p, 10)
}

func boolWord(p *bool) string {
	if p == nil {
		return "?"
	}
	return map[bool]string{true: "1", false: "0"}[*p]
}
