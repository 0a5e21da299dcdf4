package kube

import "testing"

// TestParseEvictionHard: the kubelet's --eviction-hard syntax (kubelet
// docs, "Node-pressure Eviction": memory.available<100Mi, percentages of
// capacity, several signals comma-separated).
func TestParseEvictionHard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		bytes   int64
		percent float64
		bad     bool
	}{
		{in: "memory.available<100Mi", bytes: 100 << 20},
		{in: "memory.available<1Gi,nodefs.available<10%", bytes: 1 << 30},
		{in: "nodefs.available<10%, memory.available<500M", bytes: 500e6},
		{in: "memory.available<5%", percent: 5},
		{in: "memory.available<150%", bad: true},
		{in: "memory.available<lots", bad: true},
		{in: "memory.available<-1Mi", bad: true},
		{in: "nodefs.available<10%", bad: true},
		{in: "memory.available", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			th, err := ParseEvictionHard(tc.in)
			if tc.bad {
				if err == nil {
					t.Errorf("accepted: %+v", th)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b int64
			var p float64
			if th.Bytes != nil {
				b = *th.Bytes
			}
			if th.Percent != nil {
				p = *th.Percent
			}
			if b != tc.bytes || p != tc.percent {
				t.Errorf("got %d bytes, %v%%", b, p)
			}
		})
	}
	// 10 % of a 4 GiB node.
	th, _ := ParseEvictionHard("memory.available<10%")
	if got := th.ThresholdBytes(4 << 30); got == nil || *got != 429496729 {
		t.Errorf("10%% of 4 GiB = %v, want 429496729", got)
	}
}
