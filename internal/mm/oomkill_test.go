package mm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The article's first twist (corpus article-twist-1.log): a Guaranteed pod,
// 1 GiB memcg limit, no swap: totalpages 262144 (spec/kernel.md §5).
var twist1 = []Task{
	{PID: 15885, Name: "pause", RSSPages: 1, PgtablePages: 28672 / PageSize, OOMScoreAdj: -998},
	{PID: 15976, Name: "dotnet", RSSPages: 229846, PgtablePages: 2060288 / PageSize, OOMScoreAdj: -997},
	{PID: 16234, Name: "bash", RSSPages: 817, PgtablePages: 49152 / PageSize, OOMScoreAdj: -997},
	{PID: 14300, Name: "dotnet", RSSPages: 43356, PgtablePages: 581632 / PageSize, OOMScoreAdj: -997},
}

func TestSelectArticleTwist(t *testing.T) {
	tests := []struct {
		kernel   string
		wantPID  int
		wantTie  bool
		wantTied int
	}{
		{"5.4.0-1059-azure", 14300, true, 4}, // every score clamps to 1; last scanned wins
		{"5.4.143", 14300, true, 4},
		{"5.4.144", 15976, false, 1}, // signed: the biggest task
		{"6.1.0", 15976, false, 1},
		{"4.19.72", 15885, true, 4}, // first scanned leader keeps the slot
		{"4.18.0-240.el8.x86_64", 14300, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.kernel, func(t *testing.T) {
			v, err := ParseVersion(tt.kernel)
			if err != nil {
				t.Fatal(err)
			}
			sel := Select(RulesFor(v), twist1, 262144)
			if got := twist1[sel.Chosen].PID; got != tt.wantPID {
				t.Errorf("chosen pid = %d, want %d", got, tt.wantPID)
			}
			if sel.Tie != tt.wantTie || sel.TiedWith != tt.wantTied {
				t.Errorf("tie = %v/%d, want %v/%d", sel.Tie, sel.TiedWith, tt.wantTie, tt.wantTied)
			}
			if sel.Ranking[0].PID != tt.wantPID || sel.Ranking[0].Rank != 1 {
				t.Errorf("ranking[0] = %+v, want pid %d rank 1", sel.Ranking[0], tt.wantPID)
			}
		})
	}
}

func TestBadnessSpecExample(t *testing.T) {
	// spec/kernel.md §5 arithmetic, page tables ignored there.
	a := Task{RSSPages: 229846, OOMScoreAdj: -997}
	b := Task{RSSPages: 43356, OOMScoreAdj: -997}
	for _, tt := range []struct {
		r          Rules
		task       Task
		totalpages int64
		want       int64
	}{
		{RulesSigned, a, 262144, -31368},
		{RulesSigned, b, 262144, -217858},
		{RulesClamp, a, 262144, 1},
		{RulesLeader, b, 262144, 1},
	} {
		got, ok := Badness(tt.r, tt.task, tt.totalpages)
		if !ok || got != tt.want {
			t.Errorf("Badness(%v, %+v) = %d,%v want %d", tt.r, tt.task, got, ok, tt.want)
		}
	}
	if _, ok := Badness(RulesSigned, Task{RSSPages: 1e6, OOMScoreAdj: -1000}, 262144); ok {
		t.Error("adj -1000 must be ineligible")
	}
}

func TestOOMScoreSpecExample(t *testing.T) {
	// 16 GiB no-swap node: global totalpages 4194304 (spec/kernel.md §5).
	const total = 4194304
	for _, tt := range []struct {
		task Task
		r    Rules
		want int64
	}{
		{Task{RSSPages: 229846, OOMScoreAdj: -997}, RulesSigned, 38},
		{Task{RSSPages: 43356, OOMScoreAdj: -997}, RulesSigned, 9},
		{Task{RSSPages: 229846, OOMScoreAdj: -997}, RulesClamp, 0},
		{Task{RSSPages: 10}, RulesSigned, 666}, // the new-code baseline
		{Task{RSSPages: 10}, RulesClamp, 0},
	} {
		p, ok := Badness(tt.r, tt.task, total)
		if got := OOMScore(tt.r, p, ok, total); got != tt.want {
			t.Errorf("OOMScore(%+v, %v) = %d, want %d", tt.task, tt.r, got, tt.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want [3]int
		err  bool
	}{
		{"5.4.0-1059-azure", [3]int{5, 4, 0}, false},
		{"3.10.0-514.6.1.el7.x86_64", [3]int{3, 10, 0}, false},
		{"6.18.44-fc-v669", [3]int{6, 18, 44}, false},
		{"6.1", [3]int{6, 1, 0}, false},
		{"2.6.32-431.el6.x86_64", [3]int{2, 6, 32}, false},
		{"", [3]int{}, true},
		{"linux", [3]int{}, true},
		{"5", [3]int{}, true},
	} {
		v, err := ParseVersion(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseVersion(%q) err = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, [3]int{v.Major, v.Minor, v.Patch}); !tt.err && diff != "" {
			t.Errorf("ParseVersion(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestCommitLimit(t *testing.T) {
	// The article's 12 GiB VM with 4 GiB swap, ratio 50: ≈ 10 GiB.
	ram := int64(12<<30) / PageSize
	swap := int64(4<<30) / PageSize
	got := CommitLimitPages(ram, 0, swap, Overcommit{Mode: 2, Ratio: 50}) * PageSize
	if want := int64(10 << 30); got != want {
		t.Errorf("CommitLimit = %d, want %d", got, want)
	}
	// overcommit_kbytes replaces the ratio and skips the hugetlb subtraction.
	if got := CommitLimitPages(ram, 1000, 0, Overcommit{Ratio: 50, KBytes: 4096}); got != 1024 {
		t.Errorf("kbytes CommitLimit = %d pages, want 1024", got)
	}
	if got := MemcgTotalPages(Version{Major: 6, Minor: 1}, false, 262144, -1, 0, 60); got != 262144 {
		t.Errorf("no-swap memcg totalpages = %d, want the limit 262144", got)
	}
}

func TestRSSCounterLag(t *testing.T) {
	for _, tc := range []struct {
		kernel string
		cpus   int
		want   int64
	}{
		{"6.1.0-56-cloud-amd64", 64, 0}, // per-task caches, read alike by status and the OOM killer
		{"5.4.0-1059-azure", 8, 0},
		{"6.2.0", 1, 3 * 32},
		{"6.12.117+deb12-cloud-amd64", 2, 3 * 2 * 32},
		{"6.18.44", 64, 3 * 64 * 128}, // batch 2 × CPUs above 16 CPUs
	} {
		v, err := ParseVersion(tc.kernel)
		if err != nil {
			t.Fatal(err)
		}
		if got := RSSCounterLagPages(v, tc.cpus); got != tc.want {
			t.Errorf("%s, %d CPUs: %d pages, want %d", tc.kernel, tc.cpus, got, tc.want)
		}
	}
}

// TestOOMScoreLagCoversTheLag checks the bound against the formula itself:
// moving a task's points by up to lag pages either way never moves
// OOMScore by more than OOMScoreLag, and the bound is tight enough to mean
// something.
func TestOOMScoreLagCoversTheLag(t *testing.T) {
	for _, r := range []Rules{RulesSigned, RulesClamp} {
		for _, total := range []int64{119009, 2_000_000, 6171021} {
			lag := int64(96)
			bound := OOMScoreLag(r, lag, total)
			if bound > 3 {
				t.Errorf("%v, totalpages %d: bound %d points for %d pages is too loose", r, total, bound, lag)
			}
			for points := -total; points <= total; points += total / 997 {
				for d := int64(0); d <= lag; d += 7 {
					if r != RulesSigned && points-d < 1 {
						continue // ≤ 5.8 clamps at 1 before scaling
					}
					// points−d and points+d are the kernel reading below and above.
					mid := OOMScore(r, points, true, total)
					lo, hi := OOMScore(r, points-d, true, total), OOMScore(r, points+d, true, total)
					if mid-lo > bound || hi-mid > bound || lo > mid || mid > hi {
						t.Fatalf("%v, totalpages %d: points %d±%d gives oom_score %d, %d, %d; bound %d", r, total, points, d, lo, mid, hi, bound)
					}
				}
			}
		}
	}
	if OOMScoreLag(RulesSigned, 0, 119009) != 0 {
		t.Error("no lag must give no slack")
	}
}

// TestRawPointsBeforeTheClamp: the article's twist under the 5.4.0 rules
// ranks every task at 1 point; RawPoints keeps the signed sum the clamp
// replaced. Worked by hand from the report's rows: dotnet 14300 has 43356
// resident pages + 581632/4096 = 142 page-table pages, and adj −997 takes
// 997 × (262144/1000 = 262) = 261214 pages: 43498 − 261214 = −217716.
func TestRawPointsBeforeTheClamp(t *testing.T) {
	sel := Select(RulesClamp, twist1, 262144)
	want := map[int]int64{14300: -217716, 15976: 229846 + 503 - 261214, 16234: 817 + 12 - 261214, 15885: 1 + 7 - 998*262}
	for _, rk := range sel.Ranking {
		if rk.Points != 1 || rk.RawPoints != want[rk.PID] {
			t.Errorf("pid %d: points %d raw %d, want 1 and %d", rk.PID, rk.Points, rk.RawPoints, want[rk.PID])
		}
	}
	if p, ok := Badness(RulesClamp, Task{OOMScoreAdj: OOMScoreAdjMin}, 262144); ok || p != 0 {
		t.Errorf("adj -1000: Badness = %d, %v; want 0, ineligible (the clamp does not apply)", p, ok)
	}
}
