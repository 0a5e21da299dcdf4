package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kfile"
)

// Commit is a process's commit charge as /proc/PID/smaps shows it: the
// sizes of its VM_ACCOUNT mappings (VmFlags "ac"), which move exactly as
// Committed_AS does when the process maps, grows, forks or unmaps (the
// rules are mm.ProcessCommitPages). It is the only exact per-process source:
// smaps_rollup, status (VmData, VmStk) and maps (permissions) do not say
// which mappings were charged (MAP_NORESERVE, a mapping made read-only
// after it was charged, hugetlb); see BENCHMARKS.md for the costs.
type Commit struct {
	// Bytes is the sum of the "ac" mappings' sizes.
	Bytes int64
	// VMAs is the number of mappings read.
	VMAs int
	// TotalBytes is the size of all its mappings: mm->total_vm (VmSize),
	// which the mode-2 check takes 3 % of as the caller's reserve.
	// [vsyscall], a fixed page outside the mm, is not counted.
	TotalBytes int64
	// SharedAnon lists the shared anonymous memory this process maps:
	// charged once to the shmem object (not "ac"), keyed by inode.
	SharedAnon map[uint64]int64
}

// smapsBufSize is the read size for smaps: one read returns at most one
// seq_file buffer (a page, growing for long records), so a bigger buffer
// saves no system calls.
const smapsBufSize = 64 << 10

// ReadCommit reads /proc/PID/smaps. A process without an mm (a kernel
// thread, a zombie) has an empty smaps and a zero Commit. Reading smaps
// walks the process's page tables (for Rss, Pss and the rest), which is
// what makes it expensive for a process with much memory.
func (f FS) ReadCommit(pid int) (Commit, error) {
	return f.readCommit(pid, make([]byte, smapsBufSize))
}

func (f FS) readCommit(pid int, buf []byte) (Commit, error) {
	c, _, err := f.ReadCommitBuf(pid, buf)
	return c, err
}

// ReadCommitBuf is ReadCommit into a caller's buffer, returned (grown if
// need be) for the next call: a caller that reads often makes no garbage.
func (f FS) ReadCommitBuf(pid int, buf []byte) (Commit, []byte, error) {
	path := f.pidPath(pid, "smaps")
	b, err := readAll(path, buf[:cap(buf)])
	if err != nil {
		return Commit{}, buf, err
	}
	c, err := parseSmapsCommit(b)
	if err != nil {
		return Commit{}, b, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, b, nil
}

// readAll reads a whole /proc file until EOF: unlike readSmall it does not
// take a short read as the end, because a seq_file hands out at most one
// buffer of records per read. smaps grows with the mappings: up to
// kfile.Large.
func readAll(path string, buf []byte) ([]byte, error) {
	return kfile.ReadAt(unix.AT_FDCWD, path, buf, kfile.Large)
}

// errSmaps is wrapped by parse errors of smaps.
var errSmaps = errors.New("not a /proc/PID/smaps file")

// parseSmapsCommit sums the "ac" mappings of a smaps file. Each mapping is
// a header line ("start-end perms offset dev inode [path]", the addresses
// in lower-case hex) followed by "Key: value" lines that start with an
// upper-case letter (anything else is taken for a header); the size is taken from the header (end − start), the
// flags from "VmFlags:", the mapping's last line (show_smap(),
// fs/proc/task_mmu.c, 3.8+).
func parseSmapsCommit(b []byte) (Commit, error) {
	var c Commit
	var size int64
	var inode uint64
	sharedAnon := false
	inVMA := false
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		if ch := line[0]; ch < 'A' || ch > 'Z' {
			var err error
			size, inode, sharedAnon, err = parseSmapsHeader(line)
			if err != nil {
				return Commit{}, err
			}
			if !bytes.HasSuffix(line, []byte(" [vsyscall]")) {
				c.TotalBytes += size
			}
			inVMA = true
			c.VMAs++
			continue
		}
		if bytes.HasPrefix(line, []byte("VmFlags:")) {
			if !inVMA {
				return Commit{}, fmt.Errorf("%w: VmFlags before a mapping", errSmaps)
			}
			sh := false
			for _, fl := range bytes.Fields(line[len("VmFlags:"):]) {
				switch string(fl) {
				case "ac":
					c.Bytes += size
				case "sh":
					sh = true
				}
			}
			if sh && sharedAnon {
				if c.SharedAnon == nil {
					c.SharedAnon = map[uint64]int64{}
				}
				c.SharedAnon[inode] = max(c.SharedAnon[inode], size)
			}
			inVMA = false
		}
	}
	return c, nil
}

// parseSmapsHeader reads a mapping's header: its size, its inode, and
// whether it is shared anonymous memory, which the kernel names
// "/dev/zero (deleted)" (shmem_zero_setup()) or "[anon_shmem:NAME]" (6.12+
// when named with PR_SET_VMA_ANON_NAME).
func parseSmapsHeader(line []byte) (size int64, inode uint64, sharedAnon bool, err error) {
	fields := bytes.Fields(line)
	if len(fields) < 5 {
		return 0, 0, false, fmt.Errorf("%w: mapping line %q", errSmaps, line)
	}
	addr := fields[0]
	dash := bytes.IndexByte(addr, '-')
	if dash < 0 {
		return 0, 0, false, fmt.Errorf("%w: mapping line %q", errSmaps, line)
	}
	start, err1 := strconv.ParseUint(string(addr[:dash]), 16, 64)
	end, err2 := strconv.ParseUint(string(addr[dash+1:]), 16, 64)
	// 57 bits is the largest virtual address space (5-level paging).
	if err1 != nil || err2 != nil || end < start || end-start >= 1<<57 {
		return 0, 0, false, fmt.Errorf("%w: mapping line %q", errSmaps, line)
	}
	inode, err = strconv.ParseUint(string(fields[4]), 10, 64)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: inode in %q", errSmaps, line)
	}
	if len(fields) > 5 {
		path := bytes.Join(fields[5:], []byte(" "))
		sharedAnon = bytes.Equal(path, []byte("/dev/zero (deleted)")) || bytes.HasPrefix(path, []byte("[anon_shmem:"))
	}
	return int64(end - start), inode, sharedAnon, nil
}
