package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/render"
)

// Exit codes of oomkit alloc (documented in its --help and docs/alloc.md).
const (
	allocExitENOMEM  = 3 // the kernel refused an allocation (overcommit)
	allocExitRuntime = 4 // heap mode: the block would exceed GOMEMLIMIT
)

func newAllocCommand(s *streams) *cobra.Command {
	var (
		block, touch, max, mode, dir string
		interval                     time.Duration
		hold, asJSON                 bool
		adj                          int
	)
	cmd := &cobra.Command{
		Use:   "alloc --block SIZE --touch PCT [--interval DUR] [--max SIZE] [--hold] [--mode mmap|heap|file|shmem] [--oom-score-adj N] [--json]",
		Short: "Allocate memory in blocks and touch part of each: the memory leak tool",
		Long: `alloc is the article's memory leak tool. It allocates one block every
--interval and writes one byte to every page of the first --touch percent of
the block, so the kernel backs (and charges) exactly that much. After every
block it prints what the kernel says: blocks, allocated, touched, this
process's RSS, Committed_AS against CommitLimit, and its memory cgroup's
usage against the limit. It stops for a reason and says which: --max reached,
the kernel refused the allocation (ENOMEM: overcommit), the runtime refused
(heap mode: GOMEMLIMIT), or a signal. The OOM killer's SIGKILL cannot be
reported by the victim; 'oomkit lab' reports it from outside.

alloc allocates in whatever memory cgroup it runs in. To try it safely, run
it in a cgroup with a limit, or use 'oomkit lab', which does that for you.

Modes:
  mmap   private anonymous mmap outside the Go heap (default; like malloc of a
         large block): Committed_AS grows at once, RSS only when touched
  heap   the Go heap: GOMEMLIMIT and the garbage collector take part; a
         block that would exceed GOMEMLIMIT is refused (as .NET's heap hard
         limit does)
  file   page cache of an unlinked file in --dir (not tmpfs): charged to the
         cgroup but reclaimable, so it is not OOM-killed
  shmem  a memfd (shmem, like tmpfs), mapped and touched: charged and, with
         no swap, not reclaimable

Exit status:
  0  --max reached (with --hold: after the signal that ended the hold)
  1  error (e.g. a failed write in file mode)
  2  usage error (--block 0, --touch 150%, an unknown --mode)
  3  the kernel refused an allocation (ENOMEM; overcommit)
  4  heap mode: the Go runtime's memory limit (GOMEMLIMIT) refused a block
  130, 143  stopped by SIGINT, SIGTERM (the summary is printed first)
  137  (seen by the parent) SIGKILL, e.g. from the OOM killer`,
		Example: `  # the article: 100 MiB blocks, half of each touched, one per second
  oomkit alloc --block 100MiB --touch 50% --interval 1s

  # allocate 2 GiB, touch all of it, then keep it until Ctrl-C
  oomkit alloc --block 64MiB --touch 100% --max 2GiB --hold

  # the runtime section: a Go heap under a 512 MiB GOMEMLIMIT
  GOMEMLIMIT=512MiB oomkit alloc --mode heap --block 50MiB --touch 0%

  # one JSON object per block, and a final one with stop_reason
  oomkit alloc --block 10MiB --touch 100% --max 100MiB --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := allocConfig(block, touch, max, mode, dir, interval, hold)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("oom-score-adj") {
				if adj < -1000 || adj > 1000 {
					return usageError("--oom-score-adj %d is outside -1000…1000", adj)
				}
				if err := alloc.SetOOMScoreAdj("", adj); err != nil {
					return err
				}
			}
			if err := alloc.WaitForStart(); err != nil {
				return err
			}
			return runAlloc(s, cfg, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&block, "block", "", "size of each block, e.g. 100MiB, 1GiB, 64Mi (required)")
	f.StringVar(&touch, "touch", "100%", "how much of each block to touch (one byte per page), 0%–100%")
	f.DurationVar(&interval, "interval", time.Second, "pause after each block, e.g. 500ms, 2s; 0 for none")
	f.StringVar(&max, "max", "", "stop after allocating this much (default: until refused or signalled)")
	f.BoolVar(&hold, "hold", false, "with --max: keep the memory until a signal")
	f.StringVar(&mode, "mode", string(alloc.ModeMmap), "where blocks come from: mmap, heap, file or shmem")
	f.StringVar(&dir, "dir", "", "file mode: directory for the (unlinked) file (default $TMPDIR or /tmp)")
	f.IntVar(&adj, "oom-score-adj", 0, "set this process's oom_score_adj (-1000…1000) before allocating")
	f.BoolVar(&asJSON, "json", false, "print oomkit.alloc/v1 JSON Lines instead of text")
	return cmd
}

// allocConfig turns the flags into a Config; every mistake is a usage error.
func allocConfig(block, touch, max, mode, dir string, interval time.Duration, hold bool) (alloc.Config, error) {
	cfg := alloc.Config{Mode: alloc.Mode(mode), Interval: interval, Hold: hold, Dir: dir}
	if block == "" {
		return cfg, usageError("--block is required, e.g. --block 100MiB")
	}
	var err error
	if cfg.BlockBytes, err = bytesize.Parse(block); err != nil {
		return cfg, usageError("--block: %w", err)
	}
	if cfg.TouchPercent, err = bytesize.ParsePercent(touch); err != nil {
		return cfg, usageError("--touch: %w", err)
	}
	if max != "" {
		if cfg.MaxBytes, err = bytesize.Parse(max); err != nil {
			return cfg, usageError("--max: %w", err)
		}
		if cfg.MaxBytes == 0 {
			return cfg, usageError("--max 0: give a size to stop at, or leave --max out to run until refused")
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("%w", err)
	}
	return cfg, nil
}

// signalContext is cancelled by the first SIGINT or SIGTERM, with
// alloc.Signaled as its cause, so a run can print its summary before it
// exits 130 or 143; stop releases the signals.
func signalContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if sig, ok := <-sigs; ok {
			cancel(alloc.Signaled{Signal: sig})
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(sigs)
		cancel(nil)
	}
}

func runAlloc(s *streams, cfg alloc.Config, asJSON bool) error {
	a, err := alloc.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()

	live := !asJSON && isTerminal(s.out)
	enc := json.NewEncoder(s.out)
	final := a.Run(ctx, func(r alloc.Record) {
		switch {
		case asJSON:
			_ = enc.Encode(r)
		case r.Event == "block" && live:
			fmt.Fprintf(s.out, "\r\033[K%s", render.AllocLine(r))
		case r.Event == "block":
			fmt.Fprintln(s.out, render.AllocLine(r))
		default:
			if live && r.Blocks > 0 {
				fmt.Fprintln(s.out) // keep the last progress line above the summary
			}
			render.AllocSummary(s.out, r, cfg)
		}
	})
	switch *final.StopReason {
	case alloc.StopMax:
		return nil
	case alloc.StopENOMEM:
		return silentExit{allocExitENOMEM}
	case alloc.StopRuntime:
		return silentExit{allocExitRuntime}
	case alloc.StopSignal:
		if final.Signal != nil && *final.Signal == "SIGTERM" {
			return silentExit{128 + int(syscall.SIGTERM)}
		}
		return silentExit{128 + int(syscall.SIGINT)}
	}
	return fmt.Errorf("%s", strings.TrimSpace(allocDeref(final.Error)))
}

func allocDeref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
