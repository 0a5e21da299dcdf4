package node

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/node/nodetest"
)

// open opens a fake host, with the rules of kernel assume ("": the
// tree's own osrelease).
func open(t *testing.T, procRoot, sysRoot, assume string) *Host {
	t.Helper()
	var v *mm.Version
	if assume != "" {
		pv, err := mm.ParseVersion(assume)
		if err != nil {
			t.Fatal(err)
		}
		v = &pv
	}
	h, err := Open(cgroup.Roots{Proc: procRoot, Sys: sysRoot}, v)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ranked is what a test checks of one ranked process.
type ranked struct {
	PID    int
	Rank   int   // 0: never chosen
	Points int64 // when ranked
	Why    string
}

func summarize(r Ranking) []ranked {
	var out []ranked
	for _, p := range r.Processes {
		x := ranked{PID: p.PID, Why: deref(p.IneligibleReason, "")}
		if p.Rank != nil {
			x.Rank, x.Points = *p.Rank, *p.Points
		}
		out = append(out, x)
	}
	return out
}

// TestRankGlobal ranks the small machine for a global OOM on 6.18. The
// expected points are oom_badness() of mm/oom_kill.c worked by hand: rss +
// swap + page-table pages, plus adj × (totalpages/1000), totalpages =
// MemTotal 24684084 kB / 4 = 6171021 pages (no swap), so one adj point
// weighs 6171 pages; 6.18 keeps the sum signed.
func TestRankGlobal(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	h := open(t, procRoot, sysRoot, "")
	r, err := h.Rank("", RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalPages != 6171021 || r.GlobalTotalPages != 6171021 || r.Rules != mm.RulesSigned || r.OOMKind() != "global" {
		t.Errorf("totalpages %d/%d, rules %v, kind %s", r.TotalPages, r.GlobalTotalPages, r.Rules, r.OOMKind())
	}
	want := []ranked{
		// "[" and "with quotes": (1200+800+400)/4 + 40/4 + 1000×6171 =
		// 6171610 each; scanned oldest first, the later-started "[" is
		// scanned last and wins the tie (5.3+).
		{PID: 601, Rank: 1, Points: 6171610},
		{PID: 600, Rank: 2, Points: 6171610},
		{PID: 400, Rank: 3, Points: 38000/4 + 120/4},              // 9530
		{PID: 510, Rank: 4, Points: 920000/4 + 1800/4 - 997*6171}, // -5922037
		{PID: 511, Rank: 5, Points: 500/4 + 8/4 - 997*6171},       // -6152360
		{PID: 500, Rank: 6, Points: 1 + 1 - 998*6171},             // 4 kB rss, 4 kB page tables: -6158656
		// Never chosen, listed last (in no particular order).
		{PID: 1, Why: "init"},
		{PID: 2, Why: "kernel thread"},
		{PID: 300, Why: "oom_score_adj -1000"},
	}
	got := summarize(r)
	slices.SortFunc(got[min(6, len(got)):], func(a, b ranked) int { return a.PID - b.PID })
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ranking (-want +got):\n%s", d)
	}
	// The fake kernel's oom_score (nodetest writes 6.18's) is the model's.
	for _, p := range r.Processes {
		if p.OOMScore != p.ModelOOMScore {
			t.Errorf("pid %d: oom_score %d, model %d", p.PID, p.OOMScore, p.ModelOOMScore)
		}
	}
}

// TestRankMemcgByKernel ranks the small machine's Guaranteed pod for its
// memcg OOM: totalpages is the 1 GiB limit, 262144 pages (adj weight 262),
// scanned pod → container (510, 511) → sandbox (500). The article's twist:
// on 5.3–5.8 every score clamps to 1 and the last scanned, the tiny
// pause, dies; ≤ 5.2 keeps the first; 5.9+ picks the biggest.
func TestRankMemcgByKernel(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	for _, tc := range []struct {
		kernel string
		want   []ranked
	}{
		{"6.18", []ranked{
			{PID: 510, Rank: 1, Points: 230450 - 997*262}, // -30764
			{PID: 511, Rank: 2, Points: 127 - 997*262},
			{PID: 500, Rank: 3, Points: 2 - 998*262},
		}},
		{"5.4.0", []ranked{{PID: 500, Rank: 1, Points: 1}, {PID: 511, Rank: 2, Points: 1}, {PID: 510, Rank: 3, Points: 1}}},
		{"4.14.0", []ranked{{PID: 510, Rank: 1, Points: 1}, {PID: 511, Rank: 2, Points: 1}, {PID: 500, Rank: 3, Points: 1}}},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			r, err := open(t, procRoot, sysRoot, tc.kernel).Rank(nodetest.SmallPod, RankOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.TotalPages != 262144 || r.Memcg != nodetest.SmallPod || r.OOMKind() != "memcg" {
				t.Errorf("totalpages %d, memcg %q, kind %s", r.TotalPages, r.Memcg, r.OOMKind())
			}
			if d := cmp.Diff(tc.want, summarize(r)); d != "" {
				t.Errorf("ranking (-want +got):\n%s", d)
			}
		})
	}
}

// TestRankScanOrderByStartTime: processes whose points tie are ordered by
// start time (for_each_process() walks the task list oldest first), not
// by PID, which wraps.
func TestRankScanOrderByStartTime(t *testing.T) {
	root := t.TempDir()
	procRoot := nodetest.WriteProc(t, root, nodetest.DefaultHost, []nodetest.Process{
		{PID: 700, Comm: "young", AnonKB: 4000, PteKB: 40, Start: 900},
		{PID: 701, Comm: "old", AnonKB: 4000, PteKB: 40, Start: 100}, // started first, PID wrapped
		{PID: 702, Comm: "other", AnonKB: 400, PteKB: 40, Start: 50},
	})
	r, err := open(t, procRoot, filepath.Join(root, "sys"), "").Rank("", RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 6.18: among exact equals the last scanned wins: "young".
	if got := summarize(r); got[0].PID != 700 || got[1].PID != 701 || got[0].Points != got[1].Points {
		t.Errorf("ranking %+v, want 700 (scanned last) before 701", got)
	}
	r, err = open(t, procRoot, filepath.Join(root, "sys"), "5.2.0").Rank("", RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// ≤ 5.2: the first scanned keeps the slot: "old".
	if got := summarize(r); got[0].PID != 701 {
		t.Errorf("5.2 ranking %+v, want 701 (scanned first)", got)
	}
}

// TestRankKubernetes: every ranked process carries what its cgroup path
// says about Kubernetes (kubelet's cgroupfs naming: kubepods/pod<uid>/<id>).
func TestRankKubernetes(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	h := open(t, procRoot, sysRoot, "")
	r, err := h.Rank("", RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	for _, p := range r.Processes {
		var want *kube.Attribution
		switch p.PID {
		case 510, 511:
			want = &kube.Attribution{PodUID: s("0057cc81-ea16-463a-96c2-fc74acfb9c47"), ContainerID: s("3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"),
				QOSClass: s("Guaranteed"), CgroupDriver: s("cgroupfs"), CgroupLevel: s("container")}
		case 500:
			want = &kube.Attribution{PodUID: s("0057cc81-ea16-463a-96c2-fc74acfb9c47"), ContainerID: s("aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"),
				QOSClass: s("Guaranteed"), CgroupDriver: s("cgroupfs"), CgroupLevel: s("container")}
		}
		if d := cmp.Diff(want, p.Kubernetes); d != "" {
			t.Errorf("pid %d kubernetes (-want +got):\n%s", p.PID, d)
		}
		if p.Cgroup == nil {
			t.Errorf("pid %d: no cgroup", p.PID)
		}
	}
}

func TestRankErrors(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	h := open(t, procRoot, sysRoot, "")
	if _, err := h.Rank("/kubepods/nope", RankOptions{}); !errors.Is(err, cgroup.ErrRemoved) {
		t.Errorf("missing cgroup: %v, want ErrRemoved", err)
	}
	noMemcg := filepath.Join(t.TempDir(), "proc")
	must(t, os.CopyFS(noMemcg, os.DirFS(procRoot)))
	must(t, os.WriteFile(filepath.Join(noMemcg, "self/mountinfo"), []byte("22 1 254:1 / / rw - ext4 /dev/root rw\n"), 0o444))
	h = open(t, noMemcg, sysRoot, "")
	if _, err := h.Rank("/kubepods", RankOptions{}); !errors.Is(err, cgroup.ErrNoMemoryController) {
		t.Errorf("no controller: %v, want ErrNoMemoryController", err)
	}
	if r, err := h.Rank("", RankOptions{}); err != nil || len(r.Processes) != 9 {
		t.Errorf("global ranking without a controller: %v, %d processes", err, len(r.Processes))
	}
	// Listed in cgroup.procs, already gone from /proc.
	must(t, os.RemoveAll(filepath.Join(procRoot, "511")))
	r, err := open(t, procRoot, sysRoot, "").Rank("/kubepods", RankOptions{})
	if err != nil || r.Gone != 1 || len(r.Processes) != 2 {
		t.Errorf("exited process: %v, gone %d, %d processes", err, r.Gone, len(r.Processes))
	}
}

// TestKernelUnknown: without osrelease nothing assumes a kernel. The
// ranking, which depends on the rules, refuses; the report says
// "unknown" where the version matters and keeps everything else.
func TestKernelUnknown(t *testing.T) {
	host := nodetest.DefaultHost
	host.Release = ""
	procRoot, sysRoot := nodetest.KubeNodeV2(t, host)
	h := open(t, procRoot, sysRoot, "")
	if h.Kernel != nil || !strings.Contains(strings.Join(h.Notes, "\n"), "kernel version unknown") {
		t.Errorf("kernel %v, notes %q", h.Kernel, h.Notes)
	}
	if _, err := h.Rank("", RankOptions{}); !errors.Is(err, ErrKernelUnknown) || !strings.Contains(err.Error(), "--assume-kernel") {
		t.Errorf("Rank: %v, want ErrKernelUnknown", err)
	}
	r, err := h.Inspect(Target{Cgroup: nodetest.V2App}, kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))})
	if err != nil {
		t.Fatal(err)
	}
	if r.KernelVersion != nil || r.Overcommit.LargestAllocationKB != nil || !strings.Contains(r.Overcommit.Summary, "--assume-kernel") {
		t.Errorf("kernel %v, largest allocation %v, summary %q", r.KernelVersion, r.Overcommit.LargestAllocationKB, r.Overcommit.Summary)
	}
	if c := r.Cgroup; c == nil || c.NextVictim != nil || !strings.Contains(strings.Join(c.Notes, "\n"), ErrKernelUnknown.Error()) || c.HeadroomBytes == nil {
		t.Errorf("cgroup %+v", c)
	}
	// --assume-kernel decides.
	r, err = open(t, procRoot, sysRoot, "5.4.0").Inspect(Target{Cgroup: nodetest.V2App}, kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))})
	if err != nil || deref(r.KernelVersion, "") != "5.4.0" || r.Cgroup.NextVictim == nil || r.Overcommit.LargestAllocationKB == nil {
		t.Errorf("assumed 5.4.0: %v, %+v", err, r)
	}
}

// TestCgroups lists the v2 node's memory cgroups least headroom first. A
// cgroup's headroom is limit − working set (usage − inactive_file, as the
// kubelet computes it) at the level where it is smallest; the numbers are
// the fixture's files (internal/cgroup/testdata/v2).
func TestCgroups(t *testing.T) {
	procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
	h := open(t, procRoot, sysRoot, "")
	cs, err := h.Cgroups()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Path, HeadroomPath string
		Headroom           int64
		Level              string
	}
	var got []row
	for _, c := range cs {
		r := row{Path: c.Path, HeadroomPath: deref(c.HeadroomPath, ""), Headroom: deref(c.HeadroomBytes, -1)}
		if c.Kubernetes != nil {
			r.Level = deref(c.Kubernetes.CgroupLevel, "")
		}
		if c.Levels != nil {
			t.Errorf("%s: levels in the list", c.Path)
		}
		got = append(got, r)
	}
	kp, bu := "/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice"
	want := []row{
		{nodetest.V2Sidecar, nodetest.V2Sidecar, 536870912 - (500000000 - 150000000), "container"},
		{nodetest.V2App, nodetest.V2App, 1610612736 - (1400000000 - 150000000), "container"},
		{nodetest.V2Pod, nodetest.V2Pod, 2147483648 - (1900000000 - 300000000), "pod"},
		{kp, kp, 24000000000 - (3221225472 - 536870912), "node"},
		{bu, kp, 24000000000 - (3221225472 - 536870912), "qos"}, // unlimited itself: kubepods binds
		{"/", "", -1, ""},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cgroups (-want +got):\n%s", d)
	}
}

// TestInspectPID inspects the .NET process's cgroup: its container's
// limit binds (1.5 GiB < the pod's 2 GiB), it is the next victim of that
// memcg, and it heads the runtime table.
func TestInspectPID(t *testing.T) {
	procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
	h := open(t, procRoot, sysRoot, "")
	r, err := h.Inspect(Target{PID: 4711}, kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Cgroup
	if c == nil || c.Path != nodetest.V2App || deref(c.LimitBytes, 0) != 1610612736 || len(c.Levels) != 5 {
		t.Fatalf("cgroup %+v", c)
	}
	s := func(v string) *string { return &v }
	wantK := &kube.Attribution{PodUID: s("0057cc81-ea16-463a-96c2-fc74acfb9c47"), ContainerID: s("3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"),
		QOSClass: s("Burstable"), CgroupDriver: s("systemd"), ContainerRuntime: s("containerd"), CgroupLevel: s("container")}
	if d := cmp.Diff(wantK, c.Kubernetes); d != "" {
		t.Errorf("kubernetes (-want +got):\n%s", d)
	}
	// totalpages 1610612736/4096 = 393216, adj weight 393: dotnet has
	// (900000+20000)/4 + 1800/4 + 968×393 points.
	wantV := &Victim{PID: 4711, Comm: "dotnet", Points: 230450 + 968*393, OOMScoreAdj: 968, RSSPages: 230000, TotalPages: 393216}
	if d := cmp.Diff(wantV, c.NextVictim); d != "" {
		t.Errorf("next victim (-want +got):\n%s", d)
	}
	if len(r.Processes) != 2 || r.Processes[0].PID != 4711 || r.Processes[1].PID != 4712 {
		t.Errorf("processes %+v", r.Processes)
	}
	// memory.available = MemTotal − root working set; the v2 root has no
	// memory.current, so usage is MemTotal − MemFree (1214119936 bytes),
	// less its 2 GiB of inactive_file: 0.
	ev := r.Eviction
	if !ev.KubernetesNode || deref(ev.NodeWorkingSetBytes, -1) != 0 || deref(ev.AvailableBytes, 0) != 24684084*1024 ||
		deref(ev.HeadroomBytes, 0) != 24684084*1024-100<<20 {
		t.Errorf("eviction %+v", ev)
	}
}

// TestRuntimes: the runtime each process of the pod is recognised as,
// from its own /proc/PID/cmdline and environ, and the ceiling it sets.
func TestRuntimes(t *testing.T) {
	procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
	h := open(t, procRoot, sysRoot, "")
	procs, gone, notes, err := h.Runtimes(nodetest.V2Pod, 0, 2<<30)
	if err != nil || gone != 0 || len(notes) != 0 {
		t.Fatalf("%v, gone %d, notes %q", err, gone, notes)
	}
	type row struct {
		PID     int
		Runtime string
		Ceiling int64
	}
	var got []row
	for _, p := range procs {
		got = append(got, row{p.PID, deref(p.Runtime, ""), deref(p.HeapCeilingBytes, -1)})
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

// TestInspectOddHosts: what a host lacks becomes null and a note, never
// an error.
func TestInspectOddHosts(t *testing.T) {
	th := kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))}
	inspect := func(t *testing.T, procRoot, sysRoot string, tg Target) Report {
		t.Helper()
		r, err := open(t, procRoot, sysRoot, "").Inspect(tg, th)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("no PSI, no swap", func(t *testing.T) {
		h := nodetest.DefaultHost
		h.PSI = false
		procRoot, sysRoot := nodetest.KubeNodeV2(t, h)
		r := inspect(t, procRoot, sysRoot, Target{Cgroup: nodetest.V2App})
		if r.Pressure != nil || deref(r.Memory.SwapTotalKB, -1) != 0 || !strings.Contains(strings.Join(r.Notes, "\n"), "PSI") {
			t.Errorf("pressure %v, notes %q", r.Pressure, r.Notes)
		}
	})
	t.Run("process exits mid-scan", func(t *testing.T) {
		procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
		must(t, os.RemoveAll(filepath.Join(procRoot, "4712")))
		r := inspect(t, procRoot, sysRoot, Target{Cgroup: nodetest.V2App})
		if r.Gone != 1 || len(r.Processes) != 1 {
			t.Errorf("gone %d, %d processes", r.Gone, len(r.Processes))
		}
	})
	t.Run("mode 2", func(t *testing.T) {
		procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
		must(t, os.WriteFile(filepath.Join(procRoot, "sys/vm/overcommit_memory"), []byte("2\n"), 0o644))
		oc := inspect(t, procRoot, sysRoot, Target{}).Overcommit
		// CommitLimit − Committed_AS as /proc/meminfo gives them.
		if deref(oc.HeadroomKB, 0) != 12342040-72048 || oc.LargestAllocationKB != nil || oc.ModeName != "never" || !strings.Contains(oc.Summary, "fork") {
			t.Errorf("overcommit %+v", oc)
		}
	})
	t.Run("CommitLimit differs", func(t *testing.T) {
		h := nodetest.DefaultHost
		h.CommitLimitKB++
		procRoot, sysRoot := nodetest.KubeNodeV2(t, h)
		r := inspect(t, procRoot, sysRoot, Target{})
		// vm_commit_limit(), mm/util.c, in pages: 6171021 RAM pages ×
		// overcommit_ratio 50 / 100 = 3085510 pages, + 0 swap = 12342040 kB.
		if deref(r.Overcommit.ComputedCommitLimitKB, 0) != 3085510*4 || deref(r.Overcommit.CommitLimitMatches, true) ||
			!strings.Contains(strings.Join(r.Notes, "\n"), "vm_commit_limit") {
			t.Errorf("%+v, notes %q", r.Overcommit, r.Notes)
		}
	})
	t.Run("no memory controller", func(t *testing.T) {
		procRoot, _ := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
		r := inspect(t, procRoot, t.TempDir(), Target{})
		if r.Cgroup != nil || r.Overcommit.CommitLimitKB == nil || r.Eviction.HeadroomBytes != nil {
			t.Errorf("%+v", r)
		}
		if _, err := open(t, procRoot, t.TempDir(), "").Inspect(Target{All: true}, th); !errors.Is(err, cgroup.ErrNoMemoryController) {
			t.Errorf("--all-cgroups without a controller: %v", err)
		}
	})
	t.Run("percent threshold", func(t *testing.T) {
		procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
		r, err := open(t, procRoot, sysRoot, "").Inspect(Target{}, kube.EvictionThreshold{Text: "memory.available<10%", Percent: ptr(10.0)})
		if err != nil || deref(r.Eviction.ThresholdBytes, 0) != 24684084*1024/10 {
			t.Errorf("%v, threshold %v", err, r.Eviction.ThresholdBytes)
		}
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestInspectCommit: each fake process's smaps charges RssAnon + 1 MiB
// ("ac"), so the .NET process holds 901024 kB of Committed_AS. In mode 2
// with 500000 kB left under CommitLimit (__vm_enough_memory(), mm/util.c:
// Committed_AS + the fork's charge must stay within CommitLimit; the fake
// host has no reserves), only it cannot fork; the JVM (201024 kB) can.
func TestInspectCommit(t *testing.T) {
	host := nodetest.DefaultHost
	host.CommittedKB = host.CommitLimitKB - 500000
	procRoot, sysRoot := nodetest.KubeNodeV2(t, host)
	must(t, os.WriteFile(filepath.Join(procRoot, "sys/vm/overcommit_memory"), []byte("2\n"), 0o644))
	h := open(t, procRoot, sysRoot, "")
	r, err := h.Inspect(Target{Cgroup: nodetest.V2App}, kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Commit
	if c == nil || c.ProcessesBytes != (900000+200000+50000+80000+30000+5*1024)*1024 || deref(c.CommittedASBytes, 0) != host.CommittedKB*1024 {
		t.Fatalf("commit %+v", c)
	}
	var top, fails []int
	for _, x := range c.TopCommitters {
		top = append(top, x.PID)
	}
	for _, x := range c.ForkWouldFail {
		fails = append(fails, x.PID)
	}
	if d := cmp.Diff([]int{4711, 4712, 4714, 4713, 4715}, top); d != "" {
		t.Errorf("top committers (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{4711}, fails); d != "" {
		t.Errorf("fork would fail (-want +got):\n%s", d)
	}
	if got := deref(r.Cgroup.CommitBytes, 0); got != (900000+200000+2*1024)*1024 {
		t.Errorf("app container's commit %d", got)
	}
	if len(r.Processes) != 2 || deref(r.Processes[0].CommitBytes, 0) != 901024*1024 || deref(r.Processes[0].RSSBytes, 0) != 920000*1024 {
		t.Errorf("processes %+v", r.Processes)
	}
	// The pod's MemoryQoS memory.low and memory.high are the soft limits
	// above the container.
	var pod *SoftLimit
	for i, s := range r.Cgroup.SoftLimits {
		if s.Path == nodetest.V2Pod {
			pod = &r.Cgroup.SoftLimits[i]
		}
	}
	if pod == nil || deref(pod.LowBytes, 0) != 1073741824 || deref(pod.HighBytes, 0) != 2040107008 {
		t.Errorf("pod soft limits %+v", pod)
	}
}
