package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// BenchmarkKillLatency causes real OOM kills and measures how long after
// the kernel's kill (the kill record's time stamp) the kill is visible in
// both the API and /metrics. Reported: p50 and p99 in ms over b.N kills
// (the kernel rate-limits its reports, so most kills past the first ten
// arrive as a bare kill line: both paths are measured).
func BenchmarkKillLatency(b *testing.B) {
	kerneltest.Require(b)
	kerneltest.SerializeOOM(b)
	ta := startAgent(b, Config{SampleInterval: time.Second})
	waitBaseline(b, ta.logs)
	m := kerneltest.NewMemcg(b, 32<<20)
	waitSampled(b, ta.url, m.Path)
	var lat []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		before := metricSum(b, ta.url, "oomkit_oom_kills_total", nil)
		since := time.Now().UTC().Format(time.RFC3339Nano)
		cmd, victim := startHog(b, m, "128")
		b.StartTimer()
		_ = cmd.Wait()
		var killedAt time.Time
		deadline := time.Now().Add(30 * time.Second)
		for killedAt.IsZero() {
			if time.Now().After(deadline) {
				b.Fatalf("kill %d of pid %d (memcg oom_kill %d) not in the API after 30 s: %+v\n%s", i, victim, oomKills(b, m), fetchKills(b, ta.url, "&since="+since), tail(ta.logs.String(), 2000))
			}
			for _, k := range inCgroup(fetchKills(b, ta.url, "&since="+since), m.Path) {
				killedAt = k.KilledAt
				if os.Getenv("OOMKIT_BENCH_VERBOSE") != "" {
					fmt.Fprintf(os.Stderr, "kill %s report %s seen by %v observed-killed %v now-killed %v\n", k.ID, k.Report, k.SeenBy, k.ObservedAt.Sub(k.KilledAt), time.Since(k.KilledAt))
				}
			}
			if killedAt.IsZero() {
				time.Sleep(time.Millisecond)
			}
		}
		for metricSum(b, ta.url, "oomkit_oom_kills_total", nil) <= before {
			if time.Now().After(deadline) {
				b.Fatalf("kill %d not counted in /metrics after 30 s", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, float64(time.Since(killedAt).Microseconds())/1000)
	}
	b.StopTimer()
	if os.Getenv("OOMKIT_BENCH_VERBOSE") != "" {
		for _, k := range inCgroup(fetchKills(b, ta.url, ""), m.Path) {
			var pids []int
			for _, v := range k.Victims {
				pids = append(pids, v.PID)
			}
			fmt.Fprintf(os.Stderr, "all %s %s %v kills=%d seq=%v seen=%v\n", k.ID, k.Report, pids, k.Kills, k.KmsgSeq, k.SeenBy)
		}
		fmt.Fprintf(os.Stderr, "counter %d\n", oomKills(b, m))
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99-ms")
}

// BenchmarkIdle runs the agent as its own process with many memory cgroups
// and no kills for b.N seconds (-benchtime=60x: a minute), sampling every
// second, and reports its CPU use (utime+stime from /proc/PID/stat) in
// millicores and its resident memory (VmRSS) at the end.
func BenchmarkIdle(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("memcgs=%d", n), func(b *testing.B) {
			kerneltest.Require(b)
			for i := 0; i < n; i++ {
				kerneltest.NewMemcg(b, 64<<20)
			}
			// The first start reads the kernel log's whole ring (and keeps
			// its reports); measure the steady state of a restart.
			cfg := Config{StateDir: b.TempDir()}
			p := startProcAgent(b, cfg)
			last := -1.0
			waitFor(b, "the agent to read the ring", 300*time.Second, func() bool {
				time.Sleep(2 * time.Second) // the store's count holding still says the ring is read
				n := metricSum(b, p.url, "oomkit_store_kills", nil)
				done := n == last
				last = n
				return done
			})
			p.term(b)
			p = startProcAgent(b, cfg)
			waitFor(b, "the agent to sample every memcg", 60*time.Second, func() bool {
				return metricSum(b, p.url, "oomkit_memory_cgroups", nil) >= float64(n)
			})
			pid := p.cmd.Process.Pid
			cpu0, t0 := cpuTicks(b, pid), time.Now()
			b.ResetTimer()
			deadline := t0.Add(time.Duration(b.N) * time.Second)
			for time.Now().Before(deadline) {
				time.Sleep(time.Until(deadline))
			}
			b.StopTimer()
			cpu1, t1 := cpuTicks(b, pid), time.Now()
			rss := rssKiB(b, pid)
			memcgs := metricSum(b, p.url, "oomkit_memory_cgroups", nil)
			p.term(b)
			// USER_HZ is 100 on Linux.
			b.ReportMetric(float64(cpu1-cpu0)*10/t1.Sub(t0).Seconds(), "mCPU")
			b.ReportMetric(float64(rss)/1024, "RSS-MiB")
			b.ReportMetric(memcgs, "memcgs")
		})
	}
}

// cpuTicks is utime+stime of pid in clock ticks (proc(5)).
func cpuTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func rssKiB(b *testing.B, pid int) int64 { return statusKiB(b, pid, "VmRSS") }

// statusKiB is a KiB field of /proc/PID/status (VmRSS, VmHWM).
func statusKiB(tb testing.TB, pid int, field string) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
