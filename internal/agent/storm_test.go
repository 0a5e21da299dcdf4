package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// procAgent is an agent running as a child process (the test binary
// again), so a test can SIGKILL and SIGTERM it.
type procAgent struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan struct{}
}

func startProcAgent(t testing.TB, cfg Config) *procAgent {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), envAgent+"="+string(j))
	p := &procAgent{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		p.kill()
		t.Fatalf("agent did not start: %q %v\n%s", line, err, p.logs.String())
	}
	p.url = "http://" + strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

func (p *procAgent) kill() {
	_ = p.cmd.Process.Kill()
	<-p.doneOrNil()
}

func (p *procAgent) doneOrNil() chan struct{} {
	if p.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// term sends SIGTERM and returns how long the agent took to exit, and its
// exit status.
func (p *procAgent) term(t testing.TB) (time.Duration, int) {
	t.Helper()
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not exit on SIGTERM\n%s", p.logs.String())
	}
	return time.Since(t0), p.cmd.ProcessState.ExitCode()
}

// killStorm kills a small process in memcgs over and over, from workers
// in parallel, until the memcgs' oom_kill counters add up to at least
// total or stop is closed. It returns the kernel's count.
func killStorm(t *testing.T, memcgs []*cgroup.Memcg, total int64, stop <-chan struct{}) int64 {
	var wg sync.WaitGroup
	var done atomic.Bool
	sum := func() int64 {
		var n int64
		for _, m := range memcgs {
			n += oomKills(t, m)
		}
		return n
	}
	for _, m := range memcgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			script := fmt.Sprintf("echo $$ > %s/cgroup.procs && exec tail /dev/zero", m.Dir)
			for !done.Load() {
				// tail buffers its endless line: anonymous memory until the
				// memcg OOM-kills it.
				_ = exec.Command("sh", "-c", script).Run()
			}
		}()
	}
	for {
		select {
		case <-stop:
			done.Store(true)
		default:
		}
		if n := sum(); n >= total || done.Load() {
			done.Store(true)
			wg.Wait()
			return sum()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRealStorm causes more than a thousand real OOM kills in a few
// memcgs while the agent is SIGKILLed, restarted, SIGTERMed and restarted
// in the middle: every kill the kernel counted is a kill in the agent's API
// exactly once, and SIGTERM ends the agent within 5 s, mid-storm too.
func TestRealStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand OOM kills")
	}
	kerneltest.Require(t)
	kerneltest.SerializeOOM(t)
	var memcgs []*cgroup.Memcg
	for i := 0; i < 3; i++ {
		memcgs = append(memcgs, kerneltest.NewMemcg(t, 8<<20))
	}
	state := t.TempDir()
	cfg := Config{StateDir: state, ReportGrace: 2 * time.Second}
	first := startProcAgent(t, cfg)
	waitBaseline(t, first.logs)
	for _, m := range memcgs {
		waitSampled(t, first.url, m.Path)
	}
	t0 := time.Now()
	n := killStorm(t, memcgs, 350, nil)
	first.kill()
	t.Logf("%d kills, then the agent was SIGKILLed", n)
	n = killStorm(t, memcgs, n+150, nil)
	t.Logf("%d kills while it was down", n)
	mid := startProcAgent(t, cfg)
	// SIGTERM mid-storm: the agent stops within 5 s however much the
	// kernel logs meanwhile (what it has not handled is read again by the
	// next one), and exits 0.
	total := make(chan int64, 1)
	go func() {
		n := int64(-1) // the storm failed (and said why)
		defer func() { total <- n }()
		n = killStorm(t, memcgs, 1050, nil)
	}()
	for killed := n; killed < n+200 && len(total) == 0; {
		time.Sleep(20 * time.Millisecond)
		killed = 0
		for _, m := range memcgs {
			killed += oomKills(t, m)
		}
	}
	took, code := mid.term(t)
	t.Logf("SIGTERM mid-storm: exit %d after %v", code, took)
	if code != 0 || took > 5*time.Second {
		t.Errorf("SIGTERM mid-storm: exit %d after %v, want 0 within 5 s\n%s", code, took, tail(mid.logs.String(), 2000))
	}
	second := startProcAgent(t, cfg)
	if n = <-total; n < 0 {
		t.FailNow()
	}
	t.Logf("%d kills in %v", n, time.Since(t0).Round(time.Second))

	want := map[string]int64{}
	for _, m := range memcgs {
		want[m.Path] = oomKills(t, m)
	}
	count := func(url string) (map[string]int64, map[string]int, []api.Kill) {
		got := map[string]int64{}
		reports := map[string]int{}
		var ours []api.Kill
		for _, k := range fetchKills(t, url, "") {
			if k.Cgroup == nil {
				continue
			}
			if _, ok := want[*k.Cgroup]; ok {
				got[*k.Cgroup] += int64(k.Kills)
				reports[k.Report] += k.Kills
				ours = append(ours, k)
			}
		}
		return got, reports, ours
	}
	equal := func(got map[string]int64) bool {
		for p, n := range want {
			if got[p] != n {
				return false
			}
		}
		return true
	}
	var got map[string]int64
	var reports map[string]int
	var ours []api.Kill
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, reports, ours = count(second.url)
		if equal(got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("kernel: %v\nagent:  %v\nreports: %v", want, got, reports)
	if !equal(got) {
		t.Fatalf("the agent's kills per memcg differ from the kernel's oom_kill counters\nagent log:\n%s", tail(second.logs.String(), 3000))
	}
	// The storm's victims are tail processes: none may be counted in
	// another cgroup (a dying process's /proc/PID/cgroup can already name
	// the root), or without one. Kills before the storm are the ring's
	// history (earlier runs of this test), kept as the kernel logged them.
	for _, k := range fetchKills(t, second.url, "") {
		if k.KilledAt.Before(t0.Add(-time.Second)) {
			continue
		}
		for _, v := range k.Victims {
			if v.Comm == "tail" && (k.Cgroup == nil || want[*k.Cgroup] == 0) {
				t.Errorf("kill %s of tail (pid %d) at %v counted in cgroup %v", k.ID, v.PID, k.KilledAt, k.Cgroup)
			}
		}
	}
	ids := map[string]bool{}
	for _, k := range ours {
		if ids[k.ID] {
			t.Errorf("kill %s twice", k.ID)
		}
		ids[k.ID] = true
		if k.Report == api.ReportMissing && len(k.Victims) == 0 && !strings.Contains(k.ID, "-c") {
			t.Errorf("kill %s: no victim, yet not keyed by its counter", k.ID)
		}
	}
	if reports[api.ReportComplete] == 0 || reports[api.ReportMissing] == 0 {
		t.Errorf("reports %v: want complete ones (the first 10 in each 5 s) and missing ones (the kernel rate-limits the rest)", reports)
	}
	if rl := reports[api.ReportMissing]; rl < len(ours)/2 {
		t.Errorf("only %d of %d kills without a report: the kernel prints at most 10 reports per 5 s", rl, len(ours))
	}

	// The footprint a storm leaves (the DaemonSet's memory limit is sized
	// from it, docs/deploy.md).
	t.Logf("agent after the storm: VmRSS %d KiB, peak VmHWM %d KiB", statusKiB(t, second.cmd.Process.Pid, "VmRSS"), statusKiB(t, second.cmd.Process.Pid, "VmHWM"))
	took, code = second.term(t)
	t.Logf("SIGTERM: exit %d after %v", code, took)
	if code != 0 || took > 5*time.Second {
		t.Errorf("SIGTERM: exit %d after %v, want 0 within 5 s\n%s", code, took, tail(second.logs.String(), 2000))
	}
	// A restart reads the same records and counters again: nothing new.
	third := startProcAgent(t, cfg)
	again, _, _ := count(third.url)
	if !equal(again) {
		t.Errorf("after a restart: %v, want %v", again, want)
	}
	third.term(t)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
