package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/mm"
)

const minimal = `kernel: "5.4.0"
node: {memory: 1GiB}
`

// loadErrors are scenario files with one mistake each and the one-line
// error they must give. They also seed FuzzLoad.
var loadErrors = []struct {
	name, yaml, want string
}{
	{"empty", ``, "scenario.yaml: empty scenario (see docs/sim.md for the format)"},
	{"not a mapping", `- a`, "scenario.yaml: want a mapping of keys (kernel, node, processes, …), got a list"},
	{"no kernel", `node: {memory: 1GiB}`, `scenario.yaml: kernel: required: the kernel release whose rules apply (e.g. "5.4.0")`},
	{"bad kernel", `kernel: linux`, `scenario.yaml: kernel: kernel version "linux": want MAJOR.MINOR[.PATCH], e.g. 5.4.0 or 6.1.0-18-amd64`},
	{"kernel not modelled", `kernel: "999.1.0"`, `scenario.yaml: kernel: kernel version 999.1.0: oomkit models the OOM rules of kernels 2.6.36 to 6.18 (give a version in that range)`},
	{"kernel too old", `kernel: "2.4.0"`, `scenario.yaml: kernel: kernel version 2.4.0: oomkit models the OOM rules of kernels 2.6.36 to 6.18 (give a version in that range)`},
	{"no memory", `kernel: "5.4.0"`, "scenario.yaml: node.memory: required: the node's RAM (e.g. 12GiB)"},
	{"unknown top key", minimal + "nodes: {}\n", "scenario.yaml: nodes: unknown key (known: name, description, kernel, node, sysctl, baseline, kubelet, cgroups, pods, processes, duration)"},
	{"unknown nested key", minimal + "processes: [{name: a, actions: [{alloc: {blok: 1MiB}}]}]\n",
		"scenario.yaml: processes[0].actions[0].alloc.blok: unknown key (known: block, touch, every, repeat, mapping)"},
	{"bad size", minimal + "processes: [{name: a, actions: [{sleep: 1s}, {sleep: 1s}, {alloc: {block: 10XB}}]}]\n",
		`scenario.yaml: processes[0].actions[2].alloc.block: "10XB" is not a size: write bytes or a number with a binary unit, e.g. 4096, 100MiB, 1.5GiB, 64Mi`},
	{"decimal unit", `kernel: "5.4.0"
node: {memory: 12GB}`, `scenario.yaml: node.memory: "12GB" is ambiguous (decimal or binary?): write 12GiB for 12×2^30 bytes, or 12000000000 for decimal`},
	{"bad duration", minimal + "processes: [{name: a, start: 5 sec}]\n", `scenario.yaml: processes[0].start: "5 sec" is not a duration (use e.g. 10s, 1m30s or 500ms)`},
	{"bad touch", minimal + "processes: [{name: a, actions: [{alloc: {block: 1MiB, touch: 0.5}}]}]\n",
		`scenario.yaml: processes[0].actions[0].alloc.touch: "0.5" needs a % sign: write 0.5% (a bare number could be a fraction)`},
	{"bad mapping", minimal + "processes: [{name: a, actions: [{alloc: {block: 1MiB, mapping: huge}}]}]\n",
		`scenario.yaml: processes[0].actions[0].alloc.mapping: "huge" is not a mapping (private, shared, noreserve or tmpfs)`},
	{"forever without interval", minimal + "processes: [{name: a, actions: [{alloc: {block: 1MiB, repeat: 0}}]}]\n",
		"scenario.yaml: processes[0].actions[0].alloc.every: required when repeat is 0 (allocate until stopped), e.g. every: 1s"},
	{"undefined cgroup", minimal + "processes: [{name: a, cgroup: /kubepods/pod9}]\n", `scenario.yaml: processes[0].cgroup: "/kubepods/pod9" is not defined under cgroups`},
	{"child larger than parent", minimal + "cgroups:\n  - {path: /kubepods/pod1, memory_max: 1GiB}\n  - {path: /kubepods/pod1/app, memory_max: 2GiB}\n",
		"scenario.yaml: cgroups[1].memory_max: 2 GiB is larger than its parent's limit (1 GiB under /kubepods/pod1): the child can never use it"},
	{"duplicate cgroup", minimal + "cgroups: [{path: /a}, {path: /a}]\n", "scenario.yaml: cgroups[1].path: /a is listed twice"},
	{"relative cgroup", minimal + "cgroups: [{path: a/b}]\n", `scenario.yaml: cgroups[0].path: "a/b" must be absolute (start with /)`},
	{"oom_group on v1", minimal + "cgroups: [{path: /a, oom_group: true}]\n", "scenario.yaml: cgroups[0].oom_group: memory.oom.group exists only on cgroup v2 (set node.cgroup_version: 2)"},
	{"duplicate pid", minimal + "processes: [{name: a, pid: 100}, {name: b, pid: 100}]\n", "scenario.yaml: processes[1].pid: 100 is already the pid of processes[0].pid"},
	{"adj out of range", minimal + "processes: [{name: a, oom_score_adj: -1001}]\n", "scenario.yaml: processes[0].oom_score_adj: -1001 is out of range [-1000, 1000]"},
	{"bad sysctl", minimal + "sysctl: {vm.overcommit_memory: 3}\n", "scenario.yaml: sysctl.vm.overcommit_memory: 3 is out of range [0, 2]"},
	{"unknown sysctl", minimal + "sysctl: {vm.swappiness: 10}\n", "scenario.yaml: sysctl.vm.swappiness: unknown key (known: vm.admin_reserve_kbytes, vm.oom_kill_allocating_task, vm.overcommit_kbytes, vm.overcommit_memory, vm.overcommit_ratio, vm.panic_on_oom, vm.user_reserve_kbytes)"},
	{"undefined pod", minimal + "processes: [{name: a, pod: web}]\n", `scenario.yaml: processes[0].pod: "web" is not defined under pods`},
	{"pod and cgroup", minimal + "pods: [{name: web, containers: [{name: app}]}]\nprocesses: [{name: a, pod: web, cgroup: /x}]\n", "scenario.yaml: processes[0].cgroup: give either cgroup or pod/container, not both"},
	{"request above limit", minimal + "pods: [{name: web, containers: [{name: app, requests: {memory: 2Gi}, limits: {memory: 1Gi}}]}]\n",
		"scenario.yaml: pods[0].containers[0].requests.memory: 2 GiB is more than limits.memory (1 GiB)"},
	{"knobs for another runtime", minimal + "processes: [{name: a, dotnet: {heap_hard_limit_percent: 50}}]\n",
		"scenario.yaml: processes[0].dotnet: knobs for dotnet, but runtime is native (set runtime: dotnet)"},
	{"dotnet percent 100", minimal + "processes: [{name: a, runtime: dotnet, dotnet: {heap_hard_limit_percent: 100}}]\n",
		"scenario.yaml: processes[0].dotnet.heap_hard_limit_percent: must be from 1 to 99: the GC ignores other values (if ((percent_of_mem > 0) && (percent_of_mem < 100)))"},
	{"two actions in one item", minimal + "processes: [{name: a, actions: [{sleep: 1s, exit: {}}]}]\n",
		"scenario.yaml: processes[0].actions[0]: want one of alloc, fork, sleep, sysctl, exit (e.g. - sleep: 5s)"},
	{"too large for the simulator", `kernel: "5.4.0"
node: {memory: 5EiB}`, `scenario.yaml: node.memory: "5EiB" is more than the simulator takes (4EiB)`},
	{"size overflows", `kernel: "5.4.0"
node: {memory: 9223372036854775808}`, `scenario.yaml: node.memory: "9223372036854775808" is too large: at most 8EiB (2^63-1 bytes)`},
	{"negative size", `kernel: "5.4.0"
node: {memory: -1GiB}`, `scenario.yaml: node.memory: "-1GiB" is negative: a size is 0 or more bytes`},
	{"pod memory is a Kubernetes quantity", minimal + "pods: [{name: web, containers: [{name: app, limits: {memory: 1e400}}]}]\n",
		`scenario.yaml: pods[0].containers[0].limits.memory: "1e400" is too large: at most 8Ei−1 bytes`},
	{"pod memory in milli", minimal + "pods: [{name: web, containers: [{name: app, limits: {memory: 512m}}]}]\n",
		`scenario.yaml: pods[0].containers[0].limits.memory: "512m" is not a whole number of bytes (in a Kubernetes quantity m is milli: 100m is a tenth of a byte; write 100Mi or 100M)`},
	{"eviction percent", minimal + "kubelet: {eviction_hard: memory.available<5%}\n",
		`scenario.yaml: kubelet.eviction_hard: "memory.available<5%": percentages are not simulated; give a size (e.g. memory.available<100Mi)`},
	{"bad kubelet version", minimal + "kubelet: {version: \"2.0\"}\n", `scenario.yaml: kubelet.version: "2.0" is not a Kubernetes release oomkit models (e.g. "1.30")`},
	{"alias", minimal + "x: &a 1\n", "scenario.yaml: x: unknown key (known: name, description, kernel, node, sysctl, baseline, kubelet, cgroups, pods, processes, duration)"},
	{"key twice", minimal + "duration: 1s\nduration: 2s\n", "scenario.yaml: duration: given twice"},
	{"two documents", minimal + "---\n" + minimal, "scenario.yaml: more than one YAML document; put one scenario in a file"},
	{"yaml syntax", "kernel: [", "scenario.yaml: line 1: did not find expected node content"},
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range loadErrors {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("scenario.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("the error must be one line")
			}
		})
	}
}

func TestLoadScenario(t *testing.T) {
	s, err := Load("s.yaml", []byte(`kernel: "5.4.0"
node: {memory: 12GiB, swap: 4GiB, hugetlb: 0}
sysctl: {vm.overcommit_memory: 2, vm.overcommit_ratio: 50, vm.overcommit_kbytes: 0, vm.oom_kill_allocating_task: 0, vm.panic_on_oom: 0}
baseline: {committed: 4GiB, resident: 1GiB}
kubelet: {version: "1.30", eviction_hard: "memory.available<100Mi", housekeeping: 10s}
cgroups:
  - {path: /kubepods/pod1, memory_max: 1GiB, oom_group: false}
pods: []
processes:
  - name: leak
    pid: 100
    cgroup: /kubepods/pod1
    oom_score_adj: -997
    runtime: native
    start: 0s
    actions:
      - alloc: {block: 100MiB, touch: 50%, every: 1s, repeat: 0, mapping: private}
      - fork: {}
      - sleep: 5s
`))
	if err != nil {
		t.Fatal(err)
	}
	adj := -997
	want := &Scenario{
		Kernel:   mm.Version{Major: 5, Minor: 4, Raw: "5.4.0"},
		Node:     Node{MemoryBytes: 12 * gib, SwapBytes: 4 * gib},
		Sysctl:   Sysctl{OvercommitMemory: 2, OvercommitRatio: 50, AdminReserveKB: -1, UserReserveKB: -1},
		Baseline: Baseline{CommittedBytes: 4 * gib, ResidentBytes: 1 * gib},
		Kubelet:  &Kubelet{Version: "1.30", EvictionHardBytes: 100 * mib, Housekeeping: 10 * time.Second},
		Cgroups:  []Cgroup{{Path: "/kubepods", MemoryMaxBytes: Unlimited, SwapMaxBytes: Unlimited}, {Path: "/kubepods/pod1", MemoryMaxBytes: gib, SwapMaxBytes: Unlimited}},
		Duration: DefaultDuration,
		Processes: []Process{{Name: "leak", PID: 100, Cgroup: "/kubepods/pod1", OOMScoreAdj: &adj, Runtime: Runtime{Kind: RuntimeNative},
			Actions: []Action{{Kind: ActAlloc, Alloc: &Alloc{BlockBytes: 100 * mib, TouchPercent: 50, Every: time.Second, Repeat: 0, Mapping: mm.MapPrivate}},
				{Kind: ActFork, Fork: &Fork{}}, {Kind: ActSleep, Sleep: 5 * time.Second}}}},
	}
	if diff := cmp.Diff(want, s, cmp.AllowUnexported(Cgroup{}, Process{})); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestPods(t *testing.T) {
	s, err := Load("s.yaml", []byte(minimal+`pods:
  - name: g
    uid: aaaa-1111
    containers: [{name: app, requests: {memory: 256Mi, cpu: 100m}, limits: {memory: 256Mi, cpu: 100m}}]
  - name: b
    uid: bbbb-2222
    containers: [{name: app, requests: {memory: 256Mi}}, {name: side, limits: {memory: 128Mi}}]
  - name: be
    uid: cccc-3333
    containers: [{name: app}]
processes:
  - {name: g, pod: g}
  - {name: b, pod: b, container: app}
  - {name: be, pod: be}
`))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name, Cgroup string
		Adj          int
	}
	var got []row
	for _, p := range s.Processes {
		got = append(got, row{p.Name, p.Cgroup, *p.OOMScoreAdj})
	}
	want := []row{
		{"pause", "/kubepods/podaaaa-1111/pause", -998},
		{"pause", "/kubepods/burstable/podbbbb-2222/pause", -998},
		{"pause", "/kubepods/besteffort/podcccc-3333/pause", -998},
		{"g", "/kubepods/podaaaa-1111/app", -997},
		// 1000 − 1000 × 256 MiB / 1 GiB.
		{"b", "/kubepods/burstable/podbbbb-2222/app", 750},
		{"be", "/kubepods/besteffort/podcccc-3333/app", 1000},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod processes (-want +got):\n%s", diff)
	}
	limits := map[string]int64{}
	for _, c := range s.Cgroups {
		limits[c.Path] = c.MemoryMaxBytes
	}
	// A kubelet older than 1.20 gave Guaranteed pods −998.
	old, err := Load("s.yaml", []byte(minimal+`kubelet: {version: "1.19"}
pods: [{name: g, containers: [{name: app, requests: {memory: 256Mi, cpu: 100m}, limits: {memory: 256Mi, cpu: 100m}}]}]
processes: [{name: g, pod: g}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if adj := *old.Processes[1].OOMScoreAdj; adj != -998 {
		t.Errorf("kubelet 1.19 Guaranteed adj = %d, want -998", adj)
	}
	if limits["/kubepods/podaaaa-1111"] != 256*mib || limits["/kubepods/burstable/podbbbb-2222"] != Unlimited ||
		limits["/kubepods/burstable/podbbbb-2222/side"] != 128*mib {
		t.Errorf("pod limits: %v", limits)
	}
}

// FuzzLoad feeds arbitrary YAML to the loader and runs what loads for a
// bounded number of steps: neither may panic, and every refusal is one
// line naming the file.
func FuzzLoad(f *testing.F) {
	for _, tt := range loadErrors {
		f.Add([]byte(tt.yaml))
	}
	for _, b := range Builtins() {
		data, _ := BuiltinYAML(b.Name)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Load("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one line naming the file: %q", err)
			}
			return
		}
		if _, err := Run(s, Options{MaxSteps: 2000, OnEvent: func(*Event) {}}); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("run error with a newline: %q", err)
		}
	})
}

// TestSizeSyntax: a container's memory is a Kubernetes quantity (G is 10^9,
// as the API server reads it), every other size is oomkit's (binary units).
func TestSizeSyntax(t *testing.T) {
	s, err := Load("s.yaml", []byte(minimal+`pods: [{name: web, containers: [{name: app, requests: {memory: 1G}, limits: {memory: 1.5Gi}}]}]
processes: [{name: a, pod: web, container: app, actions: [{alloc: {block: 1.5GiB, touch: 12.5%}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Pods[0].Containers[0]
	if c.RequestBytes != 1_000_000_000 || c.LimitBytes != 1_610_612_736 {
		t.Errorf("request %d, limit %d; want 1000000000 and 1610612736", c.RequestBytes, c.LimitBytes)
	}
	var a *Alloc
	for _, p := range s.Processes {
		if p.Name == "a" {
			a = p.Actions[0].Alloc
		}
	}
	if a.BlockBytes != 1_610_612_736 || a.TouchPercent != 12.5 {
		t.Errorf("block %d, touch %v; want 1610612736 and 12.5", a.BlockBytes, a.TouchPercent)
	}
}
