package node

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/node/nodetest"
)

// BenchmarkCgroups reads every memory cgroup of a cgroup v2 node with 100
// pods of one container each (about 200 cgroups), as the agent will once
// a second.
func BenchmarkCgroups(b *testing.B) {
	procRoot, sysRoot := nodetest.KubeNodeV2(b, nodetest.DefaultHost)
	qos := filepath.Join(sysRoot, "fs/cgroup/kubepods.slice/kubepods-burstable.slice")
	for i := range 100 {
		pod := filepath.Join(qos, fmt.Sprintf("kubepods-burstable-pod%08x_ea16_463a_96c2_fc74acfb9c47.slice", i))
		for _, dir := range []string{pod, filepath.Join(pod, fmt.Sprintf("cri-containerd-%064x.scope", i))} {
			must(b, os.MkdirAll(dir, 0o755))
			for f, v := range map[string]string{"memory.max": "1073741824", "memory.current": "500000000", "memory.swap.max": "max",
				"memory.swap.current": "0", "memory.high": "max", "memory.oom.group": "1", "cgroup.procs": "",
				"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
				"memory.stat":   "anon 400000000\nfile 100000000\nactive_file 50000000\ninactive_file 50000000\n"} {
				must(b, os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o644))
			}
		}
	}
	h, err := Open(cgroup.Roots{Proc: procRoot, Sys: sysRoot}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		cs, err := h.Cgroups()
		if err != nil || len(cs) != 206 {
			b.Fatalf("%d cgroups, %v", len(cs), err)
		}
	}
}
