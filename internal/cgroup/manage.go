package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Memcg is a memory cgroup this process created (for the lab and tests).
type Memcg struct {
	// Path is the cgroup path as the kernel prints it in OOM reports
	// ("/process_api/…/oomkit-lab-1a2b3c").
	Path string
	// Dir is its directory in the mounted hierarchy.
	Dir     string
	Version Version
}

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Create makes the child cgroup name under parentPath (a memcg path) and,
// on v2, enables the memory controller for the parent's children. It does
// not set a limit.
func Create(l Layout, parentPath, name string) (*Memcg, error) {
	if l.Memory == "" {
		return nil, ErrNoMemoryController
	}
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("cgroup name %q: want a single path component", name)
	}
	parentDir := l.Dir(parentPath)
	if l.Memory == V2 {
		// Children only get memory.* files when the parent delegates the
		// controller; a parent with processes of its own cannot (v2's "no
		// internal processes" rule), which the error below reports.
		ctl := filepath.Join(parentDir, "cgroup.subtree_control")
		if b, err := os.ReadFile(ctl); err == nil && !contains(strings.Fields(string(b)), "memory") {
			if err := os.WriteFile(ctl, []byte("+memory"), 0); err != nil {
				return nil, fmt.Errorf("enable the memory controller in %s: %w", ctl, err)
			}
		}
	}
	dir := filepath.Join(parentDir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return &Memcg{Path: filepath.Join(parentPath, name), Dir: dir, Version: l.Memory}, nil
}

// limitFile is the hard-limit file of version v.
func limitFile(v Version) string {
	if v == V2 {
		return "memory.max"
	}
	return "memory.limit_in_bytes"
}

// SetLimit sets the hard memory limit in bytes; swap is limited to 0 extra
// where the kernel allows it, so the limit means what it says.
func (m *Memcg) SetLimit(bytes int64) error {
	f := filepath.Join(m.Dir, limitFile(m.Version))
	if err := os.WriteFile(f, []byte(strconv.FormatInt(bytes, 10)), 0); err != nil {
		return fmt.Errorf("write %s: %w", f, err)
	}
	switch m.Version {
	case V1:
		// memory.memsw.* exists only with swap accounting.
		f := filepath.Join(m.Dir, "memory.memsw.limit_in_bytes")
		if _, err := os.Stat(f); err == nil {
			if err := os.WriteFile(f, []byte(strconv.FormatInt(bytes, 10)), 0); err != nil {
				return fmt.Errorf("write %s: %w", f, err)
			}
		}
	case V2:
		f := filepath.Join(m.Dir, "memory.swap.max")
		if _, err := os.Stat(f); err == nil {
			if err := os.WriteFile(f, []byte("0"), 0); err != nil {
				return fmt.Errorf("write %s: %w", f, err)
			}
		}
	}
	return nil
}

// Write writes value to the cgroup's file name (e.g. "memory.oom.group").
func (m *Memcg) Write(name, value string) error {
	f := filepath.Join(m.Dir, name)
	if err := os.WriteFile(f, []byte(value), 0); err != nil {
		return fmt.Errorf("write %s: %w", f, err)
	}
	return nil
}

// AddProcess moves pid into the cgroup.
func (m *Memcg) AddProcess(pid int) error {
	return m.Write("cgroup.procs", strconv.Itoa(pid))
}

// PIDs lists the processes in the cgroup (not its children).
func (m *Memcg) PIDs() ([]int, error) { return readPIDs(m.Dir) }

func readPIDs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Child returns the sub-cgroup name of m, creating it.
func (m *Memcg) Child(l Layout, name string) (*Memcg, error) { return Create(l, m.Path, name) }

// Remove kills every process left in the cgroup and its descendants,
// waits for them to leave, and removes the directories bottom-up. It is
// safe to call twice.
func (m *Memcg) Remove() error { return RemoveDir(m.Dir) }

// RemoveDir removes a cgroup directory tree this process created: SIGKILL
// to its processes, then rmdir from the leaves up. A missing directory is
// not an error.
func RemoveDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var dirs []string
	descend(dir, "/", func(d, _ string) { dirs = append(dirs, d) })
	// Walk order has every parent before its children: reversed, every
	// child comes before its parent.
	var errs []error
	for _, d := range slices.Backward(dirs) {
		if err := removeOne(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeOne kills the processes of the leaf cgroup directory dir and
// removes it, retrying while the killed processes leave.
func removeOne(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, _ := readPIDs(dir)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w (processes still inside: %v)", dir, err, pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
