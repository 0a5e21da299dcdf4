package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/oomkit/oomkit/internal/kmsg"
)

// kmsgFile reads /dev/kmsg through Go's poller (epoll): waiting for the
// next record costs no thread and no timer ticks, so an idle agent wakes
// only when the kernel logs something or its own timeout ends. (Polling
// the device from a blocking poll(2) every 100 ms cost an idle agent
// ~3 mCPU in thread hand-offs.) Records are parsed with kmsg.Parse;
// overwritten records show as jumps in the sequence numbers, which the
// stream counts.
type kmsgFile struct {
	f    *os.File
	path string
	buf  []byte
}

// openKmsg opens path non-blocking, from the oldest record in the ring.
func openKmsg(path string) (*kmsgFile, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &kmsg.OpenError{Path: path, Err: unwrapPath(err)}
	}
	return &kmsgFile{f: f, path: path, buf: make([]byte, 8192+1024)}, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Next returns the next record, waiting until ctx ends.
func (k *kmsgFile) Next(ctx context.Context) (kmsg.Record, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	if err := k.f.SetReadDeadline(dl); err != nil {
		return kmsg.Record{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = k.f.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		n, err := k.f.Read(k.buf)
		switch {
		case err == nil && n > 0:
			rec, perr := kmsg.Parse(k.buf[:n])
			if perr != nil {
				return kmsg.Record{}, fmt.Errorf("read %s: %w", k.path, perr)
			}
			return rec, nil
		case errors.Is(err, syscall.EPIPE):
			// Overwritten before it was read; the next read is the oldest
			// record left, and its sequence number shows the gap.
			continue
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			if cerr := ctx.Err(); cerr != nil {
				return kmsg.Record{}, cerr
			}
			return kmsg.Record{}, context.DeadlineExceeded
		case err != nil:
			return kmsg.Record{}, fmt.Errorf("read %s: %w", k.path, err)
		default:
			return kmsg.Record{}, fmt.Errorf("read %s: empty read", k.path)
		}
	}
}

func (k *kmsgFile) Close() error { return k.f.Close() }
