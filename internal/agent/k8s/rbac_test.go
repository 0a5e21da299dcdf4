package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oomkit/oomkit/internal/apiservertest"
	"github.com/oomkit/oomkit/internal/kube"
)

// shippedManifest is the DaemonSet's manifest with its RBAC.
const shippedManifest = "../../../deploy/kubernetes/oomkit.yaml"

// TestRBACShippedManifest applies deploy/kubernetes/oomkit.yaml to a real
// API server, takes a token of its ServiceAccount (TokenRequest, as the
// kubelet does for the pod), and runs the Resolver and the Publisher with
// it: everything they do is allowed — and what they never need (secrets,
// writing pods, other objects, deleting or patching Events) is refused.
func TestRBACShippedManifest(t *testing.T) {
	s := apiservertest.New(t)
	ctx := ctxFor(t, 3*time.Minute)
	if _, err := s.Kubectl(ctx, "apply", "-f", shippedManifest); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Kubectl(ctx, "create", "token", "oomkit", "-n", "oomkit")
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := client(t, s, "")
	agent, req := client(t, s, strings.TrimSpace(string(tok)))

	ns, node := "shop", "node-rbac"
	mustNamespace(t, admin, ns)
	app := randomID()
	pod := createPod(t, admin, podSpec{
		ns: ns, name: "checkout-7d9f8b6c5-x2x7k", node: node,
		owner:      deploymentChain(t, admin, ns, "checkout", "checkout-7d9f8b6c5"),
		containers: []containerSpec{{name: "app", req: "64Mi", limit: "128Mi", id: app}},
	})
	path := kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, string(pod.UID), app)

	// Allowed: the informer, the owner GET, the recovery LIST, creates,
	// and the GET after an AlreadyExists.
	r := startResolver(t, agent, node, ResolverOptions{})
	if a := r.Resolve(ctx, path); a.WorkloadKind != "Deployment" || a.Container != "app" {
		t.Errorf("Resolve with the agent's token: %+v", a)
	}
	p, stop := startPublisher(t, agent, r, PublisherOptions{Node: node})
	k := kill("boot-r:1", time.Now(), path, RoleChild, 42)
	p.Publish(k)
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	again, err := NewPublisher(agent.agent, r, PublisherOptions{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	again.Publish(k)
	q, _ := again.next()
	if err := again.attempt(ctx, q); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Written != 1 || st.FailedKills != 0 {
		t.Errorf("publisher with the agent's token: %+v", st)
	}
	if st := again.Stats(); st.AlreadyExisted != 1 || st.FailedKills != 0 {
		t.Errorf("second publisher with the agent's token: %+v, want AlreadyExisted 1 (its GET allowed)", st)
	}
	if n := req.total(""); n == 0 {
		t.Fatal("the agent's client made no requests")
	}
	t.Logf("requests with the agent's token: %s", req)

	// Refused: everything else the API offers.
	evs := eventsOfNode(t, admin, node)
	if len(evs) != 1 {
		t.Fatalf("%d Events, want 1", len(evs))
	}
	ev := evs[0]
	merge := types.MergePatchType
	patch := []byte(`{"metadata":{"labels":{"x":"y"}}}`)
	for what, call := range map[string]func() error{
		"list secrets": func() error {
			_, err := agent.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			return err
		},
		"get a secret": func() error {
			_, err := agent.CoreV1().Secrets("oomkit").Get(ctx, "anything", metav1.GetOptions{})
			return err
		},
		"get a pod": func() error { // list/watch only: it reads pods through its informer
			_, err := agent.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			return err
		},
		"delete a pod": func() error { return agent.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}) },
		"create a pod": func() error {
			_, err := agent.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
			return err
		},
		"patch a pod": func() error {
			_, err := agent.CoreV1().Pods(ns).Patch(ctx, pod.Name, merge, patch, metav1.PatchOptions{})
			return err
		},
		"patch pod status": func() error {
			_, err := agent.CoreV1().Pods(ns).Patch(ctx, pod.Name, merge, patch, metav1.PatchOptions{}, "status")
			return err
		},
		"list nodes": func() error {
			_, err := agent.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		},
		"list configmaps": func() error {
			_, err := agent.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
			return err
		},
		"get a deployment": func() error {
			_, err := agent.AppsV1().Deployments(ns).Get(ctx, "checkout", metav1.GetOptions{})
			return err
		},
		"list replicasets": func() error {
			_, err := agent.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
			return err
		},
		"delete an event": func() error {
			return agent.EventsV1().Events(ev.Namespace).Delete(ctx, ev.Name, metav1.DeleteOptions{})
		},
		"patch an event": func() error {
			_, err := agent.EventsV1().Events(ev.Namespace).Patch(ctx, ev.Name, merge, patch, metav1.PatchOptions{})
			return err
		},
		"create a core/v1 event": func() error {
			_, err := agent.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "x"}}, metav1.CreateOptions{})
			return err
		},
	} {
		err := call()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s with the agent's token: %v, want Forbidden", what, err)
		}
	}
}

// TestRequestCost counts the agent's requests to the API server: at idle
// (after warming up, nothing until client-go renews its WATCH, every 5–10
// minutes) and per kill. The numbers are in docs/events.md.
func TestRequestCost(t *testing.T) {
	s := shared.Get(t)
	admin, _ := client(t, s, "")
	agent, req := client(t, s, "")
	ns, node := randomName("cost-"), randomName("node-")
	mustNamespace(t, admin, ns)
	const pods = 20
	owner := deploymentChain(t, admin, ns, "api", "api-5d4f8c7b9")
	var paths []string
	for i := range pods {
		id := randomID()
		p := createPod(t, admin, podSpec{ns: ns, name: fmt.Sprintf("api-5d4f8c7b9-%05d", i), node: node, owner: owner,
			containers: []containerSpec{{name: "app", req: "64Mi", limit: "128Mi", id: id}}})
		paths = append(paths, kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, string(p.UID), id))
	}
	r := startResolver(t, agent, node, ResolverOptions{})
	warm := req.total("")
	p, _ := startPublisher(t, agent, r, PublisherOptions{Node: node, QPS: 100, Burst: 100})
	// The recovery LIST is made before the first write; wait for it.
	p.Publish(kill("boot-cost:0", time.Now(), paths[0], RoleMain, 1))
	if err := p.WaitIdle(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	base := req.total("")
	for i := 1; i < pods; i++ {
		p.Publish(kill(fmt.Sprintf("boot-cost:%d", i), time.Now(), paths[i], RoleMain, 1+i))
		if err := p.WaitIdle(ctxFor(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	perKill := float64(req.total("")-base) / float64(pods-1)
	t.Logf("warm-up: %d requests for %d pods; first kill: %d more (recovery LIST, owner GET, create); then %.2f per kill; all: %s",
		warm, pods, base-warm, perKill, req)
	if warm > 2 {
		t.Errorf("warm-up took %d requests, want a LIST and a WATCH at most", warm)
	}
	if base-warm != 3 {
		t.Errorf("the first kill took %d requests, want 3 (recovery LIST, ReplicaSet GET, create): %s", base-warm, req)
	}
	if perKill != 1 {
		t.Errorf("%.2f requests per later kill, want 1 (the create; the owner is cached)", perKill)
	}
}
