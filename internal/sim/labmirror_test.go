package sim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/mm"
)

// LabMirrors names the scenarios of internal/lab that testdata/lab
// mirrors: the same cgroup, limits, oom_score_adj, join order and
// allocation pattern, so the simulator's victim can be compared with the
// real kernel's (TestDifferentialLab).
var LabMirrors = []string{"container-limit", "twist-1", "twist-2", "adj-extremes", "child-not-init", "pod-limit"}

// LoadLabMirror loads testdata/lab/NAME.yaml.
func LoadLabMirror(t testing.TB, name string) *Scenario {
	t.Helper()
	path := filepath.Join("testdata", "lab", name+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Victims runs s and returns the names of the processes the OOM killer
// killed, in order.
func Victims(t testing.TB, s *Scenario) []string {
	t.Helper()
	res, err := Run(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range res.Events {
		if ev.Event == EvOOMKill {
			out = append(out, ev.Process)
		}
	}
	return out
}

// TestLabMirrors pins what the simulator predicts for each lab scenario
// under each era's rules; TestDifferentialLab then checks the era of
// this machine's kernel against the kernel itself.
func TestLabMirrors(t *testing.T) {
	tests := []struct {
		name                  string
		leader, clamp, signed []string
	}{
		{"container-limit", []string{"app"}, []string{"app"}, []string{"app"}},
		{"twist-1", []string{"main"}, []string{"helper"}, []string{"main"}},
		// After the helper goes, main keeps allocating and is next.
		{"twist-2", []string{"main"}, []string{"helper", "main"}, []string{"main"}},
		{"adj-extremes", []string{"adj-max", "allocator"}, []string{"adj-max", "allocator"}, []string{"adj-max", "allocator"}},
		{"child-not-init", []string{"child"}, []string{"child"}, []string{"child"}},
		// app fills the pod's limit: above 99.7% an adj −997 score is
		// positive, so even ≤5.2's first-scanned tie rule does not apply.
		{"pod-limit", []string{"app"}, []string{"app"}, []string{"app"}},
	}
	if len(tests) != len(LabMirrors) {
		t.Fatalf("%d cases for %d mirrors", len(tests), len(LabMirrors))
	}
	for _, tt := range tests {
		for kernel, want := range map[string][]string{"4.19.72": tt.leader, "5.4.0": tt.clamp, "6.1.0": tt.signed} {
			t.Run(tt.name+"@"+kernel, func(t *testing.T) {
				s := LoadLabMirror(t, tt.name)
				s.Kernel, _ = mm.ParseVersion(kernel)
				if diff := cmp.Diff(want, Victims(t, s)); diff != "" {
					t.Errorf("victims (-want +got):\n%s", diff)
				}
			})
		}
	}
}
