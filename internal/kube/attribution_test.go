package kube

import (
	"encoding/json"
	"testing"
)

// TestAttribute: the kubernetes object as every schema prints it, for
// paths of the kubelet's naming (spec/kubernetes.md §3: systemd
// kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope, cgroupfs
// kubepods/pod<uid>).
func TestAttribute(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice/cri-containerd-3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope",
			`{"pod_uid":"0057cc81-ea16-463a-96c2-fc74acfb9c47","container_id":"3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2","qos_class":"Burstable","cgroup_driver":"systemd","container_runtime":"containerd","cgroup_level":"container"}`},
		{"/kubepods/pod3b5e63f1-b571-407f-be00-461ed99e968f",
			`{"pod_uid":"3b5e63f1-b571-407f-be00-461ed99e968f","container_id":null,"qos_class":"Guaranteed","cgroup_driver":"cgroupfs","container_runtime":null,"cgroup_level":"pod"}`},
		{"/kubepods/besteffort",
			`{"pod_uid":null,"container_id":null,"qos_class":"BestEffort","cgroup_driver":"cgroupfs","container_runtime":null,"cgroup_level":"qos"}`},
		{"/kubepods.slice",
			`{"pod_uid":null,"container_id":null,"qos_class":null,"cgroup_driver":"systemd","container_runtime":null,"cgroup_level":"node"}`},
		{"/user.slice/user-1000.slice/session-2.scope", `null`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			a := Attribute(tc.path)
			got, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Attribute = %s\nwant        %s", got, tc.want)
			}
			if info, ok := ParsePath(tc.path); ok {
				v, _ := json.Marshal(info.Attribution())
				if string(v) != tc.want {
					t.Errorf("PathInfo.Attribution = %s, Attribute %s", v, got)
				}
			}
		})
	}
}
