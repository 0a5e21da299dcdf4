package explain

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/oomlog"
)

// TestImpossibleNumbers (issue 15 §5): values no kernel prints are left
// out with a warning, and the rest of the report is still explained. The
// bounds are the kernel's: kB sizes of unsigned 64-bit counters, page
// counts, oom_score_adj −1000…1000 (include/uapi/linux/oom.h), pids up to
// PID_MAX_LIMIT 4194304 (include/linux/threads.h).
func TestImpossibleNumbers(t *testing.T) {
	const hdr = "a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-5000\n" +
		"CPU: 0 PID: 99999999999 Comm: a Not tainted 5.15.0 #1\n"
	const tbl = "Tasks state (memory values in pages):\n" +
		"[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n" +
		"[    100]     0   100     1000      500    40960        0             0 good\n" +
		"[    101]     0   101     1000     -500    40960        0             0 negative-rss\n" +
		"[    102]     0   102     1000      700    40960        0         -5000 bad-adj\n" +
		"[    103]     0   103     1000      900    40960        0          1000 big-adj\n"
	log := hdr +
		"memory: usage -5kB, limit 9223372036854775807kB, failcnt 3\n" + tbl +
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=big-adj,pid=103,uid=0\n" +
		"Memory cgroup out of memory: Killed process 103 (big-adj) total-vm:9223372036854775807kB, anon-rss:9007199254740000kB, file-rss:9007199254740000kB, shmem-rss:0kB, UID:0 pgtables:8kB oom_score_adj:7000\n"
	s := oomlog.NewScanner(strings.NewReader(log), oomlog.Options{})
	if !s.Scan() {
		t.Fatal("no report")
	}
	e := Explain(s.Report(), Options{})
	if e.Trigger.OOMScoreAdj != nil || e.Trigger.PID != nil || deref(e.KernelVersion) != "5.15.0" {
		t.Errorf("trigger adj %v pid %v kernel %v; want null, null, 5.15.0 (the banner's release is kept)", e.Trigger.OOMScoreAdj, e.Trigger.PID, e.KernelVersion)
	}
	if e.Memcg.UsageKB != nil || e.Memcg.LimitKB != nil || deref(e.Memcg.Failcnt) != 3 {
		t.Errorf("memcg %+v; want usage and limit null, failcnt 3", e.Memcg)
	}
	var names []string
	for _, tk := range e.Tasks {
		names = append(names, tk.Name)
	}
	if strings.Join(names, ",") != "good,big-adj" {
		t.Errorf("tasks %v; want the rows with impossible values left out", names)
	}
	v := e.Victims[0]
	if v.TotalVMKB != nil || v.OOMScoreAdj != nil || deref(v.AnonRSSKB) != 9007199254740000 {
		t.Errorf("victim %+v", v)
	}
	for _, w := range []string{"memcg usage -5 kB", "memcg limit 9223372036854775807 kB", "oom_score_adj -5000", "(pid 101): rss -500 pages",
		"oom_score_adj 7000", "total-vm 9223372036854775807 kB", "PID out of range"} {
		if !strings.Contains(strings.Join(e.Warnings, "\n"), w) {
			t.Errorf("warnings lack %q:\n%s", w, strings.Join(e.Warnings, "\n"))
		}
	}
	// The rest is still explained: without the limit, totalpages is
	// unknown and the adj term is left out; big-adj has the most rss.
	a := e.Analysis
	if deref(a.PredictedVictimPID) != 103 || a.TotalPages != nil || !deref(a.Agrees) {
		t.Errorf("predicted %v totalpages %v agrees %v", a.PredictedVictimPID, a.TotalPages, a.Agrees)
	}
	// No size in the summary wrapped negative: the victim's resident
	// sum (anon + file) is past what fits in bytes and is not shown.
	if strings.Contains(a.Summary, "-") && strings.Contains(a.Summary, "iB") && strings.Contains(a.Summary, " -") {
		t.Errorf("summary shows a negative size: %s", a.Summary)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Fatal(err)
	}
}
