package alloc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// IEC byte units.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// units maps every accepted suffix (lower-cased) to its multiplier. SI
// suffixes (MB, GB) mean powers of ten, as they do in Kubernetes quantities
// (M, G) and in the article ("100 MB").
var units = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "kib": KiB, "ki": KiB,
	"m": 1000 * 1000, "mb": 1000 * 1000, "mib": MiB, "mi": MiB,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000, "gib": GiB, "gi": GiB,
	"t": 1000 * 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000, "tib": TiB, "ti": TiB,
}

// ParseSize reads a byte size: "100MiB", "1TiB", "1.5GiB", "64Mi" (the
// Kubernetes spelling), "100MB" (decimal), "4096". It rejects negative and
// fractional-byte results and sizes that do not fit in an int64.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := units[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, fmt.Errorf("size %q: want a number with an optional unit, e.g. 100MiB, 1.5GiB, 64Mi, 4096", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %q is not a number", s, num)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return int64(v), nil
}

// FormatSize prints n in the largest IEC unit that keeps it ≥ 1 with one
// decimal: 104857600 → "100.0 MiB", 1536 → "1.5 KiB", 100 → "100 B".
func FormatSize(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	for _, u := range []struct {
		size int64
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if n >= u.size {
			return fmt.Sprintf("%s%.1f %s", sign, float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%s%d B", sign, n)
}

// ParsePercent reads a percentage from 0 to 100: "50%", "50", "12.5%".
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("percentage %q: want a number from 0 to 100, e.g. 50%%", s)
	}
	if f < 0 || f > 100 {
		return 0, fmt.Errorf("percentage %q is outside 0%%–100%% (you cannot touch more of a block than was allocated)", s)
	}
	return f, nil
}
