package proc

import (
	"bytes"
	"strings"
)

// CgroupLine is one line of /proc/PID/cgroup: "ID:controllers:path".
type CgroupLine struct {
	HierarchyID int
	Controllers []string
	Path        string
}

// Cgroups reads /proc/PID/cgroup (through procfs).
func (f FS) Cgroups(pid int) ([]CgroupLine, error) {
	if err := procfsFile(f.pidPath(pid, "cgroup")); err != nil {
		return nil, err
	}
	p, err := f.pfs.Proc(pid)
	if err != nil {
		return nil, err
	}
	cg, err := p.Cgroups()
	if err != nil {
		return nil, err
	}
	out := make([]CgroupLine, len(cg))
	for i, c := range cg {
		out[i] = CgroupLine{HierarchyID: c.HierarchyID, Controllers: c.Controllers, Path: c.Path}
	}
	return out, nil
}

// MemoryCgroup reads /proc/PID/cgroup and returns the memory controller's
// path: the v1 line naming "memory" when v1 is true, else the v2 "0::"
// line. It reads the file directly (not through procfs) because top reads
// it for every process.
func (f FS) MemoryCgroup(pid int, v1 bool) (string, error) {
	var buf [1024]byte
	b, err := readSmall(f.pidPath(pid, "cgroup"), buf[:])
	if err != nil {
		return "", err
	}
	return ParseMemoryCgroup(b, v1), nil
}

// ParseMemoryCgroup picks the memory controller's path from the text of
// /proc/PID/cgroup: the v1 line naming "memory" when v1 is true, else the
// v2 "0::" line; "" when there is no such line.
func ParseMemoryCgroup(b []byte, v1 bool) string {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		id, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		ctrls, path, ok := bytes.Cut(rest, []byte{':'})
		if !ok {
			continue
		}
		if v1 {
			for _, c := range strings.Split(string(ctrls), ",") {
				if c == "memory" {
					return string(path)
				}
			}
		} else if string(id) == "0" && len(ctrls) == 0 {
			return string(path)
		}
	}
	return ""
}
