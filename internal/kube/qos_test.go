package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// res builds requirements from "cpu/mem" pairs; "-" or "" leaves a key unset.
func res(req, lim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: list(req), Limits: list(lim)}
}

func list(s string) corev1.ResourceList {
	if s == "" {
		return nil
	}
	var cpu, mem string
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			cpu, mem = s[:i], s[i+1:]
		}
	}
	l := corev1.ResourceList{}
	if cpu != "-" && cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "-" && mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func ctr(name, req, lim string) corev1.Container {
	return corev1.Container{Name: name, Resources: res(req, lim)}
}

func sidecar(name, req, lim string) corev1.Container {
	c := ctr(name, req, lim)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func podOf(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: cs}}
}

// TestPodQOSKubeletTable is the QoS table of k/k qos_test.go and kubectl
// qos_test.go (spec/kubernetes.md §1.6), without defaulting, for 1.37.
func TestPodQOSKubeletTable(t *testing.T) {
	hp := func(req, lim corev1.ResourceList) corev1.Container {
		for _, l := range []corev1.ResourceList{req, lim} {
			l[corev1.ResourceName("hugepages-2Mi")] = resource.MustParse("1Gi")
		}
		return corev1.Container{Name: "hp", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	withPodRes := func(p *corev1.Pod, r *corev1.ResourceRequirements) *corev1.Pod { p.Spec.Resources = r; return p }
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"guaranteed", podOf(ctr("a", "100m/100Mi", "100m/100Mi")), "Guaranteed"},
		{"guaranteed x2", podOf(ctr("a", "100m/100Mi", "100m/100Mi"), ctr("b", "100m/100Mi", "100m/100Mi")), "Guaranteed"},
		{"best-effort x1", podOf(ctr("a", "", "")), "BestEffort"},
		{"best-effort x2", podOf(ctr("a", "", ""), ctr("b", "", "")), "BestEffort"},
		{"best-effort + burstable", podOf(ctr("a", "", ""), ctr("b", "1/-", "2/-")), "Burstable"},
		{"best-effort + guaranteed", podOf(ctr("a", "", ""), ctr("b", "10m/100Mi", "10m/100Mi")), "Burstable"},
		{"cpu unset, memory equal", podOf(ctr("a", "-/100Mi", "-/100Mi")), "Burstable"},
		{"requests only", podOf(ctr("a", "100m/100Mi", "")), "Burstable"},
		{"burstable + guaranteed", podOf(ctr("a", "1/100Mi", "2/100Mi"), ctr("b", "100m/100Mi", "100m/100Mi")), "Burstable"},
		{"unbounded but sums match", podOf(ctr("a", "100m/100Mi", "200m/200Mi"), ctr("b", "100m/100Mi", "")), "Burstable"},
		{"burstable-1", podOf(ctr("a", "10m/100Mi", "100m/200Mi")), "Burstable"},
		{"explicit zero requests", podOf(ctr("a", "0/0", "100m/200Mi")), "Burstable"},
		{"hugepages only", podOf(hp(list("0/0"), list("0/0"))), "BestEffort"},
		{"init container burstable", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("a", "", "")}, InitContainers: []corev1.Container{ctr("i", "10m/100Mi", "100m/200Mi")}}}, "Burstable"},
		{"all zeros", podOf(ctr("a", "0/0", "0/0")), "BestEffort"},
		{"status set", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("a", "", "")}}, Status: corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed}}, "Guaranteed"},
		{"pod-level guaranteed, container requests only", withPodRes(podOf(ctr("a", "100m/100Mi", "")), &corev1.ResourceRequirements{Requests: list("1/1Gi"), Limits: list("1/1Gi")}), "Guaranteed"},
		{"pod-level burstable, container guaranteed", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{Requests: list("100m/100Mi"), Limits: list("1/1Gi")}), "Burstable"},
		{"pod-level requests only", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{Requests: list("100m/1Gi")}), "Burstable"},
		{"pod-level empty maps", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}), "Guaranteed"},
		{"pod-level {}", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{}), "Guaranteed"},
		{"pod-level all zeros", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{Requests: list("0/0"), Limits: list("0/0")}), "BestEffort"},
		{"pod-level cpu/mem/hugepages equal", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi"), "hugepages-2Mi": resource.MustParse("1Gi")}, Limits: corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi"), "hugepages-2Mi": resource.MustParse("1Gi")}}), "Guaranteed"},
		{"pod-level req cpu+hugepages, lim hugepages", withPodRes(podOf(ctr("a", "1/1Gi", "1/1Gi")), &corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("1"), "hugepages-2Mi": resource.MustParse("1Gi")}, Limits: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("1Gi")}}), "Burstable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PodQOS(tt.pod, Newest)); diff != "" {
				t.Errorf("PodQOS (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPodQOSHistory covers the version-dependent QoS rules.
func TestPodQOSHistory(t *testing.T) {
	podLevel := func(r *corev1.ResourceRequirements) *corev1.Pod {
		p := podOf(ctr("a", "100m/100Mi", ""))
		p.Spec.Resources = r
		return p
	}
	guaranteedPodLevel := &corev1.ResourceRequirements{Requests: list("1/1Gi"), Limits: list("1/1Gi")}
	emptyPodLevel := func() *corev1.Pod {
		p := podOf(ctr("a", "1/1Gi", "1/1Gi"))
		p.Spec.Resources = &corev1.ResourceRequirements{}
		return p
	}
	statusPod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("a", "", "")}}, Status: corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed}}
	tests := []struct {
		name string
		pod  *corev1.Pod
		v    Version
		want string
	}{
		{"pod-level ignored with the gate off (1.33)", podLevel(guaranteedPodLevel), Version{1, 33}, "Burstable"},
		{"pod-level honoured from 1.34", podLevel(guaranteedPodLevel), Version{1, 34}, "Guaranteed"},
		{"empty pod-level resources BestEffort in 1.36", emptyPodLevel(), Version{1, 36}, "BestEffort"},
		{"empty pod-level resources fixed in 1.37", emptyPodLevel(), Version{1, 37}, "Guaranteed"},
		{"empty pod-level resources ignored in 1.33", emptyPodLevel(), Version{1, 33}, "Guaranteed"},
		{"status.qosClass honoured from 1.29", statusPod, Version{1, 29}, "Guaranteed"},
		{"status.qosClass ignored before 1.29", statusPod, Version{1, 28}, "BestEffort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PodQOS(tt.pod, tt.v)); diff != "" {
				t.Errorf("PodQOS (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		wantQOS  string
		wantReqs []corev1.ResourceList
	}{
		{"limits only becomes Guaranteed", podOf(ctr("a", "", "500m/1Gi")), "Guaranteed", []corev1.ResourceList{list("500m/1Gi")}},
		{"memory limit only stays Burstable", podOf(ctr("a", "", "-/1Gi")), "Burstable", []corev1.ResourceList{list("-/1Gi")}},
		{"explicit zero request kept", podOf(ctr("a", "0/0", "1/1Gi")), "Burstable", []corev1.ResourceList{list("0/0")}},
		{"request kept, missing one defaulted", podOf(ctr("a", "100m/-", "1/1Gi")), "Burstable", []corev1.ResourceList{list("100m/1Gi")}},
		{"nothing set", podOf(ctr("a", "", "")), "BestEffort", []corev1.ResourceList{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ApplyDefaults(tt.pod)
			var got []corev1.ResourceList
			for _, c := range tt.pod.Spec.Containers {
				got = append(got, c.Resources.Requests)
			}
			if diff := cmp.Diff(tt.wantReqs, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantQOS, PodQOS(tt.pod, Newest)); diff != "" {
				t.Errorf("PodQOS (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("system classes get their priority", func(t *testing.T) {
		p := podOf(ctr("a", "", ""))
		p.Spec.PriorityClassName = "system-node-critical"
		ApplyDefaults(p)
		if p.Spec.Priority == nil || *p.Spec.Priority != SystemNodeCriticalPriority {
			t.Errorf("priority = %v, want %d", p.Spec.Priority, SystemNodeCriticalPriority)
		}
	})
}

func TestApplyLimitRange(t *testing.T) {
	lr := func(item corev1.LimitRangeItem) *corev1.LimitRange {
		item.Type = corev1.LimitTypeContainer
		return &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}}}
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		lr      *corev1.LimitRange
		wantReq corev1.ResourceList
		wantLim corev1.ResourceList
		wantQOS string
	}{
		{"default and defaultRequest", podOf(ctr("a", "", "")), lr(corev1.LimitRangeItem{Default: list("-/512Mi"), DefaultRequest: list("-/256Mi")}), list("-/256Mi"), list("-/512Mi"), "Burstable"},
		{"defaultRequest from default", podOf(ctr("a", "", "")), lr(corev1.LimitRangeItem{Default: list("1/512Mi")}), list("1/512Mi"), list("1/512Mi"), "Guaranteed"},
		{"default from max", podOf(ctr("a", "", "")), lr(corev1.LimitRangeItem{Max: list("-/1Gi")}), list("-/1Gi"), list("-/1Gi"), "Burstable"},
		{"defaultRequest from min", podOf(ctr("a", "", "")), lr(corev1.LimitRangeItem{Min: list("-/64Mi")}), list("-/64Mi"), nil, "Burstable"},
		{"container's own values kept", podOf(ctr("a", "-/100Mi", "-/200Mi")), lr(corev1.LimitRangeItem{Default: list("-/512Mi"), DefaultRequest: list("-/256Mi")}), list("-/100Mi"), list("-/200Mi"), "Burstable"},
		{"pod limit defaulted request first", podOf(ctr("a", "", "-/300Mi")), lr(corev1.LimitRangeItem{Default: list("-/512Mi"), DefaultRequest: list("-/256Mi")}), list("-/300Mi"), list("-/300Mi"), "Burstable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ApplyDefaults(tt.pod)
			ApplyLimitRange(tt.pod, tt.lr)
			qc := cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })
			c := tt.pod.Spec.Containers[0]
			if diff := cmp.Diff(tt.wantReq, c.Resources.Requests, qc); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLim, c.Resources.Limits, qc); diff != "" {
				t.Errorf("limits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantQOS, PodQOS(tt.pod, Newest)); diff != "" {
				t.Errorf("PodQOS (-want +got):\n%s", diff)
			}
		})
	}
}

// TestContainerOOMScoreAdjPolicyTable is pkg/kubelet/qos/policy_test.go as of
// 1.32+ (spec/kubernetes.md §2.4), pod-level cases at 1.34+. The upstream
// test checks ranges; the exact values here follow from its formula.
func TestContainerOOMScoreAdjPolicyTable(t *testing.T) {
	const std = 8000000000
	q := func(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }
	mem := func(n int64) corev1.ResourceList { return corev1.ResourceList{corev1.ResourceMemory: q(n)} }
	cpuMem := func(cpu string, n int64) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: q(n)}
	}
	c := func(name string, req, lim corev1.ResourceList) corev1.Container {
		return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	sc := func(name string, req corev1.ResourceList) corev1.Container {
		x := c(name, req, nil)
		always := corev1.ContainerRestartPolicyAlways
		x.RestartPolicy = &always
		return x
	}
	pod := func(init []corev1.Container, main ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{InitContainers: init, Containers: main}}
	}
	podLevel := func(p *corev1.Pod, req, lim corev1.ResourceList) *corev1.Pod {
		p.Spec.Resources = &corev1.ResourceRequirements{Requests: req, Limits: lim}
		return p
	}
	critical := func(class string, prio int32) *corev1.Pod {
		p := pod(nil, c("a", nil, nil))
		p.Spec.PriorityClassName, p.Spec.Priority = class, &prio
		return p
	}
	burstablePodLevel := func(init []corev1.Container, main ...corev1.Container) *corev1.Pod {
		return podLevel(pod(init, main...), cpuMem("5m", 2e9), cpuMem("5m", 2e9+1000))
	}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		capacity int64
		want     map[string]int // container name → adj
	}{
		{"cpu-limit", pod(nil, c("a", nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10")})), 4e9, map[string]int{"a": 999}},
		{"memory-limit-cpu-request", pod(nil, c("a", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")}, mem(10e9))), std, map[string]int{"a": 999}},
		{"zero-memory-limit", pod(nil, c("a", nil, mem(0))), 7230457451, map[string]int{"a": 1000}},
		{"no-request-limit", pod(nil, c("a", nil, nil)), 4e9, map[string]int{"a": 1000}},
		{"equal-request-limit-cpu-memory", pod(nil, c("a", cpuMem("5m", 10e9), cpuMem("5m", 10e9))), 123456789, map[string]int{"a": -997}},
		{"cpu-unlimited-memory-limited-with-requests", pod(nil, c("a", cpuMem("5m", 4e9), mem(10e9))), std, map[string]int{"a": 500}},
		{"request-no-limit", pod(nil, c("a", cpuMem("5m", std-1), nil)), std, map[string]int{"a": 3}},
		{"cluster-critical", critical("system-cluster-critical", 2e9), 4e9, map[string]int{"a": 1000}},
		{"node-critical", critical("system-node-critical", 2e9+1000), 4e9, map[string]int{"a": -997}},
		{"burstable-unique-container", pod(nil, c("a", mem(1e9), mem(1e9+1000))), std, map[string]int{"a": 875}},
		{"burstable-mixed-unique-main", pod([]corev1.Container{c("init", mem(1e9), nil)}, c("main", mem(1e9), nil)), std, map[string]int{"init": 875, "main": 875}},
		{"small sidecar", pod([]corev1.Container{c("init", mem(1e9), nil), sc("sidecar", mem(4e8))}, c("main", mem(1e9), nil)), std, map[string]int{"init": 875, "sidecar": 875, "main": 875}},
		{"same-request sidecar", pod([]corev1.Container{c("init", mem(1e9), nil), sc("sidecar", mem(1e9))}, c("main", mem(1e9), nil)), std, map[string]int{"init": 875, "sidecar": 875, "main": 875}},
		{"big sidecar", pod([]corev1.Container{c("init", mem(1e9), nil), sc("sidecar", mem(4e9))}, c("main", mem(1e9), nil)), std, map[string]int{"init": 875, "sidecar": 500, "main": 875}},
		{"guaranteed pod-level, containers empty", podLevel(pod(nil, c("a", nil, nil), c("b", nil, nil)), cpuMem("5m", 2e9), cpuMem("5m", 2e9)), 4e9, map[string]int{"a": -997, "b": -997}},
		{"guaranteed pod-level, equal containers", podLevel(pod(nil, c("a", cpuMem("5m", 1e9), cpuMem("5m", 1e9)), c("b", cpuMem("5m", 1e9), cpuMem("5m", 1e9))), cpuMem("5m", 2e9), cpuMem("5m", 2e9)), 4e9, map[string]int{"a": -997, "b": -997}},
		{"guaranteed pod-level, unequal containers", podLevel(pod(nil, c("a", cpuMem("3m", 1e9), cpuMem("5m", 1e9+1000)), c("b", nil, nil)), cpuMem("5m", 2e9), cpuMem("5m", 2e9)), 4e9, map[string]int{"a": -997, "b": -997}},
		{"burstable pod-level, containers empty", burstablePodLevel(nil, c("a", nil, nil), c("b", nil, nil)), 4e9, map[string]int{"a": 750, "b": 750}},
		{"burstable pod-level, equal containers", burstablePodLevel(nil, c("a", mem(1e9), nil), c("b", mem(1e9), nil)), 4e9, map[string]int{"a": 750, "b": 750}},
		{"burstable pod-level, unequal", burstablePodLevel(nil, c("a", mem(1e9), nil), c("b", nil, nil)), 4e9, map[string]int{"a": 625, "b": 875}},
		{"burstable pod-level + empty sidecar", burstablePodLevel([]corev1.Container{sc("sidecar", nil)}, c("a", nil, nil)), 4e9, map[string]int{"a": 750, "sidecar": 750}},
		{"burstable pod-level + sidecar equal", burstablePodLevel([]corev1.Container{sc("sidecar", mem(1e9))}, c("a", mem(1e9), nil)), 4e9, map[string]int{"a": 750, "sidecar": 750}},
		{"burstable pod-level + sidecar unequal", burstablePodLevel([]corev1.Container{sc("sidecar", mem(2e8))}, c("c1", mem(1e9), nil), c("c2", mem(5e8), nil)), 4e9, map[string]int{"c1": 725, "c2": 850, "sidecar": 850}},
	}
	adjs := func(pod *corev1.Pod, capacity int64, v Version) map[string]int {
		got := map[string]int{}
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range cs {
				got[cs[i].Name] = ContainerOOMScoreAdj(pod, &cs[i], capacity, v)
			}
		}
		return got
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, adjs(tt.pod, tt.capacity, Version{1, 34})); diff != "" {
				t.Errorf("ContainerOOMScoreAdj (-want +got):\n%s", diff)
			}
		})
		// The same table before 1.20 (e44d60c1): -998 for Guaranteed and a
		// floor of 2. Sidecars, pod-level resources and the critical-pod
		// rows did not exist then.
		old := tt.pod.Spec.Resources == nil && tt.pod.Spec.Priority == nil && !strings.Contains(tt.name, "sidecar")
		if !old {
			continue
		}
		t.Run("1.19/"+tt.name, func(t *testing.T) {
			want := map[string]int{}
			for k, v := range tt.want {
				switch v {
				case -997:
					v = -998
				case 3:
					v = 2
				}
				want[k] = v
			}
			if diff := cmp.Diff(want, adjs(tt.pod, tt.capacity, Version{1, 19})); diff != "" {
				t.Errorf("ContainerOOMScoreAdj at 1.19 (-want +got):\n%s", diff)
			}
		})
	}
}

// TestContainerOOMScoreAdjHistory covers spec/kubernetes.md §2.3 case by case.
func TestContainerOOMScoreAdjHistory(t *testing.T) {
	const capacity = 8000000000
	mem := func(n int64) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(n, resource.DecimalSI)}
	}
	guaranteed := podOf(ctr("a", "1/1Gi", "1/1Gi"))
	nearlyAll := podOf(corev1.Container{Name: "a", Resources: corev1.ResourceRequirements{Requests: mem(capacity - 1)}})
	withPrio := func(class string, prio int32) *corev1.Pod {
		p := podOf(ctr("a", "", ""))
		p.Spec.PriorityClassName, p.Spec.Priority = class, &prio
		return p
	}
	static := podOf(ctr("a", "", ""))
	static.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	mirror := podOf(ctr("a", "", ""))
	mirror.Annotations = map[string]string{"kubernetes.io/config.mirror": "abc"}
	staticNodeCritical := podOf(ctr("a", "", ""))
	staticNodeCritical.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	staticNodeCritical.Spec.PriorityClassName = "system-node-critical"
	annotated := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Annotations: map[string]string{"scheduler.alpha.kubernetes.io/critical-pod": ""}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("a", "", "")}}}
	annotatedElsewhere := annotated.DeepCopy()
	annotatedElsewhere.Namespace = "default"
	bigSidecar := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{sidecar("sidecar", "-/4G", "")},
		Containers:     []corev1.Container{ctr("main", "-/1G", "")},
	}}
	podLevelBurstable := podOf(ctr("a", "", ""), ctr("b", "", ""))
	podLevelBurstable.Spec.Resources = &corev1.ResourceRequirements{Requests: list("5m/2G"), Limits: list("5m/3G")}

	tests := []struct {
		name string
		pod  *corev1.Pod
		c    string
		v    Version
		want int
	}{
		{"Guaranteed 1.19: -998", guaranteed, "a", Version{1, 19}, -998},
		{"Guaranteed 1.20: -997", guaranteed, "a", Version{1, 20}, -997},
		{"Burstable floor 1.19: 2", nearlyAll, "a", Version{1, 19}, 2},
		{"Burstable floor 1.20: 3", nearlyAll, "a", Version{1, 20}, 3},
		{"critical annotation 1.6 in kube-system: -998", annotated, "a", Version{1, 6}, -998},
		{"critical annotation 1.5: not yet", annotated, "a", Version{1, 5}, 1000},
		{"critical annotation outside kube-system: ignored", annotatedElsewhere, "a", Version{1, 10}, 1000},
		{"critical annotation 1.16: removed", annotated, "a", Version{1, 16}, 1000},
		{"cluster-critical priority 1.13: no effect", withPrio("system-cluster-critical", 2e9), "a", Version{1, 13}, 1000},
		{"cluster-critical priority 1.14: guaranteed value", withPrio("system-cluster-critical", 2e9), "a", Version{1, 14}, -998},
		{"cluster-critical priority 1.21: guaranteed value", withPrio("system-cluster-critical", 2e9), "a", Version{1, 21}, -997},
		{"cluster-critical priority 1.22: QoS value", withPrio("system-cluster-critical", 2e9), "a", Version{1, 22}, 1000},
		{"node-critical 1.22: -997", withPrio("system-node-critical", 2e9+1000), "a", Version{1, 22}, -997},
		{"static pod 1.21: guaranteed value", static, "a", Version{1, 21}, -997},
		{"static pod 1.22 without node-critical class: QoS value", static, "a", Version{1, 22}, 1000},
		{"static node-critical pod 1.30", staticNodeCritical, "a", Version{1, 30}, -997},
		{"mirror pod 1.21", mirror, "a", Version{1, 21}, -997},
		{"big sidecar 1.31: own request", bigSidecar, "sidecar", Version{1, 31}, 500},
		{"big sidecar 1.32: own request still lower", bigSidecar, "sidecar", Version{1, 32}, 500},
		{"pod-level share 1.33: gate off, QoS from empty containers is BestEffort", podLevelBurstable, "a", Version{1, 33}, 1000},
		{"pod-level share 1.34: share 1e9", podLevelBurstable, "a", Version{1, 34}, 875},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *corev1.Container
			for _, cs := range [][]corev1.Container{tt.pod.Spec.InitContainers, tt.pod.Spec.Containers} {
				for i := range cs {
					if cs[i].Name == tt.c {
						c = &cs[i]
					}
				}
			}
			if diff := cmp.Diff(tt.want, ContainerOOMScoreAdj(tt.pod, c, capacity, tt.v)); diff != "" {
				t.Errorf("ContainerOOMScoreAdj (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSidecarRuleByVersion(t *testing.T) {
	// A sidecar with a small request scores above (dies before) the main
	// container before 1.32, and never above it since.
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{sidecar("sidecar", "-/100M", "")},
		Containers:     []corev1.Container{ctr("main", "-/2G", "")},
	}}
	got := map[string]int{}
	for _, v := range []Version{{1, 31}, {1, 32}} {
		got[v.String()] = ContainerOOMScoreAdj(p, &p.Spec.InitContainers[0], 8e9, v)
	}
	if diff := cmp.Diff(map[string]int{"1.31": 988, "1.32": 750}, got); diff != "" {
		t.Errorf("sidecar adj by version (-want +got):\n%s", diff)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr string
	}{
		{"1.30", Version{1, 30}, ""},
		{"v1.28.3", Version{1, 28}, ""},
		{"v1.29.2-eks-1", Version{1, 29}, ""},
		{"1.37", Version{1, 37}, ""},
		{"1.38", Version{}, "kubernetes version 1.38: oomkit models kubelet 1.3 to 1.37"},
		{"1.2", Version{}, "kubernetes version 1.2: oomkit models kubelet 1.3 to 1.37"},
		{"130", Version{}, `kubernetes version "130": want MAJOR.MINOR, e.g. 1.30`},
		{"1.x", Version{}, `kubernetes version "1.x": want MAJOR.MINOR, e.g. 1.30`},
		{"", Version{}, `kubernetes version "": want MAJOR.MINOR, e.g. 1.30`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseVersion (-want +got):\n%s", diff)
			}
		})
	}
}
