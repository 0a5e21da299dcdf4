package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/mm"
)

// bigScenario is nProcs processes in nCgroups memcgs limited to 490 MiB
// each, each allocating allocs blocks of 1 MiB, half written: nProcs ×
// allocs actions. With 10 processes × 100 blocks per cgroup every cgroup
// ends in a memcg OOM kill near the end.
func bigScenario(nProcs, nCgroups, allocs int) *Scenario {
	v, _ := mm.ParseVersion("6.1.0")
	s := &Scenario{Name: "bench", Kernel: v, Duration: time.Hour,
		Node:   Node{MemoryBytes: 1 << 40, SwapBytes: 0, CgroupV2: true},
		Sysctl: Sysctl{OvercommitMemory: 1, OvercommitRatio: 50, AdminReserveKB: -1, UserReserveKB: -1}}
	s.Cgroups = append(s.Cgroups, Cgroup{Path: "/bench", MemoryMaxBytes: Unlimited, SwapMaxBytes: Unlimited})
	for c := 0; c < nCgroups; c++ {
		s.Cgroups = append(s.Cgroups, Cgroup{Path: fmt.Sprintf("/bench/g%d", c), MemoryMaxBytes: 490 << 20, SwapMaxBytes: Unlimited})
	}
	for p := 0; p < nProcs; p++ {
		adj := p%3*300 - 300
		s.Processes = append(s.Processes, Process{Name: fmt.Sprintf("p%d", p), PID: 1000 + p, Cgroup: fmt.Sprintf("/bench/g%d", p%nCgroups),
			OOMScoreAdj: &adj, Runtime: Runtime{Kind: RuntimeNative}, Start: time.Duration(p%100) * time.Millisecond,
			Actions: []Action{{Kind: ActAlloc, Alloc: &Alloc{BlockBytes: 1 << 20, TouchPercent: 50, Every: time.Second, Repeat: allocs, Mapping: mm.MapPrivate}}}})
	}
	return s
}

// BenchmarkRun10kProcs1kCgroups1MActions is the speed target:
// 10,000 processes in 1,000 cgroups with 1,000,000 actions under 5 s.
func BenchmarkRun10kProcs1kCgroups1MActions(b *testing.B) {
	s := bigScenario(10_000, 1_000, 100)
	var allocs, kills int
	for b.Loop() {
		allocs, kills = 0, 0
		res, err := Run(s, Options{OnEvent: func(ev *Event) {
			switch ev.Event {
			case EvAlloc:
				allocs++
			case EvOOMKill:
				kills++
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		_ = res
	}
	if allocs < 990_000 {
		b.Fatalf("%d allocations ran, want about 1,000,000", allocs)
	}
	b.ReportMetric(float64(allocs), "alloc_actions/op")
	b.ReportMetric(float64(kills), "oom_kills/op")
}

// benchmarkVictimSelection times one global OOM's victim selection
// (scan in for_each_process order, badness of every task, the choice)
// among n tasks.
func benchmarkVictimSelection(b *testing.B, n int) {
	s := bigScenario(n, 10, 0)
	for i := range s.Processes {
		s.Processes[i].Actions = nil
		s.Processes[i].BaseRSSBytes = int64(1+i%97) << 20
		s.Processes[i].Start = 0
	}
	e, err := newEngine(s, Options{OnEvent: func(*Event) {}})
	if err != nil {
		b.Fatal(err)
	}
	e.run()
	total := e.totalPages(nil)
	for b.Loop() {
		if c := e.choose(e.scan(nil), total); c.Index < 0 {
			b.Fatal("no victim")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/task")
}

func BenchmarkVictimSelection1k(b *testing.B)   { benchmarkVictimSelection(b, 1_000) }
func BenchmarkVictimSelection10k(b *testing.B)  { benchmarkVictimSelection(b, 10_000) }
func BenchmarkVictimSelection100k(b *testing.B) { benchmarkVictimSelection(b, 100_000) }

// BenchmarkLoadBuiltins is the loader on every built-in YAML.
func BenchmarkLoadBuiltins(b *testing.B) {
	var files [][]byte
	for _, bi := range Builtins() {
		data, _ := BuiltinYAML(bi.Name)
		files = append(files, data)
	}
	for b.Loop() {
		for _, f := range files {
			if _, err := Load("b.yaml", f); err != nil {
				b.Fatal(err)
			}
		}
	}
}
