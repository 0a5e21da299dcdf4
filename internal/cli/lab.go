package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/lab"
	"github.com/oomkit/oomkit/internal/render"
	"github.com/oomkit/oomkit/internal/visible"
	"github.com/oomkit/oomkit/internal/vm"
)

// Exit codes of oomkit lab (documented in its --help and docs/lab.md).
const (
	labExitDisagree = 3 // a scenario disagreed with the model or could not finish
	labExitRefused  = 4 // this host cannot run the lab safely
)

// labHost is how the lab looks at the machine; tests replace it to see the
// refusals a non-root user or a host without a memory cgroup gets.
var labHost = lab.CurrentHost

func newLabCommand(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the article's OOM experiments on this kernel and check oomkit's model against it",
		Long: `lab runs named scenarios on the real kernel. Each one creates a throw-away
memory cgroup (oomkit-lab-<random>, under this process's own memory cgroup,
cgroup v1 or v2), sets a small limit, starts 'oomkit alloc' processes in it
with the sizes, order and oom_score_adj the scenario names, waits for the OOM
killer, reads the kernel's own report from /dev/kmsg, and sets what the
kernel did next to what oomkit's model predicted — from the report's task
table and from the scenario's setup before it ran — and to what older
kernels would have done.

Safety: nothing allocates outside a cgroup the lab created with a limit; a
--limit above half of MemAvailable is refused; the cgroups are removed at the
end, on Ctrl-C or SIGTERM, and by the next run (or 'oomkit lab clean') if a
crash left them. The lab never writes vm.* sysctls. node-oom, which exhausts
the whole machine, runs only in the throw-away VM of 'lab run --vm'.`,
		Example: `  oomkit lab list
  sudo oomkit lab run twist-1
  sudo oomkit lab run --all --json`,
	}
	cmd.AddCommand(newLabListCommand(s), newLabRunCommand(s), newLabCleanCommand(s))
	return cmd
}

func newLabListCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the scenarios",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, sc := range lab.Scenarios() {
				needs := ""
				if sc.Needs != "" {
					needs = " [" + sc.Needs + " only]"
				}
				fmt.Fprintf(s.out, "%-18s %s%s\n", sc.Name, sc.Title, needs)
			}
			return nil
		},
	}
}

func newLabCleanCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove oomkit-lab-* cgroups that a crashed or --keep run left behind",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			h := labHost()
			if err := lab.CheckHost(h, 0); err != nil {
				return withCode(labExitRefused, err)
			}
			removed, err := lab.CleanStale(h)
			for _, p := range removed {
				fmt.Fprintf(s.out, "removed %s\n", visible.String(p))
			}
			return err
		},
	}
}

func newLabRunCommand(s *streams) *cobra.Command {
	var (
		all, asJSON, keep, inVM  bool
		limit, kernel, kernelPkg string
	)
	cmd := &cobra.Command{
		Use:   "run NAME... | --all",
		Short: "Run scenarios and compare the kernel's choice with the model's",
		Long: `run runs the named scenarios (or --all) one after the other and prints one
result per scenario: what the kernel killed, what the model predicted from
the report's task table and from the setup, what older kernels would have
chosen, the cgroup's oom_kill delta and the explained report. Scenarios that
need cgroup v2 say why they were skipped on a v1 host.

Exit status:
  0  every scenario that ran agreed with the model
  1  error
  2  usage error (unknown scenario, bad --limit)
  3  a scenario disagreed with the model or could not finish
  4  this host cannot run the lab safely: not root, no writable memory
     cgroup, or --limit above half of MemAvailable
  130, 143  interrupted by SIGINT, SIGTERM (cgroups removed first)`,
		Example: `  sudo oomkit lab run container-limit
  sudo oomkit lab run twist-1 twist-2 --limit 256MiB
  oomkit lab run --all --vm          # cgroup v2 in a qemu VM (Debian's kernel)
  oomkit lab run group-kill --vm --kernel-package linux-image-6.12-cloud-amd64
  sudo oomkit lab run --all --json | jq '{scenario, agrees, kernel_victims}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var scs []lab.Scenario
			switch {
			case all && len(args) > 0:
				return usageError("give scenario names or --all, not both")
			case all:
				scs = lab.Scenarios()
			case len(args) == 0:
				return usageError("name a scenario or use --all ('oomkit lab list' shows them)")
			}
			for _, name := range args {
				sc, ok := lab.Lookup(name)
				if !ok {
					return usageError("unknown scenario %q ('oomkit lab list' shows them)", name)
				}
				scs = append(scs, sc)
			}
			if (kernel != "" || kernelPkg != "") && !inVM {
				return usageError("--kernel and --kernel-package choose the VM's kernel: add --vm")
			}
			if kernel != "" && kernelPkg != "" {
				return usageError("give --kernel or --kernel-package, not both: each names the VM's kernel")
			}
			if kernel != "" {
				// Checked before anything is built or fetched.
				if err := vm.CheckKernelImage(kernel); err != nil {
					return usageError("--kernel: %v", err)
				}
			}
			cfg := lab.Config{Keep: keep, Log: s.err}
			if limit != "" {
				n, err := bytesize.Parse(limit)
				if err != nil {
					return usageError("--limit: %w", err)
				}
				if n < lab.MinLimitBytes {
					return usageError("--limit %s is too small: the scenarios need at least %s", bytesize.Format(n), bytesize.Format(lab.MinLimitBytes))
				}
				cfg.LimitBytes = n
			}
			if inVM {
				return runLabInVM(cmd.Context(), s, vm.Config{Kernel: kernel, KernelPackage: kernelPkg, Stderr: s.err, SwapMiB: 256, ScratchMiB: 512}, args, all, limit, asJSON)
			}
			h := labHost()
			cfg.Host = &h
			return runLab(s, cfg, scs, asJSON)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "run every scenario")
	f.BoolVar(&asJSON, "json", false, "print one oomkit.lab/v1 JSON object per scenario")
	f.BoolVar(&keep, "keep", false, "keep each scenario's cgroup (processes killed) for inspection; 'oomkit lab clean' removes it")
	f.StringVar(&limit, "limit", "", "memory limit of each scenario's cgroup (default 128MiB, or five times an allocator's starting RSS if that is more; at most half of MemAvailable)")
	f.BoolVar(&inVM, "vm", false, "run the scenarios in a throw-away qemu VM with cgroup v2 (Debian's cloud kernel unless --kernel/--kernel-package)")
	f.StringVar(&kernel, "kernel", "", "with --vm: boot this kernel image (bzImage or vmlinux)")
	f.StringVar(&kernelPkg, "kernel-package", "", "with --vm: boot the kernel of this Debian package (fetched with apt-get download, cached)")
	return cmd
}

func runLab(s *streams, cfg lab.Config, scs []lab.Scenario, asJSON bool) error {
	if err := lab.Prepare(&cfg); err != nil {
		var ref *lab.RefusalError
		if errors.As(err, &ref) {
			return withCode(labExitRefused, err)
		}
		return err
	}
	ctx, stop := signalContext()
	defer stop()

	enc := json.NewEncoder(s.json())
	failed := 0
	for _, sc := range scs {
		res, err := lab.Run(ctx, cfg, sc)
		var sig alloc.Signaled
		if errors.As(err, &sig) {
			fmt.Fprintf(s.err, "oomkit: %s: interrupted by %s; its cgroup was removed\n", sc.Name, alloc.SignalName(sig.Signal))
			if sig.Signal == syscall.SIGTERM {
				return silentExit{128 + int(syscall.SIGTERM)}
			}
			return silentExit{128 + int(syscall.SIGINT)}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		if res.Skipped == nil && !res.Agrees {
			failed++
		}
		if asJSON {
			if err := enc.Encode(res); err != nil {
				return err
			}
			continue
		}
		render.LabResult(s.out, res)
	}
	if failed > 0 {
		return withCode(labExitDisagree, fmt.Errorf("%d scenario(s) did not agree with the model", failed))
	}
	return nil
}

// runLabInVM runs `oomkit lab run … --json` as the program of a fresh VM
// with cgroup v2 (internal/vm) and prints its results here. The guest's
// exit status becomes ours.
func runLabInVM(ctx context.Context, s *streams, cfg vm.Config, names []string, all bool, limit string, asJSON bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	args := []string{"lab", "run", "--json"}
	if limit != "" {
		args = append(args, "--limit", limit)
	}
	if all {
		args = append(args, "--all")
	}
	args = append(args, names...)
	res, err := vm.RunOomkit(ctx, cfg, args...)
	if err != nil {
		return fmt.Errorf("lab in a VM: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(res.Stdout))
	for dec.More() {
		var r lab.Result
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("lab in a VM (%s): read its results: %w", res.KernelRelease, err)
		}
		if asJSON {
			if err := json.NewEncoder(s.json()).Encode(r); err != nil {
				return err
			}
			continue
		}
		render.LabResult(s.out, r)
	}
	switch {
	case res.ExitCode == 0:
		return nil
	case res.ExitCode < 0:
		return fmt.Errorf("lab in a VM (%s): the guest reported no exit status", res.KernelRelease)
	}
	return silentExit{res.ExitCode}
}
