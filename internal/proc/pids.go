package proc

import (
	"fmt"
	"os"
	"slices"
	"strconv"
)

// PIDs lists the processes in the proc root (the numeric directories),
// in ascending order.
func (f FS) PIDs() ([]int, error) {
	d, err := os.Open(f.root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.root, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.root, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}
