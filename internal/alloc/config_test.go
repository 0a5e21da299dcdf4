package alloc

import "testing"

// touchBytes covers whole pages from the block's start and never more
// than the block: one byte per page of the first PCT.
func TestTouchBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		pct  float64
		want int64
	}{
		{100 << 20, 50, 50 << 20},
		{100 << 20, 0, 0},
		{100 << 20, 100, 100 << 20},
		{10000, 50, 8192},   // 5000 bytes → 2 pages
		{10000, 100, 10000}, // a partial last page still counts once, capped at the block
		{4096, 0.01, 4096},
	} {
		if got := touchBytes(tc.n, tc.pct); got != tc.want {
			t.Errorf("touchBytes(%d, %v) = %d, want %d", tc.n, tc.pct, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Mode: ModeMmap, BlockBytes: 1, TouchPercent: 50}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{Mode: ModeFile, BlockBytes: 1, Dir: "/tmp"}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"block 0":           {Mode: ModeMmap, BlockBytes: 0},
		"touch 150":         {Mode: ModeMmap, BlockBytes: 1, TouchPercent: 150},
		"mode":              {Mode: "brk", BlockBytes: 1},
		"hold without max":  {Mode: ModeMmap, BlockBytes: 1, Hold: true},
		"negative interval": {Mode: ModeMmap, BlockBytes: 1, Interval: -1},
		"dir without file":  {Mode: ModeMmap, BlockBytes: 1, Dir: "/tmp"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", name)
		}
	}
}
