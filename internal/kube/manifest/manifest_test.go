package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kube"
)

// summary is what a test compares: every workload, note and error as a line.
func summary(m *Manifests) []string {
	var out []string
	for _, w := range m.Workloads {
		var cs []string
		for _, c := range w.Pod.Spec.Containers {
			cs = append(cs, c.Name)
		}
		out = append(out, "workload "+w.Source.String()+" "+w.Kind+" "+w.Namespace+"/"+w.Name+" ["+strings.Join(cs, ",")+"]")
	}
	for _, lr := range m.LimitRanges {
		out = append(out, "limitrange "+lr.Source.String()+" "+lr.LimitRange.Name)
	}
	for _, s := range m.Skipped {
		out = append(out, "skipped "+s)
	}
	for _, e := range m.Errors {
		out = append(out, "error "+e.Error())
	}
	return out
}

// manifestTests are shared with FuzzReadManifests as seeds.
var manifestTests = []struct {
	name, input string
	want        []string
}{
	{"pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n",
		[]string{"workload in.yaml:1 Pod /p [c]"}},
	{"separators and blank documents", "---\n# nothing\n---\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n---\n---\n",
		[]string{"workload in.yaml:4 Pod /p [c]"}},
	{"CRLF and BOM", "\xef\xbb\xbfkind: Pod\r\nmetadata: {name: p}\r\nspec: {containers: [{name: c}]}\r\n---\r\nkind: Pod\r\nmetadata: {name: q}\r\nspec: {containers: [{name: d}]}\r\n",
		[]string{"workload in.yaml:1 Pod /p [c]", "workload in.yaml:5 Pod /q [d]"}},
	{"json list", `{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}},{"kind":"Secret","metadata":{"name":"s"}}]}`,
		[]string{"workload in.yaml:1 Pod /p [c]", "skipped in.yaml:1: Secret/s holds no pods, skipped"}},
	{"PodList from kubectl", "apiVersion: v1\nkind: PodList\nitems:\n- kind: Pod\n  metadata: {name: p, namespace: ns}\n  spec: {containers: [{name: c}]}\n",
		[]string{"workload in.yaml:1 Pod ns/p [c]"}},
	{"nested list", `{"kind":"List","items":[{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}]}]}`,
		[]string{"workload in.yaml:1 Pod /p [c]"}},
	{"limitrange", "kind: LimitRange\nmetadata: {name: lr, namespace: x}\nspec: {limits: [{type: Container, default: {memory: 512Mi}}]}\n",
		[]string{"limitrange in.yaml:1 lr"}},
	{"empty", "", []string{"error in.yaml: empty: no Kubernetes objects in it"}},
	{"only comments", "# hello\n---\n  \n", []string{"error in.yaml: empty: no Kubernetes objects in it"}},
	{"malformed yaml line rebased", "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n---\nkind: Pod\nmetadata:\n  name: x\n bad: 1\n",
		[]string{"workload in.yaml:1 Pod /p [c]", "error in.yaml:8: malformed YAML: did not find expected key (check indentation and quoting)"}},
	{"bad quantity in template", "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n      - name: b\n        resources: {limits: {memory: 2Gx}}\n",
		[]string{`error in.yaml:9: spec.template.spec.containers[1].resources.limits.memory: "2Gx" is not a Kubernetes quantity: write e.g. 512Mi, 1.5Gi, 2G or 134217728`}},
	{"bad quantity in list item", `{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"requests":{"memory":"lots"}}}]}}]}`,
		[]string{`error in.yaml:1: items[0].spec.containers[0].resources.requests.memory: "lots" is not a Kubernetes quantity: write e.g. 512Mi, 1.5Gi, 2G or 134217728`}},
	{"bad quantity in cronjob", "kind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {initContainers: [{name: i, resources: {requests: {cpu: x1}}}], containers: [{name: c}]}}}}}\n",
		[]string{`error in.yaml:3: spec.jobTemplate.spec.template.spec.initContainers[0].resources.requests.cpu: "x1" is not a Kubernetes quantity: write e.g. 512Mi, 1.5Gi, 2G or 500m`}},
	{"bad quantity in limitrange", "kind: LimitRange\nmetadata: {name: lr}\nspec: {limits: [{type: Container, defaultRequest: {memory: 1GB}}]}\n",
		[]string{`error in.yaml:3: spec.limits[0].defaultRequest.memory: "1GB" is not a Kubernetes quantity: write 1G (decimal, 10^9 bytes each) or 1Gi (binary)`}},
	{"wrong type", "kind: Pod\nmetadata: {name: p}\nspec: {containers: notalist}\n",
		[]string{"error in.yaml:1: spec.containers: a string here cannot be read as []v1.Container (fix the manifest's structure)"}},
	{"no kind", "metadata: {name: p}\n", []string{"error in.yaml:1: no kind: not a Kubernetes object (add apiVersion and kind)"}},
	{"scalar document", "hello\n", []string{"error in.yaml:1: not a Kubernetes object (expected a mapping with apiVersion and kind)"}},
	{"no containers", "kind: Pod\nmetadata: {name: p}\nspec: {}\n", []string{"error in.yaml:1: spec.containers: Pod/p has no containers (add at least one)"}},
	{"deployment without template", "kind: Deployment\nmetadata: {name: d}\nspec: {}\n", []string{"error in.yaml:1: spec.template: Deployment/d has no pod template (add one)"}},
	{"hostile names", "kind: Pod\nmetadata: {name: \"(resolved)\", namespace: \"[\"}\nspec: {containers: [{name: \"Plex Media Server\"}, {name: '\"with quotes\"'}]}\n",
		[]string{`workload in.yaml:1 Pod [/(resolved) [Plex Media Server,"with quotes"]`}},
	{"separator-like lines", "kind: Pod\nmetadata: {name: p, annotations: {a: \"---\"}}\nspec:\n  containers:\n  - name: c\n    args:\n    - |\n      ---\n",
		[]string{"workload in.yaml:1 Pod /p [c]"}},
	{"yaml 1.1 booleans", "kind: Pod\nmetadata: {name: p, namespace: n}\nspec: {containers: [{name: c}]}\n",
		[]string{"error in.yaml:1: metadata.namespace: a bool here cannot be read as string (fix the manifest's structure)"}},
	// Issue 15: what kubectl and the API server refuse, at its line and key.
	{"duplicate key", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources:\n      limits: {memory: 1Gi}\n      limits: {memory: 2Gi}\n",
		[]string{`error in.yaml:8: spec.containers[0].resources.limits: key "limits" given twice in one mapping (first at line 7): kubectl refuses this; keep one`}},
	{"duplicate key in JSON", `{"kind":"Pod","metadata":{"name":"p","name":"q"},"spec":{"containers":[{"name":"c"}]}}`,
		[]string{`error in.yaml:1: metadata.name: key "name" given twice in one object: kubectl refuses this; keep one`}},
	{"JSON quantity before its kind", "{\"apiVersion\": \"v1\",\n \"items\": [{\"metadata\": {\"name\": \"p\"},\n  \"spec\": {\"containers\": [{\"name\": \"c\", \"resources\": {\"requests\":\n   {\"memory\": \"1e999999999\"}}}]}, \"kind\": \"Pod\"}],\n \"kind\": \"List\"}\n",
		[]string{`error in.yaml:4: items[0].spec.containers[0].resources.requests.memory: "1e999999999" is too large: at most 8Ei−1 bytes`}},
	{"JSON quantities of other kinds are not read", `{"kind":"Widget","metadata":{"name":"w"},"spec":{"resources":{"limits":{"memory":"lots"}}}}`,
		[]string{"skipped in.yaml:1: Widget/w holds no pods, skipped"}},
	{".inf", "kind: Pod\nmetadata: {name: p}\nspec:\n  priority: .inf\n  containers: [{name: c}]\n",
		[]string{`error in.yaml:4: spec.priority: ".inf" is not a number JSON can hold (quote it if it is text)`}},
	{"negative memory", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {limits: {memory: -1Gi}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.limits.memory: "-1Gi" is negative: a memory quantity is 0 or more bytes`}},
	{"memory past 8 EiB", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {limits: {memory: \"9223372036854775808\"}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.limits.memory: "9223372036854775808" is too large: at most 8Ei−1 bytes`}},
	{"memory 1e400", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {memory: 1e400}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.requests.memory: "1e400" is too large: at most 8Ei−1 bytes`}},
	{"memory 1e999999999", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {memory: 1e999999999}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.requests.memory: "1e999999999" is too large: at most 8Ei−1 bytes`}},
	{"memory 1e-99999999", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {memory: 1e-99999999}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.requests.memory: "1e-99999999" is not a whole number of bytes`}},
	{"cpu 1e999999999", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: 1e999999999}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.requests.cpu: "1e999999999": an exponent of more than two digits is out of any quantity's range`}},
	{"negative cpu", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: -1}}\n",
		[]string{`error in.yaml:6: spec.containers[0].resources.requests.cpu: "-1" is negative: the API server takes only quantities of 0 or more`}},
	{"quantities of other kinds are not read", "kind: Widget\nmetadata: {name: w}\nspec: {resources: {limits: {memory: lots}}}\n",
		[]string{"skipped in.yaml:1: Widget/w holds no pods, skipped"}},
	{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nkind: Pod\n",
		[]string{"error in.yaml:2: f[1][3][7][4][9]: aliases expand to far more than the document's own size (write the values out)"}},
	{"merge keys", "kind: Pod\nmetadata: {name: p}\nx: &r {limits: {memory: 1Gi}}\nspec: {containers: [{name: c, resources: {<<: *r, requests: {memory: 1Gi}}}]}\n",
		[]string{"workload in.yaml:1 Pod /p [c]"}},
	{"generateName", "kind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: c}]}\n", []string{"workload in.yaml:1 Pod /web-* [c]"}},
}

func TestReadManifests(t *testing.T) {
	for _, tt := range manifestTests {
		t.Run(tt.name, func(t *testing.T) {
			var m Manifests
			ReadManifests(strings.NewReader(tt.input), "in.yaml", &m)
			if diff := cmp.Diff(tt.want, summary(&m)); diff != "" {
				t.Errorf("ReadManifests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty", "deeper", "README.md"), []byte("not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A FIFO in a walked directory (it would block until a writer
	// came), reached through a symlinked directory named without a
	// trailing slash (issue 15).
	pods := filepath.Join(dir, "pods")
	must(t, os.MkdirAll(pods, 0o755))
	must(t, os.WriteFile(filepath.Join(pods, "p.yaml"), []byte("kind: Pod\nmetadata: {name: q}\nspec: {containers: [{name: c}]}\n"), 0o644))
	must(t, unix.Mkfifo(filepath.Join(pods, "pipe.yaml"), 0o644))
	must(t, os.Symlink(pods, filepath.Join(dir, "link")))
	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"FIFO in a symlinked directory", []string{filepath.Join(dir, "link")}, []string{
			"workload " + filepath.Join(dir, "link", "p.yaml") + ":1 Pod /q [c]",
			"skipped " + filepath.Join(dir, "link", "pipe.yaml") + ": not a regular file (a FIFO), skipped",
		}},
		{"directory recursively", []string{"testdata/manifests"}, []string{
			"workload testdata/manifests/list.json:1 Pod default/a [main]",
			"workload testdata/manifests/malformed.yaml:1 Pod /ok [c]",
			"workload testdata/manifests/workloads.yaml:2 Pod shop/web [nginx]",
			"workload testdata/manifests/workloads.yaml:15 Deployment shop/api [app]",
			"workload testdata/manifests/workloads.yaml:35 StatefulSet /db [postgres]",
			"workload testdata/manifests/workloads.yaml:46 DaemonSet kube-system/agent [agent]",
			"workload testdata/manifests/workloads.yaml:58 ReplicaSet /rs [c]",
			"workload testdata/manifests/workloads.yaml:66 ReplicationController /rc [c]",
			"workload testdata/manifests/workloads.yaml:74 Job /migrate [migrate]",
			"workload testdata/manifests/workloads.yaml:87 CronJob /report [report]",
			"workload testdata/manifests/workloads.yaml:102 PodTemplate /tmpl [c]",
			"skipped testdata/manifests/list.json:1: ConfigMap/cm holds no pods, skipped",
			"skipped testdata/manifests/workloads.yaml:109: Service/web holds no pods, skipped",
			`error testdata/manifests/badquantity.yaml:15: spec.template.spec.containers[1].resources.limits.memory: "2Gx" is not a Kubernetes quantity: write e.g. 512Mi, 1.5Gi, 2G or 134217728`,
			"error testdata/manifests/comments.yaml: empty: no Kubernetes objects in it",
			"error testdata/manifests/empty.yaml: empty: no Kubernetes objects in it",
			"error testdata/manifests/malformed.yaml:11: malformed YAML: did not find expected key (check indentation and quoting)",
		}},
		{"empty directory", []string{filepath.Join(dir, "empty")}, []string{"error " + filepath.Join(dir, "empty") + ": directory holds no .yaml, .yml or .json files"}},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, []string{"error " + filepath.Join(dir, "nope.yaml") + ": no such file or directory (check the path)"}},
		{"stdin", []string{"-"}, []string{"workload -:1 Pod /p [c]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Manifests
			ReadPaths(tt.paths, strings.NewReader("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n"), &m)
			if diff := cmp.Diff(tt.want, summary(&m)); diff != "" {
				t.Errorf("ReadPaths (-want +got):\n%s", diff)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzReadManifests(f *testing.F) {
	for _, tt := range manifestTests {
		f.Add([]byte(tt.input))
	}
	for _, name := range []string{"workloads.yaml", "list.json", "malformed.yaml", "badquantity.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "manifests", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Manifests
		ReadManifests(strings.NewReader(string(data)), "fuzz.yaml", &m)
		for _, e := range m.Errors {
			if strings.Contains(e.Error(), "\n") {
				t.Fatalf("multi-line error %q", e.Error())
			}
		}
		// Whatever was read must analyse without panicking.
		kube.Analyze(m.Workloads, m.LimitRanges, kube.Options{NodeMemoryBytes: 8 * kube.GiB, Version: kube.Newest, CgroupVersion: 2, Runtime: kube.RuntimeContainerd})
	})
}

// TestDepthNamesLineAndKey: nesting past the parser's depth limit is
// refused at the line and key where it starts.
func TestDepthNamesLineAndKey(t *testing.T) {
	deep := "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    command: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"
	var m Manifests
	ReadManifests(strings.NewReader(deep), "in.yaml", &m)
	want := []string{"error in.yaml:6: command: nested deeper than any manifest: exceeded max depth of 10000"}
	if diff := cmp.Diff(want, summary(&m)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
