package k8s

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/visible"
)

// Event reasons.
const (
	// ReasonOOMKill: on a Pod, its container's main process (or the whole
	// container) was killed; Kubernetes also reports OOMKilled. On a Node,
	// a process outside any pod was killed at a cgroup limit, or a pod's
	// process whose pod is no longer known.
	ReasonOOMKill = "OOMKill"
	// ReasonOOMKillChild: on a Pod, a child process was killed and the
	// container keeps running — the kill Kubernetes never reports.
	ReasonOOMKillChild = "OOMKillChild"
	// ReasonOOMKillGlobal: on a Node, the node ran out of memory (global
	// OOM); the note names the pods hit.
	ReasonOOMKillGlobal = "OOMKillGlobal"
)

// Reasons are every reason the agent writes.
var Reasons = []string{ReasonOOMKill, ReasonOOMKillChild, ReasonOOMKillGlobal}

// ReportingController is the Events' reportingController: `kubectl
// describe` shows it in the From column, and `oomkit events` selects on it.
const ReportingController = "oomkit.io/agent"

// Event annotations and labels: the facts `oomkit events` reads back.
const (
	LabelNode            = "oomkit.io/node"       // the node (label value form, see nodeLabel)
	AnnotationNode       = "oomkit.io/node"       // the node's name
	AnnotationContainer  = "oomkit.io/container"  // the container's name
	AnnotationRole       = "oomkit.io/victim"     // main, child or unknown
	AnnotationVictimPID  = "oomkit.io/victim-pid" // the first kill's victim pid
	AnnotationVictimComm = "oomkit.io/victim-comm"
	AnnotationWhy        = "oomkit.io/why"      // the one-line headline
	AnnotationKills      = "oomkit.io/kills"    // how many kills the Event stands for
	AnnotationKillIDs    = "oomkit.io/kill-ids" // their ID hashes, space-separated
	AnnotationPods       = "oomkit.io/pods"     // a Node Event's pods hit, "ns/pod[/container]" space-separated
	AnnotationPodUID     = "oomkit.io/pod-uid"  // the pod UID the cgroup path carries
)

// NoteLimit is the longest note the API server accepts: NoteLengthLimit,
// k8s.io/kubernetes pkg/apis/core/validation/events.go (checked against
// len(), so bytes), for every Event with an eventTime.
const NoteLimit = 1024

// maxIDsPerEvent bounds AnnotationKillIDs: 500 hashes of 17 bytes keep an
// Event under 10 KiB. Kills folded beyond that are counted, not listed
// (see the package doc on what that means after a restart).
const maxIDsPerEvent = 500

// killHash is the stable short form of a kill's ID on node: the first 64
// bits of SHA-256, in hex. Event names and AnnotationKillIDs carry it.
func killHash(node, id string) string {
	sum := sha256.Sum256([]byte(node + "\x00" + id))
	return hex.EncodeToString(sum[:8])
}

// nodeKillHash is killHash for the Node Event of a global kill, which
// the same kill's pod Event must not shadow.
func nodeKillHash(node, id string) string { return killHash(node, id+"\x00node") }

// eventName is the Event's name: the object's name, a dot, and the hash
// of the first kill it reports. Deterministic, so a second create of the same kill's Event
// — after a restart, a replay, or a retry whose first attempt did reach
// the server — is refused with AlreadyExists instead of doubling it.
func eventName(object, hash string) string {
	tail := "." + hash
	const max = 253 // NameIsDNSSubdomain
	if len(object) > max-len(tail) {
		object = strings.TrimRight(object[:max-len(tail)], ".-")
	}
	return object + tail
}

// nodeLabel turns a node name (a DNS subdomain, ≤ 253) into a label value
// (≤ 63): as it is when it fits, else its start and a hash.
func nodeLabel(node string) string {
	if len(node) <= 63 {
		return node
	}
	sum := sha256.Sum256([]byte(node))
	return strings.TrimRight(node[:46], ".-") + "-" + hex.EncodeToString(sum[:8])
}

// group is the kills one Event reports: one, or several of the same
// container and reason folded together while they waited to be written.
type group struct {
	kills []Kill // in arrival order; the first names the Event
	count int
	first time.Time
	last  time.Time
}

func newGroup(kills []Kill) *group {
	g := &group{kills: kills, count: len(kills)}
	for i, k := range kills {
		if i == 0 || k.Time.Before(g.first) {
			g.first = k.Time
		}
		if k.Time.After(g.last) {
			g.last = k.Time
		}
	}
	return g
}

// podEvent builds the Event for a group of kills in one pod's container.
func podEvent(node string, g *group, a Attribution) *eventsv1.Event {
	k := g.kills[0]
	reason := ReasonOOMKill
	if k.role() == RoleChild {
		reason = ReasonOOMKillChild
	}
	ev := baseEvent(node, g, killHash, eventName(a.Pod, killHash(node, k.ID)), a.Namespace, reason)
	ev.Regarding = corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: a.Namespace, Name: a.Pod,
		UID: types.UID(a.PodUID), FieldPath: a.FieldPath(),
	}
	ev.Related = &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
	if a.Container != "" {
		ev.Annotations[AnnotationContainer] = a.Container
	}
	ev.Annotations[AnnotationPodUID] = a.PodUID
	why := headline(g, a)
	ev.Annotations[AnnotationWhy] = why
	ev.Note = note(why, g)
	return ev
}

// nodeEvent builds the Node's Event: a global OOM naming the pods hit
// (pods, in the kills' order), or kills outside any known pod.
func nodeEvent(node string, g *group, global bool, pods []Attribution) *eventsv1.Event {
	k := g.kills[0]
	reason, hash := ReasonOOMKill, killHash
	if global {
		reason, hash = ReasonOOMKillGlobal, nodeKillHash
	}
	ev := baseEvent(node, g, hash, eventName(node, hash(node, k.ID)), metav1.NamespaceDefault, reason)
	// The kubelet refers to its Node by name, with the name as UID; so do
	// we, which needs no RBAC on Nodes.
	ev.Regarding = corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
	var names []string
	seen := map[string]bool{}
	for _, a := range pods {
		n := podWords(a)
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		ev.Annotations[AnnotationPods] = strings.Join(names, " ")
	}
	var why string
	switch {
	case global && len(names) > 0:
		why = fmt.Sprintf("Node out of memory: the kernel killed %s in %s.", k.victim(), strings.Join(names, ", "))
	case global:
		why = fmt.Sprintf("Node out of memory: the kernel killed %s (%s), in no pod.", k.victim(), orDash(k.CgroupPath))
	case len(names) > 0:
		why = fmt.Sprintf("OOM kill of %s in %s, a pod this node no longer knows.", k.victim(), names[0])
	default:
		why = fmt.Sprintf("OOM kill of %s in %s, outside any pod%s.", k.victim(), orDash(k.CgroupPath), limitWords(k, ""))
	}
	if g.count > 1 {
		why = strings.TrimSuffix(why, ".") + fmt.Sprintf(" (%d kills).", g.count)
	}
	ev.Annotations[AnnotationWhy] = why
	ev.Note = note(why, g)
	return ev
}

// baseEvent fills what every Event of the agent carries.
func baseEvent(node string, g *group, hash func(node, id string) string, name, namespace, reason string) *eventsv1.Event {
	k := g.kills[0]
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels: map[string]string{LabelNode: nodeLabel(node)},
			Annotations: map[string]string{
				AnnotationNode:  node,
				AnnotationRole:  string(k.role()),
				AnnotationKills: strconv.Itoa(g.count),
			},
		},
		EventTime:           metav1.NewMicroTime(g.first),
		ReportingController: ReportingController,
		ReportingInstance:   instance(node),
		Action:              "Killed",
		Reason:              reason,
		Type:                corev1.EventTypeWarning,
	}
	if k.VictimPID > 0 {
		ev.Annotations[AnnotationVictimPID] = strconv.Itoa(k.VictimPID)
	}
	if c := printable(k.VictimComm); c != "" {
		ev.Annotations[AnnotationVictimComm] = c
	}
	if g.count > 1 {
		ev.Series = &eventsv1.EventSeries{Count: int32(min(g.count, 1<<30)), LastObservedTime: metav1.NewMicroTime(g.last)}
	}
	hashes := make([]string, 0, min(len(g.kills), maxIDsPerEvent))
	for _, k := range g.kills[:min(len(g.kills), maxIDsPerEvent)] {
		hashes = append(hashes, hash(node, k.ID))
	}
	ev.Annotations[AnnotationKillIDs] = strings.Join(hashes, " ")
	return ev
}

// instance is the reportingInstance: "oomkit-agent-" + node, within the
// API's 128 characters.
func instance(node string) string {
	s := "oomkit-agent-" + node
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// headline is a pod Event's first sentence and `oomkit events`' one-line
// why: who died, at which limit, and what it means for the container.
func headline(g *group, a Attribution) string {
	k := g.kills[0]
	// Names from the API server are validated DNS labels; shown safe anyway.
	in := "in container " + orDash(printable(a.Container))
	if a.Container == "" {
		in = "in the pod"
	}
	var s string
	switch k.role() {
	case RoleMain:
		// A global OOM on cgroup v1 fires no memcg event in the container,
		// so the runtime says Error, not OOMKilled (spec/kubernetes.md §4.4).
		exit := "the container exits with code 137, reported OOMKilled."
		if k.Global {
			exit = "the container exits with code 137."
		}
		s = fmt.Sprintf("OOM kill of the main process %s %s%s: %s", k.victim(), in, limitWords(k, a.QOSClass), exit)
	case RoleChild:
		s = fmt.Sprintf("OOM kill of child process %s %s%s: the container keeps running, and Kubernetes does not report this kill.", k.victim(), in, limitWords(k, a.QOSClass))
	default:
		s = fmt.Sprintf("OOM kill of %s %s%s.", k.victim(), in, limitWords(k, a.QOSClass))
	}
	if k.Global {
		s = strings.Replace(s, "OOM kill of", "Node out of memory (global OOM): kill of", 1)
	}
	if g.count > 1 {
		s += fmt.Sprintf(" %d kills of this container from %s to %s.", g.count, g.first.UTC().Format(time.RFC3339), g.last.UTC().Format(time.RFC3339))
	}
	return s
}

// limitWords says which limit was hit: " at the container's 256 MiB limit".
func limitWords(k Kill, qos string) string {
	if k.Global || k.LimitCgroupPath == "" {
		return ""
	}
	size := ""
	if k.LimitBytes != nil {
		size = bytesize.Format(*k.LimitBytes) + " "
	}
	info, ok := kube.ParsePath(k.LimitCgroupPath)
	if !ok {
		return fmt.Sprintf(" at the %slimit of %s", size, k.LimitCgroupPath)
	}
	switch info.Scope {
	case kube.ScopeContainer:
		return " at the container's " + size + "limit"
	case kube.ScopePod:
		return " at the pod's " + size + "limit"
	case kube.ScopeQOS:
		if qos == "" {
			qos = info.QOSClass
		}
		return " at the " + size + "limit of the " + qos + " tier"
	}
	return " at the node's " + size + "allocatable limit (kubepods)"
}

// note is the Event's note: the headline, then the explanation's summary
// cut at a sentence so the whole fits NoteLimit.
func note(headline string, g *group) string {
	n := trimTo(headline, NoteLimit)
	sum := strings.TrimSpace(printableText(g.kills[0].Summary))
	if g.kills[0].Report == "missing" {
		sum = "The kernel's counters saw this kill, but its report was not in the kernel log (rate-limited or overwritten): the victim and the reason are unknown. " + sum
	}
	if sum == "" || len(n)+1 >= NoteLimit {
		return n
	}
	room := NoteLimit - len(n) - 1
	if len(sum) > room {
		sum = cutAtSentence(sum, room)
	}
	if sum == "" {
		return n
	}
	return n + " " + sum
}

// cutAtSentence shortens s to at most max bytes, ending with a whole
// sentence when one fits, else at a word, and marks the cut with "…".
func cutAtSentence(s string, max int) string {
	const more = " …"
	if max <= len(more) {
		return ""
	}
	cut := trimTo(s, max-len(more))
	if i := strings.LastIndex(cut, ". "); i > 0 {
		return cut[:i+1] + more
	}
	if i := strings.LastIndex(cut, " "); i > 0 {
		return cut[:i] + more
	}
	return cut + more
}

// trimTo cuts s to at most max bytes on a rune boundary.
func trimTo(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// printableText is printable for text whose line breaks are only layout.
func printableText(s string) string {
	return visible.String(strings.Join(strings.Fields(s), " "))
}

// podWords names a pod for a Node Event: "shop/checkout-1 (container app)",
// or its UID when the API server never knew it.
func podWords(a Attribution) string {
	switch {
	case a.Pod != "" && a.Container != "":
		return a.Namespace + "/" + a.Pod + "/" + printable(a.Container)
	case a.Pod != "":
		return a.Namespace + "/" + a.Pod
	case a.PodUID != "":
		return "pod-uid/" + a.PodUID
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
