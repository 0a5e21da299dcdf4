package cli

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/node"
	"github.com/oomkit/oomkit/internal/render"
	"github.com/oomkit/oomkit/internal/visible"
)

// topConfig is what the top flags ask for.
type topConfig struct {
	procRoot, sysRoot string
	cgroup            string
	assumeKernel      string
	once, json        bool
	interval          time.Duration
	sortKey           string
	filter            string
	limit             int
	commit            bool
}

func newTopCommand(s *streams) *cobra.Command {
	var cfg topConfig
	cmd := &cobra.Command{
		Use:   "top [--once] [--json] [--cgroup PATH] [--sort KEY] [--filter TEXT]",
		Short: "Rank every process the way the OOM killer would: who dies first",
		Long: `top ranks processes the way the kernel's OOM killer would choose its victim,
and shows why: the badness inputs (resident pages, swap entries, page-table
pages), oom_score_adj, the badness points, /proc/PID/oom_score as the kernel
reports it, and oomkit's own oom_score computed from the same inputs with the
running kernel's rules. They agree; a "*" after MODEL marks a difference
(the process changed between the reads, or a kernel whose rules oomkit does
not know), a "~" a difference of a point or two that 6.2+ kernels'
per-CPU RSS counters explain (the OOM killer reads them before they are
summed; status shows the sum).

Without --cgroup the ranking is for a global OOM ("Out of memory"): every
process, totalpages = RAM + swap, scanned oldest first. With --cgroup PATH it
is for that memory cgroup's OOM ("Memory cgroup out of memory"): only the
processes in PATH and below, totalpages from PATH's limit (+ swap where the
kernel counts it), cgroups scanned parent first, children in creation order.
oom_score_adj is scaled by totalpages/1000, so the same adj weighs very
differently in a small container.

The badness is oom_badness() of mm/oom_kill.c: RssAnon + RssFile + RssShmem +
VmSwap + VmPTE (mm_pgtables_bytes; + VmPMD on 4.14 and older) in pages, plus
oom_score_adj × totalpages/1000. Kernels ≤ 5.8 (and 5.4.0–5.4.143) clamp it
to at least 1; 5.9+ keep it signed. Kernel threads, zombies, init and
oom_score_adj −1000 are never chosen and are listed last, unranked.

With --commit each process's commit charge is shown too (COMMIT): the size
of its private writable mappings that the kernel counted in Committed_AS
(VmFlags "ac" in /proc/PID/smaps), what its next fork() must find room for
under vm.overcommit_memory=2. Reading smaps walks page tables, about 1 ms
of CPU per process, so it is off by default.

The default is a live view refreshed every --interval. Keys: q quit, s next
sort key (rank, rss, swap, pgtables, adj, pid, commit), r reverse, / filter by
cgroup, pod or name (Enter applies, Esc clears), p only Kubernetes pods.
When stdout is not a terminal, or with --once, top prints one table and
exits. --json prints one oomkit.top/v1 object per process in rank order
(see docs/top.md).

Exit status:
  0  success
  1  error (no /proc, unreadable cgroup)
  2  usage error`,
		Example: `  oomkit top                                   # live view
  oomkit top --once                            # one table, e.g. for a ticket
  oomkit top --once --json | head -1           # the next victim of a global OOM
  oomkit top --once --commit --sort commit     # who holds the most commit charge (Committed_AS)
  oomkit top --once --cgroup /kubepods/burstable/pod0057cc81-ea16-463a-96c2-fc74acfb9c47
  oomkit top --proc-root /host/proc --sys-root /host/sys   # from a DaemonSet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.interval <= 0 {
				return usageError("--interval %s: want a positive duration such as 2s", cfg.interval)
			}
			if !slices.Contains(render.TopSortKeys, cfg.sortKey) {
				return usageError("--sort %q: want one of %s", cfg.sortKey, strings.Join(render.TopSortKeys, ", "))
			}
			if cfg.limit < 0 {
				return usageError("--limit %d: want 0 (all) or more", cfg.limit)
			}
			if cfg.json || cfg.once || !isTerminal(s.out) {
				return runTopOnce(s, cfg)
			}
			return runTopLive(s, cfg)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.once, "once", false, "print one table (or JSON) and exit")
	f.BoolVar(&cfg.json, "json", false, "print oomkit.top/v1 JSON Lines, one per process in rank order (implies --once)")
	f.StringVar(&cfg.cgroup, "cgroup", "", "rank for this memory cgroup's OOM (a cgroup path such as /kubepods/burstable/pod…)")
	f.DurationVar(&cfg.interval, "interval", 2*time.Second, "live view refresh interval")
	f.StringVar(&cfg.sortKey, "sort", "rank", "sort by: "+strings.Join(render.TopSortKeys, ", "))
	f.StringVar(&cfg.filter, "filter", "", "show only processes whose name, cgroup or pod contains TEXT")
	f.IntVar(&cfg.limit, "limit", 0, "show at most N processes (0: all)")
	f.BoolVar(&cfg.commit, "commit", false, "also show each process's commit charge (COMMIT, commit_bytes) from /proc/PID/smaps: a page-table walk, about 1 ms of CPU per process")
	f.StringVar(&cfg.assumeKernel, "assume-kernel", "", "use this kernel version's OOM rules instead of the running kernel's")
	f.StringVar(&cfg.procRoot, "proc-root", "/proc", "where proc(5) is mounted (e.g. the host's, in a container)")
	f.StringVar(&cfg.sysRoot, "sys-root", "/sys", "where sysfs is mounted")
	return cmd
}

// openHost reads the host under the given roots, with --assume-kernel's
// version when it is set.
func openHost(procRoot, sysRoot, assumeKernel string) (*node.Host, error) {
	var assume *mm.Version
	if assumeKernel != "" {
		v, err := mm.ParseModelled(assumeKernel)
		if err != nil {
			return nil, usageError("--assume-kernel: %v", err)
		}
		assume = &v
	}
	return node.Open(cgroup.Roots{Proc: procRoot, Sys: sysRoot}, assume)
}

// rank ranks for memcg's OOM (a global one for ""), with a hint on what
// to do when the cgroup cannot be ranked.
func rank(h *node.Host, memcg string, commit bool) (node.Ranking, error) {
	r, err := h.Rank(memcg, node.RankOptions{Commit: commit})
	switch {
	case errors.Is(err, cgroup.ErrNoMemoryController):
		return r, fmt.Errorf("--cgroup needs a memory cgroup controller: %w", cgroup.ErrNoMemoryController)
	case errors.Is(err, cgroup.ErrRemoved):
		return r, fmt.Errorf("%w (list memory cgroups with 'oomkit inspect --all-cgroups')", err)
	}
	return r, err
}

func runTopOnce(s *streams, cfg topConfig) error {
	// One scan allocates a few small objects per process and exits: let
	// the heap grow instead of collecting it mid-scan (a fifth of the CPU
	// time of a 10,000-process run went to the collector).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	h, err := openHost(cfg.procRoot, cfg.sysRoot, cfg.assumeKernel)
	if err != nil {
		return err
	}
	r, err := rank(h, cfg.cgroup, cfg.commit)
	if err != nil {
		return err
	}
	rows := render.TopRows(r.Processes, cfg.sortKey, false, cfg.filter, false)
	if cfg.limit > 0 && len(rows) > cfg.limit {
		rows = rows[:cfg.limit]
	}
	if cfg.json {
		err = render.TopJSON(s.json(), r, rows)
	} else {
		t := s.text()
		render.TopTable(t, r, rows, 0)
		err = t.Flush()
	}
	// Notes go to stderr in both formats, so JSON Lines stay clean.
	for _, n := range render.TopNotes(r) {
		fmt.Fprintf(s.err, "oomkit: note: %s\n", visible.String(n))
	}
	return err
}

var errNoTerminal = errors.New("the live view needs a terminal: use --once or --json")

// runTopLive runs the refreshing terminal view until q or Ctrl-C.
func runTopLive(s *streams, cfg topConfig) error {
	if !isTerminal(s.out) {
		return errNoTerminal
	}
	h, err := openHost(cfg.procRoot, cfg.sysRoot, cfg.assumeKernel)
	if err != nil {
		return err
	}
	m := &topModel{host: h, cfg: cfg, sortKey: cfg.sortKey, filter: cfg.filter}
	m.refresh()
	if m.err != nil {
		return m.err
	}
	// The program draws on the terminal itself (it needs the *os.File to
	// size the screen); its rows come from render.TopLine, escaped.
	opts := []tea.ProgramOption{tea.WithOutput(s.out.w)}
	if s.in != nil {
		opts = append(opts, tea.WithInput(s.in))
	}
	if _, err := tea.NewProgram(m, opts...).Run(); err != nil {
		return fmt.Errorf("live view: %w", err)
	}
	return m.err
}

// topModel is the live view's state.
type topModel struct {
	host          *node.Host
	cfg           topConfig
	snap          node.Ranking
	err           error
	sortKey       string
	reverse       bool
	podsOnly      bool
	filter        string
	editing       bool
	input         string
	width, height int
}

type topTick time.Time

func (m *topModel) refresh() {
	snap, err := rank(m.host, m.cfg.cgroup, m.cfg.commit)
	if err != nil {
		m.err = err
		return
	}
	m.snap = snap
}

func (m *topModel) tick() tea.Cmd {
	return tea.Tick(m.cfg.interval, func(t time.Time) tea.Msg { return topTick(t) })
}

// Init starts the refresh timer.
func (m *topModel) Init() tea.Cmd { return m.tick() }

// Update handles keys, resizes and refresh ticks.
func (m *topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case topTick:
		m.refresh()
		if m.err != nil {
			return m, tea.Quit
		}
		return m, m.tick()
	case tea.KeyPressMsg:
		if m.editing {
			switch msg.String() {
			case "enter":
				m.filter, m.editing = m.input, false
			case "esc":
				m.editing, m.input = false, ""
			case "backspace":
				if r := []rune(m.input); len(r) > 0 {
					m.input = string(r[:len(r)-1])
				}
			case "ctrl+c":
				return m, tea.Quit
			default:
				if t := msg.Key().Text; t != "" {
					m.input += t
				}
			}
			return m, nil
		}
		switch msg.String() {
		case "q", "ctrl+c":
			return m, tea.Quit
		case "s":
			i := slices.Index(render.TopSortKeys, m.sortKey)
			m.sortKey = render.TopSortKeys[(i+1)%len(render.TopSortKeys)]
		case "r":
			m.reverse = !m.reverse
		case "p":
			m.podsOnly = !m.podsOnly
		case "/":
			m.editing, m.input = true, m.filter
		case "esc":
			m.filter = ""
		}
	}
	return m, nil
}

var (
	topTitle   = lipgloss.NewStyle().Bold(true)
	topHead    = lipgloss.NewStyle().Reverse(true)
	topFirst   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
	topDim     = lipgloss.NewStyle().Faint(true)
	topWarning = lipgloss.NewStyle().Foreground(lipgloss.Color("11"))
)

// View draws the header, the ranking and the key help.
func (m *topModel) View() tea.View {
	var b strings.Builder
	snap := m.snap
	scope := "global OOM"
	if snap.Memcg != "" {
		scope = "memcg " + visible.String(snap.Memcg) + " OOM"
	}
	fmt.Fprintf(&b, "%s  %s  ranked for a %s: totalpages %d, kernel %s (%s)\n", topTitle.Render("oomkit top"), snap.At.Format("15:04:05"),
		scope, snap.TotalPages, snap.Kernel, snap.Rules)
	mem := snap.Meminfo
	fmt.Fprintf(&b, "MemTotal %s  MemAvailable %s  Swap %s  sort %s%s  filter %q%s\n",
		render.KBWord(mem.MemTotalKB), render.KBWord(mem.MemAvailableKB), render.KBWord(mem.SwapTotalKB), m.sortKey, map[bool]string{true: " (reversed)"}[m.reverse],
		m.filter, map[bool]string{true: "  [pods only]"}[m.podsOnly])
	rows := render.TopRows(snap.Processes, m.sortKey, m.reverse, m.filter, m.podsOnly)
	b.WriteString(topHead.Render(render.TopColumns(snap.Commit)) + "\n")
	room := m.height - 5
	if room <= 0 {
		room = 20
	}
	for i, r := range rows {
		if i >= room {
			break
		}
		line := render.TopLine(r, snap.OOMScoreLag, snap.Commit)
		switch {
		case r.Rank != nil && *r.Rank == 1:
			line = topFirst.Render(line)
		case r.Rank == nil:
			line = topDim.Render(line)
		}
		b.WriteString(line + "\n")
	}
	notes := render.TopNotes(snap)
	if len(notes) > 0 {
		b.WriteString(topWarning.Render("note: "+notes[0]) + "\n")
	}
	if m.editing {
		b.WriteString("filter: " + m.input + "█")
	} else {
		b.WriteString(topDim.Render(fmt.Sprintf("%d processes  q quit  s sort  r reverse  / filter  p pods only  esc clear", len(rows))))
	}
	v := tea.NewView(b.String())
	v.AltScreen = true
	return v
}
