package k8s

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/apiservertest"
	"github.com/oomkit/oomkit/internal/kube"
)

// cluster is a namespace on the shared API server with two pods on one
// node: web-0 (container app) and worker-0 (container main).
type cluster struct {
	c          *testClient
	req        *requests
	ns, node   string
	web        *corev1.Pod
	webPath    string // app's cgroup
	worker     *corev1.Pod
	workerPath string
}

func newCluster(t testing.TB, s *apiservertest.Server) *cluster {
	t.Helper()
	c, req := client(t, s, "")
	cl := &cluster{c: c, req: req, ns: randomName("shop-"), node: randomName("node-")}
	mustNamespace(t, c, cl.ns)
	app, main := randomID(), randomID()
	cl.web = createPod(t, c, podSpec{ns: cl.ns, name: "web-0", node: cl.node, containers: []containerSpec{{name: "app", req: "64Mi", limit: "128Mi", id: app}}})
	cl.worker = createPod(t, c, podSpec{ns: cl.ns, name: "worker-0", node: cl.node, containers: []containerSpec{{name: "main", req: "32Mi", limit: "64Mi", id: main}}})
	cl.webPath = kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, string(cl.web.UID), app)
	cl.workerPath = kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, string(cl.worker.UID), main)
	return cl
}

// kill is a Kill in cgroup path as the agent would hand it over.
func kill(id string, at time.Time, path string, role Role, pid int) Kill {
	limit := int64(128 << 20)
	return Kill{
		ID: id, Time: at, CgroupPath: path, LimitCgroupPath: path, LimitBytes: &limit,
		VictimPID: pid, VictimComm: "python3", Role: role, Constraint: "CONSTRAINT_MEMCG", Report: "complete",
		Summary: "The kernel killed python3 (pid " + strconv.Itoa(pid) + ", 120 MiB resident). It had the most points.",
	}
}

// published collects the IDs the Published callback reports.
type published struct {
	mu  sync.Mutex
	ids map[string]int
}

func (p *published) add(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.ids[id]++
	}
}

func (p *published) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[id]
}

// TestPublishRealAPIServer writes each kind of Event into a real API
// server and reads it back as kubectl would, then replays every kill into
// the same Publisher and into a new one (an agent restart): no Event is
// written twice.
func TestPublishRealAPIServer(t *testing.T) {
	s := shared.Get(t)
	cl := newCluster(t, s)
	r := startResolver(t, cl.c, cl.node, ResolverOptions{})
	pub := &published{ids: map[string]int{}}
	opts := PublisherOptions{Node: cl.node, Published: pub.add, UnknownPodRetry: 300 * time.Millisecond, RetryMin: 50 * time.Millisecond}
	p, stop := startPublisher(t, cl.c, r, opts)

	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	unknownUID := "0057cc81-ea16-463a-96c2-fc74acfb9c47"
	global := kill("boot-a:103", t0.Add(3*time.Second), cl.workerPath, RoleMain, 303)
	global.Global, global.LimitCgroupPath, global.LimitBytes, global.Constraint = true, "", nil, "CONSTRAINT_NONE"
	kills := []Kill{
		kill("boot-a:101", t0, cl.webPath, RoleMain, 301),
		kill("boot-a:102", t0.Add(time.Second), cl.workerPath, RoleChild, 302),
		global,
		kill("boot-a:104", t0.Add(4*time.Second), "/system.slice/containerd.service", RoleUnknown, 304),
		kill("boot-a:105", t0.Add(5*time.Second), kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, unknownUID, randomID()), RoleMain, 305),
	}
	for _, k := range kills {
		if !p.Publish(k) {
			t.Fatalf("Publish(%s) refused", k.ID)
		}
	}
	if err := p.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}

	type row struct{ Kind, Name, Namespace, FieldPath, Reason, Container, Role, PID, Pods string }
	got := map[string]row{}
	for _, ev := range eventsOf(t, cl.c, "") {
		if ev.Annotations[AnnotationNode] != cl.node {
			continue
		}
		got[ev.Annotations[AnnotationVictimPID]+" "+ev.Reason] = row{
			ev.Regarding.Kind, ev.Regarding.Name, ev.Namespace, ev.Regarding.FieldPath, ev.Reason,
			ev.Annotations[AnnotationContainer], ev.Annotations[AnnotationRole], ev.Annotations[AnnotationVictimPID], ev.Annotations[AnnotationPods],
		}
		if ev.Type != corev1.EventTypeWarning || ev.ReportingController != ReportingController || len(ev.Note) == 0 || len(ev.Note) > NoteLimit {
			t.Errorf("event %s: type %s, controller %s, note %d bytes", ev.Name, ev.Type, ev.ReportingController, len(ev.Note))
		}
	}
	want := map[string]row{
		"301 OOMKill":       {"Pod", "web-0", cl.ns, "spec.containers{app}", "OOMKill", "app", "main", "301", ""},
		"302 OOMKillChild":  {"Pod", "worker-0", cl.ns, "spec.containers{main}", "OOMKillChild", "main", "child", "302", ""},
		"303 OOMKill":       {"Pod", "worker-0", cl.ns, "spec.containers{main}", "OOMKill", "main", "main", "303", ""},
		"303 OOMKillGlobal": {"Node", cl.node, "default", "", "OOMKillGlobal", "", "main", "303", cl.ns + "/worker-0/main"},
		"304 OOMKill":       {"Node", cl.node, "default", "", "OOMKill", "", "unknown", "304", ""},
		"305 OOMKill":       {"Node", cl.node, "default", "", "OOMKill", "", "main", "305", "pod-uid/" + unknownUID},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
	for _, k := range kills {
		if n := pub.count(k.ID); n != 1 {
			t.Errorf("Published reported %s %d times, want once", k.ID, n)
		}
	}
	st := p.Stats()
	if st.Written != 6 || st.DroppedKills != 0 || st.FailedKills != 0 || st.PendingKills != 0 {
		t.Errorf("stats %+v, want 6 written and nothing dropped, failed or pending", st)
	}

	// Replays: into the same Publisher, then into a new one.
	for _, k := range kills {
		if p.Publish(k) {
			t.Errorf("the same Publisher took %s again", k.ID)
		}
	}
	stop()
	p2, _ := startPublisher(t, cl.c, r, opts)
	for _, k := range kills {
		p2.Publish(k)
	}
	if err := p2.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(eventsOfNode(t, cl.c, cl.node)); n != 6 {
		t.Errorf("%d Events after the restart and replay, want still 6", n)
	}
	if st := p2.Stats(); st.Written != 0 || st.Duplicates != uint64(len(kills)) {
		t.Errorf("restarted Publisher: %+v, want nothing written and every replayed kill a duplicate", st)
	}
}

// TestAlreadyExistsIsDone is the last line against doubles: a Publisher
// that never listed (its recovery LIST saw nothing, as when the agent
// restarts between a create and its answer) creates the same name and
// gets AlreadyExists, which counts as written.
func TestAlreadyExistsIsDone(t *testing.T) {
	s := shared.Get(t)
	cl := newCluster(t, s)
	r := startResolver(t, cl.c, cl.node, ResolverOptions{})
	k := kill("boot-b:7", time.Now().Add(-time.Second), cl.webPath, RoleMain, 7)
	p, _ := startPublisher(t, cl.c, r, PublisherOptions{Node: cl.node})
	p.Publish(k)
	if err := p.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A Publisher that has not run its recovery: build and create directly.
	p2, err := NewPublisher(cl.c.agent, r, PublisherOptions{Node: cl.node})
	if err != nil {
		t.Fatal(err)
	}
	p2.Publish(k)
	q, _ := p2.next()
	if err := p2.attempt(ctxFor(t, time.Minute), q); err != nil {
		t.Fatal(err)
	}
	if st := p2.Stats(); st.AlreadyExisted != 1 || st.Written != 0 || st.PendingKills != 0 {
		t.Errorf("second create of the same kill: %+v, want AlreadyExisted 1 and nothing pending", st)
	}
	if n := len(eventsOfNode(t, cl.c, cl.node)); n != 1 {
		t.Errorf("%d Events, want 1", n)
	}
}

// TestPublishStorm hands a Publisher 400 kills in 40 containers of one
// pod over about a second and checks the bound on writes (Burst + QPS·t),
// that every kill is accounted for in the Events' counts, and that a
// restarted Publisher fed the same 400 kills writes nothing (the folded
// kills' IDs are in the Events).
func TestPublishStorm(t *testing.T) {
	s := shared.Get(t)
	cl := newCluster(t, s)
	r := startResolver(t, cl.c, cl.node, ResolverOptions{})
	const qps, burst, n, containers = 20, 5, 400, 40
	opts := PublisherOptions{Node: cl.node, QPS: qps, Burst: burst}
	p, stop := startPublisher(t, cl.c, r, opts)
	creates := func() int { return cl.req.total("POST events") }
	before := creates()
	var paths []string
	for range containers {
		paths = append(paths, kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, string(cl.web.UID), randomID()))
	}
	start := time.Now()
	t0 := start.Add(-time.Minute)
	var kills []Kill
	tick := time.NewTicker(2 * time.Millisecond)
	for i := range n {
		<-tick.C // a storm over time, so the rate limit and folding both act
		role := RoleChild
		if i%3 == 0 {
			role = RoleMain
		}
		k := kill(fmt.Sprintf("boot-c:%d", 1000+i), t0.Add(time.Duration(i)*time.Millisecond), paths[i%containers], role, 2000+i)
		kills = append(kills, k)
		p.Publish(k)
	}
	tick.Stop()
	if err := p.WaitIdle(ctxFor(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	writes := creates() - before
	if limit := burst + int(qps*elapsed.Seconds()) + 1; writes > limit {
		t.Errorf("%d Event writes in %s, over the bound %d (burst %d + %d/s)", writes, elapsed, limit, burst, qps)
	}
	evs := eventsOfNode(t, cl.c, cl.node)
	total := 0
	for _, ev := range evs {
		c, _ := strconv.Atoi(ev.Annotations[AnnotationKills])
		total += c
		if c > 1 && (ev.Series == nil || int(ev.Series.Count) != c) {
			t.Errorf("event %s stands for %d kills but its series says %+v", ev.Name, c, ev.Series)
		}
	}
	if total != n || len(evs) != writes {
		t.Errorf("%d Events standing for %d kills, want %d kills in the %d written", len(evs), total, n, writes)
	}
	st := p.Stats()
	if st.Folded != uint64(n-writes) || st.DroppedKills != 0 {
		t.Errorf("stats %+v: want %d folded, none dropped", st, n-writes)
	}
	t.Logf("%d kills in %d containers → %d Event writes in %s (bound: %d at once, then %d/s)", n, containers, writes, elapsed.Round(time.Millisecond), burst, qps)

	stop()
	p2, _ := startPublisher(t, cl.c, r, opts)
	for _, k := range kills {
		p2.Publish(k)
	}
	if err := p2.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := len(eventsOfNode(t, cl.c, cl.node)); got != len(evs) {
		t.Errorf("%d Events after the replay, want still %d", got, len(evs))
	}
	if st := p2.Stats(); st.Written != 0 || st.Duplicates != n {
		t.Errorf("replay: %+v, want nothing written, %d duplicates", st, n)
	}
}

// TestPublishAPIServerDown stops the API server, publishes kills (more
// than the buffer holds), starts it again, and checks that every kill that
// fit arrives, the rest are counted as dropped, and the Publisher backed
// off rather than hammering the server.
func TestPublishAPIServerDown(t *testing.T) {
	s := apiservertest.New(t)
	cl := newCluster(t, s)
	r := startResolver(t, cl.c, cl.node, ResolverOptions{})
	opts := PublisherOptions{Node: cl.node, MaxPendingEvents: 3, RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond}
	p, _ := startPublisher(t, cl.c, r, opts)
	// The recovery LIST has run once the first kill is written.
	p.Publish(kill("boot-d:1", time.Now(), cl.webPath, RoleMain, 1))
	if err := p.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}

	if err := s.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	// Three distinct Events fit; the fourth kill's does not, the fifth
	// folds into a waiting one.
	accepted := []bool{
		p.Publish(kill("boot-d:2", time.Now(), cl.webPath, RoleChild, 2)),
		p.Publish(kill("boot-d:3", time.Now(), cl.workerPath, RoleChild, 3)),
		p.Publish(kill("boot-d:4", time.Now(), cl.workerPath, RoleMain, 4)),
		p.Publish(kill("boot-d:5", time.Now(), "/system.slice/cron.service", RoleUnknown, 5)),
		p.Publish(kill("boot-d:6", time.Now(), cl.webPath, RoleChild, 6)),
	}
	if want := []bool{true, true, true, false, true}; fmt.Sprint(accepted) != fmt.Sprint(want) {
		t.Errorf("Publish while down returned %v, want %v", accepted, want)
	}
	// Wait until the Publisher has failed and backed off a few times.
	waitFor(t, "retries while the API server is down", func() bool { return p.Stats().Retries >= 3 })
	attempts := cl.req.total("POST events")

	if err := s.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.DroppedKills != 1 || st.Written != 4 || st.PendingKills != 0 {
		t.Errorf("stats %+v, want 4 written (one with 2 kills), 1 dropped", st)
	}
	got := map[string]string{}
	for _, ev := range eventsOfNode(t, cl.c, cl.node) {
		got[ev.Annotations[AnnotationVictimPID]] = ev.Reason + " " + ev.Annotations[AnnotationKills]
	}
	want := map[string]string{"1": "OOMKill 1", "2": "OOMKillChild 2", "3": "OOMKillChild 1", "4": "OOMKill 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Events after the outage (-want +got):\n%s", diff)
	}
	// Backoff: while down, attempts grew no faster than one per RetryMin.
	t.Logf("%d create attempts while the API server was down, %d retries", attempts-1, st.Retries)
}

// TestNoteLimitRealAPIServer checks NoteLimit against the API server's
// validation: a note of NoteLimit bytes is accepted, one byte more is not.
func TestNoteLimitRealAPIServer(t *testing.T) {
	s := shared.Get(t)
	c, _ := client(t, s, "")
	ns := randomName("limit-")
	mustNamespace(t, c, ns)
	mk := func(name string, n int) error {
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			EventTime:  metav1.NowMicro(), ReportingController: ReportingController, ReportingInstance: "test",
			Action: "Killed", Reason: ReasonOOMKill, Type: corev1.EventTypeWarning,
			Regarding: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: "p"},
			Note:      strings.Repeat("é", n/2) + strings.Repeat("x", n%2),
		}
		_, err := c.EventsV1().Events(ns).Create(ctxFor(t, time.Minute), ev, metav1.CreateOptions{})
		return err
	}
	if err := mk("fits", NoteLimit); err != nil {
		t.Errorf("a %d-byte note was refused: %v", NoteLimit, err)
	}
	if err := mk("too-long", NoteLimit+1); !apierrors.IsInvalid(err) {
		t.Errorf("a %d-byte note: %v, want Invalid", NoteLimit+1, err)
	}
}

func eventsOfNode(t testing.TB, c kubernetes.Interface, node string) []eventsv1.Event {
	t.Helper()
	var out []eventsv1.Event
	for _, ev := range eventsOf(t, c, "") {
		if ev.Annotations[AnnotationNode] == node {
			out = append(out, ev)
		}
	}
	return out
}
