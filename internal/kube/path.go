// Package kube models what the kubelet and the container runtimes do with a
// pod's memory: the cgroup paths they create (and how to read a pod UID,
// container ID, QoS class, cgroup driver and runtime back out of a memcg path
// the kernel printed), the QoS class and oom_score_adj the kubelet of a given
// version assigns, the OOM regime (group kill or single process) and the
// kubelet's eviction ranking under memory pressure; the manifest analysis
// adds the heap ceilings of managed runtimes from internal/heap.
//
// It is pure logic and does no I/O; internal/kube/manifest reads the
// manifests it analyses.
package kube

import (
	"strconv"
	"strings"
)

// QOS class names as the Kubernetes API spells them.
const (
	QOSGuaranteed = "Guaranteed"
	QOSBurstable  = "Burstable"
	QOSBestEffort = "BestEffort"
)

// Cgroup drivers.
const (
	DriverSystemd  = "systemd"
	DriverCgroupfs = "cgroupfs"
)

// Container runtimes recognisable from a container cgroup's name.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeDocker     = "docker" // dockershim and cri-dockerd name scopes alike
)

// Scopes of a cgroup in the kubelet's hierarchy: which limit a memcg path
// names when the kernel prints it as oom_memcg.
const (
	ScopeContainer = "container"
	ScopePod       = "pod"
	ScopeQOS       = "qos"
	ScopeNode      = "node" // the kubepods root, limited to node allocatable
)

// PathInfo is what a cgroup path says about the Kubernetes object it belongs
// to. Fields the path does not carry are "".
type PathInfo struct {
	// PodUID is the pod's UID with dashes ("0057cc81-ea16-463a-96c2-fc74acfb9c47");
	// the systemd driver's underscores are turned back into dashes.
	PodUID string
	// ContainerID is the runtime's container ID (64 hex digits in practice).
	// The pause (sandbox) container's cgroup looks the same and carries the
	// sandbox ID: the path alone cannot tell them apart.
	ContainerID string
	// QOSClass is the pod's QoS class when the pod cgroup was created:
	// Guaranteed pods have no QoS segment.
	QOSClass string
	// Driver is the kubelet's cgroup driver: "systemd" (.slice/.scope names)
	// or "cgroupfs".
	Driver string
	// Runtime is "containerd", "cri-o" or "docker" when the container leaf
	// names it. cgroupfs leaves of containerd and docker are bare IDs, so the
	// runtime is unknown ("") there.
	Runtime string
	// Scope is the level of the hierarchy the path ends at: "container",
	// "pod", "qos" or "node" (the kubepods root).
	Scope string
	// Prefix is what precedes the kubepods segment ("" for a kubelet with
	// the default cgroupRoot): a container or VM nesting such as
	// "/lxc.payload.node1", a kind node's "/docker/<id>", or a cgroupRoot.
	Prefix string
	// Conmon reports a CRI-O conmon monitor cgroup (crio-conmon-<id>); its
	// ContainerID is the container conmon watches, and Scope is "container".
	Conmon bool
}

// ParsePath decodes a cgroup path as the kernel prints it in oom_memcg=,
// task_memcg= or "Task in … killed as a result of limit of …", or as it
// appears in /proc/PID/cgroup. The shapes are the same on cgroup v1 and v2;
// a leading mount point such as /sys/fs/cgroup/memory ends up in Prefix.
// ok is false when the path is not under a kubelet's kubepods hierarchy or
// does not follow the kubelet's naming below it.
//
// CgroupName and ToSystemd/ToCgroupfs, pkg/kubelet/cm/cgroup_manager_linux.go:
// kubepods[/burstable|/besteffort]/pod<uid>, systemd escapes "-" as "_" and
// nests each level as "<parent>-<name>.slice".
func ParsePath(path string) (PathInfo, bool) {
	segs := splitPath(path)
	root := -1
	for i, s := range segs {
		if s == "kubepods" || s == "kubepods.slice" || strings.HasSuffix(s, "-kubepods.slice") {
			root = i
			break
		}
	}
	if root < 0 {
		return PathInfo{}, false
	}
	info := PathInfo{Scope: ScopeNode, Driver: DriverCgroupfs}
	if strings.HasSuffix(segs[root], ".slice") {
		info.Driver = DriverSystemd
	}
	if root > 0 {
		info.Prefix = "/" + strings.Join(segs[:root], "/")
	}
	rest := segs[root+1:]
	if len(rest) == 0 {
		return info, true
	}
	var ok bool
	if info.Driver == DriverSystemd {
		rest, ok = parseSystemdPod(&info, segs[root], rest)
	} else {
		rest, ok = parseCgroupfsPod(&info, rest)
	}
	if !ok {
		return PathInfo{}, false
	}
	if len(rest) == 0 {
		return info, true
	}
	// Anything below the pod is a container cgroup (the runtime's leaf, with
	// possibly a nested leaf of its own such as crio-<id>.scope/container).
	info.Scope = ScopeContainer
	parseLeaf(&info, rest[0])
	return info, true
}

// splitPath splits on "/" and drops empty segments, so "//a/b/" is [a b].
func splitPath(path string) []string {
	segs := strings.Split(path, "/")
	n := 0
	for _, s := range segs {
		if s != "" {
			segs[n] = s
			n++
		}
	}
	return segs[:n]
}

// parseCgroupfsPod reads [burstable|besteffort/]pod<uid> and returns what
// follows the pod segment.
func parseCgroupfsPod(info *PathInfo, rest []string) ([]string, bool) {
	switch rest[0] {
	case "burstable":
		info.QOSClass, info.Scope = QOSBurstable, ScopeQOS
		rest = rest[1:]
	case "besteffort":
		info.QOSClass, info.Scope = QOSBestEffort, ScopeQOS
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return rest, true
	}
	uid, ok := strings.CutPrefix(rest[0], "pod")
	if !ok || !isUID(uid, '-') {
		return nil, false
	}
	if info.QOSClass == "" {
		info.QOSClass = QOSGuaranteed
	}
	info.PodUID, info.Scope = uid, ScopePod
	return rest[1:], true
}

// parseSystemdPod reads <root>-{burstable,besteffort}.slice and
// <root>[-qos]-pod<uid>.slice below the kubepods slice named rootSeg.
func parseSystemdPod(info *PathInfo, rootSeg string, rest []string) ([]string, bool) {
	base := strings.TrimSuffix(rootSeg, ".slice") + "-" // "kubepods-"
	name, ok := strings.CutSuffix(rest[0], ".slice")
	if !ok {
		return nil, false
	}
	name, ok = strings.CutPrefix(name, base)
	if !ok {
		return nil, false
	}
	qos := ""
	switch {
	case name == "burstable" || strings.HasPrefix(name, "burstable-"):
		qos = QOSBurstable
	case name == "besteffort" || strings.HasPrefix(name, "besteffort-"):
		qos = QOSBestEffort
	}
	if qos != "" && !strings.Contains(name, "-") {
		// The QoS slice itself; the pod slice, if any, is the next segment.
		info.QOSClass, info.Scope = qos, ScopeQOS
		rest = rest[1:]
		if len(rest) == 0 {
			return rest, true
		}
		name, ok = strings.CutSuffix(rest[0], ".slice")
		if !ok {
			return nil, false
		}
		name, ok = strings.CutPrefix(name, base+strings.ToLower(qos)+"-")
		if !ok {
			return nil, false
		}
	} else if qos != "" {
		return nil, false // kubepods-burstable-pod… directly under kubepods.slice
	} else {
		info.QOSClass = QOSGuaranteed
	}
	uid, ok := strings.CutPrefix(name, "pod")
	if !ok || !isUID(uid, '_') {
		return nil, false
	}
	info.PodUID, info.Scope = strings.ReplaceAll(uid, "_", "-"), ScopePod
	return rest[1:], true
}

// ParseContainerLeaf decodes a container cgroup's own name, such as the
// cpuset= field of an oom-kill line when oom_memcg stops at the pod
// ("cri-containerd-<id>.scope", "crio-<id>", a bare 64-hex ID). Only the
// fields a leaf carries are set: ContainerID, Runtime, Driver (systemd for
// .scope names) and Conmon; ok is false when it is not a container ID.
func ParseContainerLeaf(name string) (PathInfo, bool) {
	var info PathInfo
	parseLeaf(&info, name)
	if info.ContainerID == "" {
		return PathInfo{}, false
	}
	if strings.HasSuffix(name, ".scope") {
		info.Driver = DriverSystemd
	}
	return info, true
}

// parseLeaf decodes a runtime's container cgroup name (spec §3.2):
// cri-containerd-<id>.scope, crio-<id>.scope, crio-conmon-<id>.scope,
// docker-<id>.scope on systemd; <id>, crio-<id>, crio-conmon-<id> on cgroupfs.
func parseLeaf(info *PathInfo, leaf string) {
	name := strings.TrimSuffix(leaf, ".scope")
	var runtime, id string
	switch {
	case strings.HasPrefix(name, "cri-containerd-"):
		runtime, id = RuntimeContainerd, name[len("cri-containerd-"):]
	case strings.HasPrefix(name, "crio-conmon-"):
		runtime, id = RuntimeCRIO, name[len("crio-conmon-"):]
		info.Conmon = true
	case strings.HasPrefix(name, "crio-"):
		runtime, id = RuntimeCRIO, name[len("crio-"):]
	case strings.HasPrefix(name, "docker-"):
		runtime, id = RuntimeDocker, name[len("docker-"):]
	default:
		id = name
	}
	if !isHexID(id) {
		info.Conmon = false
		return
	}
	info.Runtime, info.ContainerID = runtime, id
}

// isHexID reports whether s looks like a container ID: lower-case hex, at
// least 12 digits (the short form some tools print).
func isHexID(s string) bool {
	if len(s) < 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isUID reports whether s can be a pod UID: hex digits with sep as the
// separator ("-" for cgroupfs, "_" for systemd, which escapes "-"), as an
// RFC 4122 UID or a static pod's 32-hex hash.
func isUID(s string, sep byte) bool {
	if len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') && c != sep {
			return false
		}
	}
	return true
}

// ClassifyOOMScoreAdj says in plain words which kind of process on a
// Kubernetes node carries an observed oom_score_adj, as the kubelet and the
// runtimes set it (GetContainerOOMScoreAdjust, pkg/kubelet/qos/policy.go;
// containerd defaultSandboxOOMAdj; containerd.service OOMScoreAdjust).
// For Burstable values the implied memory request is (1000−adj)/1000 of the
// node's memory.
func ClassifyOOMScoreAdj(adj int) string {
	switch {
	case adj <= -1000:
		return "never killed by the OOM killer (-1000; e.g. CRI-O's conmon or a protected system daemon)"
	case adj == -999:
		return "kubelet, kube-proxy or the container runtime (-999)"
	case adj == -998:
		return "pod sandbox (pause) container, or a Guaranteed pod under a kubelet older than 1.20 (-998)"
	case adj == -997:
		return "Guaranteed pod or system-node-critical pod (-997)"
	case adj >= 1000:
		return "BestEffort pod (1000): killed first"
	case adj == 999:
		return "Burstable pod with no or a negligible memory request (999)"
	case adj == 2:
		return "Burstable pod at the pre-1.20 floor (2): memory request of 99.8% of node memory or more"
	case adj >= 3:
		return "Burstable pod: memory request ≈ " + permille(1000-adj) + " of node memory"
	case adj == 0:
		return "not set by Kubernetes (0): a system process or a process outside any pod"
	default:
		return "set by hand (" + strconv.Itoa(adj) + "): not a value the kubelet assigns"
	}
}

// permille formats n/1000 as a percentage with one decimal: 125 → "12.5%".
func permille(n int) string {
	s := strconv.Itoa(n / 10)
	if r := n % 10; r != 0 {
		s += "." + strconv.Itoa(r)
	}
	return s + "%"
}
