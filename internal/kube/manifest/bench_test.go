package manifest

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/oomkit/oomkit/internal/kube"
)

// cpuTime is this process's user+system CPU time: on a shared, loaded
// machine it measures the work where wall time measures the queue.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// podList10k builds a `kubectl get pods -o yaml`-shaped List of n pods
// mixing the three QoS classes, a sidecar, and runtimes with heap knobs.
func podList10k(n int, asJSON bool) []byte {
	var b bytes.Buffer
	if asJSON {
		b.WriteString(`{"apiVersion":"v1","kind":"List","items":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-%d","namespace":"ns-%d","uid":"0057cc81-ea16-463a-96c2-%012d"},`+
				`"spec":{"priority":%d,"initContainers":[{"name":"proxy","image":"envoy","restartPolicy":"Always","resources":{"requests":{"memory":"64Mi"}}}],`+
				`"containers":[{"name":"app","image":"eclipse-temurin:21","env":[{"name":"JAVA_TOOL_OPTIONS","value":"-XX:MaxRAMPercentage=75"}],"resources":{"requests":{"cpu":"100m","memory":"%dMi"},"limits":{"memory":"%dMi"}}}]},`+
				`"status":{"qosClass":"Burstable"}}`, i, i%50, i, i%3*1000, 128+i%512, 256+i%1024)
		}
		b.WriteString(`]}`)
		return b.Bytes()
	}
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `- apiVersion: v1
  kind: Pod
  metadata:
    name: pod-%d
    namespace: ns-%d
    uid: 0057cc81-ea16-463a-96c2-%012d
  spec:
    priority: %d
    initContainers:
    - name: proxy
      image: envoy
      restartPolicy: Always
      resources:
        requests: {memory: 64Mi}
    containers:
    - name: app
      image: eclipse-temurin:21
      env:
      - {name: JAVA_TOOL_OPTIONS, value: "-XX:MaxRAMPercentage=75"}
      resources:
        requests: {cpu: 100m, memory: %dMi}
        limits: {memory: %dMi}
  status:
    qosClass: Burstable
`, i, i%50, i, i%3*1000, 128+i%512, 256+i%1024)
	}
	return b.Bytes()
}

func benchmarkList(b *testing.B, asJSON bool) {
	data := podList10k(10000, asJSON)
	opt := kube.Options{NodeMemoryBytes: 64 * kube.GiB, Version: kube.Newest, CgroupVersion: 2, Runtime: kube.RuntimeContainerd}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		var m Manifests
		ReadManifests(bytes.NewReader(data), "pods.yaml", &m)
		if len(m.Workloads) != 10000 || len(m.Errors) > 0 {
			b.Fatalf("%d workloads, errors %v", len(m.Workloads), m.Errors)
		}
		a := kube.Analyze(m.Workloads, m.LimitRanges, opt)
		if len(a.NodeOOMOrder) != 20000 {
			b.Fatalf("%d containers ranked", len(a.NodeOOMOrder))
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkList10kYAML reads and analyses 10,000 pods in one YAML List
// (the target: under 2 s).
func BenchmarkList10kYAML(b *testing.B) { benchmarkList(b, false) }

// BenchmarkList10kJSON is the same List as `kubectl get pods -o json`.
func BenchmarkList10kJSON(b *testing.B) { benchmarkList(b, true) }

// podListType is what a plain decode of the List needs: the baseline any
// manifest tool pays before it has analysed anything.
type podListType struct {
	Items []corev1.Pod `json:"items"`
}

func benchmarkDecodeOnly(b *testing.B, asJSON bool) {
	data := podList10k(10000, asJSON)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		var l podListType
		if err := yaml.Unmarshal(data, &l); err != nil || len(l.Items) != 10000 {
			b.Fatalf("%d items, %v", len(l.Items), err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkList10kYAMLDecodeOnly is the baseline for BenchmarkList10kYAML:
// sigs.k8s.io/yaml.Unmarshal of the same List into core/v1 Pods, no analysis.
func BenchmarkList10kYAMLDecodeOnly(b *testing.B) { benchmarkDecodeOnly(b, false) }

// BenchmarkList10kJSONDecodeOnly is the baseline for BenchmarkList10kJSON.
func BenchmarkList10kJSONDecodeOnly(b *testing.B) { benchmarkDecodeOnly(b, true) }
