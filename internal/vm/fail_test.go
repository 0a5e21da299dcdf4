package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// requireVM skips (or fails under OOMKIT_REQUIRE_KERNEL_TESTS=1) where no
// guest can boot, and returns the test binary to boot.
func requireVM(t *testing.T) []byte {
	t.Helper()
	if InGuest() {
		t.Skip("host-side test")
	}
	if _, err := FindQEMU(Config{}.withDefaults().QEMU); err != nil {
		kerneltest.Skip(t, err.Error())
	}
	if _, err := (Config{}).withDefaults().kernelPath(context.Background()); err != nil {
		kerneltest.Skip(t, err.Error())
	}
	bin, err := TestBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// assertGone fails t if qemu (or anything in its process group) still runs.
func assertGone(t *testing.T, res *Result) {
	t.Helper()
	if res.PID == 0 {
		return // never started
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(res.PID)); err == nil {
		t.Errorf("qemu pid %d still exists", res.PID)
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(res.PID) {
			t.Errorf("process %s of qemu's group is left: %s", filepath.Base(filepath.Dir(p)), s)
		}
	}
}

// cleanTempDir points TMPDIR at an empty directory and fails t if anything
// is left in it.
func cleanTempDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			t.Errorf("temporary file left: %s", e.Name())
		}
	})
}

func TestMissingQEMU(t *testing.T) {
	cleanTempDir(t)
	res, err := Run(context.Background(), Config{QEMU: "/nonexistent/qemu-system-x86_64"}, []byte("x"))
	if !errors.Is(err, ErrNoQEMU) {
		t.Fatalf("err = %v, want ErrNoQEMU", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "apt-get install -y --no-install-recommends qemu-system-x86") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line with the install command", msg)
	}
	assertGone(t, res)
}

func TestKernelPackageUnknown(t *testing.T) {
	cleanTempDir(t)
	cache := t.TempDir()
	_, err := FetchKernel(context.Background(), "linux-image-oomkit-no-such-kernel", cache)
	if !errors.Is(err, ErrNoKernel) {
		t.Fatalf("err = %v, want ErrNoKernel", err)
	}
	if !strings.Contains(err.Error(), "linux-image-oomkit-no-such-kernel") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line naming the package", err)
	}
	assertEmptyCache(t, cache)
}

// TestKernelFetchNoNetwork fetches a real package through a proxy that
// refuses connections: what a machine without network sees.
func TestKernelFetchNoNetwork(t *testing.T) {
	if InGuest() {
		t.Skip("host-side test")
	}
	name, _, err := resolveKernelPackage(context.Background(), DefaultKernelPackage)
	if err != nil {
		kerneltest.Skip(t, err.Error()) // no apt lists: nothing to resolve offline either
	}
	cleanTempDir(t)
	cache := t.TempDir()
	// A proxy on the discard port: connection refused, at once, no retries.
	conf := filepath.Join(t.TempDir(), "apt.conf")
	err = os.WriteFile(conf, []byte(`Acquire::http::Proxy "http://127.0.0.1:9"; Acquire::https::Proxy "http://127.0.0.1:9"; Acquire::Retries "0";`+"\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("APT_CONFIG", conf)
	_, err = FetchKernel(context.Background(), name, cache)
	if !errors.Is(err, ErrNoKernel) {
		t.Fatalf("err = %v, want ErrNoKernel", err)
	}
	if !strings.Contains(err.Error(), "apt-get download") || !strings.Contains(err.Error(), EnvKernel) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line saying the download failed and how to give a local kernel", err)
	}
	t.Log(err)
	assertEmptyCache(t, cache)
}

// assertEmptyCache fails t if a failed fetch left anything but the lock.
func assertEmptyCache(t *testing.T, cache string) {
	t.Helper()
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Errorf("failed fetch left %s in the cache", e.Name())
		}
	}
}

func TestMissingKernelFile(t *testing.T) {
	_, err := Run(context.Background(), Config{Kernel: "/nonexistent/vmlinuz", QEMU: "/bin/true"}, []byte("x"))
	if !errors.Is(err, ErrNoKernel) || !strings.Contains(err.Error(), "/nonexistent/vmlinuz") {
		t.Fatalf("err = %v, want ErrNoKernel naming the path", err)
	}
}

func TestGuestPanic(t *testing.T) {
	bin := requireVM(t)
	cleanTempDir(t)
	// A later OOMKIT_VM=0 replaces the host's OOMKIT_VM=1 in init's
	// environment, so GuestInit stands aside and TestMain, as PID 1, exits.
	res, err := Run(context.Background(), Config{KernelArgs: []string{envBoot + "=0"}}, bin)
	if !errors.Is(err, ErrKernelPanic) {
		t.Fatalf("err = %v, want ErrKernelPanic", err)
	}
	if !strings.Contains(err.Error(), "Attempted to kill init") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line with the kernel's panic message", err)
	}
	t.Logf("%v (after %v)", err, res.Duration.Round(time.Millisecond))
	assertGone(t, res)
}

// TestHangInGuest blocks forever in the guest; TestGuestHang boots it.
func TestHangInGuest(t *testing.T) {
	if !InGuest() {
		t.Skip("runs in the guest, booted by TestGuestHang")
	}
	time.Sleep(time.Hour) // not select{}: the runtime would call that a deadlock and exit
}

func TestGuestHang(t *testing.T) {
	bin := requireVM(t)
	cleanTempDir(t)
	// Long enough that the guest test starts on an idle machine (boot ~2 s),
	// short enough for CI.
	const timeout = 15 * time.Second
	start := time.Now()
	res, err := Run(context.Background(), Config{Timeout: timeout}, bin, "-test.run=^TestHangInGuest$", "-test.v")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > timeout+5*time.Second {
		t.Errorf("Run returned after %v, want about %v", d, timeout)
	}
	if !strings.Contains(string(res.Stdout), "=== RUN   TestHangInGuest") {
		// A loaded host can take longer than the timeout to boot; that is
		// a hung guest from the host's side too.
		t.Logf("the guest test had not started within %v (loaded host?)", timeout)
	}
	t.Log(err)
	assertGone(t, res)
}

func TestCancel(t *testing.T) {
	bin := requireVM(t)
	cleanTempDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the guest program runs.
	started := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "=== RUN") {
			cancel()
		}
		return len(p), nil
	})
	res, err := Run(ctx, Config{Stdout: started}, bin, "-test.run=^TestHangInGuest$", "-test.v")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertGone(t, res)
}

func TestExitStatus(t *testing.T) {
	bin := requireVM(t)
	// A failing guest program: its status comes back, and Run does not fail.
	res, err := Run(context.Background(), Config{}, bin, "-test.run=^TestFailInGuest$")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 1 || !strings.Contains(string(res.Stdout), "--- FAIL: TestFailInGuest") {
		t.Errorf("exit %d, stdout %q; want 1 and a FAIL line", res.ExitCode, res.Stdout)
	}
	if !strings.HasPrefix(res.KernelRelease, "6.") {
		t.Errorf("KernelRelease = %q", res.KernelRelease)
	}
	assertGone(t, res)
}

// TestFailInGuest fails in the guest; TestExitStatus boots it.
func TestFailInGuest(t *testing.T) {
	if !InGuest() {
		t.Skip("runs in the guest, booted by TestExitStatus")
	}
	t.Error("failing on purpose")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
