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

// fileRetry is how long a Reader that follows a regular file (a test's
// stand-in for the device) waits before it reads again at the end of the
// file: a file cannot be polled for new data.
const fileRetry = 100 * time.Millisecond

// Reader reads records from /dev/kmsg. It relies on the device's
// one-record-per-read(2) semantics; saved dumps of records are text logs
// for the oomlog scanner, not for a Reader.
type Reader struct {
	path   string
	fd     int
	wake   int // eventfd, written when the context of a waiting Next ends
	follow bool
	buf    []byte
	last   uint64
	seen   bool
	lost   uint64
	// overruns counts read(2)s that failed with EPIPE: the record due
	// next had been overwritten.
	overruns int
	// waiting, when set (OnWait), is called each time Next is about to
	// block in poll(2).
	waiting func()
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
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open %s: eventfd: %w", path, err)
	}
	return &Reader{path: path, fd: fd, wake: wake, follow: follow, buf: make([]byte, recordMax)}, nil
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
// when not following, and ctx.Err() as soon as ctx ends while following: the
// end of ctx wakes a Next blocked in poll(2). A record that does not parse
// is returned as an error wrapping ErrMalformed; reading may go on after
// it. Records the kernel overwrote before they could be read are skipped
// and counted (Lost, Overruns).
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
			if r.waiting != nil {
				r.waiting()
			}
			if err := sleepCtx(ctx, fileRetry); err != nil {
				return Record{}, err
			}
			continue
		case err == nil:
			rec, perr := Parse(r.buf[:n])
			if perr != nil {
				return Record{}, fmt.Errorf("read %s: %w", r.path, perr)
			}
			if r.seen && rec.Seq > r.last+1 {
				r.lost += rec.Seq - r.last - 1
			}
			r.seen, r.last = true, rec.Seq
			return rec, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EPIPE):
			// The next unread record was overwritten; the kernel moved this
			// reader to the oldest record still in the ring. The next read
			// tells how far.
			r.overruns++
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

// wait blocks in poll(2) until the device has a record or ctx ends. The end
// of ctx writes the eventfd that poll watches too, so it wakes at once and
// an idle reader costs no periodic wake-ups.
func (r *Reader) wait(ctx context.Context) error {
	// The callback runs on its own goroutine; wait does not return before
	// it has finished, so a Close after Next returns can never close (and
	// let the kernel reuse) the eventfd while the callback writes to it.
	wake, fired := r.wake, make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		one := [8]byte{1}
		_, _ = unix.Write(wake, one[:])
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.wake), Events: unix.POLLIN}}
	for {
		if r.waiting != nil {
			r.waiting()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := unix.Poll(fds, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll %s: %w", r.path, err)
		}
		if fds[1].Revents != 0 {
			var b [8]byte
			_, _ = unix.Read(r.wake, b[:]) // reset it; a stale wake-up costs one more poll
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if fds[0].Revents != 0 {
			return nil
		}
	}
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

// OnWait sets f to be called each time a following Next has read every
// record in the ring and is about to wait for the next one (and again
// after a spurious wake-up), on the goroutine calling Next: a reader that
// must know when it has caught up with the kernel (internal/watch,
// Options.CaughtUp) learns it without a timer. f must not call Next.
func (r *Reader) OnWait(f func()) { r.waiting = f }

// Lost is how many records are known lost to overwriting: the jumps in
// sequence numbers between the records this reader read.
func (r *Reader) Lost() uint64 { return r.lost }

// Overruns is how many times reading found the next record overwritten
// (read(2) failed with EPIPE). An overrun before the first record read has
// no known size, so Lost cannot count it.
func (r *Reader) Overruns() int { return r.overruns }

// Close closes the device.
func (r *Reader) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	unix.Close(r.wake)
	r.fd, r.wake = -1, -1
	return err
}
