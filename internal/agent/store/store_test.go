package store

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
)

func kill(id string, at time.Time, ns string) *api.Kill {
	k := &api.Kill{ID: id, ObservedAt: at, Kills: 1}
	if ns != "" {
		k.Kubernetes = &api.Kubernetes{Namespace: &ns}
	}
	return k
}

func TestStoreListPrune(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var b Batch
	for i := 0; i < 10; i++ {
		ns := "a"
		if i%2 == 1 {
			ns = "b"
		}
		b.Put = append(b.Put, kill(fmt.Sprintf("k%d", i), t0.Add(time.Duration(i)*time.Minute), ns))
	}
	b.State = map[string]any{"x": map[string]int{"n": 1}}
	if err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	// Replacing a kill keeps one copy, under its new time.
	if err := s.Commit(Batch{Put: []*api.Kill{kill("k0", t0.Add(20*time.Minute), "a")}}); err != nil {
		t.Fatal(err)
	}
	all, _ := s.List(Filter{})
	if len(all) != 10 || all[9].ID != "k0" {
		t.Fatalf("list: %d kills, last %s", len(all), all[len(all)-1].ID)
	}
	got, _ := s.List(Filter{Since: t0.Add(5 * time.Minute), Namespace: "b", Limit: 2})
	if len(got) != 2 || got[0].ID != "k7" || got[1].ID != "k9" {
		t.Errorf("filtered: %v", ids(got))
	}
	n, err := s.Prune(6, t0.Add(2*time.Minute))
	if err != nil || n != 4 || s.Count() != 6 {
		t.Errorf("prune: %d deleted, %d left, %v", n, s.Count(), err)
	}
	var st map[string]int
	if found, err := s.State("x", &st); !found || err != nil || st["n"] != 1 {
		t.Errorf("state: %v %v %v", found, err, st)
	}
	s.Close()
	// Reopened: the same.
	s, err = Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Count() != 6 || !s.Has("k0") || s.Has("k1") {
		t.Errorf("after reopening: %d kills", s.Count())
	}
}

func TestStoreLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a second store on the same directory opened")
	}
}

func ids(ks []*api.Kill) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.ID)
	}
	return out
}

// TestStoreUnpublished: kills marked unpublished with their write stay
// marked across a reopen until published, and pruning a kill drops its
// mark.
func TestStoreUnpublished(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Commit(Batch{Put: []*api.Kill{kill("a", t0, ""), kill("b", t0.Add(time.Minute), ""), kill("c", t0.Add(2*time.Minute), "")}, Unpublished: []string{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(Batch{Published: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Unpublished(); err != nil || fmt.Sprint(got) != "[a c]" {
		t.Errorf("Unpublished() = %v, %v; want [a c]", got, err)
	}
	if _, err := s.Prune(2, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Unpublished(); fmt.Sprint(got) != "[c]" {
		t.Errorf("after pruning a: Unpublished() = %v, want [c]", got)
	}
}
