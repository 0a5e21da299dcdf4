package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Hierarchy is a memory cgroup and its ancestors up to the root: where each
// level's limit is, and which of them constrain the cgroup.
type Hierarchy struct {
	// Levels runs from the root ("/") to the cgroup itself (last).
	Levels []Memory
	// Applies[i] tells whether Levels[i] charges the cgroup's pages. Always
	// true on v2; on v1 an ancestor applies only while every level between
	// has use_hierarchy = 1 (non-hierarchical mode, before 5.11).
	Applies []bool
}

// ReadHierarchy reads path and each of its ancestors in layout l. A level
// removed while reading is kept with a note; the error is for a cgroup
// that does not exist at all.
func ReadHierarchy(l Layout, cgPath string) (Hierarchy, error) {
	if l.Memory == "" {
		return Hierarchy{}, ErrNoMemoryController
	}
	cgPath = path.Clean("/" + cgPath)
	var paths []string
	for p := cgPath; ; p = path.Dir(p) {
		paths = append(paths, p)
		if p == "/" {
			break
		}
	}
	slices.Reverse(paths)
	h := Hierarchy{Levels: make([]Memory, len(paths)), Applies: make([]bool, len(paths))}
	for i, p := range paths {
		m, err := ReadMemory(l.Dir(p), p, l.Memory)
		if err != nil {
			if i == len(paths)-1 || !errors.Is(err, ErrRemoved) {
				return Hierarchy{}, err
			}
			m.Notes = append(m.Notes, err.Error())
		}
		h.Levels[i] = m
	}
	last := len(paths) - 1
	h.Applies[last] = true
	for i := last - 1; i >= 0; i-- {
		h.Applies[i] = h.Applies[i+1]
		if l.Memory == V1 && h.Levels[i].UseHierarchy != nil && !*h.Levels[i].UseHierarchy {
			h.Applies[i] = false
		}
	}
	return h, nil
}

// Target is the cgroup itself.
func (h Hierarchy) Target() Memory { return h.Levels[len(h.Levels)-1] }

// EffectiveLimit is the index of the smallest limit that applies (the
// deepest one among equals), −1 when no level has a limit.
func (h Hierarchy) EffectiveLimit() int {
	best := -1
	for i, m := range h.Levels {
		if !h.Applies[i] || m.LimitBytes == nil {
			continue
		}
		if best < 0 || *m.LimitBytes <= *h.Levels[best].LimitBytes {
			best = i
		}
	}
	return best
}

// Binding is the index of the applying level with the least headroom —
// the one whose memcg OOM comes first as the cgroup grows, since an
// ancestor's limit is shared with its other children — or −1 when no
// level has a limit.
func (h Hierarchy) Binding() int {
	best := -1
	var bestRoom int64
	for i, m := range h.Levels {
		if !h.Applies[i] {
			continue
		}
		r := m.HeadroomBytes()
		if r == nil {
			continue
		}
		if best < 0 || *r <= bestRoom {
			best, bestRoom = i, *r
		}
	}
	return best
}

// Walk lists the memory cgroup from ("/" for all) and every cgroup below
// it in layout l, parents before children, children in creation order
// (kernfs inode numbers grow with creation): the order
// mem_cgroup_scan_tasks() visits them. Directories removed during the walk
// are skipped.
func Walk(l Layout, from string) ([]string, error) {
	if l.Memory == "" {
		return nil, ErrNoMemoryController
	}
	from = path.Clean("/" + from)
	dir := l.Dir(from)
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cgroup %s: %w", from, ErrRemoved)
		}
		return nil, fmt.Errorf("read %s: %w", dir, err)
	} else if !fi.IsDir() {
		return nil, notCgroup(from)
	}
	var out []string
	descend(dir, from, func(_, p string) { out = append(out, p) })
	return out, nil
}

// descend calls visit for the cgroup directory dir (cgroup path p) and
// every cgroup directory below it, in Walk's order. It is the one walk of
// a cgroup tree: Walk and RemoveDir use it.
func descend(dir, p string, visit func(dir, p string)) {
	visit(dir, p)
	for _, c := range children(dir) {
		descend(filepath.Join(dir, c), path.Join(p, c), visit)
	}
}

// children lists the child cgroups of the cgroup directory dir in creation
// order — kernfs (cgroupfs) hands out inode numbers in creation order; on
// any other filesystem (a fixture tree) they are sorted by name — or nil
// when dir cannot be read (e.g. it was just removed).
func children(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var sfs unix.Statfs_t
	kernfs := unix.Statfs(dir, &sfs) == nil && (sfs.Type == unix.CGROUP_SUPER_MAGIC || sfs.Type == unix.CGROUP2_SUPER_MAGIC)
	type child struct {
		name string
		ino  uint64
	}
	var cs []child
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		var ino uint64
		if kernfs {
			if fi, err := e.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					ino = st.Ino
				}
			} else if errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		cs = append(cs, child{e.Name(), ino})
	}
	slices.SortStableFunc(cs, func(a, b child) int {
		if a.ino != b.ino {
			if a.ino < b.ino {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return names
}

// PIDs lists the processes directly in the cgroup directory dir
// (cgroup.procs: sorted on v1, join order on v2); nil when unreadable.
func PIDs(dir string) []int {
	pids, _ := readPIDs(dir)
	return pids
}

// Path maps a cgroup directory back to its cgroup path under the
// layout's memory mount ("" when dir is outside it).
func (l Layout) Path(dir string) string {
	base := l.Dir("/")
	rel, err := filepath.Rel(base, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return ""
	}
	return path.Clean("/" + filepath.ToSlash(rel))
}
