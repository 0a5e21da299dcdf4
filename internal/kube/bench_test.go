package kube

import (
	"regexp"
	"testing"
)

// BenchmarkParsePath is the cost of attributing one memcg path.
func BenchmarkParsePath(b *testing.B) {
	path := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParsePath(path); !ok {
			b.Fatal("not ok")
		}
	}
}

// memcgRegexp is how a peer tool would decode the same path (spec §3.4
// step 2-3): the baseline for BenchmarkParsePath.
var memcgRegexp = regexp.MustCompile(`^(.*)/kubepods(?:\.slice)?/(?:kubepods-(burstable|besteffort)\.slice/)?kubepods(?:-(?:burstable|besteffort))?-pod([0-9a-f_]+)\.slice/(?:(cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?$`)

// BenchmarkParsePathRegexp is the baseline for BenchmarkParsePath.
func BenchmarkParsePathRegexp(b *testing.B) {
	path := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope"
	b.ReportAllocs()
	for b.Loop() {
		if m := memcgRegexp.FindStringSubmatch(path); m == nil {
			b.Fatal("no match")
		}
	}
}
