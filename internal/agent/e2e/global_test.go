package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oomkit/oomkit/internal/agent"
	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/watch"
	"github.com/oomkit/oomkit/internal/watch/watchtest"
)

// TestGlobalOOMNodeEvent: a node-wide OOM gets a Node-scoped Event naming
// the pod hit, and the pod its own Event. A global OOM cannot be caused
// on this shared host (and the cgroup v2 VM has no API server), so a real
// global OOM report — the 6.1 kernel's of internal/explain/samples
// (corpus 003.log), its task_memcg pointed at a container of a real Pod —
// is fed to the agent through its kernel log seam (agent.Config.
// OpenRecords), once the agent has caught up with an empty log.
func TestGlobalOOMNodeEvent(t *testing.T) {
	const node, ns = "oomkit-e2e-global", "batch"
	cl := newCluster(t, node)
	cl.namespace(t, ns)
	p := cl.pod(t, ns, "etl-0", "etl", nil)
	// The Node object, as a cluster has it, for kubectl describe node.
	if _, err := cl.c.CoreV1().Nodes().Create(ctxFor(t, time.Minute), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../explain/samples/arch-6.1-global.log")
	if err != nil {
		t.Fatal(err)
	}
	report := strings.Replace(string(b), "task_memcg=/user.slice/user-504.slice/session-2.scope", "task_memcg="+p.m.Path, 1)
	if report == string(b) {
		t.Fatal("the sample's task_memcg was not found")
	}

	src := watchtest.New(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := agent.Config{
		Listener: ln, StateDir: t.TempDir(), NodeName: node, Kubeconfig: cl.srv.Kubeconfig,
		Log:         slog.New(slog.NewJSONHandler(&logs, nil)),
		Ready:       func(string) { close(ready) },
		OpenRecords: func(string) (watch.Source, error) { return src, nil },
	}
	go func() { done <- agent.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the agent did not start: %v", err)
	}
	waitFor(t, "the agent to catch up with the empty log", 2*time.Minute, func() bool {
		return strings.Contains(logs.String(), "kills are counted from now on")
	})
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	src.Add(watchtest.Records(1<<40, uint64(ts.Nano()/1000), report)...)

	var nodeEv, podEv bool
	waitFor(t, "the Node's and the pod's Events", 2*time.Minute, func() bool {
		for _, ev := range cl.events(t, "default")["Node/"+node] {
			if ev.Reason == k8s.ReasonOOMKillGlobal {
				nodeEv = true
				if got, want := ev.Annotations[k8s.AnnotationPods], ns+"/"+p.name+"/"+p.container; got != want {
					t.Errorf("the Node Event names the pods %q, want %q", got, want)
				}
				if !strings.Contains(ev.Note, "doxygen (pid 473206)") {
					t.Errorf("the Node Event's note does not name the victim: %s", ev.Note)
				}
			}
		}
		evs := cl.events(t, ns)["Pod/"+p.name]
		podEv = len(evs) == 1 && evs[0].Annotations[k8s.AnnotationVictimPID] == "473206"
		return nodeEv && podEv
	})

	// Where people look: kubectl describe node (the kubelet's convention,
	// which kubectl follows: a Node's Events carry the node's name as its
	// UID) and oomkit events.
	out, err := cl.srv.Kubectl(ctxFor(t, time.Minute), "describe", "node", node)
	if err != nil {
		t.Fatalf("kubectl describe node: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "Warning  "+k8s.ReasonOOMKillGlobal+" ") || !strings.Contains(string(out), "doxygen (pid 473206)") {
		t.Errorf("kubectl describe node %s lacks the %s Event:\n%s", node, k8s.ReasonOOMKillGlobal, out)
	}
	found := false
	for _, line := range strings.Split(oomkit(t, "events", "-A", "--kubeconfig", cl.srv.Kubeconfig), "\n") {
		f := strings.Fields(line)
		// LAST SEEN, NAMESPACE, OBJECT, CONTAINER, NODE, …
		found = found || len(f) > 4 && f[1] == "default" && f[2] == "node/"+node && f[4] == node
	}
	if !found {
		t.Errorf("oomkit events -A lacks the Node Event of %s:\n%s", node, oomkit(t, "events", "-A", "--kubeconfig", cl.srv.Kubeconfig))
	}
}

// TestNoKubernetesWithoutNodeName: without --node-name (and NODE_NAME) the
// agent makes no request to an API server, even with a kubeconfig in
// $KUBECONFIG, and exports no Kubernetes metrics; --kubeconfig without a
// node name is a usage error.
func TestNoKubernetesWithoutNodeName(t *testing.T) {
	var requests atomic.Int64
	fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer fake.Close()
	kc := t.TempDir() + "/kubeconfig"
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+fake.URL+`", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	ag := startAgent(t, "--state-dir", t.TempDir(), "--sample-interval", "100ms")
	ag.waitLog(t, "first start: the kernel log's ring is read")
	resp, err := http.Get(ag.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "oomkit_k8s_") || strings.Contains(string(body), `source="kubernetes"`) {
		t.Errorf("/metrics has Kubernetes metrics without --node-name")
	}
	ag.stop(t, syscall.SIGTERM)
	if n := requests.Load(); n != 0 {
		t.Errorf("the agent sent %d requests to the API server without --node-name", n)
	}

	cmd := exec.Command(oomkitBin, "agent", "--kubeconfig", kc, "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "NODE_NAME=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--node-name") {
		t.Errorf("--kubeconfig without --node-name: %v: %s; want exit 2 naming --node-name", err, out)
	}
}
