package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/apiservertest"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// cluster is a real API server with one node's pods, and the memory
// cgroups the kubelet would have made for them (cgroupfs driver) under
// this test's own memcg.
type cluster struct {
	srv    *apiservertest.Server
	c      kubernetes.Interface
	node   string
	layout cgroup.Layout
	tier   *cgroup.Memcg // <own>/oomkit-test-…/kubepods/burstable
}

func newCluster(t *testing.T, node string) *cluster {
	t.Helper()
	srv := apiservertest.New(t)
	layout, _ := kerneltest.Require(t)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.Host, BearerToken: srv.Token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 100, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tier := kerneltest.NewMemcg(t, 0)
	for _, name := range []string{"kubepods", "burstable"} {
		if tier, err = tier.Child(layout, name); err != nil {
			t.Fatal(err)
		}
	}
	return &cluster{srv: srv, c: c, node: node, layout: layout, tier: tier}
}

// pod is a Pod of the cluster and its container's memory cgroup.
type pod struct {
	ns, name, container string
	uid, containerID    string
	m                   *cgroup.Memcg
}

// namespace creates ns.
func (cl *cluster) namespace(t *testing.T, ns string) {
	t.Helper()
	if _, err := cl.c.CoreV1().Namespaces().Create(ctxFor(t, time.Minute), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// deployment creates a Deployment and its ReplicaSet, as the controllers
// would (none run here), and returns the ReplicaSet's reference.
func (cl *cluster) deployment(t *testing.T, ns, name string) *metav1.OwnerReference {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}}}
	d, err := cl.c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cl.c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-7d9f8c6b5", OwnerReferences: []metav1.OwnerReference{*controller("apps/v1", "Deployment", d.Name, d.UID)}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return controller("apps/v1", "ReplicaSet", rs.Name, rs.UID)
}

func controller(apiVersion, kind, name string, uid types.UID) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes}
}

// pod creates a Burstable pod on the node (64 MiB request, 128 MiB limit)
// with one running container, patches its status with the container's ID
// as the kubelet would, and makes the container's memory cgroup:
// kubepods/burstable/pod<UID>/<container ID>, limited to 128 MiB.
func (cl *cluster) pod(t *testing.T, ns, name, container string, owner *metav1.OwnerReference) *pod {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{NodeName: cl.node, Containers: []corev1.Container{{Name: container, Image: "registry.invalid/app:1",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			}}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	created, err := cl.c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := randomHex(32)
	created.Status.Phase = corev1.PodRunning
	created.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: container, Image: "registry.invalid/app:1",
		ImageID: "registry.invalid/app@sha256:" + strings.Repeat("0", 64), ContainerID: "containerd://" + id, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	if _, err := cl.c.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := cl.tier
	for _, seg := range []string{"pod" + string(created.UID), id} {
		if m, err = m.Child(cl.layout, seg); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SetLimit(128 << 20); err != nil {
		t.Fatal(err)
	}
	return &pod{ns: ns, name: name, container: container, uid: string(created.UID), containerID: id, m: m}
}

// events lists the agents' Events in ns by the object they regard.
func (cl *cluster) events(t *testing.T, ns string) map[string][]eventsv1.Event {
	t.Helper()
	l, err := cl.c.EventsV1().Events(ns).List(ctxFor(t, time.Minute), metav1.ListOptions{FieldSelector: "reportingController=" + k8s.ReportingController})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]eventsv1.Event{}
	for _, ev := range l.Items {
		out[ev.Regarding.Kind+"/"+ev.Regarding.Name] = append(out[ev.Regarding.Kind+"/"+ev.Regarding.Name], ev)
	}
	return out
}

// waitEvent waits until pod p has an Event of the agent, and returns it.
func (cl *cluster) waitEvent(t *testing.T, p *pod, within time.Duration) eventsv1.Event {
	t.Helper()
	var ev eventsv1.Event
	waitFor(t, "an Event on pod "+p.name, within, func() bool {
		evs := cl.events(t, p.ns)["Pod/"+p.name]
		if len(evs) > 0 {
			ev = evs[0]
		}
		return len(evs) > 0
	})
	return ev
}

// checkEvent checks an Event against the kill it reports.
func checkEvent(t *testing.T, ev eventsv1.Event, p *pod, victim int, reason string) {
	t.Helper()
	if ev.Reason != reason || ev.Type != corev1.EventTypeWarning || ev.Regarding.Kind != "Pod" || ev.Regarding.Name != p.name ||
		string(ev.Regarding.UID) != p.uid || ev.Regarding.FieldPath != fmt.Sprintf("spec.containers{%s}", p.container) ||
		ev.Annotations[k8s.AnnotationVictimPID] != fmt.Sprint(victim) || ev.Annotations[k8s.AnnotationContainer] != p.container {
		t.Errorf("Event on %s: reason %s, regarding %+v, annotations %v; want %s for pid %d in container %s",
			p.name, ev.Reason, ev.Regarding, ev.Annotations, reason, victim, p.container)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
