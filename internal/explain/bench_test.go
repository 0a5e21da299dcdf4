package explain

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
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

// bigLog is size bytes of unrelated syslog lines with every corpus report
// spliced in once per MiB.
func bigLog(b *testing.B, size int) []byte {
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
	var buf bytes.Buffer
	buf.Grow(size + 1<<20)
	next := 1 << 20
	for i := 0; buf.Len() < size; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&buf, "Jan 16 21:%02d:%02d node-1 systemd[1]: Started Session %d of User root.\n", i/60%60, i%60, i)
		case 1:
			fmt.Fprintf(&buf, "Jan 16 21:%02d:%02d node-1 kernel: [%6d.%06d] IPv6: ADDRCONF(NETDEV_CHANGE): veth%x: link becomes ready\n", i/60%60, i%60, i/100, i%1000000, i)
		case 2:
			fmt.Fprintf(&buf, "Jan 16 21:%02d:%02d node-1 containerd[812]: time=\"2026-01-16T21:33:51Z\" level=info msg=\"StartContainer for %x returns successfully\"\n", i/60%60, i%60, i*7919)
		default:
			fmt.Fprintf(&buf, "Jan 16 21:%02d:%02d node-1 kubelet[901]: I0116 21:33:51.%06d 901 kubelet.go:2430] \"SyncLoop (PLEG): event for pod\" pod=\"default/web-%d\"\n", i/60%60, i%60, i%1000000, i%97)
		}
		if buf.Len() >= next {
			buf.Write(reports[(next>>20)%len(reports)])
			next += 1 << 20
		}
	}
	return buf.Bytes()
}

// grepCount counts lines holding pat, as `grep -c -F pat` does: the
// baseline the issue measures explain against.
func grepCount(data, pat []byte) int {
	n := 0
	for {
		i := bytes.Index(data, pat)
		if i < 0 {
			return n
		}
		n++
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return n
		}
		data = data[i+j+1:]
	}
}

// BenchmarkExplainBigLog runs the pipeline over 64 MiB of a busy node's
// syslog with real reports spliced in once per MiB (MB/s is the number to
// read), next to the grep -c -F baseline on the same bytes.
func BenchmarkExplainBigLog(b *testing.B) {
	data := bigLog(b, 64<<20)
	b.Run("scan+explain+json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if pipeline(bytes.NewReader(data), io.Discard) < 64 {
				b.Fatal("too few events")
			}
		}
	})
	b.Run("baseline-grep-c-F", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if grepCount(data, []byte("oom-kill")) == 0 {
				b.Fatal("no match")
			}
		}
	})
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

// loopCPU runs body under b.Loop on a locked thread and adds cpu-ns/op.
func loopCPU(b *testing.B, body func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
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
