package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/agent/metrics"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kube"
)

// Kubernetes timing.
const (
	// warmWait bounds how long the agent waits at start for its pod
	// informer to list the node's pods before it attributes kills: a
	// reachable API server answers in milliseconds; an unreachable one
	// must not keep the agent from counting. Kills read meanwhile are
	// attributed from their cgroup paths and enriched once it answers.
	warmWait = 10 * time.Second
	// initialPublishWindow: kills that were in the kernel log's ring when
	// the agent first started are written as Events only when this recent
	// (the API server's default --event-ttl); older ones are history.
	initialPublishWindow = time.Hour
)

// kubeSide is the agent's Kubernetes side (--node-name): the pod informer
// that attributes kills and the Event publisher.
type kubeSide struct {
	node string
	res  *k8s.Resolver
	pub  *k8s.Publisher
	// owners takes kills whose pod's Deployment or CronJob needs a GET of
	// its ReplicaSet or Job, which the loop must not wait for.
	owners chan ownerJob
}

// ownerJob asks for a kill's full attribution off the loop.
type ownerJob struct{ id, cgroup string }

// ownerDone is an attribution made off the loop.
type ownerDone struct {
	id string
	a  k8s.Attribution
}

// newKubeSide builds the client, the Resolver and the Publisher; nothing
// talks to the API server until run.
func newKubeSide(cfg Config, m *metrics.Metrics, published func([]string)) (*kubeSide, error) {
	client, _, err := k8s.NewClient(k8s.ClientOptions{Kubeconfig: cfg.Kubeconfig, OnRequest: m.RequestCounted})
	if err != nil {
		return nil, err
	}
	res, err := k8s.NewResolver(client, cfg.NodeName, k8s.ResolverOptions{})
	if err != nil {
		return nil, err
	}
	pub, err := k8s.NewPublisher(client, res, k8s.PublisherOptions{Node: cfg.NodeName, Published: published, Logger: cfg.Log})
	if err != nil {
		return nil, err
	}
	m.Kubernetes(func() metrics.EventStats {
		s := pub.Stats()
		return metrics.EventStats{Kills: s.Kills, Duplicates: s.Duplicates, Folded: s.Folded, Written: s.Written,
			AlreadyExisted: s.AlreadyExisted, Retries: s.Retries, DroppedKills: s.DroppedKills, FailedKills: s.FailedKills,
			PendingEvents: s.PendingEvents, PendingKills: s.PendingKills}
	})
	return &kubeSide{node: cfg.NodeName, res: res, pub: pub, owners: make(chan ownerJob, 256)}, nil
}

// run runs the informer, the publisher and the owner lookups until ctx
// ends; done sends owner lookups' results to the loop. The returned
// function waits for them to stop.
func (ks *kubeSide) run(ctx context.Context, done chan<- ownerDone) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); ks.res.Run(ctx) }()
	go func() { defer wg.Done(); _ = ks.pub.Run(ctx) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case j := <-ks.owners:
				a := ks.res.Resolve(ctx, j.cgroup)
				select {
				case done <- ownerDone{id: j.id, a: a}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return wg.Wait
}

// warm waits until the informer has listed the node's pods, at most
// warmWait, calling beat every second (the loop's heartbeat).
func (ks *kubeSide) warm(ctx context.Context, beat func()) bool {
	deadline := time.Now().Add(warmWait)
	for time.Now().Before(deadline) {
		wctx, cancel := context.WithTimeout(ctx, min(time.Second, time.Until(deadline)))
		err := ks.res.WaitForSync(wctx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		beat()
	}
	return false
}

// up says whether the Kubernetes side works: the informer has listed the
// node's pods and the publisher reaches the API server.
func (ks *kubeSide) up() bool { return ks.res.Synced() && !ks.pub.Stats().Unreachable }

// attribute fills k's Kubernetes object from the informer's cache, without
// a request. It reports whether the pod was found (resolved) and whether
// its top controller still needs a GET (the owner lookup).
func (ks *kubeSide) attribute(k *api.Kill) (resolved, needOwner bool) {
	if k.Cgroup == nil {
		return false, false
	}
	a, complete := ks.res.Lookup(*k.Cgroup)
	if a.PodUID == "" {
		return false, false
	}
	if k.Kubernetes == nil {
		k.Kubernetes = pathKubernetes(*k.Cgroup)
	}
	if !a.Resolved {
		return false, false
	}
	applyAttribution(k.Kubernetes, a)
	return true, !complete
}

// applyAttribution adds the API server's facts to kb.
func applyAttribution(kb *api.Kubernetes, a k8s.Attribution) {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	kb.Namespace, kb.Pod, kb.Node = str(a.Namespace), str(a.Pod), str(a.Node)
	kb.Container, kb.ContainerType = str(a.Container), str(a.ContainerType)
	kb.WorkloadKind, kb.Workload = str(a.WorkloadKind), str(a.Workload)
	kb.MemoryRequestBytes, kb.MemoryLimitBytes = a.MemoryRequestBytes, a.MemoryLimitBytes
	kb.PodDeleted = a.Deleted
	if a.QOSClass != "" {
		kb.QOSClass = str(a.QOSClass) // the pod's status.qosClass
	}
}

// pathKubernetes is what a memory cgroup path alone says (a kill no report
// explains); nil outside a kubelet's kubepods hierarchy.
func pathKubernetes(cg string) *api.Kubernetes {
	at := kube.Attribute(cg)
	if at == nil {
		return nil
	}
	return &api.Kubernetes{Kube: explain.Kube{
		Attribution:     *at,
		OOMKilled:       "unknown",
		OOMKilledReason: "only the kernel's kill counter saw this kill: without its report, which process died is unknown",
	}}
}

// publishKill is the Publisher's form of a kill.
func publishKill(k *api.Kill) k8s.Kill {
	pk := k8s.KillFromEvent(k.ID, k.KilledAt, &k.Event, k8s.Role(k.Victim))
	if k.Cgroup != nil {
		pk.CgroupPath = *k.Cgroup
	}
	pk.Report = k.Report
	return pk
}

// kubeKill attributes a kill the loop has just made (before it is stored
// and counted) and returns what queues it for an Event, which the caller
// runs once the kill is stored.
func (a *Agent) kubeKill(k *api.Kill, initial bool) (publish func()) {
	ks := a.kube
	resolved, needOwner := ks.attribute(k)
	if k.Kubernetes != nil && k.Kubernetes.PodUID != nil && !resolved {
		a.unresolved[k.ID] = k.KilledAt
	}
	if needOwner {
		select {
		case ks.owners <- ownerJob{id: k.ID, cgroup: *k.Cgroup}:
		default: // the workload stays the ReplicaSet or Job
		}
	}
	if initial && time.Since(k.KilledAt) > initialPublishWindow {
		return func() {}
	}
	a.mu.Lock()
	a.marks[k.ID] = true
	a.mu.Unlock()
	pk := publishKill(k)
	return func() { ks.pub.Publish(pk) }
}

// ownerResolved takes an attribution made off the loop.
func (a *Agent) ownerResolved(d ownerDone) {
	k := a.liveKill(d.id)
	if k == nil || k.Kubernetes == nil || !d.a.Resolved {
		return
	}
	applyAttribution(k.Kubernetes, d.a)
	a.put(k, true)
}

// liveKill is the loop's copy of kill id: the reconciler's while it may
// still change (so what is added here is not lost when a counter arrives),
// else a copy of the stored one.
func (a *Agent) liveKill(id string) *api.Kill {
	if k := a.rec.kills[id]; k != nil {
		return k
	}
	return a.lookupKill(id)
}

// reattribute retries the attribution of kills whose pod the informer did
// not know (the API server was unreachable, or the pod newer than its
// view), for as long as a deleted pod stays resolvable.
func (a *Agent) reattribute(now time.Time) {
	if a.kube == nil || len(a.unresolved) == 0 || !a.kube.res.Synced() {
		return
	}
	for id, at := range a.unresolved {
		k := a.liveKill(id)
		if k == nil || now.Sub(at) > k8s.DefaultDeletedRetention {
			delete(a.unresolved, id)
			continue
		}
		resolved, needOwner := a.kube.attribute(k)
		if !resolved {
			continue
		}
		delete(a.unresolved, id)
		a.put(k, true)
		if needOwner {
			select {
			case a.kube.owners <- ownerJob{id: k.ID, cgroup: *k.Cgroup}:
			default:
			}
		}
	}
}

// republish hands the Publisher the kills a previous run stored but did
// not see written as Events. The Publisher also lists the node's Events
// before it writes (it finds those whose write the store did not record),
// so nothing is written twice.
func (a *Agent) republish() error {
	ids, err := a.store.Unpublished()
	if err != nil {
		return fmt.Errorf("list the kills not yet written as Events: %w", err)
	}
	for _, id := range ids {
		k, err := a.store.Get(id)
		if err != nil || k == nil {
			a.mu.Lock()
			a.marks[id] = false
			a.mu.Unlock()
			continue
		}
		if k.Kubernetes != nil && k.Kubernetes.PodUID != nil && k.Kubernetes.Namespace == nil {
			a.unresolved[id] = k.KilledAt
		}
		a.kube.pub.Publish(publishKill(k))
	}
	if len(ids) > 0 {
		a.log.Info("handing the kills a previous run had not written as Events to the publisher", "kills", len(ids))
	}
	return nil
}

// markPublished records, from the publisher, kills whose Events the API
// server holds; the loop's next commit writes it to the store.
func (a *Agent) markPublished(ids []string) {
	a.mu.Lock()
	for _, id := range ids {
		a.marks[id] = false
	}
	a.mu.Unlock()
	poke(a.publishedCh)
}
