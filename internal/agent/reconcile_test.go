package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// TestReconcileOrders: whichever source sees a kill first, it is one
// kill; an increment no kill line claims becomes a missing kill only once
// the grace window has passed and the log was read past it.
func TestReconcileOrders(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	grace := 2 * time.Second
	missing := func(inc increment, id string) *api.Kill { return &api.Kill{ID: id, Kills: 1} }
	lookup := func(string) *api.Kill { return nil }
	newKill := func(id string) *api.Kill { return &api.Kill{ID: id, Kills: 1, SeenBy: []string{api.SeenKmsg}} }
	vm := func(n int64) *int64 { return &n }

	t.Run("report first", func(t *testing.T) {
		r := newReconciler(grace, reconState{HaveNode: true})
		k := newKill("b-k1")
		r.report(k, []victimCgroup{{pid: 1, cgroup: "/a"}}, true, t0)
		r.counted([]counterChange{{path: "/a", ino: 9, from: 0, to: 1}}, t0.Add(time.Millisecond), lookup)
		if out := r.expire(t0.Add(time.Minute), t0.Add(time.Minute), true, vm(1), "b", missing); len(out) != 0 {
			t.Errorf("missing kills %v", out)
		}
		if len(k.SeenBy) != 2 {
			t.Errorf("seen by %v", k.SeenBy)
		}
	})
	t.Run("counter first, unknown cgroup", func(t *testing.T) {
		r := newReconciler(grace, reconState{HaveNode: true})
		r.counted([]counterChange{{path: "/a", ino: 9, from: 4, to: 5}}, t0, lookup)
		k := newKill("b-k2")
		r.report(k, []victimCgroup{{pid: 1}}, true, t0.Add(time.Millisecond))
		if k.Cgroup == nil || *k.Cgroup != "/a" || *k.CgroupFrom != "counter" {
			t.Errorf("cgroup %v", k.Cgroup)
		}
		if out := r.expire(t0.Add(time.Minute), t0.Add(time.Minute), true, vm(1), "b", missing); len(out) != 0 {
			t.Errorf("missing kills %v", out)
		}
	})
	t.Run("proc hint overruled by the counter", func(t *testing.T) {
		r := newReconciler(grace, reconState{HaveNode: true})
		k := newKill("b-k3")
		r.report(k, []victimCgroup{{pid: 1, cgroup: "/", soft: true}}, true, t0)
		r.counted([]counterChange{{path: "/a", ino: 9, from: 0, to: 1}}, t0.Add(time.Millisecond), lookup)
		if *k.Cgroup != "/a" {
			t.Errorf("cgroup %v, want the counter's /a", *k.Cgroup)
		}
	})
	t.Run("missing only after the log caught up", func(t *testing.T) {
		r := newReconciler(grace, reconState{HaveNode: true})
		r.counted([]counterChange{{path: "/a", ino: 9, from: 0, to: 2}}, t0, lookup)
		if out := r.expire(t0.Add(time.Minute), t0.Add(-time.Second), true, vm(2), "b", missing); len(out) != 0 {
			t.Errorf("a lagging log: %d missing kills", len(out))
		}
		out := r.expire(t0.Add(time.Minute), t0.Add(time.Minute), true, vm(2), "b", missing)
		if len(out) != 2 || out[0].ID != "b-c9-1" || out[1].ID != "b-c9-2" {
			t.Errorf("missing kills %v", out)
		}
	})
	t.Run("node surplus", func(t *testing.T) {
		r := newReconciler(grace, reconState{HaveNode: true, NodeBase: 10})
		r.report(newKill("b-k4"), []victimCgroup{{pid: 1, cgroup: "/gone"}}, true, t0)
		// vmstat says 3 kills since the baseline; one is the report.
		if out := r.expire(t0, t0, true, vm(13), "b", missing); len(out) != 0 {
			t.Errorf("before the grace window: %d", len(out))
		}
		out := r.expire(t0.Add(time.Minute), t0.Add(time.Minute), true, vm(13), "b", missing)
		if got := fmt.Sprintf("%d %s %s", len(out), out[0].ID, out[1].ID); got != "2 b-n12 b-n13" {
			t.Errorf("node kills %s", got)
		}
		if out := r.expire(t0.Add(2*time.Minute), t0.Add(2*time.Minute), true, vm(13), "b", missing); len(out) != 0 {
			t.Errorf("counted again: %d", len(out))
		}
	})
}
