package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// SysVM holds the overcommit and OOM sysctls under /proc/sys/vm. A nil
// field is a file the kernel does not have (or that could not be read; see
// Notes).
type SysVM struct {
	OvercommitMemory      *int64 // 0 guess, 1 always, 2 never
	OvercommitRatio       *int64 // percent
	OvercommitKBytes      *int64 // replaces the ratio when non-zero (3.14+)
	OOMKillAllocatingTask *int64
	PanicOnOOM            *int64
	AdminReserveKBytes    *int64
	UserReserveKBytes     *int64
	// Swappiness is vm.swappiness, which cgroup v2 memcgs use (v1 has a
	// per-cgroup memory.swappiness).
	Swappiness *int64
	Notes      []string
}

// SysVM reads the files of /proc/sys/vm that the overcommit and OOM code
// consult. A missing file is left nil; other read errors become notes.
func (f FS) SysVM() SysVM {
	var s SysVM
	for _, x := range []struct {
		name string
		dst  **int64
	}{
		{"overcommit_memory", &s.OvercommitMemory},
		{"overcommit_ratio", &s.OvercommitRatio},
		{"overcommit_kbytes", &s.OvercommitKBytes},
		{"oom_kill_allocating_task", &s.OOMKillAllocatingTask},
		{"panic_on_oom", &s.PanicOnOOM},
		{"admin_reserve_kbytes", &s.AdminReserveKBytes},
		{"user_reserve_kbytes", &s.UserReserveKBytes},
		{"swappiness", &s.Swappiness},
	} {
		p := f.path("sys", "vm", x.name)
		b, err := readFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("read %s: %v", p, err))
			continue
		}
		n, err := parseSysctlInt(string(b))
		if err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("parse %s: %v", p, err))
			continue
		}
		*x.dst = &n
	}
	return s
}

// parseSysctlInt reads a one-number sysctl file ("50\n").
func parseSysctlInt(s string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}
