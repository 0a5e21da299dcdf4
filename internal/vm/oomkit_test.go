package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunOomkit boots the real oomkit binary (built static from
// cmd/oomkit) and runs `oomkit version` in the guest, then a bad flag to see
// the exit status and stderr come back.
func TestRunOomkit(t *testing.T) {
	requireVM(t)
	res, err := RunOomkit(context.Background(), Config{}, "version")
	if errors.Is(err, ErrNotGuestReady) {
		// Not a host limitation: cmd/oomkit must link internal/vm (the lab's
		// --vm does).
		t.Fatalf("%v", err)
	}
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, res.Stderr)
	}
	if res.ExitCode != 0 || !strings.HasPrefix(string(res.Stdout), "oomkit ") {
		t.Fatalf("oomkit version: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if !strings.HasPrefix(res.KernelRelease, "6.") {
		t.Errorf("KernelRelease = %q", res.KernelRelease)
	}
	t.Logf("guest %s: %s", res.KernelRelease, strings.TrimSpace(string(res.Stdout)))

	res, err = RunOomkit(context.Background(), Config{}, "--no-such-flag")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 2 || !strings.Contains(string(res.Stderr), "no-such-flag") || len(res.Stdout) != 0 {
		t.Errorf("oomkit --no-such-flag: exit %d, stdout %q, stderr %q; want 2, nothing, the flag named", res.ExitCode, res.Stdout, res.Stderr)
	}
}

func TestRunOomkitDynamicBinary(t *testing.T) {
	// /bin/true is a dynamically linked Debian binary.
	_, err := RunOomkit(context.Background(), Config{Binary: "/bin/true", QEMU: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("err = %v, want a refusal of a dynamic binary", err)
	}
	bad := filepath.Join(t.TempDir(), "oomkit")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := RunOomkit(context.Background(), Config{Binary: bad}); err == nil || errors.Is(err, ErrNoQEMU) {
		t.Fatalf("err = %v, want a refusal of a non-ELF file", err)
	}
}
