// Package kfile reads the files the kernel serves under /proc, /sys and a
// cgroup mount, whatever a --proc-root or --sys-root tree holds in their
// place: every read is bounded (a file linked to /dev/zero is refused once
// it passes the bound, not read until memory runs out) and nothing blocks
// (a FIFO is opened with O_NONBLOCK, so open(2) does not wait for a
// writer, and reading it fails or ends at once).
//
// The kernel's own files are far below the bounds: /proc/PID/status is
// about 1.5 KiB, meminfo and vmstat a few KiB, a cgroup's memory.stat
// under 4 KiB.
package kfile

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Bounds on what one file may hold.
const (
	// Small is the bound for the one-page files of /proc and /sys (and
	// prometheus/procfs's own, util.ReadFileNoStat).
	Small = 1 << 20
	// Large is the bound for the files that grow with the machine:
	// /proc/PID/smaps (vm.max_map_count, 65530 by default, mappings of
	// about 1.5 KiB each) and /proc/self/mountinfo on a node with
	// thousands of mounts.
	Large = 128 << 20
)

// ErrTooLarge is wrapped by the error of a file that holds more than its
// bound: it is not the kernel's file (e.g. a link to /dev/zero).
var ErrTooLarge = errors.New("larger than any kernel file of its kind")

// ErrNotRegular is wrapped by Check's error for a FIFO, device or socket.
var ErrNotRegular = errors.New("not a regular file")

// Read reads the file at path, at most max bytes.
func Read(path string, max int) ([]byte, error) {
	return ReadAt(unix.AT_FDCWD, path, nil, max)
}

// ReadAt reads the file name relative to the directory descriptor dirfd
// (unix.AT_FDCWD: the working directory) into buf, grown as needed up to
// max bytes, until EOF. It returns the bytes read; errors are
// *fs.PathError with the name.
func ReadAt(dirfd int, name string, buf []byte, max int) ([]byte, error) {
	return read(dirfd, name, buf, max, false)
}

// ReadShort is ReadAt for the small files of /proc that the kernel hands
// out whole in one read (seq_file): a read that leaves room in buf is taken
// as the end, which saves the final read(2) that would return 0. For top's
// five files per process that is a third of the system calls.
func ReadShort(dirfd int, name string, buf []byte, max int) ([]byte, error) {
	return read(dirfd, name, buf, max, true)
}

// read is ReadAt, or ReadShort when short is set.
func read(dirfd int, name string, buf []byte, max int, short bool) ([]byte, error) {
	fd, err := open(dirfd, name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	tooLarge := func() error {
		return &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w (more than %d bytes)", ErrTooLarge, max)}
	}
	buf = buf[:cap(buf)]
	if len(buf) == 0 {
		buf = make([]byte, 4096)
	}
	// A short read grows the buffer a little more than it doubles, so a
	// file that just filled it ends in the next read.
	extra := 0
	if short {
		extra = 512
	}
	n := 0
	for {
		if n == len(buf) {
			if n > max {
				return nil, tooLarge()
			}
			buf = append(buf, make([]byte, min(len(buf)+extra, max+1-n))...)
			buf = buf[:cap(buf)]
		}
		m, err := unix.Read(fd, buf[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// Only a FIFO or a socket with nothing in it says so: it is
			// not a kernel file, and it would block.
			return nil, &fs.PathError{Op: "read", Path: name, Err: ErrNotRegular}
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		n += m
		if m == 0 || short && n < len(buf) {
			if n > max {
				return nil, tooLarge()
			}
			return buf[:n], nil
		}
	}
}

// Check returns an error wrapping ErrNotRegular when path is not a regular
// file (a FIFO, a device, a socket), without blocking on it, so a reader
// that opens files itself (prometheus/procfs) can be kept from a FIFO.
func Check(path string) error {
	fd, err := open(unix.AT_FDCWD, path)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &fs.PathError{Op: "open", Path: path, Err: ErrNotRegular}
	}
	return nil
}

// open opens name read-only and non-blocking (a FIFO's open(2) does not
// wait for a writer), retrying on EINTR.
func open(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
