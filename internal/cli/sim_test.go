package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSimGolden pins sim's readable and JSON output on built-in scenarios
// (go test ./internal/cli -run SimGolden -update rewrites).
func TestSimGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"list", []string{"sim", "list"}},
		{"fig2", []string{"sim", "run", "fig2"}},
		{"fig3", []string{"sim", "run", "fig3"}},
		{"movie1", []string{"sim", "run", "movie1"}},
		{"fork-fails", []string{"sim", "run", "fork-fails"}},
		{"twist1", []string{"sim", "run", "twist1"}},
		{"twist1-6.1", []string{"sim", "run", "twist1", "--assume-kernel", "6.1.0"}},
		{"twist2-report", []string{"sim", "run", "twist2", "--report", "-"}},
		{"dotnet-limit-json", []string{"sim", "run", "dotnet-limit", "--json"}},
		{"eviction-order", []string{"sim", "run", "eviction-order"}},
		{"commit-limit", []string{"sim", "commit-limit", "--memory", "12GiB", "--swap", "4GiB", "--ratio", "50", "--committed", "4GiB"}},
		{"commit-limit-200", []string{"sim", "commit-limit", "--memory", "12GiB", "--swap", "4GiB", "--ratio", "200"}},
		{"commit-limit-json", []string{"sim", "commit-limit", "--memory", "12GiB", "--swap", "4GiB", "--kbytes", "4194304", "--hugetlb", "1GiB", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			golden(t, filepath.Join("testdata", "sim", tt.name+".golden"), []byte(out))
		})
	}
}

// TestSimExitCodes is the args → exit code → message table of sim.
func TestSimExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kernel: \"5.4.0\"\nnode: {memory: 1GiB}\nprocesses: [{name: a, actions: [{alloc: {block: 10XB}}]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("kernel: \"6.1\"\nnode: {memory: 1GiB}\nprocesses: [{name: a, actions: [{alloc: {block: 2GiB, touch: 100%}}]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"sim", "run", "fig3"}, 0, ""},
		{[]string{"sim", "run", good}, 0, ""},
		{[]string{"sim", "run", bad}, 1, "oomkit: " + bad + ": processes[0].actions[0].alloc.block: \"10XB\" is not a size: write bytes or a number with a binary unit, e.g. 4096, 100MiB, 1.5GiB, 64Mi\n"},
		{[]string{"sim", "run", "no-such"}, 1, "oomkit: no-such: no such file, and no built-in scenario of that name (built-ins: dotnet-limit, dotnet-nolimit, eviction-order, fig1, fig2, fig3, fig4, fork-fails, memoryqos, movie1, movie2, movie3, scenario1, twist1, twist2)\n"},
		{[]string{"sim", "run"}, 2, ""},
		{[]string{"sim", "run", "fig3", "--assume-kernel", "linux"}, 2, ""},
		{[]string{"sim", "run", "fig3", "--duration", "forever"}, 2, "oomkit: --duration \"forever\": want a duration such as 10m or 90s\n"},
		{[]string{"sim", "run", "fig3", "--nope"}, 2, ""},
		{[]string{"sim", "run", "fig3", "--report", filepath.Join(dir, "no", "such", "dir.log")}, 1, ""},
		{[]string{"sim", "commit-limit"}, 2, "oomkit: --memory is required (e.g. --memory 12GiB)\n"},
		{[]string{"sim", "commit-limit", "--memory", "12GB"}, 2, "oomkit: --memory: \"12GB\" is ambiguous (decimal or binary?): write 12GiB for 12×2^30 bytes, or 12000000000 for decimal\n"},
		{[]string{"sim", "commit-limit", "--memory", "12GiB", "--ratio", "50", "--kbytes", "10"}, 2, ""},
		{[]string{"sim", "show", "nope"}, 2, ""},
		{[]string{"sim", "run", "fig3", "--json", "--report", "-"}, 2, "oomkit: --report - would mix the kernel log into --json's JSON Lines: give --report a FILE\n"},
		{[]string{"sim", "show", "fig3"}, 0, ""},
		{[]string{"sim", "run", "-"}, 1, "oomkit: -: node.swapp: unknown key (known: memory, swap, hugetlb, cgroup_version)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, []byte("kernel: \"6.1\"\nnode: {memory: 1GiB, swapp: 1GiB}\n"), tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if tt.wantErr != "" && errOut != tt.wantErr {
				t.Errorf("stderr %q, want %q", errOut, tt.wantErr)
			}
			if strings.Count(errOut, "\n") > 1 {
				t.Errorf("error is more than one line: %q", errOut)
			}
		})
	}
}

// TestSimJSONSchema checks every record of every built-in: the schema name,
// snake_case keys, and an end record last with the fields the docs promise.
func TestSimJSONSchema(t *testing.T) {
	for _, name := range []string{"fig1", "fig3", "movie1", "fork-fails", "twist2", "dotnet-limit", "eviction-order"} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, "sim", "run", name, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<20)
			var last map[string]any
			for sc.Scan() {
				var rec map[string]any
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatalf("not JSON: %v: %s", err, sc.Text())
				}
				if rec["schema"] != "oomkit.sim/v1" {
					t.Fatalf("schema %v", rec["schema"])
				}
				for k := range rec {
					if k != strings.ToLower(k) || strings.Contains(k, "-") {
						t.Errorf("key %q is not snake_case", k)
					}
				}
				last = rec
			}
			if last["event"] != "end" {
				t.Fatalf("last record is %v, want end", last["event"])
			}
			for _, k := range []string{"commit_limit_bytes", "committed_as_bytes", "processes", "t_seconds"} {
				if _, ok := last[k]; !ok {
					t.Errorf("end record lacks %s", k)
				}
			}
			for _, p := range last["processes"].([]any) {
				pm := p.(map[string]any)
				for _, k := range []string{"allocated_bytes", "resident_bytes", "stop_reason", "heap_ceiling_bytes", "stop_t_seconds"} {
					if _, ok := pm[k]; !ok {
						t.Errorf("end process lacks %s", k)
					}
				}
			}
		})
	}
}

// TestSimReportExplain: what --report writes, explain reads back to the
// same victim.
func TestSimReportExplain(t *testing.T) {
	log := filepath.Join(t.TempDir(), "twist2.log")
	if code, _, errOut := runCLI(t, nil, "sim", "run", "twist2", "--report", log); code != 0 {
		t.Fatalf("sim: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, nil, "explain", "--json", log)
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, errOut)
	}
	var victims []int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Victims []struct {
				PID int `json:"pid"`
			} `json:"victims"`
			Analysis struct {
				Agrees *bool `json:"agrees"`
			} `json:"analysis"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		victims = append(victims, ev.Victims[0].PID)
		if ev.Analysis.Agrees == nil || !*ev.Analysis.Agrees {
			t.Errorf("explain does not agree with the simulated kernel on victim %d", ev.Victims[0].PID)
		}
	}
	if diff := cmp.Diff([]int{31082, 30548}, victims); diff != "" {
		t.Errorf("victims (-want +got):\n%s", diff)
	}
}
