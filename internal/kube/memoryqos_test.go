package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The rows below are the kubelet's own unit tests, at the version named,
// with the node allocatable of their fake runtime manager (32Gi,
// pkg/kubelet/kuberuntime/fake_kuberuntime_manager.go) and its factor; the
// expected bytes are what those tests compute, worked out by hand:
//
//	v1.26.15 TestGenerateContainerConfigWithMemoryQoSEnforced (factor 0.8):
//	  128Mi/256Mi → min 134217728, high int64(268435456 × 0.8) = 214748364
//	  128Mi/none  → high int64(34359738368 × 0.8) = 27487790694
//	v1.36.1 same test (TieredReservation, factor 0.9):
//	  128Mi/256Mi → low 134217728, high floor((128Mi + 0.9 × 128Mi)/4096) × 4096 = 255012864
//	  128Mi/none  → low 134217728, high floor((128Mi + 0.9 × (32Gi − 128Mi))/4096) × 4096 = 30937186304
//	v1.37.2 same test (TieredReservation, factor 0.9): the two rows above, and
//	  BestEffort  → low "0", high floor(0.9 × 32Gi / 4096) × 4096 = 30923763712
//	  Guaranteed 256Mi/256Mi → no memory.low, no memory.high
//	v1.37.2 TestGenerateContainerConfigMemoryHighNotSetWhenThrottlingFactorNil:
//	  Tiered, factor nil, 128Mi/256Mi → low 134217728, no memory.high
//	v1.37.2 TestGenerateContainerConfigDefaultNilThrottlingFactor:
//	  None, factor nil → min "0", low "0", no memory.high
//	v1.37.2 TestMemoryHighClearedWhenMemoryQoSDisabled: gate off → high "max"
func TestContainerMemoryQoSKubeletTables(t *testing.T) {
	const allocatable = 32 << 30
	i := func(n int64) *int64 { return &n }
	f := func(x float64) *float64 { return &x }
	on := true
	off := false
	burstable := qosPod("128Mi", "256Mi")
	noLimit := qosPod("128Mi", "")
	bestEffort := qosPod("", "")
	guaranteed := qosPod("256Mi", "256Mi")
	for _, tc := range []struct {
		name string
		v    Version
		cfg  MemoryQoSConfig
		pod  *corev1.Pod
		qos  string
		want MemoryQoS
	}{
		{"1.26 128Mi/256Mi", Version{1, 26}, MemoryQoSConfig{Gate: &on}, burstable, QOSBurstable, MemoryQoS{MinBytes: i(134217728), HighBytes: i(214748364)}},
		{"1.26 128Mi/no limit", Version{1, 26}, MemoryQoSConfig{Gate: &on}, noLimit, QOSBurstable, MemoryQoS{MinBytes: i(134217728), HighBytes: i(27487790694)}},
		{"1.36 tiered 128Mi/256Mi", Version{1, 36}, MemoryQoSConfig{Gate: &on, ReservationPolicy: ReservationTiered}, burstable, QOSBurstable, MemoryQoS{LowBytes: i(134217728), HighBytes: i(255012864)}},
		{"1.36 tiered 128Mi/no limit", Version{1, 36}, MemoryQoSConfig{Gate: &on, ReservationPolicy: ReservationTiered}, noLimit, QOSBurstable, MemoryQoS{LowBytes: i(134217728), HighBytes: i(30937186304)}},
		{"1.37 tiered 128Mi/256Mi", Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered, ThrottlingFactor: f(0.9)}, burstable, QOSBurstable, MemoryQoS{LowBytes: i(134217728), HighBytes: i(255012864)}},
		{"1.37 tiered 128Mi/no limit", Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered, ThrottlingFactor: f(0.9)}, noLimit, QOSBurstable, MemoryQoS{LowBytes: i(134217728), HighBytes: i(30937186304)}},
		{"1.37 tiered BestEffort", Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered, ThrottlingFactor: f(0.9)}, bestEffort, QOSBestEffort, MemoryQoS{MinBytes: i(0), LowBytes: i(0), HighBytes: i(30923763712)}},
		{"1.37 tiered Guaranteed", Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered, ThrottlingFactor: f(0.9)}, guaranteed, QOSGuaranteed, MemoryQoS{MinBytes: i(268435456)}},
		{"1.37 tiered, factor nil", Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered}, burstable, QOSBurstable, MemoryQoS{LowBytes: i(134217728)}},
		{"1.37 defaults: gate on, writes only zeros", Version{1, 37}, MemoryQoSConfig{}, burstable, QOSBurstable, MemoryQoS{MinBytes: i(0), LowBytes: i(0)}},
		{"1.37 gate off resets memory.high", Version{1, 37}, MemoryQoSConfig{Gate: &off}, burstable, QOSBurstable, MemoryQoS{HighMax: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(tc.v); err != nil {
				t.Fatal(err)
			}
			got := ContainerMemoryQoS(tc.pod, &tc.pod.Spec.Containers[0], tc.qos, tc.v, tc.cfg, true, allocatable)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestMemoryQoSOffByDefaultAndOnV1: alpha (1.22–1.36) is off unless the
// gate is set; cgroup v1 never gets anything; before 1.22 there is no gate.
func TestMemoryQoSOffByDefaultAndOnV1(t *testing.T) {
	pod := qosPod("128Mi", "256Mi")
	c := &pod.Spec.Containers[0]
	on := true
	for _, tc := range []struct {
		v   Version
		cfg MemoryQoSConfig
		v2  bool
	}{
		{Version{1, 30}, MemoryQoSConfig{}, true},
		{Version{1, 36}, MemoryQoSConfig{}, true},
		{Version{1, 37}, MemoryQoSConfig{}, false},
		{Version{1, 30}, MemoryQoSConfig{Gate: &on}, false},
		{Version{1, 21}, MemoryQoSConfig{}, true},
	} {
		if got := ContainerMemoryQoS(pod, c, QOSBurstable, tc.v, tc.cfg, tc.v2, 32<<30); got != (MemoryQoS{}) {
			t.Errorf("%s %+v v2=%v: got %+v, want nothing written", tc.v, tc.cfg, tc.v2, got)
		}
	}
	if err := (MemoryQoSConfig{Gate: &on}).Validate(Version{1, 21}); err == nil {
		t.Error("1.21 has no MemoryQoS gate: want an error")
	}
}

// TestQOSTierMemoryQoS follows setMemoryQoS in qos_container_manager_linux.go
// at v1.34.4 (memory.min = G + B on kubepods, B on burstable, each only
// when > 0), v1.36.1 and v1.37.2 (None: zeros; Tiered: kubepods min G + B,
// 1.37 also low B; burstable low B).
func TestQOSTierMemoryQoS(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	on := true
	type pair struct{ kubepods, burstable MemoryQoS }
	for _, tc := range []struct {
		name string
		v    Version
		cfg  MemoryQoSConfig
		want pair
	}{
		{"1.34", Version{1, 34}, MemoryQoSConfig{Gate: &on}, pair{MemoryQoS{MinBytes: i(300)}, MemoryQoS{MinBytes: i(100)}}},
		{"1.36 None", Version{1, 36}, MemoryQoSConfig{Gate: &on}, pair{MemoryQoS{MinBytes: i(0)}, MemoryQoS{LowBytes: i(0)}}},
		{"1.36 Tiered", Version{1, 36}, MemoryQoSConfig{Gate: &on, ReservationPolicy: ReservationTiered}, pair{MemoryQoS{MinBytes: i(300)}, MemoryQoS{LowBytes: i(100)}}},
		{"1.37 None", Version{1, 37}, MemoryQoSConfig{}, pair{MemoryQoS{MinBytes: i(0), LowBytes: i(0)}, MemoryQoS{LowBytes: i(0)}}},
		{"1.37 Tiered", Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered}, pair{MemoryQoS{MinBytes: i(300), LowBytes: i(100)}, MemoryQoS{LowBytes: i(100)}}},
	} {
		k, b := QOSTierMemoryQoS(tc.v, tc.cfg, true, 200, 100)
		if diff := cmp.Diff(tc.want, pair{k, b}, cmp.AllowUnexported(pair{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestPodMemoryQoS follows ResourceConfigForPod (helpers_linux.go): pod
// memory.min = the pod's requests before 1.36; Tiered 1.36+ gives
// Guaranteed memory.min and Burstable memory.low; and 1.37's
// ApplyPodLevelMemoryHigh for a pod-level limit (memoryHighForPod worked
// by hand: requests 100Mi, limits 200Mi, factor 0.9 → floor((100Mi + 0.9 ×
// 100Mi) / 4096) × 4096 = 199229440), and not for the mixed case of
// TestApplyPodLevelMemoryHigh (a pod-level CPU limit only, one container
// without a memory limit).
func TestPodMemoryQoS(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	f := 0.9
	on := true
	pod := qosPod("128Mi", "256Mi")
	if got := PodMemoryQoS(pod, QOSBurstable, Version{1, 30}, MemoryQoSConfig{Gate: &on}, true); !cmp.Equal(got, MemoryQoS{MinBytes: i(134217728)}) {
		t.Errorf("1.30: %+v", got)
	}
	if got := PodMemoryQoS(pod, QOSBurstable, Version{1, 37}, MemoryQoSConfig{ReservationPolicy: ReservationTiered}, true); !cmp.Equal(got, MemoryQoS{LowBytes: i(134217728)}) {
		t.Errorf("1.37 tiered: %+v", got)
	}
	pl := qosPod("", "")
	pl.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("200Mi")},
	}
	if got := PodMemoryQoS(pl, QOSBurstable, Version{1, 37}, MemoryQoSConfig{ThrottlingFactor: &f}, true); !cmp.Equal(got, MemoryQoS{HighBytes: i(199229440)}) {
		t.Errorf("1.37 pod-level resources: %+v", got)
	}
	mixed := qosPod("100Mi", "200Mi")
	mixed.Spec.Containers = append(mixed.Spec.Containers, qosPod("100Mi", "").Spec.Containers[0])
	mixed.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	if got := PodMemoryQoS(mixed, QOSBurstable, Version{1, 37}, MemoryQoSConfig{ThrottlingFactor: &f}, true); got.HighBytes != nil {
		t.Errorf("mixed declared/undeclared limits: memory.high %d, want none", *got.HighBytes)
	}
	// Its limitless container gets no memory.high of its own.
	if got := ContainerMemoryQoS(pl, &pl.Spec.Containers[0], QOSBurstable, Version{1, 37}, MemoryQoSConfig{ThrottlingFactor: &f}, true, 32<<30); got.HighBytes != nil {
		t.Errorf("container of a pod-level-limited pod: memory.high %d, want none", *got.HighBytes)
	}
}

func qosPod(req, lim string) *corev1.Pod {
	c := corev1.Container{Name: "foo"}
	if req != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(req)}
	}
	if lim != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(lim)}
	}
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}
