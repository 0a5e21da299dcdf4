package kube

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Kubernetes (kubelet) minor release, 1.N.
type Version struct {
	Major, Minor int
}

// Oldest and Newest are the kubelet releases the rules in this package
// cover: pod-level QoS and oom_score_adj exist since 1.3, and the newest
// rule (pod-level resources' empty-resources fix) comes with 1.37.
var (
	Oldest = Version{1, 3}
	Newest = Version{1, 37}
)

// ParseVersion reads "1.30", "v1.30" or "v1.30.2-eks-1" (patch and suffix
// are ignored: none of the modelled rules changed in a patch release).
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	majS, rest, ok := strings.Cut(t, ".")
	if !ok {
		return Version{}, fmt.Errorf("kubernetes version %q: want MAJOR.MINOR, e.g. 1.30", s)
	}
	minS, _, _ := strings.Cut(rest, ".")
	if i := strings.IndexAny(minS, "-+"); i >= 0 {
		minS = minS[:i]
	}
	maj, err1 := strconv.Atoi(majS)
	minor, err2 := strconv.Atoi(minS)
	if err1 != nil || err2 != nil || maj < 0 || minor < 0 {
		return Version{}, fmt.Errorf("kubernetes version %q: want MAJOR.MINOR, e.g. 1.30", s)
	}
	v := Version{maj, minor}
	if v.Less(Oldest) || Newest.Less(v) {
		return Version{}, fmt.Errorf("kubernetes version %s: oomkit models kubelet %s to %s", v, Oldest, Newest)
	}
	return v, nil
}

// String prints "1.30".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	return v.Minor < w.Minor
}

// AtLeast reports whether v is 1.minor or newer.
func (v Version) AtLeast(minor int) bool { return !v.Less(Version{1, minor}) }
