package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// TestKubernetesKills is issue 12's whole path, with the real agent
// binary on the real kernel and a real API server: Pods bound to a node,
// their statuses carrying container IDs; memory cgroups named after them
// as the kubelet names them; real OOM kills there — a container's main
// process, and a child whose container lives on. Each kill becomes one
// Event on the right pod (OOMKill, OOMKillChild) that kubectl describe pod
// and oomkit events show, an API item whose kubernetes object names the
// pod, container, workload and QoS class, and a count in /metrics with
// the pod's labels. An agent SIGKILLed the moment an Event is written,
// with a kill while it is down, doubles nothing and misses nothing; kills
// while the API server is stopped — one of them seen by an agent that
// started during the outage, which knows only what the cgroup path says —
// are enriched and written as Events once it is back.
func TestKubernetesKills(t *testing.T) {
	const node, ns = "oomkit-e2e-node", "shop"
	cl := newCluster(t, node)
	cl.namespace(t, ns)
	web := cl.pod(t, ns, "web-7d9f8c6b5-x2p4q", "app", cl.deployment(t, ns, "web"))
	worker := cl.pod(t, ns, "worker-0", "main", controller("apps/v1", "StatefulSet", "worker", "3b7c2a9e-0000-4000-8000-000000000001"))
	cron := cl.pod(t, ns, "report-29061450-abcde", "report", nil)
	batch := cl.pod(t, ns, "batch-0", "job", nil)
	api0 := cl.pod(t, ns, "api-0", "api", nil)
	api1 := cl.pod(t, ns, "api-1", "api", nil)

	kerneltest.SerializeOOM(t)
	state := t.TempDir()
	args := []string{"--node-name", node, "--kubeconfig", cl.srv.Kubeconfig, "--state-dir", state, "--sample-interval", "100ms"}
	ag := startAgent(t, args...)
	ag.waitLog(t, "the pod informer has listed the node's pods")
	ag.waitLog(t, "first start: the kernel log's ring is read")

	// A: a container's main process; a child in a container that lives on.
	kWeb := causeKill(t, web.m, false)
	kWorker := causeKill(t, worker.m, true)
	evWeb := cl.waitEvent(t, web, time.Minute)
	evWorker := cl.waitEvent(t, worker, time.Minute)
	checkEvent(t, evWeb, web, kWeb.victim, k8s.ReasonOOMKill)
	checkEvent(t, evWorker, worker, kWorker.victim, k8s.ReasonOOMKillChild)

	t.Run("api", func(t *testing.T) {
		kills := ag.kills(t, "&namespace="+ns)
		for _, c := range []struct {
			p              *pod
			victim         int
			role, workload string
		}{{web, kWeb.victim, api.VictimMain, "Deployment/web"}, {worker, kWorker.victim, api.VictimChild, "StatefulSet/worker"}} {
			k := killOf(kills, c.victim)
			if k == nil {
				t.Fatalf("no kill of pid %d in the API (namespace %s): %d kills", c.victim, ns, len(kills))
			}
			kb := k.Kubernetes
			if k.Victim != c.role || kb == nil || deref(kb.Namespace) != ns || deref(kb.Pod) != c.p.name || deref(kb.Container) != c.p.container ||
				deref(kb.PodUID) != c.p.uid || deref(kb.ContainerID) != c.p.containerID || deref(kb.QOSClass) != "Burstable" ||
				deref(kb.Node) != node || deref(kb.WorkloadKind)+"/"+deref(kb.Workload) != c.workload ||
				kb.MemoryLimitBytes == nil || *kb.MemoryLimitBytes != 128<<20 {
				b, _ := json.Marshal(k.Kubernetes)
				t.Errorf("pid %d: victim %q, kubernetes %s; want %s in %s/%s/%s (%s)", c.victim, k.Victim, b, c.role, ns, c.p.name, c.p.container, c.workload)
			}
		}
		if n := len(ag.kills(t, "&namespace="+ns+"&pod="+web.name)); n != 1 {
			t.Errorf("?pod=%s: %d kills, want 1", web.name, n)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		for _, c := range []struct {
			p    *pod
			role string
		}{{web, "main"}, {worker, "child"}} {
			want := map[string]string{"namespace": ns, "pod": c.p.name, "container": c.p.container, "victim": c.role, "constraint": "memcg"}
			if n := ag.metric(t, "oomkit_oom_kills_total", want); n != 1 {
				t.Errorf("oomkit_oom_kills_total%v = %v, want 1", want, n)
			}
		}
		if n := ag.metric(t, "oomkit_k8s_events_written_total", nil); n < 2 {
			t.Errorf("oomkit_k8s_events_written_total = %v, want ≥ 2", n)
		}
		if n := ag.metric(t, "oomkit_k8s_api_requests_total", map[string]string{"verb": "POST", "resource": "events"}); n < 2 {
			t.Errorf("oomkit_k8s_api_requests_total{POST events} = %v", n)
		}
		if n := ag.metric(t, "oomkit_source_up", map[string]string{"source": "kubernetes"}); n != 1 {
			t.Errorf("oomkit_source_up{source=kubernetes} = %v", n)
		}
	})
	t.Run("kubectl describe pod", func(t *testing.T) {
		for _, c := range []struct {
			p      *pod
			victim int
			reason string
		}{{web, kWeb.victim, "OOMKill"}, {worker, kWorker.victim, "OOMKillChild"}} {
			out, err := cl.srv.Kubectl(ctxFor(t, time.Minute), "describe", "pod", c.p.name, "-n", ns)
			if err != nil {
				t.Fatalf("kubectl describe: %v: %s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "Warning  "+c.reason+" ") || !strings.Contains(s, "oomkit.io/agent") ||
				!strings.Contains(s, fmt.Sprintf("spec.containers{%s}: OOM kill of", c.p.container)) || !strings.Contains(s, fmt.Sprintf("(pid %d)", c.victim)) {
				t.Errorf("kubectl describe pod %s lacks the %s Event of pid %d:\n%s", c.p.name, c.reason, c.victim, s)
			}
		}
	})
	t.Run("oomkit events", func(t *testing.T) {
		out := oomkit(t, "events", "-n", ns, "--kubeconfig", cl.srv.Kubeconfig)
		for _, c := range []struct {
			p    *pod
			role string
		}{{web, "main"}, {worker, "child"}} {
			found := false
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				found = found || len(f) > 5 && f[1] == "pod/"+c.p.name && f[2] == c.p.container && f[3] == node && f[4] == c.role && f[5] == "1"
			}
			if !found {
				t.Errorf("oomkit events -n %s lacks pod/%s %s %s %s:\n%s", ns, c.p.name, c.p.container, node, c.role, out)
			}
		}
		got := map[string]k8s.KillEvent{}
		for _, line := range strings.Split(strings.TrimSpace(oomkit(t, "events", "-A", "--json", "--kubeconfig", cl.srv.Kubeconfig)), "\n") {
			var ke k8s.KillEvent
			if err := json.Unmarshal([]byte(line), &ke); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if ke.Pod != nil {
				got[*ke.Pod] = ke
			}
		}
		for _, c := range []struct {
			p      *pod
			victim int
			role   string
		}{{web, kWeb.victim, "main"}, {worker, kWorker.victim, "child"}} {
			ke, ok := got[c.p.name]
			if !ok || ke.Schema != k8s.KillEventSchema || deref(ke.Namespace) != ns || deref(ke.Container) != c.p.container || deref(ke.PodUID) != c.p.uid ||
				ke.VictimRole != c.role || ke.VictimPID == nil || *ke.VictimPID != c.victim || deref(ke.Node) != node || ke.Kills != 1 {
				t.Errorf("oomkit events --json for %s: %+v", c.p.name, ke)
			}
		}
	})

	// B: SIGKILL the agent as soon as a kill's Event is written (the
	// store may not have recorded the write yet), kill while it is down,
	// start it again.
	kCron := causeKill(t, cron.m, false)
	cl.waitEvent(t, cron, time.Minute)
	ag.stop(t, syscall.SIGKILL)
	kBatch := causeKill(t, batch.m, false)
	ag = startAgent(t, args...)
	checkEvent(t, cl.waitEvent(t, batch, time.Minute), batch, kBatch.victim, k8s.ReasonOOMKill)
	if k := killOf(ag.kills(t, ""), kCron.victim); k == nil || deref(k.Kubernetes.Pod) != cron.name {
		t.Errorf("the restarted agent lacks the kill in %s", cron.name)
	}

	// C: the API server stops. A kill the running agent sees (its
	// informer still knows the pod); the agent stopped and a new one
	// started while the API server is down (it knows only the cgroup
	// path); a kill it sees; the API server back.
	if err := cl.srv.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	kAPI0 := causeKill(t, api0.m, false)
	waitFor(t, "the kill in api-0 in the agent's API", time.Minute, func() bool {
		k := killOf(ag.kills(t, ""), kAPI0.victim)
		return k != nil && deref(k.Kubernetes.Pod) == api0.name
	})
	if n := ag.metric(t, "oomkit_oom_kills_total", map[string]string{"namespace": ns, "pod": api0.name, "container": "api"}); n != 1 {
		t.Errorf("during the outage: oomkit_oom_kills_total{pod=%s} = %v, want 1", api0.name, n)
	}
	ag.stop(t, syscall.SIGTERM)
	ag = startAgent(t, args...)
	ag.waitLog(t, "the API server has not listed the node's pods yet")
	kAPI1 := causeKill(t, api1.m, true)
	var during *api.Kill
	waitFor(t, "the kill in api-1 in the agent's API", time.Minute, func() bool {
		during = killOf(ag.kills(t, ""), kAPI1.victim)
		return during != nil
	})
	if kb := during.Kubernetes; kb == nil || deref(kb.PodUID) != api1.uid || deref(kb.ContainerID) != api1.containerID || kb.Namespace != nil || kb.Pod != nil {
		b, _ := json.Marshal(during.Kubernetes)
		t.Errorf("a kill while the API server was never reached: kubernetes %s; want the path's pod UID and container ID only", b)
	}
	if n := ag.metric(t, "oomkit_k8s_event_kills_pending", nil); n < 2 {
		t.Errorf("oomkit_k8s_event_kills_pending = %v during the outage, want the two kills", n)
	}
	if err := cl.srv.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	checkEvent(t, cl.waitEvent(t, api0, 3*time.Minute), api0, kAPI0.victim, k8s.ReasonOOMKill)
	checkEvent(t, cl.waitEvent(t, api1, 3*time.Minute), api1, kAPI1.victim, k8s.ReasonOOMKillChild)
	waitFor(t, "the kill in api-1 enriched", time.Minute, func() bool {
		k := killOf(ag.kills(t, ""), kAPI1.victim)
		return k != nil && deref(k.Kubernetes.Pod) == api1.name && deref(k.Kubernetes.Container) == "api" && deref(k.Kubernetes.Namespace) == ns
	})

	// The footprint with a pod informer (docs/deploy.md sizes the
	// DaemonSet from it; the race detector, when on, inflates it).
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ag.cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "VmHWM:") {
				t.Logf("agent with --node-name (race detector %v): %s", raceEnabled, strings.Join(strings.Fields(l), " "))
			}
		}
	}

	// Every pod has exactly one Event: none doubled, none lost.
	evs := cl.events(t, ns)
	for _, p := range []*pod{web, worker, cron, batch, api0, api1} {
		if n := len(evs["Pod/"+p.name]); n != 1 {
			t.Errorf("pod %s has %d Events, want 1", p.name, n)
		}
	}
	if len(evs) != 6 {
		t.Errorf("%d objects with Events in %s, want the 6 pods: %v", len(evs), ns, keys(evs))
	}
}

// oomkit runs the binary and returns its standard output.
func oomkit(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(oomkitBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oomkit %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
