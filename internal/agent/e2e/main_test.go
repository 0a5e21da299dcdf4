// Package e2e runs the real `oomkit agent` — the binary cmd/oomkit builds,
// as its own process — against the real kernel and a real kube-apiserver
// with etcd (internal/apiservertest): real memcg OOM kills in cgroups
// shaped as the kubelet makes them, named after real Pods, must become
// the right Events, labels and API items, across SIGKILLed agents and a
// stopped API server. Its tests are slow and take the machine-wide OOM
// lock, so they live apart from internal/agent's.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// envHog makes the test binary an allocator: it waits for a line on stdin
// (sent once it is in its memcg), then touches MiB after MiB until killed.
// "child" makes it start such an allocator as its child and wait: the
// child is killed, the parent — the container's main process — lives on.
const envHog = "OOMKIT_E2E_HOG"

// oomkitBin is the agent binary, built once by TestMain.
var oomkitBin string

func TestMain(m *testing.M) {
	if v := os.Getenv(envHog); v != "" {
		hog(v)
	}
	dir, err := os.MkdirTemp("", "oomkit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	oomkitBin, err = build(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "build oomkit:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles cmd/oomkit into dir, with the race detector when this
// test binary has it, so the agent process is checked as the tests are.
func build(dir string) (string, error) {
	bin := filepath.Join(dir, "oomkit")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/oomkit/oomkit/cmd/oomkit")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, out.String())
	}
	return bin, nil
}

func hog(spec string) {
	r := bufio.NewReader(os.Stdin)
	if _, err := r.ReadString('\n'); err != nil {
		os.Exit(3)
	}
	if spec == "child" {
		c := exec.Command("/proc/self/exe")
		c.Env = append(os.Environ(), envHog+"=grow")
		c.Stdin = strings.NewReader("go\n")
		if err := c.Start(); err != nil {
			os.Exit(3)
		}
		fmt.Printf("child %d\n", c.Process.Pid)
		_ = c.Wait()
		fmt.Println("child done")
		// Live on, as a container's main process does, until killed.
		_, _ = r.ReadString('\n')
		os.Exit(0)
	}
	for {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		hogKept = append(hogKept, b)
	}
}

// hogKept holds what the hog touched, so none of it is freed.
var hogKept [][]byte

// kill is an OOM kill a test caused in memcg m: its victim's PID.
type kill struct {
	m      *cgroup.Memcg
	victim int
	main   *exec.Cmd // the surviving main process of a child kill
}

// causeKill starts an allocator in m — alone (the container's main process
// dies) or as the child of a main process that survives — and returns once
// the kernel killed it.
func causeKill(t *testing.T, m *cgroup.Memcg, child bool) kill {
	t.Helper()
	spec := "grow"
	if child {
		spec = "child"
	}
	c, out := kerneltest.StartInMemcg(t, m, envHog+"="+spec)
	if !child {
		err := c.Wait()
		if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the allocator in %s ended with %v, want SIGKILL from the OOM killer", m.Path, err)
		}
		return kill{m: m, victim: c.Process.Pid}
	}
	rd := bufio.NewReader(out)
	var victim int
	line, err := rd.ReadString('\n')
	if _, serr := fmt.Sscanf(line, "child %d", &victim); err != nil || serr != nil {
		t.Fatalf("the main process said %q, %v", line, err)
	}
	if line, err := rd.ReadString('\n'); err != nil || line != "child done\n" {
		t.Fatalf("the main process said %q, %v; want its child killed", line, err)
	}
	return kill{m: m, victim: victim, main: c}
}

// agentProc is a running `oomkit agent`.
type agentProc struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent runs `oomkit agent ARGS --listen 127.0.0.1:0 --log-format
// json` and waits until it serves (its log names the address).
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(oomkitBin, append([]string{"agent", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_NAME=")
	p := &agentProc{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = p.logs.Write(append(line, '\n'))
			var l struct{ Msg, Listen string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "agent serving" {
				addr <- l.Listen
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t, syscall.SIGTERM) })
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("the agent exited before serving:\n%s", p.logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the agent did not serve within 2 min:\n%s", p.logs.String())
	}
	return p
}

// stop signals the agent and waits for it to exit.
func (p *agentProc) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("the agent did not stop within 30 s of %v", sig)
	}
}

// waitLog waits until the agent has logged msg.
func (p *agentProc) waitLog(t *testing.T, msg string) {
	t.Helper()
	waitFor(t, "the agent to log "+strconv.Quote(msg), 2*time.Minute, func() bool {
		return strings.Contains(p.logs.String(), `"msg":"`+msg)
	})
}

// kills reads the agent's API.
func (p *agentProc) kills(t *testing.T, query string) []api.Kill {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/events?limit=10000" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/v1/events: %s: %s", resp.Status, b)
	}
	var out []api.Kill
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var k api.Kill
		if err := dec.Decode(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// killOf finds the agent's kill of victim pid, nil if none.
func killOf(kills []api.Kill, pid int) *api.Kill {
	for i := range kills {
		for _, v := range kills[i].Victims {
			if v.PID == pid {
				return &kills[i]
			}
		}
	}
	return nil
}

// metric sums the samples of a metric family whose labels include want.
func (p *agentProc) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == k && l.GetValue() == v
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		}
	}
	return sum
}

// waitFor polls cond until it holds or d passes (a guard: the test fails).
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
