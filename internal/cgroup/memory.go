package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/oomkit/oomkit/internal/kfile"
)

// Memory is what one memory cgroup's files say. Sizes are in bytes. A nil
// field is a file this version or kernel does not have, or one that could
// not be read (Notes says which).
type Memory struct {
	// Path is the cgroup path as the kernel prints it ("/kubepods/pod…").
	Path string
	// Dir is the directory the files were read from.
	Dir     string
	Version Version

	// LimitBytes is memory.max (v2) or memory.limit_in_bytes (v1); nil
	// when Unlimited or unreadable.
	LimitBytes *int64
	// Unlimited is true when the limit file says "max" (v2) or holds
	// PAGE_COUNTER_MAX (v1's 9223372036854771712), or, on v2, at the root,
	// which has no memory.max.
	Unlimited bool
	// UsageBytes is memory.current (v2) or memory.usage_in_bytes (v1).
	UsageBytes *int64
	// HighBytes is v2 memory.high (throttling, never an OOM); nil for max.
	HighBytes *int64

	// SwapLimitBytes is v2 memory.swap.max (nil for max); SwapUsageBytes is
	// memory.swap.current.
	SwapLimitBytes *int64
	SwapUsageBytes *int64
	// MemswLimitBytes and MemswUsageBytes are v1 memory.memsw.* (memory +
	// swap), present only with swap accounting; nil limit for unlimited.
	MemswLimitBytes *int64
	MemswUsageBytes *int64

	// FailCnt is v1 memory.failcnt: charges refused at this level.
	FailCnt *int64
	// InactiveFileBytes is memory.stat inactive_file (v2) or
	// total_inactive_file (v1, hierarchical): page cache reclaimed first.
	InactiveFileBytes *int64
	// ActiveFileBytes is active_file/total_active_file.
	ActiveFileBytes *int64

	// Events is v2 memory.events.
	Events *Events
	// OOMControl is v1 memory.oom_control.
	OOMControl *OOMControl
	// OOMGroup is v2 memory.oom.group (4.19+).
	OOMGroup *bool
	// UseHierarchy is v1 memory.use_hierarchy.
	UseHierarchy *bool
	// Swappiness is v1 memory.swappiness (v2 has no per-cgroup value).
	Swappiness *int64

	// Notes say what could not be read and why.
	Notes []string
}

// v1Unlimited is the smallest value treated as "no limit" on v1: the kernel
// prints PAGE_COUNTER_MAX × PAGE_SIZE (9223372036854771712 with 4 KiB
// pages, less with larger pages); no real limit comes near 2^62.
const v1Unlimited = 1 << 62

// testHookRead, when set by a test, runs before each file is read (to
// remove the cgroup half-way through).
var testHookRead func(name string)

// ErrRemoved is wrapped by ReadMemory when the cgroup directory vanished.
var ErrRemoved = errors.New("no such cgroup (it does not exist or was just removed)")

// ErrNotCgroup is wrapped when a cgroup path names a file (memory.max,
// cgroup.procs…) rather than a cgroup directory.
var ErrNotCgroup = errors.New("is a file, not a cgroup (give the cgroup's directory)")

// notCgroup is the error for a cgroup path that names a file.
func notCgroup(p string) error {
	return fmt.Errorf("cgroup %s %w: %s", p, ErrNotCgroup, path.Dir(p))
}

// ReadMemory reads the memory controller files of the cgroup directory dir
// (path is the cgroup path to report). It fails only when the directory
// does not exist; a file that cannot be read, or a cgroup removed half-way
// through, leaves its fields nil with a note.
func ReadMemory(dir, path string, v Version) (Memory, error) {
	m := Memory{Path: path, Dir: dir, Version: v}
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return m, fmt.Errorf("read cgroup %s: %w", path, ErrRemoved)
		}
		return m, fmt.Errorf("read cgroup %s: %w", path, err)
	} else if !fi.IsDir() {
		return m, notCgroup(path)
	}
	r := reader{m: &m}
	switch v {
	case V2:
		if root := path == "/" || path == ""; root && !r.exists("memory.max") {
			// The v2 root has no memory.max: it is the whole machine.
			m.Unlimited = true
		} else {
			m.LimitBytes, m.Unlimited, _ = r.limit("memory.max")
		}
		m.UsageBytes = r.int("memory.current")
		m.HighBytes, _, _ = r.limit("memory.high")
		m.SwapLimitBytes, _, _ = r.limit("memory.swap.max")
		m.SwapUsageBytes = r.int("memory.swap.current")
		if b, ok := r.read("memory.events"); ok {
			e, err := parseEvents(b)
			if err != nil {
				r.note("memory.events", err)
			} else {
				m.Events = &e
			}
		}
		if n := r.int("memory.oom.group"); n != nil {
			m.OOMGroup = ptr(*n == 1)
		}
		if st, ok := r.stat(); ok {
			m.InactiveFileBytes = st.get("inactive_file")
			m.ActiveFileBytes = st.get("active_file")
		}
	default:
		m.LimitBytes, m.Unlimited, _ = r.limit("memory.limit_in_bytes")
		m.UsageBytes = r.int("memory.usage_in_bytes")
		if r.exists("memory.memsw.limit_in_bytes") {
			m.MemswLimitBytes, _, _ = r.limit("memory.memsw.limit_in_bytes")
			m.MemswUsageBytes = r.int("memory.memsw.usage_in_bytes")
		}
		m.FailCnt = r.int("memory.failcnt")
		if b, ok := r.read("memory.oom_control"); ok {
			o, err := parseOOMControl(b)
			if err != nil {
				r.note("memory.oom_control", err)
			} else {
				m.OOMControl = &o
			}
		}
		if n := r.int("memory.use_hierarchy"); n != nil {
			m.UseHierarchy = ptr(*n == 1)
		}
		m.Swappiness = r.int("memory.swappiness")
		if st, ok := r.stat(); ok {
			m.InactiveFileBytes = st.get("total_inactive_file")
			m.ActiveFileBytes = st.get("total_active_file")
			if m.InactiveFileBytes == nil {
				m.InactiveFileBytes = st.get("inactive_file")
				m.ActiveFileBytes = st.get("active_file")
			}
		}
	}
	switch {
	case r.removed:
		m.Notes = append(m.Notes, fmt.Sprintf("cgroup %s was removed while it was read: the numbers are partial", path))
	case m.UsageBytes == nil && v == V2 && (path == "/" || path == ""):
		m.Notes = append(m.Notes, "the v2 root has no memory.current: node usage comes from /proc/meminfo")
	case m.UsageBytes == nil:
		m.Notes = append(m.Notes, fmt.Sprintf("cgroup %s has no readable memory usage file: is the memory controller enabled for it?", path))
	}
	return m, nil
}

// WorkingSetBytes is usage − inactive_file, floored at 0: what kubelet and
// cAdvisor call the working set (and what eviction and the
// container_memory_working_set_bytes metric use). nil when usage is unknown.
func (m Memory) WorkingSetBytes() *int64 {
	if m.UsageBytes == nil {
		return nil
	}
	ws := *m.UsageBytes
	if m.InactiveFileBytes != nil {
		ws -= *m.InactiveFileBytes
	}
	return ptr(max(ws, 0))
}

// ReclaimableBytes is the file cache the kernel drops before a memcg OOM
// (inactive_file + active_file), nil when memory.stat was not read.
func (m Memory) ReclaimableBytes() *int64 {
	if m.InactiveFileBytes == nil {
		return nil
	}
	n := *m.InactiveFileBytes
	if m.ActiveFileBytes != nil {
		n += *m.ActiveFileBytes
	}
	return &n
}

// HeadroomBytes is LimitBytes − working set: how much more the cgroup's
// tasks can keep resident before reclaim runs out of inactive page cache
// and the memcg OOM killer runs. Active file pages are counted as used, as
// kubelet does, so the figure errs on the safe side. nil when unlimited or
// unknown.
func (m Memory) HeadroomBytes() *int64 {
	ws := m.WorkingSetBytes()
	if m.LimitBytes == nil || ws == nil {
		return nil
	}
	return ptr(*m.LimitBytes - *ws)
}

// OOMKillCount is the number of this cgroup's processes killed by an OOM
// kill: v2 memory.events oom_kill, v1 memory.oom_control oom_kill (4.13+).
func (m Memory) OOMKillCount() *int64 {
	switch {
	case m.Events != nil:
		return m.Events.OOMKill
	case m.OOMControl != nil:
		return m.OOMControl.OOMKill
	}
	return nil
}

// reader reads files of one cgroup directory and turns errors into notes.
type reader struct {
	m       *Memory
	removed bool
}

func (r *reader) note(name string, err error) {
	r.m.Notes = append(r.m.Notes, fmt.Sprintf("%s: %v", name, err))
}

func (r *reader) exists(name string) bool {
	_, err := os.Stat(filepath.Join(r.m.Dir, name))
	return err == nil
}

// read returns a file's contents. A missing file is normal (older kernels,
// the v2 root) and is not noted; when the whole directory is gone the
// cgroup was removed meanwhile.
func (r *reader) read(name string) ([]byte, bool) {
	if testHookRead != nil {
		testHookRead(name)
	}
	b, err := kfile.Read(filepath.Join(r.m.Dir, name), kfile.Small)
	if err == nil {
		return b, true
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNoDevice) {
		if _, derr := os.Stat(r.m.Dir); derr != nil {
			r.removed = true
			return nil, false
		}
		return nil, false
	}
	r.note(name, err)
	return nil, false
}

func (r *reader) int(name string) *int64 {
	b, ok := r.read(name)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		r.note(name, err)
		return nil
	}
	return &n
}

// limit reads a limit file: "max" (v2) or a number; v1's PAGE_COUNTER_MAX
// is unlimited. ok is false when the file could not be read.
func (r *reader) limit(name string) (n *int64, unlimited, ok bool) {
	b, ok := r.read(name)
	if !ok {
		return nil, false, false
	}
	s := string(bytes.TrimSpace(b))
	if s == "max" {
		return nil, true, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// v1 prints unsigned values; anything past int64 is unlimited.
		if u, uerr := strconv.ParseUint(s, 10, 64); uerr == nil && u >= v1Unlimited {
			return nil, true, true
		}
		r.note(name, err)
		return nil, false, false
	}
	if v >= v1Unlimited {
		return nil, true, true
	}
	return &v, false, true
}

func (r *reader) stat() (Stat, bool) {
	b, ok := r.read("memory.stat")
	if !ok {
		return nil, false
	}
	st, err := parseStat(b)
	if err != nil {
		r.note("memory.stat", err)
		return nil, false
	}
	return st, true
}

func ptr[T any](v T) *T { return &v }
