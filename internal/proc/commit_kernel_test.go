package proc_test

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

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

// envCommitHelper makes the test binary a commit helper: a process that
// maps, grows and forks on command (see commitHelper).
const envCommitHelper = "OOMKIT_COMMIT_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(envCommitHelper) == "1" {
		commitHelper(os.Stdin, os.Stdout)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommitMatchesKernel checks, on this machine's kernel, that a
// process's commit charge as ReadCommit reads it moves by exactly what
// Committed_AS moves, and by the page-rounded size the kernel's rules say
// (Documentation/mm/overcommit-accounting.rst), for each kind of mapping.
func TestCommitMatchesKernel(t *testing.T) {
	if vm.InGuest() {
		t.Skip("the host's test")
	}
	if os.Geteuid() != 0 {
		kerneltest.Skip(t, "needs root to read another process's smaps and to put it in a memcg")
	}
	// The helper touches nothing, but it runs in a limited memcg all the same.
	m := kerneltest.NewMemcg(t, 256<<20)
	commitCases(t, func(pid int) {
		if err := m.AddProcess(pid); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCommitMatchesKernelInVM is the same on the guest kernels in mode 2
// (vm.overcommit_memory is the guest's own), where MAP_NORESERVE is
// ignored and charged.
func TestCommitMatchesKernelInVM(t *testing.T) {
	if testing.Short() && !vm.InGuest() {
		t.Skip("boots two VMs")
	}
	for _, k := range vm.TestKernels {
		t.Run(k.Name, func(t *testing.T) {
			if !vm.InGuest() {
				vmtest.RunTest(t, vm.Config{KernelPackage: k.Package})
				return
			}
			// A Go process commits its first heap arena (64 MiB) and more:
			// the test binary, its helper and the helper's forked child
			// need about 350 MiB, so CommitLimit is all of the guest's
			// 512 MiB of RAM.
			for name, v := range map[string]string{"overcommit_ratio": "100", "overcommit_memory": "2"} {
				if err := os.WriteFile("/proc/sys/vm/"+name, []byte(v), 0); err != nil {
					t.Fatal(err)
				}
			}
			commitCases(t, func(int) {})
		})
	}
}

// commitCases runs every case against a fresh helper.
func commitCases(t *testing.T, place func(pid int)) {
	f, err := proc.NewFS("")
	if err != nil {
		t.Fatal(err)
	}
	mode := readMode(t)
	v, err := f.OSRelease()
	if err != nil {
		t.Fatal(err)
	}
	kv, err := mm.ParseVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	if !mm.CommittedASExact(kv) {
		kerneltest.Skip(t, fmt.Sprintf("kernel %s reads Committed_AS approximately (before 5.10): no exact comparison", v))
	}
	t.Logf("kernel %s, vm.overcommit_memory %d", v, mode)
	h := startHelper(t, place)
	const pg = mm.PageSize
	noreserve := int64(0)
	if !mm.NoReserveHonoured(mode) {
		noreserve = 256 * pg
	}
	cases := []struct {
		name string
		do   string // the helper command; the reply's first word is an address or a pid
		undo func(reply string) string
		want int64 // bytes; from the kernel's documented rules
		// child: the figure to compare is the forked child's, whose
		// "before" is nothing.
		child bool
	}{
		{"untouched private writable mmap", "mmap 1048576", func(r string) string { return "munmap " + r + " 1048576" }, 1 << 20, false},
		{"mmap of a length that is not whole pages", "mmap 10000", func(r string) string { return "munmap " + r + " 10000" }, 3 * pg, false},
		{"brk growth (page-rounded)", "brk 300000", func(string) string { return "brkreset" }, mm.PageRound(300000) * pg, false},
		{"PROT_NONE reservation", "reserve 4194304", func(r string) string { return "munmap " + r + " 4194304" }, 0, false},
		{"MAP_NORESERVE", "noreserve 1048576", func(r string) string { return "munmap " + r + " 1048576" }, noreserve, false},
		{"fork", "fork", func(r string) string { return "reap " + r }, -1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok := false
			var last string
			for attempt := 1; attempt <= 3000 && !ok; attempt++ {
				c0 := committedBytes(t, f)
				p0 := commitOf(t, f, h.pid)
				reply := h.cmd(t, tc.do)
				target, before := h.pid, p0
				if tc.child {
					target, _ = strconv.Atoi(reply)
					before = 0
				}
				p1 := commitOf(t, f, target)
				c1 := committedBytes(t, f)
				want := tc.want
				if tc.child {
					// fork charges the parent's VM_ACCOUNT pages again
					// (dup_mmap): the child's figure is the parent's.
					want = p0
				}
				h.cmd(t, tc.undo(reply))
				last = fmt.Sprintf("attempt %d: Committed_AS moved %d, the process's figure %d, the rules say %d", attempt, c1-c0, p1-before, want)
				if c1-c0 == p1-before && p1-before == want {
					ok = true
					t.Logf("exact on %s", last)
				}
			}
			if !ok {
				t.Errorf("no attempt matched exactly; last %s", last)
			}
		})
	}
	// Charged outside the process: Committed_AS moves, the process's own
	// figure does not, and what oomkit attributes outside processes moves
	// by the same amount.
	outside := func(name, do string, undo func(string) string, want int64, attributed func(proc.CommitCensus) int64) {
		t.Run(name, func(t *testing.T) {
			ok := false
			var last string
			for attempt := 1; attempt <= 300 && !ok; attempt++ {
				cen0 := f.CommitCensus([]int{h.pid})
				c0 := committedBytes(t, f)
				reply := h.cmd(t, do)
				c1 := committedBytes(t, f)
				cen1 := f.CommitCensus([]int{h.pid})
				h.cmd(t, undo(reply))
				dp := cen1.ByPID[h.pid].Bytes - cen0.ByPID[h.pid].Bytes
				da := attributed(cen1) - attributed(cen0)
				last = fmt.Sprintf("attempt %d: Committed_AS moved %d, attributed outside %d, the process's own figure %d, want %d", attempt, c1-c0, da, dp, want)
				if c1-c0 == want && da == want && dp == 0 {
					ok = true
					t.Logf("exact on %s", last)
				}
			}
			if !ok {
				t.Errorf("no attempt matched exactly; last %s", last)
			}
		})
	}
	sysv := func(c proc.CommitCensus) int64 { return *c.Shared.SysVBytes }
	outside("SysV segment (page-rounded)", "shmget 1048676", func(id string) string { return "shmrm " + id }, 1048576+pg, sysv)
	outside("shared anonymous mapping", "mmapshared 2097152", func(a string) string { return "munmap " + a + " 2097152" }, 2<<20,
		func(c proc.CommitCensus) int64 { return c.SharedAnonBytes })
	if vm.InGuest() {
		// A size-limited tmpfs (the guest's own mount): its pages are
		// charged one by one as they are written (shmem_acct_blocks).
		dir := "/oomkit-tmpfs"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
			t.Fatal(err)
		}
		t.Run("tmpfs file written", func(t *testing.T) {
			data := make([]byte, 3<<20)
			ok := false
			var last string
			for attempt := 1; attempt <= 300 && !ok; attempt++ {
				s0 := f.SharedMemory()
				c0 := committedBytes(t, f)
				if err := os.WriteFile(dir+"/f", data, 0o644); err != nil {
					t.Fatal(err)
				}
				c1 := committedBytes(t, f)
				s1 := f.SharedMemory()
				if err := os.Remove(dir + "/f"); err != nil {
					t.Fatal(err)
				}
				last = fmt.Sprintf("attempt %d: Committed_AS moved %d, tmpfs attributed %d, want %d", attempt, c1-c0, s1.TmpfsBytes-s0.TmpfsBytes, 3<<20)
				ok = c1-c0 == 3<<20 && s1.TmpfsBytes-s0.TmpfsBytes == 3<<20
			}
			if !ok {
				t.Errorf("no attempt matched exactly; last %s", last)
			} else {
				t.Logf("exact on %s", last)
			}
		})
	}
	t.Run("PROT_NONE reservation made writable", func(t *testing.T) {
		addr := h.cmd(t, "reserve 4194304")
		defer h.cmd(t, "munmap "+addr+" 4194304")
		ok := false
		var last string
		for attempt := 1; attempt <= 3000 && !ok; attempt++ {
			c0 := committedBytes(t, f)
			p0 := commitOf(t, f, h.pid)
			h.cmd(t, "mprotect "+addr+" 65536 rw")
			p1 := commitOf(t, f, h.pid)
			c1 := committedBytes(t, f)
			// Back to PROT_NONE: 6.12+ un-charges a never-faulted anonymous
			// range, older kernels keep the charge; unmap and map again
			// to start each attempt from an uncharged reservation.
			h.cmd(t, "munmap "+addr+" 4194304")
			addr = h.cmd(t, "reserve 4194304")
			last = fmt.Sprintf("attempt %d: Committed_AS moved %d, the process's figure %d, want 65536", attempt, c1-c0, p1-p0)
			if c1-c0 == p1-p0 && p1-p0 == 65536 {
				ok = true
				t.Logf("exact on %s", last)
			}
		}
		if !ok {
			t.Errorf("no attempt matched exactly; last %s", last)
		}
	})
}

func readMode(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func committedBytes(t *testing.T, f proc.FS) int64 {
	t.Helper()
	m, err := f.Meminfo()
	if err != nil || m.CommittedASKB == nil {
		t.Fatalf("Committed_AS: %v", err)
	}
	return *m.CommittedASKB * 1024
}

func commitOf(t *testing.T, f proc.FS, pid int) int64 {
	t.Helper()
	c, err := f.ReadCommit(pid)
	if err != nil {
		t.Fatal(err)
	}
	return c.Bytes
}

type helper struct {
	pid int
	in  io.Writer
	out *bufio.Reader
}

func startHelper(t *testing.T, place func(pid int)) *helper {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envCommitHelper+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	h := &helper{pid: cmd.Process.Pid, in: in, out: bufio.NewReader(out)}
	place(h.pid)
	h.cmd(t, "ping")
	return h
}

// cmd sends one command and returns the reply after "ok ".
func (h *helper) cmd(t *testing.T, c string) string {
	t.Helper()
	if _, err := fmt.Fprintln(h.in, c); err != nil {
		t.Fatal(err)
	}
	line, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %q: %v", c, err)
	}
	reply, ok := strings.CutPrefix(strings.TrimSpace(line), "ok")
	if !ok {
		t.Fatalf("helper: %q: %s", c, line)
	}
	return strings.TrimSpace(reply)
}

// commitHelper serves commands one per line: mmap/noreserve/reserve LEN
// (private anonymous, read-write / MAP_NORESERVE / PROT_NONE; replies the
// address), mprotect ADDR LEN rw, munmap ADDR LEN, brk LEN (grows the
// break), brkreset, fork (a real fork, not Go's vfork-style clone; replies
// the child's pid; the child only pauses), reap PID.
func commitHelper(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	brk0, _, _ := syscall.RawSyscall(syscall.SYS_BRK, 0, 0, 0)
	reply := func(format string, args ...any) { fmt.Fprintf(w, "ok "+format+"\n", args...) }
	fail := func(err error) { fmt.Fprintf(w, "error %v\n", err) }
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		num := func(i int) uintptr {
			n, _ := strconv.ParseUint(f[i], 0, 64)
			return uintptr(n)
		}
		switch f[0] {
		case "ping":
			reply("")
		case "mmap", "noreserve", "reserve":
			prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS
			switch f[0] {
			case "noreserve":
				flags |= unix.MAP_NORESERVE
			case "reserve":
				prot = unix.PROT_NONE
			}
			addr, _, errno := syscall.Syscall6(syscall.SYS_MMAP, 0, num(1), uintptr(prot), uintptr(flags), ^uintptr(0), 0)
			if errno != 0 {
				fail(errno)
				continue
			}
			reply("%#x", addr)
		case "shmget":
			id, _, errno := syscall.Syscall(syscall.SYS_SHMGET, 0 /* IPC_PRIVATE */, num(1), 0o1000|0o600 /* IPC_CREAT */)
			if errno != 0 {
				fail(errno)
				continue
			}
			reply("%d", id)
		case "shmrm":
			if _, _, errno := syscall.Syscall(syscall.SYS_SHMCTL, num(1), 0 /* IPC_RMID */, 0); errno != 0 {
				fail(errno)
				continue
			}
			reply("")
		case "mmapshared":
			addr, _, errno := syscall.Syscall6(syscall.SYS_MMAP, 0, num(1), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
			if errno != 0 {
				fail(errno)
				continue
			}
			reply("%#x", addr)
		case "mprotect":
			if _, _, errno := syscall.Syscall(syscall.SYS_MPROTECT, num(1), num(2), unix.PROT_READ|unix.PROT_WRITE); errno != 0 {
				fail(errno)
				continue
			}
			reply("")
		case "munmap":
			if _, _, errno := syscall.Syscall(syscall.SYS_MUNMAP, num(1), num(2), 0); errno != 0 {
				fail(errno)
				continue
			}
			reply("")
		case "brk":
			got, _, _ := syscall.RawSyscall(syscall.SYS_BRK, brk0+num(1), 0, 0)
			if got != brk0+num(1) {
				fail(fmt.Errorf("brk stayed at %#x", got))
				continue
			}
			reply("")
		case "brkreset":
			_, _, _ = syscall.RawSyscall(syscall.SYS_BRK, brk0, 0, 0)
			reply("")
		case "fork":
			pid, errno := rawFork()
			if errno != 0 {
				fail(errno)
				continue
			}
			reply("%d", pid)
		case "reap":
			pid := int(num(1))
			_ = syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
			reply("")
		default:
			fail(fmt.Errorf("unknown command %q", f[0]))
		}
	}
}

// rawFork is fork(2) itself: clone with only SIGCHLD, so the child gets a
// copy of the mm (dup_mmap charges it) where Go's own fork paths share it
// (CLONE_VM|CLONE_VFORK). The child runs nothing of the Go runtime: it
// pauses in a raw system call until it is killed.
//
//go:norace
func rawFork() (int, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		for {
			_, _, _ = syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
		}
	}
	return int(pid), 0
}
