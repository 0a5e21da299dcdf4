// Package layering_test pins which oomkit packages may import which
// (DESIGN.md: dependencies point down only; the model packages do no I/O
// beyond their readers; client-go and Prometheus only in the agent).
package layering_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/oomkit/oomkit/"

// allowed lists, per package, the oomkit packages it may import (each entry
// also admits its sub-packages; a package may import its own
// sub-packages). A package missing here may import no other oomkit package.
//
// The layers, top down: cmd/oomkit; cli and agent (commands and the node
// agent, side by side); render (what they print); node, watch, lab, sim
// (the live node, the event stream, the real kernel's and the simulated
// experiments); explain and alloc; the models (oomlog, mm, kube, heap) and
// the readers (kmsg, proc, cgroup); bytesize, visible and kfile (bounded
// reads of kernel files) at the bottom.
var allowed = map[string][]string{
	"cmd/oomkit": {"internal/cli", "internal/vm"},
	// cli renders and wires flags; every fact comes from a package below.
	"internal/cli": {
		"internal/agent", "internal/agent/k8s", // `oomkit agent`, `oomkit events`
		"internal/render",
		"internal/node", "internal/heap", "internal/watch", "internal/lab", "internal/sim",
		"internal/explain", "internal/alloc", "internal/vm",
		"internal/kube", "internal/kube/manifest", "internal/mm", "internal/oomlog",
		"internal/kmsg", "internal/proc", "internal/cgroup", "internal/kfile",
		"internal/bytesize", "internal/visible",
	},
	// The agent sits next to cli, above node, watch and explain; its
	// sub-packages (k8s: client-go, metrics: Prometheus, …) follow this row.
	"internal/agent": {
		"internal/render",
		"internal/node", "internal/watch", "internal/explain", "internal/heap",
		"internal/kube", "internal/mm", "internal/oomlog",
		"internal/kmsg", "internal/proc", "internal/cgroup", "internal/kfile",
		"internal/bytesize", "internal/visible",
	},
	// render prints the models below as text and JSON, for cli and agent.
	"internal/render":        {"internal/node", "internal/explain", "internal/sim", "internal/lab", "internal/alloc", "internal/kube", "internal/heap", "internal/mm", "internal/oomlog", "internal/bytesize", "internal/visible"},
	"internal/node":          {"internal/kube", "internal/heap", "internal/mm", "internal/proc", "internal/cgroup", "internal/bytesize"},
	"internal/watch":         {"internal/explain", "internal/oomlog", "internal/kmsg", "internal/kfile"},
	"internal/explain":       {"internal/mm", "internal/kube", "internal/oomlog", "internal/bytesize"},
	"internal/lab":           {"internal/explain", "internal/mm", "internal/kube", "internal/oomlog", "internal/proc", "internal/cgroup", "internal/kmsg", "internal/alloc", "internal/vm", "internal/bytesize"},
	"internal/sim":           {"internal/explain", "internal/mm", "internal/kube", "internal/heap", "internal/oomlog", "internal/bytesize"},
	"internal/alloc":         {"internal/proc", "internal/cgroup", "internal/kfile", "internal/mm", "internal/bytesize"},
	"internal/vm":            {"internal/cgroup"},
	"internal/vm/vmtest":     {"internal/vm", "internal/kerneltest"},
	"internal/kube":          {"internal/heap", "internal/bytesize"},
	"internal/kube/manifest": {"internal/kube", "internal/bytesize"},
	"internal/heap":          {"internal/bytesize"},
	"internal/mm":            {"internal/bytesize"},
	"internal/oomlog":        {"internal/kmsg"},
	"internal/kmsg":          {},
	"internal/proc":          {"internal/kfile"},
	"internal/cgroup":        {"internal/proc", "internal/kfile", "internal/bytesize"},
	"internal/kerneltest":    {"internal/cgroup"},
	"internal/apiservertest": {"internal/kerneltest"},
	// The harness of docs/scale.md: a real API server and agents.
	"internal/agent/k8s/scaleharness": {"internal/agent/k8s", "internal/apiservertest", "internal/kube"},
	"internal/bytesize":               {},
	"internal/kfile":                  {},
	"internal/visible":                {},
	"scripts/gen-syslog":              {"internal/oomlog"},
}

// model packages do no I/O (DESIGN.md): they take readers and values, and
// the packages that touch files, processes and the kernel feed them.
// render is held to the same rule: it writes only to the writer it is given.
var model = []string{"internal/oomlog", "internal/mm", "internal/kube", "internal/heap", "internal/bytesize", "internal/render"}

// ioImports are the standard packages that reach files, processes or the
// network; a model package importing one has started doing I/O.
var ioImports = []string{"os", "os/exec", "io/fs", "io/ioutil", "path/filepath", "syscall", "net", "net/http", "golang.org/x/sys/unix"}

// heavy are third-party imports kept out of everything but the agent and
// its sub-packages (internal/agent/k8s holds client-go, internal/agent/metrics
// Prometheus).
var heavy = []string{"k8s.io/client-go", "github.com/prometheus/client_golang"}

// underAgent reports whether name is internal/agent or below it.
func underAgent(name string) bool {
	return name == "internal/agent" || strings.HasPrefix(name, "internal/agent/")
}

func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/oomkit/oomkit/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		if strings.HasPrefix(name, "internal/layering") {
			continue
		}
		ok, known := rule(name)
		for _, imp := range p.Imports {
			for _, h := range heavy {
				if strings.HasPrefix(imp, h) && !underAgent(name) {
					t.Errorf("%s imports %s: only internal/agent and its sub-packages may", name, imp)
				}
			}
			if slices.Contains(model, name) && slices.Contains(ioImports, imp) {
				t.Errorf("%s imports %s, but model packages do no I/O; move the reading to a package above it (as internal/kube/manifest)", name, imp)
			}
			dep, isOurs := strings.CutPrefix(imp, mod)
			if !isOurs {
				continue
			}
			if !known {
				t.Errorf("%s imports %s but has no entry in the layering table; add one (dependencies point down only)", name, dep)
				continue
			}
			if !permitted(ok, dep) && !strings.HasPrefix(dep, name+"/") {
				t.Errorf("%s may not import %s (DESIGN.md: dependencies point down only)", name, dep)
			}
		}
	}
}

// rule finds name's entry; a sub-package (internal/vm/cmd/x) follows its
// parent's entry and may also import its parent.
func rule(name string) ([]string, bool) {
	if r, ok := allowed[name]; ok {
		return r, true
	}
	for parent := name; strings.Contains(parent, "/"); {
		parent = parent[:strings.LastIndex(parent, "/")]
		if r, ok := allowed[parent]; ok {
			return append([]string{parent}, r...), true
		}
	}
	return nil, false
}

func permitted(list []string, dep string) bool {
	for _, a := range list {
		if a == dep || strings.HasPrefix(dep, a+"/") {
			return true
		}
	}
	return false
}

// testOnly are packages for tests; the oomkit binary must not link them
// (package testing registers flags and brings its runtime along).
var testOnly = []string{"testing", mod + "internal/kerneltest", mod + "internal/vm/vmtest", mod + "internal/watch/watchtest"}

// TestProductLinksNoTestCode: `go list -deps ./cmd/oomkit` lists none of
// the test-only packages.
func TestProductLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", mod+"cmd/oomkit").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, p := range testOnly {
		if slices.Contains(deps, p) {
			t.Errorf("cmd/oomkit links %s, a package for tests", p)
		}
	}
}

// apiGroups are the k8s.io/api packages the oomkit binary may link: the
// groups internal/agent/k8s.Client speaks (core, apps for ReplicaSets,
// batch for Jobs, events.k8s.io) and scheduling/v1alpha3, which
// batch/v1's Job types import.
var apiGroups = []string{"k8s.io/api/core/v1", "k8s.io/api/apps/v1", "k8s.io/api/batch/v1", "k8s.io/api/events/v1", "k8s.io/api/scheduling/v1alpha3"}

// fullClient are client-go packages whose scheme or models cover every API
// group: linked, they take the binary from ~40 MB to ~77 MB and every
// oomkit process's start RSS from ~21 MiB to ~38 MiB (BENCHMARKS.md, "The
// agent's Kubernetes client").
var fullClient = []string{"k8s.io/client-go/kubernetes", "k8s.io/client-go/applyconfigurations", "k8s.io/client-go/gentype", "k8s.io/client-go/discovery", "k8s.io/client-go/openapi", "github.com/google/gnostic-models"}

// TestProductLinksSlimClient: cmd/oomkit links neither client-go's
// clientset (nor what comes with it) nor an API group it does not use.
func TestProductLinksSlimClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", mod+"cmd/oomkit").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "k8s.io/client-go/rest") || !slices.Contains(deps, "k8s.io/api/core/v1") {
		t.Fatalf("cmd/oomkit links no k8s.io/client-go/rest or k8s.io/api/core/v1; is this list right? %d packages", len(deps))
	}
	for _, d := range deps {
		for _, f := range fullClient {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("cmd/oomkit links %s: use internal/agent/k8s.Client, not client-go's clientset", d)
			}
		}
		if strings.HasPrefix(d, "k8s.io/api/") && !slices.Contains(apiGroups, d) {
			t.Errorf("cmd/oomkit links %s, an API group oomkit does not use (allowed: %v)", d, apiGroups)
		}
	}
}
