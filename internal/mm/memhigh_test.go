package mm

import (
	"testing"
	"time"
)

// TestHighPenalty works calculate_high_delay() by hand for HZ 250 on 6.1
// (batch 64): usage 110 % of high is an overage of 0.1 × 2^20 = 104857;
// 104857² × 250 >> 34 = 159 jiffies = 636 ms for one batch.
func TestHighPenalty(t *testing.T) {
	v61 := Version{Major: 6, Minor: 1}
	const high = 10000
	for _, tc := range []struct {
		name          string
		v             Version
		usage, nr, hz int64
		want          time.Duration
	}{
		{"10% over, one batch, HZ 250", v61, 11000, 64, 250, 636 * time.Millisecond},
		{"10% over, half a batch", v61, 11000, 32, 250, 316 * time.Millisecond},                                                           // 159×32/64 = 79 jiffies
		{"10% over, 5.15 (batch 32): a 64-page charge owes twice", Version{Major: 5, Minor: 15}, 11000, 64, 250, 1272 * time.Millisecond}, // 318 jiffies
		{"1% over: 1.6 jiffies ≤ HZ/100 (2): forgiven", v61, 10100, 64, 250, 0},
		{"100% over: clamped at 2 s", v61, 20000, 64, 250, 2 * time.Second},
		{"at high: nothing", v61, 10000, 64, 250, 0},
		{"5.3: no throttling", Version{Major: 5, Minor: 3}, 20000, 64, 250, 0},
		{"10% over, HZ 1000", v61, 11000, 64, 1000, 639 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := HighPenalty(tc.v, tc.nr, HighOverage(tc.usage, high), tc.hz)
			if got != tc.want {
				t.Errorf("HighPenalty = %v, want %v (overage %d)", got, tc.want, HighOverage(tc.usage, high))
			}
		})
	}
}

func TestProtectionOf(t *testing.T) {
	p := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		usage    int64
		min, low *int64
		want     Protection
	}{
		{100, p(200), nil, MinProtected},
		{300, p(200), p(400), LowProtected},
		{500, p(200), p(400), Unprotected},
		{0, nil, nil, Unprotected},
		{0, p(0), p(0), Unprotected},
	} {
		if got := ProtectionOf(tc.usage, tc.min, tc.low); got != tc.want {
			t.Errorf("ProtectionOf(%d) = %v, want %v", tc.usage, got, tc.want)
		}
	}
}
