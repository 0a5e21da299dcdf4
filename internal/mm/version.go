// Package mm models the kernel's memory-management policies as pure
// functions, by kernel version: the OOM killer's badness, clamp, tie rule
// and scan order (oomkill.go), overcommit accounting (overcommit.go) and
// memcg limits (memcontrol.go). Nothing here does I/O; the facts and their
// version ranges come from spec/kernel.md, which cites the kernel sources.
package mm

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a kernel release as printed by the kernel ("5.4.0-1059-azure").
type Version struct {
	Major, Minor, Patch int
	// Raw is the release string as given.
	Raw string
}

// ParseVersion reads the numeric part of a kernel release string:
// "5.4.0-1059-azure", "3.10.0-514.6.1.el7.x86_64", "6.18.44-fc-v669", "6.1".
func ParseVersion(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	v := Version{Raw: raw}
	num := raw
	if i := strings.IndexFunc(num, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		num = num[:i]
	}
	parts := strings.Split(strings.TrimSuffix(num, "."), ".")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return Version{}, fmt.Errorf("kernel version %q: want MAJOR.MINOR[.PATCH], e.g. 5.4.0 or 6.1.0-18-amd64", s)
	}
	dst := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if i == len(dst) {
			break
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1<<20 {
			return Version{}, fmt.Errorf("kernel version %q: %q is not a number", s, p)
		}
		*dst[i] = n
	}
	return v, nil
}

// String returns the release as given, or MAJOR.MINOR.PATCH.
func (v Version) String() string {
	if v.Raw != "" {
		return v.Raw
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Less reports whether v is an older release than w (numeric parts only).
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// AtLeast reports whether v is major.minor.patch or newer.
func (v Version) AtLeast(major, minor, patch int) bool {
	return !v.Less(Version{Major: major, Minor: minor, Patch: patch})
}

// isRHEL8 reports a RHEL 8 4.18 kernel ("4.18.0-240.el8"), which mixes
// behaviours (spec/kernel.md §6).
func (v Version) isRHEL8() bool {
	return v.Major == 4 && v.Minor == 18 && strings.Contains(v.Raw, ".el8")
}
