package heap

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// goHeap reads GOMEMLIMIT: a soft limit on Go-managed memory, decimal bytes
// with an optional B, KiB, MiB, GiB or TiB suffix; unset or "off" means none
// (runtime readGOMEMLIMIT / parseByteCount, Go 1.19+).
func goHeap(h *Ceiling, env map[string]string) {
	v, ok := env["GOMEMLIMIT"]
	if !ok || v == "" || v == "off" {
		h.Source = "Go sets no memory limit by default (GOMEMLIMIT unset)"
		if limit, ok := env["AUTOMEMLIMIT"]; ok {
			h.Source += "; AUTOMEMLIMIT=" + limit + " (automemlimit library) sets one at start-up from the cgroup limit"
		}
		return
	}
	n, ok := parseGoByteCount(v)
	if !ok {
		h.Warnings = append(h.Warnings, fmt.Sprintf("GOMEMLIMIT=%s is not valid (use a byte count with B, KiB, MiB, GiB or TiB, e.g. 900MiB); the Go runtime refuses to start", v))
		h.Source = "invalid GOMEMLIMIT"
		return
	}
	h.Bytes = &n
	h.Source = fmt.Sprintf("GOMEMLIMIT=%s (%s, a soft limit)", v, bytesize.Format(n))
}

// parseGoByteCount is the runtime's parseByteCount: an integer and an
// optional IEC suffix. Decimal (SI) suffixes such as MB are rejected, as the
// runtime does.
func parseGoByteCount(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", bytesize.KiB}, {"MiB", bytesize.MiB}, {"GiB", bytesize.GiB}, {"TiB", bytesize.TiB}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}
