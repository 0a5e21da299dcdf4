package sim

import (
	"testing"
)

// TestMemoryQoSScenario checks the built-in MemoryQoS pod against numbers
// worked out by hand from the kubelet's and the kernel's code:
//   - memory.high = floor((256Mi + 0.9 × 768Mi) / 4096) × 4096 = 993210368
//     (generateLinuxContainerResources, 1.27+ formula);
//   - a 16 MiB block is 64 charge batches of 64 pages (MEMCG_CHARGE_BATCH,
//     6.1); a batch charged over high costs one "high" event, and when the
//     penalty is above HZ/100 reclaim is retried 16 times first (nothing
//     is reclaimable: anonymous memory, no swap), so 17 events; the block
//     that crosses 947.2 MiB at 944 MiB has (960 − 947.2) MiB / 256 KiB =
//     51.2, so 52 batches over high, each with a penalty below 10 ms;
//   - nobody is killed until the pod reaches memory.max (1 GiB).
func TestMemoryQoSScenario(t *testing.T) {
	s, err := Builtin("memoryqos")
	if err != nil {
		t.Fatal(err)
	}
	var app *Cgroup
	for i := range s.Cgroups {
		if c := &s.Cgroups[i]; len(c.Path) > 4 && c.Path[len(c.Path)-4:] == "/app" {
			app = c
		}
	}
	if app == nil || app.MemoryHighBytes != 993210368 {
		t.Fatalf("container cgroup %+v: want memory.high 993210368", app)
	}
	res, err := Run(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var highs []Event
	killAt := -1.0
	for _, ev := range res.Events {
		switch ev.Event {
		case EvHigh:
			if killAt >= 0 {
				t.Errorf("memory_high after the kill: %+v", ev)
			}
			highs = append(highs, ev)
		case EvOOMKill:
			killAt = ev.TSeconds
		}
	}
	if len(highs) < 3 || killAt < 0 {
		t.Fatalf("%d memory_high events, kill at %v: want several, then one kill", len(highs), killAt)
	}
	if n := *highs[0].NewHighEvents; n != 52 || *highs[0].ThrottledSeconds != 0 {
		t.Errorf("first block over high: %d events, %.3fs throttled; want 52 and 0", n, *highs[0].ThrottledSeconds)
	}
	for _, h := range highs[1:] {
		if *h.NewHighEvents != 64*17 || *h.ThrottledSeconds <= 0 {
			t.Errorf("block at %.1fs: %d events, %.2fs; want 1088 and a sleep", h.TSeconds, *h.NewHighEvents, *h.ThrottledSeconds)
		}
		if *h.UsageBytes >= 1<<30 {
			t.Errorf("usage %d at or above memory.max without a kill", *h.UsageBytes)
		}
	}
	// Throttling grows with the overage (the penalty is quadratic).
	for i := 2; i < len(highs); i++ {
		if *highs[i].ThrottledSeconds <= *highs[i-1].ThrottledSeconds {
			t.Errorf("throttle did not grow: %.2fs then %.2fs", *highs[i-1].ThrottledSeconds, *highs[i].ThrottledSeconds)
		}
	}
	if res.End.OOMKills == nil || *res.End.OOMKills != 1 {
		t.Errorf("end: %v OOM kills, want 1", res.End.OOMKills)
	}
}

// TestMemoryHighOnV1Refused: memory.high is a v2 file.
func TestMemoryHighOnV1Refused(t *testing.T) {
	y := `name: x
kernel: "6.1.0"
node: {memory: 1GiB, swap: 0, cgroup_version: 1}
cgroups:
  - {path: /a, memory_max: 100MiB, memory_high: 50MiB}
processes:
  - {name: p, pid: 10, cgroup: /a}
duration: 1s
`
	if _, err := Load("x.yaml", []byte(y)); err == nil {
		t.Error("memory_high on cgroup v1: want an error")
	}
}
