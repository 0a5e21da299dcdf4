package proc

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func p64(n int64) *int64 { return &n }

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Status
	}{
		{
			name: "user process 6.18",
			in: "Name:\tbash\nUmask:\t0022\nKthread:\t0\nUid:\t1000\t1000\t1000\t1000\nVmRSS:\t    4060 kB\nRssAnon:\t    1144 kB\nRssFile:\t    2916 kB\n" +
				"RssShmem:\t       0 kB\nVmPTE:\t      52 kB\nVmSwap:\t       8 kB\nThreads:\t1\n",
			want: Status{Name: "bash", HasMM: true, UID: p64(1000), VmRSSKB: p64(4060), RssAnonKB: p64(1144), RssFileKB: p64(2916),
				RssShmemKB: p64(0), VmPTEKB: p64(52), VmSwapKB: p64(8)},
		},
		{
			name: "kernel thread has no mm",
			in:   "Name:\tkworker/0:1-events\nUid:\t0\t0\t0\t0\nKthread:\t1\nThreads:\t1\n",
			want: Status{Name: "kworker/0:1-events", Kthread: true, UID: p64(0)},
		},
		{
			name: "4.14 prints VmPMD separately",
			in:   "Name:\tjava\nVmRSS:\t  100 kB\nRssAnon:\t 60 kB\nRssFile:\t 40 kB\nRssShmem:\t 0 kB\nVmPTE:\t 24 kB\nVmPMD:\t 12 kB\nVmSwap:\t 0 kB\n",
			want: Status{Name: "java", HasMM: true, VmRSSKB: p64(100), RssAnonKB: p64(60), RssFileKB: p64(40), RssShmemKB: p64(0),
				VmPTEKB: p64(24), VmPMDKB: p64(12), VmSwapKB: p64(0)},
		},
		{
			name: "hostile names",
			in:   "Name:\tPlex Media Server\nVmRSS:\t4 kB\n",
			want: Status{Name: "Plex Media Server", HasMM: true, VmRSSKB: p64(4)},
		},
		{name: "brackets", in: "Name:\t(resolved)\n", want: Status{Name: "(resolved)"}},
		{name: "capabilities", in: "Name:\tsshd\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n", want: Status{Name: "sshd", CapEff: 0x1ffffffffff}},
		{name: "quotes", in: "Name:\t\"with quotes\"\n", want: Status{Name: `"with quotes"`}},
		{name: "colon in name", in: "Name:\ta:b\n", want: Status{Name: "a:b"}},
		{name: "empty", in: "", want: Status{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("parseStatus (-want +got):\n%s", d)
			}
		})
	}
	if _, err := parseStatus([]byte("Name:\tx\nVmRSS:\tlots kB\n")); err == nil {
		t.Error("parseStatus accepted VmRSS: lots kB")
	}
}

func TestStatusPages(t *testing.T) {
	s := Status{HasMM: true, VmRSSKB: p64(4064), RssAnonKB: p64(1144), RssFileKB: p64(2916), RssShmemKB: p64(4),
		VmSwapKB: p64(40), VmPTEKB: p64(52), VmPMDKB: p64(12)}
	got := []int64{s.RSSPages(4), s.SwapPages(4), s.PgtablePages(4)}
	if d := cmp.Diff([]int64{1016, 10, 16}, got); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}
	// A 2.6-era status without the Rss split falls back to VmRSS.
	old := Status{HasMM: true, VmRSSKB: p64(400)}
	if got := old.RSSPages(4); got != 100 {
		t.Errorf("RSSPages without RssAnon = %d, want 100", got)
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Stat
	}{
		{"plain", "21284 (cat) R 21254 21254 15861 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 60429 3133440 361 18446744073709551615 0 0\n",
			Stat{PPID: 21254, Flags: 4194304, StartTime: 60429, RSSPages: 361}},
		{"kthread", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 18446744073709551615 0 0\n",
			Stat{PPID: 0, Flags: 2129984, StartTime: 1, RSSPages: 0}},
		{"hostile comm", "7 (a) b (c)) S 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 0 5 18446744073709551615\n",
			Stat{PPID: 1, Flags: 4194560, StartTime: 99, RSSPages: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("parseStat (-want +got):\n%s", d)
			}
		})
	}
	for _, bad := range []string{"", "1 (x) S 1", "1 x S 1 2 3"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestParseVMStat(t *testing.T) {
	got, err := parseVMStat(strings.NewReader("nr_free_pages 5874605\noom_kill 3\nnr_foll_pin_acquired 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(VMStat{OOMKill: p64(3)}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// 4.9 has no oom_kill counter: nil, not 0.
	got, err = parseVMStat(strings.NewReader("nr_free_pages 1\n"))
	if err != nil || got.OOMKill != nil {
		t.Errorf("without oom_kill: %+v, %v; want nil counter", got, err)
	}
}

func TestParseMemoryCgroup(t *testing.T) {
	v1 := "9:name=systemd:/\n4:memory:/process_api/eb9b\n3:cpuset:/\n0::/\n"
	for _, tc := range []struct {
		name, in string
		v1       bool
		want     string
	}{
		{"v1", v1, true, "/process_api/eb9b"},
		{"hybrid asks v2", v1, false, "/"},
		{"v1 joined controllers", "5:memory,hugetlb:/kubepods/burstable/pod1\n", true, "/kubepods/burstable/pod1"},
		{"v2", "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope\n", false, "/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope"},
		{"path with colon", "0::/a:b\n", false, "/a:b"},
		{"none", "1:cpu:/\n", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseMemoryCgroup([]byte(tc.in), tc.v1); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFixtureHost(t *testing.T) {
	f, err := NewFS("testdata/host")
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	if m.MemTotalKB == nil || *m.MemTotalKB != 24684084 || *m.CommitLimitKB != 12342040 || *m.SwapTotalKB != 0 {
		t.Errorf("meminfo: %+v", m)
	}
	if got := m.HugetlbPages(4); got == nil || *got != 0 {
		t.Errorf("HugetlbPages = %v, want 0", got)
	}
	s := f.SysVM()
	want := SysVM{OvercommitMemory: p64(0), OvercommitRatio: p64(50), OvercommitKBytes: p64(0), OOMKillAllocatingTask: p64(0),
		PanicOnOOM: p64(0), Swappiness: p64(60), AdminReserveKBytes: s.AdminReserveKBytes, UserReserveKBytes: s.UserReserveKBytes}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("SysVM (-want +got):\n%s", d)
	}
	rel, err := f.OSRelease()
	if err != nil || rel != "6.18.44-fc-v669" {
		t.Errorf("OSRelease = %q, %v", rel, err)
	}
	p, err := f.MemoryPressure()
	if err != nil || p == nil || p.Some == nil || p.Full == nil {
		t.Errorf("MemoryPressure = %+v, %v", p, err)
	}
	pids, err := f.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int{1, 2, 4242}, pids); d != "" {
		t.Errorf("PIDs (-want +got):\n%s", d)
	}
	scan := f.ReadTasks(pids, TaskOptions{Memcg: true, MemcgV1: true, StartTime: true})
	var got []string
	for _, tk := range scan.Tasks {
		got = append(got, tk.Status.Name+" "+tk.Memcg)
	}
	if d := cmp.Diff([]string{"process_api /", "kthreadd /", "bash /process_api/eb9b31023abc25aeac90dba9de18798c"}, got); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	if scan.Tasks[1].Status.HasMM {
		t.Error("kthreadd has an mm")
	}
	env, err := f.Environ(4242)
	if err != nil || len(env) != 2 {
		t.Errorf("Environ = %q, %v", env, err)
	}
	argv, err := f.Cmdline(1)
	if err != nil || len(argv) == 0 {
		t.Errorf("Cmdline = %q, %v", argv, err)
	}
}

// copyTree copies the fixture host into a temp dir the test may change.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestOddHosts(t *testing.T) {
	t.Run("no PSI", func(t *testing.T) {
		root := copyTree(t, "testdata/host")
		os.RemoveAll(filepath.Join(root, "pressure"))
		f, _ := NewFS(root)
		p, err := f.MemoryPressure()
		if p != nil || err != nil {
			t.Errorf("MemoryPressure = %+v, %v; want nil, nil", p, err)
		}
	})
	t.Run("no overcommit_kbytes (before 3.14)", func(t *testing.T) {
		root := copyTree(t, "testdata/host")
		os.Remove(filepath.Join(root, "sys/vm/overcommit_kbytes"))
		f, _ := NewFS(root)
		if s := f.SysVM(); s.OvercommitKBytes != nil || len(s.Notes) != 0 {
			t.Errorf("SysVM = %+v", s)
		}
	})
	t.Run("process exits mid-scan", func(t *testing.T) {
		root := copyTree(t, "testdata/host")
		// 4242 lost its files after the listing (what an exit looks like);
		// 9999 was listed but is gone entirely.
		os.Remove(filepath.Join(root, "4242", "oom_score"))
		f, _ := NewFS(root)
		scan := f.ReadTasks([]int{1, 2, 4242, 9999}, TaskOptions{})
		if scan.Gone != 2 || len(scan.Tasks) != 2 || len(scan.Notes) != 0 {
			t.Errorf("scan: gone %d, tasks %d, notes %q; want 2, 2, none", scan.Gone, len(scan.Tasks), scan.Notes)
		}
	})
	t.Run("garbage status is a note, not an error", func(t *testing.T) {
		root := copyTree(t, "testdata/host")
		must(t, os.WriteFile(filepath.Join(root, "4242", "status"), []byte("Name:\tx\nVmRSS:\t?? kB\n"), 0o644))
		f, _ := NewFS(root)
		scan := f.ReadTasks([]int{1, 4242}, TaskOptions{})
		if scan.Gone != 0 || len(scan.Tasks) != 1 || len(scan.Notes) != 1 {
			t.Errorf("scan: gone %d, tasks %d, notes %q", scan.Gone, len(scan.Tasks), scan.Notes)
		}
	})
}

// TestRealProc reads this machine's /proc: the numbers must be the
// kernel's, read the same way a user would.
func TestRealProc(t *testing.T) {
	f, err := NewFS("")
	if err != nil {
		t.Fatalf("%v: a Linux test host has /proc", err)
	}
	m, err := f.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	if m.MemTotalKB == nil || *m.MemTotalKB <= 0 || m.CommitLimitKB == nil || m.CommittedASKB == nil {
		t.Errorf("meminfo: %+v", m)
	}
	st, err := f.Status(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !st.HasMM || st.RSSPages(4) <= 0 || st.PgtablePages(4) <= 0 {
		t.Errorf("own status: %+v", st)
	}
	adj, err := f.OOMScoreAdj(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.ReadFile("/proc/self/oom_score_adj")
	if want, _ := parseInt(self); adj != want {
		t.Errorf("oom_score_adj %d, want %d", adj, want)
	}
	if _, err := f.Status(1 << 30); !IsGone(err) {
		t.Errorf("missing pid: %v, want IsGone", err)
	}
}

// TestZombieLeader: a leader that exited while a thread runs on has no
// memory lines in its status; the live thread's are used, as
// find_lock_task_mm() does for oom_badness().
func TestZombieLeader(t *testing.T) {
	root := copyTree(t, "testdata/host")
	st, _ := os.ReadFile(filepath.Join(root, "4242", "status"))
	var zombie []string
	for _, l := range strings.Split(string(st), "\n") {
		if !strings.HasPrefix(l, "Vm") && !strings.HasPrefix(l, "Rss") {
			zombie = append(zombie, l)
		}
	}
	must(t, os.WriteFile(filepath.Join(root, "4242", "status"), []byte(strings.Join(zombie, "\n")), 0o644))
	for _, tid := range []string{"4242", "4243"} {
		must(t, os.MkdirAll(filepath.Join(root, "4242", "task", tid), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "4242", "task", "4242", "status"), []byte(strings.Join(zombie, "\n")), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "4242", "task", "4243", "status"), st, 0o644))
	f, _ := NewFS(root)
	tk, err := f.ReadTask(4242, TaskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Status.HasMM || tk.Status.RSSPages(4) != (1144+2916)/4 || tk.Status.Name != "bash" {
		t.Errorf("zombie leader: %+v", tk.Status)
	}
}

// FuzzParseStatus and FuzzParseStat: any input gives a result or an
// error, never a panic.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"Name:\tbash\nVmRSS:\t    4060 kB\nRssAnon:\t 1144 kB\n", "Name:\t(resolved)\nKthread:\t1\n", "Uid:\t\nVmPTE:\t kB\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseStatus(b) })
}

func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"7 (a) b (c)) S 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 0 5 18446744073709551615\n", "1 (x) S", ")"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseStat(b) })
}

func TestOnlineCPUs(t *testing.T) {
	fs, err := NewFS("")
	if err != nil {
		t.Fatalf("%v: a Linux test host has /proc", err)
	}
	n, err := fs.OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	// sched_getaffinity can be narrower than the online set, never wider.
	if n < runtime.NumCPU() {
		t.Errorf("OnlineCPUs = %d, fewer than the %d this process may run on", n, runtime.NumCPU())
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 1 1 1 1 1 1 0 0 0\ncpu3 1 1 1 1 1 1 1 0 0 0\nintr 0\nctxt 0\nbtime 1\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"), 0o644))
	fake, err := NewFS(dir)
	must(t, err)
	if n, err := fake.OnlineCPUs(); err != nil || n != 2 {
		t.Errorf("fake /proc/stat with cpu0 and cpu3: %d, %v; want 2", n, err)
	}
}
