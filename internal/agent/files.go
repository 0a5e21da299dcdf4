package agent

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// pollFile is a kernel file the agent reads again and again: kept open and
// read with pread(2) at offset 0 into a buffer that is reused, so a sample
// costs one system call and no allocation (cgroupfs and procfs regenerate
// the contents on every read from offset 0).
type pollFile struct {
	fd  int
	buf []byte
}

// openPoll opens path read-only; size is the first buffer size.
func openPoll(path string, size int) (*pollFile, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0) // O_NONBLOCK: a FIFO in a fake tree does not block the open
	if err != nil {
		return nil, err
	}
	return &pollFile{fd: fd, buf: make([]byte, size)}, nil
}

// read returns the file's contents, valid until the next read.
func (f *pollFile) read() ([]byte, error) {
	for {
		n, err := unix.Pread(f.fd, f.buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < len(f.buf) || len(f.buf) >= 1<<20 {
			return f.buf[:n], nil
		}
		f.buf = make([]byte, 2*len(f.buf))
	}
}

func (f *pollFile) close() {
	if f != nil && f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// errFormat is wrapped by the parsers below: the file does not say what
// the kernel's format says it must.
var errFormat = errors.New("unexpected format")

// parseInt reads a file holding one decimal number.
func parseInt(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	n, ok := atoi(b)
	if !ok {
		return 0, fmt.Errorf("%w: %q is not a number", errFormat, clip(b))
	}
	return n, nil
}

// parseLimit reads memory.max ("max" or bytes) or memory.limit_in_bytes
// (bytes; PAGE_COUNTER_MAX×PAGE_SIZE, ≥ 2^62, means none). ok is false for
// no limit.
func parseLimit(b []byte) (limit int64, ok bool, err error) {
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return 0, false, nil
	}
	n, good := atoi(b)
	if !good {
		if u, uerr := strconv.ParseUint(string(b), 10, 64); uerr == nil && u >= 1<<62 {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("%w: limit %q", errFormat, clip(b))
	}
	if n >= 1<<62 {
		return 0, false, nil
	}
	return n, true, nil
}

// keyValue finds "key value" on a line of its own in a flat-keyed file
// (memory.stat, memory.events, memory.oom_control, /proc/vmstat). found is
// false when the key is absent; err reports a value that is not a number.
func keyValue(b []byte, key string) (n int64, found bool, err error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) <= len(key) || line[len(key)] != ' ' || string(line[:len(key)]) != key {
			continue
		}
		v := bytes.TrimSpace(line[len(key)+1:])
		n, ok := atoi(v)
		if !ok {
			return 0, true, fmt.Errorf("%w: %s %q is not a number", errFormat, key, clip(v))
		}
		return n, true, nil
	}
	return 0, false, nil
}

// atoi parses a non-negative decimal int64 without allocating.
func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// clip keeps error messages short when a file holds garbage.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
