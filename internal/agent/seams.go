package agent

import (
	"context"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// Enricher adds what a memcg path alone cannot say — the Kubernetes
// namespace, pod and container names, the owner — to kills and cgroups.
// The Kubernetes layer (internal/agent/k8s) implements it; the agent works
// without one.
type Enricher interface {
	// EnrichKill fills in k's Namespace, Pod and Container (and may add to
	// its Event's Kubernetes attribution) before the kill is stored,
	// counted and published. It runs on the agent's loop: it must answer
	// from memory (an informer's cache), not call the API server.
	EnrichKill(ctx context.Context, k *api.Kill)
	// Cgroup names the pod and container a memory cgroup belongs to, for
	// the per-cgroup metrics and the page; empty strings when none.
	Cgroup(path string) (namespace, pod, container string)
}

// Publisher receives every kill once it is stored: a new kill once, and
// again (updated true) when later sources add to it (its counter arrived,
// more victims of a group kill). IDs are stable, so a publisher that
// writes elsewhere (Kubernetes Events) can make its writes idempotent
// across restarts with them. Publish runs on the agent's loop and must
// not block: buffer and retry in a goroutine of your own.
type Publisher interface {
	Publish(ctx context.Context, k *api.Kill, updated bool)
}
