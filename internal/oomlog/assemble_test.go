package oomlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/kmsg"
)

func scanString(t testing.TB, text string) ([]*Report, Stats) {
	t.Helper()
	s := NewScanner(strings.NewReader(text), Options{})
	var reps []*Report
	for s.Scan() {
		reps = append(reps, s.Report())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return reps, s.Stats()
}

// shape is the part of a report the grouping tests look at.
type shape struct {
	Trigger    string
	Victims    []string // "pid comm [group] [reaped|reapfailed] [exiting]"
	Tasks      int      // -1: no table
	Truncated  bool
	NoKillable bool
	Panic      string
	Group      string
	Warnings   int
}

func shapeOf(r *Report) shape {
	s := shape{Tasks: -1, Truncated: r.Truncated, NoKillable: r.NoKillable, Panic: r.Panic, Group: r.GroupKillPath, Warnings: len(r.Warnings)}
	if r.Trigger != nil {
		s.Trigger = r.Trigger.Comm
	}
	if r.Tasks != nil {
		s.Tasks = len(r.Tasks)
	}
	for _, v := range r.Victims {
		d := fmt.Sprintf("%d %s", v.PID, v.Comm)
		if v.GroupKill {
			d += " group"
		}
		if v.Reaped {
			d += " reaped"
		}
		if v.ReapFailed {
			d += " reapfailed"
		}
		if v.Exiting {
			d += " exiting"
		}
		s.Victims = append(s.Victims, d)
	}
	return s
}

const (
	hdr54   = "dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997\nCPU: 0 PID: 14300 Comm: dotnet Not tainted 5.4.0-1059-azure #62\n"
	table54 = "Tasks state (memory values in pages):\n[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n[  15885] 65535 15885      241        1    28672        0          -998 pause\n[  14300]     0 14300 43012649    43356   581632        0          -997 dotnet\n"
	sum54   = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=f0,mems_allowed=0,oom_memcg=/kubepods/pod1,task_memcg=/kubepods/pod1/f0,task=dotnet,pid=14300,uid=0\n"
)

func killed54(pid int, comm string) string {
	return fmt.Sprintf("Memory cgroup out of memory: Killed process %d (%s) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:-997\n", pid, comm)
}

func reaped(pid int, comm string) string {
	return fmt.Sprintf("oom_reaper: reaped process %d (%s), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n", pid, comm)
}

func TestGrouping(t *testing.T) {
	cases := []struct {
		name string
		log  string
		want []shape
	}{
		{"one full report", hdr54 + "memory: usage 1048576kB, limit 1048576kB, failcnt 30\n" + table54 + sum54 + killed54(14300, "dotnet") + reaped(14300, "dotnet"),
			[]shape{{Trigger: "dotnet", Tasks: 2, Victims: []string{"14300 dotnet reaped"}}}},
		{"group kill is one report", hdr54 + table54 + sum54 + killed54(14300, "dotnet") +
			"Tasks in /kubepods.slice/c.scope are going to be killed due to memory.oom.group set\n" +
			killed54(15885, "pause") + "eth0: unrelated\n" + killed54(16000, "Plex Media Server") +
			reaped(15885, "pause") + reaped(14300, "dotnet") + "oom_reaper: unable to reap pid:16000 (Plex Media Server)\n",
			[]shape{{Trigger: "dotnet", Tasks: 2, Group: "/kubepods.slice/c.scope",
				Victims: []string{"14300 dotnet reaped", "15885 pause group reaped", "16000 Plex Media Server group reapfailed"}}}},
		{"storm of bare Killed lines", killed54(1, "a") + killed54(2, "b") + "Killed process 3, UID 48, (httpd) total-vm:10kB, anon-rss:1kB, file-rss:1kB\n",
			[]shape{{Tasks: -1, Victims: []string{"1 a"}}, {Tasks: -1, Victims: []string{"2 b"}}, {Tasks: -1, Victims: []string{"3 httpd"}}}},
		{"reaper after the next report began", hdr54 + sum54 + killed54(10, "x") + hdr54 + table54 + reaped(10, "x") + killed54(20, "y") + reaped(20, "y"),
			[]shape{{Trigger: "dotnet", Tasks: -1, Victims: []string{"10 x reaped"}}, {Trigger: "dotnet", Tasks: 2, Victims: []string{"20 y reaped"}}}},
		{"kill line after the next header, no caller ids", hdr54 + table54 + sum54 + strings.ReplaceAll(hdr54, "dotnet", "java") + killed54(14300, "dotnet") +
			"Tasks state (memory values in pages):\n" + killed54(77, "java"),
			[]shape{{Trigger: "dotnet", Tasks: 2, Victims: []string{"14300 dotnet"}}, {Trigger: "java", Tasks: 0, Victims: []string{"77 java"}}}},
		{"header-less tail: a row read by its shape", "[  14300]     0 14300 43012649    43356   581632        0          -997 dotnet\n" + sum54 + killed54(14300, "dotnet"),
			[]shape{{Tasks: 1, Victims: []string{"14300 dotnet"}}}},
		{"rows of no era's shape open nothing", "[  14300]     0 14300 43012649 dotnet\n", nil},
		{"header-less tail with table", table54 + sum54 + killed54(14300, "dotnet"),
			[]shape{{Tasks: 2, Victims: []string{"14300 dotnet"}}}},
		{"no killable processes then panic", hdr54 + table54 + "Out of memory and no killable processes...\nKernel panic - not syncing: System is deadlocked on memory\n",
			[]shape{{Trigger: "dotnet", Tasks: 2, NoKillable: true, Panic: "System is deadlocked on memory"}}},
		{"4.14 no killable panic", hdr54 + table54 + "Kernel panic - not syncing: Out of memory and no killable processes...\n",
			[]shape{{Trigger: "dotnet", Tasks: 2, NoKillable: true, Panic: "Out of memory and no killable processes..."}}},
		{"lone no killable", "Out of memory and no killable processes...\n",
			[]shape{{Tasks: -1, NoKillable: true}}},
		{"panic_on_oom", hdr54 + table54 + "Out of memory: compulsory panic_on_oom is enabled\nKernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled\n",
			[]shape{{Trigger: "dotnet", Tasks: 2, Truncated: true, Panic: "Out of memory: compulsory panic_on_oom is enabled"}}},
		{"truncated by the next header", hdr54 + "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n" + hdr54 + killed54(5, "z"),
			[]shape{{Trigger: "dotnet", Tasks: 0, Truncated: true}, {Trigger: "dotnet", Tasks: -1, Victims: []string{"5 z"}}}},
		{"truncated by the end", hdr54 + table54[:80],
			[]shape{{Trigger: "dotnet", Tasks: 0, Truncated: true, Warnings: 1}}}, // the cut table header
		{"5.0 chosen then killed", hdr54 + sum54 + "Memory cgroup out of memory: Kill process 14300 (dotnet) score 0 or sacrifice child\nKilled process 14301 (child) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n",
			[]shape{{Trigger: "dotnet", Tasks: -1, Victims: []string{"14301 child"}}}},
		{"victim already exiting", hdr54 + sum54 + "Memory cgroup out of memory: OOM victim 14300 (dotnet) is already exiting. Skip killing the task\n",
			[]shape{{Trigger: "dotnet", Tasks: -1, Victims: []string{"14300 dotnet exiting"}}}},
		{"memory limit reached, no victim", "a invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0\nMemory limit reached of cgroup /x\nmemory: usage 4kB, limit 4kB, failcnt 1\n",
			[]shape{{Trigger: "a", Tasks: -1, Truncated: true}}},
		{"new boot ends a report", hdr54 + "Linux version 6.1.0 (x@y) #1\n" + killed54(1, "a"),
			[]shape{{Trigger: "dotnet", Tasks: -1, Truncated: true}, {Tasks: -1, Victims: []string{"1 a"}}}},
		{"unrelated lines only", "eth0: link up\nsystemd[1]: Started x.\n", nil},
		{"rsyslog #012 and syslog tags", "Jan  1 00:00:00 h kernel: dotnet invoked oom-killer: gfp_mask=0xcc0, order=0, oom_score_adj=0#012Tasks state (memory values in pages):#012[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n" +
			"Jan  1 00:00:00 h kernel: [  1]     0     1      1        1    1        0             0 (resolved)\n" +
			"Jan  1 00:00:00 h sshd[1]: Killed process 99 (fake) total-vm:1kB\n" +
			"Jan  1 00:00:00 h kernel: Out of memory: Killed process 1 ((resolved)) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n",
			[]shape{{Trigger: "dotnet", Tasks: 1, Victims: []string{"1 (resolved)"}}}},
		{"CRLF", strings.ReplaceAll(hdr54+table54+sum54+killed54(14300, "dotnet"), "\n", "\r\n"),
			[]shape{{Trigger: "dotnet", Tasks: 2, Victims: []string{"14300 dotnet"}}}},
		{"kmsg records with dictionary lines", "4,100,1000,-;dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n SUBSYSTEM=memory\n" +
			`6,101,1001,-;Memory cgroup stats for /a:\x0aanon 4096\x0afile 0` + "\n" +
			"3,102,1002,-;" + killed54(7, "x"),
			[]shape{{Trigger: "dotnet", Tasks: -1, Victims: []string{"7 x"}}}},
		{"kmsg record written by user space", "14,5,6,-;" + killed54(9, "fake") + "12,6,7,-;" + hdr54, nil},
		{"kmsg dictionary lines never start a report", "<4>6,1,2,-;unrelated\n DEVICE=+x\n Killed process 1 (a)\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reps, _ := scanString(t, tc.log)
			var got []shape
			for _, r := range reps {
				got = append(got, shapeOf(r))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestFeedKmsg: records from a kmsg.Reader read as the same report as
// their saved text, with the kernel's \xNN escapes decoded, and records
// of user space left out.
func TestFeedKmsg(t *testing.T) {
	lines := strings.SplitAfter(strings.ReplaceAll(hdr54+table54+sum54+killed54(14300, `dot\x1bnet`), "dotnet", `dot\x1bnet`), "\n")
	var saved strings.Builder
	a := NewAssembler(Options{})
	var got []*Report
	for i, l := range lines {
		if l == "" {
			continue
		}
		raw := fmt.Sprintf("4,%d,%d,-;%s", 100+i, 1000000+i, l)
		saved.WriteString(raw)
		rec, err := kmsg.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.FeedKmsg(rec)...)
		user, _ := kmsg.Parse([]byte("14,1,1,-;" + killed54(1, "fake")))
		got = append(got, a.FeedKmsg(user)...)
	}
	got = append(got, a.Flush()...)
	want, _ := scanString(t, saved.String())
	if len(got) != 1 || len(want) != 1 {
		t.Fatalf("FeedKmsg gave %d reports, the saved text %d; want 1", len(got), len(want))
	}
	if got[0].Trigger.Comm != "dot\x1bnet" || got[0].Victims[0].Comm != "dot\x1bnet" || len(got[0].Tasks) != 2 {
		t.Errorf("trigger %q, victim %q, %d tasks", got[0].Trigger.Comm, got[0].Victims[0].Comm, len(got[0].Tasks))
	}
	// The record path has no saved prefix text or line numbers.
	w := *want[0]
	w.Stamp.Text = ""
	w.FirstLine, w.LastLine = got[0].FirstLine, got[0].LastLine
	if d := cmp.Diff(&w, got[0]); d != "" {
		t.Errorf("FeedKmsg vs saved text (-text +records):\n%s", d)
	}
}

// TestCallerInterleaving: two reports printed at once on two CPUs, told
// apart by their printk caller ids.
func TestCallerInterleaving(t *testing.T) {
	a := strings.Split(strings.TrimSpace(hdr54+table54+sum54+killed54(14300, "dotnet")), "\n")
	b := strings.Split(strings.TrimSpace(strings.ReplaceAll(hdr54, "dotnet", "java")+
		"Tasks state (memory values in pages):\n[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n[    500]     0   500        1        1        1        0             0 java\n"+
		killed54(500, "java")), "\n")
	var log strings.Builder
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			fmt.Fprintf(&log, "[  10.%06d][ T14300] %s\n", i, a[i])
		}
		if i < len(b) {
			fmt.Fprintf(&log, "[  10.%06d][   T500] %s\n", i, b[i])
		}
	}
	reps, _ := scanString(t, log.String())
	var got []shape
	for _, r := range reps {
		got = append(got, shapeOf(r))
	}
	want := []shape{
		{Trigger: "dotnet", Tasks: 2, Victims: []string{"14300 dotnet"}},
		{Trigger: "java", Tasks: 1, Victims: []string{"500 java"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if reps[0].Stamp.Caller != "T14300" || *reps[0].Trigger.PID != 14300 {
		t.Errorf("caller %q pid %v", reps[0].Stamp.Caller, reps[0].Trigger.PID)
	}
}

type errReader struct{ r io.Reader }

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestBadInput(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		reps, st := scanString(t, "")
		if len(reps) != 0 || st.Lines != 0 {
			t.Errorf("got %d reports, %+v", len(reps), st)
		}
	})
	t.Run("binary garbage", func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		buf := make([]byte, 1<<20)
		rng.Read(buf)
		reps, _ := scanString(t, string(buf))
		if len(reps) != 0 {
			t.Errorf("got %d reports from random bytes", len(reps))
		}
	})
	t.Run("NUL bytes and invalid UTF-8 in a report", func(t *testing.T) {
		log := hdr54 + table54 + "[  15886]     0 15886      241        1    28672        0          -998 bad\xff\x00name\n" + sum54 + killed54(14300, "dot\x00net")
		reps, st := scanString(t, log)
		if len(reps) != 1 || len(reps[0].Warnings) != 2 || st.InvalidLines != 2 {
			t.Fatalf("reports %d, warnings %q, stats %+v", len(reps), reps[0].Warnings, st)
		}
		if reps[0].Victims[0].Comm != "dot\x00net" || len(reps[0].Tasks) != 3 {
			t.Errorf("victim %q, tasks %d", reps[0].Victims[0].Comm, len(reps[0].Tasks))
		}
	})
	t.Run("10 MB line", func(t *testing.T) {
		long := strings.Repeat("x", 10<<20)
		log := hdr54 + long + "\n" + table54 + sum54 + killed54(14300, "dotnet") + long + "\n"
		reps, st := scanString(t, log)
		if st.LinesTooLong != 2 || len(reps) != 1 || len(reps[0].Tasks) != 2 || len(reps[0].Warnings) != 1 {
			t.Errorf("stats %+v, reports %d", st, len(reps))
		}
	})
	t.Run("10 MB line without newline", func(t *testing.T) {
		reps, st := scanString(t, killed54(1, "a")+strings.Repeat("y", 10<<20))
		if st.LinesTooLong != 1 || st.Lines != 2 || len(reps) != 1 {
			t.Errorf("stats %+v, reports %d", st, len(reps))
		}
	})
	t.Run("read error", func(t *testing.T) {
		s := NewScanner(errReader{strings.NewReader(hdr54 + sum54 + killed54(1, "a"))}, Options{})
		n := 0
		for s.Scan() {
			n++
		}
		if n != 1 || s.Err() == nil || !strings.Contains(s.Err().Error(), "disk on fire") {
			t.Errorf("reports %d, err %v", n, s.Err())
		}
	})
	t.Run("malformed OOM lines", func(t *testing.T) {
		// The summary line is one cut after its constraint: kept, counted
		// as cut, not as unreadable.
		reps, st := scanString(t, hdr54+"memory: usage lots, limit 1kB, failcnt 0\noom-kill:constraint=CONSTRAINT_NONE\nKilled process x (y)\n")
		if len(reps) != 1 || st.InvalidLines != 2 || len(reps[0].Warnings) != 3 || reps[0].CutLines != 1 || reps[0].Constraint != "CONSTRAINT_NONE" {
			t.Errorf("reports %d, stats %+v", len(reps), st)
		}
	})
	t.Run("a line with two faults counts once", func(t *testing.T) {
		// Invalid UTF-8 and a PID out of range: two warnings, one line
		// (issue 15).
		hdr := "dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997\nCPU: 0 PID: 99999999999999999999 Comm: dotnet Not tainted 5.4.0\xff #62\n"
		reps, st := scanString(t, hdr+sum54+killed54(1, "a"))
		if len(reps) != 1 || len(reps[0].Warnings) != 2 || st.InvalidLines != 1 {
			t.Errorf("reports %d, warnings %q, stats %+v", len(reps), reps[0].Warnings, st)
		}
	})
	t.Run("orphan reaper line", func(t *testing.T) {
		reps, st := scanString(t, reaped(5, "x"))
		if len(reps) != 0 || st.OrphanReaperLines != 1 {
			t.Errorf("reports %d, stats %+v", len(reps), st)
		}
	})
}

// TestHoldForReaper: a finished report waits for its victim's reaper line
// only as long as Options.HoldLines.
func TestHoldForReaper(t *testing.T) {
	a := NewAssembler(Options{HoldLines: 10})
	var got []*Report
	for _, l := range strings.SplitAfter(hdr54+sum54+killed54(1, "a")+hdr54, "\n") {
		got = append(got, a.Feed(Record{Text: l})...)
	}
	if len(got) != 0 {
		t.Fatalf("released %d reports before the hold expired", len(got))
	}
	for i := 0; i < 12 && len(got) == 0; i++ {
		got = append(got, a.Feed(Record{Text: "unrelated"})...)
	}
	if len(got) != 1 || got[0].Victims[0].Reaped {
		t.Fatalf("got %d reports", len(got))
	}
	got = a.Flush()
	if len(got) != 1 || !got[0].Truncated {
		t.Fatalf("flush: %d reports", len(got))
	}
	if a.Stats().Reports != 2 {
		t.Errorf("stats %+v", a.Stats())
	}
}

// genReader produces rounds of n unrelated syslog lines followed by one
// full report, without holding the input in memory.
type genReader struct {
	rounds, n int
	report    []byte
	buf       bytes.Buffer
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.buf.Len() == 0 {
		if g.rounds == 0 {
			return 0, io.EOF
		}
		g.rounds--
		for i := 0; i < g.n; i++ {
			fmt.Fprintf(&g.buf, "Jan  1 00:00:%02d h systemd[1]: Started session %d of user root.\n", i%60, i)
		}
		g.buf.Write(g.report)
	}
	return g.buf.Read(p)
}

// TestScannerBoundedMemory: the heap does not grow with the input. A
// 40-round input (~50 MB, 40 reports of 1000 tasks) is read while the live
// heap is sampled after each report.
func TestScannerBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~50 MB")
	}
	g := &genReader{rounds: 40, n: 20000, report: bigReport(1000)}
	s := NewScanner(g, Options{})
	var first, peak uint64
	n := 0
	for s.Scan() {
		n++
		if len(s.Report().Tasks) != 1000 {
			t.Fatalf("report %d has %d tasks", n, len(s.Report().Tasks))
		}
		if n%10 != 1 {
			continue
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if first == 0 {
			first = ms.HeapAlloc
		}
		peak = max(peak, ms.HeapAlloc)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if n != 40 || st.Lines != 40*(20000+bytes.Count(g.report, []byte("\n"))) {
		t.Fatalf("%d reports, stats %+v", n, st)
	}
	if peak > first+4<<20 {
		t.Errorf("live heap grew from %d to %d bytes while reading: not streaming", first, peak)
	}
	t.Logf("live heap %d → peak %d bytes over %d lines", first, peak, st.Lines)
}
