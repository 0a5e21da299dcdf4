// Package bytesize is oomkit's one way of printing a size, and its binary
// byte units.
package bytesize

import (
	"strconv"
	"strings"
)

// Binary byte units.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
	PiB int64 = 1 << 50
	EiB int64 = 1 << 60
)

// Format prints n in the largest binary unit that keeps it ≥ 1, with at
// most two decimals and no trailing zeros: 1610612736 → "1.5 GiB",
// 20971520 → "20 MiB", 100 → "100 B".
func Format(n int64) string {
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
