package agent

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/watch"
)

// droppingSource is /dev/kmsg with a switch that throws records away, as
// the ring does when it overruns a slow reader: the sequence numbers jump.
type droppingSource struct {
	*kmsg.Reader
	drop    atomic.Bool
	dropped atomic.Int64
}

func (d *droppingSource) Next(ctx context.Context) (kmsg.Record, error) {
	for {
		r, err := d.Reader.Next(ctx)
		if err != nil || !d.drop.Load() {
			return r, err
		}
		d.dropped.Add(1)
	}
}

// TestInjectedOverrun loses the kernel log records of a real kill: the
// kill is still counted once, from its memcg's counter, with report
// "missing", and the overrun is counted.
func TestInjectedOverrun(t *testing.T) {
	kerneltest.Require(t)
	kerneltest.SerializeOOM(t)
	var src *droppingSource
	ready := make(chan struct{})
	ta := startAgent(t, Config{SampleInterval: 100 * time.Millisecond, ReportGrace: time.Second,
		OpenRecords: func(path string) (watch.Source, error) {
			r, err := kmsg.Open(path, true)
			if err != nil {
				return nil, err
			}
			src = &droppingSource{Reader: r}
			close(ready)
			return src, nil
		}})
	<-ready
	waitBaseline(t, ta.logs)
	lost := kerneltest.NewMemcg(t, 32<<20)
	seen := kerneltest.NewMemcg(t, 32<<20)
	waitSampled(t, ta.url, lost.Path)
	waitSampled(t, ta.url, seen.Path)

	src.drop.Store(true)
	cmd, _ := startHog(t, lost, "128")
	_ = cmd.Wait()
	waitFor(t, "the kernel to count the kill", 30*time.Second, func() bool { return oomKills(t, lost) == 1 })
	waitFor(t, "records to be dropped", 30*time.Second, func() bool { return src.dropped.Load() > 0 })
	src.drop.Store(false)
	// A kill the agent does read: its records come after the gap.
	cmd, victim := startHog(t, seen, "128")
	_ = cmd.Wait()

	var k []api.Kill
	waitFor(t, "both kills in the API", 30*time.Second, func() bool {
		all := ta.kills(t, "")
		k = append(inCgroup(all, lost.Path), inCgroup(all, seen.Path)...)
		return len(k) == 2
	})
	m, s := k[0], k[1]
	if m.Report != api.ReportMissing || !slices.Equal(m.SeenBy, []string{api.SeenCounter}) || len(m.Victims) != 0 || m.Kills != 1 {
		t.Errorf("the lost kill: report %q seen by %v victims %v kills %d", m.Report, m.SeenBy, m.Victims, m.Kills)
	}
	if s.Report == api.ReportMissing || len(s.Victims) != 1 || s.Victims[0].PID != victim {
		t.Errorf("the kill read after the gap: report %q victims %+v, want pid %d", s.Report, s.Victims, victim)
	}
	if n := metricSum(t, ta.url, "oomkit_kmsg_overruns_total", nil); n < 1 {
		t.Errorf("oomkit_kmsg_overruns_total = %v", n)
	}
	if n := metricSum(t, ta.url, "oomkit_kmsg_records_lost_total", nil); n < float64(src.dropped.Load()) {
		t.Errorf("oomkit_kmsg_records_lost_total = %v, %d dropped", n, src.dropped.Load())
	}
	if n := metricSum(t, ta.url, "oomkit_oom_reports_missing_total", nil); n < 1 {
		t.Errorf("oomkit_oom_reports_missing_total = %v", n)
	}
}
