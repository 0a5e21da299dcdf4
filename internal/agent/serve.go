package agent

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
)

// Kills lists the stored kills and those still waiting to be written.
func (a *Agent) Kills(f store.Filter) ([]*api.Kill, error) {
	kills, err := a.store.List(f)
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	if len(a.unsaved) > 0 {
		have := make(map[string]int, len(kills))
		for i, k := range kills {
			have[k.ID] = i
		}
		for _, k := range a.unsaved {
			if k.ObservedAt.Before(f.Since) || !f.Match(k) {
				continue
			}
			if i, ok := have[k.ID]; ok {
				kills[i] = k
			} else {
				kills = append(kills, k)
			}
		}
		sort.SliceStable(kills, func(i, j int) bool { return kills[i].ObservedAt.Before(kills[j].ObservedAt) })
		if f.Limit > 0 && len(kills) > f.Limit {
			kills = kills[len(kills)-f.Limit:]
		}
	}
	a.mu.RUnlock()
	return kills, nil
}

// Kill returns one kill.
func (a *Agent) Kill(id string) (*api.Kill, error) {
	a.mu.RLock()
	k := a.unsaved[id]
	a.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	return a.store.Get(id)
}

// Headroom lists the memory cgroups with a limit, nearest it first, with
// their Kubernetes names when an enricher knows them.
func (a *Agent) Headroom() []api.Headroom {
	rows := a.memcgs.headroom(time.Now())
	if a.kube != nil {
		for i := range rows {
			if at, _ := a.kube.res.Lookup(rows[i].Cgroup); at.Resolved {
				rows[i].Namespace, rows[i].Pod, rows[i].Container = at.Namespace, at.Pod, at.Container
			}
		}
	}
	return rows
}

// Health is nil when the loop turned recently and the store is written.
// A kernel log that cannot be read is not unhealthy: the counters still
// count (the page and oomkit_source_up say so).
func (a *Agent) Health() error {
	var problems []string
	last := time.Unix(0, a.heartbeat.Load())
	if time.Since(last) > 3*a.cfg.SampleInterval+5*time.Second {
		problems = append(problems, fmt.Sprintf("the agent's loop has not run for %v", time.Since(last).Round(time.Second)))
	}
	if !a.storeUp.Load() {
		problems = append(problems, "the store cannot be written")
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}
