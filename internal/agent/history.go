package agent

import (
	"math"
	"sort"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// sample is one reading of a memcg; limit is −1 when it has none.
type sample struct {
	atMilli, usage, ws, limit int64
}

// ring holds a memcg's last samples, oldest overwritten first. Its array
// is allocated once, so sampling allocates nothing.
type ring struct {
	buf  []sample
	next int
	n    int
}

func (r *ring) init(capacity int) { r.buf = make([]sample, max(capacity, 1)) }

func (r *ring) add(s sample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// each calls f on the samples from oldest to newest.
func (r *ring) each(f func(s sample)) {
	start := (r.next - r.n + len(r.buf)) % len(r.buf)
	for i := 0; i < r.n; i++ {
		f(r.buf[(start+i)%len(r.buf)])
	}
}

// last returns the newest sample.
func (r *ring) last() (sample, bool) {
	if r.n == 0 {
		return sample{}, false
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}

// history copies the samples of memcg p from the window before t.
func (m *memcgs) history(p string, t time.Time, window, interval time.Duration) *api.History {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := m.byPath[p]
	if c == nil {
		return nil
	}
	from, to := t.Add(-window).UnixMilli(), t.UnixMilli()
	h := &api.History{Cgroup: p, IntervalSeconds: interval.Seconds()}
	c.ring.each(func(s sample) {
		if s.atMilli < from || s.atMilli > to {
			return
		}
		out := api.Sample{At: time.UnixMilli(s.atMilli).UTC(), UsageBytes: s.usage, WorkingSetBytes: s.ws}
		if s.limit >= 0 {
			l := s.limit
			out.LimitBytes = &l
		}
		h.Samples = append(h.Samples, out)
	})
	if len(h.Samples) == 0 {
		return nil
	}
	return h
}

// limited returns p or its nearest ancestor with a limit of its own,
// p itself when none has one: the cgroup whose plot shows the limit.
func (m *memcgs) limited(p string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for c := m.byPath[p]; c != nil; c = c.parent {
		if c.hasLimit {
			return c.path
		}
	}
	return p
}

// Prediction constants. The growth rate is a least-squares line through
// the working set of the last predictWindow; a minute smooths page-cache
// churn yet follows a leak that kills within minutes. etaHorizon bounds
// what is worth a warning: a straight line extrapolated for more than an
// hour says little.
const (
	predictWindow  = 60 * time.Second
	predictMinimum = 5 // samples in the window before a rate is trusted
	etaHorizon     = time.Hour
)

// headroom lists the memcgs with a limit of their own, nearest their
// limit first, with their predicted time to OOM at now.
func (m *memcgs) headroom(now time.Time) []api.Headroom {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []api.Headroom
	from := now.Add(-predictWindow).UnixMilli()
	for _, c := range m.byPath {
		last, ok := c.ring.last()
		if !ok || last.limit <= 0 {
			continue
		}
		h := api.Headroom{Cgroup: c.path, UsageBytes: last.usage, WorkingSetBytes: last.ws, LimitBytes: last.limit}
		var xs, ys []float64
		c.ring.each(func(s sample) {
			if s.atMilli >= from {
				xs = append(xs, float64(s.atMilli-from)/1000)
				ys = append(ys, float64(s.ws))
			}
		})
		if rate := growth(xs, ys, last.limit); rate > 0 {
			h.GrowthBytesPerSecond = rate
			if eta := float64(last.limit-last.ws) / rate; eta <= etaHorizon.Seconds() {
				eta = max(eta, 0)
				h.OOMETASeconds = &eta
			}
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		fi := float64(out[i].WorkingSetBytes) / float64(out[i].LimitBytes)
		fj := float64(out[j].WorkingSetBytes) / float64(out[j].LimitBytes)
		if fi != fj {
			return fi > fj
		}
		return out[i].Cgroup < out[j].Cgroup
	})
	return out
}

// growth is the working set's growth rate in bytes per second, 0 unless
// it is steady: at least predictMinimum samples, a positive slope over the
// whole window and over its second half (a leak still going on, not a
// step that is over), and a rise of at least 1% of the limit (page-cache
// noise is not a trend).
func growth(xs, ys []float64, limit int64) float64 {
	n := len(xs)
	if n < predictMinimum || ys[n-1]-ys[0] < float64(limit)/100 {
		return 0
	}
	all, recent := slope(xs, ys), slope(xs[n/2:], ys[n/2:])
	if all <= 0 || recent <= 0 {
		return 0
	}
	return recent
}

// slope is the least-squares slope of ys over xs; 0 when undefined.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	s := (n*sxy - sx*sy) / d
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0
	}
	return s
}
