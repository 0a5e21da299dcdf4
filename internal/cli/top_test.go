package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/node/nodetest"
)

// TestTopJSONReal runs 'top --once --json' on this machine through the CLI.
func TestTopJSONReal(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"top", "--once", "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	var prevRank int
	var maxScore, firstScore int64 = -1, -1
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if m["schema"] != "oomkit.top/v1" {
			t.Fatalf("schema %v", m["schema"])
		}
		for _, k := range []string{"pid", "comm", "rank", "points", "oom_score_adj", "oom_score", "model_oom_score"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line %d has no %q: %s", n+1, k, sc.Text())
			}
		}
		score := int64(m["oom_score"].(float64))
		if n == 0 {
			firstScore = score
		}
		maxScore = max(maxScore, score)
		if r, ok := m["rank"].(float64); ok {
			if int(r) != prevRank+1 {
				t.Errorf("line %d: rank %v after %d", n+1, r, prevRank)
			}
			prevRank = int(r)
		}
		n++
	}
	if n < 2 || firstScore != maxScore {
		t.Errorf("%d lines; first oom_score %d, highest %d", n, firstScore, maxScore)
	}
}

func TestTopGolden(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	pod := nodetest.SmallPod
	v2Proc, v2Sys := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"global.jsonl", []string{"--once", "--json"}},
		{"global.txt", []string{"--once"}},
		{"memcg.txt", []string{"--once", "--cgroup", pod}},
		// 5.4.0: every task in the pod clamps to 1 point; the last scanned wins.
		{"memcg-5.4.0.txt", []string{"--once", "--cgroup", pod, "--assume-kernel", "5.4.0"}},
		{"filter-sort.txt", []string{"--once", "--filter", "kubepods", "--sort", "rss"}},
		// 4.14: clamped badness, first scanned wins, root's 3 % bonus.
		{"global-4.14.txt", []string{"--once", "--assume-kernel", "4.14.0"}},
		{"memcg.jsonl", []string{"--once", "--json", "--cgroup", pod}},
		{"commit.txt", []string{"--once", "--commit", "--sort", "commit"}},
		{"limit-pid.txt", []string{"--once", "--sort", "pid", "--limit", "4"}},
		// A cgroup v2 node with the systemd driver: the pod's OOM.
		{"v2-pod.txt", []string{"--once", "--proc-root", v2Proc, "--sys-root", v2Sys, "--cgroup", nodetest.V2Pod}},
		{"v2-global.txt", []string{"--once", "--proc-root", v2Proc, "--sys-root", v2Sys}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"top", "--proc-root", procRoot, "--sys-root", sysRoot}, tc.args...)
			if code := Main(args, nil, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden(t, filepath.Join("testdata", "top", tc.name), out.Bytes())
		})
	}
}

func TestTopOddHosts(t *testing.T) {
	t.Run("process exits mid-scan", func(t *testing.T) {
		procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
		// Listed in cgroup.procs, already gone from /proc.
		os.RemoveAll(filepath.Join(procRoot, "511"))
		for _, format := range []string{"--once", "--json"} {
			var out, errb bytes.Buffer
			code := Main([]string{"top", format, "--proc-root", procRoot, "--sys-root", sysRoot, "--cgroup", "/kubepods"}, nil, &out, &errb)
			if code != 0 || !strings.Contains(errb.String(), "1 processes exited while they were read") || strings.Contains(out.String(), "(resolved)") {
				t.Errorf("%s: exit %d, stderr %q", format, code, errb.String())
			}
		}
	})
	t.Run("no cgroup memory controller", func(t *testing.T) {
		procRoot, _ := nodetest.SmallMachine(t, t.TempDir())
		must(t, os.WriteFile(filepath.Join(procRoot, "self/mountinfo"), []byte("22 1 254:1 / / rw - ext4 /dev/root rw\n"), 0o444))
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--json", "--proc-root", procRoot, "--sys-root", t.TempDir()}, nil, &out, &errb)
		if code != 0 || strings.Count(out.String(), "\n") != 9 {
			t.Errorf("exit %d, %d lines, stderr %q", code, strings.Count(out.String(), "\n"), errb.String())
		}
		code = Main([]string{"top", "--once", "--proc-root", procRoot, "--cgroup", "/x"}, nil, &out, &errb)
		if code != 1 {
			t.Errorf("--cgroup without a controller: exit %d", code)
		}
	})
	t.Run("unknown cgroup", func(t *testing.T) {
		procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--proc-root", procRoot, "--sys-root", sysRoot, "--cgroup", "/nope"}, nil, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "--all-cgroups") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	})
	t.Run("unknown kernel", func(t *testing.T) {
		h := nodetest.DefaultHost
		h.Release = ""
		procRoot, sysRoot := nodetest.KubeNodeV2(t, h)
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--proc-root", procRoot, "--sys-root", sysRoot}, nil, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "give --assume-kernel VERSION") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
		out.Reset()
		code = Main([]string{"top", "--once", "--proc-root", procRoot, "--sys-root", sysRoot, "--assume-kernel", "6.1"}, nil, &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), "Ranked for a global OOM (every process; totalpages = RAM + swap): totalpages 6171021, kernel 6.1 (≥5.9/5.4.144+ rules)") {
			t.Errorf("--assume-kernel 6.1: exit %d, output %q", code, out.String())
		}
	})
	t.Run("not a proc root", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main([]string{"top", "--once", "--proc-root", t.TempDir()}, nil, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "--proc-root") {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	})
}

func TestTopUsage(t *testing.T) {
	for _, args := range [][]string{
		{"top", "--sort", "size"},
		{"top", "--interval", "0s"},
		{"top", "--limit", "-1"},
		{"top", "extra"},
		{"top", "--once", "--assume-kernel", "banana"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(args, nil, &out, &errb); code != ExitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, errb.String())
			}
		})
	}
}

// BenchmarkTopOnceJSON10k runs 'top --once --json' over a fake /proc of
// 10,000 processes.
func BenchmarkTopOnceJSON10k(b *testing.B) {
	root := b.TempDir()
	ps := make([]nodetest.Process, 10000)
	for i := range ps {
		ps[i] = nodetest.Process{PID: 100 + i, Comm: fmt.Sprintf("worker-%d", i), AnonKB: int64(1000 + i*7%50000), FileKB: int64(i % 3000),
			PteKB: 40 + int64(i%100)*4, Adj: int64(i%3)*500 - 500, Start: uint64(i),
			Memcg: fmt.Sprintf("/kubepods/burstable/pod%08x-ea16-463a-96c2-fc74acfb9c47/%064x", i/10, i)}
	}
	procRoot := nodetest.WriteProc(b, root, nodetest.DefaultHost, ps)
	// The cgroup tree of such a node: 1,000 pods of 10 containers, one
	// process each, under /kubepods/burstable.
	sysRoot := filepath.Join(root, "sys")
	mem := filepath.Join(sysRoot, "fs/cgroup/memory")
	for _, p := range ps {
		dir := filepath.Join(mem, p.Memcg)
		must(b, os.MkdirAll(dir, 0o755))
		must(b, os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprintf("%d\n", p.PID)), 0o644))
	}
	for _, d := range []string{"", "kubepods", "kubepods/burstable"} {
		must(b, os.WriteFile(filepath.Join(mem, d, "cgroup.procs"), nil, 0o644))
	}
	b.ResetTimer()
	defer reportCPU(b)()
	for b.Loop() {
		var out, errb bytes.Buffer
		if code := Main([]string{"top", "--once", "--json", "--proc-root", procRoot, "--sys-root", sysRoot}, nil, &out, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
}

// BenchmarkTopRealProc runs 'top --once --json' on this machine's /proc,
// and BenchmarkPS the baseline 'ps -eo pid,rss,comm' in the same run.
func BenchmarkTopRealProc(b *testing.B) {
	defer reportCPU(b)()
	for b.Loop() {
		var out, errb bytes.Buffer
		if code := Main([]string{"top", "--once", "--json"}, nil, &out, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
}

func BenchmarkPS(b *testing.B) {
	if _, err := exec.LookPath("ps"); err != nil {
		kerneltest.Skip(b, "no ps (procps) to compare with")
	}
	defer reportChildCPU(b)()
	for b.Loop() {
		if err := exec.Command("ps", "-eo", "pid,rss,comm").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports this process's CPU time (user + system) per
// operation, which a busy shared machine disturbs far less than wall time.
// Use as defer reportCPU(b)().
func reportCPU(b *testing.B) func() { return reportRusage(b, syscall.RUSAGE_SELF) }

// reportChildCPU is reportCPU for the child processes the benchmark ran.
func reportChildCPU(b *testing.B) func() { return reportRusage(b, syscall.RUSAGE_CHILDREN) }

func reportRusage(b *testing.B, who int) func() {
	var r0 syscall.Rusage
	_ = syscall.Getrusage(who, &r0)
	return func() {
		var r1 syscall.Rusage
		_ = syscall.Getrusage(who, &r1)
		cpu := r1.Utime.Nano() - r0.Utime.Nano() + r1.Stime.Nano() - r0.Stime.Nano()
		b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
	}
}
