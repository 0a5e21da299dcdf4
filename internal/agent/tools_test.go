package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tool finds a program the test needs; missing is a skip (a failure under
// OOMKIT_REQUIRE_KERNEL_TESTS=1, where .ci/run installs it).
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		kerneltest.Skip(t, name+" is not installed (apt-get install prometheus chromium)")
	}
	return p
}

// checkPrometheus starts a real Prometheus on loopback that scrapes the
// agent every second, and waits until its query API returns the agent's
// own count of kills.
func checkPrometheus(t *testing.T, agentURL string) {
	bin := tool(t, "prometheus")
	dir := t.TempDir()
	target := strings.TrimPrefix(agentURL, "http://")
	conf := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: oomkit\n  static_configs: [{targets: ['%s']}]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	want := metricSum(t, agentURL, "oomkit_oom_kills_total", nil)
	query := base + "/api/v1/query?query=" + url.QueryEscape("sum(oomkit_oom_kills_total)")
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(query)
		if err == nil {
			b := make([]byte, 4096)
			n, _ := resp.Body.Read(b)
			resp.Body.Close()
			last = string(b[:n])
			// {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[t,"N"]}]}}
			if i := strings.LastIndex(last, `,"`); i >= 0 {
				v := strings.TrimSuffix(strings.TrimSuffix(last[i+2:], `"]}]}}`), "\n")
				if f, err := strconv.ParseFloat(v, 64); err == nil && f == want {
					t.Logf("Prometheus says sum(oomkit_oom_kills_total) = %v, as the agent does", f)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never returned %v kills; last answer %s\nprometheus log:\n%s", want, last, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkPromtool runs `promtool check metrics` on the agent's /metrics.
func checkPromtool(t *testing.T, agentURL string) {
	bin := tool(t, "promtool")
	body := get(t, agentURL+"/metrics")
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// chromium runs headless Chromium with args and returns its stdout.
func chromium(t *testing.T, args ...string) string {
	bin := tool(t, "chromium")
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}
