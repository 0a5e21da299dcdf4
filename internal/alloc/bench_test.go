package alloc_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

const (
	benchBlock = 64 * bytesize.MiB
	benchMax   = 2 * bytesize.GiB
	// benchLimit is the memcg both sides run in: room for 2 GiB plus the
	// runtime, never unlimited.
	benchLimit = 2560 * bytesize.MiB
)

// BenchmarkTouchVsC runs `alloc --block 64MiB --touch 100% --max 2GiB
// --interval 0` and the plain C loop of scripts/bench-alloc/touch.c (mmap +
// one write per page, compiled here with gcc -O2) side by side in the same
// 2.5 GiB memcg, and reports both page-touch rates (medians) and the
// median of the back-to-back pairs' ratios, go/c_rate (≥ 0.9 is the goal). Each side times its
// own loop (alloc's elapsed_seconds, the C program's
// clock_gettime), so process start-up is left out of both.
func BenchmarkTouchVsC(b *testing.B) {
	m := kerneltest.NewMemcg(b, benchLimit)
	cbin := buildTouchC(b)
	// Medians, and the median of each back-to-back pair's ratio: on a
	// shared machine the noise drifts over seconds, and a pair sees the
	// same drift.
	var goSecs, cSecs []float64
	for i := 0; i < b.N; i++ {
		// Alternate which side goes first, so neither always runs right
		// after the other's 2 GiB was freed.
		if cbin != "" && i%2 == 1 {
			cSecs = append(cSecs, runTouchC(b, m, cbin))
		}
		p := startIn(b, m, alloc.Config{Mode: alloc.ModeMmap, BlockBytes: benchBlock, TouchPercent: 100, MaxBytes: benchMax})
		recs := p.until(b, "stop")
		last := recs[len(recs)-1]
		if *last.StopReason != alloc.StopMax || last.TouchedBytes != benchMax {
			b.Fatalf("alloc stopped with %q after touching %d bytes", *last.StopReason, last.TouchedBytes)
		}
		goSecs = append(goSecs, last.ElapsedSeconds)
		_ = p.cmd.Wait()
		if cbin != "" && i%2 == 0 {
			cSecs = append(cSecs, runTouchC(b, m, cbin))
		}
	}
	const gib = float64(bytesize.GiB)
	goSec := median(goSecs)
	b.ReportMetric(float64(benchMax)/goSec/gib, "go_GiB/s")
	b.ReportMetric(float64(benchMax/4096)/goSec/1e6, "go_Mpages/s")
	if cbin != "" {
		ratios := make([]float64, len(goSecs))
		for i := range goSecs {
			ratios[i] = cSecs[i] / goSecs[i]
		}
		b.ReportMetric(float64(benchMax)/median(cSecs)/gib, "c_GiB/s")
		b.ReportMetric(median(ratios), "go/c_rate")
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// buildTouchC compiles the C loop; "" (and a logged reason) without gcc.
func buildTouchC(b *testing.B) string {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		b.Logf("C side skipped: gcc not found (%v); only alloc's rate is reported", err)
		return ""
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "bench-alloc", "touch.c")
	out := filepath.Join(b.TempDir(), "touch")
	if msg, err := exec.Command(gcc, "-O2", "-o", out, src).CombinedOutput(); err != nil {
		b.Fatalf("gcc %s: %v\n%s", src, err, msg)
	}
	return out
}

// runTouchC runs the C loop in m and returns the seconds it reports.
func runTouchC(b *testing.B, m *cgroup.Memcg, bin string) float64 {
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, strconv.FormatInt(benchBlock, 10), strconv.FormatInt(benchMax, 10))
	cmd.Env = append(os.Environ(), alloc.StartFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{pr}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pr.Close()
	if err := m.AddProcess(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		b.Fatal(err)
	}
	_, _ = pw.Write([]byte{1})
	pw.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("touch: %v: %s", err, out.String())
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
	if err != nil {
		b.Fatalf("touch printed %q", out.String())
	}
	return sec
}
