package k8s

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/oomlog"
)

func TestEventNameValid(t *testing.T) {
	long := strings.Repeat("a", 240) + "-" + strings.Repeat("b", 12)
	for _, object := range []string{"web-0", "checkout-7d9f8b6c5-x2x7k", long, strings.Repeat("x", 253), "a.b.c"} {
		name := eventName(object, killHash("node-1", "boot:1"))
		if errs := validation.NameIsDNSSubdomain(name, false); len(errs) > 0 {
			t.Errorf("eventName(%.20q…) = %q: %v", object, name, errs)
		}
	}
	if a, b := killHash("n", "id"), killHash("n", "id"); a != b {
		t.Errorf("killHash is not deterministic: %s, %s", a, b)
	}
	if killHash("n1", "id") == killHash("n2", "id") || killHash("n", "id") == nodeKillHash("n", "id") {
		t.Error("killHash does not separate nodes, or pod and Node Events")
	}
}

func TestNodeLabelValid(t *testing.T) {
	for _, node := range []string{"node-1", "ip-10-0-0-1.ec2.internal", strings.Repeat("n", 63), strings.Repeat("a.", 100) + "b"} {
		v := nodeLabel(node)
		if errs := utilvalidation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("nodeLabel(%.20q…) = %q: %v", node, v, errs)
		}
	}
	if a, b := nodeLabel(strings.Repeat("a", 70)+"1"), nodeLabel(strings.Repeat("a", 70)+"2"); a == b {
		t.Error("two long node names share a label value")
	}
}

// TestNoteFits checks the note against the API's limit with a summary
// longer than it, multi-byte runes at the cut, and a hostile process name.
func TestNoteFits(t *testing.T) {
	sentence := "The kernel killed dötnet (pid 14300, 169 MiB resident) — ünïcödé everywhere. "
	sum := strings.Repeat(sentence, 40)
	limit := int64(256 << 20)
	k := Kill{ID: "b:1", Time: time.Unix(1700000000, 0), VictimPID: 7, VictimComm: "a\nb\x00\xff(c)", Role: RoleChild,
		LimitCgroupPath: "/kubepods/burstable/pod0057cc81-ea16-463a-96c2-fc74acfb9c47/" + strings.Repeat("e", 64), LimitBytes: &limit, Summary: sum}
	g := newGroup([]Kill{k})
	a := Attribution{Pod: "web-0", Namespace: "shop", Container: "app", ContainerType: "regular", PodUID: "0057cc81-ea16-463a-96c2-fc74acfb9c47"}
	ev := podEvent("node-1", g, a)
	if len(ev.Note) > NoteLimit {
		t.Errorf("note is %d bytes, over %d", len(ev.Note), NoteLimit)
	}
	if !utf8.ValidString(ev.Note) || strings.ContainsAny(ev.Note, "\n\x00") {
		t.Errorf("note is not clean text: %q", ev.Note)
	}
	if !strings.HasSuffix(ev.Note, "ünïcödé everywhere. …") {
		t.Errorf("note is not cut after a whole sentence: …%q", ev.Note[len(ev.Note)-60:])
	}
	wantHead := `OOM kill of child process a\x0ab\x00\xff(c) (pid 7) in container app at the container's 256 MiB limit: the container keeps running`
	if !strings.HasPrefix(ev.Note, wantHead) {
		t.Errorf("note starts %q, want %q", ev.Note[:min(len(ev.Note), 160)], wantHead)
	}
	if ev.Reason != ReasonOOMKillChild || ev.Regarding.FieldPath != "spec.containers{app}" || ev.Namespace != "shop" {
		t.Errorf("reason %s, field path %s, namespace %s", ev.Reason, ev.Regarding.FieldPath, ev.Namespace)
	}
}

func TestFieldPath(t *testing.T) {
	for typ, want := range map[string]string{
		"regular": "spec.containers{c}", "init": "spec.initContainers{c}", "sidecar": "spec.initContainers{c}",
		"ephemeral": "spec.ephemeralContainers{c}",
	} {
		a := Attribution{Container: "c", ContainerType: typ}
		if got := a.FieldPath(); got != want {
			t.Errorf("%s: FieldPath %q, want %q", typ, got, want)
		}
	}
}

// TestKillFromEvent fills a Kill from a real report bundled with oomkit
// (twist-1: a Guaranteed pod's pod-level limit, dotnet pid 14300 killed),
// read by hand: samples/twist-1.log.
func TestKillFromEvent(t *testing.T) {
	f, err := explain.Sample("twist-1")
	if err != nil {
		t.Fatal(err)
	}
	sc := oomlog.NewScanner(bytes.NewReader(f), oomlog.Options{})
	if !sc.Scan() {
		t.Fatalf("no report in twist-1: %v", sc.Err())
	}
	e := explain.Explain(sc.Report(), explain.Options{File: "sample:twist-1"})
	at := time.Date(2024, 1, 16, 21, 33, 51, 0, time.UTC)
	k := KillFromEvent("boot:42", at, &e, RoleUnknown)
	if k.VictimPID != 14300 || k.VictimComm != "dotnet" || k.Global || k.Constraint != "CONSTRAINT_MEMCG" {
		t.Errorf("victim %s/%d global %v constraint %s", k.VictimComm, k.VictimPID, k.Global, k.Constraint)
	}
	if k.LimitCgroupPath != "/kubepods/pod3b5e63f1-b571-407f-be00-461ed99e968f" || k.LimitBytes == nil || *k.LimitBytes != 1<<30 {
		t.Errorf("limit %s %v", k.LimitCgroupPath, k.LimitBytes)
	}
	if !strings.Contains(k.CgroupPath, "pod3b5e63f1-b571-407f-be00-461ed99e968f/") {
		t.Errorf("cgroup path %s is not the victim's container", k.CgroupPath)
	}
	if got := limitWords(k, ""); got != " at the pod's 1 GiB limit" {
		t.Errorf("limitWords = %q", got)
	}
}

// FuzzPodEvent: whatever the process name, the summary and the pod's
// names, the Event's name is a valid DNS subdomain (for a valid pod name),
// the note fits the API's limit, and nothing in it or the annotations is a
// control character or invalid UTF-8.
func FuzzPodEvent(f *testing.F) {
	f.Add("python3", "The kernel killed python3 (pid 7). It had the most points.", "web-0", uint16(300))
	f.Add("Plex Media Server", strings.Repeat("ünïcödé. ", 200), strings.Repeat("a", 253), uint16(0))
	f.Add("(resolved)", "\x1b[31mred\x1b[0m\nnext line\x00", "x", uint16(1024))
	f.Add("\xff\xfe", "", "a.b-c", uint16(65535))
	f.Fuzz(func(t *testing.T, comm, summary, pod string, pad uint16) {
		k := Kill{ID: "boot:" + pod, Time: time.Unix(1700000000, 0), VictimPID: 7, VictimComm: comm, Role: RoleChild,
			LimitCgroupPath: "/kubepods/burstable/pod0057cc81-ea16-463a-96c2-fc74acfb9c47", Summary: strings.Repeat("x", int(pad)%2000) + summary}
		a := Attribution{Pod: pod, Namespace: "ns", Container: comm, ContainerType: "regular", PodUID: "0057cc81-ea16-463a-96c2-fc74acfb9c47"}
		ev := podEvent("node-1", newGroup([]Kill{k}), a)
		if len(ev.Note) > NoteLimit {
			t.Fatalf("note of %d bytes", len(ev.Note))
		}
		if len(validation.NameIsDNSSubdomain(pod, false)) == 0 {
			if errs := validation.NameIsDNSSubdomain(ev.Name, false); len(errs) > 0 {
				t.Fatalf("name %q: %v", ev.Name, errs)
			}
		}
		for _, s := range append([]string{ev.Note}, ev.Annotations[AnnotationVictimComm], ev.Annotations[AnnotationWhy]) {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) }) {
				t.Fatalf("not clean: %q", s)
			}
		}
	})
}
