package proc

import (
	"bytes"
	"fmt"
	"strconv"
)

// OOMScore reads /proc/PID/oom_score: proc_oom_score(), the badness scaled
// against global totalpages (RAM + swap), as the kernel reports it.
func (f FS) OOMScore(pid int) (int64, error) {
	return f.readPIDInt(pid, "oom_score")
}

func (f FS) readPIDInt(pid int, name string) (int64, error) {
	var buf [32]byte
	p := f.pidPath(pid, name)
	b, err := readSmall(p, buf[:])
	if err != nil {
		return 0, err
	}
	n, err := parseInt(b)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", p, err)
	}
	return n, nil
}

// parseInt reads a one-number proc file ("-998\n").
func parseInt(b []byte) (int64, error) {
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}
