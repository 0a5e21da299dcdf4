package kube

import (
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

// FormatBytes prints n in the largest IEC unit that keeps it ≥ 1, with at
// most two decimals and no trailing zeros: 1610612736 → "1.5 GiB",
// 20971520 → "20 MiB", 100 → "100 B".
//
// New code prints sizes with bytesize.Format (three significant digits).
// This older spelling is kept only for inspect, top and the heap ceilings
// while they move out of cli and kube (issue 10); they switch to
// bytesize.Format together, with their golden files, and this goes.
func FormatBytes(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	units := []struct {
		size int64
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}}
	for _, u := range units {
		if n >= u.size {
			v := float64(n) / float64(u.size)
			s := strconv.FormatFloat(v, 'f', 2, 64)
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			return sign + s + " " + u.name
		}
	}
	return sign + strconv.FormatInt(n, 10) + " B"
}
