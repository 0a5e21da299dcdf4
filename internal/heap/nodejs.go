package heap

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// nodeHeap reads --max-old-space-size (MiB) and Node 24's
// --max-old-space-size-percentage from NODE_OPTIONS and the command line
// (the command line wins). Without them V8 sizes the heap from the memory it
// detects, which is unreliable under cgroup v2 before Node 20.3.
func nodeHeap(h *Ceiling, argv []string, env map[string]string, limitBytes, nodeMemoryBytes int64) {
	opts := strings.Fields(env["NODE_OPTIONS"])
	if len(argv) > 0 && (path.Base(argv[0]) == "node" || path.Base(argv[0]) == "nodejs" || strings.HasPrefix(argv[0], "-")) {
		first := 1
		if strings.HasPrefix(argv[0], "-") {
			first = 0 // args for the image's entrypoint
		}
		for _, a := range argv[first:] {
			if !strings.HasPrefix(a, "-") {
				break // the script; the rest are its arguments
			}
			opts = append(opts, a)
		}
	}
	var flag string
	var mib int64 = -1
	var pct float64 = -1
	for i := 0; i < len(opts); i++ {
		name, val, hasVal := strings.Cut(opts[i], "=")
		name = strings.ReplaceAll(name, "_", "-")
		if name != "--max-old-space-size" && name != "--max-old-space-size-percentage" {
			continue
		}
		if !hasVal && i+1 < len(opts) {
			i++
			val = opts[i]
		}
		if name == "--max-old-space-size" {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 || n > math.MaxInt64/bytesize.MiB {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is not a size in MiB (e.g. --max-old-space-size=1536)", name, val))
				continue
			}
			mib, pct, flag = n, -1, name+"="+val
		} else {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f <= 0 || f > 100 {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is not a percentage from 0 to 100", name, val))
				continue
			}
			pct, mib, flag = f, -1, name+"="+val
		}
	}
	switch {
	case mib > 0:
		c := mib * bytesize.MiB
		h.Bytes = &c
		h.Source = fmt.Sprintf("%s (V8 old space: %s)", flag, bytesize.Format(c))
	case pct > 0:
		base, of := limitBytes, "limit"
		if base == 0 {
			base, of = nodeMemoryBytes, "node memory"
		}
		if base > 0 {
			c := mulPercent(base, pct)
			h.Bytes = &c
			h.Source = fmt.Sprintf("%s of the %s %s (Node 24+)", flag, bytesize.Format(base), of)
		}
	default:
		h.Source = "V8 sizes its heap from the memory it detects; cgroup v2 limits are not reliably detected"
		if limitBytes > 0 {
			h.Warnings = append(h.Warnings, fmt.Sprintf("Node.js has no explicit heap size: set NODE_OPTIONS=--max-old-space-size=%d (75%% of the %s limit, in MiB) so it throws instead of being killed",
				mulPercent(limitBytes, 75)/bytesize.MiB, bytesize.Format(limitBytes)))
		}
	}
}
