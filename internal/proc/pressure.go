package proc

import (
	"github.com/prometheus/procfs"

	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Pressure is one PSI line of /proc/pressure/memory: the share of wall time
// in which some (or all non-idle) tasks stalled on memory.
type Pressure struct {
	Avg10, Avg60, Avg300 float64 // percent
	TotalMicroseconds    uint64
}

// MemoryPressure is /proc/pressure/memory.
type MemoryPressure struct {
	Some *Pressure
	Full *Pressure
}

// MemoryPressure reads /proc/pressure/memory (through procfs). It returns
// nil, nil when the kernel has no PSI (before 4.20, CONFIG_PSI=n, or
// psi=0 on the command line: the file is missing or refuses reads with
// EOPNOTSUPP).
func (f FS) MemoryPressure() (*MemoryPressure, error) {
	err := procfsFile(f.path("pressure", "memory"))
	var s procfs.PSIStats
	if err == nil {
		s, err = f.pfs.PSIStatsForResource("memory")
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EOPNOTSUPP) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", f.path("pressure", "memory"), err)
	}
	p := &MemoryPressure{}
	if s.Some != nil {
		p.Some = &Pressure{s.Some.Avg10, s.Some.Avg60, s.Some.Avg300, s.Some.Total}
	}
	if s.Full != nil {
		p.Full = &Pressure{s.Full.Avg10, s.Full.Avg60, s.Full.Avg300, s.Full.Total}
	}
	return p, nil
}
