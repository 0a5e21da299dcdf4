package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/sim"
	"github.com/oomkit/oomkit/internal/visible"
)

// size prints bytes in IEC units.
func size(p *int64) string {
	if p == nil {
		return "unknown"
	}
	return bytesize.Format(*p)
}

// who names a process of the scenario: its name (escaped, it is the
// scenario's text) and PID.
func who(ev *sim.Event) string {
	return fmt.Sprintf("%s[%d]", visible.String(ev.Process), ev.PID)
}

// SimHeader prints the scenario's first lines: kernel, node, sysctls
// and its description.
func SimHeader(w io.Writer, sc *sim.Scenario) {
	name := sc.Name
	if name == "" {
		name = "scenario"
	}
	cgv := "v1"
	if sc.Node.CgroupV2 {
		cgv = "v2"
	}
	fmt.Fprintf(w, "%s: kernel %s (%s rules), %s RAM, %s swap, cgroup %s, vm.overcommit_memory=%d",
		visible.String(name), visible.String(sc.Kernel.String()), mm.RulesFor(sc.Kernel), bytesize.Format(sc.Node.MemoryBytes), bytesize.Format(sc.Node.SwapBytes), cgv, sc.Sysctl.OvercommitMemory)
	if sc.Sysctl.OvercommitKBytes != 0 {
		fmt.Fprintf(w, " kbytes=%d\n", sc.Sysctl.OvercommitKBytes)
	} else {
		fmt.Fprintf(w, " ratio=%d\n", sc.Sysctl.OvercommitRatio)
	}
	if sc.Description != "" {
		fmt.Fprintf(w, "%s\n", Wrap(visible.String(sc.Description), 78, "  "))
	}
	fmt.Fprintln(w)
}

// SimTimeline prints the timeline as the events come. A run of more than
// six allocations in a row shows its first two and last two and a line
// for the rest, so it holds at most six events (and the PIDs of one run)
// whatever the length of the run.
type SimTimeline struct {
	w    io.Writer
	full bool
	// The current run of allocations: its first events while it is
	// short, then its last two and who allocated in between.
	n     int
	first []sim.Event
	last  [2]sim.Event
	whom  []string
	seen  map[int]bool
	ended bool
}

// NewSimTimeline prints a run's events as they come; full prints every
// one, else a run of allocations is cut to its ends.
func NewSimTimeline(w io.Writer, full bool) *SimTimeline {
	return &SimTimeline{w: w, full: full}
}

// Event is sim.Options.OnEvent.
func (t *SimTimeline) Event(ev *sim.Event) {
	if t.ended {
		return
	}
	if ev.Event == sim.EvAlloc && !t.full {
		t.alloc(ev)
		return
	}
	t.Flush()
	if ev.Event == sim.EvEnd {
		t.ended = true
		return
	}
	SimEvent(t.w, ev)
}

func (t *SimTimeline) alloc(ev *sim.Event) {
	t.n++
	switch {
	case t.n <= 6:
		t.first = append(t.first, *ev)
	case t.n == 7:
		// Now it is a long run: its first two are shown, the next three
		// are in the middle, the last two so far are kept.
		SimEvent(t.w, &t.first[0])
		SimEvent(t.w, &t.first[1])
		t.seen = map[int]bool{}
		for k := 2; k <= 4; k++ {
			t.middle(&t.first[k])
		}
		t.last = [2]sim.Event{t.first[5], *ev}
		t.first = t.first[:0]
	default:
		t.middle(&t.last[0])
		t.last = [2]sim.Event{t.last[1], *ev}
	}
}

// middle counts an allocation that the summary line stands for.
func (t *SimTimeline) middle(ev *sim.Event) {
	if !t.seen[ev.PID] {
		t.seen[ev.PID] = true
		if len(t.whom) < 3 {
			t.whom = append(t.whom, who(ev))
		}
	}
}

// Flush ends the current run of allocations.
func (t *SimTimeline) Flush() {
	switch {
	case t.n == 0:
		return
	case t.n <= 6:
		for i := range t.first {
			SimEvent(t.w, &t.first[i])
		}
	default:
		whom := t.whom
		if len(t.seen) > 3 {
			whom = append(whom, fmt.Sprintf("%d more processes", len(t.seen)-3))
		}
		fmt.Fprintf(t.w, "  %10s  %-11s %d more allocations by %s\n", "…", "", t.n-4, strings.Join(whom, ", "))
		SimEvent(t.w, &t.last[0])
		SimEvent(t.w, &t.last[1])
	}
	t.n, t.first, t.whom, t.seen = 0, t.first[:0], nil, nil
}

// SimEvent prints one event of a simulation's timeline.
func SimEvent(w io.Writer, ev *sim.Event) {
	t := fmt.Sprintf("%9.1fs", ev.TSeconds)
	switch ev.Event {
	case sim.EvAlloc:
		fmt.Fprintf(w, "  %s  %-11s %s +%s %s (%s written): allocated %s, resident %s; Committed_AS %s / CommitLimit %s\n",
			t, "alloc", who(ev), size(ev.BlockBytes), ev.Mapping, size(ev.TouchedBytes), size(ev.AllocatedBytes), size(ev.ResidentBytes),
			size(ev.CommittedASBytes), size(ev.CommitLimitBytes))
	case sim.EvENOMEM:
		why := "the commit limit refused it"
		if ev.OvercommitMemory != nil && *ev.OvercommitMemory == 0 {
			why = "overcommit mode 0 refused it (larger than RAM + swap)"
		}
		if ev.Errno == "ENOSPC" {
			why = "tmpfs page charge refused: the write fails with ENOSPC"
		}
		fmt.Fprintf(w, "  %s  %-11s %s: %s of %s refused with %s after %s allocated: %s (Committed_AS %s, CommitLimit %s)\n",
			t, "ENOMEM", who(ev), size(ev.BlockBytes), ev.Mapping, ev.Errno, size(ev.AllocatedBytes), why, size(ev.CommittedASBytes), size(ev.CommitLimitBytes))
	case sim.EvOOMKill:
		kind := "global OOM (RAM + swap exhausted)"
		if ev.Constraint == "CONSTRAINT_MEMCG" {
			kind = "memcg OOM in " + visible.String(ev.OOMMemcg)
		}
		how := fmt.Sprintf("badness %d of totalpages %d", simDeref(ev.Points), simDeref(ev.TotalPages))
		switch {
		case ev.GroupKill != nil && *ev.GroupKill:
			how = "memory.oom.group: the whole group goes"
		case ev.AllocatingTask != nil && *ev.AllocatingTask:
			how = "vm.oom_kill_allocating_task: the allocating task dies"
		case ev.Tie != nil && *ev.Tie:
			how += fmt.Sprintf(", tied with %d others: the scan order decided", ev.TiedWith-1)
		}
		fmt.Fprintf(w, "  %s  %-11s %s (oom_score_adj %d) in %s: %s; triggered by %s[%d]; %s; freed %s\n",
			t, "OOM KILL", who(ev), simDeref(ev.OOMScoreAdj), visible.String(ev.Cgroup), kind, visible.String(ev.TriggerProcess), ev.TriggerPID, how, size(ev.FreedBytes))
	case sim.EvEvict:
		fmt.Fprintf(w, "  %s  %-11s pod %s (%s): working set %s, request %s; memory.available %s < %s\n",
			t, "EVICT", visible.String(ev.Pod), ev.QOSClass, size(ev.WorkingSetBytes), size(ev.RequestBytes), size(ev.MemoryAvailableBytes), size(ev.ThresholdBytes))
	case sim.EvRuntimeOOM:
		fmt.Fprintf(w, "  %s  %-11s %s: the %s runtime refuses %s more at %s allocated (heap ceiling %s: %s)\n",
			t, "RUNTIME OOM", who(ev), ev.Runtime, size(ev.BlockBytes), size(ev.AllocatedBytes), size(ev.HeapCeilingBytes), visible.String(ev.HeapCeilingSource))
	case sim.EvHigh:
		fmt.Fprintf(w, "  %s  %-11s %s: %s over memory.high (usage %s > %s): +%d high events (%d so far), throttled %.2fs; no OOM kill below memory.max\n",
			t, "memory.high", who(ev), visible.String(ev.Cgroup), size(ev.UsageBytes), size(ev.HighBytes), simDeref(ev.NewHighEvents), simDeref(ev.HighEvents), simDerefF(ev.ThrottledSeconds))
	case sim.EvFork:
		fmt.Fprintf(w, "  %s  %-11s %s → %s[%d]: %s charged again; Committed_AS %s / CommitLimit %s\n",
			t, "fork", who(ev), visible.String(ev.ChildProcess), ev.ChildPID, size(ev.ChargedBytes), size(ev.CommittedASBytes), size(ev.CommitLimitBytes))
	case sim.EvForkFailed:
		fmt.Fprintf(w, "  %s  %-11s %s: fork: Cannot allocate memory (needs %s more; Committed_AS %s / CommitLimit %s)\n",
			t, "FORK FAILED", who(ev), size(ev.ChargedBytes), size(ev.CommittedASBytes), size(ev.CommitLimitBytes))
	case sim.EvSysctl:
		var kv []string
		for _, k := range sortedKeys(ev.Sysctl) {
			kv = append(kv, fmt.Sprintf("%s=%d", k, ev.Sysctl[k]))
		}
		fmt.Fprintf(w, "  %s  %-11s %s: sysctl %s; Committed_AS %s / CommitLimit %s\n",
			t, "sysctl", who(ev), strings.Join(kv, " "), size(ev.CommittedASBytes), size(ev.CommitLimitBytes))
	case sim.EvExit:
		fmt.Fprintf(w, "  %s  %-11s %s\n", t, "exit", who(ev))
	case sim.EvPanic:
		fmt.Fprintf(w, "  %s  %-11s %s\n", t, "PANIC", visible.String(ev.Message))
	}
}

// SimSummary prints how a simulation ended.
func SimSummary(w io.Writer, end *sim.Event, truncated bool) {
	fmt.Fprintf(w, "\nAfter %.1fs on kernel %s:", end.TSeconds, end.Kernel)
	if truncated {
		fmt.Fprint(w, " (stopped early: step limit reached)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PROCESS\tPID\tADJ\tCGROUP\tALLOCATED\tRESIDENT\tSWAP\tSTOPPED")
	for _, p := range end.Processes {
		stop := p.StopReason
		if p.StopReason == sim.StopMax {
			stop = "done" // the plan finished; the process holds its memory
		}
		if p.StopTSeconds != nil && p.StopReason != sim.StopRunning {
			stop = fmt.Sprintf("%s at %.1fs", stop, *p.StopTSeconds)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", visible.String(p.Process), p.PID, p.OOMScoreAdj, visible.String(p.Cgroup),
			bytesize.Format(p.AllocatedBytes), bytesize.Format(p.ResidentBytes), bytesize.Format(p.SwapBytes), stop)
	}
	tw.Flush()
	fmt.Fprintf(w, "  node: RAM %s used of %s, swap %s used of %s; Committed_AS %s, CommitLimit %s (vm.overcommit_memory=%d)\n",
		size(end.MemoryUsedBytes), size(end.MemoryBytes), size(end.SwapUsedBytes), size(end.SwapBytes),
		size(end.CommittedASBytes), size(end.CommitLimitBytes), simDeref(end.OvercommitMemory))
	fmt.Fprintf(w, "  OOM kills: %d, evictions: %d", simDeref(end.OOMKills), simDeref(end.Evictions))
	if end.Panicked != nil && *end.Panicked {
		fmt.Fprint(w, ", the kernel panicked")
	}
	fmt.Fprintln(w)
}

func simDeref[T int | int64](p *T) T {
	if p == nil {
		return 0
	}
	return *p
}

func simDerefF(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// Wrap breaks text into lines of at most width runes, each prefixed.
func Wrap(text string, width int, prefix string) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		if n > 0 && n+1+len([]rune(word)) > width-len(prefix) {
			b.WriteString("\n")
			n = 0
		}
		if n == 0 {
			b.WriteString(prefix)
		} else {
			b.WriteString(" ")
			n++
		}
		b.WriteString(word)
		n += len([]rune(word))
	}
	return b.String()
}

// CommitLimit explains a commit_limit record in words.
func CommitLimit(w io.Writer, rec sim.CommitLimitRecord) {
	mem, swap, huge, limit := rec.MemoryBytes, rec.SwapBytes, rec.HugetlbBytes, rec.CommitLimitBytes
	if rec.OvercommitKBytes != 0 {
		fmt.Fprintf(w, "CommitLimit = overcommit_kbytes %d KiB + swap %s = %s\n", rec.OvercommitKBytes, bytesize.Format(swap), bytesize.Format(limit))
	} else {
		fmt.Fprintf(w, "CommitLimit = (RAM %s − huge pages %s) × %d%% + swap %s = %s\n",
			bytesize.Format(mem), bytesize.Format(huge), rec.OvercommitRatio, bytesize.Format(swap), bytesize.Format(limit))
	}
	if rec.AllocatableBytes != nil {
		fmt.Fprintf(w, "With Committed_AS at %s, a process can still commit about %s in mode 2 (after the %s user and %s admin reserves).\n",
			bytesize.Format(*rec.CommittedASBytes), bytesize.Format(*rec.AllocatableBytes), bytesize.Format(rec.UserReserveBytes), bytesize.Format(rec.AdminReserveBytes))
	}
	if limit > mem+swap {
		fmt.Fprintf(w, "This is more than RAM + swap (%s): mode 2 still overcommits, and the OOM killer can still run.\n", bytesize.Format(mem+swap))
	}
	fmt.Fprintln(w, "Only vm.overcommit_memory=2 enforces it; modes 0 and 1 just print it in /proc/meminfo.")
}
