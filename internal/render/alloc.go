package render

import (
	"fmt"
	"io"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
)

// AllocLine is the progress line of one block.
func AllocLine(r alloc.Record) string {
	return fmt.Sprintf("block %d: allocated %s, touched %s, rss %s, commit %s, Committed_AS %s / %s, cgroup %s / %s",
		r.Blocks, bytesize.Format(r.AllocatedBytes), bytesize.Format(r.TouchedBytes),
		allocSize(r.RSSBytes), allocSize(r.CommitBytes), allocSize(r.CommittedASBytes), allocSize(r.CommitLimitBytes),
		allocSize(r.CgroupUsageBytes), allocLimit(r.CgroupLimitBytes))
}

func allocSize(p *int64) string {
	if p == nil {
		return "?"
	}
	return bytesize.Format(*p)
}

func allocLimit(p *int64) string {
	if p == nil {
		return "no limit"
	}
	return bytesize.Format(*p)
}

// AllocSummary prints why the run stopped (or that it is holding).
func AllocSummary(w io.Writer, r alloc.Record, cfg alloc.Config) {
	totals := fmt.Sprintf("%d blocks, %s allocated, %s touched, rss %s", r.Blocks,
		bytesize.Format(r.AllocatedBytes), bytesize.Format(r.TouchedBytes), allocSize(r.RSSBytes))
	switch *r.StopReason {
	case alloc.StopMax:
		if r.Event == "hold" {
			fmt.Fprintf(w, "reached --max %s (%s); holding it until Ctrl-C or SIGTERM\n", bytesize.Format(cfg.MaxBytes), totals)
			return
		}
		fmt.Fprintf(w, "stopped: reached --max %s (%s)\n", bytesize.Format(cfg.MaxBytes), totals)
	case alloc.StopENOMEM:
		mode := "?"
		if r.OvercommitMode != nil {
			mode = alloc.OvercommitModeName(*r.OvercommitMode)
		}
		fmt.Fprintf(w, "stopped: the kernel refused block %d (%s)\n", r.Blocks+1, derefOr(r.Error, ""))
		fmt.Fprintf(w, "  Committed_AS %s, CommitLimit %s, vm.overcommit_memory = %s\n",
			allocSize(r.CommittedASBytes), allocSize(r.CommitLimitBytes), mode)
		if r.OvercommitMode != nil && *r.OvercommitMode != 2 {
			fmt.Fprintln(w, "  (CommitLimit is enforced only in mode 2: here the request itself exceeded RAM + swap, or a limit on this process refused it, e.g. ulimit -v)")
		}
		fmt.Fprintf(w, "  so far: %s\n", totals)
	case alloc.StopRuntime:
		fmt.Fprintf(w, "stopped: the Go runtime refused block %d (%s)\n  so far: %s\n", r.Blocks+1, derefOr(r.Error, ""), totals)
	case alloc.StopSignal:
		fmt.Fprintf(w, "stopped by %s: %s, cgroup %s / %s\n", derefOr(r.Signal, ""), totals,
			allocSize(r.CgroupUsageBytes), allocLimit(r.CgroupLimitBytes))
	default:
		fmt.Fprintf(w, "stopped by an error after %s\n", totals)
	}
}
