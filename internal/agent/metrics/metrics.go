// Package metrics is the agent's Prometheus endpoint and the only import
// of client_golang: kill counters labelled by constraint, Kubernetes owner
// and victim kind, the kernel's own node count, the sources' health, and
// per-cgroup working set, limit and predicted time to OOM (docs/metrics.md).
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// Label bounds. Off Kubernetes the kill counter has at most 5 constraints
// × 3 victim kinds = 15 series. With Kubernetes labels a pod's series is
// dropped once it has had no kill for the retention age, and at most
// MaxKillSeries label sets exist at once; kills beyond are counted with
// empty namespace/pod/container. Per-cgroup gauges cover at most
// MaxCgroupSeries cgroups with a limit of their own, nearest their limit
// first.
const (
	MaxKillSeries   = 2000
	MaxCgroupSeries = 1000
)

// Metrics holds the agent's collectors.
type Metrics struct {
	reg *prometheus.Registry

	kills       *prometheus.CounterVec
	missing     prometheus.Counter
	overruns    prometheus.Counter
	lost        prometheus.Counter
	kernelKills prometheus.Gauge
	sourceUp    *prometheus.GaugeVec
	sourceErrs  *prometheus.CounterVec
	storeKills  prometheus.Gauge
	memcgs      prometheus.Gauge

	// requests counts Kubernetes API requests (Kubernetes), nil without.
	requests *prometheus.CounterVec

	mu         sync.Mutex
	seriesSeen map[[5]string]time.Time
	retain     time.Duration
	overflow   prometheus.Counter
}

// New builds the metrics. headroom is called at each scrape for the
// per-cgroup gauges; retain is how long a pod's kill series outlives its
// last kill.
func New(version string, headroom func() []api.Headroom, retain time.Duration) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), seriesSeen: map[[5]string]time.Time{}, retain: retain}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.kills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oomkit_oom_kills_total",
		Help: "Processes killed by the kernel's OOM killer on this node, as the agent saw them (kernel log and kill counters reconciled; each kill once).",
	}, []string{"constraint", "namespace", "pod", "container", "victim"})
	m.missing = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oomkit_oom_reports_missing_total",
		Help: "OOM kills for which no kernel report was read (rate-limited by the kernel, overwritten in the ring, or the kernel log unreadable).",
	})
	m.overruns = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oomkit_kmsg_overruns_total",
		Help: "Times kernel log records were overwritten before the agent read them (EPIPE on /dev/kmsg, or a gap across a restart).",
	})
	m.lost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oomkit_kmsg_records_lost_total",
		Help: "Kernel log records overwritten before the agent read them.",
	})
	m.kernelKills = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "oomkit_kernel_oom_kills",
		Help: "The kernel's own count of OOM kills on this node since boot (/proc/vmstat oom_kill), for reconciliation.",
	})
	m.sourceUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "oomkit_source_up",
		Help: "1 when the source (kmsg, cgroup_counters, vmstat, store) is read or written without error, else 0.",
	}, []string{"source"})
	m.sourceErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oomkit_source_errors_total",
		Help: "Errors reading a source or writing the store.",
	}, []string{"source"})
	m.storeKills = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "oomkit_store_kills",
		Help: "OOM kills kept in the agent's store.",
	})
	m.memcgs = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "oomkit_memory_cgroups",
		Help: "Memory cgroups the agent samples.",
	})
	m.overflow = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oomkit_kill_series_overflow_total",
		Help: "Kills counted without their Kubernetes labels because the kill series limit was reached.",
	})
	for _, c := range []prometheus.Collector{m.kills, m.missing, m.overruns, m.lost, m.kernelKills, m.sourceUp, m.sourceErrs, m.storeKills, m.memcgs, m.overflow} {
		f(c)
	}
	f(buildInfo(version))
	f(&cgroupCollector{headroom: headroom})
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []string{"kmsg", "cgroup", "cgroup_counters", "vmstat", "store"} {
		m.sourceUp.WithLabelValues(s)
		m.sourceErrs.WithLabelValues(s)
	}
	for _, c := range []string{"memcg", "global", "cpuset", "mempolicy", "unknown"} {
		for _, v := range []string{api.VictimMain, api.VictimChild, api.VictimUnknown} {
			m.kills.WithLabelValues(c, "", "", "", v)
		}
	}
	return m
}

// Registry is the registry behind Handler, for tests that lint it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// Kill counts a kill's processes.
func (m *Metrics) Kill(k *api.Kill, now time.Time) {
	if k.Kills <= 0 {
		return
	}
	ns, pod, ctr := k.Names()
	key := [5]string{k.Constraint(), ns, pod, ctr, k.Victim}
	m.mu.Lock()
	if key[1] != "" || key[2] != "" || key[3] != "" {
		m.expire(now)
		if _, ok := m.seriesSeen[key]; !ok && len(m.seriesSeen) >= MaxKillSeries {
			m.overflow.Add(float64(k.Kills))
			key[1], key[2], key[3] = "", "", ""
		} else {
			m.seriesSeen[key] = now
		}
	}
	m.mu.Unlock()
	m.kills.WithLabelValues(key[:]...).Add(float64(k.Kills))
	if k.Report == api.ReportMissing {
		m.missing.Add(float64(k.Kills))
	}
}

// expire drops pod series whose last kill is older than the retention.
func (m *Metrics) expire(now time.Time) {
	for key, at := range m.seriesSeen {
		if now.Sub(at) > m.retain {
			m.kills.DeleteLabelValues(key[:]...)
			delete(m.seriesSeen, key)
		}
	}
}

// Overrun counts records lost to the ring overwriting them.
func (m *Metrics) Overrun(times, records uint64) {
	m.overruns.Add(float64(times))
	m.lost.Add(float64(records))
}

// KernelKills sets the kernel's node count.
func (m *Metrics) KernelKills(n int64) { m.kernelKills.Set(float64(n)) }

// SourceUp says whether source works now.
func (m *Metrics) SourceUp(source string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.sourceUp.WithLabelValues(source).Set(v)
}

// SourceError counts an error of source.
func (m *Metrics) SourceError(source string) { m.sourceErrs.WithLabelValues(source).Inc() }

// Stored sets how many kills the store keeps.
func (m *Metrics) Stored(n int) { m.storeKills.Set(float64(n)) }

// Memcgs sets how many memory cgroups are sampled.
func (m *Metrics) Memcgs(n int) { m.memcgs.Set(float64(n)) }

// buildInfo is the constant oomkit_build_info gauge.
func buildInfo(version string) prometheus.Collector {
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "oomkit_build_info",
		Help:        "A metric with a constant '1' value labeled by the oomkit version, revision and Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "revision": rev, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// cgroupCollector exports the per-cgroup gauges from the agent's latest
// samples at scrape time.
type cgroupCollector struct {
	headroom func() []api.Headroom
}

var (
	cgLabels = []string{"cgroup", "namespace", "pod", "container"}
	descWS   = prometheus.NewDesc("oomkit_cgroup_memory_working_set_bytes",
		"Working set of a memory cgroup with a limit of its own: usage minus inactive page cache, as the kubelet counts it.", cgLabels, nil)
	descUsage = prometheus.NewDesc("oomkit_cgroup_memory_usage_bytes",
		"Memory usage of a memory cgroup with a limit of its own (memory.current, memory.usage_in_bytes).", cgLabels, nil)
	descLimit = prometheus.NewDesc("oomkit_cgroup_memory_limit_bytes",
		"Memory limit of the cgroup (memory.max, memory.limit_in_bytes).", cgLabels, nil)
	descETA = prometheus.NewDesc("oomkit_cgroup_oom_eta_seconds",
		"Predicted seconds until the working set reaches the limit at its growth over the last minute; absent when not growing or more than an hour away.", cgLabels, nil)
)

func (c *cgroupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWS
	ch <- descUsage
	ch <- descLimit
	ch <- descETA
}

func (c *cgroupCollector) Collect(ch chan<- prometheus.Metric) {
	rows := c.headroom()
	if len(rows) > MaxCgroupSeries {
		rows = rows[:MaxCgroupSeries]
	}
	for _, r := range rows {
		l := []string{r.Cgroup, r.Namespace, r.Pod, r.Container}
		ch <- prometheus.MustNewConstMetric(descWS, prometheus.GaugeValue, float64(r.WorkingSetBytes), l...)
		ch <- prometheus.MustNewConstMetric(descUsage, prometheus.GaugeValue, float64(r.UsageBytes), l...)
		ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(r.LimitBytes), l...)
		if r.OOMETASeconds != nil {
			ch <- prometheus.MustNewConstMetric(descETA, prometheus.GaugeValue, *r.OOMETASeconds, l...)
		}
	}
}

// EventStats are the Kubernetes Event publisher's counts
// (internal/agent/k8s Publisher.Stats), read at each scrape.
type EventStats struct {
	Kills, Duplicates, Folded, Written, AlreadyExisted, Retries, DroppedKills, FailedKills uint64
	PendingEvents, PendingKills                                                            int
}

// Kubernetes adds the metrics of an agent that runs with --node-name: the
// Event publisher's counts (docs/events.md, docs/metrics.md) and its API
// requests, which count calls RequestCounted.
func (m *Metrics) Kubernetes(stats func() EventStats) {
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oomkit_k8s_api_requests_total",
		Help: "Requests the agent made to the Kubernetes API server, by verb (GET, LIST, WATCH, POST, …) and resource.",
	}, []string{"verb", "resource"})
	m.reg.MustRegister(m.requests, &eventCollector{stats: stats})
	m.sourceUp.WithLabelValues("kubernetes")
	m.sourceErrs.WithLabelValues("kubernetes")
}

// RequestCounted counts one API request (a no-op without Kubernetes).
func (m *Metrics) RequestCounted(verb, resource string) {
	if m.requests != nil {
		m.requests.WithLabelValues(verb, resource).Inc()
	}
}

// eventCollector exports EventStats.
type eventCollector struct{ stats func() EventStats }

var (
	descEventKills = prometheus.NewDesc("oomkit_k8s_event_kills_total",
		"Kills handed to the Kubernetes Event publisher.", nil, nil)
	descEventDuplicates = prometheus.NewDesc("oomkit_k8s_event_kills_duplicate_total",
		"Kills not written again because their Event was written or waiting already (a replay, a restart, two sources).", nil, nil)
	descEventFolded = prometheus.NewDesc("oomkit_k8s_event_kills_folded_total",
		"Kills written as part of another kill's Event of the same container and reason (a storm folded into one Event).", nil, nil)
	descEventsWritten = prometheus.NewDesc("oomkit_k8s_events_written_total",
		"Kubernetes Events the API server created.", nil, nil)
	descEventsExisted = prometheus.NewDesc("oomkit_k8s_events_already_existed_total",
		"Event creates refused with AlreadyExists: written before, by an earlier run or an attempt whose answer was lost. Not an error.", nil, nil)
	descEventRetries = prometheus.NewDesc("oomkit_k8s_event_retries_total",
		"Event writes (and start-up Event lists) that failed and are retried with backoff: the API server unreachable or overloaded.", nil, nil)
	descEventDropped = prometheus.NewDesc("oomkit_k8s_event_kills_dropped_total",
		"Kills not written as Events because the publisher's buffer was full.", nil, nil)
	descEventFailed = prometheus.NewDesc("oomkit_k8s_event_kills_failed_total",
		"Kills whose Event the API server refused for good (403, 422, …).", nil, nil)
	descEventsPending = prometheus.NewDesc("oomkit_k8s_events_pending",
		"Events waiting to be written.", nil, nil)
	descEventKillsPending = prometheus.NewDesc("oomkit_k8s_event_kills_pending",
		"Kills waiting for their Event to be written.", nil, nil)
)

func (c *eventCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEventKills, descEventDuplicates, descEventFolded, descEventsWritten, descEventsExisted,
		descEventRetries, descEventDropped, descEventFailed, descEventsPending, descEventKillsPending} {
		ch <- d
	}
}

func (c *eventCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descEventKills, s.Kills)
	counter(descEventDuplicates, s.Duplicates)
	counter(descEventFolded, s.Folded)
	counter(descEventsWritten, s.Written)
	counter(descEventsExisted, s.AlreadyExisted)
	counter(descEventRetries, s.Retries)
	counter(descEventDropped, s.DroppedKills)
	counter(descEventFailed, s.FailedKills)
	ch <- prometheus.MustNewConstMetric(descEventsPending, prometheus.GaugeValue, float64(s.PendingEvents))
	ch <- prometheus.MustNewConstMetric(descEventKillsPending, prometheus.GaugeValue, float64(s.PendingKills))
}
