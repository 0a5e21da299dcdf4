package vm_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

var update = flag.Bool("update", false, "rewrite testdata/guest-6.1-group-kill.{log,kmsg} from a fresh guest run")

// envHog makes the test binary a memory hog (re-exec'd by the guest tests).
const envHog = "OOMKIT_VMTEST_HOG"

func TestMain(m *testing.M) {
	if os.Getpid() == 1 {
		// PID 1 that GuestInit did not take over: TestGuestPanic booted us
		// with OOMKIT_VM=0. Exiting panics the kernel ("Attempted to kill init").
		os.Exit(3)
	}
	if mib := os.Getenv(envWrite); mib != "" {
		n, _ := strconv.Atoi(mib)
		writeFile(n)
	}
	if mib := os.Getenv(envHog); mib != "" {
		n, _ := strconv.Atoi(mib)
		hog(n)
	}
	os.Exit(m.Run())
}

// envWrite makes the test binary write that many MiB to a file in /tmp and
// exit 0: page cache, not anonymous memory.
const envWrite = "OOMKIT_VMTEST_WRITE"

// writeFile writes mib MiB to /tmp/oomkit-vmtest-file, then exits 0.
func writeFile(mib int) {
	f, err := os.Create("/tmp/oomkit-vmtest-file")
	if err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(3)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for i := 0; i < mib; i++ {
		if _, err := f.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(3)
		}
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// hogComm is the hogs' command name in the kernel's reports (instead of
// "exe", from /proc/self/exe).
const hogComm = "vmtest-hog"

// hog maps and touches 1 MiB every 5 ms, up to mib MiB, then exits 0, or
// with envHold=1 keeps its memory until killed.
func hog(mib int) {
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&append([]byte(hogComm), 0)[0])), 0, 0, 0)
	for i := 0; i < mib; i++ {
		b, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hog:", err)
			os.Exit(3)
		}
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		time.Sleep(5 * time.Millisecond)
	}
	if os.Getenv(envHold) == "1" {
		time.Sleep(time.Hour) // until killed
	}
	os.Exit(0)
}

// guestCgroup creates a child of the guest's root cgroup v2 with the given
// memory files set, and returns its path and an O_DIRECTORY fd for
// CLONE_INTO_CGROUP.
func guestCgroup(t *testing.T, name string, files map[string]string) (string, int) {
	t.Helper()
	cg := filepath.Join("/sys/fs/cgroup", name)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memory.swap.max", "memory.max", "memory.high", "memory.oom.group"} {
		if v, ok := files[f]; ok {
			if err := os.WriteFile(filepath.Join(cg, f), []byte(v), 0); err != nil {
				t.Fatalf("write %s: %v", f, err)
			}
		}
	}
	fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return cg, fd
}

// startHogs starts n copies of this binary as hogs of mib MiB each, directly
// in the cgroup whose fd is cgfd.
func startHogs(t *testing.T, n, mib, cgfd int) []*exec.Cmd {
	t.Helper()
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		c := exec.Command("/proc/self/exe")
		c.Env = append(os.Environ(), envHog+"="+strconv.Itoa(mib))
		c.Stderr = os.Stderr
		c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// readKeyed reads a "key value" file such as memory.events or memory.stat.
func readKeyed(t *testing.T, path string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("%s: bad line %q", path, line)
		}
		m[f[0]] = n
	}
	return m
}

// kmsgReader reads /dev/kmsg records logged after it was opened.
type kmsgReader struct{ fd int }

func openKmsg(t *testing.T) *kmsgReader {
	t.Helper()
	// A raw non-blocking fd: an *os.File would park EAGAIN in Go's poller
	// and block forever at the end of the buffer.
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Seek(fd, 0, 2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return &kmsgReader{fd: fd}
}

// recordsUntil reads records until missing, given the dmesg text of those
// read, says nothing is missing; it waits in poll(2) for the kernel to log
// more (a process can be reaped before its "Killed process" line is
// printed: __oom_kill_process() sends SIGKILL first). The deadline is a
// guard.
func (k *kmsgReader) recordsUntil(t *testing.T, missing func(text string) string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var recs []string
	for {
		recs = append(recs, k.records()...)
		m := missing(dmesgText(recs))
		if m == "" {
			return recs
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("kernel log lacks %s after 30 s", m)
		}
		fds := []unix.PollFd{{Fd: int32(k.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			t.Fatalf("poll /dev/kmsg: %v", err)
		}
	}
}

// records returns the raw records ("prio,seq,usec,flags;text") read so far.
func (k *kmsgReader) records() []string {
	var recs []string
	buf := make([]byte, 16<<10)
	for {
		n, err := syscall.Read(k.fd, buf) // one record per read
		if err == syscall.EPIPE {
			continue // overwritten records: go on with the next
		}
		if err != nil || n <= 0 {
			return recs
		}
		recs = append(recs, strings.TrimRight(string(buf[:n]), "\n"))
	}
}

// dmesgText renders kmsg records as `dmesg` prints them: "[ sec.usec] text",
// embedded newlines (escaped \x0a in kmsg) as lines with the same stamp, and
// without the key=value continuation lines.
func dmesgText(recs []string) string {
	var b strings.Builder
	for _, r := range recs {
		hdr, msg, ok := strings.Cut(strings.SplitN(r, "\n", 2)[0], ";")
		if !ok {
			continue
		}
		f := strings.Split(hdr, ",")
		if len(f) < 3 {
			continue
		}
		usec, _ := strconv.ParseInt(f[2], 10, 64)
		for _, line := range strings.Split(strings.ReplaceAll(msg, `\x0a`, "\n"), "\n") {
			fmt.Fprintf(&b, "[%5d.%06d] %s\n", usec/1e6, usec%1e6, strings.ReplaceAll(line, `\x5c`, `\`))
		}
	}
	return b.String()
}

// Markers around the kernel log the group-kill test prints, so the host side
// can save it as testdata with -update.
const (
	kmsgBegin = "=== KMSG BEGIN"
	kmsgEnd   = "=== KMSG END"
)

func TestGroupKill(t *testing.T) {
	if !vm.InGuest() {
		res := vmtest.RunTest(t, vm.Config{})
		if *update {
			saveGroupKillLog(t, res)
		}
		return
	}
	const procs = 3
	cg, fd := guestCgroup(t, "oomkit-vmtest-group", map[string]string{
		"memory.max": "64M", "memory.swap.max": "0", "memory.oom.group": "1",
	})
	if ev := readKeyed(t, cg+"/memory.events"); ev["oom_kill"] != 0 || ev["oom_group_kill"] != 0 {
		t.Fatalf("fresh cgroup has events %v", ev)
	}
	kmsg := openKmsg(t)
	start := time.Now()
	for _, c := range startHogs(t, procs, 256, fd) {
		err := c.Wait()
		ws := c.ProcessState.Sys().(syscall.WaitStatus)
		t.Logf("pid %d: %v after %v", c.Process.Pid, err, time.Since(start).Round(time.Millisecond))
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("pid %d: %v, want killed by SIGKILL", c.Process.Pid, c.ProcessState)
		}
	}
	ev := readKeyed(t, cg+"/memory.events")
	t.Logf("memory.events: %v", ev)
	// spec/qemu-v2.md §5.3: oom_kill counts every "Killed process" line,
	// which may repeat a process or name a thread, so only a lower bound holds.
	if ev["oom_group_kill"] < 1 {
		t.Errorf("oom_group_kill = %d, want >= 1", ev["oom_group_kill"])
	}
	if ev["oom_kill"] < procs {
		t.Errorf("oom_kill = %d, want >= %d", ev["oom_kill"], procs)
	}
	name := "/" + filepath.Base(cg)
	want := []string{
		"invoked oom-killer",
		"oom-kill:constraint=CONSTRAINT_MEMCG",
		"oom_memcg=" + name,
		"Tasks in " + name + " are going to be killed due to memory.oom.group set",
		"Memory cgroup out of memory: Killed process",
		"(" + hogComm + ")",
	}
	// Wait for a Killed line per process (a line may name a thread, or
	// repeat a process: spec/qemu-v2.md §5.3), then check the report.
	recs := kmsg.recordsUntil(t, func(text string) string {
		if n := strings.Count(text, "Killed process "); n < procs {
			return fmt.Sprintf("%d Killed lines (has %d)", procs, n)
		}
		return ""
	})
	text := dmesgText(recs)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("kernel log lacks %q", w)
		}
	}
	fmt.Println(kmsgBegin)
	for _, r := range recs {
		fmt.Println(strings.ReplaceAll(r, "\n", "\n "))
	}
	fmt.Println(kmsgEnd)
}

// saveGroupKillLog writes the kernel log the guest printed between the
// markers to testdata, as dmesg text and as raw /dev/kmsg records.
func saveGroupKillLog(t *testing.T, res *vm.Result) {
	out := string(res.Stdout)
	i, j := strings.Index(out, kmsgBegin+"\n"), strings.Index(out, kmsgEnd)
	if i < 0 || j < i {
		t.Fatal("guest printed no kernel log")
	}
	raw := out[i+len(kmsgBegin)+1 : j]
	var recs []string
	for _, line := range strings.Split(raw, "\n") {
		if strings.HasPrefix(line, " ") && len(recs) > 0 {
			recs[len(recs)-1] += "\n" + line
		} else if line != "" {
			recs = append(recs, line)
		}
	}
	// Named by the guest's major.minor: guest-6.1-…, guest-6.12-….
	parts := strings.SplitN(res.KernelRelease, ".", 3)
	if len(parts) < 2 {
		t.Fatalf("guest kernel release %q has no major.minor", res.KernelRelease)
	}
	base := "testdata/guest-" + parts[0] + "." + strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }) + "-group-kill"
	if err := os.WriteFile(base+".kmsg", []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".log", []byte(dmesgText(recs)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s.{log,kmsg} from kernel %s", base, res.KernelRelease)
}

func TestMemoryHigh(t *testing.T) {
	if !vm.InGuest() {
		vmtest.RunTest(t, vm.Config{SwapMiB: 256})
		return
	}
	// 96 MiB touched in a cgroup with memory.high 32 MiB and no memory.max:
	// above high the kernel reclaims (to swap) and throttles the allocator,
	// but never OOM-kills.
	cg, fd := guestCgroup(t, "oomkit-vmtest-high", map[string]string{"memory.high": "32M"})
	start := time.Now()
	hogs := startHogs(t, 1, 96, fd)
	if err := hogs[0].Wait(); err != nil {
		t.Fatalf("hog: %v, want exit 0 (memory.high must not kill)", err)
	}
	t.Logf("hog done in %v", time.Since(start).Round(time.Millisecond))
	ev := readKeyed(t, cg+"/memory.events")
	st := readKeyed(t, cg+"/memory.stat")
	t.Logf("memory.events: %v; pgscan %d pgsteal %d", ev, st["pgscan"], st["pgsteal"])
	if ev["high"] == 0 {
		t.Errorf("memory.events high = 0, want > 0 (usage went over memory.high)")
	}
	for _, k := range []string{"max", "oom", "oom_kill", "oom_group_kill"} {
		if ev[k] != 0 {
			t.Errorf("memory.events %s = %d, want 0", k, ev[k])
		}
	}
	if st["pgsteal"] == 0 {
		t.Errorf("memory.stat pgsteal = 0, want > 0 (reclaimed)")
	}
	// Throttling shows as memory stall time in the cgroup's PSI.
	psi, err := os.ReadFile(cg + "/memory.pressure")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("memory.pressure: %s", strings.ReplaceAll(strings.TrimSpace(string(psi)), "\n", "; "))
	if total := psiTotal(t, string(psi), "some"); total == 0 {
		t.Errorf("memory.pressure some total = 0, want > 0 (throttled)")
	}
}

// psiTotal returns the total= field (µs) of the PSI line kind.
func psiTotal(t *testing.T, psi, kind string) int64 {
	t.Helper()
	for _, line := range strings.Split(psi, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != kind {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "total="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("bad PSI line %q", line)
				}
				return n
			}
		}
	}
	t.Fatalf("no %q line in %q", kind, psi)
	return 0
}

func TestScratchPageCache(t *testing.T) {
	if !vm.InGuest() {
		vmtest.RunTest(t, vm.Config{ScratchMiB: 512})
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/tmp", &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		t.Fatalf("/tmp has filesystem magic %#x, want ext4 (%#x)", st.Type, unix.EXT4_SUPER_MAGIC)
	}
	// 192 MiB of file data through a cgroup limited to 64 MiB: the page
	// cache is written back and reclaimed; nobody is killed.
	cg, fd := guestCgroup(t, "oomkit-vmtest-cache", map[string]string{"memory.max": "64M", "memory.swap.max": "0"})
	c := exec.Command("/proc/self/exe")
	c.Env = append(os.Environ(), envWrite+"=192")
	c.Stderr = os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := c.Run(); err != nil {
		t.Fatalf("writer: %v, want exit 0 (page cache is reclaimable)", err)
	}
	fi, err := os.Stat("/tmp/oomkit-vmtest-file")
	if err != nil || fi.Size() != 192<<20 {
		t.Fatalf("file: %v, %v; want 192 MiB", fi, err)
	}
	ev := readKeyed(t, cg+"/memory.events")
	ms := readKeyed(t, cg+"/memory.stat")
	t.Logf("memory.events %v; memory.stat file %d pgsteal %d", ev, ms["file"], ms["pgsteal"])
	if ev["oom_kill"] != 0 || ev["oom"] != 0 {
		t.Errorf("memory.events %v: want no OOM", ev)
	}
	if ev["max"] == 0 || ms["pgsteal"] == 0 {
		t.Errorf("memory.events max %d, pgsteal %d: want the limit hit and pages reclaimed", ev["max"], ms["pgsteal"])
	}
}
