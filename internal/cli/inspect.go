package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/node"
	"github.com/oomkit/oomkit/internal/proc"
	"github.com/oomkit/oomkit/internal/render"
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
	render.InspectText(t, r)
	return t.Flush()
}
