package kube

import (
	"fmt"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// EvictionThreshold is the kubelet's hard eviction threshold for the
// memory.available signal, as --eviction-hard gives it.
type EvictionThreshold struct {
	// Text is the threshold as written, "memory.available<100Mi".
	Text string
	// Bytes is an absolute threshold, Percent one of the node's capacity;
	// exactly one is set.
	Bytes   *int64
	Percent *float64
}

// ParseEvictionHard reads the kubelet's --eviction-hard value
// ("memory.available<100Mi" or "memory.available<10%"); other signals may
// be listed, comma-separated, and are ignored.
//
// ParseThresholdConfig, pkg/kubelet/eviction/helpers.go: SIGNAL<QUANTITY,
// where the quantity is a resource.Quantity or a percentage of capacity
// (read as docs/sizes.md says: bytesize.ParseQuantity, ParsePercent).
func ParseEvictionHard(s string) (EvictionThreshold, error) {
	for _, part := range strings.Split(s, ",") {
		sig, val, ok := strings.Cut(strings.TrimSpace(part), "<")
		if !ok {
			return EvictionThreshold{}, fmt.Errorf("%q: want SIGNAL<QUANTITY, e.g. memory.available<100Mi", part)
		}
		if sig != "memory.available" {
			continue
		}
		th := EvictionThreshold{Text: "memory.available<" + val}
		if strings.HasSuffix(val, "%") {
			f, err := bytesize.ParsePercent(val)
			if err != nil {
				return EvictionThreshold{}, err
			}
			th.Percent = &f
			return th, nil
		}
		n, err := bytesize.ParseQuantity(val)
		if err != nil {
			return EvictionThreshold{}, err
		}
		th.Bytes = &n
		return th, nil
	}
	return EvictionThreshold{}, fmt.Errorf("%q has no memory.available threshold", s)
}

// ThresholdBytes is the threshold in bytes on a node of capacityBytes.
func (t EvictionThreshold) ThresholdBytes(capacityBytes int64) *int64 {
	switch {
	case t.Bytes != nil:
		return t.Bytes
	case t.Percent != nil:
		n := int64(float64(capacityBytes) * *t.Percent / 100)
		return &n
	}
	return nil
}
