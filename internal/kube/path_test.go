package kube

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	id64  = "e7364a94b0a1a3c2fbd6d9c74b3d1e0f5a8a3d0cf2d9f3f0e6a7f1b2c3dda480"
	id64b = "3e5e5eab39c4c3a9fd6d22a2d0b0a7dc4f9a9d6e9fcb1d3e8f7a6b5c4d3e68fe"
	uid   = "0057cc81-ea16-463a-96c2-fc74acfb9c47"
	uidU  = "0057cc81_ea16_463a_96c2_fc74acfb9c47"
)

// pathTests are shared with FuzzParsePath as seeds.
var pathTests = []struct {
	name string
	path string
	want PathInfo
	ok   bool
}{
	// systemd driver × QoS × runtime.
	{"systemd/burstable/containerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Burstable", Driver: "systemd", Runtime: "containerd", Scope: "container"}, true},
	{"systemd/besteffort/containerd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "systemd", Runtime: "containerd", Scope: "container"}, true},
	{"systemd/guaranteed/containerd", "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Guaranteed", Driver: "systemd", Runtime: "containerd", Scope: "container"}, true},
	{"systemd/burstable/crio", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Burstable", Driver: "systemd", Runtime: "cri-o", Scope: "container"}, true},
	{"systemd/besteffort/crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "systemd", Runtime: "cri-o", Scope: "container"}, true},
	{"systemd/guaranteed/crio", "/kubepods.slice/kubepods-pod" + uidU + ".slice/crio-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Guaranteed", Driver: "systemd", Runtime: "cri-o", Scope: "container"}, true},
	{"systemd/burstable/docker", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podef7ce918_ae07_11e9_bf64_00163e08cd06.slice/docker-" + id64 + ".scope",
		PathInfo{PodUID: "ef7ce918-ae07-11e9-bf64-00163e08cd06", ContainerID: id64, QOSClass: "Burstable", Driver: "systemd", Runtime: "docker", Scope: "container"}, true},
	{"systemd/besteffort/docker", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/docker-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "systemd", Runtime: "docker", Scope: "container"}, true},
	{"systemd/guaranteed/docker", "/kubepods.slice/kubepods-pod" + uidU + ".slice/docker-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Guaranteed", Driver: "systemd", Runtime: "docker", Scope: "container"}, true},

	// cgroupfs driver × QoS × runtime: containerd and docker leaves are bare IDs.
	{"cgroupfs/burstable/bare", "/kubepods/burstable/pod28fcb1a0-a45c-44e7-b9bf-e3b9360bedba/" + id64b,
		PathInfo{PodUID: "28fcb1a0-a45c-44e7-b9bf-e3b9360bedba", ContainerID: id64b, QOSClass: "Burstable", Driver: "cgroupfs", Scope: "container"}, true},
	{"cgroupfs/besteffort/bare", "/kubepods/besteffort/pod" + uid + "/" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "cgroupfs", Scope: "container"}, true},
	{"cgroupfs/guaranteed/bare", "/kubepods/pod" + uid + "/" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Guaranteed", Driver: "cgroupfs", Scope: "container"}, true},
	{"cgroupfs/burstable/crio", "/kubepods/burstable/pod" + uid + "/crio-" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Burstable", Driver: "cgroupfs", Runtime: "cri-o", Scope: "container"}, true},
	{"cgroupfs/besteffort/crio", "/kubepods/besteffort/pod" + uid + "/crio-" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "cgroupfs", Runtime: "cri-o", Scope: "container"}, true},
	{"cgroupfs/guaranteed/crio", "/kubepods/pod" + uid + "/crio-" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Guaranteed", Driver: "cgroupfs", Runtime: "cri-o", Scope: "container"}, true},

	// Scopes above the container.
	{"systemd pod limit", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5931aa75_4603_4e65_b552_7c71cf55cfb5.slice",
		PathInfo{PodUID: "5931aa75-4603-4e65-b552-7c71cf55cfb5", QOSClass: "Burstable", Driver: "systemd", Scope: "pod"}, true},
	{"systemd guaranteed pod", "/kubepods.slice/kubepods-pod" + uidU + ".slice",
		PathInfo{PodUID: uid, QOSClass: "Guaranteed", Driver: "systemd", Scope: "pod"}, true},
	{"cgroupfs pod limit", "/kubepods/burstable/pod28fcb1a0-a45c-44e7-b9bf-e3b9360bedba",
		PathInfo{PodUID: "28fcb1a0-a45c-44e7-b9bf-e3b9360bedba", QOSClass: "Burstable", Driver: "cgroupfs", Scope: "pod"}, true},
	{"systemd qos tier", "/kubepods.slice/kubepods-besteffort.slice",
		PathInfo{QOSClass: "BestEffort", Driver: "systemd", Scope: "qos"}, true},
	{"cgroupfs qos tier", "/kubepods/burstable",
		PathInfo{QOSClass: "Burstable", Driver: "cgroupfs", Scope: "qos"}, true},
	{"systemd node", "/kubepods.slice", PathInfo{Driver: "systemd", Scope: "node"}, true},
	{"cgroupfs node", "/kubepods", PathInfo{Driver: "cgroupfs", Scope: "node"}, true},
	{"cgroupfs node trailing slash", "/kubepods/", PathInfo{Driver: "cgroupfs", Scope: "node"}, true},

	// CRI-O monitor and nested leaves.
	{"crio conmon systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod58dc1221_d430_496e_951d_e8cb23caaead.slice/crio-conmon-" + id64 + ".scope",
		PathInfo{PodUID: "58dc1221-d430-496e-951d-e8cb23caaead", ContainerID: id64, QOSClass: "Burstable", Driver: "systemd", Runtime: "cri-o", Scope: "container", Conmon: true}, true},
	{"crio conmon cgroupfs", "/kubepods/pod" + uid + "/crio-conmon-" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Guaranteed", Driver: "cgroupfs", Runtime: "cri-o", Scope: "container", Conmon: true}, true},
	{"crio nested container leaf", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + id64 + ".scope/container",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Burstable", Driver: "systemd", Runtime: "cri-o", Scope: "container"}, true},
	{"unknown leaf below pod", "/kubepods/burstable/pod" + uid + "/sandbox",
		PathInfo{PodUID: uid, QOSClass: "Burstable", Driver: "cgroupfs", Scope: "container"}, true},

	// Prefixes: LXC payloads, kind nodes, a mount point, a kubelet cgroupRoot.
	{"lxc payload systemd", "/lxc.payload.node1/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "systemd", Runtime: "containerd", Scope: "container", Prefix: "/lxc.payload.node1"}, true},
	{"kind node cgroupfs", "/docker/" + id64b + "/kubepods/besteffort/pod" + uid + "/" + id64,
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "BestEffort", Driver: "cgroupfs", Scope: "container", Prefix: "/docker/" + id64b}, true},
	{"v1 mount point", "/sys/fs/cgroup/memory/kubepods/pod" + uid,
		PathInfo{PodUID: uid, QOSClass: "Guaranteed", Driver: "cgroupfs", Scope: "pod", Prefix: "/sys/fs/cgroup/memory"}, true},
	{"systemd cgroupRoot kubelet.slice", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
		PathInfo{PodUID: uid, ContainerID: id64, QOSClass: "Burstable", Driver: "systemd", Runtime: "containerd", Scope: "container", Prefix: "/kubelet.slice"}, true},
	{"static pod uid", "/kubepods/burstable/pod6d1c3a5e0b3e4f7a9c2d8e1f0a2b3c4d",
		PathInfo{PodUID: "6d1c3a5e0b3e4f7a9c2d8e1f0a2b3c4d", QOSClass: "Burstable", Driver: "cgroupfs", Scope: "pod"}, true},
	{"relative path", "kubepods/besteffort/pod" + uid,
		PathInfo{PodUID: uid, QOSClass: "BestEffort", Driver: "cgroupfs", Scope: "pod"}, true},

	// Not Kubernetes, or not the kubelet's naming.
	{"root", "/", PathInfo{}, false},
	{"empty", "", PathInfo{}, false},
	{"system slice", "/system.slice/containerd.service", PathInfo{}, false},
	{"docker container", "/docker/" + id64, PathInfo{}, false},
	{"user slice", "/user.slice/user-1000.slice/session-2.scope", PathInfo{}, false},
	{"kubepods with junk", "/kubepods/guaranteed/pod" + uid, PathInfo{}, false},
	{"pod uid not hex", "/kubepods/burstable/podxyz-not-a-uid", PathInfo{}, false},
	{"systemd wrong slice", "/kubepods.slice/other.slice", PathInfo{}, false},
	{"systemd qos pod direct", "/kubepods.slice/kubepods-burstable-pod" + uidU + ".slice", PathInfo{}, false},
	{"systemd pod under wrong qos", "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" + uidU + ".slice", PathInfo{}, false},
	{"hostile", "/kubepods.slice/kubepods-(resolved).slice", PathInfo{}, false},
	// Found by FuzzParsePath: separators of the other driver.
	{"cgroupfs uid with underscores", "kubepods/pod0000000_", PathInfo{}, false},
	{"systemd uid with dashes", "/kubepods.slice/kubepods-pod" + uid + ".slice", PathInfo{}, false},
}

func TestParsePath(t *testing.T) {
	for _, tt := range pathTests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParsePath(tt.path)
			if ok != tt.ok {
				t.Fatalf("ParsePath(%q) ok = %v, want %v", tt.path, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePath(%q) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestParseContainerLeaf(t *testing.T) {
	tests := []struct {
		name string
		want PathInfo
		ok   bool
	}{
		{"cri-containerd-" + id64 + ".scope", PathInfo{ContainerID: id64, Runtime: "containerd", Driver: "systemd"}, true},
		{"crio-" + id64 + ".scope", PathInfo{ContainerID: id64, Runtime: "cri-o", Driver: "systemd"}, true},
		{"crio-conmon-" + id64, PathInfo{ContainerID: id64, Runtime: "cri-o", Conmon: true}, true},
		{"docker-" + id64 + ".scope", PathInfo{ContainerID: id64, Runtime: "docker", Driver: "systemd"}, true},
		{id64b, PathInfo{ContainerID: id64b}, true},
		{"/", PathInfo{}, false},
		{"", PathInfo{}, false},
		{"system.slice", PathInfo{}, false},
		{"crio-conmon-xyz", PathInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseContainerLeaf(tt.name)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseContainerLeaf(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, tt := range pathTests {
		f.Add(tt.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		info, ok := ParsePath(path)
		if !ok {
			if info != (PathInfo{}) {
				t.Fatalf("ParsePath(%q) = %+v with ok=false", path, info)
			}
			return
		}
		switch info.Scope {
		case ScopeNode, ScopeQOS, ScopePod, ScopeContainer:
		default:
			t.Fatalf("ParsePath(%q): scope %q", path, info.Scope)
		}
		if info.PodUID != "" && strings.Contains(info.PodUID, "_") {
			t.Fatalf("ParsePath(%q): pod UID %q keeps underscores", path, info.PodUID)
		}
	})
}

func TestClassifyOOMScoreAdj(t *testing.T) {
	tests := []struct {
		adj  int
		want string
	}{
		{-1000, "never killed by the OOM killer (-1000; e.g. CRI-O's conmon or a protected system daemon)"},
		{-999, "kubelet, kube-proxy or the container runtime (-999)"},
		{-998, "pod sandbox (pause) container, or a Guaranteed pod under a kubelet older than 1.20 (-998)"},
		{-997, "Guaranteed pod or system-node-critical pod (-997)"},
		{-500, "set by hand (-500): not a value the kubelet assigns"},
		{0, "not set by Kubernetes (0): a system process or a process outside any pod"},
		{1, "set by hand (1): not a value the kubelet assigns"},
		{2, "Burstable pod at the pre-1.20 floor (2): memory request of 99.8% of node memory or more"},
		{3, "Burstable pod: memory request ≈ 99.7% of node memory"},
		{875, "Burstable pod: memory request ≈ 12.5% of node memory"},
		{969, "Burstable pod: memory request ≈ 3.1% of node memory"},
		{500, "Burstable pod: memory request ≈ 50% of node memory"},
		{999, "Burstable pod with no or a negligible memory request (999)"},
		{1000, "BestEffort pod (1000): killed first"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.adj), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ClassifyOOMScoreAdj(tt.adj)); diff != "" {
				t.Errorf("ClassifyOOMScoreAdj(%d) (-want +got):\n%s", tt.adj, diff)
			}
		})
	}
}
