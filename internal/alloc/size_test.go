package alloc

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "100MiB", want: 100 << 20},
		{in: "1TiB", want: 1 << 40},
		{in: "1.5GiB", want: 3 << 29},
		{in: "64Mi", want: 64 << 20},
		{in: "100MB", want: 100_000_000},
		{in: "4096", want: 4096},
		{in: "0", want: 0},
		{in: " 2 gib ", want: 2 << 30},
		{in: "", wantErr: "want a number"},
		{in: "MiB", wantErr: "want a number"},
		{in: "10 parsecs", wantErr: "want a number"},
		{in: "1.5", wantErr: "whole number"},
		{in: "-1MiB", wantErr: "want a number"},
		{in: "100000000TiB", wantErr: "too large"},
		{in: "1.2.3MiB", wantErr: "not a number"},
	} {
		got, err := ParseSize(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"50%", 50, true}, {"50", 50, true}, {"12.5%", 12.5, true}, {"0%", 0, true}, {"100%", 100, true},
		{"150%", 0, false}, {"-1%", 0, false}, {"half", 0, false}, {"NaN", 0, false},
	} {
		got, err := ParsePercent(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{100 << 20: "100.0 MiB", 1536: "1.5 KiB", 100: "100 B", 3 << 29: "1.5 GiB", -2048: "-2.0 KiB"} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

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
	for name, c := range map[string]Config{
		"block 0":           {Mode: ModeMmap, BlockBytes: 0},
		"touch 150":         {Mode: ModeMmap, BlockBytes: 1, TouchPercent: 150},
		"mode":              {Mode: "brk", BlockBytes: 1},
		"hold without max":  {Mode: ModeMmap, BlockBytes: 1, Hold: true},
		"negative interval": {Mode: ModeMmap, BlockBytes: 1, Interval: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", name)
		}
	}
}
