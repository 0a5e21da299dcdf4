package proc

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// OnlineCPUs counts the CPUs /proc/stat lists ("cpuN" lines): the online
// ones, whose per-CPU counters the kernel folds when it sums.
func (f FS) OnlineCPUs() (int, error) {
	err := procfsFile(f.path("stat"))
	var st procfs.Stat
	if err == nil {
		st, err = f.pfs.Stat()
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", f.path("stat"), err)
	}
	if len(st.CPU) == 0 {
		return 0, fmt.Errorf("read %s: no cpuN lines", f.path("stat"))
	}
	return len(st.CPU), nil
}
