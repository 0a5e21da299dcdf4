// Package deploy_test checks what deploy/ ships: the Helm chart lints and
// renders deploy/kubernetes/ exactly, the manifests keep their promises
// (read-only host mounts, least RBAC, tolerations, NODE_NAME), a real API
// server accepts every rendered object (server-side dry run), promtool
// accepts the alerts, the kernel agrees with the capabilities the docs
// name, and the Dockerfile's build makes a static binary.
package deploy_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/oomkit/oomkit/internal/apiservertest"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes from the chart")

const (
	chartDir       = "helm/oomkit"
	coreFile       = "kubernetes/oomkit.yaml"
	monitoringFile = "kubernetes/monitoring.yaml"
)

// monitoringKinds need the prometheus-operator CRDs; they go to a file of
// their own so the rest applies on any cluster.
var monitoringKinds = []string{"ServiceMonitor", "PrometheusRule"}

// helm finds the helm binary (.ci/run installs it with go install).
func helm(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	kerneltest.Skip(t, "helm is not installed (go install helm.sh/helm/v4/cmd/helm@v4.3.2)")
	return ""
}

// render runs helm template with the release name and namespace the plain
// manifests use.
func render(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", "oomkit", chartDir, "--namespace", "oomkit"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// doc is one YAML document of a manifest stream.
type doc struct {
	kind, name string
	text       string
	json       []byte
}

func split(t testing.TB, stream []byte) []doc {
	t.Helper()
	var out []doc
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			t.Fatalf("YAML document does not parse: %v\n%s", err, part)
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(j, &meta); err != nil || meta.Kind == "" {
			t.Fatalf("document without a kind (%v):\n%s", err, part)
		}
		out = append(out, doc{kind: meta.Kind, name: meta.Metadata.Name, text: strings.TrimSpace(part) + "\n", json: j})
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// plain is the content of the plain manifest files for docs.
func plain(docs []doc, monitoring bool) string {
	var b strings.Builder
	b.WriteString("# Generated from deploy/helm/oomkit with its default values by\n")
	b.WriteString("# `go test ./deploy -run ShippedManifests -update`; edit the chart, not this file.\n")
	if monitoring {
		b.WriteString("# Needs the prometheus-operator CRDs (ServiceMonitor, PrometheusRule).\n")
	} else {
		// helm install --create-namespace makes it; kubectl apply needs it here.
		b.WriteString("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: oomkit\n  labels:\n    app.kubernetes.io/name: oomkit\n")
	}
	for _, d := range docs {
		if slices.Contains(monitoringKinds, d.kind) == monitoring {
			b.WriteString("---\n" + d.text)
		}
	}
	return b.String()
}

// TestShippedManifestsAreTheChart: deploy/kubernetes is the chart rendered
// with its defaults, so the two never drift.
func TestShippedManifestsAreTheChart(t *testing.T) {
	docs := split(t, render(t))
	for file, mon := range map[string]bool{coreFile: false, monitoringFile: true} {
		want := plain(docs, mon)
		if *update {
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, string(got)); diff != "" {
			t.Errorf("%s is not the chart's rendering; run go test ./deploy -run ShippedManifests -update (-chart +file):\n%s", file, diff)
		}
	}
}

func TestHelmLint(t *testing.T) {
	out, err := exec.Command(helm(t), "lint", "--strict", chartDir).CombinedOutput()
	if err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
	// Every switch renders; a wrong one fails with a sentence.
	for _, args := range [][]string{
		{"--set", "kmsg.access=none"},
		{"--set", "kmsg.access=device-resource", "--set", "kmsg.resourceName=squat.ai/kmsg"},
		{"--set", "serviceMonitor.enabled=false", "--set", "prometheusRule.enabled=false"},
	} {
		render(t, args...)
	}
	bad := exec.Command(helm(t), "template", "oomkit", chartDir, "--set", "kmsg.access=maybe")
	out, err = bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "want privileged, device-resource or none") {
		t.Errorf("kmsg.access=maybe: %v\n%s", err, out)
	}
}

// objects reads a shipped manifest file into its documents.
func objects(t testing.TB, file string) []doc {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return split(t, b)
}

func find(t testing.TB, docs []doc, kind string, into any) {
	t.Helper()
	for _, d := range docs {
		if d.kind == kind {
			if err := yaml.Unmarshal(d.json, into); err != nil {
				t.Fatalf("%s %s: %v", kind, d.name, err)
			}
			return
		}
	}
	t.Fatalf("no %s in the manifests", kind)
}

// TestShippedManifests holds the DaemonSet and RBAC to what docs/deploy.md
// promises, reading the objects as the API types.
func TestShippedManifests(t *testing.T) {
	docs := append(objects(t, coreFile), objects(t, monitoringFile)...)
	var ds appsv1.DaemonSet
	find(t, docs, "DaemonSet", &ds)
	spec := ds.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want the agent alone", len(spec.Containers))
	}
	c := spec.Containers[0]

	// Host mounts: read-only, the kernel's views only; the state dir is the
	// one writable place.
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		host := hostPaths[m.Name]
		mounts[host] = m.MountPath
		writable := !m.ReadOnly
		if host == "/var/lib/oomkit" {
			if !writable {
				t.Errorf("the state dir is mounted read-only")
			}
			continue
		}
		if writable {
			t.Errorf("host %s is mounted writable at %s", host, m.MountPath)
		}
	}
	want := map[string]string{"/proc": "/host/proc", "/sys": "/host/sys", "/dev/kmsg": "/dev/kmsg", "/var/lib/oomkit": "/var/lib/oomkit"}
	if diff := cmp.Diff(want, mounts); diff != "" {
		t.Errorf("host mounts (-want +got):\n%s", diff)
	}
	for _, arg := range []string{"--proc-root=/host/proc", "--sys-root=/host/sys", "--kmsg=/dev/kmsg", "--state-dir=/var/lib/oomkit", "--node-name=$(NODE_NAME)"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("agent args %q lack %s", c.Args, arg)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root filesystem is not read-only")
	}
	if spec.HostPID || spec.HostNetwork || spec.HostIPC {
		t.Error("the agent shares a host namespace it does not need (it reads the host's /proc through the mount)")
	}

	// NODE_NAME from the downward API.
	var nodeName *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "NODE_NAME" {
			nodeName = &c.Env[i]
		}
	}
	if nodeName == nil || nodeName.ValueFrom == nil || nodeName.ValueFrom.FieldRef == nil || nodeName.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME is not the downward API's spec.nodeName: %+v", nodeName)
	}
	// Every node: one toleration that tolerates every taint.
	if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
	}) {
		t.Errorf("tolerations %+v do not tolerate every taint", spec.Tolerations)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %+v: want a CPU and memory request and a memory limit", c.Resources)
	}

	// The Service's port is the container's, and the ServiceMonitor
	// scrapes it by name.
	var svc corev1.Service
	find(t, docs, "Service", &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != c.Ports[0].Name || svc.Spec.Ports[0].Port != c.Ports[0].ContainerPort {
		t.Errorf("service ports %+v do not match the container's %+v", svc.Spec.Ports, c.Ports)
	}
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the agent's pods do not carry", k, v)
		}
	}
	var sm struct {
		Spec struct {
			Selector  struct{ MatchLabels map[string]string } `json:"selector"`
			Endpoints []struct{ Port string }                 `json:"endpoints"`
		} `json:"spec"`
	}
	find(t, docs, "ServiceMonitor", &sm)
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor endpoints %+v do not name the Service's port %s", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the Service does not carry", k, v)
		}
	}

	// RBAC: exactly the rules the agent uses, bound to its account.
	var role rbacv1.ClusterRole
	find(t, docs, "ClusterRole", &role)
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}},
	}
	if diff := cmp.Diff(wantRules, role.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	var binding rbacv1.ClusterRoleBinding
	find(t, docs, "ClusterRoleBinding", &binding)
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Name != spec.ServiceAccountName {
		t.Errorf("binding %+v does not bind %s to the agent's account %s", binding, role.Name, spec.ServiceAccountName)
	}
}

// TestAlertRules runs promtool over the PrometheusRule's groups and checks
// that the alerts use the agent's metric names (issue 11, docs/events.md).
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		kerneltest.Skip(t, "promtool is not installed (Debian's prometheus package ships it)")
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct{ Alert, Expr string } `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	docs := objects(t, monitoringFile)
	find(t, docs, "PrometheusRule", &rule)
	var exprs []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Alert+": "+r.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, metric := range []string{`oomkit_oom_kills_total{victim="child"}`, "oomkit_oom_reports_missing_total", "oomkit_cgroup_oom_eta_seconds"} {
		if !strings.Contains(all, metric) {
			t.Errorf("no alert uses %s:\n%s", metric, all)
		}
	}
	// promtool reads a plain rules file: the PrometheusRule's spec.
	for _, d := range docs {
		if d.kind != "PrometheusRule" {
			continue
		}
		var obj struct {
			Spec any `json:"spec"`
		}
		if err := yaml.Unmarshal(d.json, &obj); err != nil {
			t.Fatal(err)
		}
		b, err := yaml.Marshal(obj.Spec)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	}
}

// TestManifestsServerDryRun hands every rendered object to a real API
// server with the prometheus-operator CRDs installed: kubectl apply
// --dry-run=server runs the whole admission and validation chain without
// storing anything.
func TestManifestsServerDryRun(t *testing.T) {
	s := apiservertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crds, err := filepath.Glob(filepath.Join(apiservertest.CRDDir(), "*.yaml"))
	if err != nil || len(crds) != 2 {
		kerneltest.Skip(t, fmt.Sprintf("the prometheus-operator CRDs are not in %s (run scripts/k8s-testbin.sh): %v", apiservertest.CRDDir(), crds))
	}
	for _, crd := range crds {
		// Server-side apply: the CRDs are too big for the last-applied annotation.
		if _, err := s.Kubectl(ctx, "apply", "--server-side", "-f", crd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatal(err)
	}
	// A dry-run create of the Namespace stores nothing, so the namespaced
	// objects need it for real.
	if _, err := s.Kubectl(ctx, "create", "namespace", "oomkit"); err != nil {
		t.Fatal(err)
	}
	ns := []byte("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: oomkit\n")
	variants := map[string][]byte{"shipped": nil}
	for name, args := range map[string][]string{
		"kmsg none":            {"--set", "kmsg.access=none"},
		"kmsg device-resource": {"--set", "kmsg.access=device-resource", "--set", "kmsg.resourceName=squat.ai/kmsg"},
	} {
		variants[name] = append(append([]byte{}, ns...), render(t, args...)...)
	}
	// A control: the CRD's schema is in force, so a broken ServiceMonitor
	// is refused (otherwise the dry runs below would prove nothing for it).
	bad := exec.CommandContext(ctx, s.Bin.Kubectl, "--kubeconfig="+s.Kubeconfig, "apply", "--dry-run=server", "-f", "-")
	bad.Stdin = strings.NewReader("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: bad, namespace: oomkit}\nspec: {selector: {}, endpoints: [{port: 9741}]}\n")
	if out, err := bad.CombinedOutput(); err == nil {
		t.Errorf("a ServiceMonitor with a numeric endpoint port passed the dry run: %s", out)
	}
	for name, stream := range variants {
		args := []string{"apply", "--dry-run=server", "-o", "name"}
		if stream == nil {
			args = append(args, "-f", coreFile, "-f", monitoringFile)
		} else {
			args = append(args, "-f", "-")
		}
		cmd := exec.CommandContext(ctx, s.Bin.Kubectl, append([]string{"--kubeconfig=" + s.Kubeconfig}, args...)...)
		cmd.Stdin = bytes.NewReader(stream)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: kubectl apply --dry-run=server: %v\n%s", name, err, stderr.String())
			continue
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		want := []string{
			"clusterrole.rbac.authorization.k8s.io/oomkit-agent", "clusterrolebinding.rbac.authorization.k8s.io/oomkit-agent",
			"daemonset.apps/oomkit", "namespace/oomkit", "prometheusrule.monitoring.coreos.com/oomkit", "service/oomkit",
			"serviceaccount/oomkit", "servicemonitor.monitoring.coreos.com/oomkit",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: objects the API server accepted (-want +got):\n%s\nstderr: %s", name, diff, stderr.String())
		}
	}
}

// TestKernelCapabilities checks on this kernel what docs/deploy.md says a
// non-root agent needs: with kernel.dmesg_restrict=1, opening /dev/kmsg
// takes CAP_SYSLOG (check_syslog_permissions, kernel/printk/printk.c);
// /proc/PID/status is world-readable, /proc/PID/environ of another user's
// process is not (mode 0400 and the ptrace access check of environ_open,
// fs/proc/base.c): it takes CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH.
func TestKernelCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Skip(t, "needs root to run a helper as another user with chosen capabilities")
	}
	dd, err := exec.LookPath("dd")
	if err != nil {
		kerneltest.Skip(t, "no dd")
	}
	restrict, err := os.ReadFile("/proc/sys/kernel/dmesg_restrict")
	if err != nil {
		kerneltest.Skip(t, err.Error())
	}
	const capSyslog, capSysPtrace, capDacReadSearch = 34, 19, 2
	// read runs dd as nobody with caps, reading one record or byte of
	// file, and returns its error output ("" on success).
	read := func(file string, caps ...uintptr) string {
		cmd := exec.Command(dd, "if="+file, "of=/dev/null", "bs=8192", "count=1", "iflag=nonblock", "status=none")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: caps}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("run dd: %v", err)
			}
			return strings.TrimSpace(stderr.String())
		}
		return ""
	}
	if strings.TrimSpace(string(restrict)) == "1" {
		if got := read("/dev/kmsg"); !strings.Contains(got, "Operation not permitted") {
			t.Errorf("nobody without capabilities read /dev/kmsg under dmesg_restrict=1: %q", got)
		}
		if got := read("/dev/kmsg", capSyslog); got != "" {
			t.Errorf("nobody with CAP_SYSLOG cannot read /dev/kmsg: %s", got)
		}
	} else if got := read("/dev/kmsg"); got != "" {
		t.Errorf("dmesg_restrict=0, yet nobody cannot read /dev/kmsg: %s", got)
	}
	// Another user's process: a root one this test starts.
	other := exec.Command("sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	proc := fmt.Sprintf("/proc/%d/", other.Process.Pid)
	if got := read(proc + "status"); got != "" {
		t.Errorf("nobody cannot read %sstatus: %s", proc, got)
	}
	if got := read(proc + "environ"); got == "" {
		t.Errorf("nobody read %senviron without capabilities", proc)
	}
	if got := read(proc+"environ", capSysPtrace, capDacReadSearch); got != "" {
		t.Errorf("nobody with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH cannot read %senviron: %s", proc, got)
	}
}

// TestDockerfileStaticBuild runs the Dockerfile's build command and checks
// the result is a static binary, as a distroless/static image needs, and
// that the builder image is the Go of go.mod.
func TestDockerfileStaticBuild(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil || !strings.Contains(string(b), "FROM golang:"+string(goVersion[1])) {
		t.Errorf("the Dockerfile does not build with the Go of go.mod (%s)", goVersion)
	}
	if !strings.Contains(string(b), "FROM gcr.io/distroless/static") {
		t.Error("the final image is not distroless/static")
	}
	run := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .* -o )/out/oomkit( \./cmd/oomkit)$`).FindSubmatch(b)
	if run == nil {
		t.Fatal("no `RUN CGO_ENABLED=0 go build … -o /out/oomkit ./cmd/oomkit` line in the Dockerfile")
	}
	// As docker runs it: sh -c, in the source tree, VERSION a build arg.
	out := filepath.Join(t.TempDir(), "oomkit")
	cmd := exec.Command("sh", "-c", string(run[1])+out+string(run[2]))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=dev")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Args[2], err, o)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || !strings.Contains(string(v), "oomkit dev") {
		t.Errorf("oomkit version: %q, %v", v, err)
	}
}

// oomkitBinary builds cmd/oomkit once for the tests that run it.
var oomkitBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "oomkit-deploy-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "oomkit")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/oomkit")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// TestDaemonSetArgsAreTheAgents renders the chart with its defaults and with
// each choice a user makes, and runs the agent with every rendering's
// container arguments (`oomkit agent … --check`: flags parsed and
// validated, nothing started): the agent accepts them, and what they mean
// is what the pod gives it — it listens on the container's port, keeps its
// state on the state volume, reads the host's /proc and /sys where they are
// mounted, and reads /dev/kmsg only where the pod has it.
func TestDaemonSetArgsAreTheAgents(t *testing.T) {
	bin, err := oomkitBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	for _, set := range [][]string{
		nil,
		{"kmsg.access=none"},
		{"kmsg.access=device-resource", "kmsg.resourceName=squat.ai/kmsg"},
		{"metrics.port=19741", "stateDir=/srv/oomkit", "logFormat=text"},
		{"extraArgs={--retain-events=100,--sample-interval=2s}"},
	} {
		var args []string
		for _, s := range set {
			args = append(args, "--set", s)
		}
		t.Run(strings.Join(set, ","), func(t *testing.T) {
			var ds appsv1.DaemonSet
			find(t, split(t, render(t, args...)), "DaemonSet", &ds)
			spec := ds.Spec.Template.Spec
			c := spec.Containers[0]
			// The kubelet expands $(VAR) from the container's env; NODE_NAME
			// is the node's name.
			const node = "node-a.example"
			argv := make([]string, 0, len(c.Args)+1)
			for _, a := range c.Args {
				argv = append(argv, strings.ReplaceAll(a, "$(NODE_NAME)", node))
			}
			cmd := exec.Command(bin, append(argv, "--check")...)
			cmd.Env = append(os.Environ(), "NODE_NAME="+node)
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
					stderr = ee.Stderr
				}
				t.Fatalf("oomkit %s --check: %v: %s", strings.Join(argv, " "), err, stderr)
			}
			got := map[string]string{}
			for _, l := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(strings.TrimSuffix(strings.TrimSpace(l), ` \`), "="); ok {
					got[k] = v
				}
			}
			mountOf := func(host string) string {
				for _, v := range spec.Volumes {
					if v.HostPath != nil && v.HostPath.Path == host {
						for _, m := range c.VolumeMounts {
							if m.Name == v.Name {
								return m.MountPath
							}
						}
					}
				}
				return ""
			}
			var state string
			for _, v := range spec.Volumes {
				if v.Name == "state" && v.HostPath != nil {
					state = v.HostPath.Path
				}
			}
			want := map[string]string{
				"--listen":    fmt.Sprintf(":%d", c.Ports[0].ContainerPort),
				"--state-dir": mountOf(state),
				"--proc-root": mountOf("/proc"),
				"--sys-root":  mountOf("/sys"),
				"--node-name": node,
			}
			for k, v := range want {
				if got[k] != v || v == "" {
					t.Errorf("%s: the agent runs with %q, the pod gives it %q\n%s", k, got[k], v, out)
				}
			}
			// /dev/kmsg: mounted (privileged) or a device-plugin resource, or
			// not at all; the agent is told to read it only when it is there.
			hasKmsg := mountOf("/dev/kmsg") != "" || slices.ContainsFunc(set, func(s string) bool { return s == "kmsg.access=device-resource" })
			if told := slices.Contains(c.Args, "--kmsg=/dev/kmsg"); told != hasKmsg {
				t.Errorf("--kmsg=/dev/kmsg in the args: %v, /dev/kmsg in the pod: %v", told, hasKmsg)
			}
			for _, s := range set {
				if v, ok := strings.CutPrefix(s, "extraArgs={"); ok {
					for _, a := range strings.Split(strings.TrimSuffix(v, "}"), ",") {
						k, val, _ := strings.Cut(a, "=")
						if d, err := time.ParseDuration(val); err == nil {
							val = d.String()
						}
						if got[k] != val {
							t.Errorf("extra arg %s: the agent runs with %s=%q", a, k, got[k])
						}
					}
				}
			}
		})
	}
}
