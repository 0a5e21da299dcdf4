package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var testBinaries struct {
	sync.Mutex
	byDir map[string][]byte
}

// TestBinary builds the current package's test binary with CGO_ENABLED=0
// (static, so it runs as /init with no libc in the initramfs), once per
// package directory per process. `go test` runs a package's tests in its
// source directory, so the working directory names the package. The build
// goes to a temporary directory that is removed at once. The test harness
// around it, which needs package testing, is internal/vm/vmtest.
func TestBinary() ([]byte, error) {
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
