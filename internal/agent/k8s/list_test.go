package k8s

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestKillEventReadBack builds the Events the Publisher writes and reads
// them back as `oomkit events` does: every fact survives, and every JSON
// field of oomkit.kill-event/v1 is documented in docs/events.md.
func TestKillEventReadBack(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 18, 0, 0, 123456000, time.UTC)
	a := Attribution{Scope: "container", PodUID: "0057cc81-ea16-463a-96c2-fc74acfb9c47", Resolved: true, Namespace: "shop", Pod: "web-0", Container: "app", ContainerType: "regular"}
	k1 := kill("boot:1", t0, "/kubepods/burstable/pod0057cc81-ea16-463a-96c2-fc74acfb9c47/"+strings.Repeat("a", 64), RoleChild, 4242)
	k2 := k1
	k2.ID, k2.Time, k2.VictimPID = "boot:2", t0.Add(3*time.Second), 4243
	pod := podEvent("node-1", newGroup([]Kill{k1, k2}), a)
	pod.Namespace, pod.Name = "shop", "web-0.x"

	global := k1
	global.Global = true
	node := nodeEvent("node-1", newGroup([]Kill{global}), true, []Attribution{a})
	node.Name = "node-1.y"

	got := []KillEvent{killEvent(pod), killEvent(node)}
	str := func(s string) *string { return &s }
	pid := func(n int) *int { return &n }
	want := []KillEvent{{
		Schema: KillEventSchema, Time: "2026-12-04T18:00:00.123456Z", LastTime: "2026-12-04T18:00:03.123456Z", Kills: 2,
		Reason: "OOMKillChild", Kind: "Pod", Namespace: str("shop"), Pod: str("web-0"), PodUID: str(a.PodUID), Container: str("app"),
		Node: str("node-1"), VictimRole: "child", VictimPID: pid(4242), VictimComm: str("python3"),
		Why:     "OOM kill of child process python3 (pid 4242) in container app at the container's 128 MiB limit: the container keeps running, and Kubernetes does not report this kill. 2 kills of this container from 2026-12-04T18:00:00Z to 2026-12-04T18:00:03Z.",
		Note:    pod.Note,
		PodsHit: []string{}, Event: "shop/web-0.x",
	}, {
		Schema: KillEventSchema, Time: "2026-12-04T18:00:00.123456Z", LastTime: "2026-12-04T18:00:00.123456Z", Kills: 1,
		Reason: "OOMKillGlobal", Kind: "Node", PodUID: nil, Node: str("node-1"), VictimRole: "child", VictimPID: pid(4242), VictimComm: str("python3"),
		Why:     "Node out of memory: the kernel killed python3 (pid 4242) in shop/web-0/app.",
		Note:    node.Note,
		PodsHit: []string{"shop/web-0/app"}, Event: "default/node-1.y",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	doc, err := os.ReadFile("../../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for k := range m {
		if !strings.Contains(string(doc), "| `"+k+"` |") {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/events.md does not document %q", missing)
	}
}
