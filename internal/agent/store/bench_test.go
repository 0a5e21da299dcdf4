package store

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// stormKill is a kill as a storm leaves them: a counter's kill with three
// minutes of memory history at one sample a second.
func stormKill(id string, at time.Time) *api.Kill {
	k := kill(id, at, "")
	lim := int64(8 << 20)
	h := &api.History{Cgroup: "/oomkit-test-5bec5382cac3", IntervalSeconds: 1}
	for i := 0; i < 180; i++ {
		h.Samples = append(h.Samples, api.Sample{At: at.Add(time.Duration(i-180) * time.Second), UsageBytes: 7 << 20, WorkingSetBytes: 6 << 20, LimitBytes: &lim})
	}
	k.History = h
	k.Analysis.Summary = "The kernel killed a process in memory cgroup /oomkit-test-5bec5382cac3 (its oom_kill counter reached 351), but no kernel log record of the kill was read."
	return k
}

// BenchmarkCommit writes 100 storm kills in one transaction, new (put)
// or replacing themselves (replace, as a report arriving after its
// counter does): what the agent's writer does in a storm and at exit.
func BenchmarkCommit(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, replace := range []bool{false, true} {
		name := "put"
		if replace {
			name = "replace"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(b.TempDir(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			n := 0
			for b.Loop() {
				var batch Batch
				for i := 0; i < 100; i++ {
					id := i
					if !replace {
						id, n = n, n+1
					}
					batch.Put = append(batch.Put, stormKill(fmt.Sprintf("boot-c%d", id), t0.Add(time.Duration(id)*time.Millisecond)))
				}
				if err := s.Commit(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100/1e3, "µs/kill")
		})
	}
}
