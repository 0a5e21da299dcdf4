package vm

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// requireVMBench is requireVM for benchmarks.
func requireVMBench(b *testing.B) []byte {
	b.Helper()
	if _, err := FindQEMU(Config{}.withDefaults().QEMU); err != nil {
		kerneltest.Skip(b, err.Error())
	}
	if _, err := (Config{}).withDefaults().kernelPath(context.Background()); err != nil {
		kerneltest.Skip(b, err.Error())
	}
	bin, err := TestBinary()
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// BenchmarkBootGuest is one VM-backed test with a warm cache: pack the test
// binary, boot the cached kernel under TCG, run TestGroupKill in the guest
// (3 hogs group-killed), power off. The static test binary is built once
// per process, outside the timer.
func BenchmarkBootGuest(b *testing.B) {
	bin := requireVMBench(b)
	for _, c := range []struct {
		name string
		cfg  Config
		run  string
	}{
		{"empty/cpus=1", Config{CPUs: 1}, "^$"},
		{"empty/cpus=2", Config{CPUs: 2}, "^$"},
		{"empty/cpus=1/gzip", Config{CPUs: 1, Compress: true}, "^$"},
		{"empty/cpus=1/swap", Config{CPUs: 1, SwapMiB: 256}, "^$"},
		{"empty/cpus=1/scratch", Config{CPUs: 1, ScratchMiB: 512}, "^$"},
		{"group-kill/cpus=1", Config{CPUs: 1}, "^TestGroupKill$"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				res, err := Run(context.Background(), c.cfg, bin, "-test.run="+c.run, "-test.v")
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("exit %d, err %v\n%s", res.ExitCode, err, res.Stdout)
				}
				if c.run != "^$" && !strings.Contains(string(res.Stdout), "--- PASS") {
					b.Fatalf("no PASS:\n%s", res.Stdout)
				}
			}
		})
	}
}

// BenchmarkInitramfs packs a test-binary-sized /init in memory, as Run does.
func BenchmarkInitramfs(b *testing.B) {
	init := make([]byte, 8<<20)
	for i := range init {
		init[i] = byte(i * 7 >> 3) // some structure, like code
	}
	for _, gz := range []bool{false, true} {
		b.Run("gzip="+strconv.FormatBool(gz), func(b *testing.B) {
			b.SetBytes(int64(len(init)))
			for b.Loop() {
				if _, err := buildInitramfs("guest", init, nil, gz); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFetchKernelCached is the kernel lookup every boot does once the
// cache is warm: the resolved-package memo is newer than apt's lists, so no
// apt-cache call runs.
func BenchmarkFetchKernelCached(b *testing.B) {
	if _, err := FetchKernel(context.Background(), "", ""); err != nil {
		kerneltest.Skip(b, err.Error())
	}
	for b.Loop() {
		if _, err := FetchKernel(context.Background(), "", ""); err != nil {
			b.Fatal(err)
		}
	}
}
