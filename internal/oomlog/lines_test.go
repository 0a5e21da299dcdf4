package oomlog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ip(v int) *int      { return &v }
func i64(v int64) *int64 { return &v }

// hostileNames are process names that break naive parsers (cadvisor's
// oomparser test list, STYLE.md).
var hostileNames = []string{"Plex Media Server", "[", "()", `"with quotes"`, "(resolved)", "a) b (c", "x]y", "Killed process 1 (z)"}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name, line string
		want       *Trigger
	}{
		{"4.4 hex", "java invoked oom-killer: gfp_mask=0x26000c0, order=2, oom_score_adj=-17",
			&Trigger{Comm: "java", GFPMask: "0x26000c0", Order: ip(2), OOMScoreAdj: ip(-17)}},
		{"4.5 flags", "a.out invoked oom-killer: gfp_mask=0x24280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0, oom_score_adj=0",
			&Trigger{Comm: "a.out", GFPMask: "0x24280ca", GFPFlags: []string{"GFP_HIGHUSER_MOVABLE", "__GFP_ZERO"}, Order: ip(0), OOMScoreAdj: ip(0)}},
		{"4.9 nodemask", "mempig invoked oom-killer: gfp_mask=0x24280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=0, order=0, oom_score_adj=1000",
			&Trigger{Comm: "mempig", GFPMask: "0x24280ca", GFPFlags: []string{"GFP_HIGHUSER_MOVABLE", "__GFP_ZERO"}, Nodemask: "0", Order: ip(0), OOMScoreAdj: ip(1000)}},
		{"4.14 double space", "oom02:4583 invoked oom-killer: gfp_mask=0x16080c0(GFP_KERNEL|__GFP_ZERO|__GFP_NOTRACK), nodemask=1,  order=0, oom_score_adj=0",
			&Trigger{Comm: "oom02:4583", GFPMask: "0x16080c0", GFPFlags: []string{"GFP_KERNEL", "__GFP_ZERO", "__GFP_NOTRACK"}, Nodemask: "1", Order: ip(0), OOMScoreAdj: ip(0)}},
		{"4.20 null nodemask", "oom invoked oom-killer: gfp_mask=0x6280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=(null), order=0, oom_score_adj=0",
			&Trigger{Comm: "oom", GFPMask: "0x6280ca", GFPFlags: []string{"GFP_HIGHUSER_MOVABLE", "__GFP_ZERO"}, Nodemask: "(null)", Order: ip(0), OOMScoreAdj: ip(0)}},
		{"nodemask list with commas", "x invoked oom-killer: gfp_mask=0x0, nodemask=0,2-3, order=1, oom_score_adj=5",
			&Trigger{Comm: "x", GFPMask: "0x0", Nodemask: "0,2-3", Order: ip(1), OOMScoreAdj: ip(5)}},
		{"6.8", "python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=200",
			&Trigger{Comm: "python3", GFPMask: "0xcc0", GFPFlags: []string{"GFP_KERNEL"}, Order: ip(0), OOMScoreAdj: ip(200)}},
		{"2.6 rhel", "sshd invoked oom-killer: gfp_mask=0x200d2, order=0, oom_adj=0, oom_score_adj=0",
			&Trigger{Comm: "sshd", GFPMask: "0x200d2", Order: ip(0), OOMAdj: ip(0), OOMScoreAdj: ip(0)}},
		{"2.6 oomkilladj", "httpd invoked oom-killer: gfp_mask=0x201d2, order=0, oomkilladj=-17",
			&Trigger{Comm: "httpd", GFPMask: "0x201d2", Order: ip(0), OOMAdj: ip(-17)}},
		{"sysrq order -1", "kworker/0:2 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=-1, oom_score_adj=0",
			&Trigger{Comm: "kworker/0:2", GFPMask: "0xcc0", GFPFlags: []string{"GFP_KERNEL"}, Order: ip(-1), OOMScoreAdj: ip(0)}},
	}
	for _, n := range hostileNames {
		cases = append(cases, struct {
			name, line string
			want       *Trigger
		}{"hostile " + n, n + " invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			&Trigger{Comm: n, GFPMask: "0xcc0", GFPFlags: []string{"GFP_KERNEL"}, Order: ip(0), OOMScoreAdj: ip(0)}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if classify(tc.line) != lineHeader {
				t.Fatalf("classify = %d, want header", classify(tc.line))
			}
			got, ok := parseHeader(tc.line)
			if !ok {
				t.Fatal("not ok")
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseCPULine(t *testing.T) {
	cases := []struct {
		name, line, comm, release string
		pid                       int
	}{
		{"4.20", "CPU: 0 PID: 6436 Comm: oom Not tainted 4.20.12 #1", "oom", "4.20.12", 6436},
		{"kdump", "CPU: 1 PID: 1 Comm: systemd Kdump: loaded Tainted: G           O      4.16.0-rc5-next-20180315 #695", "systemd", "4.16.0-rc5-next-20180315", 1},
		{"6.8 tainted", "CPU: 12 PID: 483880 Comm: python3 Tainted: P           O       6.8.0-50-generic #51-Ubuntu", "python3", "6.8.0-50-generic", 483880},
		{"6.12 uid", "CPU: 3 UID: 1000 PID: 4242 Comm: stress-ng Not tainted 6.12.0 #1", "stress-ng", "6.12.0", 4242},
		{"6.18 preempt", "CPU: 3 UID: 0 PID: 99 Comm: a b Not tainted 6.18.2 #1 PREEMPT(voluntary)", "a b", "6.18.2", 99},
		{"2.6", "Pid: 24113, comm: sshd Not tainted 2.6.32-431.11.2.el6.x86_64 #1", "sshd", "2.6.32-431.11.2.el6.x86_64", 24113},
		{"no taint marker", "CPU: 1 PID: 5 Comm: x", "x", "", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			comm, pid, rel, ok := parseCPULine(tc.line)
			if !ok || comm != tc.comm || pid == nil || *pid != tc.pid || rel != tc.release {
				t.Errorf("parseCPULine = %q, %v, %q, %v; want %q, %d, %q", comm, pid, rel, ok, tc.comm, tc.pid, tc.release)
			}
		})
	}
}

func TestParseKilled(t *testing.T) {
	cases := []struct {
		name, line string
		want       Victim
	}{
		{"4.4", "Killed process 4358 (bash) total-vm:11413548kB, anon-rss:7093784kB, file-rss:0kB",
			Victim{PID: 4358, Comm: "bash", TotalVMKB: i64(11413548), AnonRSSKB: i64(7093784), FileRSSKB: i64(0)}},
		{"4.5 shmem", "Killed process 4358 (bash) total-vm:11413548kB, anon-rss:7093784kB, file-rss:0kB, shmem-rss:0kB",
			Victim{PID: 4358, Comm: "bash", TotalVMKB: i64(11413548), AnonRSSKB: i64(7093784), FileRSSKB: i64(0), ShmemRSSKB: i64(0)}},
		{"5.1 memcg", "Memory cgroup out of memory: Killed process 5740 (pause) total-vm:1028kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB",
			Victim{PID: 5740, Comm: "pause", TotalVMKB: i64(1028), AnonRSSKB: i64(4), FileRSSKB: i64(0), ShmemRSSKB: i64(0), Message: "Memory cgroup out of memory"}},
		{"5.4", "Out of memory: Killed process 171 (sh) total-vm:3102440kB, anon-rss:1670644kB, file-rss:0kB, shmem-rss:1852kB, UID:0 pgtables:3336kB oom_score_adj:0",
			Victim{PID: 171, Comm: "sh", TotalVMKB: i64(3102440), AnonRSSKB: i64(1670644), FileRSSKB: i64(0), ShmemRSSKB: i64(1852), UID: ip(0), PgtablesKB: i64(3336), OOMScoreAdj: ip(0), Message: "Out of memory"}},
		{"allocating task", "Out of memory (oom_kill_allocating_task): Killed process 9 (x) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:1kB, UID:5 pgtables:1kB oom_score_adj:-5",
			Victim{PID: 9, Comm: "x", TotalVMKB: i64(1), AnonRSSKB: i64(1), FileRSSKB: i64(1), ShmemRSSKB: i64(1), UID: ip(5), PgtablesKB: i64(1), OOMScoreAdj: ip(-5), Message: "Out of memory (oom_kill_allocating_task)"}},
		{"rhel6 uid", "Killed process 13550, UID 500, (java) total-vm:12466024kB, anon-rss:7625016kB, file-rss:2608kB",
			Victim{PID: 13550, UID: ip(500), Comm: "java", TotalVMKB: i64(12466024), AnonRSSKB: i64(7625016), FileRSSKB: i64(2608)}},
		{"rhel8 uid", "Out of memory: Killed process 2 (a) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:7",
			Victim{PID: 2, Comm: "a", TotalVMKB: i64(1), AnonRSSKB: i64(2), FileRSSKB: i64(3), ShmemRSSKB: i64(4), UID: ip(7), Message: "Out of memory"}},
		{"2.6 vsz", "Killed process 3 (b) vsz:100kB, anon-rss:10kB, file-rss:1kB",
			Victim{PID: 3, Comm: "b", TotalVMKB: i64(100), AnonRSSKB: i64(10), FileRSSKB: i64(1)}},
		{"bare", "Killed process 3 (b)", Victim{PID: 3, Comm: "b"}},
		// UID:%u: the overflow ID and nobody in a user namespace print above 2^31.
		{"uid above 2^31", "Out of memory: Killed process 8 (c) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:4294967294 pgtables:5kB oom_score_adj:0",
			Victim{PID: 8, Comm: "c", TotalVMKB: i64(1), AnonRSSKB: i64(2), FileRSSKB: i64(3), ShmemRSSKB: i64(4), UID: ip(4294967294), PgtablesKB: i64(5), OOMScoreAdj: ip(0), Message: "Out of memory"}},
	}
	for _, n := range hostileNames {
		cases = append(cases, struct {
			name, line string
			want       Victim
		}{"hostile " + n, "Memory cgroup out of memory: Killed process 1 (" + n + ") total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:0 pgtables:5kB oom_score_adj:-997",
			Victim{PID: 1, Comm: n, TotalVMKB: i64(1), AnonRSSKB: i64(2), FileRSSKB: i64(3), ShmemRSSKB: i64(4), UID: ip(0), PgtablesKB: i64(5), OOMScoreAdj: ip(-997), Message: "Memory cgroup out of memory"}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if k := classify(tc.line); k != lineKilled {
				t.Fatalf("classify = %d", k)
			}
			got, ok := parseKilled(tc.line)
			if !ok {
				t.Fatal("not ok")
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseChosenExitingReaperGroup(t *testing.T) {
	msg, pid, comm, score, ok := parseChosen("Memory cgroup out of memory: Kill process 8308 (java) score 1894 or sacrifice child")
	if !ok || msg != "Memory cgroup out of memory" || pid != 8308 || comm != "java" || *score != 1894 {
		t.Errorf("parseChosen = %q %d %q %v %v", msg, pid, comm, score, ok)
	}
	_, _, comm, _, ok = parseChosen("Out of memory: Kill process 1 (a) score 2) score 0 or sacrifice child")
	if !ok || comm != "a) score 2" {
		t.Errorf("hostile chosen comm = %q", comm)
	}
	v, ok := parseExiting("Memory cgroup out of memory: OOM victim 77 (Plex Media Server) is already exiting. Skip killing the task")
	if d := cmp.Diff(Victim{PID: 77, Comm: "Plex Media Server", Message: "Memory cgroup out of memory", Exiting: true}, v); d != "" || !ok {
		t.Errorf("parseExiting (-want +got):\n%s", d)
	}
	rl, ok := parseReaper("oom_reaper: reaped process 5740 (pause), now anon-rss:0kB, file-rss:12kB, shmem-rss:3kB")
	if !ok || rl.pid != 5740 || rl.comm != "pause" || rl.failed || *rl.anon != 0 || *rl.file != 12 || *rl.shmem != 3 {
		t.Errorf("parseReaper reaped = %+v", rl)
	}
	rl, ok = parseReaper("oom_reaper: unable to reap pid:31 (()), now nothing")
	if !ok || rl.pid != 31 || !rl.failed {
		t.Errorf("parseReaper unable = %+v", rl)
	}
	p, ok := parseGroup("Tasks in /kubepods.slice/x.scope are going to be killed due to memory.oom.group set")
	if !ok || p != "/kubepods.slice/x.scope" {
		t.Errorf("parseGroup = %q %v", p, ok)
	}
}

func TestParseSummary(t *testing.T) {
	cases := []struct {
		name, line string
		want       Report
		trig       Trigger
	}{
		{"memcg", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=3aa16c94,mems_allowed=0-1,oom_memcg=/kubepods/podf1c273d3-9b36-11ea-b3df-246e9693c184,task_memcg=/kubepods/podf1c273d3-9b36-11ea-b3df-246e9693c184/1f246a3e,task=pause,pid=5740,uid=0",
			Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods/podf1c273d3-9b36-11ea-b3df-246e9693c184", TaskMemcg: "/kubepods/podf1c273d3-9b36-11ea-b3df-246e9693c184/1f246a3e", SummaryComm: "pause", SummaryPID: ip(5740), SummaryUID: ip(0)},
			Trigger{Nodemask: "(null)", Cpuset: "3aa16c94", MemsAllowed: "0-1"}},
		{"global", "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,global_oom,task_memcg=/,task=sh,pid=171,uid=0",
			Report{Constraint: "CONSTRAINT_NONE", GlobalOOM: true, TaskMemcg: "/", SummaryComm: "sh", SummaryPID: ip(171), SummaryUID: ip(0)},
			Trigger{Nodemask: "(null)", Cpuset: "/", MemsAllowed: "0-1"}},
		{"mempolicy", "oom-kill:constraint=CONSTRAINT_MEMORY_POLICY,nodemask=0,3,cpuset=/,mems_allowed=0-3,global_oom,task_memcg=/user.slice,task=oom,pid=2074,uid=0",
			Report{Constraint: "CONSTRAINT_MEMORY_POLICY", GlobalOOM: true, TaskMemcg: "/user.slice", SummaryComm: "oom", SummaryPID: ip(2074), SummaryUID: ip(0)},
			Trigger{Nodemask: "0,3", Cpuset: "/", MemsAllowed: "0-3"}},
		{"no memcg config", "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=a,pid=1,uid=2",
			Report{Constraint: "CONSTRAINT_NONE", SummaryComm: "a", SummaryPID: ip(1), SummaryUID: ip(2)},
			Trigger{Nodemask: "(null)"}},
		{"nested lxc path", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-abc.scope,mems_allowed=0,oom_memcg=/lxc.payload.x/kubepods.slice/kubepods-pod1.slice,task_memcg=/lxc.payload.x/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope,task=node,pid=9,uid=1000",
			Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/lxc.payload.x/kubepods.slice/kubepods-pod1.slice", TaskMemcg: "/lxc.payload.x/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope", SummaryComm: "node", SummaryPID: ip(9), SummaryUID: ip(1000)},
			Trigger{Nodemask: "(null)", Cpuset: "cri-containerd-abc.scope", MemsAllowed: "0"}},
	}
	for _, n := range hostileNames {
		cases = append(cases, struct {
			name, line string
			want       Report
			trig       Trigger
		}{"hostile " + n, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=" + n + ",pid=3,uid=4",
			Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TaskMemcg: "/a/b", SummaryComm: n, SummaryPID: ip(3), SummaryUID: ip(4)},
			Trigger{Nodemask: "(null)", Cpuset: "/", MemsAllowed: "0"}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Report
			var tr Trigger
			if ok, cut := parseSummary(tc.line, &r, &tr); !ok || cut {
				t.Fatalf("ok %v cut %v", ok, cut)
			}
			if d := cmp.Diff(tc.want, r); d != "" {
				t.Errorf("report (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.trig, tr); d != "" {
				t.Errorf("trigger (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseSummaryCut: a summary line cut short keeps every field it
// carries; a victim's name or number is kept only when the key after it
// shows it whole (a cut pid "46175" may be 461754).
func TestParseSummaryCut(t *testing.T) {
	const full = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-ec9e.scope,mems_allowed=0-1,oom_memcg=/kubepods.slice/kubepods-burstable.slice,task_memcg=/kubepods.slice/kubepods-burstable.slice/cri-containerd-ec9e.scope,task=pt_main_thread,pid=461754,uid=0"
	cases := []struct {
		cutAfter string
		want     Report
		trig     Trigger
	}{
		{"mems_allowed=", Report{Constraint: "CONSTRAINT_MEMCG"}, Trigger{Nodemask: "(null)", Cpuset: "cri-containerd-ec9e.scope"}},
		{"oom_memcg=/kubepods.sl", Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods.sl"}, Trigger{Nodemask: "(null)", Cpuset: "cri-containerd-ec9e.scope", MemsAllowed: "0-1"}},
		{"task=pt_main", Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods.slice/kubepods-burstable.slice", TaskMemcg: "/kubepods.slice/kubepods-burstable.slice/cri-containerd-ec9e.scope"},
			Trigger{Nodemask: "(null)", Cpuset: "cri-containerd-ec9e.scope", MemsAllowed: "0-1"}},
		{"pid=46175", Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods.slice/kubepods-burstable.slice", TaskMemcg: "/kubepods.slice/kubepods-burstable.slice/cri-containerd-ec9e.scope", SummaryComm: "pt_main_thread"},
			Trigger{Nodemask: "(null)", Cpuset: "cri-containerd-ec9e.scope", MemsAllowed: "0-1"}},
		{"uid=", Report{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods.slice/kubepods-burstable.slice", TaskMemcg: "/kubepods.slice/kubepods-burstable.slice/cri-containerd-ec9e.scope", SummaryComm: "pt_main_thread", SummaryPID: ip(461754)},
			Trigger{Nodemask: "(null)", Cpuset: "cri-containerd-ec9e.scope", MemsAllowed: "0-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.cutAfter, func(t *testing.T) {
			line := full[:strings.Index(full, tc.cutAfter)+len(tc.cutAfter)]
			var r Report
			var tr Trigger
			if ok, cut := parseSummary(line, &r, &tr); !ok || !cut {
				t.Fatalf("ok %v cut %v; want a cut line read", ok, cut)
			}
			if d := cmp.Diff(tc.want, r); d != "" {
				t.Errorf("report (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.trig, tr); d != "" {
				t.Errorf("trigger (-want +got):\n%s", d)
			}
		})
	}
}

// TestCutLines: a header cut before its arguments keeps the trigger's
// name; a Killed line cut in its comm keeps the pid; each marks the report.
func TestCutLines(t *testing.T) {
	reps, _ := scanString(t, "systemd invoked oom-kil\n"+table54+sum54+"Memory cgroup out of memory: Killed process 14300 (dotn\n")
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	r := reps[0]
	if r.Trigger == nil || r.Trigger.Comm != "systemd" || r.CutLines != 2 || len(r.Victims) != 1 || r.Victims[0].PID != 14300 || !r.Victims[0].Cut || r.Victims[0].Comm != "" {
		t.Errorf("trigger %+v, cut lines %d, victims %+v", r.Trigger, r.CutLines, r.Victims)
	}
	if len(r.Tasks) != 2 || r.OOMMemcg != "/kubepods/pod1" {
		t.Errorf("tasks %d, oom memcg %q", len(r.Tasks), r.OOMMemcg)
	}
}

func TestParseTaskRow(t *testing.T) {
	hdr := map[TableFormat]string{
		TableOOMAdj:   "[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name",
		TableNrPtes:   "[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name",
		TablePgtables: "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
		TableRSSSplit: "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name",
	}
	cases := []struct {
		name   string
		format TableFormat
		row    string
		want   Task
	}{
		{"2.6", TableOOMAdj, "[  478]     0   478     2719        1   6     -17         -1000 udevd",
			Task{PID: 478, UID: 0, TGID: 478, TotalVMPages: 2719, RSSPages: 1, CPU: 6, OOMAdj: -17, OOMScoreAdj: -1000, Name: "udevd", Has: HasUID | HasTGID | HasCPU | HasOOMAdj}},
		{"nr_ptes", TableNrPtes, "[ 4358]  1000  4358  2853387  1773446    5578      13  1074744             0 bash",
			Task{PID: 4358, UID: 1000, TGID: 4358, TotalVMPages: 2853387, RSSPages: 1773446, PgtablesPages: 5591, PgtablesBytes: 5591 * 4096, SwapEnts: 1074744, Name: "bash", Has: HasUID | HasTGID | HasPgtablesPages | HasPgtablesBytes | HasSwapEnts}},
		{"pgtables 5-wide", TablePgtables, "[ 5740]     0  5740      257        1    32768        0          -998 pause",
			Task{PID: 5740, UID: 0, TGID: 5740, TotalVMPages: 257, RSSPages: 1, PgtablesBytes: 32768, SwapEnts: 0, OOMScoreAdj: -998, Name: "pause", Has: HasUID | HasTGID | HasPgtablesBytes | HasSwapEnts}},
		{"pgtables 7-wide", TablePgtables, "[1611298]     0 1611298    35869      635 167936        0         -1000 conmon",
			Task{PID: 1611298, UID: 0, TGID: 1611298, TotalVMPages: 35869, RSSPages: 635, PgtablesBytes: 167936, SwapEnts: 0, OOMScoreAdj: -1000, Name: "conmon", Has: HasUID | HasTGID | HasPgtablesBytes | HasSwapEnts}},
		{"rss split", TableRSSSplit, "[    675]     0   675   162013    10969    10712      257         0   155648        0             0 test_progs",
			Task{PID: 675, UID: 0, TGID: 675, TotalVMPages: 162013, RSSPages: 10969, RSSAnonPages: 10712, RSSFilePages: 257, RSSShmemPages: 0, PgtablesBytes: 155648, SwapEnts: 0, Name: "test_progs", Has: HasUID | HasTGID | HasRSSAnon | HasRSSFile | HasRSSShmem | HasPgtablesBytes | HasSwapEnts}},
	}
	for _, n := range hostileNames {
		cases = append(cases, struct {
			name   string
			format TableFormat
			row    string
			want   Task
		}{"hostile " + n, TablePgtables, "[  15885] 65535 15885      241        1    28672        0          -998 " + n,
			Task{PID: 15885, UID: 65535, TGID: 15885, TotalVMPages: 241, RSSPages: 1, PgtablesBytes: 28672, SwapEnts: 0, OOMScoreAdj: -998, Name: n, Has: HasUID | HasTGID | HasPgtablesBytes | HasSwapEnts}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cols, format, ok := parseTableHeader(hdr[tc.format])
			if !ok || format != tc.format {
				t.Fatalf("header: %v %q", ok, format)
			}
			got, ok := parseTaskRow(tc.row, cols)
			if !ok {
				t.Fatal("row not ok")
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseUsageAndStats(t *testing.T) {
	u, ok := parseUsage("memory+swap: usage 122880kB, limit 9007199254740988kB, failcnt 0")
	if !ok || u.kind != "memory+swap" || *u.usage != 122880 || *u.limit != 9007199254740988 || *u.failcnt != 0 {
		t.Errorf("parseUsage = %+v", u)
	}
	if _, ok := parseUsage("memory: usage xkB, limit 1kB, failcnt 0"); ok {
		t.Error("bad usage accepted")
	}
	p, in, ok := parseStatsHeader("Memory cgroup stats for /kubepods/burstable/pod0f5eb28f: cache:0KB rss:4KB rss_huge:0KB")
	if !ok || p != "/kubepods/burstable/pod0f5eb28f" || in != "cache:0KB rss:4KB rss_huge:0KB" {
		t.Errorf("parseStatsHeader one-line = %q %q", p, in)
	}
	p, in, ok = parseStatsHeader("Memory cgroup stats for /kubepods.slice/a: b.scope:")
	if !ok || p != "/kubepods.slice/a: b.scope" || in != "" {
		t.Errorf("parseStatsHeader multi-line = %q %q", p, in)
	}
	k, n, ok := parseStatKV("                          workingset_refault_file 123846124")
	if !ok || k != "workingset_refault_file" || n != 123846124 {
		t.Errorf("parseStatKV = %q %d", k, n)
	}
	if _, _, ok := parseStatKV("....."); ok {
		t.Error("elision marker read as a stat")
	}
}

func TestReleaseOf(t *testing.T) {
	for _, tc := range []struct {
		s       string
		a, b, c int
		ok      bool
	}{{"5.4.0-1059-azure", 5, 4, 0, true}, {"4.20.0+", 4, 20, 0, true}, {"6.8", 6, 8, 0, true}, {"2.6.32-431.el6", 2, 6, 32, true}, {"x", 0, 0, 0, false}, {"5", 0, 0, 0, false}} {
		a, b, c, ok := releaseOf(tc.s)
		if a != tc.a || b != tc.b || c != tc.c || ok != tc.ok {
			t.Errorf("releaseOf(%q) = %d %d %d %v", tc.s, a, b, c, ok)
		}
	}
}

// oldRowField is how task rows were read before rowField: the reference
// rowField must agree with.
func oldRowField(s string) (int64, string, bool) {
	s = strings.TrimLeft(s, " ")
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		return 0, "", false
	}
	n, ok := parseInt(s[:sp])
	if !ok {
		return 0, "", false
	}
	return n, s[sp:], true
}

func TestRowFieldAgreesWithParseInt(t *testing.T) {
	for _, s := range []string{"", " ", "1", "1 ", "  42 x", "-3 a", "+7 b", "- x", "+ x", "12a x", "007 n",
		"9223372036854775807 x", "9223372036854775808 x", "-9223372036854775807 x",
		"000000000000000000001 x", "00000000000000000001 x", "  -1000 name with spaces"} {
		n, rest, ok := rowField(s)
		wn, wrest, wok := oldRowField(s)
		if n != wn || rest != wrest || ok != wok {
			t.Errorf("rowField(%q) = %d %q %v, want %d %q %v", s, n, rest, ok, wn, wrest, wok)
		}
	}
}

func FuzzRowField(f *testing.F) {
	f.Add("  1000  65534 5 x")
	f.Add("-1000 x")
	f.Add("99999999999999999999 x")
	f.Fuzz(func(t *testing.T, s string) {
		n, rest, ok := rowField(s)
		wn, wrest, wok := oldRowField(s)
		if n != wn || rest != wrest || ok != wok {
			t.Errorf("rowField(%q) = %d %q %v, want %d %q %v", s, n, rest, ok, wn, wrest, wok)
		}
	})
}
