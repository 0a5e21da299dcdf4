package mm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChargedAtMmap(t *testing.T) {
	// spec/kernel.md §1.3 table: which mappings are charged, by mode.
	tests := []struct {
		m    Mapping
		mode int
		want bool
	}{
		{MapPrivate, 0, true},
		{MapPrivate, 1, true},
		{MapPrivate, 2, true},
		{MapShared, 1, true},
		{MapNoReserve, 0, false},
		{MapNoReserve, 1, false},
		{MapNoReserve, 2, true}, // mode 2 ignores MAP_NORESERVE
		{MapTmpfs, 2, false},    // charged per page instead
	}
	for _, tt := range tests {
		t.Run(tt.m.String(), func(t *testing.T) {
			if got := ChargedAtMmap(tt.m, tt.mode); got != tt.want {
				t.Errorf("ChargedAtMmap(%v, %d) = %v, want %v", tt.m, tt.mode, got, tt.want)
			}
		})
	}
	if !ChargedPerPage(MapTmpfs) || ChargedPerPage(MapPrivate) {
		t.Error("only tmpfs is charged per page")
	}
	for _, tt := range []struct {
		m       Mapping
		charged bool
		want    bool
	}{{MapPrivate, true, true}, {MapShared, true, false}, {MapNoReserve, false, false}, {MapNoReserve, true, true}, {MapTmpfs, false, false}} {
		if got := RechargedOnFork(tt.m, tt.charged); got != tt.want {
			t.Errorf("RechargedOnFork(%v, %v) = %v, want %v", tt.m, tt.charged, got, tt.want)
		}
	}
}

func TestEnoughMemory(t *testing.T) {
	const gib = (1 << 30) / PageSize
	v54, _ := ParseVersion("5.4.0")
	v419, _ := ParseVersion("4.19.72")
	// The article's VM: 12 GiB RAM, 4 GiB swap; 128 MiB user reserve.
	base := CommitState{TotalRAMPages: 12 * gib, TotalSwapPages: 4 * gib, Reserves: Reserves{AdminKB: 8 << 10, UserKB: 128 << 10}}
	with := func(committed int64) CommitState { s := base; s.CommittedPages = committed; return s }
	admin := Caller{CapSysAdmin: true, TotalVMPages: 6 * gib}
	tests := []struct {
		name  string
		v     Version
		oc    Overcommit
		s     CommitState
		pages int64
		c     Caller
		want  bool
	}{
		{"mode 1 allows 1 TiB", v54, Overcommit{Mode: 1}, base, 1024 * gib, admin, true},
		{"mode 0 5.2+ allows RAM+swap", v54, Overcommit{Mode: 0}, base, 16 * gib, admin, true},
		{"mode 0 5.2+ refuses one page more", v54, Overcommit{Mode: 0}, base, 16*gib + 1, admin, false},
		{"mode 0 5.2+ ignores Committed_AS", v54, Overcommit{Mode: 0}, with(100 * gib), gib, admin, true},
		{"mode 2 under limit", v54, Overcommit{Mode: 2, Ratio: 50}, with(4 * gib), 5 * gib, admin, true},
		// 10 GiB limit − 128 MiB user reserve (total_vm/32 = 192 MiB, capped).
		{"mode 2 at limit minus user reserve", v54, Overcommit{Mode: 2, Ratio: 50}, with(4 * gib), 6*gib - 32768, admin, false},
		{"mode 2 just under", v54, Overcommit{Mode: 2, Ratio: 50}, with(4 * gib), 6*gib - 32769, admin, true},
		{"mode 2 non-admin loses admin reserve", v54, Overcommit{Mode: 2, Ratio: 50}, with(4 * gib), 6*gib - 32769, Caller{TotalVMPages: 6 * gib}, false},
		{"mode 2 ratio 200", v54, Overcommit{Mode: 2, Ratio: 200}, with(4 * gib), 23 * gib, admin, true},
		{"mode 0 ≤5.1 estimate", v419, Overcommit{Mode: 0}, CommitState{Guess: GuessFree{FreePages: 100, FreeSwapPages: 50}}, 149, admin, true},
		{"mode 0 ≤5.1 estimate short", v419, Overcommit{Mode: 0}, CommitState{Guess: GuessFree{FreePages: 100, FreeSwapPages: 50}}, 150, admin, false},
		{"mode 0 ≤5.1 under totalreserve", v419, Overcommit{Mode: 0}, CommitState{Guess: GuessFree{FreePages: 100, TotalReservePages: 100}}, 1, admin, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EnoughMemory(tt.v, tt.oc, tt.s, tt.pages, tt.c); got != tt.want {
				t.Errorf("EnoughMemory = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultReserves(t *testing.T) {
	if diff := cmp.Diff(Reserves{AdminKB: 8192, UserKB: 131072}, DefaultReserves(12<<20)); diff != "" {
		t.Errorf("12 GiB free (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Reserves{AdminKB: 1024, UserKB: 1024}, DefaultReserves(32768)); diff != "" {
		t.Errorf("32 MiB free (-want +got):\n%s", diff)
	}
}

func TestDupMmapCharge(t *testing.T) {
	tests := []struct {
		name        string
		vmas        []int64
		room        int64
		wantCharged int64
		wantOK      bool
	}{
		{"all fit", []int64{10, 20, 0, 5}, 100, 35, true},
		{"second refused", []int64{10, 200, 5}, 100, 10, false},
		{"nothing accounted", nil, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := int64(0)
			charged, ok := DupMmapCharge(tt.vmas, func(p int64) bool {
				if used+p > tt.room {
					return false
				}
				used += p
				return true
			})
			if charged != tt.wantCharged || ok != tt.wantOK {
				t.Errorf("DupMmapCharge = %d,%v want %d,%v", charged, ok, tt.wantCharged, tt.wantOK)
			}
		})
	}
}

func TestOOMPolicy(t *testing.T) {
	v50, _ := ParseVersion("5.0.1")
	v51, _ := ParseVersion("5.1.0")
	v54, _ := ParseVersion("5.4.0")
	v514, _ := ParseVersion("4.14.5")
	v61, _ := ParseVersion("6.1.0")
	for _, tt := range []struct {
		value int
		memcg bool
		want  bool
	}{{0, false, false}, {1, false, true}, {1, true, false}, {2, true, true}, {2, false, true}} {
		if got := PanicsOnOOM(tt.value, tt.memcg); got != tt.want {
			t.Errorf("PanicsOnOOM(%d, memcg %v) = %v", tt.value, tt.memcg, got)
		}
	}
	if !KillsAllocatingTask(true, false, Task{}) || KillsAllocatingTask(true, true, Task{}) ||
		KillsAllocatingTask(true, false, Task{OOMScoreAdj: -1000}) || KillsAllocatingTask(false, false, Task{}) {
		t.Error("oom_kill_allocating_task: only non-memcg OOMs, never adj -1000")
	}
	if !SacrificesChild(v50) || SacrificesChild(v51) {
		t.Error("sacrifice child is ≤5.0 only")
	}
	kids := []Task{{PID: 2, RSSPages: 10}, {PID: 3, RSSPages: 30}, {PID: 4, RSSPages: 30}}
	if got := PickChild(RulesLeader, kids, 1000); got != 1 {
		t.Errorf("PickChild = %d, want 1 (the first of the tied largest)", got)
	}
	if got := PickChild(RulesLeader, []Task{{OOMScoreAdj: -1000, RSSPages: 5}}, 1000); got != -1 {
		t.Errorf("PickChild of an ineligible child = %d, want -1", got)
	}
	if GroupKillSupported(v514, true) || !GroupKillSupported(v54, true) || GroupKillSupported(v61, false) {
		t.Error("memory.oom.group: v2 and 4.19+ only")
	}
	for _, tt := range []struct {
		chain []bool
		want  int
	}{{[]bool{false, false}, -1}, {[]bool{true, false}, 0}, {[]bool{true, false, true}, 2}} {
		if got := GroupKillRoot(tt.chain); got != tt.want {
			t.Errorf("GroupKillRoot(%v) = %d, want %d", tt.chain, got, tt.want)
		}
	}
	if !NoVictimForceCharges(v54) || NoVictimForceCharges(v61) {
		t.Error("5.4 forces the charge, 6.x fails it")
	}
	if NoKillablePanic(v514) != "Out of memory and no killable processes..." || NoKillablePanic(v54) != "System is deadlocked on memory" {
		t.Error("no-killable panic text by version")
	}
}
