package lab

import (
	"testing"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// TestLimitFor: the default limit grows with an allocator's starting RSS
// in 32 MiB steps, keeping that RSS at most a fifth of it (values worked
// by hand: 5 × 38 MiB = 190 MiB → 192 MiB).
func TestLimitFor(t *testing.T) {
	for _, tc := range []struct{ rss, want int64 }{
		{13 * bytesize.MiB, 96 * bytesize.MiB},
		{25*bytesize.MiB + 614*bytesize.KiB, 128 * bytesize.MiB},
		{38 * bytesize.MiB, 192 * bytesize.MiB},
		{64 * bytesize.MiB, 320 * bytesize.MiB},
	} {
		got := limitFor(tc.rss)
		if got != tc.want {
			t.Errorf("limitFor(%s) = %s, want %s", bytesize.Format(tc.rss), bytesize.Format(got), bytesize.Format(tc.want))
		}
		if tc.rss > got/4 {
			t.Errorf("limitFor(%s) = %s: the twists' bound (RSS ≤ limit/4) fails", bytesize.Format(tc.rss), bytesize.Format(got))
		}
	}
}
