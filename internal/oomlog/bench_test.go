package oomlog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time this OS thread has used. On a shared machine
// wall-clock ns/op swing with other processes' load; the thread's own CPU
// time per line does not, so the line benchmarks report both.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perLine runs body under b.Loop on a locked thread and reports wall and
// CPU nanoseconds per line.
func perLine(b *testing.B, lines int, body func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	for b.Loop() {
		body()
	}
	n := float64(b.N * lines)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
	b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/n, "cpu-ns/line")
}

// perOp is perLine for one operation per iteration: it adds cpu-ns/op.
func perOp(b *testing.B, body func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// summaryLine is a 5.x memcg summary line of the length real Kubernetes
// nodes print (~500 bytes, the size anchors.md measured other parsers on).
const summaryLine = "Jan 16 21:33:51 aks-agentpool-20086390-vmss00003K kernel: [ 8334.895407] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=f038675297418b6357e95ea8ef45ee868cc97de6567a95dffa2a35d29db172bf,mems_allowed=0,oom_memcg=/kubepods/burstable/pod3b5e63f1-b571-407f-be00-461ed99e968f,task_memcg=/kubepods/burstable/pod3b5e63f1-b571-407f-be00-461ed99e968f/f038675297418b6357e95ea8ef45ee868cc97de6567a95dffa2a35d29db172bf,task=dotnet,pid=14300,uid=0\n"

// naiveSummary is the baseline: one regular expression with (.*) groups, the
// way a first parser would read the summary line.
var naiveSummary = regexp.MustCompile(`oom-kill:constraint=(.*),nodemask=(.*),cpuset=(.*),mems_allowed=(.*),oom_memcg=(.*),task_memcg=(.*),task=(.*),pid=(.*),uid=(.*)`)

func BenchmarkSummaryLine(b *testing.B) {
	body := summaryLine[strings.Index(summaryLine, "oom-kill:") : len(summaryLine)-1]
	b.Run("parseSummary", func(b *testing.B) {
		b.ReportAllocs()
		var r Report
		var t Trigger
		perOp(b, func() {
			if ok, _ := parseSummary(body, &r, &t); !ok {
				b.Fatal("no parse")
			}
		})
	})
	b.Run("assembler", func(b *testing.B) {
		// The whole path: prefix, classify, parse, a header-less report.
		b.ReportAllocs()
		a := NewAssembler(Options{})
		perOp(b, func() {
			a.feedRaw(summaryLine, 1)
			for len(a.open) > 0 {
				a.finish(a.open[0])
			}
			a.expire()
			a.out = a.out[:0]
		})
	})
	b.Run("baseline-regexp", func(b *testing.B) {
		b.ReportAllocs()
		perOp(b, func() {
			if naiveSummary.FindStringSubmatch(body) == nil {
				b.Fatal("no match")
			}
		})
	})
}

// unrelatedLog is a syslog of lines that are not OOM reports: daemons,
// kernel network and storage messages, the kind a busy node writes.
func unrelatedLog(n int) []byte {
	templates := []string{
		"Jan 16 21:33:%02d node-1 systemd[1]: Started Session %d of User root.\n",
		"Jan 16 21:33:%02d node-1 kubelet[2211]: I0116 21:33:51.123456    2211 kubelet.go:2%03d] \"SyncLoop (PLEG): event for pod\" pod=\"default/web-6d4cf56db6-abcde\"\n",
		"Jan 16 21:33:%02d node-1 kernel: [ 8334.%06d] IPv6: ADDRCONF(NETDEV_CHANGE): veth1c2d3e4: link becomes ready\n",
		"Jan 16 21:33:%02d node-1 containerd[987]: time=\"2024-01-16T21:33:51.%06dZ\" level=info msg=\"StartContainer for \\\"abc\\\" returns successfully\"\n",
		"Jan 16 21:33:%02d node-1 CRON[%d]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)\n",
		"Jan 16 21:33:%02d node-1 kernel: [ 8334.%06d] cni0: port 3(veth8a9b0c1d) entered forwarding state\n",
		"Jan 16 21:33:%02d node-1 sshd[%d]: Accepted publickey for azureuser from 10.0.0.4 port 52311 ssh2: RSA SHA256:abcdef\n",
		"Jan 16 21:33:%02d node-1 kernel: [ 8334.%06d] EXT4-fs (sda1): re-mounted. Opts: discard\n",
	}
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, templates[i%len(templates)], i%60, i)
	}
	return b.Bytes()
}

func BenchmarkUnrelatedLine(b *testing.B) {
	const n = 100000
	data := unrelatedLog(n)
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		perLine(b, n, func() {
			s := NewScanner(bytes.NewReader(data), Options{})
			for s.Scan() {
				b.Fatal("found a report in unrelated lines")
			}
		})
	})
	lines := bytes.SplitAfter(data, []byte("\n"))
	views := strings.SplitAfter(string(data), "\n")
	b.Run("prefilter", func(b *testing.B) {
		// The per-line decision alone, lines already split.
		perLine(b, len(views), func() {
			for _, l := range views {
				if mayStart(l) {
					b.Fatal("prefilter passed an unrelated line")
				}
			}
		})
	})
	b.Run("baseline-contains", func(b *testing.B) {
		// One bytes.Contains per line, lines already split.
		perLine(b, len(lines), func() {
			for _, l := range lines {
				if bytes.Contains(l, []byte("oom-kill")) {
					b.Fatal("match")
				}
			}
		})
	})
	b.Run("baseline-grep", func(b *testing.B) {
		// What grep -c -F oom-kill does: split lines, look for one string.
		b.SetBytes(int64(len(data)))
		perLine(b, n, func() {
			sc := bufio.NewScanner(bytes.NewReader(data))
			c := 0
			for sc.Scan() {
				if bytes.Contains(sc.Bytes(), []byte("oom-kill")) {
					c++
				}
			}
		})
	})
}

// bigReport is a 5.4 memcg report with n task rows.
func bigReport(n int) []byte {
	var b bytes.Buffer
	p := "Jan 16 21:33:51 node-1 kernel: [ 8334.895293] "
	b.WriteString(p + "dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997\n")
	b.WriteString(p + "CPU: 0 PID: 14300 Comm: dotnet Not tainted 5.4.0-1059-azure #62~18.04.1-Ubuntu\n")
	b.WriteString(p + "memory: usage 1048576kB, limit 1048576kB, failcnt 30\n")
	b.WriteString(p + "memory+swap: usage 0kB, limit 9007199254740988kB, failcnt 0\n")
	b.WriteString(p + "Memory cgroup stats for /kubepods/pod3b5e63f1:\n")
	for _, k := range []string{"anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty"} {
		b.WriteString(p + k + " 1068539904\n")
	}
	b.WriteString(p + "Tasks state (memory values in pages):\n")
	b.WriteString(p + "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s[%7d] %5d %5d %8d %8d %8d %8d         %5d %s\n", p, 10000+i, 0, 10000+i, 43026975, 229846+i, 2060288, 0, -997, "dotnet worker")
	}
	b.WriteString(p + "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=f0,mems_allowed=0,oom_memcg=/kubepods/pod3b5e63f1,task_memcg=/kubepods/pod3b5e63f1/f0,task=dotnet,pid=14300,uid=0\n")
	b.WriteString(p + "Memory cgroup out of memory: Killed process 14300 (dotnet) total-vm:172050596kB, anon-rss:148368kB, file-rss:25056kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:-997\n")
	b.WriteString(p + "oom_reaper: reaped process 14300 (dotnet), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n")
	return b.Bytes()
}

func BenchmarkReport(b *testing.B) {
	for _, n := range []int{10, 1000} {
		data := bigReport(n)
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			perOp(b, func() {
				s := NewScanner(bytes.NewReader(data), Options{})
				if !s.Scan() || len(s.Report().Tasks) != n {
					b.Fatal("report not parsed")
				}
			})
		})
	}
	b.Run("corpus", func(b *testing.B) {
		var all []byte
		for _, f := range []string{"001", "002", "003", "004", "005", "006", "007", "008", "009", "010"} {
			d, err := os.ReadFile("testdata/corpus/" + f + ".log")
			if err != nil {
				b.Fatal(err)
			}
			all = append(append(all, d...), '\n')
		}
		b.SetBytes(int64(len(all)))
		perOp(b, func() {
			s := NewScanner(bytes.NewReader(all), Options{})
			for s.Scan() {
			}
		})
	})
}
