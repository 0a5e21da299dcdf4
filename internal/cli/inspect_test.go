package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/node/nodetest"
)

// asUser runs f with the file permissions of an unprivileged user: as root,
// with this thread's filesystem UID set to nobody (which drops the
// filesystem capabilities for the thread); as any other user, as it is —
// a file with mode 000 is unreadable to its owner too.
func asUser(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		f()
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Setfsuid(65534)
	defer func() { _ = unix.Setfsuid(0) }()
	f()
}

// openUp makes the temp tree traversable by other users.
func openUp(t *testing.T, dir string) {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if !strings.HasPrefix(d, os.TempDir()) || d == os.TempDir() {
			break
		}
		must(t, os.Chmod(d, 0o755))
	}
}

// TestInspectGolden pins inspect's text and JSON. The cases that list the
// sidecar run as nobody, to whom python3's environ (root's, 0400) is
// closed, as another user's process is.
func TestInspectGolden(t *testing.T) {
	procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
	openUp(t, procRoot)
	// All but python3's environ become readable by others; that one is
	// readable by nobody without CAP_DAC_OVERRIDE (root's 0400 on a host).
	must(t, filepath.Walk(filepath.Dir(procRoot), func(p string, fi os.FileInfo, err error) error {
		switch {
		case err != nil || fi.IsDir():
			return nil
		case strings.HasSuffix(p, "4715/environ"):
			return os.Chmod(p, 0)
		}
		return os.Chmod(p, 0o644)
	}))
	// On the small machine every environ is closed the same way.
	smallProc, smallSys := nodetest.SmallMachine(t, t.TempDir())
	must(t, filepath.Walk(smallProc, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(p) == "environ" {
			return os.Chmod(p, 0)
		}
		return nil
	}))
	noKernel := nodetest.DefaultHost
	noKernel.Release = ""
	noKernelProc, noKernelSys := nodetest.KubeNodeV2(t, noKernel)
	for _, tc := range []struct {
		name     string
		args     []string
		asNobody bool
	}{
		{"pod.txt", []string{"--cgroup", nodetest.V2Pod}, true},
		{"pod.json", []string{"--cgroup", nodetest.V2Pod, "--json"}, true},
		{"pid.txt", []string{"--pid", "4711"}, false},
		{"pid.json", []string{"--pid", "4711", "--json"}, false},
		{"all.txt", []string{"--all-cgroups", "--eviction-hard", "memory.available<10%"}, false},
		{"all.json", []string{"--all-cgroups", "--json"}, false},
		// cgroup v1, a Guaranteed pod, oom_score_adj −997 next victims.
		{"v1-pod.txt", []string{"--proc-root", smallProc, "--sys-root", smallSys, "--cgroup", nodetest.SmallPod}, true},
		{"v1-all.txt", []string{"--proc-root", smallProc, "--sys-root", smallSys, "--all-cgroups"}, false},
		// The node alone: no memory controller mounted.
		{"node-only.txt", []string{"--sys-root", t.TempDir()}, false},
		// No osrelease: the kernel version is unknown, and --assume-kernel decides.
		{"no-kernel.txt", []string{"--proc-root", noKernelProc, "--sys-root", noKernelSys, "--cgroup", nodetest.V2App}, false},
		{"no-kernel-assumed.txt", []string{"--proc-root", noKernelProc, "--sys-root", noKernelSys, "--cgroup", nodetest.V2App, "--assume-kernel", "5.4.0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"inspect", "--proc-root", procRoot, "--sys-root", sysRoot}, tc.args...)
			var out, errb bytes.Buffer
			code := -1
			run := func() { code = Main(args, nil, &out, &errb) }
			if tc.asNobody {
				asUser(t, run)
			} else {
				run()
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			got := out.Bytes()
			for _, root := range []string{procRoot, smallProc, noKernelProc} {
				got = bytes.ReplaceAll(got, []byte(filepath.Dir(root)), []byte("$ROOT"))
			}
			golden(t, filepath.Join("testdata", "inspect", tc.name), got)
		})
	}
}

// TestInspectErrors: a missing cgroup or process, or no memory controller
// for --cgroup, is one line on stderr that says what to do, and exit 1.
func TestInspectErrors(t *testing.T) {
	procRoot, sysRoot := nodetest.KubeNodeV2(t, nodetest.DefaultHost)
	must(t, os.RemoveAll(filepath.Join(sysRoot, "fs/cgroup", nodetest.V2Sidecar)))
	noMemcg := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cgroup", nodetest.V2Sidecar}, "(list memory cgroups with 'oomkit inspect --all-cgroups')"},
		{[]string{"--pid", "99999"}, "no process 99999 (list processes with 'oomkit top --once')"},
		{[]string{"--pid", "4713"}, "no such cgroup"}, // its cgroup is gone, the process is still listed
		{[]string{"--all-cgroups", "--sys-root", noMemcg}, "no cgroup memory controller is mounted"},
		{[]string{"--proc-root", noMemcg}, "is --proc-root a mounted /proc?"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(append([]string{"inspect", "--proc-root", procRoot, "--sys-root", sysRoot}, tc.args...), nil, &out, &errb)
			if code != 1 || !strings.Contains(errb.String(), tc.want) || strings.Count(errb.String(), "\n") != 1 || out.Len() != 0 {
				t.Errorf("exit %d, stdout %d bytes, stderr %q; want 1 and a line with %q", code, out.Len(), errb.String(), tc.want)
			}
		})
	}
}

func TestInspectUsage(t *testing.T) {
	for _, args := range [][]string{
		{"inspect", "--pid", "1", "--cgroup", "/"},
		{"inspect", "--all-cgroups", "--cgroup", "/"},
		{"inspect", "--pid", "0"},
		{"inspect", "--eviction-hard", "memory.available<lots"},
		{"inspect", "--assume-kernel", "banana"},
		{"inspect", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(args, nil, &out, &errb); code != ExitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, errb.String())
			}
		})
	}
}
