package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKubeCLI runs `oomkit kube` in-process: args → exit code → stdout and
// stderr, compared with testdata/kube/<name>.golden (go test -update
// rewrites them).
func TestKubeCLI(t *testing.T) {
	const in = "testdata/kube/in/"
	node := "--node-memory=16Gi"
	stdin, err := os.ReadFile(in + "workloads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{"workloads", []string{"kube", in + "workloads.yaml", node}, "", 0},
		{"workloads-json", []string{"kube", in + "workloads.yaml", node, "--json"}, "", 0},
		{"kubectl-get-v1-cgroupfs", []string{"kube", in + "kubectl-get-pods.json", node, "--kubernetes-version=1.28", "--cgroup-version=v1", "--cgroup-driver=cgroupfs"}, "", 0},
		{"kubectl-get-json", []string{"kube", in + "kubectl-get-pods.json", node, "--json"}, "", 0},
		{"kubectl-get-yaml", []string{"kube", in + "kubectl-get-pods.yaml", node}, "", 0},
		{"kubectl-get-yaml-1.21", []string{"kube", in + "kubectl-get-pods.yaml", node, "--kubernetes-version=1.21", "--json"}, "", 0},
		{"old-kubelet", []string{"kube", in + "kubectl-get-pods.json", in + "workloads.yaml", node, "--kubernetes-version=v1.19.16"}, "", 0},
		{"usage", []string{"kube", in + "workloads.yaml", node, "--usage=db/postgres=6Gi", "--usage", "shop/web/nginx=300Mi"}, "", 0},
		{"limitrange", []string{"kube", in + "limitrange.yaml", node}, "", 0},
		{"stdin-dash", []string{"kube", "-", node, "--cgroup-driver=cgroupfs", "--runtime=cri-o"}, string(stdin), 0},
		{"stdin-no-args", []string{"kube", node, "--json"}, "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n", 0},
		{"meminfo", []string{"kube", in + "limitrange.yaml", "--proc-root=testdata/kube/proc"}, "", 0},
		{"single-process", []string{"kube", in + "limitrange.yaml", node, "--single-process-oom-kill", "--json"}, "", 0},
		{"bad-dir", []string{"kube", in + "bad", node}, "", 3},
		{"partly-bad", []string{"kube", in + "limitrange.yaml", in + "empty.yaml", in + "missing.yaml", node}, "", 3},
		{"empty-file", []string{"kube", in + "empty.yaml", node}, "", 1},
		{"empty-dir", []string{"kube", in + "empty", node}, "", 1},
		{"missing-file", []string{"kube", in + "missing.yaml", node}, "", 1},
		{"only-service", []string{"kube", in + "service.yaml", node}, "", 1},
		{"bad-usage", []string{"kube", in + "workloads.yaml", node, "--usage=web=1Gi"}, "", 2},
		{"unknown-usage", []string{"kube", in + "workloads.yaml", node, "--usage=web/nope=1Gi"}, "", 2},
		{"bad-version", []string{"kube", in + "workloads.yaml", node, "--kubernetes-version=1.99"}, "", 2},
		{"bad-cgroup-version", []string{"kube", in + "workloads.yaml", node, "--cgroup-version=v3"}, "", 2},
		{"bad-node-memory", []string{"kube", in + "workloads.yaml", "--node-memory=lots"}, "", 2},
		{"bad-proc-root", []string{"kube", in + "workloads.yaml", "--proc-root=testdata/kube/nowhere"}, "", 1},
		{"help", []string{"kube", "--help"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code {
				t.Errorf("oomkit %s: exit %d, want %d\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, errOut.String())
			}
			got := fmt.Sprintf("$ oomkit %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(tt.args, " "), code, out.String(), errOut.String())
			golden(t, filepath.Join("testdata", "kube", tt.name+".golden"), []byte(got))
			if code != 0 && tt.name != "bad-dir" && tt.name != "partly-bad" {
				if n := strings.Count(errOut.String(), "\n"); n != 1 || !strings.HasPrefix(errOut.String(), "oomkit: ") {
					t.Errorf("stderr is not one oomkit: line: %q", errOut.String())
				}
			}
		})
	}
}

// TestKubeJSONSchema checks every --json line against the documented
// oomkit.container/v1 contract: the schema tag, snake_case keys, every
// documented field present, and null (never 0) where a value is unknown.
func TestKubeJSONSchema(t *testing.T) {
	fields := []string{"schema", "source", "namespace", "pod", "pod_uid", "workload_kind", "workload", "container", "container_type",
		"qos_class", "qos_from_status", "priority", "critical", "memory_request_bytes", "memory_limit_bytes", "pod_memory_request_bytes",
		"pod_memory_limit_bytes", "oom_score_adj", "cgroup_path", "memory_cgroup_dir", "container_runtime", "runtime", "heap_ceiling_bytes",
		"heap_source", "heap_verdict", "oom_regime", "oom_regime_reason", "expected_usage_bytes", "usage_source", "node_oom_rank",
		"eviction_rank", "kubernetes_version", "node_memory_bytes", "cgroup_version", "memory_qos", "warnings"}
	var out, errOut bytes.Buffer
	args := []string{"kube", "testdata/kube/in/workloads.yaml", "testdata/kube/in/kubectl-get-pods.json", "--node-memory=16Gi", "--json"}
	if code := Main(args, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 14 {
		t.Errorf("%d JSON lines, want 14 (one per container)", len(lines))
	}
	for i, l := range lines {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		var keys []string
		for k := range o {
			keys = append(keys, k)
		}
		if diff := cmp.Diff(len(fields), len(keys)); diff != "" {
			t.Errorf("line %d: field count (-want +got):\n%s", i+1, diff)
		}
		for _, f := range fields {
			if _, ok := o[f]; !ok {
				t.Errorf("line %d: no %q", i+1, f)
			}
		}
		if o["schema"] != "oomkit.container/v1" {
			t.Errorf("line %d: schema %v", i+1, o["schema"])
		}
		for _, f := range []string{"memory_request_bytes", "memory_limit_bytes", "heap_ceiling_bytes", "pod_memory_limit_bytes"} {
			if v, ok := o[f].(float64); ok && v == 0 {
				t.Errorf("line %d: %s is 0; unknown values must be null", i+1, f)
			}
		}
	}
}

// TestKubeMemoryQoSFlags: the kubelet-config flags reach the model and the
// JSON. Expected bytes are the kubelet v1.37.2 test's
// (TestGenerateContainerConfigWithMemoryQoSEnforced: 128Mi/256Mi with
// factor 0.9 → memory.high 255012864, memory.low 134217728).
func TestKubeMemoryQoSFlags(t *testing.T) {
	dir := t.TempDir()
	pod := `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: app
    image: busybox
    resources: {requests: {memory: 128Mi}, limits: {memory: 256Mi}}
`
	if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (map[string]any, string, int) {
		var out, errOut bytes.Buffer
		args := append([]string{"kube", filepath.Join(dir, "pod.yaml"), "--node-memory=32Gi"}, extra...)
		code := Main(args, nil, &out, &errOut)
		var o map[string]any
		if code == 0 && strings.Contains(strings.Join(extra, " "), "--json") {
			if err := json.Unmarshal(out.Bytes(), &o); err != nil {
				t.Fatal(err)
			}
		}
		return o, out.String() + errOut.String(), code
	}
	o, _, code := run("--json", "--memory-throttling-factor", "0.9", "--memory-reservation-policy", "TieredReservation")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	q := o["memory_qos"].(map[string]any)
	c := q["container"].(map[string]any)
	if c["memory_high_bytes"] != 255012864.0 || c["memory_low_bytes"] != 134217728.0 || c["memory_min_bytes"] != nil || q["enabled"] != true {
		t.Errorf("memory_qos %v", q)
	}
	if p := q["pod"].(map[string]any); p["memory_low_bytes"] != 134217728.0 {
		t.Errorf("pod %v", p)
	}
	_, text, _ := run("--memory-throttling-factor", "0.9")
	if !strings.Contains(text, "web/app") || !strings.Contains(text, "243 MiB") { // 255012864 bytes, to three significant digits
		t.Errorf("text lacks the container's memory.high:\n%s", text)
	}
	_, text, _ = run()
	if !strings.Contains(text, "writes\n  only zeros") {
		t.Errorf("1.37 defaults: want the writes-only-zeros line:\n%s", text)
	}
	for _, bad := range [][]string{
		{"--memory-throttling-factor", "1.5"},
		{"--memory-reservation-policy", "Tiered"},
		{"--feature-gates", "Foo=true"},
		{"--kubernetes-version", "1.35", "--feature-gates", "MemoryQoS=true", "--memory-reservation-policy", "TieredReservation"},
	} {
		if _, msg, code := run(bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, ExitUsage, msg)
		}
	}
}
