// Package render turns the models of the packages below into what the
// commands print: text for people and the JSON Lines schemas of docs/.
// The commands (internal/cli) wire flags and streams to these functions;
// the agent reuses them for its page and Events.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
)

// KubeSetup is what `oomkit kube` assumed, resolved from its flags and the
// host, and printed so the user knows it.
type KubeSetup struct {
	Options kube.Options
	// Driver is the kubelet's cgroup driver: kube.DriverSystemd or
	// kube.DriverCgroupfs.
	Driver string
	// NodeMemoryFrom and VersionFrom say where the node's memory and the
	// Kubernetes version came from ("--node-memory", "this host", ...).
	NodeMemoryFrom, VersionFrom string
}

// KubeText prints the readable report of an analysis.
func KubeText(w io.Writer, a kube.Analysis, as KubeSetup) error {
	var buf bytes.Buffer
	kubeText(&buf, a, as)
	_, err := w.Write(trimLineEnds(buf.Bytes()))
	return err
}

// PodName is "namespace/name", or the name alone without a namespace,
// shown escaped (text only).
func PodName(p kube.PodReport) string {
	if p.Namespace == "" {
		return vs(p.Name)
	}
	return vs(p.Namespace + "/" + p.Name)
}

// String is the one-line statement of the assumptions.
func (as KubeSetup) String() string {
	return fmt.Sprintf("Assuming Kubernetes %s (%s), node memory %s (%s), cgroup v%d, %s driver, %s runtime.",
		as.Options.Version, as.VersionFrom, bytesize.Format(as.Options.NodeMemoryBytes), as.NodeMemoryFrom,
		as.Options.CgroupVersion, as.Driver, as.Options.Runtime)
}

// trimLineEnds drops the spaces tabwriter leaves at the end of lines.
func trimLineEnds(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

// kubeText prints the readable report into a buffer.
func kubeText(w *bytes.Buffer, a kube.Analysis, as KubeSetup) {
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", PodName(p), vs(p.Kind), vs(c.Container), c.ContainerType, qos,
				sizeOrDash(c.MemoryRequestBytes), sizeOrDash(c.MemoryLimitBytes), c.OOMScoreAdj, heap, regimeWords(c.Regime.Mode))
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nCgroup paths (%s driver, cgroup v%d: under %s):\n", as.Driver, as.Options.CgroupVersion, kube.MemoryCgroupDir(as.Options.CgroupVersion, ""))
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			path := c.SystemdPath
			if as.Driver == kube.DriverCgroupfs {
				path = c.CgroupfsPath
			}
			fmt.Fprintf(tw, "  %s/%s\t%s\n", PodName(p), vs(c.Container), vs(path))
		}
	}
	tw.Flush()

	var heaps []string
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			if c.Heap.Runtime != "" {
				heaps = append(heaps, fmt.Sprintf("  %s/%s: %s\n    → %s", PodName(p), vs(c.Container), vs(c.Heap.Source), vs(c.HeapVerdict)))
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
			name := PodName(p) + "/" + vs(c.Container)
			if c.NodeOOMRank == 0 {
				name += " (never)"
			}
			left = fmt.Sprintf("%s\t%d\t%s", name, c.OOMScoreAdj, usageWords(c.ExpectedUsageBytes, c.UsageSource))
		}
		right := "\t\t\t"
		if i < len(a.EvictionOrder) {
			p := a.Pods[a.EvictionOrder[i]]
			name := PodName(p)
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
	if len(as.Options.UsageBytes) == 0 {
		fmt.Fprintln(w, "  Without --usage every container is assumed at its request (or limit), and one without")
		fmt.Fprintln(w, "  either at node memory/1000: eviction then falls back to priority and input order.")
	}

	memoryQoSText(w, a, as)

	var warns []string
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			for _, wa := range c.Warnings {
				level := "warning"
				if wa.Error {
					level = "error"
				}
				warns = append(warns, fmt.Sprintf("  %s %s/%s: %s", level, PodName(p), vs(c.Container), vs(wa.Message)))
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

// memoryQoSText says what MemoryQoS writes: one line when it writes
// nothing that acts, else a table of the files per pod and container.
func memoryQoSText(w *bytes.Buffer, a kube.Analysis, as KubeSetup) {
	q, v := as.Options.MemoryQoS, as.Options.Version
	switch {
	case as.Options.CgroupVersion != 2:
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
		row(PodName(p)+" (pod)", p.MemoryQoS)
		for _, c := range p.Containers {
			if c.ContainerType != kube.ContainerEphemeral {
				row("  "+PodName(p)+"/"+vs(c.Container), c.MemoryQoS)
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

// KubeJSON prints one oomkit.container/v1 object per container.
func KubeJSON(w io.Writer, a kube.Analysis, as KubeSetup) error {
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
				KubernetesVersion:     as.Options.Version.String(),
				NodeMemoryBytes:       as.Options.NodeMemoryBytes,
				CgroupVersion:         as.Options.CgroupVersion,
				Warnings:              []kubeWarningJSON{},
			}
			q := as.Options.MemoryQoS
			policy := q.ReservationPolicy
			if policy == "" {
				policy = kube.ReservationNone
			}
			o.MemoryQoS = kubeMemoryQoSJSON{
				Enabled:           as.Options.CgroupVersion == 2 && q.GateOn(as.Options.Version),
				ThrottlingFactor:  q.Factor(as.Options.Version),
				ReservationPolicy: policy,
				Container:         cgroupFilesJSON(c.MemoryQoS),
				Pod:               cgroupFilesJSON(p.MemoryQoS),
			}
			path := c.SystemdPath
			if as.Driver == kube.DriverCgroupfs {
				path = c.CgroupfsPath
			}
			o.MemoryCgroupDir = kube.MemoryCgroupDir(as.Options.CgroupVersion, path)
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
