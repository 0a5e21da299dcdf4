package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
	"github.com/oomkit/oomkit/internal/agent/store"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// realKill is a kill a test caused and what the kernel says about it.
type realKill struct {
	memcg  *cgroup.Memcg
	victim int
	kind   string // api.VictimMain or api.VictimChild
}

// causeKills kills a main process in one fresh memcg and a child process
// in another, under a running agent, and waits for both to be seen.
func causeKills(t *testing.T, ta *testAgent) []realKill {
	t.Helper()
	kerneltest.SerializeOOM(t)
	mainCg := kerneltest.NewMemcg(t, 64<<20)
	childCg := kerneltest.NewMemcg(t, 64<<20)
	var kills []realKill
	for _, k := range []struct {
		m    *cgroup.Memcg
		spec string
		kind string
	}{{mainCg, "256:15", api.VictimMain}, {childCg, "child,256:5", api.VictimChild}} {
		waitSampled(t, ta.url, k.m.Path)
		cmd, victim := startHog(t, k.m, k.spec)
		if k.kind == api.VictimMain {
			_ = cmd.Wait()
		}
		waitFor(t, "the kernel's oom_kill in "+k.m.Path, 30*time.Second, func() bool { return oomKills(t, k.m) == 1 })
		kills = append(kills, realKill{k.m, victim, k.kind})
	}
	for _, k := range kills {
		waitFor(t, "the kill in "+k.memcg.Path+" in the API", 30*time.Second, func() bool {
			got := inCgroup(ta.kills(t, ""), k.memcg.Path)
			return len(got) == 1 && slices.Contains(got[0].SeenBy, api.SeenCounter)
		})
	}
	return kills
}

// TestRealKillsV1 causes real memcg OOM kills on this host (cgroup v1) and
// checks each appears once, with the right victim and cgroup, in the API,
// the metrics, the store and the page.
func TestRealKillsV1(t *testing.T) {
	kerneltest.Require(t)
	state := t.TempDir()
	ta := startAgent(t, Config{StateDir: state, SampleInterval: 100 * time.Millisecond})
	waitBaseline(t, ta.logs)
	kills := causeKills(t, ta)
	all := ta.kills(t, "")

	t.Run("api", func(t *testing.T) {
		for _, k := range kills {
			got := inCgroup(all, k.memcg.Path)
			if len(got) != 1 {
				t.Fatalf("%d kills in %s, want 1: %+v", len(got), k.memcg.Path, got)
			}
			g := got[0]
			if len(g.Victims) != 1 || g.Victims[0].PID != k.victim {
				t.Errorf("%s: victims %+v, want pid %d", k.memcg.Path, g.Victims, k.victim)
			}
			if g.Victim != k.kind || g.Kills != 1 || g.Report != api.ReportComplete {
				t.Errorf("%s: victim %q kills %d report %q, want %q 1 complete", k.memcg.Path, g.Victim, g.Kills, g.Report, k.kind)
			}
			if g.OOMMemcg == nil || *g.OOMMemcg != k.memcg.Path || g.Constraint() != "memcg" {
				t.Errorf("%s: oom_memcg %v constraint %q", k.memcg.Path, g.OOMMemcg, g.Constraint())
			}
			if !slices.Equal(g.SeenBy, []string{api.SeenKmsg, api.SeenCounter}) {
				t.Errorf("%s: seen by %v", k.memcg.Path, g.SeenBy)
			}
			if g.History == nil || len(g.History.Samples) < 2 || g.History.Cgroup != k.memcg.Path {
				t.Errorf("%s: history %+v (killed at %v, observed at %v)", k.memcg.Path, g.History, g.KilledAt, g.ObservedAt)
			} else if l := g.History.Samples[len(g.History.Samples)-1].LimitBytes; l == nil || *l != 64<<20 {
				t.Errorf("%s: history limit %v, want 64 MiB", k.memcg.Path, l)
			}
			if !strings.HasPrefix(g.ID, strings.Split(g.ID, "-k")[0]) || !strings.Contains(g.ID, "-k") {
				t.Errorf("id %q is not boot-k<seq>", g.ID)
			}
			one, err := http.Get(ta.url + "/api/v1/events/" + g.ID)
			if err != nil || one.StatusCode != 200 {
				t.Errorf("GET one kill: %v %v", err, one.Status)
			} else {
				one.Body.Close()
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		// Every kill this agent holds (it started with an empty store) is
		// counted once. Other tests on this machine may kill meanwhile:
		// compare at a moment the API held still around the scrape.
		sum := func() (n int) {
			for _, k := range ta.kills(t, "") {
				n += k.Kills
			}
			return n
		}
		for i := 0; ; i++ {
			a1 := sum()
			m := metricSum(t, ta.url, "oomkit_oom_kills_total", nil)
			if a2 := sum(); a1 == a2 {
				if int(m) != a1 {
					t.Errorf("oomkit_oom_kills_total = %v, the API holds %d kills", m, a1)
				}
				break
			}
			if i == 20 {
				t.Fatal("the API never held still")
			}
		}
		for _, kind := range []string{api.VictimMain, api.VictimChild} {
			if n := metricSum(t, ta.url, "oomkit_oom_kills_total", map[string]string{"victim": kind, "constraint": "memcg"}); n < 1 {
				t.Errorf("no %s kill counted", kind)
			}
		}
		if n := metricSum(t, ta.url, "oomkit_kernel_oom_kills", nil); n < 2 {
			t.Errorf("oomkit_kernel_oom_kills = %v", n)
		}
	})
	t.Run("page", func(t *testing.T) {
		body := get(t, ta.url+"/")
		for _, k := range kills {
			g := inCgroup(all, k.memcg.Path)[0]
			for _, want := range []string{`id="kill-` + g.ID + `"`, fmt.Sprintf("(pid %d)", k.victim), k.memcg.Path, `class="usage"`} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
		}
	})
	t.Run("prometheus", func(t *testing.T) { checkPrometheus(t, ta.url) })
	t.Run("promtool", func(t *testing.T) { checkPromtool(t, ta.url) })
	t.Run("chromium", func(t *testing.T) {
		// A leak in progress, so the headroom table has a prediction.
		leak := kerneltest.NewMemcg(t, 512<<20)
		waitSampled(t, ta.url, leak.Path)
		startHog(t, leak, "400:60")
		waitFor(t, "a predicted time to OOM for the leak", 60*time.Second, func() bool {
			return metricSum(t, ta.url, "oomkit_cgroup_oom_eta_seconds", map[string]string{"cgroup": leak.Path}) > 0
		})
		dom := chromium(t, "--dump-dom", ta.url+"/")
		for _, k := range kills {
			g := inCgroup(all, k.memcg.Path)[0]
			if !strings.Contains(dom, `id="kill-`+g.ID+`"`) {
				t.Errorf("the DOM lacks the kill %s", g.ID)
			}
		}
		for _, want := range []string{`<polyline class="usage"`, `<polyline class="working-set"`, `<polyline class="limit"`, `id="headroom-table"`, leak.Path} {
			if !strings.Contains(dom, want) {
				t.Errorf("the DOM lacks %q", want)
			}
		}
		shot := filepath.Join(t.TempDir(), "agent-page.png")
		if dir := os.Getenv("OOMKIT_AGENT_SCREENSHOT_DIR"); dir != "" {
			shot = filepath.Join(dir, "agent-page.png")
		}
		chromium(t, "--screenshot="+shot, "--window-size=1100,1500", "--hide-scrollbars", ta.url+"/")
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
			t.Fatalf("screenshot %s: %v", shot, err)
		}
		t.Logf("screenshot: %s", shot)
	})
	ta.stop(t)
	t.Run("store", func(t *testing.T) {
		st, err := store.Open(state, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		stored, err := st.List(store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kills {
			n := 0
			for _, s := range stored {
				if s.Cgroup != nil && *s.Cgroup == k.memcg.Path {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d stored kills in %s, want 1", n, k.memcg.Path)
			}
		}
		if len(stored) != len(all) {
			t.Errorf("%d kills stored, the API served %d", len(stored), len(all))
		}
	})
}

func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

var (
	_ = context.Background
	_ = os.Getpid
	_ = exec.Command
	_ = filepath.Join
)
