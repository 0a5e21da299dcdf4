package kube

import (
	"strings"
)

// FormatPath is the inverse of ParsePath: the cgroup path the kubelet (pod
// and QoS levels) and the runtime (container leaf) create for info's scope.
// ToCgroupfs / ToSystemd, pkg/kubelet/cm/cgroup_manager_linux.go: cgroupfs
// joins the parts with "/"; systemd escapes "-" as "_" and nests each level
// as "<parent>-<name>.slice". Container leaves follow spec §3.2:
// cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope on systemd
// (containerd when Runtime is ""), <id> or crio-<id> on cgroupfs. A systemd
// cgroupRoot slice ("kubelet-kubepods.slice") is not reproduced: the
// kubepods slice is always "kubepods.slice" below Prefix.
func FormatPath(info PathInfo) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(info.Prefix, "/"))
	systemd := info.Driver == DriverSystemd
	if systemd {
		b.WriteString("/kubepods.slice")
	} else {
		b.WriteString("/kubepods")
	}
	if info.Scope == ScopeNode || info.Scope == "" {
		return b.String()
	}
	tier := ""
	switch info.QOSClass {
	case QOSBurstable:
		tier = "burstable"
	case QOSBestEffort:
		tier = "besteffort"
	}
	slice := "kubepods"
	if tier != "" {
		if systemd {
			slice += "-" + tier
			b.WriteString("/" + slice + ".slice")
		} else {
			b.WriteString("/" + tier)
		}
	}
	if info.Scope == ScopeQOS {
		return b.String()
	}
	if systemd {
		b.WriteString("/" + slice + "-pod" + strings.ReplaceAll(info.PodUID, "-", "_") + ".slice")
	} else {
		b.WriteString("/pod" + info.PodUID)
	}
	if info.Scope == ScopePod {
		return b.String()
	}
	b.WriteString("/" + containerLeaf(info.Driver, info.Runtime, info.ContainerID, info.Conmon))
	return b.String()
}

// containerLeaf names a container's cgroup below its pod's.
func containerLeaf(driver, runtime, id string, conmon bool) string {
	if driver == DriverSystemd {
		switch {
		case conmon:
			return "crio-conmon-" + id + ".scope"
		case runtime == RuntimeCRIO:
			return "crio-" + id + ".scope"
		case runtime == RuntimeDocker:
			return "docker-" + id + ".scope"
		default:
			return "cri-containerd-" + id + ".scope"
		}
	}
	switch {
	case conmon:
		return "crio-conmon-" + id
	case runtime == RuntimeCRIO:
		return "crio-" + id
	default:
		return id
	}
}

// ContainerCgroupPath is the cgroup path of a container with the given
// driver, runtime, pod QoS class, pod UID and container ID, under the
// default cgroupRoot.
func ContainerCgroupPath(driver, runtime, qos, podUID, containerID string) string {
	return FormatPath(PathInfo{Driver: driver, Runtime: runtime, QOSClass: qos, PodUID: podUID, ContainerID: containerID, Scope: ScopeContainer})
}

// PodCgroupPath is the cgroup path of a pod with the given driver, QoS class
// and UID, under the default cgroupRoot.
func PodCgroupPath(driver, qos, podUID string) string {
	return FormatPath(PathInfo{Driver: driver, QOSClass: qos, PodUID: podUID, Scope: ScopePod})
}

// MemoryCgroupDir is where a cgroup path's memory controller files live:
// /sys/fs/cgroup/memory<path> on cgroup v1, /sys/fs/cgroup<path> on v2.
func MemoryCgroupDir(cgroupVersion int, path string) string {
	if cgroupVersion == 1 {
		return "/sys/fs/cgroup/memory" + path
	}
	return "/sys/fs/cgroup" + path
}
