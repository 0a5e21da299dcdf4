package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/kube/manifest"
	"github.com/oomkit/oomkit/internal/proc"
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

// kubeAssumptions is the resolved configuration, printed so the user knows
// what was assumed.
type kubeAssumptions struct {
	opt            kube.Options
	driver         string
	nodeMemoryFrom string
	versionFrom    string
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
	if err := checkUsageTargets(cfg.usage, as.opt.UsageBytes, &m); err != nil {
		return err
	}
	a := kube.Analyze(m.Workloads, m.LimitRanges, as.opt)
	if len(a.Pods) == 0 {
		// Nothing to show: only the reasons, on standard error.
		if len(m.Errors) == 0 {
			return fmt.Errorf("no pods or workloads in the input (%d object(s) of other kinds skipped): give Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob or PodTemplate manifests", len(m.Skipped))
		}
		for _, e := range m.Errors {
			fmt.Fprintf(s.err, "oomkit: %s\n", vs(e.Error()))
		}
		return silentExit{ExitError}
	}

	if cfg.json {
		err = writeKubeJSON(s.json(), a, as)
	} else {
		var buf bytes.Buffer
		writeKubeText(&buf, a, as)
		t := s.text()
		if _, err = t.Write(trimLineEnds(buf.Bytes())); err == nil {
			err = t.Flush()
		}
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	for _, note := range m.Skipped {
		fmt.Fprintf(s.err, "oomkit: note: %s\n", vs(note))
	}
	for _, e := range m.Errors {
		fmt.Fprintf(s.err, "oomkit: %s\n", vs(e.Error()))
	}
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			for _, w := range c.Warnings {
				if w.Error {
					fmt.Fprintf(s.err, "oomkit: %s: %s/%s: %s\n", vs(p.Source.String()), podName(p), vs(c.Container), vs(w.Message))
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
func resolveKube(cmd *cobra.Command, cfg kubeConfig) (kubeAssumptions, error) {
	var as kubeAssumptions
	v, err := kube.ParseVersion(cfg.version)
	if err != nil {
		return as, usageError("--kubernetes-version: %v", err)
	}
	as.opt.Version = v
	as.versionFrom = "given"
	if !cmd.Flags().Changed("kubernetes-version") {
		as.versionFrom = "the newest oomkit models"
	}
	switch strings.TrimPrefix(cfg.cgroupVersion, "v") {
	case "1":
		as.opt.CgroupVersion = 1
	case "2":
		as.opt.CgroupVersion = 2
	default:
		return as, usageError("--cgroup-version %q: want v1 or v2", cfg.cgroupVersion)
	}
	switch cfg.driver {
	case kube.DriverSystemd, kube.DriverCgroupfs:
		as.driver = cfg.driver
	default:
		return as, usageError("--cgroup-driver %q: want systemd or cgroupfs", cfg.driver)
	}
	switch cfg.runtime {
	case kube.RuntimeContainerd, kube.RuntimeCRIO, kube.RuntimeDocker:
		as.opt.Runtime = cfg.runtime
	case "crio":
		as.opt.Runtime = kube.RuntimeCRIO
	default:
		return as, usageError("--runtime %q: want containerd, cri-o or docker", cfg.runtime)
	}
	if cmd.Flags().Changed("single-process-oom-kill") {
		if !v.AtLeast(32) {
			// KubeletConfiguration.singleProcessOOMKill came in 1.32 (PR #126096).
			return as, usageError("--single-process-oom-kill: the kubelet has this setting since 1.32, and --kubernetes-version is %s (leave the flag out, or give 1.32 or later)", v)
		}
		b := cfg.singleProcess
		as.opt.SingleProcessOOMKill = &b
	}
	if cfg.nodeMemory != "" {
		n, err := bytesize.ParseQuantity(cfg.nodeMemory)
		if err != nil {
			return as, usageError("--node-memory: %v", err)
		}
		if n == 0 {
			return as, usageError("--node-memory 0: give the node's memory, e.g. 16Gi or 64G")
		}
		as.opt.NodeMemoryBytes, as.nodeMemoryFrom = n, "given"
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
		as.opt.NodeMemoryBytes, as.nodeMemoryFrom = *mi.MemTotalKB*1024, "this machine's MemTotal"
	}
	if err := resolveMemoryQoS(cmd, cfg, &as.opt); err != nil {
		return as, err
	}
	as.opt.UsageBytes = map[string]int64{}
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
		as.opt.UsageBytes[key] = n
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

func podName(p kube.PodReport) string {
	if p.Namespace == "" {
		return vs(p.Name)
	}
	return vs(p.Namespace + "/" + p.Name)
}

func (as kubeAssumptions) String() string {
	return fmt.Sprintf("Assuming Kubernetes %s (%s), node memory %s (%s), cgroup v%d, %s driver, %s runtime.",
		as.opt.Version, as.versionFrom, bytesize.Format(as.opt.NodeMemoryBytes), as.nodeMemoryFrom,
		as.opt.CgroupVersion, as.driver, as.opt.Runtime)
}

// trimLineEnds drops the spaces tabwriter leaves at the end of lines.
func trimLineEnds(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

// writeKubeText prints the readable report into a buffer.
func writeKubeText(w *bytes.Buffer, a kube.Analysis, as kubeAssumptions) {
	fmt.Fprintln(w, as.String())
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tKIND\tCONTAINER\tTYPE\tQOS\tREQUEST\tLIMIT\tOOM_SCORE_ADJ\tHEAP CEILING\tOOM REGIME")
	for _, p := range a.Pods {
		qos := p.QOSClass
		if p.QOSFromStatus {
			qos += " (status)"
		}
		for _, c := range p.Containers {
			heap := "-"
			if c.Heap.Runtime != "" {
				heap = c.Heap.Runtime + ": not set"
				if c.Heap.Bytes != nil {
					heap = c.Heap.Runtime + ": " + bytesize.Format(*c.Heap.Bytes)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", podName(p), vs(p.Kind), vs(c.Container), c.ContainerType, qos,
				sizeOrDash(c.MemoryRequestBytes), sizeOrDash(c.MemoryLimitBytes), c.OOMScoreAdj, heap, regimeWords(c.Regime.Mode))
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nCgroup paths (%s driver, cgroup v%d: under %s):\n", as.driver, as.opt.CgroupVersion, kube.MemoryCgroupDir(as.opt.CgroupVersion, ""))
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			path := c.SystemdPath
			if as.driver == kube.DriverCgroupfs {
				path = c.CgroupfsPath
			}
			fmt.Fprintf(tw, "  %s/%s\t%s\n", podName(p), vs(c.Container), vs(path))
		}
	}
	tw.Flush()

	var heaps []string
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			if c.Heap.Runtime != "" {
				heaps = append(heaps, fmt.Sprintf("  %s/%s: %s\n    → %s", podName(p), vs(c.Container), vs(c.Heap.Source), vs(c.HeapVerdict)))
			}
		}
	}
	if len(heaps) > 0 {
		fmt.Fprintln(w, "\nManaged heaps:")
		for _, h := range heaps {
			fmt.Fprintln(w, h)
		}
	}

	fmt.Fprintln(w, "\nWho dies first on one node holding all these pods:")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tNODE-LEVEL OOM (kernel)\tADJ\tEXPECTED USE\t|\tEVICTION (kubelet)\tPRIORITY\tREQUEST\tEXPECTED USE")
	n := max(len(a.NodeOOMOrder), len(a.EvictionOrder))
	for i := 0; i < n; i++ {
		left := "\t\t\t"
		if i < len(a.NodeOOMOrder) {
			ref := a.NodeOOMOrder[i]
			p := a.Pods[ref.Pod]
			c := p.Containers[ref.Container]
			name := podName(p) + "/" + vs(c.Container)
			if c.NodeOOMRank == 0 {
				name += " (never)"
			}
			left = fmt.Sprintf("%s\t%d\t%s", name, c.OOMScoreAdj, usageWords(c.ExpectedUsageBytes, c.UsageSource))
		}
		right := "\t\t\t"
		if i < len(a.EvictionOrder) {
			p := a.Pods[a.EvictionOrder[i]]
			name := podName(p)
			if p.EvictionRank == 0 {
				name += " (critical: never)"
			}
			right = fmt.Sprintf("%s\t%d\t%s\t%s", name, p.Priority, bytesize.Format(p.MemoryRequestBytes), bytesize.Format(p.ExpectedUsageBytes))
		}
		fmt.Fprintf(tw, "  %d\t%s\t|\t%s\n", i+1, left, right)
	}
	tw.Flush()
	fmt.Fprintln(w, "  The kernel picks the highest badness: memory use plus oom_score_adj × node memory/1000,")
	fmt.Fprintln(w, "  so a Burstable container far above its request can go before BestEffort ones. The kubelet")
	fmt.Fprintln(w, "  evicts pods above their request first, then lower priority, then more use above request.")
	if len(as.opt.UsageBytes) == 0 {
		fmt.Fprintln(w, "  Without --usage every container is assumed at its request (or limit), and one without")
		fmt.Fprintln(w, "  either at node memory/1000: eviction then falls back to priority and input order.")
	}

	writeMemoryQoSText(w, a, as)

	var warns []string
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			for _, wa := range c.Warnings {
				level := "warning"
				if wa.Error {
					level = "error"
				}
				warns = append(warns, fmt.Sprintf("  %s %s/%s: %s", level, podName(p), vs(c.Container), vs(wa.Message)))
			}
		}
	}
	if len(warns) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, x := range warns {
			fmt.Fprintln(w, x)
		}
	}
	fmt.Fprintln(w)
}

// writeMemoryQoSText says what MemoryQoS writes: one line when it writes
// nothing that acts, else a table of the files per pod and container.
func writeMemoryQoSText(w *bytes.Buffer, a kube.Analysis, as kubeAssumptions) {
	q, v := as.opt.MemoryQoS, as.opt.Version
	switch {
	case as.opt.CgroupVersion != 2:
		return
	case !q.GateOn(v) && v.AtLeast(37):
		fmt.Fprintln(w, "\nMemoryQoS: off (feature gate), so the kubelet resets every container's memory.high to max.")
		return
	case !q.GateOn(v):
		return
	}
	acts := func(m kube.MemoryQoS) bool {
		return m.HighBytes != nil || m.MinBytes != nil && *m.MinBytes > 0 || m.LowBytes != nil && *m.LowBytes > 0
	}
	any := acts(a.KubepodsMemoryQoS) || acts(a.BurstableMemoryQoS)
	for _, p := range a.Pods {
		any = any || acts(p.MemoryQoS)
		for _, c := range p.Containers {
			any = any || acts(c.MemoryQoS)
		}
	}
	factor := "unset"
	if f := q.Factor(v); f != nil {
		factor = strconv.FormatFloat(*f, 'g', -1, 64)
	}
	policy := q.ReservationPolicy
	if policy == "" {
		policy = kube.ReservationNone
	}
	if !any {
		fmt.Fprintf(w, "\nMemoryQoS: on, but with memoryThrottlingFactor %s and memoryReservationPolicy %s the kubelet writes\n", factor, policy)
		fmt.Fprintln(w, "  only zeros to memory.min and memory.low: no protection from reclaim, no throttling before the limit.")
		return
	}
	fmt.Fprintf(w, "\nMemoryQoS (memoryThrottlingFactor %s, memoryReservationPolicy %s): what the kubelet writes (- = nothing):\n", factor, policy)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  CGROUP\tMEMORY.MIN\tMEMORY.LOW\tMEMORY.HIGH")
	row := func(name string, m kube.MemoryQoS) {
		high := sizeOrDash(m.HighBytes)
		if m.HighMax {
			high = "max"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", name, sizeOrDash(m.MinBytes), sizeOrDash(m.LowBytes), high)
	}
	row("kubepods", a.KubepodsMemoryQoS)
	row("kubepods/burstable", a.BurstableMemoryQoS)
	for _, p := range a.Pods {
		row(podName(p)+" (pod)", p.MemoryQoS)
		for _, c := range p.Containers {
			if c.ContainerType != kube.ContainerEphemeral {
				row("  "+podName(p)+"/"+vs(c.Container), c.MemoryQoS)
			}
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "  memory.high throttles (reclaim and sleeps) and never kills; memory.min is never reclaimed,")
	fmt.Fprintln(w, "  memory.low only when nothing unprotected is left.")
}

func sizeOrDash(n *int64) string {
	if n == nil {
		return "-"
	}
	return bytesize.Format(*n)
}

func usageWords(n int64, source string) string {
	switch source {
	case kube.UsageAssumed:
		return bytesize.Format(n) + " (assumed)"
	case kube.UsageGiven:
		return bytesize.Format(n)
	}
	return bytesize.Format(n) + " (" + source + ")"
}

func regimeWords(mode string) string {
	if mode == kube.RegimeGroupKill {
		return "whole container"
	}
	return "one process"
}

// kubeContainerJSON is the oomkit.container/v1 schema (docs/kube.md).
type kubeContainerJSON struct {
	Schema                string             `json:"schema"`
	Source                kubeSourceJSON     `json:"source"`
	Namespace             *string            `json:"namespace"`
	Pod                   string             `json:"pod"`
	PodUID                *string            `json:"pod_uid"`
	WorkloadKind          string             `json:"workload_kind"`
	Workload              string             `json:"workload"`
	Container             string             `json:"container"`
	ContainerType         string             `json:"container_type"`
	QOSClass              string             `json:"qos_class"`
	QOSFromStatus         bool               `json:"qos_from_status"`
	Priority              int32              `json:"priority"`
	Critical              bool               `json:"critical"`
	MemoryRequestBytes    *int64             `json:"memory_request_bytes"`
	MemoryLimitBytes      *int64             `json:"memory_limit_bytes"`
	PodMemoryRequestBytes int64              `json:"pod_memory_request_bytes"`
	PodMemoryLimitBytes   *int64             `json:"pod_memory_limit_bytes"`
	OOMScoreAdj           int                `json:"oom_score_adj"`
	CgroupPath            kubeCgroupPathJSON `json:"cgroup_path"`
	MemoryCgroupDir       string             `json:"memory_cgroup_dir"`
	ContainerRuntime      string             `json:"container_runtime"`
	Runtime               *string            `json:"runtime"`
	HeapCeilingBytes      *int64             `json:"heap_ceiling_bytes"`
	HeapSource            string             `json:"heap_source"`
	HeapVerdict           string             `json:"heap_verdict"`
	OOMRegime             string             `json:"oom_regime"`
	OOMRegimeReason       string             `json:"oom_regime_reason"`
	ExpectedUsageBytes    int64              `json:"expected_usage_bytes"`
	UsageSource           string             `json:"usage_source"`
	NodeOOMRank           *int               `json:"node_oom_rank"`
	EvictionRank          *int               `json:"eviction_rank"`
	KubernetesVersion     string             `json:"kubernetes_version"`
	NodeMemoryBytes       int64              `json:"node_memory_bytes"`
	CgroupVersion         int                `json:"cgroup_version"`
	MemoryQoS             kubeMemoryQoSJSON  `json:"memory_qos"`
	Warnings              []kubeWarningJSON  `json:"warnings"`
}

type kubeSourceJSON struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

type kubeCgroupPathJSON struct {
	Cgroupfs string `json:"cgroupfs"`
	Systemd  string `json:"systemd"`
}

type kubeWarningJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Error   bool   `json:"error"`
}

// writeKubeJSON prints one oomkit.container/v1 object per container.
// kubeMemoryQoSJSON is MemoryQoS for one container and its pod.
type kubeMemoryQoSJSON struct {
	Enabled           bool                `json:"enabled"`
	ThrottlingFactor  *float64            `json:"throttling_factor"`
	ReservationPolicy string              `json:"reservation_policy"`
	Container         kubeCgroupFilesJSON `json:"container"`
	Pod               kubeCgroupFilesJSON `json:"pod"`
}

// kubeCgroupFilesJSON is what the kubelet writes to one cgroup; null is a
// file it does not write.
type kubeCgroupFilesJSON struct {
	MinBytes  *int64 `json:"memory_min_bytes"`
	LowBytes  *int64 `json:"memory_low_bytes"`
	HighBytes *int64 `json:"memory_high_bytes"`
	// HighMax is memory.high written as "max" (1.37 with the gate off).
	HighMax bool `json:"memory_high_max"`
}

func cgroupFilesJSON(m kube.MemoryQoS) kubeCgroupFilesJSON {
	return kubeCgroupFilesJSON{m.MinBytes, m.LowBytes, m.HighBytes, m.HighMax}
}

func writeKubeJSON(w io.Writer, a kube.Analysis, as kubeAssumptions) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			o := kubeContainerJSON{
				Schema:                "oomkit.container/v1",
				Source:                kubeSourceJSON{p.Source.File, p.Source.Line},
				Pod:                   p.Name,
				WorkloadKind:          p.Kind,
				Workload:              p.Name,
				Container:             c.Container,
				ContainerType:         c.ContainerType,
				QOSClass:              p.QOSClass,
				QOSFromStatus:         p.QOSFromStatus,
				Priority:              p.Priority,
				Critical:              p.Critical,
				MemoryRequestBytes:    c.MemoryRequestBytes,
				MemoryLimitBytes:      c.MemoryLimitBytes,
				PodMemoryRequestBytes: p.MemoryRequestBytes,
				PodMemoryLimitBytes:   p.MemoryLimitBytes,
				OOMScoreAdj:           c.OOMScoreAdj,
				CgroupPath:            kubeCgroupPathJSON{c.CgroupfsPath, c.SystemdPath},
				ContainerRuntime:      c.ContainerRuntime,
				HeapCeilingBytes:      c.Heap.Bytes,
				HeapSource:            c.Heap.Source,
				HeapVerdict:           c.HeapVerdict,
				OOMRegime:             c.Regime.Mode,
				OOMRegimeReason:       c.Regime.Reason,
				UsageSource:           c.UsageSource,
				ExpectedUsageBytes:    c.ExpectedUsageBytes,
				KubernetesVersion:     as.opt.Version.String(),
				NodeMemoryBytes:       as.opt.NodeMemoryBytes,
				CgroupVersion:         as.opt.CgroupVersion,
				Warnings:              []kubeWarningJSON{},
			}
			q := as.opt.MemoryQoS
			policy := q.ReservationPolicy
			if policy == "" {
				policy = kube.ReservationNone
			}
			o.MemoryQoS = kubeMemoryQoSJSON{
				Enabled:           as.opt.CgroupVersion == 2 && q.GateOn(as.opt.Version),
				ThrottlingFactor:  q.Factor(as.opt.Version),
				ReservationPolicy: policy,
				Container:         cgroupFilesJSON(c.MemoryQoS),
				Pod:               cgroupFilesJSON(p.MemoryQoS),
			}
			path := c.SystemdPath
			if as.driver == kube.DriverCgroupfs {
				path = c.CgroupfsPath
			}
			o.MemoryCgroupDir = kube.MemoryCgroupDir(as.opt.CgroupVersion, path)
			if p.Kind == "Pod" {
				for _, ref := range p.Pod.OwnerReferences {
					if ref.Controller != nil && *ref.Controller {
						o.WorkloadKind, o.Workload = ref.Kind, ref.Name
					}
				}
			}
			if p.Namespace != "" {
				ns := p.Namespace
				o.Namespace = &ns
			}
			if p.Pod.UID != "" {
				uid := string(p.Pod.UID)
				o.PodUID = &uid
			}
			if c.Heap.Runtime != "" {
				rt := c.Heap.Runtime
				o.Runtime = &rt
			}
			if c.NodeOOMRank > 0 {
				r := c.NodeOOMRank
				o.NodeOOMRank = &r
			}
			if p.EvictionRank > 0 {
				r := p.EvictionRank
				o.EvictionRank = &r
			}
			for _, wa := range c.Warnings {
				o.Warnings = append(o.Warnings, kubeWarningJSON{wa.Code, wa.Message, wa.Error})
			}
			if err := enc.Encode(o); err != nil {
				return err
			}
		}
	}
	return nil
}
