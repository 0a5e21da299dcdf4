// Command scaleharness measures what N agents cost one API server: it
// starts a real etcd + kube-apiserver (internal/apiservertest), creates N
// Nodes with P running pods each, starts N agent processes (this binary
// again, one per node name, each a Resolver and a Publisher of
// internal/agent/k8s), lets them idle, has each publish K kills, and prints
// the API server's and the agents' CPU and memory, the open watches and
// the requests by verb, from /proc and the API server's /metrics.
//
//	go run ./internal/agent/k8s/scaleharness -agents 50 -pods 30 -kills 5
//
// It is the harness for docs/scale.md. With -oomkit PATH the agents are
// the real `oomkit agent` (PATH agent --node-name … --kubeconfig …, ready
// once its informer has listed its node's pods); they idle, and the kill
// phase is left out (their kills would be real OOM kills on this one host,
// seen by all of them). Not a test: 50 agents take more of a machine than
// a test run may.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/apiservertest"
	"github.com/oomkit/oomkit/internal/kube"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(agent(os.Args[2:]))
	}
	agents := flag.Int("agents", 50, "agent processes, one per node")
	pods := flag.Int("pods", 30, "running pods per node")
	kills := flag.Int("kills", 5, "kills each agent publishes")
	idle := flag.Duration("idle", time.Minute, "how long the agents idle before the kills")
	flag.StringVar(&oomkitPath, "oomkit", "", "run the real `oomkit agent` from `PATH` as the agents (idle only)")
	flag.Parse()
	if err := run(*agents, *pods, *kills, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "scaleharness:", err)
		os.Exit(1)
	}
}

func run(agents, pods, kills int, idle time.Duration) error {
	srv, err := apiservertest.Start("")
	if err != nil {
		return err
	}
	defer srv.Stop()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	c, err := k8s.NewClientForConfig(&rest.Config{Host: srv.Host, BearerToken: srv.Token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400})
	if err != nil {
		return err
	}
	fmt.Printf("creating %d nodes × %d pods …\n", agents, pods)
	paths, err := populate(ctx, c, agents, pods)
	if err != nil {
		return err
	}
	apiPID, err := pidOf(srv, "kube-apiserver")
	if err != nil {
		return err
	}
	before := sample(srv, apiPID, nil)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*exec.Cmd
	var pipes []agentPipe
	defer func() {
		// End of stdin ends an agent (it also stops on SIGTERM).
		for _, a := range pipes {
			_ = a.in.Close()
		}
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	start := time.Now()
	if oomkitPath != "" {
		procs, err := startReal(srv, agents)
		defer func() {
			for _, p := range procs {
				_ = p.Process.Signal(syscall.SIGTERM)
				_ = p.Wait()
			}
		}()
		if err != nil {
			return err
		}
		fmt.Printf("%d oomkit agents listed their pods in %s\n", agents, time.Since(start).Round(time.Millisecond))
		synced, idled, err := idleFor(ctx, idle, srv, apiPID, procs)
		if err != nil {
			return err
		}
		report("start → synced", before, synced, agents)
		report(fmt.Sprintf("idle %s", idle), synced, idled, agents)
		return nil
	}
	for i := range agents {
		node := nodeName(i)
		cmd := exec.Command(self, "agent", "-kubeconfig", srv.Kubeconfig, "-node", node, "-kills", strconv.Itoa(kills), "-paths", strings.Join(paths[node], ","))
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		pipes = append(pipes, agentPipe{in: in, out: bufio.NewReader(out)})
	}
	for i, a := range pipes {
		if line, _ := a.out.ReadString('\n'); line != "synced\n" {
			return fmt.Errorf("agent for %s did not sync (%q)", nodeName(i), line)
		}
	}
	fmt.Printf("%d agents synced in %s\n", agents, time.Since(start).Round(time.Millisecond))
	synced, idled, err := idleFor(ctx, idle, srv, apiPID, procs)
	if err != nil {
		return err
	}
	start = time.Now()
	for _, a := range pipes {
		fmt.Fprintln(a.in, "kill")
	}
	for _, a := range pipes {
		if line, _ := a.out.ReadString('\n'); line != "published\n" {
			return fmt.Errorf("an agent answered %q", line)
		}
	}
	fmt.Printf("%d kills published by %d agents in %s\n", agents*kills, agents, time.Since(start).Round(time.Millisecond))
	killed := sample(srv, apiPID, procs)

	report("start → synced", before, synced, agents)
	report(fmt.Sprintf("idle %s", idle), synced, idled, agents)
	report(fmt.Sprintf("%d kills", agents*kills), idled, killed, agents)
	return nil
}

// idleFor samples, lets the agents idle for d, and samples again.
func idleFor(ctx context.Context, d time.Duration, srv *apiservertest.Server, apiPID int, procs []*exec.Cmd) (synced, idled usage, err error) {
	synced = sample(srv, apiPID, procs)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return synced, synced, ctx.Err()
	}
	return synced, sample(srv, apiPID, procs), nil
}

// oomkitPath is -oomkit: the real agent binary.
var oomkitPath string

// startReal starts the real `oomkit agent`, one per node, each with its own
// state directory and port, and waits until each has listed its pods. The
// kernel log is not read (--kmsg names no file): 50 agents on one host would
// each explain the whole ring at their first start, which is this host's
// cost, not the API server's.
func startReal(srv *apiservertest.Server, agents int) ([]*exec.Cmd, error) {
	var procs []*exec.Cmd
	ready := make(chan error, agents)
	for i := range agents {
		node := nodeName(i)
		cmd := exec.Command(oomkitPath, "agent", "--node-name", node, "--kubeconfig", srv.Kubeconfig,
			"--state-dir", filepath.Join(srv.Dir, "agents", node), "--listen", "127.0.0.1:0", "--log-format", "json",
			"--kmsg", filepath.Join(srv.Dir, "no-kmsg"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return procs, err
		}
		if err := cmd.Start(); err != nil {
			return procs, err
		}
		procs = append(procs, cmd)
		go func() {
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			said := false
			for sc.Scan() {
				if !said && strings.Contains(sc.Text(), "the pod informer has listed the node's pods") {
					said = true
					ready <- nil
				}
			}
			if !said {
				ready <- fmt.Errorf("the agent for %s exited before listing its pods", node)
			}
		}()
	}
	for range agents {
		if err := <-ready; err != nil {
			return procs, err
		}
	}
	return procs, nil
}

type agentPipe struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func nodeName(i int) string { return fmt.Sprintf("scale-node-%03d", i) }

// populate creates the nodes and their running pods, each with a container
// ID in its status, and returns each node's container cgroup paths.
func populate(ctx context.Context, c *k8s.Client, nodes, pods int) (map[string][]string, error) {
	if _, err := c.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scale"}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	paths := map[string][]string{}
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var firstErr error
	for i := range nodes {
		node := nodeName(i)
		if _, err := c.Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		for j := range pods {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				id := fmt.Sprintf("%064x", i*100000+j)
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-pod-%03d", node, j), Namespace: "scale"},
					Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1",
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
						}}}},
				}
				p, err := c.Pods("scale").Create(ctx, pod, metav1.CreateOptions{})
				if err == nil {
					p.Status.Phase = corev1.PodRunning
					p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "registry.invalid/app:1", ImageID: "registry.invalid/app@sha256:" + strings.Repeat("0", 64),
						ContainerID: "containerd://" + id, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
					_, err = c.Pods("scale").UpdateStatus(ctx, p, metav1.UpdateOptions{})
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					paths[node] = append(paths[node], kube.ContainerCgroupPath(kube.DriverSystemd, kube.RuntimeContainerd, kube.QOSBurstable, string(p.UID), id))
				}
			}()
		}
	}
	wg.Wait()
	return paths, firstErr
}

// agent is one agent process: sync, say "synced", and on each "kill" line
// publish its kills and say "published" once they are written.
func agent(args []string) int {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "")
	node := fs.String("node", "", "")
	kills := fs.Int("kills", 1, "")
	paths := fs.String("paths", "", "")
	_ = fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	client, _, err := k8s.NewClient(k8s.ClientOptions{Kubeconfig: *kubeconfig})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res, err := k8s.NewResolver(client, *node, k8s.ResolverOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go res.Run(ctx)
	if err := res.WaitForSync(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pub, err := k8s.NewPublisher(client, res, k8s.PublisherOptions{Node: *node})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = pub.Run(ctx) }()
	fmt.Println("synced")
	ps := strings.Split(*paths, ",")
	lines := make(chan struct{})
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			lines <- struct{}{}
		}
		cancel()
	}()
	round := 0
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-lines:
		}
		for i := range *kills {
			n := round**kills + i
			pub.Publish(k8s.Kill{ID: fmt.Sprintf("%s:%d", *node, n), Time: time.Now(), CgroupPath: ps[n%len(ps)], VictimPID: 1000 + n, VictimComm: "app", Role: k8s.RoleChild, Report: "complete"})
		}
		round++
		if err := pub.WaitIdle(ctx); err != nil {
			return 1
		}
		fmt.Println("published")
	}
}

// usage is a point-in-time reading: CPU seconds and RSS of the API server
// and the agents, and the API server's metrics of interest.
type usage struct {
	at               time.Time
	apiCPU, agentCPU float64 // seconds
	apiRSS, agentRSS int64   // bytes (agents: the sum)
	watches          float64
	requests         map[string]float64 // "VERB resource"
	maxAgentRSS      int64
}

func sample(srv *apiservertest.Server, apiPID int, agents []*exec.Cmd) usage {
	u := usage{at: time.Now(), requests: map[string]float64{}}
	u.apiCPU, u.apiRSS = procUsage(apiPID)
	for _, a := range agents {
		cpu, rss := procUsage(a.Process.Pid)
		u.agentCPU += cpu
		u.agentRSS += rss
		u.maxAgentRSS = max(u.maxAgentRSS, rss)
	}
	metrics(srv, &u)
	return u
}

// procUsage reads utime+stime and VmRSS of pid.
func procUsage(pid int) (float64, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	var rss int64
	if s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(s), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
	}
	return (ut + st) / 100, rss // USER_HZ is 100 on Linux
}

// metrics reads the open WATCHes and the request counts from /metrics.
func metrics(srv *apiservertest.Server, u *usage) {
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodGet, srv.Host+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := cl.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "apiserver_longrunning_requests{") && strings.Contains(line, `verb="WATCH"`):
			u.watches += value(line)
		case strings.HasPrefix(line, "apiserver_request_total{") && label(line, "resource") != "":
			// Completed requests; a WATCH counts when it ends.
			u.requests[label(line, "verb")+" "+label(line, "resource")] += value(line)
		}
	}
}

func value(line string) float64 {
	f := strings.Fields(line)
	v, _ := strconv.ParseFloat(f[len(f)-1], 64)
	return v
}

func label(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

func pidOf(srv *apiservertest.Server, name string) (int, error) {
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if strings.HasSuffix(strings.SplitN(string(b), "\x00", 2)[0], "/"+name) && strings.Contains(string(b), srv.Dir) {
			return strconv.Atoi(strings.Split(m, "/")[2])
		}
	}
	return 0, fmt.Errorf("no %s process of %s", name, srv.Dir)
}

func report(phase string, a, b usage, agents int) {
	d := b.at.Sub(a.at).Seconds()
	fmt.Printf("\n== %s (%.1f s)\n", phase, d)
	fmt.Printf("kube-apiserver: %.1f mCPU average, RSS %d MiB; open WATCHes %.0f (%+.0f)\n", 1000*(b.apiCPU-a.apiCPU)/d, b.apiRSS>>20, b.watches, b.watches-a.watches)
	if agents > 0 && b.agentRSS > 0 {
		fmt.Printf("agents: %.2f mCPU average each, RSS %d MiB each on average (max %d MiB)\n",
			1000*(b.agentCPU-a.agentCPU)/d/float64(agents), b.agentRSS/int64(agents)>>20, b.maxAgentRSS>>20)
	}
	var keys []string
	for k, v := range b.requests {
		if v-a.requests[k] > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %-32s %6.0f\n", k, b.requests[k]-a.requests[k])
	}
}
