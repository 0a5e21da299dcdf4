package bytesize_test

import (
	"math"
	"testing"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/explain"
)

// FuzzFormatIsExplains holds Format to what explain.HumanBytes printed
// before there was one formatter, so moving explain, inspect and top onto
// Format changes no golden file. (Once explain.HumanBytes calls Format this
// test holds trivially and can go.)
func FuzzFormatIsExplains(f *testing.F) {
	for _, n := range []int64{0, 1, 999, 1000, 1023, 1024, 1025, 10239, 10240, 102399, 102400, 1048063, 1048064,
		43356 * 4096, 17301504, 1 << 30, 1<<40 - 1, 1 << 50, 1 << 60, math.MaxInt64, -4096, math.MinInt64 + 1} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if got, want := bytesize.Format(n), explain.HumanBytes(n); got != want {
			t.Fatalf("Format(%d) = %q, explain.HumanBytes = %q", n, got, want)
		}
	})
}
