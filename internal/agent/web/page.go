package web

import (
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/visible"
)

// What the page shows.
const (
	pageKills    = 25
	pageHeadroom = 20
	pageRanking  = 3
)

//go:embed page.html.tmpl
var pageText string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"vis": visible.String,
}).Parse(pageText))

// pageData is what the template renders.
type pageData struct {
	Host     string
	Now      string
	Health   string
	Kills    []killView
	Headroom []headroomView
}

type killView struct {
	ID, When, Victim, Cgroup, Limit, Report, ReportNote, OOMKilled, Summary, SeenBy, VictimKind string
	Ranking                                                                                     []rankView
	Plot                                                                                        *plot
}

type rankView struct {
	Rank, PID int
	Name      string
	RSS       string
	Points    int64
	Adj       int
	Killed    bool
}

type headroomView struct {
	Cgroup, WorkingSet, Limit, Used, Growth, ETA, Pod string
	Urgent                                            bool
}

func page(w http.ResponseWriter, r *http.Request, src Source, log *slog.Logger) {
	kills, err := src.Kills(store.Filter{Limit: pageKills})
	if err != nil {
		http.Error(w, "read the store: "+err.Error(), http.StatusInternalServerError)
		return
	}
	host, _ := os.Hostname()
	d := pageData{Host: host, Now: time.Now().UTC().Format(time.RFC3339), Health: "ok"}
	if err := src.Health(); err != nil {
		d.Health = err.Error()
	}
	for i := len(kills) - 1; i >= 0; i-- {
		d.Kills = append(d.Kills, viewKill(kills[i]))
	}
	hr := src.Headroom()
	if len(hr) > pageHeadroom {
		hr = hr[:pageHeadroom]
	}
	for _, h := range hr {
		d.Headroom = append(d.Headroom, viewHeadroom(h))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	if err := pageTmpl.Execute(w, d); err != nil {
		log.Debug("render the page", "error", err.Error())
	}
}

func viewKill(k *api.Kill) killView {
	v := killView{ID: k.ID, When: k.KilledAt.UTC().Format("2006-01-02 15:04:05 MST"), Report: k.Report, VictimKind: k.Victim,
		SeenBy: strings.Join(k.SeenBy, ", "), Summary: k.Analysis.Summary, Cgroup: "unknown", Limit: "unknown", OOMKilled: "not a Kubernetes pod"}
	if len(k.Victims) == 0 {
		v.Victim = "unknown process"
	}
	for i, x := range k.Victims {
		if i == 3 {
			v.Victim += fmt.Sprintf(" and %d more", len(k.Victims)-3)
			break
		}
		if i > 0 {
			v.Victim += ", "
		}
		v.Victim += fmt.Sprintf("%s (pid %d)", x.Comm, x.PID)
	}
	if k.Cgroup != nil {
		v.Cgroup = *k.Cgroup
	}
	switch {
	case k.Memcg != nil && k.Memcg.LimitKB != nil:
		v.Limit = bytes(*k.Memcg.LimitKB*1024) + " on " + deref(k.OOMMemcg, "its memory cgroup")
	case k.OOMKind != nil && *k.OOMKind == "global":
		v.Limit = "the whole node (no cgroup limit)"
	case k.History != nil && len(k.History.Samples) > 0 && k.History.Samples[len(k.History.Samples)-1].LimitBytes != nil:
		v.Limit = bytes(*k.History.Samples[len(k.History.Samples)-1].LimitBytes) + " on " + k.History.Cgroup
	}
	switch k.Report {
	case api.ReportMissing:
		v.ReportNote = "no kernel report: the victim's memory and the kernel's ranking were not printed"
	case api.ReportTruncated:
		v.ReportNote = "part of the kernel's report was lost"
	}
	if kb := k.Kubernetes; kb != nil {
		v.OOMKilled = kb.OOMKilled
		if kb.OOMKilledReason != "" {
			v.OOMKilled += " — " + kb.OOMKilledReason
		}
	}
	rk := k.Analysis.Ranking
	if len(rk) > pageRanking {
		rk = rk[:pageRanking]
	}
	for _, r := range rk {
		v.Ranking = append(v.Ranking, rankView{Rank: r.Rank, PID: r.PID, Name: r.Name, RSS: explain.HumanPages(r.RSSPages), Points: r.Points, Adj: r.OOMScoreAdj,
			Killed: k.Analysis.KernelVictimPID != nil && *k.Analysis.KernelVictimPID == r.PID})
	}
	v.Plot = newPlot(k.History, k.KilledAt)
	return v
}

func viewHeadroom(h api.Headroom) headroomView {
	v := headroomView{Cgroup: h.Cgroup, WorkingSet: bytes(h.WorkingSetBytes), Limit: bytes(h.LimitBytes),
		Used: fmt.Sprintf("%.0f%%", 100*float64(h.WorkingSetBytes)/float64(h.LimitBytes)), Growth: "—", ETA: "—"}
	if h.GrowthBytesPerSecond > 0 {
		v.Growth = bytes(int64(h.GrowthBytesPerSecond)) + "/s"
	}
	if h.OOMETASeconds != nil {
		d := time.Duration(*h.OOMETASeconds * float64(time.Second)).Round(time.Second)
		v.ETA = d.String()
		v.Urgent = d < 5*time.Minute
	}
	if h.Pod != "" {
		v.Pod = h.Namespace + "/" + h.Pod
		if h.Container != "" {
			v.Pod += " " + h.Container
		}
	}
	return v
}

func deref(s *string, or string) string {
	if s == nil {
		return or
	}
	return *s
}

// bytes prints a size in IEC units.
func bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 5 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[u-1])
}
