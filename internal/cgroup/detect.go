// Package cgroup reads and manages the memory controller of cgroup v1 and
// v2: where it is mounted (detected from mountinfo, as the kernel reports
// it, not guessed from paths), which memcg a process is in, limits, usage,
// events, and — for the lab and tests only — creating, limiting and
// removing throw-away cgroups. Every path comes from injected roots so the
// agent can read a host's /proc and /sys through mounts.
package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/kfile"
	"github.com/oomkit/oomkit/internal/proc"
)

// Version is a cgroup hierarchy version: "v1" or "v2".
type Version string

// The two cgroup versions.
const (
	V1 Version = "v1"
	V2 Version = "v2"
)

// Layout is where the memory controller lives on a host.
type Layout struct {
	// Memory is the version whose hierarchy has the memory controller,
	// "" when no memory controller is mounted.
	Memory Version
	// Hybrid is true when v1 controllers and a cgroup2 hierarchy are both
	// mounted (systemd's "hybrid" mode).
	Hybrid bool
	// V1Memory is the mount point of the v1 memory hierarchy, "" if none.
	V1Memory string
	// V2 is the mount point of the cgroup2 hierarchy, "" if none.
	V2 string
	// V2Controllers are the controllers enabled at the v2 root
	// (cgroup.controllers), nil when there is no v2 mount.
	V2Controllers []string

	hasV1 bool // some v1 hierarchy (any controller) is mounted
}

// Roots are the injected filesystem roots.
type Roots struct {
	Proc string // default "/proc"
	Sys  string // default "/sys"
}

func (r Roots) proc() string {
	if r.Proc == "" {
		return "/proc"
	}
	return r.Proc
}

func (r Roots) sys() string {
	if r.Sys == "" {
		return "/sys"
	}
	return r.Sys
}

// hostPath maps a mount point as the kernel prints it (under /sys) into the
// injected sys root.
func (r Roots) hostPath(mountPoint string) string {
	if rest, ok := strings.CutPrefix(mountPoint, "/sys"); ok && (rest == "" || rest[0] == '/') {
		return filepath.Join(r.sys(), rest)
	}
	return mountPoint
}

// Detect finds the cgroup mounts from /proc/self/mountinfo under roots.
func Detect(roots Roots) (Layout, error) {
	path := filepath.Join(roots.proc(), "self", "mountinfo")
	data, err := kfile.Read(path, kfile.Large)
	if err != nil {
		return Layout{}, fmt.Errorf("read %s: %w", path, err)
	}
	l, err := parseMountinfo(data)
	if err != nil {
		return Layout{}, fmt.Errorf("%s: %w", path, err)
	}
	if l.V1Memory != "" {
		l.V1Memory = roots.hostPath(l.V1Memory)
	}
	if l.V2 != "" {
		l.V2 = roots.hostPath(l.V2)
		if b, err := kfile.Read(filepath.Join(l.V2, "cgroup.controllers"), kfile.Small); err == nil {
			l.V2Controllers = strings.Fields(string(b))
		}
	}
	switch {
	case l.V1Memory != "":
		l.Memory = V1
	case l.V2 != "" && contains(l.V2Controllers, "memory"):
		l.Memory = V2
	}
	l.Hybrid = l.hasV1 && l.V2 != ""
	return l, nil
}

// parseMountinfo reads proc(5) mountinfo lines: fields up to " - ", then
// fstype, source, super options.
func parseMountinfo(data []byte) (Layout, error) {
	var l Layout
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf := strings.Fields(pre)
		qf := strings.Fields(post)
		if len(pf) < 5 || len(qf) < 1 {
			continue
		}
		mnt := unescapeMount(pf[4])
		switch qf[0] {
		case "cgroup2":
			if l.V2 == "" {
				l.V2 = mnt
			}
		case "cgroup":
			l.hasV1 = true
			if len(qf) >= 3 && contains(strings.Split(qf[2], ","), "memory") && l.V1Memory == "" {
				l.V1Memory = mnt
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Dir is the directory of memcg path (as the kernel prints it, e.g.
// "/kubepods/pod…") in the memory hierarchy.
func (l Layout) Dir(path string) string {
	switch l.Memory {
	case V1:
		return filepath.Join(l.V1Memory, path)
	case V2:
		return filepath.Join(l.V2, path)
	}
	return ""
}

// ErrNoMemoryController is returned when no memory controller is mounted.
var ErrNoMemoryController = errors.New("no cgroup memory controller is mounted (mount cgroup v1 \"memory\" or cgroup2 with the memory controller)")

// ProcessMemcg returns the memcg path of pid (0: the calling process) from
// /proc/PID/cgroup: the v1 line naming "memory", or the v2 "0::" line.
func ProcessMemcg(roots Roots, l Layout, pid int) (string, error) {
	who := "self"
	if pid > 0 {
		who = strconv.Itoa(pid)
	}
	path := filepath.Join(roots.proc(), who, "cgroup")
	data, err := kfile.Read(path, kfile.Small)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return parseProcCgroup(data, l.Memory)
}

func parseProcCgroup(data []byte, v Version) (string, error) {
	if v == "" {
		return "", ErrNoMemoryController
	}
	if p := proc.ParseMemoryCgroup(data, v == V1); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("no %s memory cgroup line in /proc/PID/cgroup", v)
}
