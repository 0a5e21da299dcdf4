package metrics

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/oomkit/oomkit/internal/agent/api"
)

func TestLint(t *testing.T) {
	eta := 30.0
	m := New("test", func() []api.Headroom {
		return []api.Headroom{{Cgroup: "/a", WorkingSetBytes: 1, LimitBytes: 2, OOMETASeconds: &eta}}
	}, time.Hour)
	m.Kill(&api.Kill{Kills: 2, Victim: api.VictimChild, Report: api.ReportMissing}, time.Now())
	m.Kubernetes(func() EventStats { return EventStats{Kills: 5, DroppedKills: 1, PendingKills: 2} })
	m.RequestCounted("POST", "events")
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, m)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.ToFloat64(m.kills.WithLabelValues("unknown", "", "", "", "child")); n != 2 {
		t.Errorf("kills = %v", n)
	}
	if n := testutil.ToFloat64(m.missing); n != 2 {
		t.Errorf("missing = %v", n)
	}
}

// TestKillSeriesBounded: pod series beyond the limit lose their pod
// labels, and a pod's series goes once its last kill is older than the
// retention.
func TestKillSeriesBounded(t *testing.T) {
	m := New("test", func() []api.Headroom { return nil }, time.Hour)
	now := time.Now()
	for i := 0; i < MaxKillSeries+5; i++ {
		ns, pod := "ns", "pod-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i)
		m.Kill(&api.Kill{Kills: 1, Victim: api.VictimMain, Kubernetes: &api.Kubernetes{Namespace: &ns, Pod: &pod}}, now)
	}
	if n := testutil.ToFloat64(m.overflow); n != 5 {
		t.Errorf("overflow = %v, want 5", n)
	}
	if n := testutil.CollectAndCount(m.kills); n > MaxKillSeries+15 {
		t.Errorf("%d kill series", n)
	}
	ns, pod := "ns", "late"
	m.Kill(&api.Kill{Kills: 1, Victim: api.VictimMain, Kubernetes: &api.Kubernetes{Namespace: &ns, Pod: &pod}}, now.Add(2*time.Hour))
	if n := testutil.CollectAndCount(m.kills); n != 15+1 {
		t.Errorf("%d kill series after the retention, want the 15 node ones and the new pod's", n)
	}
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}

func mustGather(t *testing.T, m *Metrics) []*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// TestDocumented: every metric the agent serves, with Kubernetes on, is in
// docs/metrics.md's tables, and the tables name no metric it does not serve.
func TestDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(l, "| `oomkit_"); ok {
			documented["oomkit_"+name[:strings.Index(name, "`")]] = true
		}
	}
	eta := 30.0
	m := New("test", func() []api.Headroom {
		return []api.Headroom{{Cgroup: "/a", WorkingSetBytes: 1, LimitBytes: 2, OOMETASeconds: &eta}}
	}, time.Hour)
	m.Kill(&api.Kill{Kills: 1, Victim: api.VictimMain, Report: api.ReportMissing}, time.Now())
	m.Kubernetes(func() EventStats { return EventStats{} })
	m.RequestCounted("POST", "events")
	served := map[string]bool{}
	for _, f := range mustGather(t, m) {
		name := f.GetName()
		if !strings.HasPrefix(name, "oomkit_") {
			continue
		}
		served[name] = true
		if !documented[name] {
			t.Errorf("%s is served but not in docs/metrics.md", name)
		}
	}
	for name := range documented {
		if !served[name] {
			t.Errorf("docs/metrics.md documents %s, which the agent does not serve", name)
		}
	}
}
