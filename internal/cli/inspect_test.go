package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

const inspectChildEnv = "OOMKIT_INSPECT_CHILD_TOUCH"

// TestInspectChildHelper is the child process of TestInspectRealMemcg: it
// waits for "go" on stdin (by then it is in the memcg), touches the number
// of bytes in $OOMKIT_INSPECT_CHILD_TOUCH with one write per page, says
// "touched", and holds the memory until stdin closes.
func TestInspectChildHelper(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(inspectChildEnv))
	if err != nil {
		t.Skip("helper process for TestInspectRealMemcg")
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(3)
	}
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println("mmap:", err)
		os.Exit(4)
	}
	for i := 0; i < n; i += os.Getpagesize() {
		mem[i] = 1
	}
	fmt.Println("touched")
	_, _ = io.Copy(io.Discard, in)
	runtime.KeepAlive(mem)
	os.Exit(0)
}

// meminfoKB reads one /proc/meminfo line.
func meminfoKB(t *testing.T, key string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/meminfo", key)
	return 0
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInspectRealMemcg: a throw-away memcg with a 64 MiB limit, a child in
// it that touched 32 MiB, and inspect's numbers against the kernel's.
func TestInspectRealMemcg(t *testing.T) {
	const limit, touch = 64 << 20, 32 << 20
	m := kerneltest.NewMemcg(t, limit)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInspectChildHelper$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", inspectChildEnv, touch))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	if err := m.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "touched\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	usageFile := filepath.Join(m.Dir, map[string]string{"v1": "memory.usage_in_bytes", "v2": "memory.current"}[string(m.Version)])
	usageBefore := readInt(t, usageFile)
	limitBefore, committedBefore := meminfoKB(t, "CommitLimit"), meminfoKB(t, "Committed_AS")
	var out, errb bytes.Buffer
	if code := Main([]string{"inspect", "--json", "--pid", strconv.Itoa(cmd.Process.Pid)}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	usageAfter := readInt(t, usageFile)
	committedAfter := meminfoKB(t, "Committed_AS")
	var r inspectReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Overcommit.CommitLimitKB == nil || *r.Overcommit.CommitLimitKB != limitBefore {
		t.Errorf("commit_limit_kb %v, kernel %d", r.Overcommit.CommitLimitKB, limitBefore)
	}
	if r.Overcommit.CommitLimitMatches == nil || !*r.Overcommit.CommitLimitMatches {
		t.Errorf("computed commit limit %v differs from the kernel's %d", r.Overcommit.ComputedCommitLimitKB, limitBefore)
	}
	// Committed_AS moves with every mmap on the machine: inspect's read must
	// fall between (or within 1% of) the reads just before and after it.
	lo, hi := min(committedBefore, committedAfter), max(committedBefore, committedAfter)
	if c := r.Overcommit.CommittedASKB; c == nil || *c < lo-lo/100 || *c > hi+hi/100 {
		t.Errorf("committed_as_kb %v, kernel %d…%d", c, lo, hi)
	}
	c := r.Cgroup
	if c == nil {
		t.Fatalf("no cgroup in %s", out.String())
	}
	if c.Path != m.Path || c.LimitBytes == nil || *c.LimitBytes != limit || c.LimitPath == nil || *c.LimitPath != m.Path {
		t.Errorf("cgroup %s limit %v at %v; want %s, %d", c.Path, c.LimitBytes, c.LimitPath, m.Path, limit)
	}
	if u := c.UsageBytes; u == nil || *u < min(usageBefore, usageAfter) || *u > max(usageBefore, usageAfter) || *u < touch {
		t.Errorf("usage_bytes %v, kernel %d…%d (touched %d)", u, usageBefore, usageAfter, touch)
	}
	if c.HeadroomBytes == nil || *c.HeadroomBytes != limit-*c.WorkingSetBytes {
		t.Errorf("headroom %v, want limit − working set %v", c.HeadroomBytes, c.WorkingSetBytes)
	}
	if v := c.NextVictim; v == nil || v.PID != cmd.Process.Pid || v.RSSPages < touch/4096 || v.TotalPages != limit/4096 {
		t.Errorf("next victim %+v, want the child %d with ≥ %d pages of %d", v, cmd.Process.Pid, touch/4096, limit/4096)
	}
	if len(r.Processes) != 1 || r.Processes[0].PID != cmd.Process.Pid {
		t.Errorf("processes %+v, want the child %d", r.Processes, cmd.Process.Pid)
	}
	t.Logf("CommitLimit %d kB, Committed_AS %v kB, memcg %s limit %d usage %d working set %d headroom %d",
		limitBefore, *r.Overcommit.CommittedASKB, c.Path, *c.LimitBytes, *c.UsageBytes, *c.WorkingSetBytes, *c.HeadroomBytes)
}

const (
	inspectPod     = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice"
	inspectApp     = inspectPod + "/cri-containerd-3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope"
	inspectSidecar = inspectPod + "/cri-containerd-aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope"
)

// inspectFixture is a cgroup v2 Kubernetes node (the v2 fixture tree of
// internal/cgroup) with a .NET app, a JVM and a Go and a Node.js sidecar,
// and a Python process whose environ is unreadable.
func inspectFixture(t *testing.T, h fakeHost) (procRoot, sysRoot string) {
	t.Helper()
	root := t.TempDir()
	sysRoot = filepath.Join(root, "sys")
	if err := exec.Command("cp", "-r", "../cgroup/testdata/v2/sys", sysRoot).Run(); err != nil {
		t.Fatal(err)
	}
	h.v1 = false
	procRoot = writeFakeProc(t, root, h, []fakeProcess{
		{pid: 4711, memcg: inspectApp, comm: "dotnet", anonKB: 900000, fileKB: 20000, pteKB: 1800, adj: 968, start: 10,
			argv: []string{"dotnet", "/app/Api.dll"}, env: []string{"PATH=/usr/bin", "DOTNET_GCHeapHardLimitPercent=80"}},
		{pid: 4712, memcg: inspectApp, comm: "java", anonKB: 200000, fileKB: 20000, pteKB: 400, adj: 968, start: 11,
			argv: []string{"java", "-XX:MaxRAMPercentage=75.0", "-jar", "/app/app.jar"}, env: []string{"JAVA_TOOL_OPTIONS=-Xmx1g"}},
		{pid: 4713, memcg: inspectSidecar, comm: "envoy-go", anonKB: 50000, fileKB: 2000, pteKB: 100, adj: 968, start: 12,
			argv: []string{"/sidecar"}, env: []string{"GOMEMLIMIT=400MiB"}},
		{pid: 4714, memcg: inspectSidecar, comm: "node", anonKB: 80000, fileKB: 2000, pteKB: 100, adj: 968, start: 13,
			argv: []string{"node", "server.js"}, env: []string{"NODE_OPTIONS=--max-old-space-size=384"}},
		{pid: 4715, memcg: inspectSidecar, comm: "python3", anonKB: 30000, fileKB: 2000, pteKB: 80, adj: 968, start: 14,
			argv: []string{"python3", "-m", "http.server"}, env: []string{"SECRET=1"}},
	})
	w := func(dir, pids string) {
		if err := os.WriteFile(filepath.Join(sysRoot, "fs/cgroup", dir, "cgroup.procs"), []byte(pids), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w(inspectApp, "4711\n4712\n")
	w(inspectSidecar, "4713\n4714\n4715\n")
	// MemoryQoS on the pod (a 1.37 kubelet with TieredReservation and
	// factor 0.9 for requests 1Gi, limits 2Gi): memory.low and memory.high.
	for f, v := range map[string]string{"memory.low": "1073741824\n", "memory.high": "2040107008\n"} {
		if err := os.WriteFile(filepath.Join(sysRoot, "fs/cgroup", inspectPod, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return procRoot, sysRoot
}

// asUser runs f with this thread's filesystem UID set to nobody, so the
// kernel checks permissions as for that user (and drops the filesystem
// capabilities for the thread). It skips when not root.
func asUser(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch the filesystem UID")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Setfsuid(65534)
	defer func() { _ = unix.Setfsuid(0) }()
	f()
}

// openUp makes the temp tree traversable by other users.
func openUp(t *testing.T, dir string) {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if !strings.HasPrefix(d, os.TempDir()) || d == os.TempDir() {
			break
		}
		must(t, os.Chmod(d, 0o755))
	}
}

func TestInspectGolden(t *testing.T) {
	procRoot, sysRoot := inspectFixture(t, defaultFakeHost)
	openUp(t, procRoot)
	// All but python3's environ (0400, root's) become readable by others.
	must(t, filepath.Walk(filepath.Dir(procRoot), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasSuffix(p, "4715/environ") {
			return os.Chmod(p, 0o644)
		}
		return nil
	}))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"pod.txt", []string{"--cgroup", inspectPod}},
		{"pod.json", []string{"--cgroup", inspectPod, "--json"}},
		{"pid.json", []string{"--pid", "4711", "--json"}},
		{"all.txt", []string{"--all-cgroups", "--eviction-hard", "memory.available<10%"}},
		{"all.json", []string{"--all-cgroups", "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := -1
			asUser(t, func() {
				code = Main(append([]string{"inspect", "--proc-root", procRoot, "--sys-root", sysRoot}, tc.args...), nil, &out, &errb)
			})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden(t, filepath.Join("testdata", "inspect", tc.name), bytes.ReplaceAll(out.Bytes(), []byte(filepath.Dir(procRoot)), []byte("$ROOT")))
		})
	}
}

// TestInspectRuntimes checks inspect's use of the heap-ceiling model end
// to end: the runtime each fake process is recognised as, from its own
// /proc/PID/cmdline and environ.
func TestInspectRuntimes(t *testing.T) {
	procRoot, sysRoot := inspectFixture(t, defaultFakeHost)
	var out, errb bytes.Buffer
	if code := Main([]string{"inspect", "--json", "--proc-root", procRoot, "--sys-root", sysRoot, "--cgroup", inspectPod}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r inspectReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	type row struct {
		PID     int
		Runtime string
		Ceiling int64
	}
	var got []row
	for _, p := range r.Processes {
		got = append(got, row{p.PID, derefOr(p.Runtime, ""), derefOr(p.HeapCeilingBytes, -1)})
	}
	want := []row{
		{4711, "dotnet", 2147483648 * 128 / 100}, // 0x80 percent = 128 % of the 2 GiB pod limit
		{4712, "jvm", 1 << 30},                   // -Xmx1g in JAVA_TOOL_OPTIONS beats MaxRAMPercentage
		{4713, "go", 400 << 20},
		{4714, "node", 384 << 20},
		{4715, "", -1},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("runtimes (-want +got):\n%s", d)
	}
}

func TestInspectOddHosts(t *testing.T) {
	run := func(t *testing.T, procRoot, sysRoot string, args ...string) (inspectReport, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := Main(append([]string{"inspect", "--json", "--proc-root", procRoot, "--sys-root", sysRoot}, args...), nil, &out, &errb)
		var r inspectReport
		if code == 0 {
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
		}
		return r, errb.String(), code
	}
	t.Run("no PSI, no swap", func(t *testing.T) {
		h := defaultFakeHost
		h.psi = false
		procRoot, sysRoot := inspectFixture(t, h)
		r, _, code := run(t, procRoot, sysRoot, "--cgroup", inspectApp)
		if code != 0 || r.Pressure != nil || r.Memory.SwapTotalKB == nil || *r.Memory.SwapTotalKB != 0 || !strings.Contains(strings.Join(r.Notes, "\n"), "PSI") {
			t.Errorf("exit %d, pressure %v, notes %q", code, r.Pressure, r.Notes)
		}
	})
	t.Run("process exits mid-scan", func(t *testing.T) {
		procRoot, sysRoot := inspectFixture(t, defaultFakeHost)
		os.RemoveAll(filepath.Join(procRoot, "4712"))
		r, _, code := run(t, procRoot, sysRoot, "--cgroup", inspectApp)
		if code != 0 || r.Gone != 1 || len(r.Processes) != 1 {
			t.Errorf("exit %d, gone %d, %d processes", code, r.Gone, len(r.Processes))
		}
	})
	t.Run("mode 2 with huge pages", func(t *testing.T) {
		procRoot, sysRoot := inspectFixture(t, defaultFakeHost)
		must(t, os.WriteFile(filepath.Join(procRoot, "sys/vm/overcommit_memory"), []byte("2\n"), 0o644))
		r, _, code := run(t, procRoot, sysRoot)
		oc := r.Overcommit
		if code != 0 || oc.HeadroomKB == nil || *oc.HeadroomKB != 12342040-72048 || oc.LargestAllocationKB != nil || !strings.Contains(oc.Summary, "fork") {
			t.Errorf("exit %d, overcommit %+v", code, oc)
		}
	})
	t.Run("CommitLimit differs", func(t *testing.T) {
		h := defaultFakeHost
		h.commitLimitKB++
		procRoot, sysRoot := inspectFixture(t, h)
		r, _, code := run(t, procRoot, sysRoot)
		if code != 0 || r.Overcommit.CommitLimitMatches == nil || *r.Overcommit.CommitLimitMatches || !strings.Contains(strings.Join(r.Notes, "\n"), "vm_commit_limit") {
			t.Errorf("exit %d, %+v, notes %q", code, r.Overcommit, r.Notes)
		}
	})
	t.Run("cgroup removed", func(t *testing.T) {
		procRoot, sysRoot := inspectFixture(t, defaultFakeHost)
		os.RemoveAll(filepath.Join(sysRoot, "fs/cgroup", inspectSidecar))
		_, stderr, code := run(t, procRoot, sysRoot, "--cgroup", inspectSidecar)
		if code != 1 || !strings.Contains(stderr, "no such cgroup") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		// The pid's cgroup is gone but the process is still listed: same.
		_, stderr, code = run(t, procRoot, sysRoot, "--pid", "99999")
		if code != 1 || !strings.Contains(stderr, "no process 99999") {
			t.Errorf("missing pid: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("no memory controller", func(t *testing.T) {
		procRoot, _ := inspectFixture(t, defaultFakeHost)
		must(t, os.WriteFile(filepath.Join(procRoot, "self/mountinfo"), []byte("22 1 254:1 / / rw - ext4 /dev/root rw\n"), 0o444))
		r, _, code := run(t, procRoot, t.TempDir())
		if code != 0 || r.Cgroup != nil || r.Overcommit.CommitLimitKB == nil {
			t.Errorf("exit %d, %+v", code, r)
		}
	})
}

func TestParseEvictionHard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		bytes   int64
		percent float64
		bad     bool
	}{
		{in: "memory.available<100Mi", bytes: 100 << 20},
		{in: "memory.available<1Gi,nodefs.available<10%", bytes: 1 << 30},
		{in: "nodefs.available<10%, memory.available<500M", bytes: 500e6},
		{in: "memory.available<5%", percent: 5},
		{in: "memory.available<150%", bad: true},
		{in: "memory.available<lots", bad: true},
		{in: "nodefs.available<10%", bad: true},
		{in: "memory.available", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			th, err := parseEvictionHard(tc.in)
			if tc.bad {
				if err == nil {
					t.Errorf("accepted: %+v", th)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if derefOr(th.Bytes, 0) != tc.bytes || derefOr(th.Percent, 0) != tc.percent {
				t.Errorf("got %v bytes, %v%%", th.Bytes, th.Percent)
			}
		})
	}
}

func TestInspectUsage(t *testing.T) {
	for _, args := range [][]string{
		{"inspect", "--pid", "1", "--cgroup", "/"},
		{"inspect", "--all-cgroups", "--cgroup", "/"},
		{"inspect", "--pid", "0"},
		{"inspect", "--eviction-hard", "memory.available<lots"},
		{"inspect", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(args, nil, &out, &errb); code != ExitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, errb.String())
			}
		})
	}
}
