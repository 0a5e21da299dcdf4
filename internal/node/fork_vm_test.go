package node

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

// envForkHelper makes the test binary a process that maps and forks on
// command (forkHelper).
const envForkHelper = "OOMKIT_FORK_HELPER"

// TestInspectForkFailsInVM checks Inspect's mode-2 claim against the guest
// kernel: a process it names in fork_would_fail really gets ENOMEM from
// fork(), and one it does not name really forks. The helper first forks
// with a small commit charge, then maps (untouched) 60% of what CommitLimit
// has left, after which its commit charge no longer fits twice.
func TestInspectForkFailsInVM(t *testing.T) {
	if testing.Short() && !vm.InGuest() {
		t.Skip("boots two VMs")
	}
	for _, k := range vm.TestKernels {
		t.Run(k.Name, func(t *testing.T) {
			if !vm.InGuest() {
				vmtest.RunTest(t, vm.Config{KernelPackage: k.Package})
				return
			}
			for name, v := range map[string]string{"overcommit_ratio": "100", "overcommit_memory": "2"} {
				if err := os.WriteFile("/proc/sys/vm/"+name, []byte(v), 0); err != nil {
					t.Fatal(err)
				}
			}
			h := startForkHelper(t)
			named := func() bool {
				for _, p := range inspectForkFails(t) {
					if p == h.pid {
						return true
					}
				}
				return false
			}
			if named() {
				t.Fatalf("inspect says pid %d cannot fork before it mapped anything", h.pid)
			}
			if got := h.cmd(t, "fork"); strings.HasPrefix(got, "error") {
				t.Fatalf("inspect said pid %d can fork; the kernel said %s", h.pid, got)
			}
			limit, committed := commitNumbers(t)
			big := (limit - committed) * 6 / 10
			if got := h.cmd(t, fmt.Sprintf("mmap %d", big)); strings.HasPrefix(got, "error") {
				t.Fatalf("mmap %d: %s", big, got)
			}
			if !named() {
				t.Fatalf("after mapping %d bytes, inspect does not name pid %d in fork_would_fail", big, h.pid)
			}
			if got := h.cmd(t, "fork"); got != "error ENOMEM" {
				t.Fatalf("inspect said pid %d cannot fork; the kernel said %q", h.pid, got)
			}
		})
	}
}

func inspectForkFails(t *testing.T) []int {
	t.Helper()
	h, err := Open(cgroup.Roots{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Inspect(Target{}, kube.EvictionThreshold{Text: "memory.available<100Mi", Bytes: ptr(int64(100 << 20))})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range r.Commit.ForkWouldFail {
		pids = append(pids, p.PID)
	}
	return pids
}

func commitNumbers(t *testing.T) (limit, committed int64) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "CommitLimit:":
			limit = n * 1024
		case "Committed_AS:":
			committed = n * 1024
		}
	}
	return limit, committed
}

type forkHelperProc struct {
	pid int
	in  io.Writer
	out *bufio.Reader
}

func startForkHelper(t *testing.T) *forkHelperProc {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envForkHelper+"=1")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	h := &forkHelperProc{pid: cmd.Process.Pid, in: in, out: bufio.NewReader(out)}
	h.cmd(t, "ping")
	return h
}

func (h *forkHelperProc) cmd(t *testing.T, c string) string {
	t.Helper()
	fmt.Fprintln(h.in, c)
	line, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper %q: %v", c, err)
	}
	return strings.TrimSpace(line)
}

// forkHelper serves: ping; mmap N (private writable, untouched); fork (a
// real fork whose child exits at once; replies "ok" or "error ENOMEM").
func forkHelper() {
	sc := bufio.NewScanner(os.Stdin)
	var keep [][]byte
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "ping":
			fmt.Println("ok")
		case len(f) == 2 && f[0] == "mmap":
			n, _ := strconv.Atoi(f[1])
			b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			keep = append(keep, b)
			fmt.Println("ok")
		case len(f) == 1 && f[0] == "fork":
			pid, errno := rawForkExit()
			if errno != 0 {
				fmt.Println("error", map[bool]string{true: "ENOMEM", false: errno.Error()}[errno == syscall.ENOMEM])
				continue
			}
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
			fmt.Println("ok")
		default:
			fmt.Println("error unknown command")
		}
	}
	_ = keep
	os.Exit(0)
}

// rawForkExit is fork(2) itself (clone with SIGCHLD only: the child gets a
// copy of the mm, which dup_mmap charges), whose child exits at once
// without running any of the Go runtime.
//
//go:norace
func rawForkExit() (int, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		_, _, _ = syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return int(pid), 0
}
