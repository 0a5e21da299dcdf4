package mm

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestChooseMatchesSelect: Choose picks what Select picks, with the same
// tie count, on the article's twist and on random tables.
func TestChooseMatchesSelect(t *testing.T) {
	tables := [][]Task{twist1, nil, {{PID: 1, OOMScoreAdj: -1000, RSSPages: 9}}}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		var tab []Task
		for i := 0; i < 1+rng.IntN(12); i++ {
			tab = append(tab, Task{PID: 100 + i, RSSPages: int64(rng.IntN(4)) * 1000, OOMScoreAdj: []int{-1000, -998, -997, 0, 500, 1000}[rng.IntN(6)]})
		}
		tables = append(tables, tab)
	}
	for i, tab := range tables {
		for _, r := range AllRules {
			for _, total := range []int64{262144, 999, 4194304} {
				sel := Select(r, tab, total)
				c := Choose(r, tab, total)
				want := Choice{Index: sel.Chosen, TiedWith: sel.TiedWith}
				if sel.Chosen >= 0 {
					want.Points = sel.Ranking[0].Points
				}
				if diff := cmp.Diff(want, c); diff != "" {
					t.Fatalf("table %d, %v, totalpages %d (-Select +Choose):\n%s", i, r, total, diff)
				}
			}
		}
	}
}

// TestScratchSelectMatchesSelect: a Scratch reused over tables of
// growing and shrinking sizes gives what a fresh Select gives, and Clear
// leaves no name behind.
func TestScratchSelectMatchesSelect(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s Scratch
	for n := 0; n < 300; n++ {
		var tab []Task
		for i := 0; i < rng.IntN(40); i++ {
			tab = append(tab, Task{PID: 100 + i, Name: "t", RSSPages: int64(rng.IntN(4)) * 1000, OOMScoreAdj: []int{-1000, -998, -997, 0, 500, 1000}[rng.IntN(6)], Unkillable: rng.IntN(9) == 0})
		}
		r := AllRules[rng.IntN(len(AllRules))]
		want := Select(r, tab, 262144)
		got := s.Select(r, tab, 262144)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("table %d (%d tasks), %v (-Select +Scratch.Select):\n%s", n, len(tab), r, diff)
		}
		s.Clear()
		for i, rk := range s.ranking[:cap(s.ranking)] {
			if rk.Name != "" {
				t.Fatalf("table %d: ranking[%d] still names %q after Clear", n, i, rk.Name)
			}
		}
	}
}

func benchmarkChoose(b *testing.B, n int) {
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{PID: i + 1, RSSPages: int64(i % 977 * 100), PgtablePages: 3, OOMScoreAdj: -997}
	}
	for b.Loop() {
		Choose(RulesSigned, tasks, 262144)
	}
}

func BenchmarkChoose1k(b *testing.B)   { benchmarkChoose(b, 1_000) }
func BenchmarkChoose10k(b *testing.B)  { benchmarkChoose(b, 10_000) }
func BenchmarkChoose100k(b *testing.B) { benchmarkChoose(b, 100_000) }
