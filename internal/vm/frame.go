package vm

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// The guest's /init sends everything back over the second serial port
// (ttyS1) as frames: one kind byte, the payload length as 8 hex digits, the
// payload. Framing keeps stdout and stderr apart on one port, makes the exit
// status explicit (qemu exits 0 for a clean power-off and for a kernel panic
// alike, so its exit code says nothing), and survives the kernel console,
// which has its own port (ttyS0).
const (
	frameStdout  = 'O' // bytes the guest program wrote to stdout
	frameStderr  = 'E' // bytes it wrote to stderr
	frameRelease = 'K' // the guest kernel's release (uname -r)
	frameExit    = 'X' // the guest program's exit status, decimal; always last
)

// maxFramePayload bounds one frame so a corrupted length cannot make the
// host allocate gigabytes.
const maxFramePayload = 1 << 20

// writeFrame writes one frame to w.
func writeFrame(w io.Writer, kind byte, payload []byte) error {
	for len(payload) > maxFramePayload {
		if err := writeFrame(w, kind, payload[:maxFramePayload]); err != nil {
			return err
		}
		payload = payload[maxFramePayload:]
	}
	buf := make([]byte, 0, 9+len(payload))
	buf = append(buf, kind)
	buf = append(buf, fmt.Sprintf("%08x", len(payload))...)
	buf = append(buf, payload...)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame from r. It returns io.EOF at a clean end.
func readFrame(r *bufio.Reader) (kind byte, payload []byte, err error) {
	kind, err = r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("read frame header: %w", err)
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 32)
	if err != nil || n > maxFramePayload {
		return 0, nil, fmt.Errorf("corrupt frame header %q%q from the guest", kind, hdr[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("read frame payload: %w", err)
	}
	return kind, payload, nil
}
