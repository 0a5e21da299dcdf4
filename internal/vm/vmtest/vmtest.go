// Package vmtest runs a test inside a cgroup v2 guest (internal/vm): the
// test harness, kept out of internal/vm so that the oomkit binary, which
// links internal/vm for lab --vm, does not link package testing.
package vmtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/vm"
)

// RunTest runs the calling test inside a VM, fails t if it fails there, and
// returns what the guest printed.
// Call it from a test that starts with
//
//	if !vm.InGuest() {
//		vmtest.RunTest(t, vm.Config{})
//		return
//	}
//	// From here on: PID 1's child in the guest, root, cgroup v2 at
//	// /sys/fs/cgroup with +memory in the root's subtree_control.
//
// (GuestInit takes over the guest's PID 1 by itself). On the host RunTest builds the
// package's test binary static (once per package per `go test` run), boots
// it as /init, runs only this test (-test.run) in the guest, and logs the
// guest's output through t. Where qemu or a kernel is not available it skips
// with the reason, or fails under OOMKIT_REQUIRE_KERNEL_TESTS=1. The guest
// runs the package's tests with the working directory "/": testdata is not
// there.
func RunTest(t *testing.T, cfg vm.Config) *vm.Result {
	t.Helper()
	if vm.InGuest() {
		t.Fatal("vmtest.RunTest called inside the guest; guard it with if !vm.InGuest()")
		return nil
	}
	qemu := cfg.QEMU
	if qemu == "" {
		qemu = os.Getenv(vm.EnvQEMU)
	}
	if _, err := vm.FindQEMU(qemu); err != nil {
		kerneltest.Skip(t, err.Error())
	}
	bin, err := vm.TestBinary()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		if dir, err := os.Getwd(); err == nil {
			cfg.Name = filepath.Base(dir) + ".test"
		}
	}
	lw := &lineLogger{t: t}
	cfg.Stdout, cfg.Stderr = lw, lw
	args := []string{"-test.run=" + runPattern(t.Name()), "-test.v=true", "-test.count=1"}
	res, err := vm.Run(context.Background(), cfg, bin, args...)
	lw.flush()
	if errors.Is(err, vm.ErrNoQEMU) || errors.Is(err, vm.ErrNoKernel) {
		kerneltest.Skip(t, err.Error())
	}
	if err != nil {
		t.Fatalf("%v\nkernel console:\n%s", err, res.Console)
	}
	t.Logf("guest kernel %s, VM %v", res.KernelRelease, res.Duration.Round(1e6))
	if res.ExitCode != 0 {
		t.Fatalf("%s failed in the guest (exit status %d); its output is above", t.Name(), res.ExitCode)
	}
	if !bytes.Contains(res.Stdout, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s did not run in the guest (no --- PASS line); is it skipped there?", t.Name())
	}
	return res
}

// runPattern anchors each element of a (sub)test name for -test.run.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// lineLogger sends complete lines to t.Log.
type lineLogger struct {
	mu  sync.Mutex
	t   *testing.T
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log("guest: " + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log("guest: " + string(l.buf))
		l.buf = nil
	}
}
