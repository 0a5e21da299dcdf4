package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/big"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
	"github.com/oomkit/oomkit/internal/sim"
	"github.com/oomkit/oomkit/internal/visible"
)

// simRunConfig is what `sim run`'s flags say.
type simRunConfig struct {
	json     bool
	report   string
	assume   string
	duration string
	full     bool
	maxSteps int
}

// newSimCommand is `oomkit sim` and its subcommands.
func newSimCommand(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate overcommit, OOM kills, runtime heap limits and evictions from a scenario file",
		Long: `sim runs a scenario deterministically on a simulated clock: a node's RAM and
swap, the vm.overcommit_* sysctls, a kernel version, memory cgroups, pods,
processes that allocate (and write part of) memory blocks, fork and change
sysctls, managed runtimes with their heap ceilings, and the kubelet's
eviction loop. It uses the same kernel model as "oomkit explain", and prints
every OOM kill as the report that kernel version would log.

The article's experiments are built in (sim list); the scenario format is in
docs/sim.md.`,
		Example: `  oomkit sim list
  oomkit sim run fig3                          # mode 2, ratio 50: ENOMEM at ~6 GiB
  oomkit sim run twist1 --assume-kernel 6.1.0  # the same pod on 6.1: another victim
  oomkit sim run my.yaml --json | jq 'select(.event=="oom_kill")'
  oomkit sim commit-limit --memory 12GiB --swap 4GiB --ratio 50`,
	}
	cmd.AddCommand(simRunCmd(s), simListCmd(s), simShowCmd(s), simCommitLimitCmd(s))
	return cmd
}

func simRunCmd(s *streams) *cobra.Command {
	cfg := simRunConfig{}
	cmd := &cobra.Command{
		Use:   "run SCENARIO.yaml|NAME|-",
		Short: "Run a scenario file or a built-in scenario and print its timeline",
		Long: `run plays a scenario and prints a readable timeline (allocations, ENOMEM,
forks, sysctl changes, OOM kills, evictions, runtime heap failures, panics)
and a summary per process. Long runs of allocations by one process are
shortened (--full prints every one). "-" reads the scenario from standard
input.

--json prints one oomkit.sim/v1 record per event (JSON Lines) and a final
"end" record with every process's allocated_bytes, resident_bytes and
stop_reason (max, enomem, oom_kill, evicted, runtime_oom, exited, running)
and the node's commit_limit_bytes and committed_as_bytes (docs/sim.md).

--report FILE writes every OOM kill as the kernel-format log that kernel
version prints ("-" for standard output, after the timeline); "oomkit
explain FILE" reads it back.

Exit status:
  0  the scenario ran (whatever happened inside it)
  1  the scenario could not be read or is invalid (the error names the key),
     or --report could not be written
  2  usage error (bad flag, bad --assume-kernel or --duration)`,
		Example: `  oomkit sim run fig3
  oomkit sim run movie1 --report movie1.log && oomkit explain movie1.log
  oomkit sim run twist2 --assume-kernel 4.19.72
  oomkit sim run scenario.yaml --json
  oomkit sim show fig3 | sed 's/_ratio: 50/_ratio: 80/' | oomkit sim run -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSim(s, cfg, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.json, "json", false, "print oomkit.sim/v1 records, one JSON object per line (docs/sim.md)")
	f.StringVar(&cfg.report, "report", "", "write the kernel-format OOM reports to `FILE` (- for standard output)")
	f.StringVar(&cfg.assume, "assume-kernel", "", "run with kernel `VERSION`'s rules instead of the scenario's (e.g. 6.1.0)")
	f.StringVar(&cfg.duration, "duration", "", "simulate for `DURATION` instead of the scenario's (e.g. 10m)")
	f.BoolVar(&cfg.full, "full", false, "print every allocation in the timeline")
	f.IntVar(&cfg.maxSteps, "max-steps", sim.DefaultMaxSteps, "stop after `N` steps (allocations, forks, kubelet passes); the end record says truncated")
	return cmd
}

// maxScenarioBytes bounds a scenario file (and standard input): a
// scenario is a few KiB, one with 10,000 processes about 1.3 MiB; the YAML
// parser and the model hold about 60 times their input (a 16 MiB file
// peaked at 900 MB), so 4 MiB (30,000 processes) keeps a run under 300 MB
// (BENCHMARKS.md, issue 15).
const maxScenarioBytes = 4 << 20

// loadScenario reads a scenario file, or a built-in when no such file
// exists and the name is one.
func loadScenario(in io.Reader, arg string) (*sim.Scenario, error) {
	if arg == "-" {
		data, err := readBounded(in, "standard input", maxScenarioBytes)
		if err != nil {
			return nil, fmt.Errorf("read scenario: %w", err)
		}
		return sim.Load("-", data)
	}
	f, err := os.Open(arg)
	if err == nil {
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory: give a scenario file (docs/sim.md) or a built-in name ('oomkit sim list')", arg)
		}
		data, err := readBounded(f, arg, maxScenarioBytes)
		if err != nil {
			return nil, fmt.Errorf("read scenario: %w", err)
		}
		return sim.Load(arg, data)
	}
	if _, ok := sim.BuiltinYAML(arg); ok {
		return sim.Builtin(arg)
	}
	if errors.Is(err, fs.ErrNotExist) {
		var names []string
		for _, b := range sim.Builtins() {
			names = append(names, b.Name)
		}
		return nil, fmt.Errorf("%s: no such file, and no built-in scenario of that name (built-ins: %s)", arg, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("read scenario: %w", err)
}

// readBounded reads all of r, refusing more than max bytes: a file input
// is never read into memory without a bound (/dev/zero, a runaway pipe).
func readBounded(r io.Reader, name string, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %s, more than any input of its kind (is it the right file?)", name, bytesize.Format(max))
	}
	return data, nil
}

func runSim(s *streams, cfg simRunConfig, arg string) error {
	if cfg.maxSteps < 1 {
		return usageError("--max-steps %d: want 1 or more", cfg.maxSteps)
	}
	if cfg.json && cfg.report == "-" {
		return usageError("--report - would mix the kernel log into --json's JSON Lines: give --report a FILE")
	}
	if cfg.json && cfg.full {
		return usageError("--full prints every allocation in the text timeline; --json always has every event")
	}
	var assume *mm.Version
	if cfg.assume != "" {
		v, err := mm.ParseModelled(cfg.assume)
		if err != nil {
			return usageError("--assume-kernel: %v", err)
		}
		assume = &v
	}
	sc, err := loadScenario(s.in, arg)
	if err != nil {
		return err
	}
	if cfg.duration != "" {
		d, err := sim.ParseDuration(cfg.duration)
		if err != nil || d <= 0 {
			return usageError("--duration %q: want a duration such as 10m or 90s", cfg.duration)
		}
		sc.Duration = d
	}
	if assume != nil {
		sc.Kernel = *assume
	}
	// Events and reports stream out as the run makes them: memory does
	// not grow with the length of the run or its number of OOM kills.
	reports, err := openReports(cfg.report)
	if err != nil {
		return err
	}
	defer reports.discard()
	var text *visible.TextWriter
	var out io.Writer
	if cfg.json {
		out = s.json()
	} else {
		text = s.text()
		out = text
	}
	w := bufio.NewWriter(out)
	opts := sim.Options{MaxSteps: cfg.maxSteps, Stop: func() bool { return s.outErr() != nil || reports.err != nil }}
	opts.OnReport = reports.write(sc.Kernel)
	var tl *simTimeline
	if cfg.json {
		enc := json.NewEncoder(w)
		opts.OnEvent = func(ev *sim.Event) { _ = enc.Encode(ev) }
	} else {
		tl = &simTimeline{w: w, full: cfg.full}
		writeSimHeader(w, sc)
		opts.OnEvent = tl.event
	}
	res, err := sim.Run(sc, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", arg, err)
	}
	if tl != nil {
		tl.flush()
		writeSimSummary(w, &res.End, res.Truncated)
	}
	if err := reports.finish(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if text != nil {
		if err := text.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}

// simReports writes the kernel-format reports of --report as the run
// makes them: straight into FILE, or, for "-" (standard output, after the
// timeline), into a temporary file copied out at the end.
type simReports struct {
	name  string // --report's FILE, "-", or "" for none
	f     *os.File
	spool bool // f is the temporary file of "-"
	flush func() error
	err   error
}

func openReports(name string) (*simReports, error) {
	r := &simReports{name: name}
	var err error
	switch name {
	case "":
		return r, nil
	case "-":
		r.f, err = os.CreateTemp("", "oomkit-sim-report-")
		if err == nil {
			_ = os.Remove(r.f.Name()) // gone when closed
		}
		r.spool = true
	default:
		r.f, err = os.Create(name)
	}
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return r, nil
}

// write returns the sim.Options.OnReport that writes each report as kernel
// v prints it; nil (reports kept by nobody) without --report.
func (r *simReports) write(v mm.Version) func(*oomlog.Report) {
	if r.f == nil {
		return func(*oomlog.Report) {} // nobody reads them: do not keep them
	}
	bw := bufio.NewWriter(r.f)
	r.flush = bw.Flush
	return func(rep *oomlog.Report) {
		if r.err == nil {
			r.err = sim.WriteReport(bw, rep, v)
		}
	}
}

// finish completes the reports: FILE is closed, the spooled reports of
// "-" are copied to stdout.
func (r *simReports) finish(stdout io.Writer) error {
	if r.f == nil {
		return nil
	}
	if r.err == nil && r.flush != nil {
		r.err = r.flush()
	}
	where := r.name
	if r.spool {
		where = "a temporary file"
	}
	if r.err != nil {
		return fmt.Errorf("--report: write %s: %w", where, r.err)
	}
	if r.spool {
		if _, err := r.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if _, err := io.Copy(stdout, r.f); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	f := r.f
	r.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

// discard closes what finish did not (an error on the way).
func (r *simReports) discard() {
	if r.f != nil {
		r.f.Close()
	}
}

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

// writeSimHeader prints the scenario's first lines: kernel, node, sysctls
// and its description.
func writeSimHeader(w io.Writer, sc *sim.Scenario) {
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
		fmt.Fprintf(w, "%s\n", simWrap(visible.String(sc.Description), 78, "  "))
	}
	fmt.Fprintln(w)
}

// simTimeline prints the timeline as the events come. A run of more than
// six allocations in a row shows its first two and last two and a line
// for the rest, so it holds at most six events (and the PIDs of one run)
// whatever the length of the run.
type simTimeline struct {
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

// event is sim.Options.OnEvent.
func (t *simTimeline) event(ev *sim.Event) {
	if t.ended {
		return
	}
	if ev.Event == sim.EvAlloc && !t.full {
		t.alloc(ev)
		return
	}
	t.flush()
	if ev.Event == sim.EvEnd {
		t.ended = true
		return
	}
	writeSimEvent(t.w, ev)
}

func (t *simTimeline) alloc(ev *sim.Event) {
	t.n++
	switch {
	case t.n <= 6:
		t.first = append(t.first, *ev)
	case t.n == 7:
		// Now it is a long run: its first two are shown, the next three
		// are in the middle, the last two so far are kept.
		writeSimEvent(t.w, &t.first[0])
		writeSimEvent(t.w, &t.first[1])
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
func (t *simTimeline) middle(ev *sim.Event) {
	if !t.seen[ev.PID] {
		t.seen[ev.PID] = true
		if len(t.whom) < 3 {
			t.whom = append(t.whom, who(ev))
		}
	}
}

// flush ends the current run of allocations.
func (t *simTimeline) flush() {
	switch {
	case t.n == 0:
		return
	case t.n <= 6:
		for i := range t.first {
			writeSimEvent(t.w, &t.first[i])
		}
	default:
		whom := t.whom
		if len(t.seen) > 3 {
			whom = append(whom, fmt.Sprintf("%d more processes", len(t.seen)-3))
		}
		fmt.Fprintf(t.w, "  %10s  %-11s %d more allocations by %s\n", "…", "", t.n-4, strings.Join(whom, ", "))
		writeSimEvent(t.w, &t.last[0])
		writeSimEvent(t.w, &t.last[1])
	}
	t.n, t.first, t.whom, t.seen = 0, t.first[:0], nil, nil
}

func writeSimEvent(w io.Writer, ev *sim.Event) {
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

func writeSimSummary(w io.Writer, end *sim.Event, truncated bool) {
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

// simWrap breaks text into lines of at most width runes, each prefixed.
func simWrap(text string, width int, prefix string) string {
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

func simListCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios (the article's figures and movies)",
		Example: `  oomkit sim list
  oomkit sim run fig3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := bufio.NewWriter(s.out)
			for _, b := range sim.Builtins() {
				fmt.Fprintf(w, "%s\n%s\n\n", b.Name, simWrap(b.Description, 78, "    "))
			}
			return w.Flush()
		},
	}
}

func simShowCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a built-in scenario's YAML (a starting point for your own)",
		Example: `  oomkit sim show twist1 > my.yaml
  oomkit sim run my.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, ok := sim.BuiltinYAML(args[0])
			if !ok {
				_, err := sim.Builtin(args[0])
				return usageError("%v", err)
			}
			_, err := s.out.Write(data)
			return err
		},
	}
}

// commitLimitConfig is what `sim commit-limit`'s flags say.
type commitLimitConfig struct {
	memory, swap, hugetlb, committed string
	ratio, kbytes                    int64
	json                             bool
}

func simCommitLimitCmd(s *streams) *cobra.Command {
	cfg := commitLimitConfig{}
	cmd := &cobra.Command{
		Use:   "commit-limit --memory SIZE [--swap SIZE] [--ratio N | --kbytes N] [--hugetlb SIZE]",
		Short: "Compute CommitLimit (vm.overcommit_memory=2) from RAM, swap and the overcommit sysctls",
		Long: `commit-limit computes what /proc/meminfo's CommitLimit would be, as
vm_commit_limit() does (mm/util.c): with vm.overcommit_kbytes set, that
amount; otherwise (RAM − huge pages) × vm.overcommit_ratio / 100; plus the
total swap. It is enforced only in mode 2. With --committed it also says
how much more a process could allocate in mode 2 (minus the 128 MiB user
reserve and the 8 MiB admin reserve of a process without CAP_SYS_ADMIN).

Exit status:
  0  computed
  2  usage error (missing --memory, bad size)`,
		Example: `  oomkit sim commit-limit --memory 12GiB --swap 4GiB --ratio 50       # 10 GiB (Figure 2)
  oomkit sim commit-limit --memory 12GiB --swap 4GiB --ratio 50 --committed 4GiB
  oomkit sim commit-limit --memory 12GiB --swap 4GiB --ratio 0        # swap only (Movie 3)
  oomkit sim commit-limit --memory 64GiB --kbytes 33554432 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCommitLimit(s, cfg, cmd.Flags().Changed("ratio"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.memory, "memory", "", "the node's RAM (MemTotal), e.g. 12GiB")
	f.StringVar(&cfg.swap, "swap", "0", "total swap, e.g. 4GiB")
	f.Int64Var(&cfg.ratio, "ratio", 50, "vm.overcommit_ratio, percent")
	f.Int64Var(&cfg.kbytes, "kbytes", 0, "vm.overcommit_kbytes (replaces --ratio when set)")
	f.StringVar(&cfg.hugetlb, "hugetlb", "0", "persistent huge pages (nr_hugepages × size), taken from RAM before the ratio")
	f.StringVar(&cfg.committed, "committed", "", "Committed_AS now, to say how much more fits")
	f.BoolVar(&cfg.json, "json", false, "print one oomkit.sim/v1 commit_limit record")
	return cmd
}

// commitLimitRecord is the --json output of sim commit-limit.
type commitLimitRecord struct {
	Schema            string `json:"schema"`
	Event             string `json:"event"`
	MemoryBytes       int64  `json:"memory_bytes"`
	SwapBytes         int64  `json:"swap_bytes"`
	HugetlbBytes      int64  `json:"hugetlb_bytes"`
	OvercommitRatio   int64  `json:"overcommit_ratio"`
	OvercommitKBytes  int64  `json:"overcommit_kbytes"`
	CommitLimitBytes  int64  `json:"commit_limit_bytes"`
	CommittedASBytes  *int64 `json:"committed_as_bytes"`
	AllocatableBytes  *int64 `json:"allocatable_bytes"`
	UserReserveBytes  int64  `json:"user_reserve_bytes"`
	AdminReserveBytes int64  `json:"admin_reserve_bytes"`
}

func runCommitLimit(s *streams, cfg commitLimitConfig, ratioSet bool) error {
	if cfg.memory == "" {
		return usageError("--memory is required (e.g. --memory 12GiB)")
	}
	parse := func(flag, v string) (int64, error) {
		n, err := bytesize.Parse(v)
		if err != nil {
			return 0, usageError("--%s: %v", flag, err)
		}
		return n, nil
	}
	mem, err := parse("memory", cfg.memory)
	if err != nil {
		return err
	}
	swap, err := parse("swap", cfg.swap)
	if err != nil {
		return err
	}
	huge, err := parse("hugetlb", cfg.hugetlb)
	if err != nil {
		return err
	}
	if huge > mem {
		return usageError("--hugetlb %s is more than --memory %s", cfg.hugetlb, cfg.memory)
	}
	if cfg.ratio < 0 || cfg.kbytes < 0 {
		return usageError("--ratio and --kbytes cannot be negative")
	}
	// vm.overcommit_ratio is an int (proc_dointvec refuses more with
	// EINVAL); vm.overcommit_kbytes an unsigned long of kB, which oomkit
	// keeps within 8 EiB.
	if cfg.ratio > math.MaxInt32 {
		return usageError("--ratio %d: the kernel takes at most %d (vm.overcommit_ratio is an int)", cfg.ratio, math.MaxInt32)
	}
	if cfg.kbytes > math.MaxInt64/1024 {
		return usageError("--kbytes %d: more than 8 EiB", cfg.kbytes)
	}
	if cfg.kbytes != 0 && ratioSet {
		return usageError("give --ratio or --kbytes, not both: the kernel keeps only the one written last")
	}
	oc := mm.Overcommit{Mode: mm.OvercommitNever, Ratio: cfg.ratio, KBytes: cfg.kbytes}
	if cfg.kbytes != 0 {
		oc.Ratio = 0
	}
	const page = mm.PageSize
	// The kernel's unsigned long would wrap past 2^64 bytes; oomkit's
	// int64 past 8 EiB. No machine comes near: refuse, never wrap.
	exact := new(big.Int).Mul(big.NewInt((mem-huge)/page), big.NewInt(oc.Ratio))
	exact.Quo(exact, big.NewInt(100))
	if oc.KBytes != 0 {
		exact.SetInt64(oc.KBytes / (page / 1024))
	}
	exact.Add(exact, big.NewInt(swap/page))
	exact.Mul(exact, big.NewInt(page))
	if !exact.IsInt64() {
		return usageError("CommitLimit would be %s bytes, more than 8 EiB: check --memory, --swap and --ratio", exact)
	}
	limit := mm.CommitLimitPages(mem/page, huge/page, swap/page, oc) * page
	res := mm.DefaultReserves((mem - huge) / 1024)
	rec := commitLimitRecord{Schema: sim.Schema, Event: "commit_limit", MemoryBytes: mem, SwapBytes: swap, HugetlbBytes: huge,
		OvercommitRatio: oc.Ratio, OvercommitKBytes: oc.KBytes, CommitLimitBytes: limit,
		UserReserveBytes: res.UserKB * 1024, AdminReserveBytes: res.AdminKB * 1024}
	if cfg.committed != "" {
		c, err := parse("committed", cfg.committed)
		if err != nil {
			return err
		}
		free := max(limit-c-rec.UserReserveBytes-rec.AdminReserveBytes, 0)
		rec.CommittedASBytes, rec.AllocatableBytes = &c, &free
	}
	if cfg.json {
		return json.NewEncoder(s.json()).Encode(rec)
	}
	w := bufio.NewWriter(s.out)
	if cfg.kbytes != 0 {
		fmt.Fprintf(w, "CommitLimit = overcommit_kbytes %d KiB + swap %s = %s\n", cfg.kbytes, bytesize.Format(swap), bytesize.Format(limit))
	} else {
		fmt.Fprintf(w, "CommitLimit = (RAM %s − huge pages %s) × %d%% + swap %s = %s\n",
			bytesize.Format(mem), bytesize.Format(huge), cfg.ratio, bytesize.Format(swap), bytesize.Format(limit))
	}
	if rec.AllocatableBytes != nil {
		fmt.Fprintf(w, "With Committed_AS at %s, a process can still commit about %s in mode 2 (after the %s user and %s admin reserves).\n",
			bytesize.Format(*rec.CommittedASBytes), bytesize.Format(*rec.AllocatableBytes), bytesize.Format(rec.UserReserveBytes), bytesize.Format(rec.AdminReserveBytes))
	}
	if limit > mem+swap {
		fmt.Fprintf(w, "This is more than RAM + swap (%s): mode 2 still overcommits, and the OOM killer can still run.\n", bytesize.Format(mem+swap))
	}
	fmt.Fprintln(w, "Only vm.overcommit_memory=2 enforces it; modes 0 and 1 just print it in /proc/meminfo.")
	return w.Flush()
}
