package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables that mark the guest.
const (
	// envBoot is on the kernel command line the host builds; the kernel hands
	// unknown name=value parameters to /init as environment variables. PID 1
	// without it is not ours (say, oomkit as a container's init), and
	// GuestInit leaves it alone.
	envBoot = "OOMKIT_VM"
	// envGuest is set for the program /init starts and everything below it.
	envGuest = "OOMKIT_VM_GUEST"
)

// guestSpecPath is the file in the initramfs that tells /init what to run.
// A file, not the kernel command line, so arguments may hold spaces,
// quotes or anything else.
const guestSpecPath = "/oomkit-vm.json"

// guestSpec is what the host asks the guest to run: Program (the same
// binary as /init) with Args, with Env added to its environment.
type guestSpec struct {
	Program string   `json:"program"` // the binary's path; /init links to it
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	Swap    bool     `json:"swap"`    // swap on the swap disk before starting
	Scratch bool     `json:"scratch"` // mount the scratch disk's ext4 on /tmp
}

// exitSetup is the exit status /init reports when it could not start the
// guest program at all; the reason is in the stderr frame before it.
const exitSetup = 125

// InGuest reports whether this process runs inside an oomkit VM, started by
// GuestInit (directly or as a descendant of the program it ran).
func InGuest() bool { return os.Getenv(envGuest) == "1" }

// GuestInit turns the program into an oomkit guest's /init when it runs as
// PID 1 of a VM booted by this package; anywhere else (including PID 1 of
// a container) it returns at once and does nothing. Every binary that links
// this package calls it from the package's init function, before any other
// package that imports this one is initialised, so neither main nor a
// TestMain has to; calling it again first thing in main is harmless and
// documents the binary's guest role.
//
// As /init it mounts /proc, /sys, /dev (devtmpfs), /tmp (tmpfs) and cgroup
// v2 at /sys/fs/cgroup with the memory controller enabled for the root's
// children, swaps on if Config.SwapMiB asked for it, runs the same binary
// again as a child with the arguments the host asked for (InGuest is true
// there and in its descendants), sends the child's stdout, stderr and exit
// status to the host over the second serial port, and powers the VM off. It
// never returns in that case.
func GuestInit() {
	if os.Getpid() != 1 || os.Getenv(envBoot) != "1" {
		return
	}
	con, _ := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if _, err := runGuest(); err != nil && con != nil {
		fmt.Fprintf(con, "oomkit-vm: %v\n", err)
	}
	syscall.Sync()
	// Power off, not exit: PID 1 exiting panics the kernel.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func init() { GuestInit() }

// runGuest does GuestInit's work and returns the program's exit status.
func runGuest() (int, error) {
	spec, specErr := readGuestSpec()
	if err := mountGuestFilesystems(spec.Scratch); err != nil {
		return exitSetup, err
	}
	port, err := openResultPort("/dev/ttyS1")
	if err != nil {
		return exitSetup, err
	}
	defer port.Close()
	fw := &frameWriter{w: port}
	defer func() {
		// tcdrain: the UART must have sent every byte before power-off.
		_ = unix.IoctlSetInt(int(port.Fd()), unix.TCSBRK, 1)
	}()

	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		fw.frame(frameRelease, []byte(unix.ByteSliceToString(uts.Release[:])))
	}
	code, err := exitSetup, specErr
	if err == nil {
		code, err = runGuestProgram(fw, spec)
	}
	if err != nil {
		fw.frame(frameStderr, []byte("oomkit-vm: "+err.Error()+"\n"))
	}
	fw.frame(frameExit, []byte(fmt.Sprint(code)))
	return code, err
}

// mountGuestFilesystems mounts what the program expects of a Linux system,
// and cgroup v2 with the memory controller delegated to the root's children.
// Nothing mounts cgroup v1, so every controller is free for v2.
func mountGuestFilesystems(scratch bool) error {
	mounts := []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
	}
	if !scratch {
		mounts = append(mounts, struct{ src, dst, typ string }{"tmpfs", "/tmp", "tmpfs"})
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.typ, m.dst, err)
		}
	}
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory"), 0); err != nil {
		return fmt.Errorf("enable the memory controller: %w", err)
	}
	if scratch {
		if err := os.MkdirAll("/tmp", 0o1777); err != nil {
			return err
		}
		return mountScratch("/tmp")
	}
	return nil
}

// openResultPort opens the serial port to the host in raw mode, so that the
// tty layer does not turn \n into \r\n inside the frames.
func openResultPort(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("read termios of %s: %w", path, err)
	}
	// cfmakeraw(3)
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set %s raw: %w", path, err)
	}
	// A raw fd, not one in Go's poller: a blocking write is what we want.
	return os.NewFile(uintptr(fd), path), nil
}

// frameWriter serialises frames from several goroutines onto the port.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) frame(kind byte, p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = writeFrame(f.w, kind, p)
}

// readGuestSpec reads what the host asked for.
func readGuestSpec() (guestSpec, error) {
	var spec guestSpec
	b, err := os.ReadFile(guestSpecPath)
	if err != nil {
		return spec, fmt.Errorf("read %s: %w", guestSpecPath, err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("parse %s: %w", guestSpecPath, err)
	}
	return spec, nil
}

// runGuestProgram runs /init again with the host's arguments and forwards
// its output until it exits.
func runGuestProgram(fw *frameWriter, spec guestSpec) (int, error) {
	if spec.Swap {
		if err := enableSwap(); err != nil {
			return exitSetup, err
		}
	}

	outR, outW, err := os.Pipe()
	if err != nil {
		return exitSetup, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return exitSetup, err
	}
	prog := spec.Program
	if prog == "" {
		prog = "/init"
	}
	cmd := exec.Command(prog, spec.Args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), envGuest+"=1", "PATH=/", "HOME=/", "TMPDIR=/tmp")
	cmd.Env = append(cmd.Env, spec.Env...)
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return exitSetup, fmt.Errorf("start %s %v: %w", prog, spec.Args, err)
	}
	var copies sync.WaitGroup
	for _, c := range []struct {
		kind byte
		r    *os.File
	}{{frameStdout, outR}, {frameStderr, errR}} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.r.Read(buf)
				if n > 0 {
					fw.frame(c.kind, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
	werr := cmd.Wait()
	// A process the program left behind may still hold the pipes open:
	// give the copies a moment, then kill everything but us.
	done := make(chan struct{})
	go func() { copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		_ = unix.Kill(-1, unix.SIGKILL)
		<-done
	}
	return exitStatus(cmd.ProcessState, werr), nil
}

// exitStatus is a shell-style status: the exit code, or 128+signal.
func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return exitSetup
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return exitSetup
	}
	return ps.ExitCode()
}
