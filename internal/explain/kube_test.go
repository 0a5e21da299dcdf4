package explain

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/oomlog"
)

const (
	cid  = "e7364a94e7364a94e7364a94e7364a94e7364a94e7364a94e7364a94e7364a94"
	pod  = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice"
	ctr  = pod + "/cri-containerd-" + cid + ".scope"
	uid  = "0057cc81-ea16-463a-96c2-fc74acfb9c47"
	crio = "/kubepods/burstable/pod28fcb1a0-a45c-44e7-b9bf-e3b9360bedba/crio-conmon-" + cid
)

func intp(v int) *int       { return &v }
func i64p(v int64) *int64   { return &v }
func strp(v string) *string { return &v }

// TestKubernetes table-tests the attribution and the OOMKilled verdict on
// report shapes the corpus lacks (cgroup v2 group kill, CRI-O conmon,
// global OOM of a pod's process, non-Kubernetes paths).
func TestKubernetes(t *testing.T) {
	row := func(pid, adj int, rss int64, name string) oomlog.Task {
		return oomlog.Task{PID: pid, TGID: pid, Has: oomlog.HasTGID, RSSPages: rss, OOMScoreAdj: adj, Name: name}
	}
	tests := []struct {
		name string
		r    oomlog.Report
		want *Kube
	}{
		{
			name: "v2 group kill of a container",
			r: oomlog.Report{
				KernelVersion: "6.1.0-18-amd64", Constraint: "CONSTRAINT_MEMCG", OOMMemcg: ctr, TaskMemcg: ctr,
				Memcg: &oomlog.MemcgUsage{UsageKB: i64p(204800), LimitKB: i64p(204800), SwapUsageKB: i64p(0), SwapLimitKB: i64p(0)},
				Tasks: []oomlog.Task{row(2138551, 969, 50000, "ruby"), row(2138600, 969, 100, "sh")},
				Victims: []oomlog.Victim{
					{PID: 2138551, Comm: "ruby", OOMScoreAdj: intp(969)},
					{PID: 2138600, Comm: "sh", OOMScoreAdj: intp(969), GroupKill: true},
				},
				GroupKillPath: ctr,
			},
			want: &Kube{Attribution: kube.Attribution{PodUID: strp(uid), ContainerID: strp(cid), QOSClass: strp("Burstable"), CgroupDriver: strp("systemd"), ContainerRuntime: strp("containerd"), CgroupLevel: strp("container")},
				LimitScope:               strp("container"),
				VictimOOMScoreAdjMeaning: strp("Burstable pod: memory request ≈ 3.1% of node memory"), OOMKilled: "yes"},
		},
		{
			name: "v2 pod limit, single kill, victim first in its container",
			r: oomlog.Report{
				KernelVersion: "5.15.0-91-generic", Constraint: "CONSTRAINT_MEMCG", OOMMemcg: pod, TaskMemcg: ctr,
				Memcg:   &oomlog.MemcgUsage{UsageKB: i64p(204800), LimitKB: i64p(204800), SwapUsageKB: i64p(0), SwapLimitKB: i64p(0)},
				Tasks:   []oomlog.Task{row(100, -998, 1, "pause"), row(200, 969, 50000, "stress-ng-vm")},
				Victims: []oomlog.Victim{{PID: 200, Comm: "stress-ng-vm", OOMScoreAdj: intp(969)}},
			},
			want: &Kube{Attribution: kube.Attribution{PodUID: strp(uid), ContainerID: strp(cid), QOSClass: strp("Burstable"), CgroupDriver: strp("systemd"), ContainerRuntime: strp("containerd"), CgroupLevel: strp("container")},
				LimitScope:               strp("pod"),
				VictimOOMScoreAdjMeaning: strp("Burstable pod: memory request ≈ 3.1% of node memory"), OOMKilled: "unknown",
				VictimFirstListed: ptr(true)},
		},
		{
			name: "global OOM kills a pod's process",
			r: oomlog.Report{
				KernelVersion: "6.8.0-50-generic", Constraint: "CONSTRAINT_NONE", GlobalOOM: true, TaskMemcg: ctr,
				MemInfo: &oomlog.MemInfo{RAMPages: i64p(4194304), SwapTotalKB: i64p(0)},
				Tasks:   []oomlog.Task{row(1, 0, 3000, "systemd"), row(200, 1000, 50000, "python3")},
				Victims: []oomlog.Victim{{PID: 200, Comm: "python3", OOMScoreAdj: intp(1000)}},
			},
			want: &Kube{Attribution: kube.Attribution{PodUID: strp(uid), ContainerID: strp(cid), QOSClass: strp("Burstable"), CgroupDriver: strp("systemd"), ContainerRuntime: strp("containerd"), CgroupLevel: strp("container")},
				LimitScope:               strp("global"),
				VictimOOMScoreAdjMeaning: strp("BestEffort pod (1000): killed first"), OOMKilled: "unknown"},
		},
		{
			name: "CRI-O conmon in the victim's memcg",
			r: oomlog.Report{
				KernelVersion: "5.14.0-284.el9", Constraint: "CONSTRAINT_MEMCG",
				OOMMemcg: "/kubepods/burstable/pod28fcb1a0-a45c-44e7-b9bf-e3b9360bedba", TaskMemcg: crio,
				Victims: []oomlog.Victim{{PID: 7, Comm: "conmon"}},
			},
			want: &Kube{Attribution: kube.Attribution{PodUID: strp("28fcb1a0-a45c-44e7-b9bf-e3b9360bedba"), ContainerID: strp(cid), QOSClass: strp("Burstable"),
				CgroupDriver: strp("cgroupfs"), ContainerRuntime: strp("cri-o"), CgroupLevel: strp("container")},
				LimitScope: strp("pod"), OOMKilled: "no"},
		},
		{
			name: "not Kubernetes",
			r: oomlog.Report{
				KernelVersion: "6.1.1-arch1-1", Constraint: "CONSTRAINT_NONE", GlobalOOM: true,
				TaskMemcg: "/user.slice/user-504.slice/session-2.scope",
				Victims:   []oomlog.Victim{{PID: 9, Comm: "doxygen"}},
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Explain(&tt.r, Options{})
			got := e.Kubernetes
			if got != nil {
				if got.OOMKilledReason == "" {
					t.Error("no oomkilled_reason")
				}
				got.OOMKilledReason = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("kubernetes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnknownVersion strips the kernel version from the first twist: the
// rule sets its format allows (5.4+ Killed line: clamp or signed) disagree,
// so there is no single prediction, and the reasons say which explains
// the kernel's choice.
func TestUnknownVersion(t *testing.T) {
	b, _ := Sample("twist-1")
	var keep []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.Contains(l, "CPU: 0 PID: 14300") {
			keep = append(keep, l)
		}
	}
	s := oomlog.NewScanner(bytes.NewReader([]byte(strings.Join(keep, ""))), oomlog.Options{})
	if !s.Scan() {
		t.Fatal("no report")
	}
	a := Explain(s.Report(), Options{}).Analysis
	if a.Rules != nil || a.PredictedVictimPID != nil || a.RulesFrom != RulesFromUnknown {
		t.Errorf("rules %v, predicted %v, from %q; want null, null, unknown", a.Rules, a.PredictedVictimPID, a.RulesFrom)
	}
	all := strings.Join(a.Reasons, "\n")
	for _, want := range []string{"allows only the 5.3–5.8/5.4.0–5.4.143, ≥5.9/5.4.144+ rules", "explained by the 5.3–5.8/5.4.0–5.4.143 rules", "≥5.9/5.4.144+ would have chosen 15976"} {
		if !strings.Contains(all, want) {
			t.Errorf("reasons lack %q:\n%s", want, all)
		}
	}
}

// TestDecisions covers the choices that are not a plain ranking:
// oom_kill_allocating_task, ≤5.0 sacrifice child, a previous victim still
// in the table, and no table at all.
func TestDecisions(t *testing.T) {
	row := func(pid, adj int, rss int64, name string) oomlog.Task {
		return oomlog.Task{PID: pid, TGID: pid, Has: oomlog.HasTGID, RSSPages: rss, OOMScoreAdj: adj, Name: name}
	}
	tests := []struct {
		name       string
		r          oomlog.Report
		opts       Options
		predicted  *int
		agrees     *bool
		decidedBy  *string
		reasonHas  string
		summaryHas string
	}{
		{
			name: "oom_kill_allocating_task",
			r: oomlog.Report{
				KernelVersion: "5.10.0", GlobalOOM: true, Constraint: "CONSTRAINT_NONE",
				Trigger: &oomlog.Trigger{Comm: "small", PID: intp(20)},
				Tasks:   []oomlog.Task{row(10, 0, 90000, "big"), row(20, 0, 100, "small")},
				Victims: []oomlog.Victim{{PID: 20, Comm: "small", Message: "Out of memory (oom_kill_allocating_task)"}},
			},
			predicted: intp(20), agrees: ptr(true), decidedBy: strp("oom_kill_allocating_task"),
			reasonHas: "vm.oom_kill_allocating_task=1", summaryHas: "killed the task that was allocating",
		},
		{
			name: "sacrifice child (4.19)",
			r: oomlog.Report{
				KernelVersion: "4.19.72", GlobalOOM: true,
				Tasks:     []oomlog.Task{row(10, 0, 90000, "java"), row(11, 0, 5000, "java-child")},
				ChosenPID: intp(10), ChosenComm: "java", ChosenScore: intp(900),
				Victims: []oomlog.Victim{{PID: 11, Comm: "java-child", Message: "Out of memory"}},
			},
			predicted: intp(10), agrees: ptr(true), decidedBy: strp("score"),
			reasonHas: "killed its child 11 (java-child) instead",
		},
		{
			name: "previous victim still listed",
			r: oomlog.Report{
				KernelVersion: "6.1.0", Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a",
				Memcg:   &oomlog.MemcgUsage{LimitKB: i64p(1 << 20), SwapIsMemsw: true, SwapLimitKB: i64p(1 << 20)},
				Tasks:   []oomlog.Task{row(10, 0, 200000, "dying"), row(11, 0, 50000, "next")},
				Victims: []oomlog.Victim{{PID: 11, Comm: "next"}},
			},
			opts:      Options{PriorVictims: []int{10}},
			predicted: intp(11), agrees: ptr(true), decidedBy: strp("score"),
			reasonHas: "pid 10 was killed by an earlier OOM in this log",
		},
		{
			name: "disagreement under the report's own rules",
			r: oomlog.Report{
				KernelVersion: "6.1.0", Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a",
				Memcg:   &oomlog.MemcgUsage{LimitKB: i64p(1 << 20), SwapIsMemsw: true, SwapLimitKB: i64p(1 << 20)},
				Tasks:   []oomlog.Task{row(10, 0, 200000, "big"), row(11, 0, 199990, "close")},
				Victims: []oomlog.Victim{{PID: 11, Comm: "close"}},
			},
			predicted: intp(10), agrees: ptr(false), decidedBy: strp("score"),
			reasonHas: "scores 10 points below the predicted one", summaryHas: "The kernel killed pid 11 instead",
		},
		{
			name: "no task table",
			r: oomlog.Report{
				KernelVersion: "5.15.0", Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a",
				Victims: []oomlog.Victim{{PID: 11, Comm: "x"}},
			},
			reasonHas: "no task table", summaryHas: "cannot be recomputed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Explain(&tt.r, tt.opts).Analysis
			got := []any{a.PredictedVictimPID, a.Agrees, (*string)(a.DecidedBy)}
			want := []any{tt.predicted, tt.agrees, tt.decidedBy}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("predicted, agrees, decided_by (-want +got):\n%s", diff)
			}
			if all := strings.Join(a.Reasons, "\n"); !strings.Contains(all, tt.reasonHas) {
				t.Errorf("reasons lack %q:\n%s", tt.reasonHas, all)
			}
			if !strings.Contains(a.Summary, tt.summaryHas) {
				t.Errorf("summary lacks %q:\n%s", tt.summaryHas, a.Summary)
			}
		})
	}
}

// TestRulesFromFormat: a report without a release whose format allows one
// rule set (a 6.8+ task table) is explained under that set.
func TestRulesFromFormat(t *testing.T) {
	r := oomlog.Report{
		Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TableFormat: oomlog.TableRSSSplit,
		Memcg: &oomlog.MemcgUsage{LimitKB: i64p(1 << 20), SwapLimitKB: i64p(0), SwapUsageKB: i64p(0)},
		Tasks: []oomlog.Task{
			{PID: 1, RSSPages: 100, OOMScoreAdj: -997, Name: "a"},
			{PID: 2, RSSPages: 50, OOMScoreAdj: -997, Name: "b"},
		},
		Victims: []oomlog.Victim{{PID: 1, Comm: "a"}},
	}
	a := Explain(&r, Options{}).Analysis
	got := []any{string(a.RulesFrom), deref(a.Rules), deref(a.PredictedVictimPID), deref(a.Agrees)}
	if diff := cmp.Diff([]any{"format", "signed", 1, true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestCandidatesSkipEarlierVictimsByProcess: an earlier victim is skipped
// by process (signal->oom_mm and MMF_OOM_SKIP are per process), so a row is
// one when the victim's pid is its pid or its tgid: the Killed line and the
// row may each print a different thread of the process.
func TestCandidatesSkipEarlierVictimsByProcess(t *testing.T) {
	r := oomlog.Report{Tasks: []oomlog.Task{
		{PID: 101, TGID: 100, Has: oomlog.HasTGID, RSSPages: 10, Name: "leader exited, thread 101 holds the mm"},
		{PID: 200, TGID: 200, Has: oomlog.HasTGID, RSSPages: 10, Name: "same thread"},
		{PID: 301, TGID: 300, Has: oomlog.HasTGID, RSSPages: 10, Name: "another process"},
		{PID: 400, RSSPages: 10, Name: "no tgid column"},
	}}
	tasks, skipped := Candidates(&r, nil, []int{100, 200, 302, 400})
	var unkillable []int
	for _, mt := range tasks {
		if mt.Unkillable {
			unkillable = append(unkillable, mt.PID)
		}
	}
	if d := cmp.Diff([]int{101, 200, 400}, unkillable); d != "" {
		t.Errorf("unkillable (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{101, 200, 400}, skipped); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
}
