package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
	"github.com/oomkit/oomkit/internal/render"
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
	var tl *render.SimTimeline
	if cfg.json {
		enc := json.NewEncoder(w)
		opts.OnEvent = func(ev *sim.Event) { _ = enc.Encode(ev) }
	} else {
		tl = render.NewSimTimeline(w, cfg.full)
		render.SimHeader(w, sc)
		opts.OnEvent = tl.Event
	}
	res, err := sim.Run(sc, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", arg, err)
	}
	if tl != nil {
		tl.Flush()
		render.SimSummary(w, &res.End, res.Truncated)
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
				fmt.Fprintf(w, "%s\n%s\n\n", b.Name, render.Wrap(b.Description, 78, "    "))
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
	in := sim.CommitLimitInput{MemoryBytes: mem, SwapBytes: swap, HugetlbBytes: huge, Ratio: cfg.ratio, KBytes: cfg.kbytes}
	if cfg.committed != "" {
		c, err := parse("committed", cfg.committed)
		if err != nil {
			return err
		}
		in.CommittedASBytes = &c
	}
	rec, err := sim.CommitLimit(in)
	if err != nil {
		return usageError("%v", err)
	}
	if cfg.json {
		return json.NewEncoder(s.json()).Encode(rec)
	}
	w := bufio.NewWriter(s.out)
	render.CommitLimit(w, rec)
	return w.Flush()
}
