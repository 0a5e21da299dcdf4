// Package agent is `oomkit agent`: one process per node that sees every
// OOM kill, explains it with the same model as `oomkit explain`, keeps the
// memory history of every memory cgroup before it, and serves it all —
// Prometheus metrics, a JSON Lines API, a web page (docs/agent.md).
//
// Sources: /dev/kmsg from a saved cursor, the kernel's per-memcg oom_kill
// counters and /proc/vmstat, reconciled so each kill is one kill with a
// stable ID (reconcile.go). Sub-packages hold the store (bbolt), the
// metrics (the only import of client_golang) and the HTTP endpoints.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/metrics"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/agent/web"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kfile"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/watch"
)

// Config is what `oomkit agent`'s flags say.
type Config struct {
	Listen         string
	StateDir       string
	ProcRoot       string
	SysRoot        string
	Kmsg           string
	SampleInterval time.Duration
	History        time.Duration
	RetainEvents   int
	RetainAge      time.Duration
	// ReportGrace is how long a counted kill waits for its kernel log
	// record before it becomes a kill with report "missing".
	ReportGrace time.Duration
	// NodeName turns on the Kubernetes side: kills attributed to their
	// pods from a pod informer restricted to this node, and written as
	// Events. Kubeconfig is the client's configuration ("": in-cluster in
	// a pod, else $KUBECONFIG or ~/.kube/config).
	NodeName   string
	Kubeconfig string
	Version    string
	Log        *slog.Logger `json:"-"`

	// OpenRecords opens the kernel log; nil opens Kmsg with kmsg.Open.
	// The agent learns that it has read the log to its end from the
	// source's OnWait (watch.Options.CaughtUp), as *kmsg.Reader and
	// watchtest.Source have it.
	OpenRecords func(path string) (watch.Source, error) `json:"-"`
	// Listener, if set, is served instead of listening on Listen.
	Listener net.Listener `json:"-"`
	// Ready, if set, is called with the address once the agent serves.
	Ready func(addr string) `json:"-"`
}

// Defaults.
const (
	DefaultListen         = "127.0.0.1:9741"
	DefaultStateDir       = "/var/lib/oomkit"
	DefaultSampleInterval = time.Second
	DefaultHistory        = 10 * time.Minute
	DefaultRetainEvents   = 5000
	DefaultRetainAge      = 30 * 24 * time.Hour
	DefaultReportGrace    = 3 * time.Second
	// historyBefore is how much memory history a kill keeps.
	historyBefore = 3 * time.Minute
	// walkEvery is how many samples pass between two walks of the cgroup
	// tree (new cgroups are found within walkEvery × --sample-interval;
	// kills in ones removed sooner are counted through /proc/vmstat).
	walkEvery = 10
	// cursorEvery is how often the kernel log cursor is saved when no
	// kill forces a write.
	cursorEvery = 30 * time.Second
	// shutdownBudget bounds the HTTP server's drain at exit; the whole
	// stop stays within 5 s.
	shutdownBudget = 2 * time.Second
)

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.Listen == "" && c.Listener == nil {
		c.Listen = DefaultListen
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.SysRoot == "" {
		c.SysRoot = "/sys"
	}
	if c.Kmsg == "" {
		c.Kmsg = kmsg.DefaultPath
	}
	if c.SampleInterval == 0 {
		c.SampleInterval = DefaultSampleInterval
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.RetainEvents == 0 {
		c.RetainEvents = DefaultRetainEvents
	}
	if c.RetainAge == 0 {
		c.RetainAge = DefaultRetainAge
	}
	if c.ReportGrace == 0 {
		c.ReportGrace = DefaultReportGrace
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	switch {
	case c.SampleInterval < 100*time.Millisecond || c.SampleInterval > time.Minute:
		return fmt.Errorf("--sample-interval %v: want 100ms to 1m", c.SampleInterval)
	case c.History < c.SampleInterval || c.History > 24*time.Hour:
		return fmt.Errorf("--history %v: want at least one --sample-interval and at most 24h", c.History)
	case c.History/c.SampleInterval > 100000:
		return fmt.Errorf("--history %v at --sample-interval %v keeps more than 100000 samples per cgroup; sample less often or keep less", c.History, c.SampleInterval)
	case c.RetainEvents < 0:
		return fmt.Errorf("--retain-events %d: want 1 or more", c.RetainEvents)
	case c.RetainAge < time.Minute:
		return fmt.Errorf("--retain-age %v: want at least 1m", c.RetainAge)
	case c.ReportGrace < 0:
		return fmt.Errorf("--report-grace %v: want 0 or more", c.ReportGrace)
	case c.Listener == nil && !validListen(c.Listen):
		return fmt.Errorf("--listen %q: want HOST:PORT or :PORT (e.g. 127.0.0.1:9741, or :9741 on every address)", c.Listen)
	case c.Kubeconfig != "" && c.NodeName == "":
		return errors.New("--kubeconfig without --node-name: the agent talks to the API server only for its node's pods; give --node-name (or NODE_NAME)")
	case c.NodeName != "" && !validNodeName(c.NodeName):
		return fmt.Errorf("--node-name %q: not a Kubernetes node name (a DNS subdomain: lower-case letters, digits, '-' and '.', at most 253)", c.NodeName)
	}
	return nil
}

// validListen reports whether s is an address net.Listen("tcp") takes:
// HOST:PORT with a port number or service name.
func validListen(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port != ""
}

// validNodeName reports whether s is a DNS subdomain (RFC 1123), as node
// names are.
func validNodeName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// Agent is a running agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	metrics *metrics.Metrics
	memcgs  *memcgs
	layout  cgroup.Layout
	boot    string
	bootAt  time.Time // wall clock at boot, for kernel log time stamps
	rec     *reconciler

	vmstat    *pollFile
	vmstatVal *int64

	// unsaved are kills not yet written (the store failed); the API
	// serves them too.
	mu      sync.RWMutex
	unsaved map[string]*api.Kill

	heartbeat atomic.Int64 // unix ns of the loop's last turn
	kmsgUp    atomic.Bool
	// kmsgIdle is true while the kernel log reader waits for the kernel's
	// next record, everything before it sent to the loop (on msgs).
	kmsgIdle   atomic.Bool
	msgs       chan kmsgMsg
	storeUp    atomic.Bool
	logCaught  time.Time
	lastCursor time.Time
	dirty      bool
	jobs       chan writeJob // to the writer
	// wrote pokes the loop after each write: a backlogged loop goes on.
	wrote chan struct{}
	// scanDeferred: a counter read was put off while the writer was
	// behind.
	scanDeferred bool
	// baselinePending is true on a first start until the kernel log has
	// been read to its end.
	baselinePending bool
	// resume is the cursor (re)opening the kernel log resumes after (nil:
	// the whole ring, on a first start). The loop sets it once it has
	// handled what the cursor covers; the reader reads it.
	resumeMu sync.Mutex
	resume   *watch.Cursor
	// gapBefore: kernel log records were lost since the last report read.
	gapBefore bool
	errOnce   sync.Map // source+path → logged

	// kube is the Kubernetes side, nil without --node-name.
	kube *kubeSide
	// unresolved are kills in pods the informer did not know yet, by ID,
	// with when they happened (the loop's).
	unresolved map[string]time.Time
	// marks are kills to mark in the store as waiting for their Event
	// (true) or written (false), under mu; publishedCh pokes the loop.
	marks       map[string]bool
	publishedCh chan struct{}
}

// Run runs the agent until ctx ends, then saves its state and returns
// nil; it returns an error when it cannot start (the port is taken, the
// state directory cannot be written).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	a := &Agent{cfg: cfg, log: cfg.Log, unsaved: map[string]*api.Kill{}, unresolved: map[string]time.Time{},
		marks: map[string]bool{}, publishedCh: make(chan struct{}, 1)}
	ln := cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				return fmt.Errorf("listen on %s: address already in use (is another agent running? choose another --listen)", cfg.Listen)
			}
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	defer ln.Close()
	st, err := store.Open(cfg.StateDir, a.log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	a.store = st
	defer st.Close()
	a.metrics = metrics.New(cfg.Version, a.Headroom, cfg.RetainAge)
	if cfg.NodeName != "" {
		if a.kube, err = newKubeSide(cfg, a.metrics, a.markPublished); err != nil {
			return fmt.Errorf("kubernetes: %w", err)
		}
	}
	if err := a.start(); err != nil {
		return err
	}
	defer a.memcgs.closeAll()

	srv := &http.Server{
		Handler:           web.Handler(a, a.metrics.Handler(), a.log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "error", err.Error())
		}
	}()
	a.log.Info("agent serving", "listen", ln.Addr().String(), "state_dir", cfg.StateDir, "memory_cgroups", a.memcgs.len(), "cgroup_version", string(a.layout.Memory), "boot_id", a.boot, "node", cfg.NodeName)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	err = a.loop(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return err
}

// start reads the boot ID and state, finds the memory cgroups and sets
// the baseline.
func (a *Agent) start() error {
	b, err := kfile.Read(filepath.Join(a.cfg.ProcRoot, "sys/kernel/random/boot_id"), kfile.Small)
	if err != nil {
		return fmt.Errorf("read the boot ID: %w (is --proc-root the host's /proc?)", err)
	}
	a.boot = strings.TrimSpace(string(b))
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		a.bootAt = time.Now().Add(-time.Duration(ts.Nano()))
	}
	a.layout, err = cgroup.Detect(cgroup.Roots{Proc: a.cfg.ProcRoot, Sys: a.cfg.SysRoot})
	if err != nil {
		a.log.Warn("cannot find the cgroup mounts; OOM kills are counted from the kernel log and /proc/vmstat only", "error", err.Error())
	}
	if a.layout.Memory == "" {
		a.log.Warn(cgroup.ErrNoMemoryController.Error())
	}
	ringCap := int(a.cfg.History / a.cfg.SampleInterval)
	a.memcgs = newMemcgs(a.layout, ringCap, a.sourceError)
	if a.layout.Memory != "" {
		a.memcgs.walk()
	}
	a.metrics.SourceUp("cgroup_counters", a.layout.Memory != "")

	var st reconState
	found, err := a.store.State("reconcile", &st)
	if err != nil {
		a.log.Warn("the saved state is unreadable; starting from now", "error", err.Error())
		found = false
	}
	now := time.Now()
	fromZero := func(*memcg) bool { return false }
	switch {
	case !found:
		// First start: kills before now are not invented; the ring's
		// reports are kept as they are.
		st = reconState{Boot: a.boot, BaselineAt: now}
	case st.Boot != a.boot:
		// A new boot: every kill since boot is new, and so is every
		// record in the ring. The old boot's cursor makes the stream
		// count what this boot logged before the ring's oldest record.
		a.log.Info("new boot since the last run: reading the whole kernel log and counting every kill since boot", "previous_boot_id", st.Boot)
		if st.HaveCursor {
			a.resume = &watch.Cursor{BootID: st.Boot, Seq: st.Cursor}
		}
		st = reconState{Boot: a.boot, BaselineAt: a.bootAt, HaveNode: true}
		fromZero = func(*memcg) bool { return true }
	default:
		a.memcgs.restore(st.Counters)
		base := st.BaselineAt
		fromZero = func(c *memcg) bool { return c.born.After(base) }
		if st.HaveCursor {
			a.resume = &watch.Cursor{BootID: a.boot, Seq: st.Cursor}
		}
	}
	a.rec = newReconciler(a.cfg.ReportGrace, st)
	a.vmstat, err = openPoll(filepath.Join(a.cfg.ProcRoot, "vmstat"), 8192)
	if err != nil {
		a.sourceError("vmstat", "", err)
	}
	a.readVMStat()
	if found {
		a.scan(now, fromZero)
	} else {
		// First start: the baseline is taken once the kernel log has been
		// read to its end, so a kill either is in the ring's history and
		// in the baseline, or comes after both.
		a.baselinePending = true
	}
	a.metrics.Stored(a.store.Count())
	a.heartbeat.Store(now.UnixNano())
	a.storeUp.Store(true)
	a.metrics.SourceUp("store", true)
	return nil
}

// sourceError logs a source's error once per source and path, and counts it.
func (a *Agent) sourceError(source, path string, err error) {
	a.metrics.SourceError(source)
	key := source + "\x00" + path + "\x00" + err.Error()
	if _, loaded := a.errOnce.LoadOrStore(key, true); loaded {
		return
	}
	a.log.Warn("cannot read a source; going on without it", "source", source, "cgroup", path, "error", err.Error())
}

// readVMStat reads /proc/vmstat oom_kill.
func (a *Agent) readVMStat() bool {
	if a.vmstat == nil {
		return false
	}
	b, err := a.vmstat.read()
	if err != nil {
		a.sourceError("vmstat", "", err)
		a.metrics.SourceUp("vmstat", false)
		return false
	}
	n, found, err := keyValue(b, "oom_kill")
	if err != nil || !found {
		if err == nil {
			err = fmt.Errorf("%w: no oom_kill line (kernels before 4.13)", errFormat)
		}
		a.sourceError("vmstat", "", err)
		a.metrics.SourceUp("vmstat", false)
		return false
	}
	a.metrics.SourceUp("vmstat", true)
	a.metrics.KernelKills(n)
	changed := a.vmstatVal == nil || *a.vmstatVal != n
	a.vmstatVal = &n
	return changed
}

// takeBaseline reads the counters that kills from now on are counted
// from (the first start).
func (a *Agent) takeBaseline(now time.Time) {
	a.baselinePending = false
	a.readVMStat()
	if a.vmstatVal != nil {
		a.rec.st.NodeBase, a.rec.st.HaveNode = *a.vmstatVal, true
	}
	a.rec.st.BaselineAt = now
	a.scan(now, func(*memcg) bool { return false })
	a.dirty = true
	a.log.Info("first start: the kernel log's ring is read; kills are counted from now on", "node_oom_kills_before", a.rec.st.NodeBase)
}

// scan reads the kill counters and accounts for what went up.
func (a *Agent) scan(now time.Time, fromZero func(*memcg) bool) {
	if a.baselinePending {
		return
	}
	if fromZero == nil {
		base := a.rec.st.BaselineAt
		fromZero = func(c *memcg) bool { return c.born.After(base) }
	}
	if a.backlogged() {
		// The kernel's counters only grow: read them once the writer
		// caught up.
		a.scanDeferred = true
		return
	}
	a.scanDeferred = false
	changes := a.memcgs.scanCounters(fromZero)
	for _, k := range a.rec.counted(changes, now, a.lookupKill) {
		a.put(k, true)
	}
	if len(changes) > 0 {
		a.dirty = true
	}
}

func (a *Agent) lookupKill(id string) *api.Kill {
	a.mu.RLock()
	k := a.unsaved[id]
	a.mu.RUnlock()
	if k != nil {
		return snapshot(k) // the loop's own copy, to change
	}
	k, _ = a.store.Get(id)
	return k
}

// put queues a snapshot of a kill for the next commit and tells the
// publishers. The loop goes on changing its own copy (a counter arrives,
// a group kill grows); readers and the writer see only snapshots.
func (a *Agent) put(k *api.Kill, updated bool) {
	c := snapshot(k)
	a.mu.Lock()
	a.unsaved[k.ID] = c
	a.mu.Unlock()
	a.dirty = true
}

// snapshot copies a kill and the slices the loop appends to.
func snapshot(k *api.Kill) *api.Kill {
	c := *k
	c.SeenBy = slices.Clone(k.SeenBy)
	c.Victims = slices.Clone(k.Victims)
	c.Warnings = slices.Clone(k.Warnings)
	return &c
}

// add is a new kill: attributed, queued and counted, and handed to the
// Event publisher. initial is true for a kill that was in the kernel
// log's ring when the agent first started.
func (a *Agent) add(k *api.Kill, now time.Time, initial bool) {
	if k.Kubernetes == nil && k.Event.Kubernetes != nil {
		// The event's kubernetes object, in the kill's (which adds the
		// API server's facts to it).
		k.Kubernetes = &api.Kubernetes{Kube: *k.Event.Kubernetes}
	}
	k.Event.Kubernetes = nil
	publish := func() {}
	if a.kube != nil {
		publish = a.kubeKill(k, initial)
	}
	// Stored (and so in the API) before its Event can reach the API
	// server: whoever sees the Event finds the kill on the node.
	a.put(k, false)
	a.metrics.Kill(k, now)
	publish()
}

// loop is the agent's one goroutine that owns the reconciler.
func (a *Agent) loop(ctx context.Context) error {
	a.jobs = make(chan writeJob, 1)
	a.wrote = make(chan struct{}, 1)
	written := make(chan struct{})
	go a.writer(written)
	owners := make(chan ownerDone, 16)
	stopKube := func() {}
	if a.kube != nil {
		// The informer, the publisher: warm before any kill is attributed.
		kubeCtx, cancel := context.WithCancel(context.Background())
		wait := a.kube.run(kubeCtx, owners)
		stopKube = func() {
			// Give the publisher a moment for what is waiting; what it
			// does not write is in the store, marked, for the next start.
			// (ctx has ended by now: the moment is its own.)
			ictx, icancel := context.WithTimeout(context.Background(), time.Second)
			_ = a.kube.pub.WaitIdle(ictx)
			icancel()
			cancel()
			wait()
		}
		if a.kube.warm(ctx, func() { a.heartbeat.Store(time.Now().UnixNano()) }) {
			a.log.Info("the pod informer has listed the node's pods", "node", a.kube.node)
		} else if ctx.Err() == nil {
			a.log.Warn("the API server has not listed the node's pods yet; kills are attributed from their cgroup paths until it does, then enriched, and written as Events when it answers",
				"node", a.kube.node, "waited", warmWait)
		}
		if err := a.republish(); err != nil {
			a.log.Error("cannot republish", "error", err.Error())
		}
	}
	kctx, kcancel := context.WithCancel(ctx)
	msgs := make(chan kmsgMsg, 64)
	a.msgs = msgs
	kmsgDone := make(chan struct{})
	go func() {
		defer close(kmsgDone)
		a.readKmsg(kctx, msgs)
	}()
	notify, treeChanged := make(chan struct{}, 1), make(chan struct{}, 1)
	if a.layout.Memory != "" {
		if w, err := newWatcher(notify, treeChanged); err == nil {
			defer w.close()
			go w.run(kctx)
			a.memcgs.watch = w
			a.memcgs.watchAll()
		} else {
			a.log.Warn("cannot watch the cgroup tree with inotify; polling instead", "error", err.Error())
		}
	}
	tick := time.NewTicker(a.cfg.SampleInterval)
	defer tick.Stop()
	// Unclaimed increments are checked often while there are any, else at
	// each sample: an idle agent wakes once per sample.
	expire := time.NewTicker(max(a.cfg.ReportGrace/4, 50*time.Millisecond))
	defer expire.Stop()
	expiring := true
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	a.prune()
	ticks, treeDirty := 0, false
	a.sample(time.Now())
	for {
		a.heartbeat.Store(time.Now().UnixNano())
		// While the writer is behind, the loop takes no kernel log
		// records and reads no counters: what it has not taken is read
		// after the writer caught up (or at the next start), so what waits
		// to be written, and with it the time to stop, stays bounded.
		in, counters := msgs, notify
		if a.backlogged() {
			in, counters = nil, nil
		}
		select {
		case <-ctx.Done():
			a.stop(kcancel, kmsgDone, stopKube, written)
			return nil
		case m := <-in:
			a.handleKmsg(m)
		case <-a.wrote:
			if a.scanDeferred && !a.backlogged() {
				a.scan(time.Now(), nil)
			}
		case d := <-owners:
			a.ownerResolved(d)
		case <-a.publishedCh:
			// The commit below writes the marks.
		case <-counters:
			a.scan(time.Now(), nil)
		case <-treeChanged:
			// Walk at the next sample: a burst of mkdirs is one walk.
			treeDirty = true
		case now := <-tick.C:
			ticks++
			if ticks%walkEvery == 0 || treeDirty {
				treeDirty = false
				a.rewalk()
			}
			a.sample(now)
			a.expire(now)
			if a.kube != nil {
				a.reattribute(now)
				a.metrics.SourceUp("kubernetes", a.kube.up())
			}
		case now := <-expire.C:
			a.expire(now)
			if !a.rec.busy() {
				expire.Stop()
				expiring = false
			}
		case <-prune.C:
			a.prune()
		}
		if !expiring && a.rec.busy() {
			expire.Reset(max(a.cfg.ReportGrace/4, 50*time.Millisecond))
			expiring = true
		}
		a.commit(false)
	}
}

// rewalk finds new and removed memory cgroups; a new one's first kills
// are read at once.
func (a *Agent) rewalk() {
	if a.layout.Memory == "" {
		return
	}
	a.memcgs.walk()
	// Counters are read on every kill line, /proc/vmstat change and
	// inotify event; this read catches whatever slipped between.
	a.scan(time.Now(), nil)
	a.memcgs.watchAll()
}

// sample reads memory and the node's kill count; a changed count means a
// kill somewhere, so the counters are read at once.
func (a *Agent) sample(now time.Time) {
	a.memcgs.sample(now)
	a.metrics.Memcgs(a.memcgs.len())
	if a.readVMStat() {
		a.scan(now, nil)
	}
}

// expire turns kills that only counters saw into kills of their own.
func (a *Agent) expire(now time.Time) {
	if a.backlogged() {
		return
	}
	if a.scanDeferred {
		// Kill lines wait for their counters' increments: read them before
		// any wait ends.
		a.scan(now, nil)
	}
	logReadable := a.kmsgUp.Load()
	caught := a.logCaught
	if a.kmsgIdle.Load() && len(a.msgs) == 0 {
		// The reader waits for the kernel's next record and the loop has
		// handled everything it sent: the log is read up to now.
		caught = now
	}
	for _, k := range a.rec.expire(now, caught, logReadable, a.vmstatVal, a.boot, a.missingKill) {
		a.add(k, now, false)
	}
}

// missingKill is a kill no kernel log record was read for.
func (a *Agent) missingKill(inc increment, id string) *api.Kill {
	k := &api.Kill{ID: id, ObservedAt: inc.At, KilledAt: inc.At, Report: api.ReportMissing, Kills: 1, Victim: api.VictimUnknown}
	k.Schema = explain.Schema
	k.Analysis.RulesFrom = "unknown"
	k.Victims, k.Warnings, k.Analysis.Ranking, k.Analysis.Reasons = []explain.Victim{}, []string{}, []explain.Rank{}, []string{}
	if inc.Cgroup != "" {
		cg := inc.Cgroup
		k.Cgroup, k.CgroupFrom = &cg, ptr("counter")
		k.SeenBy = []string{api.SeenCounter}
		k.Source.File = filepath.Join(a.layout.Dir(cg), a.memcgs.files.counter)
		k.Analysis.Summary = fmt.Sprintf("The kernel killed a process in memory cgroup %s (its oom_kill counter reached %d), but no kernel log record of the kill was read: the kernel rate-limits its reports, the ring may have been overwritten, or the log is not readable. Which process died is unknown.", cg, inc.N)
		if inc.Group {
			k.Warnings = append(k.Warnings, "the cgroup's oom_group_kill counter went up too: a memory.oom.group kill")
		}
		k.History = a.historyFor(cg, inc.At)
		k.Kubernetes = pathKubernetes(cg)
		if inc.Group {
			// memory.oom.group: every process of the cgroup died.
			k.Victim = api.VictimMain
		}
	} else {
		k.SeenBy = []string{api.SeenNode}
		k.Source.File = filepath.Join(a.cfg.ProcRoot, "vmstat")
		k.Analysis.Summary = fmt.Sprintf("The kernel counted an OOM kill on this node (/proc/vmstat oom_kill reached %d) that neither the kernel log nor a memory cgroup's counter accounts for: its cgroup was removed before the agent read its counter, or the agent was not running.", inc.N)
	}
	return k
}

// historyFor is the memory history to keep with a kill in cgroup cg: the
// samples of the cgroup whose limit applies.
func (a *Agent) historyFor(cg string, at time.Time) *api.History {
	return a.memcgs.history(a.memcgs.limited(cg), at, historyBefore, a.cfg.SampleInterval)
}

// commit hands what changed to the writer. Kills are handed on at once;
// the state alone (the log cursor moving past records with no OOM in
// them) at most every cursorEvery, and at exit. The loop does not wait for
// the disk: a kill is visible in the API and the metrics before it is
// written, and an fsync stalled by other I/O does not hold the next kill —
// unless maxUnsaved kills wait already (backlogged), which bounds what a
// stop must write.
func (a *Agent) commit(final bool) {
	a.mu.RLock()
	n := len(a.unsaved) + len(a.marks)
	a.mu.RUnlock()
	if !final {
		if n == 0 && (!a.dirty || time.Since(a.lastCursor) <= cursorEvery) {
			return
		}
		if !a.storeUp.Load() && time.Since(a.lastCursor) < time.Second {
			return // retry a failing store once a second
		}
	}
	a.rec.st.Counters = a.memcgs.counters()
	state, err := json.Marshal(a.rec.st)
	if err != nil {
		a.log.Error("encode the state", "error", err.Error())
		return
	}
	job := writeJob{state: state, final: final}
	a.mu.RLock()
	for _, k := range a.unsaved {
		job.kills = append(job.kills, k)
	}
	if len(a.marks) > 0 {
		job.marks = maps.Clone(a.marks)
	}
	a.mu.RUnlock()
	a.dirty = false
	a.lastCursor = time.Now()
	// Jobs are cumulative (every unwritten kill, the latest state): one
	// still waiting is replaced.
	select {
	case <-a.jobs:
	default:
	}
	a.jobs <- job
}

// writeJob is one transaction for the writer.
type writeJob struct {
	kills []*api.Kill // snapshots: the loop does not change them
	// marks are kills waiting for their Event (true) or written (false).
	marks map[string]bool
	state json.RawMessage
	final bool
}

// writer commits jobs until the channel closes.
func (a *Agent) writer(done chan<- struct{}) {
	defer close(done)
	for job := range a.jobs {
		a.write(job)
	}
}

func (a *Agent) write(job writeJob) {
	b := store.Batch{Put: job.kills, State: map[string]any{"reconcile": job.state}}
	for id, waiting := range job.marks {
		if waiting {
			b.Unpublished = append(b.Unpublished, id)
		} else {
			b.Published = append(b.Published, id)
		}
	}
	err := a.store.Commit(b)
	if err != nil {
		a.metrics.SourceError("store")
		a.metrics.SourceUp("store", false)
		a.log.Debug("store write failed", "error", err.Error())
		if a.storeUp.Swap(false) {
			a.log.Error("cannot write the store; kills are kept in memory and written when it works again", "path", a.store.Path(), "error", err.Error(), "hint", storeHint(err), "kills_waiting", len(job.kills))
		}
		if job.final {
			a.log.Error("exiting with kills not written", "kills", len(job.kills))
		}
		return
	}
	if !a.storeUp.Swap(true) {
		a.log.Info("the store works again", "kills_written", len(job.kills))
	}
	a.metrics.SourceUp("store", true)
	a.mu.Lock()
	for _, k := range job.kills {
		if a.unsaved[k.ID] == k {
			delete(a.unsaved, k.ID)
		}
	}
	for id, v := range job.marks {
		if cur, ok := a.marks[id]; ok && cur == v {
			delete(a.marks, id)
		}
	}
	a.mu.Unlock()
	if len(job.kills) > 0 {
		a.metrics.Stored(a.store.Count())
	}
	poke(a.wrote)
}

// stop ends the loop's work on SIGTERM within a bounded time: the kernel
// log reader stops at a record boundary, and what it read but the loop
// did not take is left unhandled — the saved cursor is that of the last
// record handled, so the next start reads the rest again (nothing lost,
// and a kill already stored is not stored twice: its ID is the record's).
// What is written at exit is then what the loop handled, at most
// maxUnsaved kills (the backlog bound) in one transaction with the cursor
// and the counters.
func (a *Agent) stop(kcancel func(), kmsgDone <-chan struct{}, stopKube func(), written <-chan struct{}) {
	t0 := time.Now()
	kcancel()
	<-kmsgDone
	left := len(a.msgs)
	stopKube()
	a.mu.RLock()
	n := len(a.unsaved)
	a.mu.RUnlock()
	a.commit(true)
	close(a.jobs)
	<-written
	a.log.Info("stopped", "kills_written", n, "kernel_log_items_left_for_next_start", left, "took", time.Since(t0).Round(time.Millisecond).String())
}

// maxUnsaved bounds the kills waiting for the writer while the store
// works: beyond it the loop waits for the writer (the time to stop is the
// time to write this many; BenchmarkCommit: ~0.3 ms each, ~6 ms under the
// race detector).
const maxUnsaved = 64

// backlogged reports whether the writer is behind: maxUnsaved kills wait
// and the store works (while it fails, kills are kept in memory and the
// agent goes on, so they reach the API and the metrics).
func (a *Agent) backlogged() bool {
	if !a.storeUp.Load() {
		return false
	}
	a.mu.RLock()
	n := len(a.unsaved)
	a.mu.RUnlock()
	return n >= maxUnsaved
}

func storeHint(err error) string {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return "free space in --state-dir"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, unix.EROFS):
		return "make --state-dir writable for the agent"
	}
	return "check --state-dir"
}

// prune applies --retain-events and --retain-age.
func (a *Agent) prune() {
	n, err := a.store.Prune(a.cfg.RetainEvents, time.Now().Add(-a.cfg.RetainAge))
	if err != nil {
		a.metrics.SourceError("store")
		return
	}
	if n > 0 {
		a.log.Info("pruned old kills", "deleted", n)
		a.metrics.Stored(a.store.Count())
	}
}
