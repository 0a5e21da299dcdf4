package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/flowcontrol"
)

// PublisherOptions tune a Publisher; zero values take the defaults.
type PublisherOptions struct {
	// Node is this node's name. Required.
	Node string
	// QPS and Burst bound the Event writes: at most Burst at once, then
	// QPS per second (token bucket). Defaults 1 and 10.
	QPS   float64
	Burst int
	// MaxPendingEvents bounds the Events waiting to be written (each may
	// stand for many folded kills); MaxPendingKills bounds the kills they
	// hold. A kill that would pass either bound is dropped and counted.
	// Defaults 1000 and 10000.
	MaxPendingEvents int
	MaxPendingKills  int
	// RetryMin and RetryMax bound the exponential backoff while the API
	// server cannot be reached (or answers 429/5xx). Defaults 1 s and 1 min.
	RetryMin, RetryMax time.Duration
	// UnknownPodRetry is how long a kill in a pod that neither the
	// informer nor a fresh LIST knows waits before it is reported on the
	// Node instead. Default 10 s.
	UnknownPodRetry time.Duration
	// Published, when set, is called with the IDs of kills whose Event the
	// API server holds (written now, or found there already), so the agent
	// can mark them in its store. It must not block.
	Published func(ids []string)
	// Logger receives one line per dropped or refused kill; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Stats are the Publisher's counters, for the agent's metrics. All but
// PendingKills and PendingEvents only grow.
type Stats struct {
	// Kills is every kill handed to Publish.
	Kills uint64
	// Duplicates are kills skipped because their Event was already
	// written or waiting (a replay, or a second source seeing the same kill).
	Duplicates uint64
	// Folded are kills written as part of another kill's Event (same
	// container and reason, waiting at the same time) rather than in one
	// of their own.
	Folded uint64
	// Written are Events the API server created.
	Written uint64
	// AlreadyExisted are creates refused with AlreadyExists: the Event was
	// written before (by an earlier run, or by an attempt whose answer was
	// lost). Not an error.
	AlreadyExisted uint64
	// Retries are write attempts that failed and will be retried.
	Retries uint64
	// DroppedKills are kills not written because the buffer was full.
	DroppedKills uint64
	// FailedKills are kills whose Event the API server refused for good
	// (403, 422, …); logged.
	FailedKills uint64
	// Requests are API requests the Publisher made (creates, and the LISTs
	// of recovery and of unknown pods).
	Requests uint64
	// PendingEvents and PendingKills are waiting now.
	PendingEvents int
	PendingKills  int
	// Unreachable is true while the Publisher backs off because the API
	// server could not be reached (or was overloaded) at its last try.
	Unreachable bool
}

// Publisher writes one Kubernetes Event per OOM kill (see the package
// doc): on the Pod, and for a global OOM also on the Node.
type Publisher struct {
	client  *Client
	res     *Resolver
	opts    PublisherOptions
	limiter flowcontrol.RateLimiter
	log     *slog.Logger

	mu    sync.Mutex
	queue []*pending          // in arrival order
	byKey map[string]*pending // at most one per key
	kills int                 // kills held in queue
	seen  *hashSet            // Events written or waiting, by their kills' hashes
	// outstanding counts, per kill ID, its Events not yet written (two
	// for a global kill), so Published fires once all are.
	outstanding map[string]int
	wake        chan struct{} // a kill arrived
	idle        chan struct{} // closed and replaced when the queue empties
	running     bool

	stats struct {
		kills, duplicates, folded, written, existed, retries, dropped, failed, requests atomic.Uint64
		unreachable                                                                     atomic.Bool
	}
}

// pending is one Event waiting to be written: the kills of one key
// (container and reason, or the node's global OOMs). Kills that arrive
// while an attempt is under way join it too; the attempt writes the kills
// it took, and those that came later stay for the next Event.
type pending struct {
	key      string
	kind     pendingKind
	kills    []Kill
	notUntil time.Time // not tried again before
	since    time.Time // when its pod was first found unknown
}

type pendingKind int

const (
	pendingPod    pendingKind = iota // the victim's pod (or, unknown, its node)
	pendingGlobal                    // the Node's Event of a global OOM
)

// hash is the hash under which q's Event remembers kill id.
func (q *pending) hash(node, id string) string {
	if q.kind == pendingGlobal {
		return nodeKillHash(node, id)
	}
	return killHash(node, id)
}

// NewPublisher builds a Publisher writing through client, attributing with
// res. Run starts it.
func NewPublisher(client *Client, res *Resolver, opts PublisherOptions) (*Publisher, error) {
	if opts.Node == "" {
		return nil, errors.New("the node name is empty (set --node-name, or NODE_NAME from the downward API)")
	}
	if res == nil {
		return nil, errors.New("no Resolver")
	}
	if opts.QPS <= 0 {
		opts.QPS = 1
	}
	if opts.Burst <= 0 {
		opts.Burst = 10
	}
	if opts.MaxPendingEvents <= 0 {
		opts.MaxPendingEvents = 1000
	}
	if opts.MaxPendingKills <= 0 {
		opts.MaxPendingKills = 10000
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(time.Minute, opts.RetryMin)
	}
	if opts.UnknownPodRetry <= 0 {
		opts.UnknownPodRetry = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Publisher{
		client: client, res: res, opts: opts, log: opts.Logger,
		limiter: flowcontrol.NewTokenBucketRateLimiter(float32(opts.QPS), opts.Burst),
		byKey:   map[string]*pending{}, seen: newHashSet(seenMax), outstanding: map[string]int{},
		wake: make(chan struct{}, 1), idle: make(chan struct{}),
	}, nil
}

// seenMax bounds the remembered kill hashes (about 40 bytes each). Events
// live an hour in the API server (--event-ttl); older replays are the
// agent store's to stop.
const seenMax = 50000

// Publish hands a kill to the Publisher. It never blocks: the kill joins
// the waiting Event of its container and reason, or waits for one of its
// own; it is dropped (and counted) when the buffer is full, and skipped
// when its Event was already written or is waiting. It returns false when
// the kill was dropped or skipped.
func (p *Publisher) Publish(k Kill) bool {
	p.stats.kills.Add(1)
	if k.ID == "" {
		p.stats.failed.Add(1)
		p.log.Warn("OOM kill without an ID not published as an Event", "cgroup", k.CgroupPath)
		return false
	}
	if k.Time.IsZero() {
		k.Time = p.opts.Now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A global kill makes two Events, the pod's and the Node's, each
	// remembered under a hash of its own.
	type want struct {
		key, hash string
		kind      pendingKind
	}
	var wants []want
	if h := killHash(p.opts.Node, k.ID); !p.seen.has(h) {
		// Kills fold with others of the same cgroup, role and kind of OOM.
		wants = append(wants, want{fmt.Sprintf("pod\x00%s\x00%s\x00%t", k.CgroupPath, k.role(), k.Global), h, pendingPod})
	}
	if k.Global {
		if h := nodeKillHash(p.opts.Node, k.ID); !p.seen.has(h) {
			wants = append(wants, want{"global", h, pendingGlobal})
		}
	}
	if len(wants) == 0 {
		p.stats.duplicates.Add(1)
		return false
	}
	fresh := 0
	for _, w := range wants {
		if p.byKey[w.key] == nil {
			fresh++
		}
	}
	if len(p.queue)+fresh > p.opts.MaxPendingEvents || p.kills+len(wants) > p.opts.MaxPendingKills {
		p.stats.dropped.Add(1)
		p.log.Warn("OOM kill not published as an Event: the buffer is full", "id", k.ID, "cgroup", k.CgroupPath,
			"pending_events", len(p.queue), "pending_kills", p.kills)
		return false
	}
	for _, w := range wants {
		q := p.byKey[w.key]
		if q == nil {
			q = &pending{key: w.key, kind: w.kind}
			p.byKey[w.key] = q
			p.queue = append(p.queue, q)
		}
		q.kills = append(q.kills, k)
		p.kills++
		p.seen.add(w.hash)
	}
	p.outstanding[k.ID] += len(wants)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	pe, pk := len(p.queue), p.kills
	p.mu.Unlock()
	return Stats{
		Kills: p.stats.kills.Load(), Duplicates: p.stats.duplicates.Load(), Folded: p.stats.folded.Load(),
		Written: p.stats.written.Load(), AlreadyExisted: p.stats.existed.Load(), Retries: p.stats.retries.Load(),
		DroppedKills: p.stats.dropped.Load(), FailedKills: p.stats.failed.Load(), Requests: p.stats.requests.Load(),
		PendingEvents: pe, PendingKills: pk, Unreachable: p.stats.unreachable.Load(),
	}
}

// WaitIdle blocks until nothing is waiting to be written (or ctx ends):
// for a graceful stop, and for tests.
func (p *Publisher) WaitIdle(ctx context.Context) error {
	for {
		p.mu.Lock()
		empty, idle := len(p.queue) == 0, p.idle
		p.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Run first learns which kills this node's Events already report (one
// LIST, retried until the API server answers, so nothing is written twice
// after a restart), then writes waiting Events until ctx ends. Kills
// published meanwhile wait in the buffer.
func (p *Publisher) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("publisher already running")
	}
	p.running = true
	p.mu.Unlock()

	for tries := 0; ; tries++ {
		err := p.recover(ctx)
		if err == nil {
			p.stats.unreachable.Store(false)
			break
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		p.stats.unreachable.Store(retryable(err))
		p.stats.retries.Add(1)
		p.log.Warn("cannot list this node's OOM Events yet; retrying", "err", err)
		if !sleep(ctx, backoff(p.opts.RetryMin, p.opts.RetryMax, tries)) {
			return context.Cause(ctx)
		}
	}
	down := 0
	for {
		q, wait := p.next()
		if q == nil {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-p.wake:
			case <-after(wait):
			}
			continue
		}
		err := p.attempt(ctx, q)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if errors.Is(err, errUnreachable) {
			// The API server is down or overloaded: every Event would fail
			// alike, so the whole Publisher backs off, and retries this one
			// first.
			p.stats.retries.Add(1)
			p.stats.unreachable.Store(true)
			if !sleep(ctx, backoff(p.opts.RetryMin, p.opts.RetryMax, down)) {
				return context.Cause(ctx)
			}
			down++
			continue
		}
		p.stats.unreachable.Store(false)
		down = 0
	}
}

// recover reads the kill hashes of this node's Events into seen, and
// drops the kills published before Run whose Events exist.
func (p *Publisher) recover(ctx context.Context) error {
	opts := metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{LabelNode: nodeLabel(p.opts.Node)}).String(),
		FieldSelector: fields.OneTermEqualSelector("reportingController", ReportingController).String(),
		Limit:         500,
	}
	found := map[string]bool{}
	for {
		p.stats.requests.Add(1)
		list, err := p.client.Events(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range list.Items {
			ev := &list.Items[i]
			if ev.Annotations[AnnotationNode] != p.opts.Node {
				continue
			}
			for _, h := range strings.Fields(ev.Annotations[AnnotationKillIDs]) {
				found[h] = true
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	p.mu.Lock()
	for h := range found {
		p.seen.add(h)
	}
	var done []string
	for _, q := range append([]*pending(nil), p.queue...) {
		var left []Kill
		for _, k := range q.kills {
			if found[q.hash(p.opts.Node, k.ID)] {
				if ids := p.doneLocked(k.ID); len(ids) > 0 {
					// Counted once the kill's last Event is found.
					p.stats.duplicates.Add(1)
					done = append(done, ids...)
				}
			} else {
				left = append(left, k)
			}
		}
		p.takeLocked(q, len(q.kills), left)
	}
	p.mu.Unlock()
	p.report(done)
	return nil
}

// next returns the first waiting Event that is due, or how long until one
// is (-1: none waits).
func (p *Publisher) next() (*pending, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	wait := time.Duration(-1)
	for _, q := range p.queue {
		d := q.notUntil.Sub(now)
		if d <= 0 {
			return q, 0
		}
		if wait < 0 || d < wait {
			wait = d
		}
	}
	return nil, wait
}

// errUnreachable marks an attempt that failed because the API server
// could not be reached or was overloaded: retried, with backoff.
var errUnreachable = errors.New("API server unreachable")

// attempt tries to write q's Event once, for the kills q holds now.
func (p *Publisher) attempt(ctx context.Context, q *pending) error {
	p.mu.Lock()
	kills := q.kills[:len(q.kills):len(q.kills)]
	p.mu.Unlock()
	g := newGroup(kills)
	ev, err := p.build(ctx, q, g)
	switch {
	case err != nil && retryable(err):
		return fmt.Errorf("%w: %w", errUnreachable, err)
	case err != nil:
		p.log.Error("cannot attribute OOM kills to a pod", "cgroup", kills[0].CgroupPath, "kills", len(kills), "err", err)
		p.fail(q, kills)
		return nil
	case ev == nil:
		return nil
	}
	if err := p.limiter.Wait(ctx); err != nil {
		return err
	}
	p.stats.requests.Add(1)
	_, err = p.client.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	switch {
	case err == nil:
		p.stats.written.Add(1)
		p.written(q, kills, nil)
		return nil
	case apierrors.IsAlreadyExists(err):
		return p.existed(ctx, q, kills, ev)
	case retryable(err):
		return fmt.Errorf("%w: %w", errUnreachable, err)
	}
	p.log.Error("the API server refused an OOM Event", "event", ev.Namespace+"/"+ev.Name, "reason", ev.Reason, "kills", len(kills), "err", err)
	p.fail(q, kills)
	return nil
}

// existed handles AlreadyExists: an Event of this name was written before
// (an earlier run, or an attempt whose answer was lost, perhaps for fewer
// kills than now). The kills its annotation lists are done; the others
// wait for an Event of their own.
func (p *Publisher) existed(ctx context.Context, q *pending, kills []Kill, ev *eventsv1.Event) error {
	p.stats.requests.Add(1)
	old, err := p.client.Events(ev.Namespace).Get(ctx, ev.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			// Expired or deleted in between: the next attempt creates it.
			return nil
		}
		if retryable(err) {
			return fmt.Errorf("%w: %w", errUnreachable, err)
		}
		// Cannot check (no RBAC get?): take the name as proof for all.
		p.stats.existed.Add(1)
		p.written(q, kills, nil)
		return nil
	}
	listed := map[string]bool{}
	for _, h := range strings.Fields(old.Annotations[AnnotationKillIDs]) {
		listed[h] = true
	}
	p.stats.existed.Add(1)
	p.written(q, kills, func(k Kill, i int) bool { return i == 0 || listed[q.hash(p.opts.Node, k.ID)] })
	return nil
}

// build attributes kills and builds q's Event; nil, nil when q must wait
// (its pod is not known yet).
func (p *Publisher) build(ctx context.Context, q *pending, g *group) (*eventsv1.Event, error) {
	if q.kind == pendingGlobal {
		var pods []Attribution
		for _, k := range g.kills {
			pods = append(pods, p.res.Resolve(ctx, k.CgroupPath))
		}
		return nodeEvent(p.opts.Node, g, true, pods), nil
	}
	k := g.kills[0]
	a := p.res.Resolve(ctx, k.CgroupPath)
	switch {
	case a.PodUID == "" && k.Global:
		// Not a pod's: the global OOM's Node Event says it all.
		p.written(q, g.kills, nil)
		return nil, nil
	case a.PodUID == "":
		return nodeEvent(p.opts.Node, g, false, nil), nil
	case a.Resolved:
		return podEvent(p.opts.Node, g, a), nil
	case !p.res.Synced():
		p.delay(q, p.opts.RetryMin)
		return nil, nil
	}
	// The informer does not know the pod: ask the API server itself.
	p.stats.requests.Add(1)
	found, err := p.res.confirm(ctx, a.PodUID)
	if err != nil {
		return nil, err
	}
	if found {
		return podEvent(p.opts.Node, g, p.res.Resolve(ctx, k.CgroupPath)), nil
	}
	now := p.opts.Now()
	p.mu.Lock()
	if q.since.IsZero() {
		q.since = now
	}
	waited := now.Sub(q.since)
	p.mu.Unlock()
	if waited < p.opts.UnknownPodRetry {
		p.delay(q, p.opts.UnknownPodRetry/4)
		return nil, nil
	}
	// Deleted before this agent ever saw it: the Node keeps the record,
	// with the pod UID.
	return nodeEvent(p.opts.Node, g, false, []Attribution{a}), nil
}

// delay makes q wait d before its next attempt.
func (p *Publisher) delay(q *pending, d time.Duration) {
	p.mu.Lock()
	q.notUntil = p.opts.Now().Add(d)
	p.mu.Unlock()
}

// written removes the first len(kills) kills from q after their Event was
// written, and reports those whose Events are all written. keep, when set,
// says which of them the Event really holds; the others stay in q.
func (p *Publisher) written(q *pending, kills []Kill, holds func(Kill, int) bool) {
	p.mu.Lock()
	var done []string
	var left []Kill
	for i, k := range kills {
		if holds != nil && !holds(k, i) {
			left = append(left, k)
			continue
		}
		if i > 0 && q.kind == pendingPod {
			p.stats.folded.Add(1)
		}
		done = append(done, p.doneLocked(k.ID)...)
	}
	p.takeLocked(q, len(kills), left)
	p.mu.Unlock()
	p.report(done)
}

// fail drops the first len(kills) kills of q: the API server refused
// their Event for good.
func (p *Publisher) fail(q *pending, kills []Kill) {
	p.stats.failed.Add(uint64(len(kills)))
	p.mu.Lock()
	for _, k := range kills {
		p.doneLocked(k.ID)
	}
	p.takeLocked(q, len(kills), nil)
	p.mu.Unlock()
}

// takeLocked replaces q's first n kills with front (kills that still need
// an Event), and removes q when nothing is left.
func (p *Publisher) takeLocked(q *pending, n int, front []Kill) {
	rest := append(front, q.kills[n:]...)
	p.kills -= len(q.kills) - len(rest)
	q.kills, q.since, q.notUntil = rest, time.Time{}, time.Time{}
	if len(rest) > 0 {
		return
	}
	for i, x := range p.queue {
		if x == q {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			break
		}
	}
	if p.byKey[q.key] == q {
		delete(p.byKey, q.key)
	}
	if len(p.queue) == 0 {
		close(p.idle)
		p.idle = make(chan struct{})
	}
}

// doneLocked counts one Event of kill id as written and returns id when
// that was its last.
func (p *Publisher) doneLocked(id string) []string {
	p.outstanding[id]--
	if p.outstanding[id] > 0 {
		return nil
	}
	delete(p.outstanding, id)
	return []string{id}
}

// report tells the agent which kills have all their Events.
func (p *Publisher) report(ids []string) {
	if len(ids) > 0 && p.opts.Published != nil {
		p.opts.Published(ids)
	}
}

// retryable reports errors worth retrying: no answer from the API server
// (connection refused or reset, timeouts), throttling, or a failure inside
// it (5xx). Any other answer (403, 404, 422, …) would come again.
func retryable(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true
	}
	code := st.Status().Code
	return code == http.StatusTooManyRequests || code >= 500 || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
}

// backoff is min·2^tries, at most max.
func backoff(min, max time.Duration, tries int) time.Duration {
	d := min
	for i := 0; i < tries && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// after is time.After for d ≥ 0, and a channel that never fires for d < 0.
func after(d time.Duration) <-chan time.Time {
	if d < 0 {
		return nil
	}
	return time.After(d)
}

// hashSet is a set of kill hashes bounded to max, forgetting the oldest.
type hashSet struct {
	max   int
	set   map[string]struct{}
	order []string
}

func newHashSet(max int) *hashSet { return &hashSet{max: max, set: map[string]struct{}{}} }

func (s *hashSet) has(h string) bool { _, ok := s.set[h]; return ok }

func (s *hashSet) add(h string) {
	if s.has(h) {
		return
	}
	s.set[h] = struct{}{}
	s.order = append(s.order, h)
	if len(s.order) > s.max {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}
