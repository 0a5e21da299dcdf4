package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The small machine's Guaranteed pod (cgroupfs driver, cgroup v1) and the
// container its two processes run in.
const (
	SmallPod       = "/kubepods/pod0057cc81-ea16-463a-96c2-fc74acfb9c47"
	SmallContainer = SmallPod + "/3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"
	smallSandbox   = SmallPod + "/aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"
)

// SmallMachine writes a small cgroup v1 host under root: a Guaranteed pod
// (1 GiB limit on the pod and on its container) whose two processes have
// adj −997 and whose sandbox has −998, a Burstable-sized "Plex Media
// Server", a shell, a kernel thread, init and a process with adj −1000,
// with hostile names ("(resolved)", `"with quotes"`, "[").
func SmallMachine(tb testing.TB, root string) (procRoot, sysRoot string) {
	tb.Helper()
	ps := []Process{
		{PID: 1, Comm: "systemd", AnonKB: 8000, FileKB: 4000, PteKB: 80, Start: 1},
		{PID: 2, Comm: "kthreadd", Kthread: true, Start: 1},
		{PID: 300, Comm: "sshd", AnonKB: 2000, FileKB: 3000, PteKB: 60, Adj: -1000, Start: 50},
		{PID: 400, Comm: "Plex Media Server", AnonKB: 30000, FileKB: 8000, PteKB: 120, Start: 60},
		{PID: 500, Comm: "pause", AnonKB: 4, FileKB: 0, PteKB: 4, Adj: -998, Memcg: smallSandbox, Start: 70},
		{PID: 510, Comm: "data_sim", AnonKB: 900000, FileKB: 20000, PteKB: 1800, Adj: -997, Memcg: SmallContainer, Start: 71},
		{PID: 511, Comm: "(resolved)", AnonKB: 400, FileKB: 100, PteKB: 8, Adj: -997, Memcg: SmallContainer, Start: 72},
		{PID: 600, Comm: `"with quotes"`, AnonKB: 1200, FileKB: 800, ShmemKB: 400, SwapKB: 0, PteKB: 40, Adj: 1000, Start: 80},
		{PID: 601, Comm: "[", AnonKB: 1200, FileKB: 800, ShmemKB: 400, PteKB: 40, Adj: 1000, Start: 81},
	}
	procRoot = WriteProc(tb, root, DefaultHost, ps)
	sysRoot = filepath.Join(root, "sys")
	mem := filepath.Join(sysRoot, "fs/cgroup/memory")
	for _, d := range []string{"", "/kubepods", SmallPod, SmallContainer, smallSandbox} {
		must(tb, os.MkdirAll(mem+d, 0o755))
		lim := "9223372036854771712"
		if d == SmallPod || d == SmallContainer {
			lim = "1073741824"
		}
		for f, v := range map[string]string{"memory.limit_in_bytes": lim, "memory.usage_in_bytes": "950000000", "memory.failcnt": "0",
			"memory.use_hierarchy": "1", "memory.swappiness": "60", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
			"memory.stat": "total_inactive_file 10000000\ntotal_active_file 2000000\n", "cgroup.procs": ""} {
			must(tb, os.WriteFile(filepath.Join(mem+d, f), []byte(v+"\n"), 0o644))
		}
	}
	must(tb, os.WriteFile(filepath.Join(mem+SmallContainer, "cgroup.procs"), []byte("510\n511\n"), 0o644))
	must(tb, os.WriteFile(filepath.Join(mem+smallSandbox, "cgroup.procs"), []byte("500\n"), 0o644))
	must(tb, os.MkdirAll(filepath.Join(sysRoot, "fs/cgroup/unified"), 0o755))
	return procRoot, sysRoot
}

// The cgroup v2 node's pod (systemd driver, containerd), its app
// container and its sidecar container.
const (
	V2Pod     = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice"
	V2App     = V2Pod + "/cri-containerd-3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope"
	V2Sidecar = V2Pod + "/cri-containerd-aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope"
)

// KubeNodeV2 writes a cgroup v2 Kubernetes node (the v2 fixture tree of
// internal/cgroup: pod limit 2 GiB, app container 1.5 GiB) with h's
// memory, a .NET app and a JVM in the app container, and a Go, a Node.js
// and a Python process in the sidecar; python3's environ is root's (0400).
// The pod has MemoryQoS's memory.low and memory.high.
func KubeNodeV2(tb testing.TB, h Host) (procRoot, sysRoot string) {
	tb.Helper()
	root := tb.TempDir()
	sysRoot = filepath.Join(root, "sys")
	_, self, _, _ := runtime.Caller(0)
	fixture := filepath.Join(filepath.Dir(self), "..", "..", "cgroup", "testdata", "v2", "sys")
	if out, err := exec.Command("cp", "-r", fixture, sysRoot).CombinedOutput(); err != nil {
		tb.Fatalf("copy %s: %v: %s", fixture, err, out)
	}
	h.V1 = false
	procRoot = WriteProc(tb, root, h, []Process{
		{PID: 4711, Memcg: V2App, Comm: "dotnet", AnonKB: 900000, FileKB: 20000, PteKB: 1800, Adj: 968, Start: 10,
			Argv: []string{"dotnet", "/app/Api.dll"}, Env: []string{"PATH=/usr/bin", "DOTNET_GCHeapHardLimitPercent=80"}},
		{PID: 4712, Memcg: V2App, Comm: "java", AnonKB: 200000, FileKB: 20000, PteKB: 400, Adj: 968, Start: 11,
			Argv: []string{"java", "-XX:MaxRAMPercentage=75.0", "-jar", "/app/app.jar"}, Env: []string{"JAVA_TOOL_OPTIONS=-Xmx1g"}},
		{PID: 4713, Memcg: V2Sidecar, Comm: "envoy-go", AnonKB: 50000, FileKB: 2000, PteKB: 100, Adj: 968, Start: 12,
			Argv: []string{"/sidecar"}, Env: []string{"GOMEMLIMIT=400MiB"}},
		{PID: 4714, Memcg: V2Sidecar, Comm: "node", AnonKB: 80000, FileKB: 2000, PteKB: 100, Adj: 968, Start: 13,
			Argv: []string{"node", "server.js"}, Env: []string{"NODE_OPTIONS=--max-old-space-size=384"}},
		{PID: 4715, Memcg: V2Sidecar, Comm: "python3", AnonKB: 30000, FileKB: 2000, PteKB: 80, Adj: 968, Start: 14,
			Argv: []string{"python3", "-m", "http.server"}, Env: []string{"SECRET=1"}},
	})
	must(tb, os.WriteFile(filepath.Join(sysRoot, "fs/cgroup", V2App, "cgroup.procs"), []byte("4711\n4712\n"), 0o644))
	must(tb, os.WriteFile(filepath.Join(sysRoot, "fs/cgroup", V2Sidecar, "cgroup.procs"), []byte("4713\n4714\n4715\n"), 0o644))
	// MemoryQoS on the pod (a 1.37 kubelet with TieredReservation and
	// factor 0.9 for requests 1Gi, limits 2Gi): memory.low and memory.high.
	for f, v := range map[string]string{"memory.low": "1073741824\n", "memory.high": "2040107008\n"} {
		must(tb, os.WriteFile(filepath.Join(sysRoot, "fs/cgroup", V2Pod, f), []byte(v), 0o644))
	}
	return procRoot, sysRoot
}

// must fails the test when a setup step fails, so a broken fixture never
// passes as an empty one.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
