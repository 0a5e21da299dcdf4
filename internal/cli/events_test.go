package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/apiservertest"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// hogEnv makes the test binary an allocator for TestEventsRealOOM: MiB to
// touch, 0 for "until killed". It waits for a line on stdin first (the
// test moves it into its cgroup meanwhile).
const hogEnv = "OOMKIT_EVENTS_HOG"

// TestEventsHelperProcess is the allocator when hogEnv is set, and
// nothing otherwise.
func TestEventsHelperProcess(t *testing.T) {
	spec := os.Getenv(hogEnv)
	if spec == "" {
		return
	}
	mib, _ := strconv.Atoi(spec)
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(3)
	}
	for i := 0; mib == 0 || i < mib; i++ {
		b, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			os.Exit(3)
		}
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
	}
	fmt.Println("ready")
	_, _ = in.ReadString('\n')
	os.Exit(0)
}

// startHog starts an allocator of mib MiB (0: until killed) in m.
func startHog(t *testing.T, m *cgroup.Memcg, mib int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEventsHelperProcess$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", hogEnv, mib))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if mib > 0 {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("holder %d: %q, %v", cmd.Process.Pid, line, err)
		}
	}
	return cmd
}

func hexID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// podManifest is a Burstable pod bound to node with one container.
func podManifest(ns, name, node, container string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":%q},
"spec":{"nodeName":%q,"containers":[{"name":%q,"image":"registry.invalid/app:1",
"resources":{"requests":{"memory":"32Mi"},"limits":{"memory":"128Mi"}}}]}}`, name, ns, node, container)
}

// kubePod is a pod of TestEventsRealOOM: its cgroup and what the kernel
// did in it.
type kubePod struct {
	name, container, uid, containerID string
	memcg                             *cgroup.Memcg
	victim                            int
	role                              k8s.Role
}

// TestEventsRealOOM is the whole path on the real kernel and a real API
// server: Pods created in the API server; memory cgroups whose paths carry
// their UIDs and container IDs (the kubelet's cgroupfs shape, under this
// test's own memcg); real OOM kills in them — the main process of one
// container, a child of the other — while the API server is down; the
// kernel's reports read from /dev/kmsg and explained; the Events written
// once the API server is back; kubectl describe pod and oomkit events show
// them; a restarted publisher fed the same kills writes nothing more.
func TestEventsRealOOM(t *testing.T) {
	srv := apiservertest.New(t)
	layout, _ := kerneltest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns, node = "shop", "oomkit-test-node"
	kubectl := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, srv.Bin.Kubectl, append([]string{"--kubeconfig=" + srv.Kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	kubectl("", "create", "namespace", ns)
	pods := []*kubePod{
		{name: "web-0", container: "app", role: k8s.RoleMain},
		{name: "worker-0", container: "main", role: k8s.RoleChild},
	}
	// <own memcg>/oomkit-test-…/kubepods/burstable/pod<UID>/<container ID>,
	// the kubelet's cgroupfs layout under a prefix.
	tier := kerneltest.NewMemcg(t, 0)
	for _, name := range []string{"kubepods", "burstable"} {
		c, err := tier.Child(layout, name)
		if err != nil {
			t.Fatal(err)
		}
		tier = c
	}
	for _, p := range pods {
		kubectl(podManifest(ns, p.name, node, p.container), "create", "-f", "-")
		p.uid = kubectl("", "get", "pod", p.name, "-n", ns, "-o", "jsonpath={.metadata.uid}")
		p.containerID = hexID(32)
		status := fmt.Sprintf(`{"status":{"phase":"Running","containerStatuses":[{"name":%q,"containerID":"containerd://%s",
"image":"registry.invalid/app:1","imageID":"registry.invalid/app@sha256:%s","ready":true,"restartCount":0,
"state":{"running":{"startedAt":"2026-01-01T00:00:00Z"}}}]}}`, p.container, p.containerID, strings.Repeat("0", 64))
		kubectl("", "patch", "pod", p.name, "-n", ns, "--subresource=status", "--type=merge", "-p", status)
		m := tier
		for _, name := range []string{"pod" + p.uid, p.containerID} {
			c, err := m.Child(layout, name)
			if err != nil {
				t.Fatal(err)
			}
			m = c
		}
		if err := m.SetLimit(128 << 20); err != nil {
			t.Fatal(err)
		}
		p.memcg = m
	}

	client, _, err := k8s.NewClient(k8s.ClientOptions{Kubeconfig: srv.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	res, err := k8s.NewResolver(client, node, k8s.ResolverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go res.Run(runCtx)
	if err := res.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	start := func() (*k8s.Publisher, context.CancelFunc) {
		p, err := k8s.NewPublisher(client, res, k8s.PublisherOptions{Node: node, RetryMin: 100 * time.Millisecond, RetryMax: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(runCtx)
		done := make(chan struct{})
		go func() { _ = p.Run(pctx); close(done) }()
		return p, func() { stop(); <-done }
	}
	pub, stopPub := start()

	// The kills, with the API server down.
	if err := srv.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	kerneltest.SerializeOOM(t)
	rd, err := kmsg.Open(kmsg.DefaultPath, true)
	if err != nil {
		kerneltest.Skip(t, err.Error())
	}
	defer rd.Close()
	if err := rd.SeekEnd(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.role == k8s.RoleChild {
			startHog(t, p.memcg, 2) // the container's main process, which survives
		}
		hog := startHog(t, p.memcg, 0)
		werr := hog.Wait()
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%s: the allocator ended with %v, want SIGKILL from the OOM killer", p.name, werr)
		}
		p.victim = hog.Process.Pid
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	reports := readOOMReports(t, rd, len(pods))
	for _, p := range pods {
		var rep *oomlog.Report
		for _, r := range reports {
			if r.OOMMemcg == p.memcg.Path {
				rep = r
			}
		}
		if rep == nil {
			t.Fatalf("no kernel report for %s among %d", p.memcg.Path, len(reports))
		}
		e := explain.Explain(rep, explain.Options{File: kmsg.DefaultPath})
		// Main or child, as an agent tells: does the container still have
		// processes after the kill?
		left, err := p.memcg.PIDs()
		if err != nil {
			t.Fatal(err)
		}
		role := k8s.RoleMain
		if len(left) > 0 {
			role = k8s.RoleChild
		}
		if role != p.role {
			t.Errorf("%s: %d processes left after the kill, so %s; the test set up %s", p.name, len(left), role, p.role)
		}
		id := strings.TrimSpace(string(boot)) + ":" + strconv.FormatUint(*e.KmsgSeq, 10)
		if !pub.Publish(k8s.KillFromEvent(id, time.Now(), &e, role)) {
			t.Fatalf("Publish refused the kill in %s", p.name)
		}
	}
	waitUntil(t, "a failed write while the API server is down", func() bool { return pub.Stats().Retries > 0 })
	if st := pub.Stats(); st.Written != 0 || st.PendingKills != 2 {
		t.Fatalf("publisher while the API server is down: %+v", st)
	}
	if err := srv.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	// kubectl describe pod, as a user would look.
	for _, p := range pods {
		out := kubectl("", "describe", "pod", p.name, "-n", ns)
		reason := map[k8s.Role]string{k8s.RoleMain: "OOMKill", k8s.RoleChild: "OOMKillChild"}[p.role]
		want := fmt.Sprintf("Warning  %s ", reason)
		if !strings.Contains(out, want) || !strings.Contains(out, "oomkit.io/agent") ||
			!strings.Contains(out, fmt.Sprintf("spec.containers{%s}: OOM kill of", p.container)) ||
			!strings.Contains(out, fmt.Sprintf("(pid %d)", p.victim)) {
			t.Errorf("kubectl describe pod %s lacks the %s Event for pid %d in container %s:\n%s", p.name, reason, p.victim, p.container, out)
		}
		if _, events, ok := strings.Cut(out, "\nEvents:"); ok {
			t.Logf("kubectl describe pod %s … Events:%s", p.name, events)
		}
	}

	// oomkit events, in text and JSON.
	var out, errOut bytes.Buffer
	if code := Main([]string{"events", "-n", ns, "--kubeconfig", srv.Kubeconfig}, nil, &out, &errOut); code != 0 {
		t.Fatalf("oomkit events: exit %d: %s", code, errOut.String())
	}
	t.Logf("oomkit events -n %s:\n%s", ns, out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "LAST SEEN") {
		t.Fatalf("oomkit events printed:\n%s", out.String())
	}
	for i, p := range pods {
		fields := strings.Fields(lines[i+1])
		if len(fields) < 6 || fields[1] != "pod/"+p.name || fields[2] != p.container || fields[3] != node || fields[4] != string(p.role) || fields[5] != "1" {
			t.Errorf("row for %s: %q", p.name, lines[i+1])
		}
	}
	out.Reset()
	if code := Main([]string{"events", "-A", "--json", "--kubeconfig", srv.Kubeconfig}, nil, &out, &errOut); code != 0 {
		t.Fatalf("oomkit events --json: exit %d: %s", code, errOut.String())
	}
	var got []k8s.KillEvent
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ke k8s.KillEvent
		if err := json.Unmarshal([]byte(line), &ke); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		got = append(got, ke)
	}
	if len(got) != len(pods) {
		t.Fatalf("oomkit events -A --json: %d lines, want %d:\n%s", len(got), len(pods), out.String())
	}
	for i, p := range pods {
		ke := got[i]
		if ke.Schema != k8s.KillEventSchema || *ke.Pod != p.name || *ke.Container != p.container || *ke.PodUID != p.uid ||
			ke.VictimRole != string(p.role) || ke.VictimPID == nil || *ke.VictimPID != p.victim || *ke.Node != node {
			t.Errorf("JSON for %s: %+v", p.name, ke)
		}
	}

	// An agent restart: a new publisher, the same kills again.
	stopPub()
	pub2, stopPub2 := start()
	defer stopPub2()
	for _, p := range pods {
		for _, r := range reports {
			if r.OOMMemcg == p.memcg.Path {
				e := explain.Explain(r, explain.Options{File: kmsg.DefaultPath})
				id := strings.TrimSpace(string(boot)) + ":" + strconv.FormatUint(*e.KmsgSeq, 10)
				pub2.Publish(k8s.KillFromEvent(id, time.Now(), &e, p.role))
			}
		}
	}
	if err := pub2.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	n := strings.Count(kubectl("", "get", "events", "-n", ns, "--field-selector", "reportingComponent=oomkit.io/agent", "-o", "name"), "\n")
	if n != len(pods) || pub2.Stats().Written != 0 {
		t.Errorf("after the restart: %d Events (want %d), stats %+v", n, len(pods), pub2.Stats())
	}
}

// readOOMReports reads /dev/kmsg until n OOM reports are complete (the
// kernel prints them at once; 30 s bounds a broken kernel log).
func readOOMReports(t *testing.T, rd *kmsg.Reader, n int) []*oomlog.Report {
	t.Helper()
	asm := oomlog.NewAssembler(oomlog.Options{})
	var reps []*oomlog.Report
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		rec, err := rd.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			// Quiet: a report still open ends with the silence.
			reps = append(reps, asm.Flush()...)
			if len(reps) >= n {
				break
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		seq, up := rec.Seq, float64(rec.Usec)/1e6
		reps = append(reps, asm.Feed(oomlog.Record{Text: rec.Text, Stamp: oomlog.Stamp{Seq: &seq, Uptime: &up, Caller: rec.Caller}, HasStamp: true})...)
	}
	return append(reps, asm.Flush()...)
}

// waitUntil polls cond every 20 ms for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEventsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"events", "-A", "-n", "shop"},
		{"events", "--since", "-1h"},
		{"events", "--since", "yesterday"},
		{"events", "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, nil, &out, &errOut); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errOut.String())
		}
		if strings.Count(errOut.String(), "\n") != 1 || !strings.HasPrefix(errOut.String(), "oomkit: ") {
			t.Errorf("%v: want one line of error, got %q", args, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"events", "--kubeconfig", "/nonexistent/kubeconfig"}, nil, &out, &errOut); code != ExitError || !strings.Contains(errOut.String(), "/nonexistent/kubeconfig") {
		t.Errorf("missing kubeconfig: exit %d, %q", code, errOut.String())
	}
}
