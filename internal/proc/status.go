package proc

import (
	"bytes"
	"fmt"
	"strconv"
)

// Status is the part of /proc/PID/status the OOM killer's inputs come from.
// Sizes are in kB as printed; nil means the line is absent.
type Status struct {
	// Name is the comm (escaped by the kernel: "\n" shows as "\\n").
	Name string
	// HasMM is false when the task has no mm (kernel threads, zombies):
	// the Vm*/Rss* lines are missing and the kernel never scores it.
	HasMM bool
	// Kthread is the "Kthread: 1" line (6.4+), false when absent.
	Kthread bool
	UID     *int64 // real UID
	// CapEff is the effective capability set (bit 21: CAP_SYS_ADMIN,
	// which earned a 3 % badness bonus before 4.17).
	CapEff     uint64
	VmRSSKB    *int64
	RssAnonKB  *int64
	RssFileKB  *int64
	RssShmemKB *int64
	VmSwapKB   *int64
	// VmPTEKB is mm_pgtables_bytes() in kB on 4.15+ (PTE and PMD tables
	// together); on ≤ 4.14 it is the PTE pages only and VmPMDKB the rest.
	VmPTEKB *int64
	VmPMDKB *int64
}

// CapSysAdmin is CAP_SYS_ADMIN's bit in CapEff.
const CapSysAdmin = 21

// HasCapSysAdmin reports whether the effective set holds CAP_SYS_ADMIN.
func (s Status) HasCapSysAdmin() bool { return s.CapEff&(1<<CapSysAdmin) != 0 }

// RSSPages is get_mm_rss(): RssAnon + RssFile + RssShmem in pages (VmRSS on
// kernels that do not split it).
func (s Status) RSSPages(pageKB int64) int64 {
	if s.RssAnonKB != nil || s.RssFileKB != nil || s.RssShmemKB != nil {
		return (val(s.RssAnonKB) + val(s.RssFileKB) + val(s.RssShmemKB)) / pageKB
	}
	return val(s.VmRSSKB) / pageKB
}

// SwapPages is MM_SWAPENTS in pages (VmSwap).
func (s Status) SwapPages(pageKB int64) int64 { return val(s.VmSwapKB) / pageKB }

// PgtablePages is the page-table term of oom_badness():
// mm_pgtables_bytes()/PAGE_SIZE, which status prints as VmPTE on 4.15+
// (task_mem(), fs/proc/task_mmu.c); ≤ 4.14 printed nr_ptes and nr_pmds as
// VmPTE and VmPMD, so both are added when VmPMD is present.
func (s Status) PgtablePages(pageKB int64) int64 {
	return (val(s.VmPTEKB) + val(s.VmPMDKB)) / pageKB
}

func val(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// Status reads /proc/PID/status.
func (f FS) Status(pid int) (Status, error) {
	var buf [4096]byte
	b, err := readSmall(f.pidPath(pid, "status"), buf[:])
	if err != nil {
		return Status{}, err
	}
	s, err := parseStatus(b)
	if err != nil {
		return Status{}, fmt.Errorf("parse %s: %w", f.pidPath(pid, "status"), err)
	}
	return s, nil
}

// parseStatus reads "Key:\tvalue[ kB]" lines, splitting on the kernel's own
// separators (no regexes; this runs for every process on every refresh).
func parseStatus(b []byte) (Status, error) {
	var s Status
	// The values share one allocation: top parses a status per process.
	store := new([8]int64)
	used := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(k) < 3 {
			continue
		}
		var dst **int64
		switch string(k) {
		case "Name":
			s.Name = string(bytes.TrimLeft(v, " \t"))
			continue
		case "CapEff":
			if n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64); err == nil {
				s.CapEff = n
			}
			continue
		case "Kthread":
			s.Kthread = string(bytes.TrimSpace(v)) == "1"
			continue
		case "Uid":
			f := bytes.Fields(v)
			if len(f) > 0 {
				n, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err != nil {
					return Status{}, fmt.Errorf("status Uid field %q: %w", string(v), err)
				}
				if used < len(store) {
					store[used] = n
					s.UID = &store[used]
					used++
				} else {
					s.UID = ptr(n)
				}
			}
			continue
		case "VmRSS":
			dst = &s.VmRSSKB
			s.HasMM = true
		case "RssAnon":
			dst = &s.RssAnonKB
		case "RssFile":
			dst = &s.RssFileKB
		case "RssShmem":
			dst = &s.RssShmemKB
		case "VmSwap":
			dst = &s.VmSwapKB
		case "VmPTE":
			dst = &s.VmPTEKB
		case "VmPMD":
			dst = &s.VmPMDKB
		default:
			continue
		}
		n, err := parseKB(v)
		if err != nil {
			return Status{}, fmt.Errorf("%s %q: %w", string(k), string(v), err)
		}
		if *dst == nil && used < len(store) {
			store[used] = n
			*dst = &store[used]
			used++
		} else {
			*dst = ptr(n)
		}
	}
	return s, nil
}

// parseKB reads "\t   1234 kB".
func parseKB(v []byte) (int64, error) {
	v = bytes.TrimSpace(v)
	v = bytes.TrimSuffix(v, []byte(" kB"))
	var n int64
	if len(v) == 0 {
		return 0, strconv.ErrSyntax
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
