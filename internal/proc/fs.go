// Package proc reads what oomkit needs from /proc: meminfo, vmstat, the
// overcommit and OOM sysctls under sys/vm, memory pressure (PSI), the kernel
// release, and per process status, oom_score, oom_score_adj, cgroup,
// cmdline, environ and comm. The root is injected (NewFS) so the agent can
// read a host's /proc through a mount and tests can use fake trees.
//
// prometheus/procfs is used where it covers a file (meminfo, pressure,
// cgroup, cmdline, environ, comm). The rest is read here in its style: one
// file per kernel file, I/O in a method, parsing in a pure parseX function.
// /proc/PID/status has its own reader because the OOM model must tell "no
// VmRSS line" (no mm: a kernel thread or a zombie, which the kernel never
// scores) from "VmRSS: 0 kB", which procfs folds together.
package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kfile"
)

// DefaultRoot is where proc(5) is mounted.
const DefaultRoot = "/proc"

// FS is a proc filesystem under an injected root.
type FS struct {
	root string
	pfs  procfs.FS
}

// NewFS returns the proc filesystem mounted at root ("" means /proc).
func NewFS(root string) (FS, error) {
	if root == "" {
		root = DefaultRoot
	}
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return FS{}, fmt.Errorf("open proc root %s: %w", root, err)
	}
	return FS{root: root, pfs: pfs}, nil
}

// Root is the directory this FS reads.
func (f FS) Root() string { return f.root }

func (f FS) path(elem ...string) string {
	return filepath.Join(append([]string{f.root}, elem...)...)
}

func (f FS) pidPath(pid int, name string) string {
	return filepath.Join(f.root, strconv.Itoa(pid), name)
}

// IsGone reports whether err means the process exited between listing and
// reading (the /proc/PID directory or file vanished, or the kernel
// answered ESRCH).
func IsGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// IsPermission reports whether err is a permission error (EACCES/EPERM),
// e.g. another user's /proc/PID/environ.
func IsPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission)
}

// readSmall reads a small /proc file into buf when it fits, with three
// system calls (open, read, close): os.Open adds an fstat and the EOF read,
// which for top's five files per process is most of the cost. It reads at
// most kfile.Small bytes and never blocks (a FIFO in a fake tree).
func readSmall(path string, buf []byte) ([]byte, error) {
	return readAt(unix.AT_FDCWD, path, buf)
}

// readAt is readSmall relative to the directory descriptor dirfd.
func readAt(dirfd int, name string, buf []byte) ([]byte, error) {
	return kfile.ReadShort(dirfd, name, buf, kfile.Small)
}

// readFile reads a whole small file (sysctls, osrelease, vmstat), bounded
// and non-blocking.
func readFile(path string) ([]byte, error) {
	return kfile.Read(path, kfile.Small)
}

// procfsFile is where a procfs-read file must be a regular file: procfs
// opens it itself and would wait forever on a FIFO in a fake tree
// (it bounds the size, util.ReadFileNoStat).
func procfsFile(path string) error {
	return kfile.Check(path)
}
