package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// RunTest runs the calling test inside a VM, fails t if it fails there, and
// returns what the guest printed.
// Call it from a test that starts with
//
//	if !vm.InGuest() {
//		vm.RunTest(t, vm.Config{})
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
func RunTest(t *testing.T, cfg Config) *Result {
	t.Helper()
	if InGuest() {
		t.Fatal("vm.RunTest called inside the guest; guard it with if !vm.InGuest()")
		return nil
	}
	if _, err := FindQEMU(cfg.withDefaults().QEMU); err != nil {
		skipOrFail(t, err)
	}
	bin, err := testBinary()
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
	res, err := Run(context.Background(), cfg, bin, args...)
	lw.flush()
	if errors.Is(err, ErrNoQEMU) || errors.Is(err, ErrNoKernel) {
		skipOrFail(t, err)
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

// skipOrFail skips t for a missing prerequisite, or fails it where CI
// requires the kernel tests to run.
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv(envRequire) == "1" {
		t.Fatalf("%v (%s=1: this test must run here)", err, envRequire)
	}
	t.Skipf("skipped: %v", err)
}

// runPattern anchors each element of a (sub)test name for -test.run.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

var testBinaries struct {
	sync.Mutex
	byDir map[string][]byte
}

// testBinary builds the current package's test binary with CGO_ENABLED=0
// (static, so it runs as /init with no libc in the initramfs), once per
// package directory per process. `go test` runs a package's tests in its
// source directory, so the working directory names the package. The build
// goes to a temporary directory that is removed at once.
func testBinary() ([]byte, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	testBinaries.Lock()
	defer testBinaries.Unlock()
	if b, ok := testBinaries.byDir[dir]; ok {
		return b, nil
	}
	b, err := goBuild(dir, "test", "-c", ".")
	if err != nil {
		return nil, err
	}
	if testBinaries.byDir == nil {
		testBinaries.byDir = map[string][]byte{}
	}
	testBinaries.byDir[dir] = b
	return b, nil
}

// goBuild runs `go <verb> <args> -o TMP` in dir with CGO_ENABLED=0 and
// returns the binary.
func goBuild(dir, verb string, args ...string) ([]byte, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("build the guest binary: %w (put the Go toolchain in PATH)", err)
	}
	tmp, err := os.MkdirTemp("", "oomkit-vm-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "init")
	cmdArgs := append([]string{verb, "-o", out}, args...)
	cmd := exec.Command(goCmd, cmdArgs...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s (static build for the guest): %w\n%s", strings.Join(cmdArgs, " "), err, msg)
	}
	return os.ReadFile(out)
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
