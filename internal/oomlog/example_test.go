package oomlog_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/oomkit/oomkit/internal/oomlog"
)

// A Scanner turns any kernel log into reports, one per OOM-killer
// invocation; lines that are not part of a report are skipped.
func ExampleScanner() {
	log := `Jan 16 21:33:51 node kernel: [ 8334.895293] dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997
Jan 16 21:33:51 node kernel: [ 8334.895296] CPU: 0 PID: 14300 Comm: dotnet Not tainted 5.4.0-1059-azure #62~18.04.1-Ubuntu
Jan 16 21:33:51 node systemd[1]: unrelated line
Jan 16 21:33:51 node kernel: [ 8334.895351] memory: usage 1048576kB, limit 1048576kB, failcnt 30
Jan 16 21:33:51 node kernel: [ 8334.895407] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=f0386752,mems_allowed=0,oom_memcg=/kubepods/pod3b5e63f1,task_memcg=/kubepods/pod3b5e63f1/f0386752,task=dotnet,pid=14300,uid=0
Jan 16 21:33:51 node kernel: [ 8334.895437] Memory cgroup out of memory: Killed process 14300 (dotnet) total-vm:172050596kB, anon-rss:148368kB, file-rss:25056kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:-997
Jan 16 21:33:51 node kernel: [ 8334.906653] oom_reaper: reaped process 14300 (dotnet), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
`
	s := oomlog.NewScanner(strings.NewReader(log), oomlog.Options{})
	for s.Scan() {
		r := s.Report()
		v := r.Victims[0]
		fmt.Printf("%s: %s killed %d (%s) in %s, limit %d kB, reaped %v\n",
			r.KernelVersion, r.Trigger.Comm, v.PID, v.Comm, r.OOMMemcg, *r.Memcg.LimitKB, v.Reaped)
	}
	if err := s.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 5.4.0-1059-azure: dotnet killed 14300 (dotnet) in /kubepods/pod3b5e63f1, limit 1048576 kB, reaped true
}

// An Assembler takes records one at a time, for sources that are not an
// io.Reader (a /dev/kmsg reader that already split seq and timestamp).
func ExampleAssembler() {
	a := oomlog.NewAssembler(oomlog.Options{})
	var reps []*oomlog.Report
	for i, text := range []string{
		"python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=200",
		"Out of memory: Killed process 171 (sh) total-vm:3102440kB, anon-rss:1670644kB, file-rss:0kB, shmem-rss:1852kB, UID:0 pgtables:3336kB oom_score_adj:0",
	} {
		seq, usec := uint64(100+i), float64(12.5)
		reps = append(reps, a.Feed(oomlog.Record{Text: text, Stamp: oomlog.Stamp{Seq: &seq, Uptime: &usec}, HasStamp: true})...)
	}
	reps = append(reps, a.Flush()...) // at the end, or when the log has been idle
	for _, r := range reps {
		fmt.Println(r.Trigger.Comm, r.Victims[0].PID, *r.Stamp.Seq)
	}
	// Output:
	// python3 171 100
}

// Format prints a report the way a given kernel release would, so the
// simulator's reports read back through the same parser.
func ExampleFormat() {
	pid, order, adj, up := 14300, 0, -997, 8334.895293
	usage, limit, failcnt := int64(1048576), int64(1048576), int64(30)
	vm, anon, file, shmem, pgt, uid := int64(172050596), int64(148368), int64(25056), int64(0), int64(568), 0
	r := &oomlog.Report{
		Stamp:      oomlog.Stamp{Uptime: &up},
		Trigger:    &oomlog.Trigger{Comm: "dotnet", PID: &pid, GFPMask: "0xcc0", GFPFlags: []string{"GFP_KERNEL"}, Order: &order, OOMScoreAdj: &adj},
		Memcg:      &oomlog.MemcgUsage{UsageKB: &usage, LimitKB: &limit, Failcnt: &failcnt},
		Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods/pod1", TaskMemcg: "/kubepods/pod1/c1",
		SummaryComm: "dotnet", SummaryPID: &pid,
		Victims: []oomlog.Victim{{PID: pid, Comm: "dotnet", Message: "Memory cgroup out of memory", UID: &uid,
			TotalVMKB: &vm, AnonRSSKB: &anon, FileRSSKB: &file, ShmemRSSKB: &shmem, PgtablesKB: &pgt, OOMScoreAdj: &adj}},
	}
	if err := oomlog.Format(os.Stdout, r, "5.10.0"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// [ 8334.895293] dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997
	// [ 8334.895293] CPU: 0 PID: 14300 Comm: dotnet Not tainted 5.10.0 #1
	// [ 8334.895293] Call Trace:
	// [ 8334.895293]  dump_header+0x4a/0x211
	// [ 8334.895293]  oom_kill_process+0xb/0x10
	// [ 8334.895293]  out_of_memory+0x1f1/0x520
	// [ 8334.895293] memory: usage 1048576kB, limit 1048576kB, failcnt 30
	// [ 8334.895293] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/kubepods/pod1,task_memcg=/kubepods/pod1/c1,task=dotnet,pid=14300,uid=0
	// [ 8334.895293] Memory cgroup out of memory: Killed process 14300 (dotnet) total-vm:172050596kB, anon-rss:148368kB, file-rss:25056kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:-997
}
