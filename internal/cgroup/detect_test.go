package cgroup

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Mountinfo lines in the formats of real hosts (proc(5)): this project's
// hybrid v1 host, a pure v2 host, and a v2 host with an escaped space.
func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Layout
	}{
		{"hybrid v1 memory", `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu
`, Layout{V1Memory: "/sys/fs/cgroup/memory", V2: "/sys/fs/cgroup/unified", hasV1: true}},
		{"pure v2", `30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`, Layout{V2: "/sys/fs/cgroup"}},
		{"escaped", `30 23 0:26 / /mnt/my\040cg rw - cgroup2 none rw
`, Layout{V2: "/mnt/my cg"}},
		{"garbage", "not a mountinfo line\n\n - \n", Layout{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(Layout{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	hybrid := "9:name=systemd:/\n4:memory:/process_api/b475\n0::/\n"
	if got, err := parseProcCgroup([]byte(hybrid), V1); err != nil || got != "/process_api/b475" {
		t.Errorf("v1 = %q, %v", got, err)
	}
	v2 := "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope\n"
	if got, err := parseProcCgroup([]byte(v2), V2); err != nil || got != "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope" {
		t.Errorf("v2 = %q, %v", got, err)
	}
	if _, err := parseProcCgroup([]byte("0::/\n"), V1); err == nil {
		t.Error("want an error for a v1 lookup without a memory line")
	}
}
