package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func names[T any](xs []T, name func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, name(x))
	}
	return out
}

func TestRankEviction(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	tests := []struct {
		name string
		in   []EvictionCandidate
		want []string
	}{
		{"over request before under request, whatever the priority",
			[]EvictionCandidate{
				{Name: "under-low-prio", Priority: -10, RequestBytes: 1 * GiB, UsageBytes: i64(512 * MiB)},
				{Name: "over-high-prio", Priority: 1000, RequestBytes: 256 * MiB, UsageBytes: i64(300 * MiB)},
			},
			[]string{"over-high-prio", "under-low-prio"}},
		{"missing stats first",
			[]EvictionCandidate{
				{Name: "over", RequestBytes: 0, UsageBytes: i64(GiB)},
				{Name: "no-stats", Priority: 1e6},
			},
			[]string{"no-stats", "over"}},
		{"lower priority first among over-request pods",
			[]EvictionCandidate{
				{Name: "big-overage-prio-100", Priority: 100, RequestBytes: 0, UsageBytes: i64(4 * GiB)},
				{Name: "small-overage-prio-0", Priority: 0, RequestBytes: 0, UsageBytes: i64(MiB)},
			},
			[]string{"small-overage-prio-0", "big-overage-prio-100"}},
		{"larger usage minus request first at equal priority",
			[]EvictionCandidate{
				{Name: "besteffort-100Mi", RequestBytes: 0, UsageBytes: i64(100 * MiB)},
				{Name: "burstable-over-by-1Gi", RequestBytes: GiB, UsageBytes: i64(2 * GiB)},
				{Name: "guaranteed-at-request", RequestBytes: GiB, UsageBytes: i64(GiB)},
				{Name: "burstable-under", RequestBytes: 2 * GiB, UsageBytes: i64(GiB)},
			},
			[]string{"burstable-over-by-1Gi", "besteffort-100Mi", "guaranteed-at-request", "burstable-under"}},
		{"critical pods last",
			[]EvictionCandidate{
				{Name: "critical", Critical: true, UsageBytes: i64(8 * GiB)},
				{Name: "normal", RequestBytes: GiB, UsageBytes: i64(GiB)},
			},
			[]string{"normal", "critical"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(RankEviction(tt.in), func(c EvictionCandidate) string { return c.Name })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RankEviction (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRankNodeOOM(t *testing.T) {
	const node = 8 * GiB
	tests := []struct {
		name string
		in   []OOMCandidate
		want []string
	}{
		{"adj dominates at small usage",
			[]OOMCandidate{{"guaranteed", -997, 2 * GiB}, {"burstable", 875, 512 * MiB}, {"besteffort", 1000, 10 * MiB}},
			[]string{"besteffort", "burstable", "guaranteed"}},
		{"burstable far over its request outranks besteffort",
			// 875 ≈ request of 1 GiB on 8 GiB; using 3 GiB beats a BestEffort at 100 MiB.
			[]OOMCandidate{{"besteffort", 1000, 100 * MiB}, {"burstable", 875, 3 * GiB}},
			[]string{"burstable", "besteffort"}},
		{"-1000 never",
			[]OOMCandidate{{"conmon", -1000, 6 * GiB}, {"pause", -998, 1 * MiB}},
			[]string{"pause", "conmon"}},
		{"ties keep input order",
			[]OOMCandidate{{"a", 999, GiB}, {"b", 999, GiB}},
			[]string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(RankNodeOOM(tt.in, node), func(c OOMCandidate) string { return c.Name })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RankNodeOOM (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodMemoryRequest(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{ctr("init", "-/2Gi", ""), sidecar("sc", "-/256Mi", "")},
		Containers:     []corev1.Container{ctr("a", "-/512Mi", ""), ctr("b", "-/256Mi", "")},
	}}
	// max(sum(regular)+sidecars = 1 GiB, init 2 GiB (+ sidecars started before it: none)) = 2 GiB
	if diff := cmp.Diff(2*GiB, PodMemoryRequest(p, Newest)); diff != "" {
		t.Errorf("PodMemoryRequest (-want +got):\n%s", diff)
	}
	p.Spec.InitContainers = p.Spec.InitContainers[1:]
	if diff := cmp.Diff(GiB, PodMemoryRequest(p, Newest)); diff != "" {
		t.Errorf("PodMemoryRequest without init (-want +got):\n%s", diff)
	}
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: list("-/3Gi")}
	got := []int64{PodMemoryRequest(p, Version{1, 33}), PodMemoryRequest(p, Version{1, 34})}
	if diff := cmp.Diff([]int64{GiB, 3 * GiB}, got); diff != "" {
		t.Errorf("PodMemoryRequest pod-level 1.33, 1.34 (-want +got):\n%s", diff)
	}
}

func TestOOMRegime(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		v      Version
		cg     int
		single *bool
		want   string
	}{
		{"v1 always single", Version{1, 37}, 1, nil, RegimeSingleProcess},
		{"v1 even with false", Version{1, 37}, 1, &no, RegimeSingleProcess},
		{"v2 before 1.28", Version{1, 27}, 2, nil, RegimeSingleProcess},
		{"v2 1.28", Version{1, 28}, 2, nil, RegimeGroupKill},
		{"v2 1.31 setting not known yet", Version{1, 31}, 2, &yes, RegimeGroupKill},
		{"v2 1.32 singleProcessOOMKill", Version{1, 32}, 2, &yes, RegimeSingleProcess},
		{"v2 1.32 explicit false", Version{1, 32}, 2, &no, RegimeGroupKill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, OOMRegime(tt.v, tt.cg, tt.single).Mode); diff != "" {
				t.Errorf("OOMRegime (-want +got):\n%s", diff)
			}
		})
	}
}
