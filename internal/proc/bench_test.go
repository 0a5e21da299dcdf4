package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the CPU time (user + system) per operation, which a
// busy shared machine disturbs far less than wall time; call as
// defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	var r0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	return func() {
		var r1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkReadTasks10k reads 10,000 processes of a fake tree built from
// the fixture host's bash process.
func BenchmarkReadTasks10k(b *testing.B) {
	root := b.TempDir()
	src := "testdata/host/4242"
	files := map[string][]byte{}
	for _, n := range []string{"status", "stat", "oom_score", "oom_score_adj", "cgroup"} {
		data, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			b.Fatal(err)
		}
		files[n] = data
	}
	pids := make([]int, 10000)
	for i := range pids {
		pids[i] = 100 + i
		d := filepath.Join(root, fmt.Sprint(pids[i]))
		must(b, os.Mkdir(d, 0o755))
		for n, data := range files {
			must(b, os.WriteFile(filepath.Join(d, n), data, 0o444))
		}
	}
	f, err := NewFS(root)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	defer reportCPU(b)()
	for b.Loop() {
		s := f.ReadTasks(pids, TaskOptions{Memcg: true, MemcgV1: true, StartTime: true})
		if len(s.Tasks) != len(pids) {
			b.Fatalf("%d tasks, notes %q", len(s.Tasks), s.Notes[:1])
		}
	}
}
