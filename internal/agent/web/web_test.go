package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/explain"
)

type fakeSource struct{ kills []*api.Kill }

func (f fakeSource) Kills(store.Filter) ([]*api.Kill, error) { return f.kills, nil }
func (f fakeSource) Kill(id string) (*api.Kill, error) {
	for _, k := range f.kills {
		if k.ID == id {
			return k, nil
		}
	}
	return nil, nil
}
func (f fakeSource) Headroom() []api.Headroom {
	eta := 42.0
	return []api.Headroom{{Cgroup: "/evil\x1b]0;owned\x07", WorkingSetBytes: 90 << 20, LimitBytes: 100 << 20, GrowthBytesPerSecond: 1 << 20, OOMETASeconds: &eta}}
}
func (f fakeSource) Health() error { return nil }

// hostile is a kill whose names come from a hostile local user: escape
// sequences, a C1 CSI, HTML.
func hostile() *api.Kill {
	cg := "/user.slice/<script>alert(1)</script>"
	lim := int64(64 << 20)
	k := &api.Kill{ID: "b-k7", Report: api.ReportComplete, Victim: api.VictimMain, Kills: 1, Cgroup: &cg,
		KilledAt: time.Unix(1700000000, 0), ObservedAt: time.Unix(1700000000, 0)}
	k.Victims = []explain.Victim{{PID: 42, Comm: "x\x1b[2J\u009b31m<b>"}}
	k.Analysis.Summary = "killed x\x1b[2J"
	k.Analysis.Ranking = []explain.Rank{{PID: 42, Name: "x\x1b[2J", Rank: 1}}
	k.History = &api.History{Cgroup: cg, Samples: []api.Sample{
		{At: time.Unix(1699999990, 0), UsageBytes: 10 << 20, WorkingSetBytes: 9 << 20, LimitBytes: &lim},
		{At: time.Unix(1699999999, 0), UsageBytes: 64 << 20, WorkingSetBytes: 63 << 20, LimitBytes: &lim}}}
	return k
}

// served is what a GET returned (the body already read and closed).
type served struct {
	StatusCode int
	Status     string
	Header     http.Header
}

func serve(t *testing.T, path string) (served, string) {
	t.Helper()
	h := Handler(fakeSource{[]*api.Kill{hostile()}}, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return served{resp.StatusCode, resp.Status, resp.Header}, string(b)
}

// TestPageEscapes: control characters are visible escapes on the page,
// HTML is escaped; nothing raw gets through.
func TestPageEscapes(t *testing.T) {
	resp, body := serve(t, "/")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	for _, bad := range []string{"\x1b", "\u009b", "\x07", "<script>", "<b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page has %q raw", bad)
		}
	}
	for _, want := range []string{`x\x1b[2J\u009b31m&lt;b&gt;`, `&lt;script&gt;`, `/evil\x1b]0;owned\x07`, `<polyline class="usage"`, "42s"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

// TestAPIExact: JSON keeps the exact bytes (JSON-escaped).
func TestAPIExact(t *testing.T) {
	resp, body := serve(t, "/api/v1/events")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Errorf("content type %q", ct)
	}
	if strings.Contains(body, "\x1b") || strings.Contains(body, "<script>") {
		t.Errorf("raw control bytes or HTML in JSON: %q", body)
	}
	var k api.Kill
	if err := json.Unmarshal([]byte(body), &k); err != nil {
		t.Fatal(err)
	}
	if k.Victims[0].Comm != "x\x1b[2J\u009b31m<b>" || *k.Cgroup != "/user.slice/<script>alert(1)</script>" {
		t.Errorf("JSON changed the names: %q %q", k.Victims[0].Comm, *k.Cgroup)
	}
}

func TestAPIBadRequests(t *testing.T) {
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/events?since=yesterday", 400},
		{"/api/v1/events?limit=0", 400},
		{"/api/v1/events?limit=99999999", 400},
		{"/api/v1/events?color=red", 400},
		{"/api/v1/events?since=2026-12-04T10:00:00Z&limit=5&namespace=a&pod=b", 200},
		{"/api/v1/events/nope", 404},
		{"/api/v1/events/b-k7", 200},
		{"/nowhere", 404},
		{"/healthz", 200},
	} {
		if resp, body := serve(t, tc.path); resp.StatusCode != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.code)
		}
	}
	h := Handler(fakeSource{}, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/v1/events", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"since=2026-12-04T10:00:00Z", "limit=5", "limit=-1", "namespace=a&pod=b", "since=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := parseQuery(q)
		if err != nil {
			return
		}
		fl, err := ParseFilter(v)
		if err == nil && (fl.Limit < 1 || fl.Limit > MaxLimit) {
			t.Fatalf("%q: limit %d", q, fl.Limit)
		}
	})
}

func parseQuery(q string) (map[string][]string, error) {
	req, err := http.NewRequest("GET", "http://x/?"+q, nil)
	if err != nil {
		return nil, err
	}
	return req.URL.Query(), nil
}
