package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/visible"
)

// eventsConfig is what the events command's flags say.
type eventsConfig struct {
	allNamespaces bool
	namespace     string
	since         time.Duration
	node          string
	json          bool
	kubeconfig    string
	context       string
	now           func() time.Time // tests
}

// newEventsCommand is `oomkit events`.
func newEventsCommand(s *streams) *cobra.Command {
	cfg := eventsConfig{now: time.Now}
	cmd := &cobra.Command{
		Use:   "events [-A | -n NAMESPACE] [--since 1h] [--json]",
		Short: "The cluster's recent OOM kills, from the Kubernetes Events oomkit's agents wrote",
		Long: `events lists the OOM kills oomkit's agents (the DaemonSet, deploy/) reported
as Kubernetes Events: for each, the pod and container, the node, whether the
victim was the container's main process (the container restarted, reason
OOMKill) or a child (the container kept running and Kubernetes said nothing,
reason OOMKillChild), how many kills the Event stands for (storms are
folded), and the one-line why. Node Events (OOMKillGlobal: the node ran out
of memory, naming the pods hit; OOMKill for a process outside any pod) are in
the default namespace.

Like kubectl, it reads the cluster from --kubeconfig, $KUBECONFIG or
~/.kube/config (in a pod: its service account), and lists the namespace of
the current context unless -n or -A says otherwise. The API server keeps
Events for its --event-ttl (1 h by default), so --since cannot reach further
back than that; --since 0 lists every Event it still has.

As a kubectl plugin: put the binary on PATH as kubectl-oomkit, then
'kubectl oomkit events …' runs it (docs/events.md).

Exit status:
  0  the Events were listed (none is not an error: a line on stderr says so)
  1  the API server could not be reached or refused the list
  2  usage error`,
		Example: `  oomkit events -A                         # every namespace, the last hour
  oomkit events -n shop --since 30m        # one namespace
  oomkit events -A --node worker-7         # what happened on one node
  oomkit events -A --json | jq 'select(.victim_role == "child")'
  kubectl oomkit events -A                 # the same, as a kubectl plugin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.allNamespaces && cmd.Flags().Changed("namespace") {
				return usageError("-A and -n are alternatives: give one")
			}
			if cfg.since < 0 {
				return usageError("--since %s: want a duration ≥ 0, e.g. 1h or 30m", cfg.since)
			}
			return runEvents(cmd.Context(), s, cfg)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&cfg.allNamespaces, "all-namespaces", "A", false, "list every namespace")
	f.StringVarP(&cfg.namespace, "namespace", "n", "", "list this namespace (default: the kubeconfig context's)")
	f.DurationVar(&cfg.since, "since", time.Hour, "only kills within this long (0: every Event the API server keeps)")
	f.StringVar(&cfg.node, "node", "", "only kills on this node")
	f.BoolVar(&cfg.json, "json", false, "print one oomkit.kill-event/v1 JSON object per line (docs/events.md)")
	f.StringVar(&cfg.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&cfg.context, "context", "", "kubeconfig context (default: the current one)")
	return cmd
}

func runEvents(ctx context.Context, s *streams, cfg eventsConfig) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, ns, err := k8s.NewClient(k8s.ClientOptions{Kubeconfig: cfg.kubeconfig, Context: cfg.context})
	if err != nil {
		return err
	}
	switch {
	case cfg.allNamespaces:
		ns = ""
	case cfg.namespace != "":
		ns = cfg.namespace
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	evs, err := k8s.ListKillEvents(ctx, client, k8s.ListOptions{Namespace: ns, Since: cfg.since, Now: cfg.now})
	if err != nil {
		return fmt.Errorf("list OOM Events: %w (check that the cluster is reachable: --kubeconfig, --context)", err)
	}
	if cfg.node != "" {
		kept := evs[:0]
		for _, e := range evs {
			if e.Node != nil && *e.Node == cfg.node {
				kept = append(kept, e)
			}
		}
		evs = kept
	}
	if len(evs) == 0 {
		where := "in namespace " + ns
		if ns == "" {
			where = "in any namespace"
		}
		if cfg.node != "" {
			where += " on node " + cfg.node
		}
		when := ""
		if cfg.since > 0 {
			when = " in the last " + shortDuration(cfg.since)
		}
		fmt.Fprintf(s.err, "No OOM kills %s%s.\n", where, when)
		return nil
	}
	if cfg.json {
		enc := json.NewEncoder(visible.JSONWriter(s.out))
		enc.SetEscapeHTML(false)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	return writeEventsTable(s.out, evs, ns == "", cfg.now())
}

// writeEventsTable prints the kills as kubectl prints Events: newest last,
// the namespace column only across namespaces.
func writeEventsTable(w io.Writer, evs []k8s.KillEvent, allNamespaces bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"LAST SEEN", "OBJECT", "CONTAINER", "NODE", "VICTIM", "KILLS", "WHY"}
	if allNamespaces {
		head = append([]string{head[0], "NAMESPACE"}, head[1:]...)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, e := range evs {
		last, err := time.Parse(time.RFC3339Nano, e.LastTime)
		age := "?"
		if err == nil {
			age = shortDuration(now.Sub(last))
		}
		object := "node/" + dash(e.Node)
		if e.Kind == "Pod" {
			object = "pod/" + dash(e.Pod)
		}
		row := []string{age, object, dash(e.Container), dash(e.Node), e.VictimRole, fmt.Sprint(e.Kills), oneLine(e.Why)}
		for i := range row {
			// Events are anyone's to write: nothing in them reaches the
			// terminal raw.
			row[i] = visible.String(row[i])
		}
		if allNamespaces {
			nsName := dash(e.Namespace)
			if e.Kind != "Pod" {
				nsName = "default"
			}
			row = append([]string{row[0], visible.String(nsName)}, row[1:]...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// shortDuration is kubectl's age style: 45s, 12m, 3h, 2d.
func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 3*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// dash is *s, or "-" when it is unknown.
func dash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// oneLine keeps a table row on one line whatever an Event's text holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
