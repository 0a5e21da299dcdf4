package mm

import (
	"fmt"
	"strings"
)

// The kernels whose OOM rules the model knows. The badness it computes
// (rss + swap + page tables, plus oom_score_adj × totalpages/1000) is the
// heuristic of 2.6.36 ("oom: badness heuristic rewrite", mm/oom_kill.c),
// which also introduced oom_score_adj; older kernels scored by oom_adj,
// CPU time and age, which the model does not do. The newest is the newest
// release spec/kernel.md checked the sources of.
var (
	OldestModelled = Version{Major: 2, Minor: 6, Patch: 36}
	NewestModelled = Version{Major: 6, Minor: 18}
)

// maxReleaseLen is __NEW_UTS_LEN (include/uapi/linux/utsname.h): no
// kernel release is longer.
const maxReleaseLen = 64

// ParseModelled reads a kernel version a user asks oomkit to assume
// (--assume-kernel): a release string such as "6.1.0" or
// "5.4.0-1059-azure" — digits, letters and . - _ + ~ only, as uname -r
// prints — of a kernel whose rules the model knows (OldestModelled to any
// NewestModelled patch release). The error says which versions are known.
func ParseModelled(s string) (Version, error) {
	if len(s) > maxReleaseLen {
		return Version{}, fmt.Errorf("kernel version %.64q… is longer than any kernel release (%d characters)", s, maxReleaseLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".-_+~", r)
		return !ok
	}); i >= 0 {
		return Version{}, fmt.Errorf("kernel version %q: %q is not part of a kernel release (want e.g. 6.1.0 or 5.4.0-1059-azure, as uname -r prints)", s, s[i:i+1])
	}
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}, err
	}
	if v.Less(OldestModelled) || (v.Major > NewestModelled.Major || v.Major == NewestModelled.Major && v.Minor > NewestModelled.Minor) {
		return Version{}, fmt.Errorf("kernel version %s: oomkit models the OOM rules of kernels %d.%d.%d to %d.%d (give a version in that range)",
			v, OldestModelled.Major, OldestModelled.Minor, OldestModelled.Patch, NewestModelled.Major, NewestModelled.Minor)
	}
	return v, nil
}
