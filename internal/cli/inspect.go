package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/node"
	"github.com/oomkit/oomkit/internal/proc"
	"github.com/oomkit/oomkit/internal/visible"
)

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
			th, err := kube.ParseEvictionHard(cfg.evictionHard)
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

func runInspect(s *streams, cfg inspectConfig, th kube.EvictionThreshold) error {
	h, err := openHost(cfg.procRoot, cfg.sysRoot, cfg.assumeKernel)
	if err != nil {
		return err
	}
	r, err := h.Inspect(node.Target{PID: cfg.pid, Cgroup: cfg.cgroup, All: cfg.allCgroups}, th)
	switch {
	case errors.Is(err, cgroup.ErrRemoved):
		return fmt.Errorf("%w (list memory cgroups with 'oomkit inspect --all-cgroups')", err)
	case cfg.pid > 0 && proc.IsGone(err):
		return fmt.Errorf("no process %d (list processes with 'oomkit top --once')", cfg.pid)
	case err != nil:
		return err
	}
	if cfg.json {
		if err := json.NewEncoder(s.json()).Encode(r); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	t := s.text()
	writeInspectText(t, r)
	return t.Flush()
}

// vs shows a string from outside oomkit (a process or cgroup name, a
// path, a note quoting one) with its control characters escaped.
func vs(s string) string { return visible.String(s) }

// bytesWord prints a byte count for humans, "unlimited"/"?" for nil.
func bytesWord(p *int64, nilWord string) string {
	if p == nil {
		return nilWord
	}
	return bytesize.Format(*p)
}

func writeInspectText(w io.Writer, r node.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Memory
	fmt.Fprintf(tw, "Node\tkernel %s\n", vs(derefOr(r.KernelVersion, "unknown")))
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", bytesWord(c.HeadroomBytes, "-"), bytesWord(c.LimitBytes, "unlimited"),
				bytesWord(c.WorkingSetBytes, "?"), bytesWord(c.UsageBytes, "?"), intWord(c.OOMKillCount), podLabel(c.Kubernetes), vs(c.Path))
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
				natives = append(natives, fmt.Sprintf("%d %s", p.PID, vs(p.Comm)))
			}
		}
		if len(natives) > 1 {
			fmt.Fprintf(w, "  %d native processes (no managed heap): %s\n    %s\n", len(natives), nativeVerdict, strings.Join(natives, ", "))
		}
		for _, p := range r.Processes {
			rt := "native"
			if p.Runtime != nil {
				rt = vs(*p.Runtime)
			} else if len(natives) > 1 && p.HeapCeilingBytes == nil && len(p.Warnings) == 0 && len(p.Notes) == 0 && p.Verdict == nativeVerdict {
				continue
			}
			fmt.Fprintf(w, "  %d %s (%s, heap ceiling %s; rss %s, commit %s): %s\n", p.PID, vs(p.Comm), rt, bytesWord(p.HeapCeilingBytes, "none"),
				bytesWord(p.RSSBytes, "?"), bytesWord(p.CommitBytes, "?"), vs(p.Verdict))
			for _, x := range p.Warnings {
				fmt.Fprintf(w, "    warning: %s\n", vs(x))
			}
			for _, x := range p.Notes {
				fmt.Fprintf(w, "    note: %s\n", vs(x))
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", vs(n))
	}
}

func writeInspectCgroup(w io.Writer, c node.Cgroup) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ver := c.Version
	if c.Hybrid {
		ver += " (hybrid: v1 controllers and a cgroup2 mount)"
	}
	fmt.Fprintf(tw, "cgroup\t%s\n", vs(c.Path))
	fmt.Fprintf(tw, "  version\t%s\n", ver)
	if k := c.Kubernetes; k != nil {
		fmt.Fprintf(tw, "  kubernetes\tpod %s, container %s (%s level; QoS %s; %s driver)\n", vs(derefOr(k.PodUID, "?")),
			vs(shortID(derefOr(k.ContainerID, "-"), 12)), derefOr(k.CgroupLevel, "?"), derefOr(k.QOSClass, "Guaranteed (no QoS segment)"), derefOr(k.CgroupDriver, "?"))
	}
	lim := "none at any level: only a global OOM or an eviction can stop it"
	if c.LimitBytes != nil {
		lim = fmt.Sprintf("%s, set at %s", bytesize.Format(*c.LimitBytes), vs(*c.LimitPath))
	}
	fmt.Fprintf(tw, "  limit\t%s\n", lim)
	fmt.Fprintf(tw, "  usage\t%s; working set %s (usage − inactive_file); reclaimable page cache %s\n", bytesWord(c.UsageBytes, "?"), bytesWord(c.WorkingSetBytes, "?"), bytesWord(c.ReclaimableBytes, "?"))
	if c.HeadroomBytes != nil {
		fmt.Fprintf(tw, "  headroom\t%s more resident memory before the memcg OOM killer runs (at %s)\n", bytesize.Format(*c.HeadroomBytes), vs(*c.HeadroomPath))
	}
	if v := c.NextVictim; v != nil {
		fmt.Fprintf(tw, "  next victim\tpid %d (%s): %d points, totalpages %d (rss %s, oom_score_adj %d) — see 'oomkit top --cgroup %s'\n",
			v.PID, vs(v.Comm), v.Points, v.TotalPages, pagesWord(v.RSSPages), v.OOMScoreAdj, vs(c.Path))
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
	if c.CommitBytes != nil {
		fmt.Fprintf(tw, "  commit\t%s charged to Committed_AS by its processes (usage %s)\n", bytesize.Format(*c.CommitBytes), bytesWord(c.UsageBytes, "?"))
	}
	for _, s := range c.SoftLimits {
		for _, e := range s.Effects {
			fmt.Fprintf(tw, "  soft limit\t%s: %s\n", vs(s.Path), vs(e))
		}
	}
	tw.Flush()
	if len(c.Levels) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LEVEL\tLIMIT\tUSAGE\tWORKING SET\tHEADROOM")
		for _, l := range c.Levels {
			p := vs(l.Path)
			if !l.Applies {
				p += " (use_hierarchy 0: does not apply)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p, bytesWord(l.LimitBytes, "unlimited"), bytesWord(l.UsageBytes, "?"), bytesWord(l.WorkingSetBytes, "?"), bytesWord(l.HeadroomBytes, "-"))
		}
		tw.Flush()
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", vs(n))
	}
}

// writeInspectCommit prints the node's commit charge lines.
func writeInspectCommit(tw io.Writer, c *node.Commit) {
	if c == nil {
		return
	}
	if c.Explanation != "" {
		fmt.Fprintf(tw, "  commit\t%s\n", c.Explanation)
	}
	var parts []string
	for _, x := range c.TopCommitters {
		parts = append(parts, fmt.Sprintf("%d %s %s (rss %s)", x.PID, vs(x.Comm), bytesize.Format(x.CommitBytes), bytesWord(x.RSSBytes, "?")))
	}
	if len(parts) > 0 {
		fmt.Fprintf(tw, "  committers\t%s\n", strings.Join(parts, ", "))
	}
	switch {
	case c.ForkWouldFail == nil:
	case len(c.ForkWouldFail) == 0:
		fmt.Fprintf(tw, "  fork\tevery process can fork: each one's commit charge fits in what CommitLimit has left\n")
	default:
		parts = parts[:0]
		for _, x := range c.ForkWouldFail {
			parts = append(parts, fmt.Sprintf("%d %s (needs %s)", x.PID, vs(x.Comm), bytesize.Format(x.CommitBytes)))
		}
		fmt.Fprintf(tw, "  fork\tfork() would fail with ENOMEM (\"fork: Cannot allocate memory\") for: %s\n", strings.Join(parts, ", "))
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
