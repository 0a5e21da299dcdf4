package proc

import (
	"github.com/prometheus/procfs"

	"fmt"
	"path/filepath"
)

// Meminfo is the part of /proc/meminfo oomkit uses. Sizes are in kB as the
// kernel prints them (HugePagesTotal is a count); nil means the kernel did
// not print the line.
type Meminfo struct {
	MemTotalKB     *int64
	MemFreeKB      *int64
	MemAvailableKB *int64
	InactiveFileKB *int64
	SwapTotalKB    *int64
	SwapFreeKB     *int64
	// CommitLimitKB is vm_commit_limit() as the kernel reports it.
	CommitLimitKB *int64
	// CommittedASKB is vm_memory_committed(): what is charged so far.
	CommittedASKB  *int64
	HugePagesTotal *int64
	HugepagesizeKB *int64
	// HugetlbKB is the memory of all huge page pools (every size), 4.16+.
	HugetlbKB *int64
}

// Meminfo reads /proc/meminfo (through procfs).
func (f FS) Meminfo() (Meminfo, error) {
	err := procfsFile(filepath.Join(f.root, "meminfo"))
	var m procfs.Meminfo
	if err == nil {
		m, err = f.pfs.Meminfo()
	}
	if err != nil {
		return Meminfo{}, fmt.Errorf("read %s: %w", filepath.Join(f.root, "meminfo"), err)
	}
	return Meminfo{
		MemTotalKB:     i64(m.MemTotal),
		MemFreeKB:      i64(m.MemFree),
		MemAvailableKB: i64(m.MemAvailable),
		InactiveFileKB: i64(m.InactiveFile),
		SwapTotalKB:    i64(m.SwapTotal),
		SwapFreeKB:     i64(m.SwapFree),
		CommitLimitKB:  i64(m.CommitLimit),
		CommittedASKB:  i64(m.CommittedAS),
		HugePagesTotal: i64(m.HugePagesTotal),
		HugepagesizeKB: i64(m.Hugepagesize),
		HugetlbKB:      i64(m.Hugetlb),
	}, nil
}

// HugetlbPages is hugetlb_total_pages(): the base pages held by persistent
// huge page pools, which vm_commit_limit() takes off RAM. It prefers the
// Hugetlb line (all pool sizes, 4.16+) and falls back to HugePages_Total ×
// Hugepagesize (the default size only). nil when neither is printed.
func (m Meminfo) HugetlbPages(pageSizeKB int64) *int64 {
	switch {
	case m.HugetlbKB != nil:
		return ptr(*m.HugetlbKB / pageSizeKB)
	case m.HugePagesTotal != nil && m.HugepagesizeKB != nil:
		return ptr(*m.HugePagesTotal * *m.HugepagesizeKB / pageSizeKB)
	}
	return nil
}

func i64(p *uint64) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func ptr[T any](v T) *T { return &v }
