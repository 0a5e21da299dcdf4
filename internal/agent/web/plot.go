package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// plot is an SVG line plot of usage and working set against the limit in
// the minutes before a kill, drawn on the server: coordinates only, so the
// template escapes everything it writes.
type plot struct {
	W, H                  int
	Left, Right, Top, Bot int
	Usage, WorkingSet     string // polyline points
	Limit                 string // polyline points; "" when no limit
	KillX                 float64
	YMax, YMid, XStart    string
	YMidY                 float64
}

const (
	plotW, plotH = 640, 190
	padL, padR   = 70, 12
	padT, padB   = 10, 22
)

// newPlot draws h, nil when it has fewer than two samples.
func newPlot(h *api.History, killed time.Time) *plot {
	if h == nil || len(h.Samples) < 2 {
		return nil
	}
	s := h.Samples
	t0, t1 := s[0].At, s[len(s)-1].At
	if killed.After(t1) {
		t1 = killed
	}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		return nil
	}
	var ymax int64
	for _, x := range s {
		ymax = max(ymax, x.UsageBytes, x.WorkingSetBytes)
		if x.LimitBytes != nil {
			ymax = max(ymax, *x.LimitBytes)
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	top := float64(ymax) * 1.08
	p := &plot{W: plotW, H: plotH, Left: padL, Right: plotW - padR, Top: padT, Bot: plotH - padB}
	xs := func(t time.Time) float64 {
		return float64(padL) + t.Sub(t0).Seconds()/span*float64(plotW-padL-padR)
	}
	ys := func(v int64) float64 {
		return float64(plotH-padB) - float64(v)/top*float64(plotH-padT-padB)
	}
	var u, w, l strings.Builder
	for _, x := range s {
		fmt.Fprintf(&u, "%.1f,%.1f ", xs(x.At), ys(x.UsageBytes))
		fmt.Fprintf(&w, "%.1f,%.1f ", xs(x.At), ys(x.WorkingSetBytes))
		if x.LimitBytes != nil {
			fmt.Fprintf(&l, "%.1f,%.1f ", xs(x.At), ys(*x.LimitBytes))
		}
	}
	if last := s[len(s)-1]; last.LimitBytes != nil && t1.After(last.At) {
		fmt.Fprintf(&l, "%.1f,%.1f ", xs(t1), ys(*last.LimitBytes))
	}
	p.Usage, p.WorkingSet, p.Limit = strings.TrimSpace(u.String()), strings.TrimSpace(w.String()), strings.TrimSpace(l.String())
	p.KillX = xs(killed)
	p.YMax = bytes(int64(top))
	p.YMid = bytes(int64(top / 2))
	p.YMidY = ys(int64(top / 2))
	p.XStart = fmt.Sprintf("−%s", t1.Sub(t0).Round(time.Second))
	return p
}
