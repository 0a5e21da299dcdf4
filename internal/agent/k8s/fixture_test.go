package k8s

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/oomkit/oomkit/internal/apiservertest"
)

// shared is one API server for the tests of this package that do not stop
// it; tests that do start their own with apiservertest.New.
var shared apiservertest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// requests counts the API requests a client makes, by "VERB resource".
type requests struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *requests) count(verb, resource string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[verb+" "+resource]++
}

// total is the number of requests whose key starts with prefix ("" all).
func (r *requests) total(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, v := range r.n {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func (r *requests) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for k, v := range r.n {
		keys = append(keys, k+"="+itoa(v))
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

// testClient is a test's API client: client-go's clientset for the
// fixtures (Deployments, CronJobs, ephemeral containers: more than the
// agent's Client speaks), and the agent's Client on the same config and
// request counter for the code under test.
type testClient struct {
	kubernetes.Interface
	agent *Client
}

// client returns a client for s as the admin (token "" ) or with token,
// and the counter of its requests.
func client(t testing.TB, s *apiservertest.Server, token string) (*testClient, *requests) {
	t.Helper()
	if token == "" {
		token = s.Token
	}
	req := &requests{n: map[string]int{}}
	cfg := &rest.Config{
		Host: s.Host, BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		// Client-side throttling would hide the Publisher's own bound.
		QPS: 1000, Burst: 1000,
		Timeout: 10 * time.Second,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return countingTransport{rt: rt, count: req.count}
		},
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := NewClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{Interface: c, agent: agent}, req
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randomName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func mustNamespace(t testing.TB, c kubernetes.Interface, name string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(ctxFor(t, time.Minute), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// podSpec is a pod for the fixtures: containers with memory request and
// limit ("" for none), bound to node.
type podSpec struct {
	ns, name, node string
	owner          *metav1.OwnerReference
	containers     []containerSpec
	init           []containerSpec
	annotations    map[string]string
}

type containerSpec struct {
	name       string
	req, limit string // memory
	cpu        string // CPU request and limit, "" for none
	sidecar    bool
	// id is the running instance's container ID; prev a terminated
	// earlier instance's (lastState), "" for none.
	id, prev string
}

func (c containerSpec) container() corev1.Container {
	ct := corev1.Container{Name: c.name, Image: "registry.invalid/app:1"}
	if c.req != "" {
		ct.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(c.req)}
	}
	if c.limit != "" {
		ct.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(c.limit)}
	}
	if c.cpu != "" {
		if ct.Resources.Requests == nil {
			ct.Resources.Requests = corev1.ResourceList{}
		}
		if ct.Resources.Limits == nil {
			ct.Resources.Limits = corev1.ResourceList{}
		}
		ct.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(c.cpu)
		ct.Resources.Limits[corev1.ResourceCPU] = resource.MustParse(c.cpu)
	}
	if c.sidecar {
		always := corev1.ContainerRestartPolicyAlways
		ct.RestartPolicy = &always
	}
	return ct
}

func (c containerSpec) status() corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: c.name, Image: "registry.invalid/app:1", ImageID: "registry.invalid/app@sha256:" + strings.Repeat("0", 64), Ready: true}
	if c.id != "" {
		st.ContainerID = "containerd://" + c.id
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
	}
	if c.prev != "" {
		st.RestartCount = 1
		st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", ContainerID: "containerd://" + c.prev}
	}
	return st
}

// createPod creates the pod bound to its node and gives it running status
// with the container IDs (deps.md: a pod created with spec.nodeName is
// bound at once; the status subresource takes the IDs).
func createPod(t testing.TB, c kubernetes.Interface, p podSpec) *corev1.Pod {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Annotations: p.annotations},
		Spec:       corev1.PodSpec{NodeName: p.node},
	}
	if p.owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*p.owner}
	}
	for _, cs := range p.containers {
		pod.Spec.Containers = append(pod.Spec.Containers, cs.container())
	}
	for _, cs := range p.init {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, cs.container())
	}
	created, err := c.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodRunning
	for _, cs := range p.containers {
		created.Status.ContainerStatuses = append(created.Status.ContainerStatuses, cs.status())
	}
	for _, cs := range p.init {
		created.Status.InitContainerStatuses = append(created.Status.InitContainerStatuses, cs.status())
	}
	updated, err := c.CoreV1().Pods(p.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return updated
}

// controllerRef is an ownerReference marking obj's controller.
func controllerRef(apiVersion, kind, name string, uid string) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}
}

// deploymentChain creates a Deployment and its ReplicaSet (no controller
// manager runs, so the test writes what it would) and returns the
// ReplicaSet's reference for a pod.
func deploymentChain(t testing.TB, c kubernetes.Interface, ns, name, rsName string) *metav1.OwnerReference {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}},
	}
	d, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: rsName, OwnerReferences: []metav1.OwnerReference{*controllerRef("apps/v1", "Deployment", d.Name, string(d.UID))}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return controllerRef("apps/v1", "ReplicaSet", rs.Name, string(rs.UID))
}

// cronJobChain creates a CronJob and a Job it owns and returns the Job's
// reference for a pod.
func cronJobChain(t testing.TB, c kubernetes.Interface, ns, name, jobName string) *metav1.OwnerReference {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "batch", Image: "registry.invalid/batch:1"}}}}
	cj, err := c.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName, OwnerReferences: []metav1.OwnerReference{*controllerRef("batch/v1", "CronJob", cj.Name, string(cj.UID))}},
		Spec:       batchv1.JobSpec{Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return controllerRef("batch/v1", "Job", job.Name, string(job.UID))
}

// startResolver runs a Resolver for node until the test ends and waits
// until it is warm.
func startResolver(t testing.TB, c *testClient, node string, opts ResolverOptions) *Resolver {
	t.Helper()
	r, err := NewResolver(c.agent, node, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := r.WaitForSync(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	return r
}

// startPublisher runs a Publisher until stop is called or the test ends.
func startPublisher(t testing.TB, c *testClient, r *Resolver, opts PublisherOptions) (*Publisher, func()) {
	t.Helper()
	p, err := NewPublisher(c.agent, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return p, stop
}

// eventsOf lists the agent's Events in ns ("" all).
func eventsOf(t testing.TB, c kubernetes.Interface, ns string) []eventsv1.Event {
	t.Helper()
	l, err := c.EventsV1().Events(ns).List(ctxFor(t, time.Minute), metav1.ListOptions{FieldSelector: "reportingController=" + ReportingController})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// fakeClock is a settable clock for retention tests.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) now() time.Time          { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) set(t time.Time)         { f.ns.Store(t.UnixNano()) }
func (f *fakeClock) advance(d time.Duration) { f.ns.Add(int64(d)) }

// ephemeral is an ephemeral container as kubectl debug adds it.
func ephemeral(name string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: name, Image: "registry.invalid/debug:1", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent,
	}}
}
