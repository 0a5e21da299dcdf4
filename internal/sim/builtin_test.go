package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// run plays a built-in, on kernel when it is not "".
func run(t *testing.T, name, kernel string) *Result {
	t.Helper()
	s, err := Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	if kernel != "" {
		if s.Kernel, err = mm.ParseVersion(kernel); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Run(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func events(r *Result, kind string) []Event {
	var out []Event
	for _, e := range r.Events {
		if e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

func endProc(t *testing.T, r *Result, pid int) EndProcess {
	t.Helper()
	for _, p := range r.End.Processes {
		if p.PID == pid {
			return p
		}
	}
	t.Fatalf("no process %d in the end record", pid)
	return EndProcess{}
}

func between(t *testing.T, what string, got, lo, hi int64) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %s, want between %s and %s", what, bytesize.Format(got), bytesize.Format(lo), bytesize.Format(hi))
	}
}

func TestBuiltinsLoad(t *testing.T) {
	want := []string{"dotnet-limit", "dotnet-nolimit", "eviction-order", "fig1", "fig2", "fig3", "fig4", "fork-fails",
		"memoryqos", "movie1", "movie2", "movie3", "scenario1", "twist1", "twist2"}
	var got []string
	for _, b := range Builtins() {
		got = append(got, b.Name)
		if b.Description == "" {
			t.Errorf("%s has no description", b.Name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("built-ins (-want +got):\n%s", diff)
	}
	if _, err := Builtin("nope"); err == nil {
		t.Error("Builtin(nope) succeeded")
	}
}

// Figure 1: mode 1 hands out 1 TiB that is never touched.
func TestFig1AlwaysOvercommit(t *testing.T) {
	r := run(t, "fig1", "")
	leak := endProc(t, r, 2000)
	if leak.AllocatedBytes < 1<<40 || leak.StopReason != StopMax {
		t.Errorf("leak allocated %s, stop %s; want ≥ 1TiB, max", bytesize.Format(leak.AllocatedBytes), leak.StopReason)
	}
	if n := len(events(r, EvENOMEM)) + len(events(r, EvOOMKill)); n != 0 {
		t.Errorf("%d refusals or kills, want none", n)
	}
	between(t, "RAM used", *r.End.MemoryUsedBytes, 1*gib, 1*gib)
	if *r.End.CommittedASBytes <= *r.End.CommitLimitBytes {
		t.Error("Committed_AS should be far above CommitLimit in mode 1")
	}
}

// Figure 2: CommitLimit = 50% × 12 GiB + 4 GiB = 10 GiB, Committed_AS ≈ 4 GiB.
func TestFig2CommitLimit(t *testing.T) {
	r := run(t, "fig2", "")
	if got := *r.End.CommitLimitBytes; got != 10*gib {
		t.Errorf("CommitLimit = %s, want 10GiB", bytesize.Format(got))
	}
	if got := *r.End.CommittedASBytes; got != 4*gib {
		t.Errorf("Committed_AS = %s, want 4GiB", bytesize.Format(got))
	}
}

// Figure 3: about 6 GiB can be allocated before ENOMEM.
func TestFig3NeverOvercommit(t *testing.T) {
	r := run(t, "fig3", "")
	en := events(r, EvENOMEM)
	if len(en) != 1 || en[0].Errno != "ENOMEM" {
		t.Fatalf("enomem events = %+v, want one ENOMEM", en)
	}
	leak := endProc(t, r, 2000)
	if leak.StopReason != StopENOMEM {
		t.Errorf("stop = %s, want enomem", leak.StopReason)
	}
	// 10 GiB − 4 GiB baseline − 128 MiB user reserve, in 100 MiB blocks.
	between(t, "allocated", leak.AllocatedBytes, 5900*mib, 6*gib)
	if got := *en[0].CommitLimitBytes; got != 10*gib {
		t.Errorf("CommitLimit = %s, want 10GiB", bytesize.Format(got))
	}
	if len(events(r, EvOOMKill)) != 0 {
		t.Error("no OOM kill expected")
	}
}

// Figure 4: ratio 200 → CommitLimit 28 GiB, ~24 GiB allocatable.
func TestFig4Ratio200(t *testing.T) {
	r := run(t, "fig4", "")
	if got := *r.End.CommitLimitBytes; got != 28*gib {
		t.Errorf("CommitLimit = %s, want 28GiB", bytesize.Format(got))
	}
	leak := endProc(t, r, 2000)
	between(t, "allocated", leak.AllocatedBytes, 23*gib+768*mib, 24*gib)
	if leak.AllocatedBytes <= 16*gib {
		t.Error("ratio 200 should allow more than RAM + swap")
	}
}

// Movie 1: touching 50% of every block ends in a global OOM kill once
// RAM and swap are full: at about 2 × (16 GiB − 1 GiB held by the OS).
func TestMovie1GlobalOOM(t *testing.T) {
	r := run(t, "movie1", "")
	kills := events(r, EvOOMKill)
	if len(kills) != 1 || kills[0].PID != 2000 || kills[0].Constraint != "CONSTRAINT_NONE" {
		t.Fatalf("kills = %+v, want the leak (2000) by a global OOM", kills)
	}
	leak := endProc(t, r, 2000)
	between(t, "allocated at the kill", leak.AllocatedBytes, 29*gib, 30*gib+100*mib)
	rep := r.Reports[*kills[0].ReportIndex]
	if rep.MemInfo == nil || *rep.MemInfo.SwapFreeKB != 0 || *rep.MemInfo.FreePages != 0 {
		t.Errorf("at the OOM swap and RAM should be full: %+v", rep.MemInfo)
	}
}

// Movie 2: mode 2 with ratio 100, everything touched: the OOM killer runs
// anyway, before any ENOMEM.
func TestMovie2OOMWithOvercommitOff(t *testing.T) {
	r := run(t, "movie2", "")
	if got := *r.End.CommitLimitBytes; got != 16*gib {
		t.Errorf("CommitLimit = %s, want 16GiB (RAM + swap)", bytesize.Format(got))
	}
	if len(events(r, EvENOMEM)) != 0 {
		t.Error("the commit limit should not be reached")
	}
	kills := events(r, EvOOMKill)
	if len(kills) != 1 || kills[0].PID != 2000 {
		t.Fatalf("kills = %+v, want the leak", kills)
	}
	between(t, "allocated at the kill", endProc(t, r, 2000).AllocatedBytes, 13*gib+900*mib, 14*gib+100*mib)
}

// Movie 3: CommitLimit = swap only: ENOMEM at ~4 GiB and RAM left unused.
func TestMovie3SwapOnlyLimit(t *testing.T) {
	r := run(t, "movie3", "")
	if got := *r.End.CommitLimitBytes; got != 4*gib {
		t.Errorf("CommitLimit = %s, want 4GiB", bytesize.Format(got))
	}
	if len(events(r, EvOOMKill)) != 0 || len(events(r, EvENOMEM)) != 1 {
		t.Error("want one ENOMEM and no OOM kill")
	}
	leak := endProc(t, r, 2000)
	between(t, "allocated", leak.AllocatedBytes, 3700*mib, 4*gib)
	if free := *r.End.MemoryBytes - *r.End.MemoryUsedBytes; free < 7*gib {
		t.Errorf("free RAM = %s, want most of the 12 GiB unused", bytesize.Format(free))
	}
}

// fork: Cannot allocate memory once Committed_AS is above CommitLimit.
func TestForkFails(t *testing.T) {
	r := run(t, "fork-fails", "")
	ff := events(r, EvForkFailed)
	if len(ff) != 1 || ff[0].PID != 1500 || ff[0].Errno != "ENOMEM" {
		t.Fatalf("fork_failed = %+v, want bash's fork", ff)
	}
	if *ff[0].CommittedASBytes <= *ff[0].CommitLimitBytes {
		t.Errorf("Committed_AS %s should be above CommitLimit %s", bytesize.Format(*ff[0].CommittedASBytes), bytesize.Format(*ff[0].CommitLimitBytes))
	}
	if len(events(r, EvOOMKill)) != 0 || len(events(r, EvFork)) != 0 {
		t.Error("no OOM kill and no successful fork expected")
	}
	if free := *r.End.MemoryBytes - *r.End.MemoryUsedBytes; free < 2*gib {
		t.Errorf("free RAM = %s: the point is that memory is still free", bytesize.Format(free))
	}
	// The same fork in mode 0 succeeds.
	s, _ := Builtin("fork-fails")
	s.Processes[0].Actions[1].Sysctl = map[string]int64{"vm.overcommit_memory": 0}
	r2, err := Run(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events(r2, EvFork)) != 1 || len(events(r2, EvForkFailed)) != 0 {
		t.Error("in mode 0 the fork should succeed")
	}
}

// Scenario #1: the container's 1 GiB limit → memcg OOM kill of the tool.
func TestScenario1ContainerLimit(t *testing.T) {
	r := run(t, "scenario1", "")
	kills := events(r, EvOOMKill)
	if len(kills) != 1 || kills[0].PID != 15976 || kills[0].Constraint != "CONSTRAINT_MEMCG" {
		t.Fatalf("kills = %+v, want dotnet 15976 by a memcg OOM", kills)
	}
	rep := r.Reports[0]
	if *rep.Memcg.LimitKB != 1048576 || *rep.Memcg.UsageKB != 1048576 {
		t.Errorf("memcg usage/limit = %d/%d kB, want 1048576/1048576", *rep.Memcg.UsageKB, *rep.Memcg.LimitKB)
	}
	if got := endProc(t, r, 15976); got.StopReason != StopOOMKill {
		t.Errorf("stop = %s, want oom_kill", got.StopReason)
	}
}

// The twists: the same pod, different victims by kernel version.
func TestTwists(t *testing.T) {
	tests := []struct {
		scenario, kernel string
		wantPID          int
		wantTie          bool
	}{
		{"twist1", "5.4.0-1059-azure", 14300, true}, // every score clamps to 1: last scanned
		{"twist1", "6.1.0", 15976, false},           // signed scores: the biggest
		{"twist1", "5.4.144", 15976, false},         // the 9066e5cfb73c backport
		{"twist1", "4.19.72", 0, true},              // first scanned: the pause process
		{"twist2", "5.4.0-1059-azure", 31082, true},
		{"twist2", "6.1.0", 30548, false},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+"@"+tt.kernel, func(t *testing.T) {
			r := run(t, tt.scenario, tt.kernel)
			kills := events(r, EvOOMKill)
			if len(kills) == 0 {
				t.Fatal("no OOM kill")
			}
			k := kills[0]
			want := tt.wantPID
			if want == 0 {
				want = r.End.Processes[0].PID // the pod's sandbox
				if r.End.Processes[0].Process != "pause" {
					t.Fatalf("first process is %s, want pause", r.End.Processes[0].Process)
				}
			}
			if k.PID != want || *k.Tie != tt.wantTie {
				t.Errorf("first victim %s %d (tie %v), want %d (tie %v)", k.Process, k.PID, *k.Tie, want, tt.wantTie)
			}
			if k.OOMMemcg == "" || k.OOMMemcg == k.Cgroup {
				t.Errorf("oom_memcg = %q: the pod cgroup, not the container (%s), should hit its limit", k.OOMMemcg, k.Cgroup)
			}
			if *k.TotalPages != 262144 {
				t.Errorf("totalpages = %d, want 262144", *k.TotalPages)
			}
		})
	}
}

// Figure 5: .NET stops at 75% of the 2 GiB container limit.
func TestDotnetLimit(t *testing.T) {
	r := run(t, "dotnet-limit", "")
	ro := events(r, EvRuntimeOOM)
	if len(ro) != 1 || *ro[0].HeapCeilingBytes != 1536*mib {
		t.Fatalf("runtime_oom = %+v, want one at a 1.5GiB ceiling", ro)
	}
	p := endProc(t, r, 4100)
	if p.StopReason != StopRuntimeOOM {
		t.Errorf("stop = %s, want runtime_oom", p.StopReason)
	}
	between(t, "allocated", p.AllocatedBytes, 1436*mib, 1536*mib)
	if len(events(r, EvOOMKill)) != 0 {
		t.Error("the kernel never sees pressure: nothing is touched")
	}
}

// Figure 6: no container limit → no heap limit → 30+ GiB allocated.
func TestDotnetNoLimit(t *testing.T) {
	r := run(t, "dotnet-nolimit", "")
	p := endProc(t, r, 4100)
	if p.AllocatedBytes < 30*gib || p.StopReason != StopRunning || p.HeapCeilingBytes != nil {
		t.Errorf("allocated %s, stop %s, ceiling %v; want > 30GiB, running, none", bytesize.Format(p.AllocatedBytes), p.StopReason, p.HeapCeilingBytes)
	}
}

// Eviction: BestEffort first, then Burstable over its request; never the
// Guaranteed pod.
func TestEvictionOrder(t *testing.T) {
	r := run(t, "eviction-order", "")
	var got []string
	for _, e := range events(r, EvEvict) {
		got = append(got, e.Pod+"/"+e.QOSClass)
		if *e.MemoryAvailableBytes >= *e.ThresholdBytes {
			t.Errorf("evicted %s with %s available, threshold %s", e.Pod, bytesize.Format(*e.MemoryAvailableBytes), bytesize.Format(*e.ThresholdBytes))
		}
	}
	if diff := cmp.Diff([]string{"batch/BestEffort", "api/Burstable"}, got); diff != "" {
		t.Errorf("evictions (-want +got):\n%s", diff)
	}
	if db := endProc(t, r, 3100); db.StopReason != StopMax {
		t.Errorf("postgres stop = %s, want max (never evicted)", db.StopReason)
	}
	if len(events(r, EvOOMKill)) != 0 {
		t.Error("the kubelet should act before the kernel")
	}
}
