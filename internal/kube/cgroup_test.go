package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormatPath(t *testing.T) {
	tests := []struct {
		name                                 string
		driver, runtime, qos, uid, container string
		want                                 string
	}{
		{"cgroupfs guaranteed", "cgroupfs", "containerd", "Guaranteed", uid, id64, "/kubepods/pod" + uid + "/" + id64},
		{"cgroupfs burstable crio", "cgroupfs", "cri-o", "Burstable", uid, id64, "/kubepods/burstable/pod" + uid + "/crio-" + id64},
		{"cgroupfs besteffort docker", "cgroupfs", "docker", "BestEffort", uid, id64, "/kubepods/besteffort/pod" + uid + "/" + id64},
		{"systemd guaranteed containerd", "systemd", "containerd", "Guaranteed", uid, id64, "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope"},
		{"systemd burstable crio", "systemd", "cri-o", "Burstable", uid, id64, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + id64 + ".scope"},
		{"systemd besteffort docker", "systemd", "docker", "BestEffort", uid, id64, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/docker-" + id64 + ".scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ContainerCgroupPath(tt.driver, tt.runtime, tt.qos, tt.uid, tt.container)); diff != "" {
				t.Errorf("ContainerCgroupPath (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+uidU+".slice", PodCgroupPath("systemd", "Burstable", uid)); diff != "" {
		t.Errorf("PodCgroupPath (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("/sys/fs/cgroup/memory/kubepods/pod"+uid, MemoryCgroupDir(1, PodCgroupPath("cgroupfs", "Guaranteed", uid))); diff != "" {
		t.Errorf("MemoryCgroupDir v1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("/sys/fs/cgroup/kubepods/pod"+uid, MemoryCgroupDir(2, PodCgroupPath("cgroupfs", "Guaranteed", uid))); diff != "" {
		t.Errorf("MemoryCgroupDir v2 (-want +got):\n%s", diff)
	}
}

// TestPathRoundTrip checks FormatPath and ParsePath are inverses over every
// driver × QoS × runtime × scope, with and without a prefix, and on every
// ParsePath table entry FormatPath can reproduce.
func TestPathRoundTrip(t *testing.T) {
	for _, driver := range []string{DriverCgroupfs, DriverSystemd} {
		for _, qos := range []string{QOSGuaranteed, QOSBurstable, QOSBestEffort} {
			for _, runtime := range []string{RuntimeContainerd, RuntimeCRIO, RuntimeDocker} {
				for _, scope := range []string{ScopeNode, ScopeQOS, ScopePod, ScopeContainer} {
					for _, prefix := range []string{"", "/lxc.payload.node1"} {
						for _, conmon := range []bool{false, true} {
							if scope == ScopeQOS && qos == QOSGuaranteed {
								continue // Guaranteed pods have no QoS level
							}
							if conmon && (runtime != RuntimeCRIO || scope != ScopeContainer) {
								continue
							}
							in := PathInfo{Driver: driver, Scope: scope, Prefix: prefix, Conmon: conmon}
							if scope != ScopeNode {
								in.QOSClass = qos
							}
							if scope == ScopePod || scope == ScopeContainer {
								in.PodUID = uid
							}
							if scope == ScopeContainer {
								in.ContainerID = id64
								if driver == DriverSystemd || runtime == RuntimeCRIO {
									in.Runtime = runtime
								}
							}
							path := FormatPath(in)
							t.Run(path, func(t *testing.T) {
								got, ok := ParsePath(path)
								if !ok {
									t.Fatalf("ParsePath(%q) not ok", path)
								}
								if diff := cmp.Diff(in, got); diff != "" {
									t.Errorf("ParsePath(FormatPath(x)) (-want +got):\n%s", diff)
								}
							})
						}
					}
				}
			}
		}
	}
	for _, tt := range pathTests {
		if !tt.ok || tt.want.Prefix == "/kubelet.slice" || tt.name == "unknown leaf below pod" ||
			tt.name == "crio nested container leaf" || tt.name == "cgroupfs node trailing slash" || tt.name == "relative path" {
			continue
		}
		t.Run("table/"+tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.path, FormatPath(tt.want)); diff != "" {
				t.Errorf("FormatPath(ParsePath(x)) (-want +got):\n%s", diff)
			}
		})
	}
}
