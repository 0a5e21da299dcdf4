// Package web serves the agent over HTTP: GET /metrics, GET
// /api/v1/events (JSON Lines, docs/api.md), GET /api/v1/events/ID, GET
// /healthz and GET / (a page rendered on the server, with inline SVG plots
// and no external assets, so it works air-gapped). Only GET and HEAD are
// served; names from outside are escaped (control characters shown as
// \x1b) on the page and kept exact in JSON.
package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/visible"
)

// Source is what the endpoints read.
type Source interface {
	// Kills lists stored kills, oldest first.
	Kills(f store.Filter) ([]*api.Kill, error)
	// Kill returns one kill, nil when unknown.
	Kill(id string) (*api.Kill, error)
	// Headroom lists the memory cgroups with a limit, nearest it first.
	Headroom() []api.Headroom
	// Health is nil when the agent's loop runs and its sources work;
	// otherwise it says what is wrong.
	Health() error
}

// API limits: a query returns at most MaxLimit kills, DefaultLimit when
// it names no limit.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Handler routes the agent's endpoints.
func Handler(src Source, metrics http.Handler, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) { events(w, r, src) })
	mux.HandleFunc("GET /api/v1/events/{id}", func(w http.ResponseWriter, r *http.Request) { event(w, r, src) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := src.Health(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { page(w, r, src, log) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 0)
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// ParseFilter reads ?since=RFC3339&limit=N&namespace=&pod=.
func ParseFilter(q map[string][]string) (store.Filter, error) {
	f := store.Filter{Limit: DefaultLimit}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	for k := range q {
		switch k {
		case "since", "limit", "namespace", "pod":
		default:
			return f, fmt.Errorf("unknown parameter %q (since, limit, namespace, pod)", k)
		}
	}
	if s := get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return f, fmt.Errorf("since=%q: want an RFC 3339 time such as 2026-12-04T10:00:00Z", s)
		}
		f.Since = t
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return f, fmt.Errorf("limit=%q: want 1 to %d", s, MaxLimit)
		}
		f.Limit = n
	}
	f.Namespace, f.Pod = get("namespace"), get("pod")
	return f, nil
}

func events(w http.ResponseWriter, r *http.Request, src Source) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	kills, err := src.Kills(f)
	if err != nil {
		http.Error(w, "read the store: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	bw := bufio.NewWriterSize(w, 32<<10)
	// DEL and C1 controls in names are escaped too: the value is the same
	// to a JSON parser, and a terminal showing the JSON sees no control.
	enc := json.NewEncoder(visible.JSONWriter(bw))
	for _, k := range kills {
		if err := enc.Encode(k); err != nil {
			return
		}
	}
	_ = bw.Flush()
}

func event(w http.ResponseWriter, r *http.Request, src Source) {
	id := r.PathValue("id")
	if len(id) > 200 || strings.ContainsAny(id, "/\x00") {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	k, err := src.Kill(id)
	if err != nil {
		http.Error(w, "read the store: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if k == nil {
		http.Error(w, "no such kill", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(visible.JSONWriter(w)).Encode(k)
}
