package kube

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/heap"
)

func workload(name string, spec corev1.PodSpec) Workload {
	return Workload{Kind: "Pod", Name: name, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}}
}

// codes lists "pod/container: code" for every warning.
func codes(a Analysis) []string {
	var out []string
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			for _, w := range c.Warnings {
				out = append(out, p.Name+"/"+c.Container+": "+w.Code)
			}
		}
	}
	return out
}

func TestAnalyze(t *testing.T) {
	opt := Options{NodeMemoryBytes: 8 * GiB, Version: Newest, CgroupVersion: 2, Runtime: RuntimeContainerd}
	ws := []Workload{
		workload("guaranteed", corev1.PodSpec{Containers: []corev1.Container{ctr("app", "", "1/1Gi")}}),
		workload("besteffort", corev1.PodSpec{Containers: []corev1.Container{ctr("app", "", "")}}),
		workload("burstable", corev1.PodSpec{Containers: []corev1.Container{ctr("app", "-/1Gi", "")}}),
		workload("upside-down", corev1.PodSpec{Containers: []corev1.Container{ctr("app", "-/2Gi", "-/1Gi")}}),
		workload("sidecar", corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar("proxy", "-/1Gi", "-/1Gi")},
			Containers:     []corev1.Container{ctr("app", "-/256Mi", "-/512Mi")},
		}),
	}
	critical := workload("critical", corev1.PodSpec{PriorityClassName: "system-node-critical", Containers: []corev1.Container{ctr("agent", "-/64Mi", "-/128Mi")}})
	ws = append(ws, critical)
	before := ws[0].Pod.DeepCopy()

	a := Analyze(ws, nil, opt)

	if diff := cmp.Diff(before, ws[0].Pod); diff != "" {
		t.Errorf("Analyze modified its input (-before +after):\n%s", diff)
	}
	var got []string
	for _, p := range a.Pods {
		for _, c := range p.Containers {
			got = append(got, strings.Join([]string{p.Name, c.Container, c.ContainerType, p.QOSClass, itoa(c.OOMScoreAdj), sizeOr(c.MemoryRequestBytes), sizeOr(p.MemoryLimitBytes)}, " "))
		}
	}
	want := []string{
		"guaranteed app regular Guaranteed -997 1 GiB 1 GiB",
		"besteffort app regular BestEffort 1000 - -",
		"burstable app regular Burstable 875 1 GiB -",
		"upside-down app regular Burstable 750 2 GiB 1 GiB",
		"sidecar proxy sidecar Burstable 875 1 GiB 1.5 GiB",
		"sidecar app regular Burstable 969 256 MiB 1.5 GiB",
		"critical agent regular Burstable -997 64 MiB 128 MiB",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	wantCodes := []string{
		"besteffort/app: best_effort",
		"burstable/app: no_memory_limit",
		"upside-down/app: limit_below_request",
		"sidecar/proxy: sidecar_outranks_main",
	}
	if diff := cmp.Diff(wantCodes, codes(a)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if a.Invalid != 1 {
		t.Errorf("Invalid = %d, want 1", a.Invalid)
	}
	var evict []string
	for _, i := range a.EvictionOrder {
		evict = append(evict, a.Pods[i].Name+"#"+itoa(a.Pods[i].EvictionRank))
	}
	// BestEffort uses something above its zero request; the rest sit at
	// their requests, in input order; the critical pod is never evicted.
	wantEvict := []string{"besteffort#1", "guaranteed#2", "burstable#3", "upside-down#4", "sidecar#5", "critical#0"}
	if diff := cmp.Diff(wantEvict, evict); diff != "" {
		t.Errorf("eviction order (-want +got):\n%s", diff)
	}
	var oom []string
	for _, r := range a.NodeOOMOrder {
		oom = append(oom, a.Pods[r.Pod].Name+"/"+a.Pods[r.Pod].Containers[r.Container].Container)
	}
	// BestEffort first; then badness = use + adj × node/1000: the app at
	// 256 MiB with adj 969 outscores the containers at 1-2 GiB requests.
	wantOOM := []string{"besteffort/app", "sidecar/app", "upside-down/app", "burstable/app", "sidecar/proxy", "guaranteed/app", "critical/agent"}
	if diff := cmp.Diff(wantOOM, oom); diff != "" {
		t.Errorf("node OOM order (-want +got):\n%s", diff)
	}
}

func TestAnalyzeBurstableBeforeBestEffort(t *testing.T) {
	opt := Options{NodeMemoryBytes: 8 * GiB, Version: Newest, CgroupVersion: 2, Runtime: RuntimeContainerd,
		UsageBytes: map[string]int64{"hog/app": 3 * GiB, "idle/app": 100 * MiB}}
	ws := []Workload{
		workload("idle", corev1.PodSpec{Containers: []corev1.Container{ctr("app", "", "")}}),
		workload("hog", corev1.PodSpec{Containers: []corev1.Container{ctr("app", "-/1Gi", "-/4Gi")}}),
	}
	a := Analyze(ws, nil, opt)
	if diff := cmp.Diff([]string{"idle/app: best_effort", "hog/app: burstable_before_besteffort"}, codes(a)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if a.Pods[1].Containers[0].NodeOOMRank != 1 {
		t.Errorf("hog ranks %d in a node OOM, want 1", a.Pods[1].Containers[0].NodeOOMRank)
	}
}

func TestAnalyzeSidecarBefore132(t *testing.T) {
	ws := []Workload{workload("p", corev1.PodSpec{
		InitContainers: []corev1.Container{sidecar("proxy", "-/64Mi", "")},
		Containers:     []corev1.Container{ctr("app", "-/2Gi", "")},
	})}
	for _, tt := range []struct {
		v    Version
		want []string
	}{
		{Version{1, 31}, []string{"p/proxy: no_memory_limit", "p/proxy: sidecar_dies_first", "p/app: no_memory_limit"}},
		{Version{1, 32}, []string{"p/proxy: no_memory_limit", "p/app: no_memory_limit"}},
	} {
		t.Run(tt.v.String(), func(t *testing.T) {
			a := Analyze(ws, nil, Options{NodeMemoryBytes: 8 * GiB, Version: tt.v, CgroupVersion: 2})
			if diff := cmp.Diff(tt.want, codes(a)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalyzeEnvValueFrom(t *testing.T) {
	c := ctr("app", "-/1Gi", "-/1Gi")
	c.Image = "golang:1.26"
	c.Env = []corev1.EnvVar{
		{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "limit"}}},
		{Name: "OTHER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "x"}}},
	}
	a := Analyze([]Workload{workload("p", corev1.PodSpec{Containers: []corev1.Container{c}})}, nil, Options{NodeMemoryBytes: 8 * GiB, Version: Newest, CgroupVersion: 2})
	h := a.Pods[0].Containers[0].Heap
	want := heap.Ceiling{Runtime: "go", Source: "Go sets no memory limit by default (GOMEMLIMIT unset)",
		Warnings: []string{"GOMEMLIMIT comes from valueFrom, which oomkit cannot read: the heap ceiling shown ignores it"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("heap (-want +got):\n%s", diff)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func sizeOr(n *int64) string {
	if n == nil {
		return "-"
	}
	return bytesize.Format(*n)
}
