package proc

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// SharedMemory is what is charged to Committed_AS outside every process's
// own mappings and can be read from files: SysV segments and the used
// blocks of mounted tmpfs file systems (mm.Outside has the rules). Shared
// anonymous mappings are found in the processes' smaps (Commit.SharedAnon).
type SharedMemory struct {
	// SysVBytes is the sum of /proc/sysvipc/shm sizes, each rounded up to
	// whole pages as shmget() charges them (nil when the file is missing:
	// no CONFIG_SYSVIPC). SHM_HUGETLB segments, which are not charged, are
	// not told apart.
	SysVBytes    *int64
	SysVSegments int
	// TmpfsBytes is the used space of the tmpfs mounts whose size is
	// limited (statfs reports no usage for an unlimited one); each file
	// system counted once however often it is mounted.
	TmpfsBytes  int64
	TmpfsMounts int
	// Notes name what could not be counted.
	Notes []string
}

// SharedMemory reads /proc/sysvipc/shm and statfs()s the tmpfs mounts of
// /proc/mounts (the reader's mount namespace).
func (f FS) SharedMemory() SharedMemory {
	var s SharedMemory
	if b, err := readAll(f.path("sysvipc", "shm"), make([]byte, 4096)); err == nil {
		n, segs, err := parseSysVShm(b)
		if err != nil {
			s.Notes = append(s.Notes, err.Error())
		} else {
			s.SysVBytes, s.SysVSegments = &n, segs
		}
	} else if !IsGone(err) {
		s.Notes = append(s.Notes, err.Error())
	}
	b, err := readAll(f.path("mounts"), make([]byte, 8192))
	if err != nil {
		if !IsGone(err) {
			s.Notes = append(s.Notes, err.Error())
		}
		return s
	}
	seen := map[[2]int32]bool{}
	for _, mnt := range parseTmpfsMounts(b) {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("statfs %s: %v", mnt, err))
			continue
		}
		if seen[st.Fsid.Val] {
			continue
		}
		seen[st.Fsid.Val] = true
		if st.Blocks == 0 {
			s.Notes = append(s.Notes, fmt.Sprintf("tmpfs %s has no size limit, so statfs does not say what it holds", mnt))
			continue
		}
		s.TmpfsBytes += int64(st.Blocks-st.Bfree) * st.Bsize
		s.TmpfsMounts++
	}
	return s
}

// parseSysVShm sums the size column of /proc/sysvipc/shm (sysvipc_shm_proc_show(),
// ipc/shm.c: "key shmid perms size cpid …", one segment per line after
// the header).
func parseSysVShm(b []byte) (total int64, segments int, err error) {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) == 0 || !bytes.Contains(lines[0], []byte("shmid")) {
		return 0, 0, fmt.Errorf("/proc/sysvipc/shm: no header line")
	}
	for _, l := range lines[1:] {
		fields := bytes.Fields(l)
		if len(fields) < 4 {
			return 0, 0, fmt.Errorf("/proc/sysvipc/shm: short line %q", l)
		}
		n, err := strconv.ParseInt(string(fields[3]), 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("/proc/sysvipc/shm: size %q", fields[3])
		}
		// newseg() charges VM_ACCT(size): whole pages.
		pg := int64(unix.Getpagesize())
		total += (n + pg - 1) / pg * pg
		segments++
	}
	return total, segments, nil
}

// parseTmpfsMounts returns the mount points of type tmpfs in a
// /proc/mounts file, with the kernel's octal escapes (\040 for a space)
// undone.
func parseTmpfsMounts(b []byte) []string {
	var out []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		fields := bytes.Fields(l)
		if len(fields) >= 3 && string(fields[2]) == "tmpfs" {
			out = append(out, filepath.Clean(unescapeMount(string(fields[1]))))
		}
	}
	return out
}

func unescapeMount(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}
