package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// runYAML loads and runs an inline scenario.
func runYAML(t *testing.T, y string) *Result {
	t.Helper()
	s, err := Load("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func kinds(r *Result) []string {
	var out []string
	for _, e := range r.Events {
		if e.Event != EvAlloc {
			out = append(out, e.Event+":"+e.Process+e.Pod)
		}
	}
	return out
}

// A small node where a writer fills RAM: global OOMs.
const globalBase = `kernel: "6.1.0"
node: {memory: 1GiB}
sysctl: {vm.overcommit_memory: 1, vm.panic_on_oom: PANIC, vm.oom_kill_allocating_task: ALLOC}
processes:
  - {name: big, pid: 10, actions: [{alloc: {block: 600MiB, touch: 100%}}]}
  - {name: small, pid: 11, start: 1s, actions: [{alloc: {block: 8MiB, touch: 100%, every: 10ms, repeat: 0}}]}
duration: 1m
`

func TestGlobalOOMPolicies(t *testing.T) {
	tests := []struct {
		name, panic, alloc string
		want               []string
	}{
		// The largest task dies, then the writer itself once alone.
		{"default", "0", "0", []string{"oom_kill:big", "oom_kill:small", "end:"}},
		// vm.oom_kill_allocating_task: the task that allocates dies, small as it is.
		{"allocating task", "0", "1", []string{"oom_kill:small", "end:"}},
		// vm.panic_on_oom=1 panics on a global OOM: the run ends.
		{"panic_on_oom", "1", "0", []string{"panic:", "end:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := replace(globalBase, "PANIC", tt.panic, "ALLOC", tt.alloc)
			r := runYAML(t, y)
			if diff := cmp.Diff(tt.want, kinds(r)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tt.panic == "1" {
				rep := r.Reports[0]
				if rep.PanicOnOOM != 1 || rep.Panic != "Out of memory: system-wide panic_on_oom is enabled" || !*r.End.Panicked {
					t.Errorf("panic report %q (%d), panicked %v", rep.Panic, rep.PanicOnOOM, *r.End.Panicked)
				}
			}
			if tt.alloc == "1" && (r.Events[len(r.Events)-2].AllocatingTask == nil || r.Reports[0].Victims[0].Message != msgAllocing) {
				t.Error("the kill should say oom_kill_allocating_task")
			}
		})
	}
}

func replace(s string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		out := ""
		for {
			j := indexOf(s, kv[i])
			if j < 0 {
				break
			}
			out += s[:j] + kv[i+1]
			s = s[j+len(kv[i]):]
		}
		s = out + s
	}
	return s
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

const memcgBase = `kernel: "KERNEL"
node: {memory: 4GiB, cgroup_version: CGV}
sysctl: {vm.overcommit_memory: 1, vm.panic_on_oom: PANIC}
cgroups:
  - {path: /pod, memory_max: 256MiB}
  - {path: /pod/ctr, oom_group: GROUP}
processes:
  - {name: init, pid: 10, cgroup: /pod/ctr, oom_score_adj: ADJ, actions: [{alloc: {block: 32MiB, touch: 100%}}]}
  - {name: worker, pid: 11, cgroup: /pod/ctr, oom_score_adj: ADJ, start: 1s, actions: [{alloc: {block: 8MiB, touch: 100%, every: 100ms, repeat: 0}}]}
duration: 1m
`

func TestMemcgOOMPolicies(t *testing.T) {
	tests := []struct {
		name                           string
		kernel, cgv, group, panic, adj string
		want                           []string
	}{
		{"worker dies", "6.1.0", "1", "false", "0", "0", []string{"oom_kill:worker", "end:"}},
		// memory.oom.group takes the whole container.
		{"group kill", "6.1.0", "2", "true", "0", "0", []string{"oom_kill:worker", "oom_kill:init", "end:"}},
		// panic_on_oom=1 ignores memcg OOMs; 2 panics on them too.
		{"panic_on_oom 1", "6.1.0", "1", "false", "1", "0", []string{"oom_kill:worker", "end:"}},
		{"panic_on_oom 2", "6.1.0", "1", "false", "2", "0", []string{"panic:", "end:"}},
		// Nothing eligible: 5.4 forces the charge over the limit, the
		// worker goes on until the node is full, and a global OOM with no
		// eligible task panics; 6.1 fails the charge and the worker is stuck.
		{"no victim 5.4", "5.4.0", "1", "false", "0", "-1000", []string{"panic:", "end:"}},
		{"no victim 6.1", "6.1.0", "1", "false", "0", "-1000", []string{"end:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := replace(memcgBase, "KERNEL", tt.kernel, "CGV", tt.cgv, "GROUP", tt.group, "PANIC", tt.panic, "ADJ", tt.adj)
			r := runYAML(t, y)
			if diff := cmp.Diff(tt.want, kinds(r)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			switch tt.name {
			case "group kill":
				if r.Reports[0].GroupKillPath != "/pod/ctr" || !r.Reports[0].Victims[1].GroupKill {
					t.Errorf("group kill path %q", r.Reports[0].GroupKillPath)
				}
			case "no victim 5.4":
				w := endProc(t, r, 11)
				last := r.Reports[len(r.Reports)-1]
				if w.ResidentBytes <= 256*mib || !r.Reports[0].NoKillable || last.Panic != "System is deadlocked on memory" {
					t.Errorf("worker resident %s, last panic %q: the charge should be forced past the 256MiB limit until the node deadlocks",
						bytesize.Format(w.ResidentBytes), last.Panic)
				}
			case "no victim 6.1":
				if w := endProc(t, r, 11); w.ResidentBytes > 256*mib || w.StopReason != StopRunning {
					t.Errorf("worker %s resident, stop %s: want stuck at the limit", bytesize.Format(w.ResidentBytes), w.StopReason)
				}
			}
		})
	}
}

// ≤ 5.0: the chosen parent's first, largest child dies instead.
func TestSacrificeChild(t *testing.T) {
	y := `kernel: "4.19.72"
node: {memory: 4GiB}
sysctl: {vm.overcommit_memory: 1}
cgroups: [{path: /c, memory_max: 512MiB}]
processes:
  - name: parent
    pid: 10
    cgroup: /c
    actions:
      - alloc: {block: 300MiB, touch: 100%}
      - fork: {name: kid, pid: 20, actions: [{alloc: {block: 16MiB, touch: 100%}}]}
  - {name: writer, pid: 30, cgroup: /c, start: 1s, actions: [{alloc: {block: 16MiB, touch: 100%, every: 100ms, repeat: 0}}]}
duration: 1m
`
	r := runYAML(t, y)
	k := events(r, EvOOMKill)
	if len(k) == 0 || k[0].PID != 20 || k[0].ChosenPID != 10 {
		t.Fatalf("first kill %+v: want the child 20 sacrificed for the chosen parent 10", k)
	}
	if rep := r.Reports[0]; rep.ChosenPID == nil || *rep.ChosenPID != 10 || rep.ChosenScore == nil {
		t.Errorf("report chosen %v score %v", rep.ChosenPID, rep.ChosenScore)
	}
	// 5.1 removed it: the parent itself dies.
	r = runYAML(t, replace(y, "4.19.72", "5.4.0"))
	if k := events(r, EvOOMKill); k[0].PID != 10 {
		t.Errorf("5.4 first kill %d, want the parent 10", k[0].PID)
	}
}

// Mappings charge Committed_AS by kind and mode (spec §1.3).
func TestMappingCharges(t *testing.T) {
	y := `kernel: "6.1.0"
node: {memory: 4GiB}
sysctl: {vm.overcommit_memory: MODE}
processes:
  - name: p
    pid: 10
    actions:
      - alloc: {block: 100MiB, mapping: MAP, touch: 10%}
      - fork: {pid: 11}
duration: 1m
`
	tests := []struct {
		mapping, mode       string
		committed, forkCost int64 // MiB
	}{
		{"private", "1", 100, 100},
		{"shared", "1", 100, 0},      // charged once, not VM_ACCOUNT
		{"noreserve", "1", 0, 0},     // MAP_NORESERVE honoured in mode 1
		{"noreserve", "2", 100, 100}, // ignored in mode 2
		{"tmpfs", "1", 10, 0},        // only the pages written
	}
	for _, tt := range tests {
		t.Run(tt.mapping+"/mode"+tt.mode, func(t *testing.T) {
			r := runYAML(t, replace(y, "MODE", tt.mode, "MAP", tt.mapping))
			a := events(r, EvAlloc)[0]
			if got := *a.CommittedASBytes / mib; got != tt.committed {
				t.Errorf("Committed_AS after the mmap = %d MiB, want %d", got, tt.committed)
			}
			f := events(r, EvFork)
			if len(f) != 1 || *f[0].ChargedBytes/mib != tt.forkCost {
				t.Errorf("fork = %+v, want %d MiB charged again", f, tt.forkCost)
			}
		})
	}
}

// tmpfs pages outlive the process that wrote them, and a refused tmpfs
// page is ENOSPC.
func TestTmpfs(t *testing.T) {
	r := runYAML(t, `kernel: "6.1.0"
node: {memory: 4GiB, swap: 0}
sysctl: {vm.overcommit_memory: 2, vm.overcommit_ratio: 10}
processes:
  - {name: w, pid: 10, actions: [{alloc: {block: 300MiB, mapping: tmpfs, touch: 100%}}, {alloc: {block: 300MiB, mapping: tmpfs, touch: 100%}}, {exit: {}}]}
duration: 1m
`)
	en := events(r, EvENOMEM)
	if len(en) != 1 || en[0].Errno != "ENOSPC" {
		t.Fatalf("enomem = %+v, want one ENOSPC (CommitLimit 409.6 MiB)", en)
	}
	if w := endProc(t, r, 10); w.StopReason != StopENOMEM {
		t.Errorf("stop %s", w.StopReason)
	}
}

// Swap: written pages beyond RAM go to swap, oldest process first.
func TestSwap(t *testing.T) {
	r := runYAML(t, `kernel: "6.1.0"
node: {memory: 1GiB, swap: 1GiB}
sysctl: {vm.overcommit_memory: 1}
processes:
  - {name: old, pid: 10, actions: [{alloc: {block: 512MiB, touch: 100%}}]}
  - {name: new, pid: 11, start: 1s, actions: [{alloc: {block: 768MiB, touch: 100%}}]}
duration: 1m
`)
	if len(events(r, EvOOMKill)) != 0 {
		t.Fatal("1.25 GiB fits in RAM + swap")
	}
	old, nw := endProc(t, r, 10), endProc(t, r, 11)
	if old.SwapBytes != 256*mib || nw.SwapBytes != 0 || *r.End.SwapUsedBytes != 256*mib {
		t.Errorf("swap: old %s new %s total %s; want the old process's 256MiB swapped", bytesize.Format(old.SwapBytes), bytesize.Format(nw.SwapBytes), bytesize.Format(*r.End.SwapUsedBytes))
	}
}

// JVM MaxRAMPercentage and Go's soft GOMEMLIMIT.
func TestRuntimes(t *testing.T) {
	r := runYAML(t, `kernel: "6.1.0"
node: {memory: 8GiB}
sysctl: {vm.overcommit_memory: 1}
cgroups: [{path: /j, memory_max: 1GiB}, {path: /g, memory_max: 1GiB}]
processes:
  - {name: java, pid: 10, cgroup: /j, runtime: jvm, jvm: {max_ram_percentage: 50}, actions: [{alloc: {block: 64MiB, every: 1s, repeat: 0}}]}
  - {name: goapp, pid: 11, cgroup: /g, runtime: go, go: {gomemlimit: 512MiB}, actions: [{alloc: {block: 64MiB, touch: 100%, every: 1s, repeat: 0}}]}
duration: 1m
`)
	java, goapp := endProc(t, r, 10), endProc(t, r, 11)
	if java.StopReason != StopRuntimeOOM || *java.HeapCeilingBytes != 512*mib || java.AllocatedBytes != 512*mib {
		t.Errorf("java: %s at %s allocated, ceiling %v; want runtime_oom at 512MiB", java.StopReason, bytesize.Format(java.AllocatedBytes), java.HeapCeilingBytes)
	}
	// GOMEMLIMIT is soft: the live heap grows through it to the kernel's limit.
	if goapp.StopReason != StopOOMKill || *goapp.HeapCeilingBytes != 512*mib {
		t.Errorf("go: %s, ceiling %v; want an OOM kill past the soft 512MiB", goapp.StopReason, goapp.HeapCeilingBytes)
	}
}

// Critical pods are not evicted; the next candidate is.
func TestEvictionSkipsCritical(t *testing.T) {
	r := runYAML(t, `kernel: "6.1.0"
node: {memory: 2GiB}
sysctl: {vm.overcommit_memory: 1}
kubelet: {}
pods:
  - {name: crit, critical: true, containers: [{name: c}]}
  - {name: be, containers: [{name: c}]}
processes:
  - {name: a, pod: crit, actions: [{alloc: {block: 1GiB, touch: 100%}}]}
  - {name: b, pod: be, actions: [{alloc: {block: 8MiB, touch: 100%, every: 1s, repeat: 0}}]}
duration: 5m
`)
	ev := events(r, EvEvict)
	if len(ev) == 0 || ev[0].Pod != "be" {
		t.Fatalf("evictions %+v: want be (crit is critical although bigger)", ev)
	}
}

// A plan of two billion back-to-back blocks stops at the step limit
// instead of running forever.
func TestStepLimit(t *testing.T) {
	s, err := Load("t.yaml", []byte(`kernel: "6.1.0"
node: {memory: 1GiB}
sysctl: {vm.overcommit_memory: 1}
processes: [{name: a, actions: [{alloc: {block: 1B, repeat: 2147483647}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	res, err := Run(s, Options{MaxSteps: 1000, OnEvent: func(*Event) { n++ }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || !*res.End.Truncated || n != 1001 {
		t.Errorf("truncated %v, %d events; want true and 1000 allocations + end", res.Truncated, n)
	}
}
