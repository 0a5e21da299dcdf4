package explain

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/oomlog"
)

// pipeline is what `oomkit explain --json` does per input: scan, explain,
// write each event's JSON line to a buffered writer. It returns the number
// of events.
func pipeline(r io.Reader, w io.Writer) int {
	bw := bufio.NewWriterSize(w, 64<<10)
	s := oomlog.NewScanner(r, oomlog.Options{})
	n := 0
	var prior []int
	var line []byte
	for s.Scan() {
		e := Explain(s.Report(), Options{File: "bench", PriorVictims: prior})
		if e.Analysis.KernelVictimPID != nil {
			prior = append(prior, *e.Analysis.KernelVictimPID)
			if len(prior) > 256 {
				prior = prior[len(prior)-256:]
			}
		}
		line = append(e.AppendJSON(line[:0]), '\n')
		_, _ = bw.Write(line)
		n++
	}
	bw.Flush()
	return n
}

// BenchmarkExplainReport is the whole pipeline on one real report (the
// article's first twist), and Explain alone on the parsed report.
func BenchmarkExplainReport(b *testing.B) {
	data, err := Sample("twist-1")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scan+explain+json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if pipeline(bytes.NewReader(data), io.Discard) != 1 {
				b.Fatal("want one event")
			}
		}
	})
	s := oomlog.NewScanner(bytes.NewReader(data), oomlog.Options{})
	s.Scan()
	r := s.Report()
	b.Run("explain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Explain(r, Options{})
		}
	})
	big := bigTableReport(b, 1000)
	b.Run("explain-1000-tasks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Explain(big, Options{})
		}
	})
}

// bigTableReport is twist-1 with its table grown to n rows, the size of a
// busy node's global OOM.
func bigTableReport(b *testing.B, n int) *oomlog.Report {
	data, _ := Sample("twist-1")
	s := oomlog.NewScanner(bytes.NewReader(data), oomlog.Options{})
	s.Scan()
	r := *s.Report()
	rows := r.Tasks
	r.Tasks = nil
	for i := 0; i < n; i++ {
		t := rows[i%len(rows)]
		t.PID = 100000 + i
		t.RSSPages += int64(i)
		r.Tasks = append(r.Tasks, t)
	}
	return &r
}

// bigLog writes size bytes of a busy node's syslog (systemd, kernel
// network, containerd, kubelet lines) to w, with the corpus's real reports
// spliced in every `every` bytes (0: none). It returns how many it spliced.
func bigLog(b *testing.B, w io.Writer, size, every int) int {
	b.Helper()
	files, _ := filepath.Glob("testdata/corpus/*.log")
	var reports [][]byte
	for _, f := range files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		reports = append(reports, d)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	written, next, n := 0, every, 0
	for i := 0; written < size; i++ {
		var k int
		switch i % 4 {
		case 0:
			k, _ = fmt.Fprintf(bw, "Jan 16 21:%02d:%02d node-1 systemd[1]: Started Session %d of User root.\n", i/60%60, i%60, i)
		case 1:
			k, _ = fmt.Fprintf(bw, "Jan 16 21:%02d:%02d node-1 kernel: [%6d.%06d] IPv6: ADDRCONF(NETDEV_CHANGE): veth%x: link becomes ready\n", i/60%60, i%60, i/100, i%1000000, i)
		case 2:
			k, _ = fmt.Fprintf(bw, "Jan 16 21:%02d:%02d node-1 containerd[812]: time=\"2026-01-16T21:33:51Z\" level=info msg=\"StartContainer for %x returns successfully\"\n", i/60%60, i%60, i*7919)
		default:
			k, _ = fmt.Fprintf(bw, "Jan 16 21:%02d:%02d node-1 kubelet[901]: I0116 21:33:51.%06d 901 kubelet.go:2430] \"SyncLoop (PLEG): event for pod\" pod=\"default/web-%d\"\n", i/60%60, i%60, i%1000000, i%97)
		}
		written += k
		if every > 0 && written >= next {
			r := reports[n%len(reports)]
			k, _ = bw.Write(r)
			written += k
			next += every
			n++
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	return n
}

// bigLogFile is bigLog written once per process to a file, so that every
// benchmark of it reads the same bytes from the page cache.
func bigLogFile(b *testing.B, name string, size, every int) (path string, reports int) {
	b.Helper()
	key := fmt.Sprintf("%s-%d-%d", name, size, every)
	if f, ok := bigLogs[key]; ok {
		return f.path, f.reports
	}
	dir, err := os.MkdirTemp("", "oomkit-bench-")
	if err != nil {
		b.Fatal(err)
	}
	path = filepath.Join(dir, name+".log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	reports = bigLog(b, f, size, every)
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	bigLogs[key] = struct {
		path    string
		reports int
	}{path, reports}
	return path, reports
}

// removeBigLogs removes the files bigLogFile wrote (TestMain, after the
// benchmarks that share them).
func removeBigLogs() {
	for _, f := range bigLogs {
		os.RemoveAll(filepath.Dir(f.path))
	}
}

var bigLogs = map[string]struct {
	path    string
	reports int
}{}

// procCPU is this process's CPU time, every thread's (the GC's too).
func procCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExplainBigLog is issue 14's goal: explain --json over a 256 MiB
// node log, report-dense (858 real reports spliced in, as on a bad day)
// and quiet (none), next to `grep -c -F oom-kill` over the same file, in
// the same run. cpu-ms/op is the CPU the work took (every thread of this
// process, or grep's own), which the machine's load does not inflate the
// way it does wall time; peak-heap-MiB is the live heap's high-water mark,
// sampled after each event, which must follow the largest report, not the
// file.
func BenchmarkExplainBigLog(b *testing.B) {
	const size = 256 << 20
	for _, tc := range []struct {
		name  string
		every int
	}{{"dense", size / 858}, {"quiet", 0}} {
		path, reports := bigLogFile(b, tc.name, size, tc.every)
		b.Run(tc.name+"/explain-json", func(b *testing.B) {
			b.SetBytes(size)
			var peak uint64
			c0 := procCPU()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				n := pipelineSampled(f, io.Discard, &peak)
				f.Close()
				if n < reports {
					b.Fatalf("%d events, %d reports spliced in", n, reports)
				}
			}
			b.ReportMetric(float64((procCPU()-c0).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
		b.Run(tc.name+"/baseline-grep-c-F", func(b *testing.B) {
			grep, err := exec.LookPath("grep")
			if err != nil {
				b.Skip("no grep")
			}
			b.SetBytes(size)
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command(grep, "-c", "-F", "oom-kill", path)
				// Not to /dev/null: GNU grep stops at the first match then.
				var out bytes.Buffer
				cmd.Stdout = &out
				if err := cmd.Run(); err != nil && tc.every > 0 {
					b.Fatal(err)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// pipelineSampled is pipeline that also records the live heap's high-water
// mark, sampled every 64 events and at the end.
func pipelineSampled(r io.Reader, w io.Writer, peak *uint64) int {
	bw := bufio.NewWriterSize(w, 64<<10)
	s := oomlog.NewScanner(r, oomlog.Options{})
	n := 0
	var prior []int
	var line []byte
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*peak = max(*peak, ms.HeapAlloc)
	}
	for s.Scan() {
		e := Explain(s.Report(), Options{File: "bench", PriorVictims: prior})
		if e.Analysis.KernelVictimPID != nil {
			prior = append(prior, *e.Analysis.KernelVictimPID)
			if len(prior) > 256 {
				prior = prior[len(prior)-256:]
			}
		}
		line = append(e.AppendJSON(line[:0]), '\n')
		_, _ = bw.Write(line)
		if n++; n%64 == 0 {
			sample()
		}
	}
	sample()
	bw.Flush()
	return n
}

// report100 is a real 5.4 memcg report (the article's first twist) with its
// task table grown to 100 rows: the size of a busy pod's or a small node's
// report.
func report100(b *testing.B) []byte {
	data, err := Sample("twist-1")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	for _, l := range lines {
		out.Write(l)
		if bytes.Contains(l, []byte("[  pid  ]")) {
			prefix := l[:bytes.Index(l, []byte("[  pid  ]"))]
			for i := 0; i < 96; i++ {
				fmt.Fprintf(&out, "%s[%7d] %5d %5d %8d %8d %8d %8d         %5d %s\n", prefix, 20000+i, 0, 20000+i, 43026975, 1000+i*37, 2060288, 0, -997, "dotnet worker")
			}
		}
	}
	return out.Bytes()
}

// threadCPU is the CPU time this OS thread has used: on a shared machine
// wall-clock ns/op swing with other processes' load, the thread's own CPU
// time does not.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs body under b.Loop on a locked thread and adds cpu-ns/op,
// the CPU time of that thread, and proc-cpu-ns/op, of every thread of the
// process: the collector's background work runs on other threads.
func loopCPU(b *testing.B, body func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, p0 := threadCPU(), procCPU()
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64((procCPU()-p0).Nanoseconds())/float64(b.N), "proc-cpu-ns/op")
}

// BenchmarkReport100 is one 100-task report parsed, explained and encoded
// as JSON (issue 14's goal: ≤ 100 µs), and each step alone.
func BenchmarkReport100(b *testing.B) {
	data := report100(b)
	s := oomlog.NewScanner(bytes.NewReader(data), oomlog.Options{})
	if !s.Scan() || len(s.Report().Tasks) != 100 {
		b.Fatalf("want one report of 100 tasks")
	}
	r := s.Report()
	b.Run("parse+explain+json", func(b *testing.B) {
		// What explain --json does per report: a Scanner over the input
		// (here one report), Explain, the JSON line into the output's
		// buffered writer (one per run, so not made per report here).
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		bw := bufio.NewWriterSize(io.Discard, 64<<10)
		var line []byte
		loopCPU(b, func() {
			s := oomlog.NewScanner(bytes.NewReader(data), oomlog.Options{})
			n := 0
			for s.Scan() {
				e := Explain(s.Report(), Options{File: "bench"})
				line = append(e.AppendJSON(line[:0]), '\n')
				_, _ = bw.Write(line)
				n++
			}
			if n != 1 {
				b.Fatal("want one event")
			}
		})
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		loopCPU(b, func() {
			s := oomlog.NewScanner(bytes.NewReader(data), oomlog.Options{})
			s.Scan()
		})
	})
	b.Run("explain", func(b *testing.B) {
		b.ReportAllocs()
		loopCPU(b, func() {
			_ = Explain(r, Options{})
		})
	})
	e := Explain(r, Options{})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		loopCPU(b, func() {
			buf = e.AppendJSON(buf[:0])
		})
	})
	b.Run("baseline-encoding-json", func(b *testing.B) {
		// The reflection encoder the CLI used before AppendJSON.
		b.ReportAllocs()
		enc := json.NewEncoder(io.Discard)
		enc.SetEscapeHTML(false)
		loopCPU(b, func() {
			_ = enc.Encode(e)
		})
	})
}
