package vm

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
)

// ErrNotGuestReady means the binary RunOomkit would boot does not link this
// package, so nothing would take over as the guest's PID 1.
var ErrNotGuestReady = errors.New("binary cannot run as the guest's /init")

// oomkitPackage is the main package RunOomkit builds when it has to.
const oomkitPackage = "github.com/oomkit/oomkit/cmd/oomkit"

// RunOomkit runs `oomkit args...` as the program of a fresh guest (cgroup v2
// with the memory controller, Debian's kernel; see Config) and returns its
// Result: oomkit's stdout and stderr, its exit status in Result.ExitCode,
// and the guest's kernel release in Result.KernelRelease. As with Run, the
// error is about the VM (no qemu, no kernel, panic, timeout, cancel), not
// about oomkit's exit status. This is what `oomkit lab run --vm` calls:
//
//	res, err := vm.RunOomkit(ctx, vm.Config{Kernel: kernelFlag, KernelPackage: pkgFlag, Stderr: os.Stderr},
//		"lab", "run", "--json", "memory-high")
//
// The binary booted is cfg.Binary if set; else this process's own
// executable when it is a static, non-test binary (the installed oomkit);
// else one built from source with CGO_ENABLED=0 `go build` of
// github.com/oomkit/oomkit/cmd/oomkit from the working directory (in
// tests), once per process. It links this package, so GuestInit takes over
// as the guest's PID 1.
func RunOomkit(ctx context.Context, cfg Config, args ...string) (*Result, error) {
	bin, err := oomkitBinary(cfg.Binary)
	if err != nil {
		return &Result{ExitCode: -1}, err
	}
	if cfg.Name == "" {
		cfg.Name = "oomkit"
	}
	return Run(ctx, cfg, bin, args...)
}

var builtOomkit struct {
	once sync.Once
	bin  []byte
	err  error
}

// oomkitBinary returns the static oomkit binary RunOomkit boots.
func oomkitBinary(path string) ([]byte, error) {
	if path != "" {
		return readStatic(path)
	}
	if exe, err := os.Executable(); err == nil && !inTestBinary() {
		if b, err := readStatic(exe); err == nil {
			return b, nil
		}
	}
	builtOomkit.once.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			builtOomkit.err = err
			return
		}
		bin, err := goBuild(dir, "build", oomkitPackage)
		if err != nil {
			builtOomkit.err = fmt.Errorf("no static oomkit binary to boot: %w (build oomkit with CGO_ENABLED=0, or run from its source tree)", err)
			return
		}
		builtOomkit.bin, builtOomkit.err = bin, checkLinksVM(oomkitPackage, bin)
	})
	return builtOomkit.bin, builtOomkit.err
}

// inTestBinary reports whether this process is a `go test` binary, which is
// not oomkit: RunOomkit then builds cmd/oomkit instead of booting itself.
// testing.Testing says so too, but importing package testing would link it
// into oomkit; a test binary has the test.v flag registered (testing.Init)
// before any test runs.
func inTestBinary() bool { return flag.Lookup("test.v") != nil }

// readStatic reads path if it is a statically linked x86-64 ELF executable:
// the initramfs has no dynamic loader and no libc.
func readStatic(path string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s is a %v binary; the guest is x86-64", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; the guest has no libc (build it with CGO_ENABLED=0)", path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkLinksVM(path, b); err != nil {
		return nil, err
	}
	return b, nil
}

// checkLinksVM fails unless bin links this package, which it needs to act
// as the guest's /init. guestSpecPath is a string only this package's code
// holds, so it is in the binary even when the symbol table is stripped.
func checkLinksVM(path string, bin []byte) error {
	if !bytes.Contains(bin, []byte(guestSpecPath)) {
		return fmt.Errorf("%w: %s does not link internal/vm (add vm.GuestInit() at the top of cmd/oomkit's main)", ErrNotGuestReady, path)
	}
	return nil
}
