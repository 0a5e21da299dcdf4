package proc

import (
	"bytes"
	"fmt"
	"strconv"
)

// Stat is the part of /proc/PID/stat oomkit uses.
type Stat struct {
	PPID int64
	// Flags is task->flags; PF_KTHREAD (0x00200000) marks kernel threads.
	Flags uint64
	// StartTime is the start time after boot in clock ticks. The kernel's
	// task list (for_each_process) is in creation order, which this
	// reproduces where PIDs have wrapped.
	StartTime uint64
	// RSSPages is field 24, get_mm_rss() in pages.
	RSSPages int64
}

// PFKthread is the PF_KTHREAD task flag.
const PFKthread = 0x00200000

// Stat reads /proc/PID/stat.
func (f FS) Stat(pid int) (Stat, error) {
	var buf [1024]byte
	p := f.pidPath(pid, "stat")
	b, err := readSmall(p, buf[:])
	if err != nil {
		return Stat{}, err
	}
	s, err := parseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return s, nil
}

// parseStat reads proc(5) stat: "pid (comm) state ppid …". comm may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("no ')' after comm")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return Stat{}, fmt.Errorf("%d fields after comm, want ≥ 22", len(f))
	}
	var s Stat
	var err error
	if s.PPID, err = strconv.ParseInt(string(f[1]), 10, 64); err != nil {
		return Stat{}, fmt.Errorf("ppid: %w", err)
	}
	if s.Flags, err = strconv.ParseUint(string(f[6]), 10, 64); err != nil {
		return Stat{}, fmt.Errorf("flags: %w", err)
	}
	if s.StartTime, err = strconv.ParseUint(string(f[19]), 10, 64); err != nil {
		return Stat{}, fmt.Errorf("starttime: %w", err)
	}
	if s.RSSPages, err = strconv.ParseInt(string(f[21]), 10, 64); err != nil {
		return Stat{}, fmt.Errorf("rss: %w", err)
	}
	return s, nil
}
