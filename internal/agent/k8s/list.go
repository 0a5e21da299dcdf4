package k8s

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KillEventSchema is the schema of `oomkit events --json` lines.
const KillEventSchema = "oomkit.kill-event/v1"

// KillEvent is one of the agent's Events read back from the API server:
// the oomkit.kill-event/v1 JSON contract (docs/events.md). Values the
// Event does not carry are null.
type KillEvent struct {
	Schema string `json:"schema"`
	// Time is when the (first) kill happened, RFC 3339 with microseconds;
	// LastTime the last kill the Event stands for (= Time for one).
	Time     string `json:"time"`
	LastTime string `json:"last_time"`
	// Kills is how many kills the Event stands for (storms are folded).
	Kills int `json:"kills"`
	// Reason is OOMKill, OOMKillChild or OOMKillGlobal.
	Reason string `json:"reason"`
	// Kind is the Event's object: "Pod" or "Node".
	Kind       string  `json:"kind"`
	Namespace  *string `json:"namespace"`
	Pod        *string `json:"pod"`
	PodUID     *string `json:"pod_uid"`
	Container  *string `json:"container"`
	Node       *string `json:"node"`
	VictimRole string  `json:"victim_role"`
	VictimPID  *int    `json:"victim_pid"`
	VictimComm *string `json:"victim_comm"`
	// Why is the one-line headline; Note the Event's whole note.
	Why  string `json:"why"`
	Note string `json:"note"`
	// PodsHit are a global OOM's pods ("namespace/pod/container").
	PodsHit []string `json:"pods_hit"`
	// Event is the Event object, "namespace/name".
	Event string `json:"event"`
}

// ListOptions select the Events ListKillEvents returns.
type ListOptions struct {
	// Namespace limits the list to one namespace; "" is every namespace.
	Namespace string
	// Since drops Events whose last kill is older than Now − Since; 0
	// keeps all (the API server keeps Events for its --event-ttl, 1 h by
	// default).
	Since time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// ListKillEvents lists the agents' OOM kill Events, oldest first: one LIST
// (paged) selected on reportingController, so it costs the API server
// what `kubectl get events` does.
func ListKillEvents(ctx context.Context, client *Client, opts ListOptions) ([]KillEvent, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	lo := metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("reportingController", ReportingController).String(),
		Limit:         500,
	}
	var out []KillEvent
	for {
		list, err := client.Events(opts.Namespace).List(ctx, lo)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			ev := &list.Items[i]
			if !slices.Contains(Reasons, ev.Reason) {
				continue
			}
			ke := killEvent(ev)
			if opts.Since > 0 && lastTime(ev).Before(now().Add(-opts.Since)) {
				continue
			}
			out = append(out, ke)
		}
		if list.Continue == "" {
			break
		}
		lo.Continue = list.Continue
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out, nil
}

// lastTime is the Event's last kill (its series' last observation).
func lastTime(ev *eventsv1.Event) time.Time {
	if ev.Series != nil {
		return ev.Series.LastObservedTime.Time
	}
	if !ev.EventTime.IsZero() {
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

// killEvent reads one Event back.
func killEvent(ev *eventsv1.Event) KillEvent {
	an := ev.Annotations
	first := ev.EventTime.Time
	if first.IsZero() {
		first = ev.CreationTimestamp.Time
	}
	ke := KillEvent{
		Schema:     KillEventSchema,
		Time:       first.UTC().Format(time.RFC3339Nano),
		LastTime:   lastTime(ev).UTC().Format(time.RFC3339Nano),
		Kills:      1,
		Reason:     ev.Reason,
		Kind:       ev.Regarding.Kind,
		VictimRole: string(RoleUnknown),
		Why:        an[AnnotationWhy],
		Note:       ev.Note,
		PodsHit:    strings.Fields(an[AnnotationPods]),
		Event:      ev.Namespace + "/" + ev.Name,
	}
	if ev.Series != nil {
		ke.Kills = int(ev.Series.Count)
	}
	if n, err := strconv.Atoi(an[AnnotationKills]); err == nil && n > ke.Kills {
		ke.Kills = n
	}
	if r := an[AnnotationRole]; r != "" {
		ke.VictimRole = r
	}
	if ke.Why == "" {
		ke.Why, _, _ = strings.Cut(ev.Note, ". ")
	}
	if ev.Regarding.Kind == "Pod" {
		ke.Namespace, ke.Pod = strPtr(ev.Regarding.Namespace), strPtr(ev.Regarding.Name)
		ke.PodUID = strPtr(string(ev.Regarding.UID))
		ke.Container = strPtr(an[AnnotationContainer])
	} else if uid := an[AnnotationPodUID]; uid != "" {
		ke.PodUID = &uid
	}
	ke.Node = strPtr(an[AnnotationNode])
	if ke.Node == nil && ev.Regarding.Kind == "Node" {
		ke.Node = strPtr(ev.Regarding.Name)
	}
	if pid, err := strconv.Atoi(an[AnnotationVictimPID]); err == nil {
		ke.VictimPID = &pid
	}
	ke.VictimComm = strPtr(an[AnnotationVictimComm])
	if ke.PodsHit == nil {
		ke.PodsHit = []string{}
	}
	return ke
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ClientOptions say how to reach the API server, as kubectl does.
type ClientOptions struct {
	// Kubeconfig is a kubeconfig file; "" follows $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster service account.
	Kubeconfig string
	// Context is the kubeconfig context; "" the current one.
	Context string
	// OnRequest, when set, is told of every request the client sends:
	// its verb (GET, LIST, WATCH, POST, …) and resource (pods, events, …).
	OnRequest func(verb, resource string)
}

// NewClient builds a Client and returns it with the namespace the
// kubeconfig context names ("default" when it names none).
func NewClient(opts ClientOptions) (*Client, string, error) {
	cfg, ns, err := restConfig(opts)
	if err != nil {
		return nil, "", err
	}
	if opts.OnRequest != nil {
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return countingTransport{rt: rt, count: opts.OnRequest}
		}
	}
	c, err := NewClientForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("build a Kubernetes client: %w", err)
	}
	return c, ns, nil
}

// countingTransport tells count of every request it sends.
type countingTransport struct {
	rt    http.RoundTripper
	count func(verb, resource string)
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.count(RequestVerb(r), RequestResource(r.URL.Path))
	return c.rt.RoundTrip(r)
}

// RequestVerb is the API server's verb for r, as its audit log and
// apiserver_request_total name it: WATCH for a watch, LIST for a GET of a
// collection, else the HTTP method.
func RequestVerb(r *http.Request) string {
	q := r.URL.Query()
	switch w := q.Get("watch"); {
	case w == "true" || w == "1":
		return "WATCH"
	case r.Method == http.MethodGet && isCollection(r.URL.Path):
		return "LIST"
	}
	return r.Method
}

// isCollection reports whether an API path names a collection
// (/api/v1/pods, /apis/events.k8s.io/v1/namespaces/ns/events), not one
// object or a subresource.
func isCollection(path string) bool {
	segs := apiSegments(path)
	if len(segs) >= 2 && segs[0] == "namespaces" {
		segs = segs[2:]
	}
	return len(segs) == 1
}

// apiSegments are the segments of an API path after its group and
// version; nil for other paths.
func apiSegments(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		return segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		return segs[3:]
	}
	return nil
}

// RequestResource reads the resource out of an API path: /api/v1/pods,
// /api/v1/namespaces/ns/pods/name/status, /apis/events.k8s.io/v1/events;
// the path itself when it is none.
func RequestResource(path string) string {
	segs := apiSegments(path)
	switch {
	case len(segs) == 0:
		return path
	case segs[0] == "namespaces" && len(segs) >= 3:
		return segs[2]
	}
	return segs[0]
}

// restConfig loads the client configuration: the kubeconfig rules
// kubectl follows, then in-cluster.
func restConfig(opts ClientOptions) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		if _, err := os.Stat(opts.Kubeconfig); err != nil {
			return nil, "", fmt.Errorf("kubeconfig %s: %w", opts.Kubeconfig, err)
		}
		rules.ExplicitPath = opts.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			if in, ierr := rest.InClusterConfig(); ierr == nil {
				ns := "default"
				if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
					ns = strings.TrimSpace(string(b))
				}
				return in, ns, nil
			}
			return nil, "", errors.New("no Kubernetes configuration: give --kubeconfig, set KUBECONFIG, or run in a pod")
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	cfg.UserAgent = "oomkit"
	return cfg, ns, nil
}
