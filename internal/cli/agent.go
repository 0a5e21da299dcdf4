package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/agent"
	"github.com/oomkit/oomkit/internal/visible"
)

// logHandler is the agent's log in format ("text" or "json") to w; a
// value from outside (a process or cgroup name, a path) shows no raw
// control character in either.
func logHandler(format string, w io.Writer) (slog.Handler, error) {
	switch format {
	case "text":
		// slog quotes a value holding a control character (strconv.Quote
		// escapes C0, DEL and C1).
		return slog.NewTextHandler(w, nil), nil
	case "json":
		// slog's JSON leaves DEL and C1 raw, as encoding/json does.
		return slog.NewJSONHandler(visible.JSONWriter(w), nil), nil
	}
	return nil, usageError("--log-format %q: want text or json", format)
}

// nodeNameEnv is --node-name's default: the DaemonSet sets it from the
// downward API (spec.nodeName).
const nodeNameEnv = "NODE_NAME"

// agentFlags are the agent command's flags beyond agent.Config.
type agentFlags struct {
	cfg       agent.Config
	logFormat string
	check     bool
}

// newAgentCommand builds `oomkit agent`.
func newAgentCommand(s *streams) *cobra.Command {
	var fl agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: see every OOM kill, keep its memory history, serve metrics, an API and a web page",
		Long: `agent runs in the foreground on one node and sees every OOM kill there: it
reads the kernel log (/dev/kmsg) from where it stopped, and the kernel's own
kill counters (each memory cgroup's oom_kill in memory.events or
memory.oom_control, and /proc/vmstat), and reconciles them so each kill is
counted once — also the kills whose report the kernel rate-limited away, or
that happened while the agent was down. Each kill is explained as
"oomkit explain" does and kept with its memory cgroup's usage and working
set in the minutes before it.

It samples every memory cgroup's usage and working set each
--sample-interval and predicts when a growing one will reach its limit.

It serves, on --listen (loopback unless told otherwise):
  /                 a web page of recent kills, with plots, and the cgroups
                    nearest their limit with their predicted time to OOM
  /metrics          Prometheus metrics (docs/metrics.md)
  /api/v1/events    kills as JSON Lines (?since=RFC3339&limit=N&namespace=&pod=;
                    docs/api.md)
  /healthz          200 while the agent works

Kills and the state it resumes from are kept in --state-dir (a bbolt
file), bounded by --retain-events and --retain-age. It reads the node and
writes only there; it never kills anything. SIGTERM or SIGINT: the store is
written, the cursor saved, and it exits 0.

Reading the kernel log needs root or CAP_SYSLOG (kernel.dmesg_restrict=1);
without it the agent still counts kills from the kernel's counters.

On Kubernetes, --node-name (default $NODE_NAME, which the DaemonSet sets
from the downward API) turns on the cluster side: a pod informer
restricted to this node attributes every kill to its namespace, pod,
container, workload and QoS class (in the API's "kubernetes" object and
the metrics' labels), and every kill becomes an Event on its pod —
OOMKill, or OOMKillChild when a child died and the container runs on —
and, for a node-wide OOM, on the Node (docs/events.md). The client uses
--kubeconfig, else the pod's service account, else $KUBECONFIG or
~/.kube/config. Without a node name the agent makes no Kubernetes request.

Exit status:
  0  stopped by SIGTERM or SIGINT
  1  could not start (port in use, state directory not writable, no /proc)
  2  usage error`,
		Example: `  oomkit agent                                    # serve on 127.0.0.1:9741, state in /var/lib/oomkit
  oomkit agent --listen :9741 --state-dir /srv/oomkit   # all interfaces (put it behind a firewall)
  oomkit agent --proc-root /host/proc --sys-root /host/sys --kmsg /host/dev/kmsg   # in a container
  oomkit agent --node-name "$(hostname)" --kubeconfig /etc/kubernetes/oomkit.kubeconfig   # Events on the pods
  curl -s localhost:9741/api/v1/events?since=2026-12-04T00:00:00Z | jq .analysis.summary
  curl -s localhost:9741/metrics | grep oomkit_oom_kills_total
  NODE_NAME=node-1 oomkit agent --check --listen :9741   # what these flags mean; starts nothing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("node-name") {
				fl.cfg.NodeName = os.Getenv(nodeNameEnv)
			}
			return runAgent(cmd.Context(), s, fl)
		},
	}
	f := cmd.Flags()
	c := &fl.cfg
	f.StringVar(&c.Listen, "listen", agent.DefaultListen, "serve HTTP on `ADDR` (host:port)")
	f.StringVar(&c.StateDir, "state-dir", agent.DefaultStateDir, "keep the store and the kernel log cursor in `DIR`")
	f.StringVar(&c.ProcRoot, "proc-root", "/proc", "read /proc from `DIR` (the host's, mounted in a container)")
	f.StringVar(&c.SysRoot, "sys-root", "/sys", "read /sys from `DIR`")
	f.StringVar(&c.Kmsg, "kmsg", "/dev/kmsg", "read the kernel log from `PATH`")
	f.DurationVar(&c.SampleInterval, "sample-interval", agent.DefaultSampleInterval, "sample every memory cgroup's usage and working set every `D` (100ms–1m)")
	f.DurationVar(&c.History, "history", agent.DefaultHistory, "keep `D` of samples per memory cgroup")
	f.IntVar(&c.RetainEvents, "retain-events", agent.DefaultRetainEvents, "keep at most `N` kills in the store")
	f.DurationVar(&c.RetainAge, "retain-age", agent.DefaultRetainAge, "drop kills older than `D` from the store")
	f.StringVar(&fl.logFormat, "log-format", "text", "log as `FORMAT`: text or json (to standard error)")
	f.StringVar(&c.NodeName, "node-name", "", "attribute kills to the pods of Kubernetes node `NODE` and write them as Events (default $NODE_NAME)")
	f.StringVar(&c.Kubeconfig, "kubeconfig", "", "reach the API server with kubeconfig `FILE` (default: in a pod its service account, else $KUBECONFIG or ~/.kube/config)")
	f.DurationVar(&c.ReportGrace, "report-grace", agent.DefaultReportGrace, "wait `D` for a counted kill's kernel log record before calling its report missing")
	_ = f.MarkHidden("report-grace")
	f.BoolVar(&fl.check, "check", false, "check the flags and print the command line the agent would run with, every default filled in; start nothing")
	return cmd
}

func runAgent(ctx context.Context, s *streams, fl agentFlags) error {
	h, err := logHandler(fl.logFormat, s.err)
	if err != nil {
		return err
	}
	cfg := fl.cfg
	cfg.Log = slog.New(h)
	cfg.Version = buildVersion()
	if err := cfg.Validate(); err != nil {
		return usageError("%v", err)
	}
	if fl.check {
		printAgentConfig(s, cfg, fl.logFormat)
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := agent.Run(ctx, cfg); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	cfg.Log.Info("agent stopped")
	return nil
}

// printAgentConfig prints the effective command line, one flag a line: what
// a DaemonSet's or a unit's arguments mean once defaults and $NODE_NAME are
// filled in.
func printAgentConfig(s *streams, c agent.Config, logFormat string) {
	fmt.Fprintln(s.out, "oomkit agent \\")
	lines := []string{
		"--listen=" + c.Listen, "--state-dir=" + c.StateDir, "--proc-root=" + c.ProcRoot, "--sys-root=" + c.SysRoot,
		"--kmsg=" + c.Kmsg, "--sample-interval=" + c.SampleInterval.String(), "--history=" + c.History.String(),
		fmt.Sprintf("--retain-events=%d", c.RetainEvents), "--retain-age=" + c.RetainAge.String(),
		"--log-format=" + logFormat, "--node-name=" + c.NodeName, "--kubeconfig=" + c.Kubeconfig,
	}
	for i, l := range lines {
		end := " \\"
		if i == len(lines)-1 {
			end = ""
		}
		fmt.Fprintf(s.out, "  %s%s\n", l, end)
	}
}
