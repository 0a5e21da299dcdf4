package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/kube/manifest"
	"github.com/oomkit/oomkit/internal/proc"
	"github.com/oomkit/oomkit/internal/render"
	"github.com/oomkit/oomkit/internal/visible"
)

// Exit code of `oomkit kube` when pods were analysed but some input was
// unreadable or invalid.
const exitKubePartial = 3

// kubeConfig is what the kube command's flags say.
type kubeConfig struct {
	nodeMemory    string
	version       string
	cgroupVersion string
	driver        string
	runtime       string
	singleProcess bool
	usage         []string
	json          bool
	procRoot      string
	// MemoryQoS, mirroring the kubelet config.
	featureGates      string
	throttlingFactor  float64
	reservationPolicy string
	nodeAllocatable   string
}

// newKubeCommand is `oomkit kube`.
func newKubeCommand(s *streams) *cobra.Command {
	cfg := kubeConfig{}
	cmd := &cobra.Command{
		Use:   "kube [FILE|DIR|-]...",
		Short: "What the kubelet and the kernel will do with these manifests: QoS, oom_score_adj, cgroups, heaps, who dies first",
		Long: `kube reads Kubernetes manifests and says, for every container, what the
kubelet and the kernel will do with it when memory runs out:

  - the pod's QoS class, after the defaulting the API server applies (requests
    default from limits, also for workload templates, which nobody else
    defaults; LimitRange defaults when a LimitRange is among the inputs);
    status.qosClass is honoured as the kubelet does (1.29+);
  - the memory request and limit, and the oom_score_adj the kubelet of the
    given version writes (-997/-998, the Burstable floor 3/2, node-critical
    pods, the 1.32 sidecar rule, 1.34 pod-level resources);
  - the container's cgroup path for the cgroupfs and systemd drivers;
  - the OOM regime: the whole container killed (cgroup v2, kubelet 1.28+) or a
    single process (cgroup v1, singleProcessOOMKill);
  - the managed runtime's heap ceiling against the limit (.NET, JVM, Go,
    Node.js, from image, command, args and env): does the runtime throw first,
    or does the kernel kill first?
  - MemoryQoS (cgroup v2): the memory.min, memory.low and memory.high the
    kubelet writes for each container, pod and QoS tier, by kubelet version
    and config (--feature-gates MemoryQoS=…, --memory-throttling-factor,
    --memory-reservation-policy); see docs/kube.md for what changed when;
  - warnings, each with the reason and the fix.

It then puts all the pods on one node and prints, side by side, the order in
which the kernel's OOM killer would pick their containers in a node-level OOM
(by oom_score_adj and expected usage) and the order in which the kubelet
would evict the pods under memory pressure (over request first, then lower
priority, then usage above request). Expected usage is --usage where given,
else the memory request, else the limit.

Inputs are YAML or JSON files, several documents per file, List kinds,
'kubectl get pods -o yaml|json' output, and directories (read recursively
for .yaml, .yml and .json). "-" or no argument reads standard input. Pod,
Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
CronJob and PodTemplate are analysed (one pod per workload); LimitRange is
applied; other kinds are skipped with a note.

What was assumed (Kubernetes version, node memory, cgroup version, driver,
runtime) is printed first; --json repeats it in every object.

Exit status:
  0  every input was read and every pod analysed
  1  nothing could be analysed (no pods, or no input could be read)
  2  usage error (bad flag value, unknown --usage target)
  3  pods were analysed, but some input was unreadable or invalid (malformed
     YAML, an invalid quantity, an empty file, a limit below its request);
     each problem is reported on standard error`,
		Example: `  oomkit kube deploy.yaml                        # one file
  oomkit kube k8s/                               # every manifest under a directory
  kubectl get pods -A -o yaml | oomkit kube      # what is running now
  oomkit kube app.yaml --node-memory 16Gi --kubernetes-version 1.30
  oomkit kube app.yaml --usage web/app=1.5Gi     # who dies first if app uses 1.5 GiB
  oomkit kube app.yaml --json | jq 'select(.warnings != [])'
  oomkit kube app.yaml --memory-throttling-factor 0.9 --memory-reservation-policy TieredReservation
  oomkit kube app.yaml --kubernetes-version 1.30 --feature-gates MemoryQoS=true`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKube(s, cmd, cfg, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.nodeMemory, "node-memory", "", "the node's RAM, a Kubernetes quantity, e.g. 16Gi or 64G (default: this machine's MemTotal)")
	f.StringVar(&cfg.version, "kubernetes-version", kube.Newest.String(), "kubelet version whose rules apply, 1.N")
	f.StringVar(&cfg.cgroupVersion, "cgroup-version", "v2", "the node's cgroup version: v1 or v2")
	f.StringVar(&cfg.driver, "cgroup-driver", kube.DriverSystemd, "the kubelet's cgroup driver for the path shown in the table: systemd or cgroupfs")
	f.StringVar(&cfg.runtime, "runtime", kube.RuntimeContainerd, "container runtime where a pod's status does not say: containerd, cri-o or docker")
	f.BoolVar(&cfg.singleProcess, "single-process-oom-kill", false, "the kubelet's singleProcessOOMKill setting (1.32+; default: unset)")
	f.StringArrayVar(&cfg.usage, "usage", nil, "expected memory use of a container, POD/CONTAINER=QUANTITY or NAMESPACE/POD/CONTAINER=QUANTITY, e.g. web/app=1.5Gi (repeatable)")
	f.BoolVar(&cfg.json, "json", false, "print one oomkit.container/v1 JSON object per container (JSON Lines)")
	f.StringVar(&cfg.procRoot, "proc-root", proc.DefaultRoot, "where proc(5) is mounted, for MemTotal")
	f.StringVar(&cfg.featureGates, "feature-gates", "", "kubelet feature gates oomkit models, KEY=BOOL,…: MemoryQoS (default off before 1.37, on from 1.37), PodLevelResources (on from 1.34)")
	f.Float64Var(&cfg.throttlingFactor, "memory-throttling-factor", 0, "the kubelet's memoryThrottlingFactor, in (0, 1] (default: 0.8 before 1.27, 0.9 to 1.36, unset from 1.37)")
	f.StringVar(&cfg.reservationPolicy, "memory-reservation-policy", kube.ReservationNone, "the kubelet's memoryReservationPolicy (1.36+): None or TieredReservation")
	f.StringVar(&cfg.nodeAllocatable, "node-allocatable", "", "the node's allocatable memory, a Kubernetes quantity, which memory.high of a container without a limit is computed from (default: --node-memory)")
	return cmd
}

func runKube(s *streams, cmd *cobra.Command, cfg kubeConfig, args []string) error {
	as, err := resolveKube(cmd, cfg)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		if isTerminalReader(s.in) {
			return usageError("no manifests given: name files or directories, or pipe them in with -")
		}
		args = []string{"-"}
	}
	var m manifest.Manifests
	manifest.ReadPaths(args, s.in, &m)
	if err := checkUsageTargets(cfg.usage, as.Options.UsageBytes, &m); err != nil {
		return err
	}
	a := kube.Analyze(m.Workloads, m.LimitRanges, as.Options)
	if len(a.Pods) == 0 {
		// Nothing to show: only the reasons, on standard error.
		if len(m.Errors) == 0 {
			return fmt.Errorf("no pods or workloads in the input (%d object(s) of other kinds skipped): give Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob or PodTemplate manifests", len(m.Skipped))
		}
		for _, e := range m.Errors {
			fmt.Fprintf(s.err, "oomkit: %s\n", visible.String(e.Error()))
		}
		return silentExit{ExitError}
	}

	if cfg.json {
		err = render.KubeJSON(s.json(), a, as)
	} else {
		t := s.text()
		if err = render.KubeText(t, a, as); err == nil {
			err = t.Flush()
		}
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	for _, note := range m.Skipped {
		fmt.Fprintf(s.err, "oomkit: note: %s\n", visible.String(note))
	}
	for _, e := range m.Errors {
		fmt.Fprintf(s.err, "oomkit: %s\n", visible.String(e.Error()))
	}
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			for _, w := range c.Warnings {
				if w.Error {
					fmt.Fprintf(s.err, "oomkit: %s: %s/%s: %s\n", visible.String(p.Source.String()), render.PodName(p), visible.String(c.Container), visible.String(w.Message))
				}
			}
		}
	}
	if len(m.Errors) > 0 || a.Invalid > 0 {
		return silentExit{exitKubePartial}
	}
	return nil
}

// resolveKube turns flags into options, reading MemTotal when
// --node-memory is not given.
func resolveKube(cmd *cobra.Command, cfg kubeConfig) (render.KubeSetup, error) {
	var as render.KubeSetup
	v, err := kube.ParseVersion(cfg.version)
	if err != nil {
		return as, usageError("--kubernetes-version: %v", err)
	}
	as.Options.Version = v
	as.VersionFrom = "given"
	if !cmd.Flags().Changed("kubernetes-version") {
		as.VersionFrom = "the newest oomkit models"
	}
	switch strings.TrimPrefix(cfg.cgroupVersion, "v") {
	case "1":
		as.Options.CgroupVersion = 1
	case "2":
		as.Options.CgroupVersion = 2
	default:
		return as, usageError("--cgroup-version %q: want v1 or v2", cfg.cgroupVersion)
	}
	switch cfg.driver {
	case kube.DriverSystemd, kube.DriverCgroupfs:
		as.Driver = cfg.driver
	default:
		return as, usageError("--cgroup-driver %q: want systemd or cgroupfs", cfg.driver)
	}
	switch cfg.runtime {
	case kube.RuntimeContainerd, kube.RuntimeCRIO, kube.RuntimeDocker:
		as.Options.Runtime = cfg.runtime
	case "crio":
		as.Options.Runtime = kube.RuntimeCRIO
	default:
		return as, usageError("--runtime %q: want containerd, cri-o or docker", cfg.runtime)
	}
	if cmd.Flags().Changed("single-process-oom-kill") {
		if !v.AtLeast(32) {
			// KubeletConfiguration.singleProcessOOMKill came in 1.32 (PR #126096).
			return as, usageError("--single-process-oom-kill: the kubelet has this setting since 1.32, and --kubernetes-version is %s (leave the flag out, or give 1.32 or later)", v)
		}
		b := cfg.singleProcess
		as.Options.SingleProcessOOMKill = &b
	}
	if cfg.nodeMemory != "" {
		n, err := bytesize.ParseQuantity(cfg.nodeMemory)
		if err != nil {
			return as, usageError("--node-memory: %v", err)
		}
		if n == 0 {
			return as, usageError("--node-memory 0: give the node's memory, e.g. 16Gi or 64G")
		}
		as.Options.NodeMemoryBytes, as.NodeMemoryFrom = n, "given"
	} else {
		fs, err := proc.NewFS(cfg.procRoot)
		var mi proc.Meminfo
		if err == nil {
			mi, err = fs.Meminfo()
		}
		if err != nil || mi.MemTotalKB == nil || *mi.MemTotalKB <= 0 {
			if err == nil {
				err = fmt.Errorf("no MemTotal in %s/meminfo", cfg.procRoot)
			}
			return as, fmt.Errorf("%w (pass --node-memory SIZE)", err)
		}
		as.Options.NodeMemoryBytes, as.NodeMemoryFrom = *mi.MemTotalKB*1024, "this machine's MemTotal"
	}
	if err := resolveMemoryQoS(cmd, cfg, &as.Options); err != nil {
		return as, err
	}
	as.Options.UsageBytes = map[string]int64{}
	for _, u := range cfg.usage {
		key, size, ok := strings.Cut(u, "=")
		parts := strings.Split(key, "/")
		if !ok || len(parts) < 2 || len(parts) > 3 || slicesContainsEmpty(parts) {
			return as, usageError("--usage %q: want POD/CONTAINER=SIZE or NAMESPACE/POD/CONTAINER=SIZE, e.g. web/app=1.5Gi", u)
		}
		n, err := bytesize.ParseQuantity(size)
		if err != nil {
			return as, usageError("--usage %s: %v", key, err)
		}
		as.Options.UsageBytes[key] = n
	}
	return as, nil
}

// resolveMemoryQoS reads the MemoryQoS flags, which mirror the kubelet
// config's featureGates, memoryThrottlingFactor and memoryReservationPolicy.
func resolveMemoryQoS(cmd *cobra.Command, cfg kubeConfig, opt *kube.Options) error {
	q := &opt.MemoryQoS
	if cfg.featureGates != "" {
		for _, kv := range strings.Split(cfg.featureGates, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			b, err := strconv.ParseBool(v)
			if !ok || err != nil {
				return usageError("--feature-gates %q: want KEY=true|false, e.g. MemoryQoS=true", kv)
			}
			switch k {
			case "MemoryQoS":
				q.Gate = &b
			case "PodLevelResources":
				q.PodLevelResources = &b
			default:
				return usageError("--feature-gates: oomkit models MemoryQoS and PodLevelResources, not %q", k)
			}
		}
	}
	if cmd.Flags().Changed("memory-throttling-factor") {
		f := cfg.throttlingFactor
		q.ThrottlingFactor = &f
	}
	q.ReservationPolicy = cfg.reservationPolicy
	if err := q.Validate(opt.Version); err != nil {
		return usageError("%v", err)
	}
	if cfg.nodeAllocatable != "" {
		n, err := bytesize.ParseQuantity(cfg.nodeAllocatable)
		if err != nil {
			return usageError("--node-allocatable: %v", err)
		}
		if n == 0 {
			return usageError("--node-allocatable 0: give the node's allocatable memory, e.g. 15Gi")
		}
		opt.NodeAllocatableBytes = n
	}
	return nil
}

func slicesContainsEmpty(xs []string) bool {
	for _, x := range xs {
		if x == "" {
			return true
		}
	}
	return false
}

// checkUsageTargets fails when a --usage names no container in the input.
func checkUsageTargets(flags []string, usage map[string]int64, m *manifest.Manifests) error {
	if len(usage) == 0 {
		return nil
	}
	known := map[string]bool{}
	for _, w := range m.Workloads {
		p := w.Pod
		for _, cs := range [][]string{containerNames(p.Spec.InitContainers), containerNames(p.Spec.Containers)} {
			for _, c := range cs {
				known[p.Name+"/"+c] = true
				known[p.Namespace+"/"+p.Name+"/"+c] = true
			}
		}
	}
	for _, f := range flags {
		key, _, _ := strings.Cut(f, "=")
		if !known[key] {
			return usageError("--usage %s: no such container in the input (name it POD/CONTAINER, where POD is the workload's name)", key)
		}
	}
	return nil
}

func containerNames(cs []corev1.Container) []string {
	names := make([]string, len(cs))
	for i := range cs {
		names[i] = cs[i].Name
	}
	return names
}

// isTerminalReader reports whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
