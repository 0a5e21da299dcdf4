package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors a boot can end with; test them with errors.Is. The error text says
// what to do.
var (
	// ErrNoQEMU means qemu-system-x86_64 is not installed (or not where
	// Config.QEMU points).
	ErrNoQEMU = errors.New("qemu not found")
	// ErrNoKernel means no kernel image could be found or fetched.
	ErrNoKernel = errors.New("no guest kernel")
	// ErrKernelPanic means the guest kernel panicked.
	ErrKernelPanic = errors.New("guest kernel panic")
	// ErrTimeout means the guest did not finish within Config.Timeout.
	ErrTimeout = errors.New("guest timed out")
	// ErrNoExitStatus means qemu ended without the guest reporting an exit
	// status: the guest's /init does not link this package (so GuestInit
	// never ran), or qemu failed.
	ErrNoExitStatus = errors.New("guest sent no exit status")
)

// Environment variables that set Config's defaults, so `go test` and CI can
// point every VM-backed test at the same qemu and kernel.
const (
	EnvQEMU          = "OOMKIT_QEMU"                 // Config.QEMU
	EnvKernel        = "OOMKIT_VM_KERNEL"            // Config.Kernel
	EnvKernelPackage = "OOMKIT_VM_KERNEL_PACKAGE"    // Config.KernelPackage
	EnvAccel         = "OOMKIT_VM_ACCEL"             // Config.Accel
	envRequire       = "OOMKIT_REQUIRE_KERNEL_TESTS" // a skip is a failure
)

// Defaults. 512 MiB leaves room for a 64–256 MiB cgroup experiment on top
// of the initramfs (which lives in RAM). One CPU: two VMs at once on a
// 2-core host then take 2.75 s each instead of 3.8 s (spec/qemu-v2.md §3),
// and a single VM loses ~0.2 s at most.
const (
	DefaultMemoryMiB = 512
	DefaultCPUs      = 1
	DefaultTimeout   = 5 * time.Minute
	qemuBinary       = "qemu-system-x86_64"
	installHint      = "apt-get install -y --no-install-recommends qemu-system-x86"
)

// Config says how to boot a guest. The zero value is usable: every empty
// field takes its environment variable (see Env*) or the default.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary; a bare name is looked up in PATH.
	QEMU string
	// Kernel is a local kernel image (bzImage or ELF vmlinux). If empty,
	// KernelPackage is fetched.
	Kernel string
	// KernelPackage is a Debian package holding /boot/vmlinuz-*, fetched with
	// apt-get download and cached; default: the one linux-image-cloud-amd64
	// depends on (the cloud kernel is LZ4-compressed and boots fast under
	// TCG). A metapackage resolves to the image it depends on.
	KernelPackage string
	// CacheDir holds fetched kernels; default: os.UserCacheDir()/oomkit/kernels.
	CacheDir string
	// Accel is qemu's accelerator; default "tcg". Only set "kvm" where the
	// CPU really has vmx or svm: a paravirtual /dev/kvm hangs stock kernels.
	Accel string
	// MemoryMiB and CPUs size the guest.
	MemoryMiB int
	CPUs      int
	// Timeout bounds the whole boot; the guest is killed after it.
	Timeout time.Duration
	// KernelArgs are added to the kernel command line. name=value pairs
	// without a dot reach the guest's /init as environment variables.
	KernelArgs []string
	// Env is added to the guest program's environment.
	Env []string
	// Stdout and Stderr, if set, receive the guest program's output as it
	// arrives, besides Result.
	Stdout, Stderr io.Writer
	// SwapMiB, if positive, gives the guest a swap device of that size
	// (an NVMe disk backed by host memory, swapped on before the program
	// starts), so anonymous memory can be reclaimed: needed to see
	// memory.high reclaim rather than only throttle.
	SwapMiB int
	// ScratchMiB, if positive, makes the guest's /tmp an ext4 filesystem of
	// that size on a disk backed by host memory, instead of tmpfs, so files
	// written there are page cache the kernel can reclaim (tmpfs pages are
	// shmem and cannot be dropped). Needs the host's mkfs.ext4.
	ScratchMiB int
	// Name is the program's file name in the guest, and so its comm in the
	// kernel's OOM reports; default "guest" (RunOomkit: "oomkit", RunTest:
	// the test binary's name). /init is a symlink to it.
	Name string
	// Binary is the static oomkit binary RunOomkit boots (default: see
	// RunOomkit). Run ignores it.
	Binary string
	// Compress gzips the initramfs. Off by default: an uncompressed archive
	// boots faster under TCG and the kernel takes both.
	Compress bool
}

// withDefaults fills the empty fields.
func (c Config) withDefaults() Config {
	env := func(v *string, name, def string) {
		if *v == "" {
			*v = os.Getenv(name)
		}
		if *v == "" {
			*v = def
		}
	}
	env(&c.QEMU, EnvQEMU, qemuBinary)
	env(&c.Kernel, EnvKernel, "")
	env(&c.KernelPackage, EnvKernelPackage, "")
	env(&c.Accel, EnvAccel, "tcg")
	if c.MemoryMiB <= 0 {
		c.MemoryMiB = DefaultMemoryMiB
	}
	if c.CPUs <= 0 {
		c.CPUs = DefaultCPUs
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Result is what a guest run produced.
type Result struct {
	// Stdout and Stderr are the guest program's output, byte for byte.
	Stdout, Stderr []byte
	// Console is the kernel console (ttyS0). The command line has "quiet",
	// so it holds only warnings and worse, such as the OOM killer's
	// "Killed process" lines; read /dev/kmsg in the guest for full reports.
	Console []byte
	// ExitCode is the guest program's exit status (128+N for signal N), or
	// -1 if the guest never reported one.
	ExitCode int
	// KernelRelease is the guest kernel's `uname -r`, e.g. 6.1.0-56-cloud-amd64.
	KernelRelease string
	// Kernel is the kernel image booted.
	Kernel string
	// Duration is from qemu's start to its exit.
	Duration time.Duration
	// PID was qemu's process ID (and process group), for diagnostics.
	PID int
}

// Run boots a guest whose /init is program, a static Linux binary that
// links this package (whose init function runs GuestInit), and runs program
// with args there. It returns when the guest has powered off, or kills qemu
// (and anything it started) on a guest kernel panic, on cfg.Timeout, or when
// ctx is done. The error is nil only
// if the guest reported an exit status; a non-zero status is in
// Result.ExitCode, not the error. Result is returned with what was
// collected even when err is not nil.
func Run(ctx context.Context, cfg Config, program []byte, args ...string) (*Result, error) {
	cfg = cfg.withDefaults()
	res := &Result{ExitCode: -1}
	qemu, err := FindQEMU(cfg.QEMU)
	if err != nil {
		return res, err
	}
	kernel, err := cfg.kernelPath(ctx)
	if err != nil {
		return res, err
	}
	res.Kernel = kernel
	name := cfg.Name
	if name == "" {
		name = "guest"
	}
	if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || len(name) > 64 {
		return res, fmt.Errorf("guest program name %q: want a plain file name", name)
	}
	spec, err := json.Marshal(guestSpec{Program: "/" + name, Args: args, Env: cfg.Env, Swap: cfg.SwapMiB > 0, Scratch: cfg.ScratchMiB > 0})
	if err != nil {
		return res, err
	}
	initrd, err := buildInitramfs(name, program, []initramfsFile{{name: guestSpecPath[1:], mode: 0o644, data: spec}}, cfg.Compress)
	if err != nil {
		return res, err
	}
	return res, boot(ctx, cfg, qemu, kernel, initrd, res)
}

// FindQEMU returns the path of the qemu binary name (a path, or a name to
// look up in PATH), or an error wrapping ErrNoQEMU that says how to install it.
func FindQEMU(name string) (string, error) {
	if name == "" {
		name = qemuBinary
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed or not executable (install it: %s)", ErrNoQEMU, name, installHint)
	}
	return p, nil
}

// boot runs qemu and collects the guest's results into res.
//
// Nothing touches the disk: the initramfs is a memfd and the two serial
// ports are pipes, all handed to qemu as /dev/fd/N. qemu runs in its own
// process group, which is killed as a whole, and gets SIGKILL if this
// process dies first.
func boot(ctx context.Context, cfg Config, qemu, kernel string, initrd []byte, res *Result) error {
	initrdFile, err := memfdWith("oomkit-initramfs", initrd)
	if err != nil {
		return err
	}
	defer initrdFile.Close()
	conR, conW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer conR.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		conW.Close()
		return err
	}
	defer outR.Close()

	// ExtraFiles start at fd 3.
	// no_timer_check: on a loaded host TCG can starve the boot-time check
	// of the IO-APIC timer, which then panics ("IO-APIC + timer doesn't
	// work!"; seen at a load average of 20 on 2 cores). The check exists
	// for broken real hardware, not for qemu's emulated PIT.
	cmdline := append([]string{"console=ttyS0", "panic=-1", "quiet", "no_timer_check", envBoot + "=1"}, cfg.KernelArgs...)
	cmd := exec.Command(qemu,
		"-accel", cfg.Accel,
		"-m", strconv.Itoa(cfg.MemoryMiB), "-smp", strconv.Itoa(cfg.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "file:/dev/fd/3", // ttyS0: kernel console
		"-serial", "file:/dev/fd/4", // ttyS1: frames from GuestInit
		"-kernel", kernel, "-initrd", "/dev/fd/5",
		"-append", strings.Join(cmdline, " "),
	)
	cmd.ExtraFiles = []*os.File{conW, outW, initrdFile}
	swapFD, scratchFD := -1, -1
	if cfg.SwapMiB > 0 {
		swap, err := swapImage(cfg.SwapMiB)
		if err != nil {
			conW.Close()
			outW.Close()
			return err
		}
		defer swap.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, swap)
		swapFD = 2 + len(cmd.ExtraFiles)
	}
	if cfg.ScratchMiB > 0 {
		scratch, err := scratchImage(ctx, cfg.ScratchMiB)
		if err != nil {
			conW.Close()
			outW.Close()
			return err
		}
		defer scratch.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, scratch)
		scratchFD = 2 + len(cmd.ExtraFiles)
	}
	cmd.Args = append(cmd.Args, diskArgs(swapFD, scratchFD)...)
	var qemuErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuErr, &qemuErr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	err = cmd.Start()
	conW.Close()
	outW.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", qemu, err)
	}
	res.PID = cmd.Process.Pid
	killGroup := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	panicked := make(chan string, 1)
	var readers sync.WaitGroup
	var console bytes.Buffer
	readers.Add(2)
	go func() {
		defer readers.Done()
		watchConsole(conR, &console, panicked)
	}()
	exited := make(chan struct{}) // closed when the exit frame arrived
	var frameErr error
	go func() {
		defer readers.Done()
		frameErr = readFrames(outR, cfg, res, exited)
		_, _ = io.Copy(io.Discard, outR) // never leave qemu blocked on a full pipe
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	var stop, waitErr error
	var grace <-chan time.Time
	exitedC := (<-chan struct{})(exited)
wait:
	for {
		select {
		case waitErr = <-waited:
			break wait
		case <-exitedC:
			// The guest is powering off; it takes milliseconds.
			exitedC = nil
			grace = time.After(5 * time.Second)
			continue
		case <-grace:
		case msg := <-panicked:
			stop = fmt.Errorf("%w: %s", ErrKernelPanic, msg)
		case <-timer.C:
			stop = fmt.Errorf("%w: no result within %v, qemu killed (a hung guest; raise the timeout if it is only slow)", ErrTimeout, cfg.Timeout)
		case <-ctx.Done():
			stop = fmt.Errorf("boot %s: %w", kernel, ctx.Err())
		}
		killGroup()
		waitErr = <-waited
		break
	}
	// Anything qemu left in its group goes too; then the pipes close.
	killGroup()
	readers.Wait()
	res.Duration = time.Since(start)
	res.Console = console.Bytes()

	if errors.Is(stop, ErrTimeout) && len(bytes.TrimSpace(res.Console)) > 0 {
		return fmt.Errorf("%w; last console output: %s", stop, tail(res.Console, 200))
	}
	if stop != nil {
		return stop
	}
	if res.ExitCode < 0 {
		if msg := panicLine(res.Console); msg != "" {
			return fmt.Errorf("%w: %s", ErrKernelPanic, msg)
		}
		why := "qemu exited"
		if waitErr != nil {
			why = "qemu: " + waitErr.Error()
		}
		if s := strings.TrimSpace(qemuErr.String()); s != "" {
			why += ": " + firstLine(s)
		}
		if frameErr != nil {
			why += "; " + frameErr.Error()
		}
		return fmt.Errorf("%w (%s; the guest's /init must link internal/vm so GuestInit runs; console: %s)", ErrNoExitStatus, why, tail(res.Console, 300))
	}
	return nil
}

// memfdWith returns an anonymous in-memory file holding b.
func memfdWith(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, 0) // no MFD_CLOEXEC: qemu must inherit it
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write initramfs to memfd: %w", err)
	}
	return f, nil
}

// panicMarker starts the line the kernel prints on every panic.
const panicMarker = "Kernel panic - not syncing"

// watchConsole copies the console into buf (up to 8 MiB) and reports the
// first panic line.
func watchConsole(r io.Reader, buf *bytes.Buffer, panicked chan<- string) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if buf.Len() < 8<<20 {
			buf.WriteString(line)
		}
		if i := strings.Index(line, panicMarker); i >= 0 {
			select {
			case panicked <- strings.TrimSpace(line[i:]):
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// panicLine returns the console's panic message, or "".
func panicLine(console []byte) string {
	i := bytes.Index(console, []byte(panicMarker))
	if i < 0 {
		return ""
	}
	return firstLine(strings.TrimSpace(string(console[i:])))
}

// readFrames demultiplexes the guest's frames into res until the exit
// frame or the end of the pipe.
func readFrames(r io.Reader, cfg Config, res *Result, exited chan<- struct{}) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var stdout, stderr bytes.Buffer
	defer func() {
		res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	}()
	for {
		kind, p, err := readFrame(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch kind {
		case frameStdout:
			stdout.Write(p)
			if cfg.Stdout != nil {
				_, _ = cfg.Stdout.Write(p)
			}
		case frameStderr:
			stderr.Write(p)
			if cfg.Stderr != nil {
				_, _ = cfg.Stderr.Write(p)
			}
		case frameRelease:
			res.KernelRelease = string(p)
		case frameExit:
			n, err := strconv.Atoi(string(p))
			if err != nil {
				return fmt.Errorf("bad exit status %q from the guest", p)
			}
			res.ExitCode = n
			close(exited)
			return nil
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// tail returns the last n bytes of b on one line, for error messages.
func tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	if s == "" {
		return "(empty)"
	}
	return strings.Join(strings.Fields(s), " ")
}
