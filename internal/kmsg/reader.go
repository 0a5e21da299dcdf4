package kmsg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath is the kernel log device.
const DefaultPath = "/dev/kmsg"

// recordMax is the read buffer: one record is at most CONSOLE_EXT_LOG_MAX
// (8192) bytes; a smaller buffer makes read(2) fail with EINVAL.
const recordMax = 8192 + 1024

// pollInterval bounds how long a following Next waits in poll(2) before it
// looks at its context again.
const pollInterval = 100 * time.Millisecond

// Gap is a run of records the kernel overwrote before this reader got to
// them (read(2) returned EPIPE, or the sequence numbers jumped).
type Gap struct {
	// Next is the sequence number of the first record read after the gap.
	Next uint64
	// Lost is how many sequence numbers were skipped; 0 when the gap came
	// before the first record this reader saw, so its size is unknown.
	Lost uint64
}

// Reader reads records from /dev/kmsg. It relies on the device's
// one-record-per-read(2) semantics; saved dumps of records are text logs
// for the oomlog scanner, not for a Reader.
type Reader struct {
	path   string
	fd     int
	follow bool
	buf    []byte
	last   uint64
	seen   bool
	gaps   []Gap
	epipe  bool
}

// Open opens path (DefaultPath when "") read-only and non-blocking. A
// reader opened with follow false returns io.EOF from Next once it has read
// every record in the ring; with follow true Next waits for new records
// until its context ends.
func Open(path string, follow bool) (*Reader, error) {
	if path == "" {
		path = DefaultPath
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	return &Reader{path: path, fd: fd, follow: follow, buf: make([]byte, recordMax)}, nil
}

// OpenError is returned by Open; its message says what to do when the
// cause is a permission problem.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string {
	msg := fmt.Sprintf("open %s: %v", e.Path, e.Err)
	if errors.Is(e.Err, unix.EPERM) || errors.Is(e.Err, unix.EACCES) {
		msg += " (reading the kernel log needs root or CAP_SYSLOG when kernel.dmesg_restrict=1)"
	}
	return msg
}

func (e *OpenError) Unwrap() error { return e.Err }

// SeekEnd skips every record already in the ring, so Next returns only
// records logged from now on. lseek(SEEK_END) on /dev/kmsg moves to the
// next record to be written (devkmsg_llseek, kernel/printk/printk.c).
func (r *Reader) SeekEnd() error {
	if _, err := unix.Seek(r.fd, 0, io.SeekEnd); err != nil {
		return fmt.Errorf("seek %s: %w", r.path, err)
	}
	return nil
}

// Next returns the next record. It returns io.EOF at the end of the ring
// when not following, and ctx.Err() when ctx ends while following. A
// record that does not parse is returned as an error wrapping ErrMalformed;
// reading may go on after it.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		n, err := unix.Read(r.fd, r.buf)
		switch {
		case err == nil && n == 0:
			// Only a regular file ends; /dev/kmsg says EAGAIN instead.
			if !r.follow {
				return Record{}, io.EOF
			}
			if err := sleepCtx(ctx, pollInterval); err != nil {
				return Record{}, err
			}
			continue
		case err == nil:
			rec, perr := Parse(r.buf[:n])
			if perr != nil {
				return Record{}, fmt.Errorf("read %s: %w", r.path, perr)
			}
			r.account(rec.Seq)
			return rec, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EPIPE):
			// The next unread record was overwritten; the kernel moved this
			// reader to the oldest record still in the ring. The next read
			// tells how far.
			r.epipe = true
			continue
		case errors.Is(err, unix.EAGAIN):
			if !r.follow {
				return Record{}, io.EOF
			}
			if err := r.wait(ctx); err != nil {
				return Record{}, err
			}
			continue
		default:
			return Record{}, fmt.Errorf("read %s: %w", r.path, err)
		}
	}
}

// account records a gap when seq does not follow the last one read.
func (r *Reader) account(seq uint64) {
	switch {
	case !r.seen && r.epipe:
		r.gaps = append(r.gaps, Gap{Next: seq})
	case r.seen && seq > r.last+1:
		r.gaps = append(r.gaps, Gap{Next: seq, Lost: seq - r.last - 1})
	}
	r.epipe = false
	r.seen, r.last = true, seq
}

// wait blocks in poll(2) until the device has a record or ctx ends.
func (r *Reader) wait(ctx context.Context) error {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := unix.Poll(fds, pollTimeout(ctx))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll %s: %w", r.path, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// pollTimeout is pollInterval in milliseconds, or less when ctx's
// deadline comes sooner, so a caller that waits a few milliseconds for
// the next record is not held for the whole interval.
func pollTimeout(ctx context.Context) int {
	d := pollInterval
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return int((max(d, 0) + time.Millisecond - 1) / time.Millisecond)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Gaps returns the gaps seen so far, oldest first.
func (r *Reader) Gaps() []Gap { return r.gaps }

// Lost is the total number of records known to be lost to overwriting.
func (r *Reader) Lost() uint64 {
	var n uint64
	for _, g := range r.gaps {
		n += g.Lost
	}
	return n
}

// Close closes the device.
func (r *Reader) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}
