package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
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

// Helper processes: the test binary run again with one of these set.
const (
	// envHog makes a process that waits for a line on stdin (sent once
	// it is in its memcg), then touches MiB after MiB until killed. Its
	// value is "MiB[:ms]" (ms: a pause before each MiB) or "child,MiB":
	// then it starts a hog child and waits (the child is the bigger one
	// and is killed, the parent lives).
	envHog = "OOMKIT_AGENTTEST_HOG"
	// envAgent makes the process an agent: its value is a JSON Config
	// (StateDir, Listen, ...); it prints "ready ADDR" and runs until
	// SIGTERM.
	envAgent = "OOMKIT_AGENTTEST_AGENT"
)

func TestMain(m *testing.M) {
	if v := os.Getenv(envHog); v != "" {
		hog(v)
	}
	if v := os.Getenv(envAgent); v != "" {
		os.Exit(agentMain(v))
	}
	os.Exit(m.Run())
}

func hog(spec string) {
	r := bufio.NewReader(os.Stdin)
	if _, err := r.ReadString('\n'); err != nil {
		os.Exit(3)
	}
	if mib, ok := strings.CutPrefix(spec, "child,"); ok {
		c := exec.Command("/proc/self/exe")
		c.Env = append(os.Environ(), envHog+"="+mib)
		c.Stdin = strings.NewReader("go\n")
		c.Stdout = os.Stdout
		if err := c.Start(); err != nil {
			os.Exit(3)
		}
		fmt.Printf("child %d\n", c.Process.Pid)
		_ = c.Wait()
		fmt.Println("child done")
		time.Sleep(time.Hour) // until the test kills the parent
	}
	mibText, pace, _ := strings.Cut(spec, ":")
	mib, _ := strconv.Atoi(mibText)
	ms, _ := strconv.Atoi(pace)
	var keep [][]byte
	for i := 0; i < mib; i++ {
		if ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond) // a steady leak, to plot
		}
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println("survived", len(keep))
	os.Exit(4)
}

// agentMain runs an agent configured by JSON until SIGTERM/SIGINT.
func agentMain(conf string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(conf), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Ready = func(addr string) { fmt.Printf("ready %s\n", addr) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if p := os.Getenv("OOMKIT_AGENTTEST_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		runtime.SetCPUProfileRate(2000)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	return 0
}

// testAgent is an agent a test runs in its own process.
type testAgent struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// startAgent runs an agent in this process on a loopback port.
func startAgent(t testing.TB, cfg Config) *testAgent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	cfg.Listener = ln
	ta := &testAgent{url: "http://" + ln.Addr().String(), done: make(chan error, 1), logs: &syncBuffer{}}
	cfg.Log = slog.New(slog.NewTextHandler(io.MultiWriter(ta.logs, testLog{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ready := make(chan struct{})
	cfg.Ready = func(string) { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel = cancel
	go func() { ta.done <- Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-ta.done:
		t.Fatalf("agent did not start: %v", err)
	}
	t.Cleanup(func() { ta.stop(t) })
	return ta
}

// stop stops the agent and waits for it.
func (ta *testAgent) stop(t testing.TB) {
	if ta.cancel == nil {
		return
	}
	ta.cancel()
	ta.cancel = nil
	if err := <-ta.done; err != nil {
		t.Errorf("agent: %v", err)
	}
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// kills fetches the API's kills (all of them, with query q).
func (ta *testAgent) kills(t testing.TB, q string) []api.Kill {
	t.Helper()
	return fetchKills(t, ta.url, q)
}

func fetchKills(t testing.TB, url, q string) []api.Kill {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/events?limit=10000" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET events: %s: %s", resp.Status, b)
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

// inCgroup keeps the kills whose cgroup is p.
func inCgroup(kills []api.Kill, p string) []api.Kill {
	var out []api.Kill
	for _, k := range kills {
		if k.Cgroup != nil && *k.Cgroup == p {
			out = append(out, k)
		}
	}
	return out
}

// metricSum adds the samples of a metric family whose labels include want.
func metricSum(t testing.TB, url, name string, want map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	// The deadline only catches a hang: a loaded machine (CI shares its
	// cores; -race is 5-10x slower) must not fail a test that would pass.
	d = max(d, waitFloor)
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFloor is the shortest time waitFor waits before it calls a
// condition hung.
const waitFloor = 2 * time.Minute

// waitSampled waits until the agent samples memcg p (its limit is in the
// metrics), so a kill has history before it.
func waitSampled(t testing.TB, url, p string) {
	t.Helper()
	waitFor(t, "the agent to sample "+p, 30*time.Second, func() bool {
		return metricSum(t, url, "oomkit_cgroup_memory_limit_bytes", map[string]string{"cgroup": p}) > 0
	})
}

// startHog starts a hog in memcg m and releases it; it returns the
// command (Wait for it) and the PID of the process that will be killed.
func startHog(t testing.TB, m *cgroup.Memcg, spec string) (*exec.Cmd, int) {
	t.Helper()
	c, out := kerneltest.StartInMemcg(t, m, envHog+"="+spec)
	victim := c.Process.Pid
	if strings.HasPrefix(spec, "child,") {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("hog: %v", err)
		}
		if _, err := fmt.Sscanf(line, "child %d", &victim); err != nil {
			t.Fatalf("hog said %q", line)
		}
	} else {
		go func() { _, _ = io.Copy(io.Discard, out) }()
	}
	return c, victim
}

// oomKills reads a v1 memcg's oom_kill counter: the kernel's count, the
// independent source the agent is checked against.
func oomKills(t testing.TB, m *cgroup.Memcg) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.Dir, "memory.oom_control"))
	if err != nil {
		t.Fatal(err)
	}
	n, found, err := keyValue(b, "oom_kill")
	if err != nil || !found {
		t.Fatalf("memory.oom_control: %q", b)
	}
	return n
}
