package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/proc"
)

func init() {
	register(newTopCommand)
}

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
			if !slices.Contains(topSortKeys, cfg.sortKey) {
				return usageError("--sort %q: want one of %s", cfg.sortKey, strings.Join(topSortKeys, ", "))
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
	f.StringVar(&cfg.sortKey, "sort", "rank", "sort by: "+strings.Join(topSortKeys, ", "))
	f.StringVar(&cfg.filter, "filter", "", "show only processes whose name, cgroup or pod contains TEXT")
	f.IntVar(&cfg.limit, "limit", 0, "show at most N processes (0: all)")
	f.BoolVar(&cfg.commit, "commit", false, "also show each process's commit charge (COMMIT, commit_bytes) from /proc/PID/smaps: a page-table walk, about 1 ms of CPU per process")
	f.StringVar(&cfg.assumeKernel, "assume-kernel", "", "use this kernel version's OOM rules instead of the running kernel's")
	f.StringVar(&cfg.procRoot, "proc-root", "/proc", "where proc(5) is mounted (e.g. the host's, in a container)")
	f.StringVar(&cfg.sysRoot, "sys-root", "/sys", "where sysfs is mounted")
	return cmd
}

var topSortKeys = []string{"rank", "rss", "swap", "pgtables", "adj", "pid", "commit"}

// topRow is one process in the ranking: the oomkit.top/v1 object.
type topRow struct {
	Schema string `json:"schema"`
	// Rank is 1 for the process the kernel would kill first; null for
	// processes it never chooses.
	Rank          *int    `json:"rank"`
	PID           int     `json:"pid"`
	Comm          string  `json:"comm"`
	Cgroup        *string `json:"cgroup"`
	PodUID        *string `json:"pod_uid"`
	ContainerID   *string `json:"container_id"`
	QOSClass      *string `json:"qos_class"`
	RSSPages      int64   `json:"rss_pages"`
	SwapPages     int64   `json:"swap_pages"`
	PgtablesPages int64   `json:"pgtables_pages"`
	// CommitBytes is the process's commit charge (its VM_ACCOUNT
	// mappings, /proc/PID/smaps) with --commit; null without.
	CommitBytes *int64 `json:"commit_bytes"`
	OOMScoreAdj int64  `json:"oom_score_adj"`
	// Points is oom_badness() against this ranking's totalpages; null when
	// the kernel never chooses the process.
	Points        *int64  `json:"points"`
	Eligible      bool    `json:"eligible"`
	Ineligible    *string `json:"ineligible_reason"`
	OOMScore      int64   `json:"oom_score"`
	ModelOOMScore int64   `json:"model_oom_score"`
	Scope         string  `json:"scope"`
	TotalPages    int64   `json:"total_pages"`
	Rules         string  `json:"rules"`
	KernelVersion string  `json:"kernel_version"`

	startTime uint64
	pod       string // "pod/container" for display
}

// topSnapshot is one ranking of the machine (or one memcg).
type topSnapshot struct {
	Rows  []topRow
	Scope string // "global" or "memcg PATH"
	// TotalPages is the ranking's denominator, GlobalTotalPages the one
	// /proc/PID/oom_score uses.
	TotalPages, GlobalTotalPages int64
	Rules                        mm.Rules
	Kernel                       string
	Gone                         int
	// OOMScoreLag is how many points the kernel's oom_score may differ
	// from model_oom_score on this kernel and CPU count (mm.OOMScoreLag).
	OOMScoreLag int64
	// Commit is set when the rows carry commit charges (--commit).
	Commit bool
	Notes  []string
	At     time.Time
}

// topHost holds what top and inspect read once per host.
type topHost struct {
	fs      proc.FS
	roots   cgroup.Roots
	layout  cgroup.Layout
	mem     proc.Meminfo
	version mm.Version
	rules   mm.Rules
	cpus    int // online CPUs, for the per-CPU RSS counters' lag
	notes   []string
	// readCommit makes snapshot read each process's smaps (--commit).
	readCommit bool
}

func loadHost(procRoot, sysRoot, assumeKernel string) (*topHost, error) {
	fs, err := proc.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("%w (is --proc-root a mounted /proc?)", err)
	}
	h := &topHost{fs: fs, roots: cgroup.Roots{Proc: procRoot, Sys: sysRoot}}
	h.mem, err = fs.Meminfo()
	if err != nil {
		return nil, fmt.Errorf("%w (is --proc-root a mounted /proc?)", err)
	}
	if h.mem.MemTotalKB == nil {
		return nil, fmt.Errorf("%s/meminfo has no MemTotal line (is --proc-root a mounted /proc?)", procRoot)
	}
	rel := assumeKernel
	if rel == "" {
		if rel, err = fs.OSRelease(); err != nil {
			h.notes = append(h.notes, fmt.Sprintf("%v: assuming the newest kernel rules (use --assume-kernel)", err))
			rel = "6.18"
		}
	}
	if h.version, err = mm.ParseVersion(rel); err != nil {
		if assumeKernel != "" {
			return nil, usageError("--assume-kernel: %v", err)
		}
		h.notes = append(h.notes, fmt.Sprintf("%v: assuming the newest kernel rules (use --assume-kernel)", err))
		h.version, _ = mm.ParseVersion("6.18")
	}
	h.rules = mm.RulesFor(h.version)
	if h.cpus, err = fs.OnlineCPUs(); err != nil {
		h.cpus = runtime.NumCPU()
	}
	h.layout, err = cgroup.Detect(h.roots)
	if err != nil {
		h.notes = append(h.notes, fmt.Sprintf("cgroups not detected: %v", err))
	} else if h.layout.Memory == "" {
		h.notes = append(h.notes, cgroup.ErrNoMemoryController.Error())
	}
	return h, nil
}

// pageKB is the page size in kB the OOM arithmetic counts in.
const pageKB = mm.PageSize / 1024

// globalTotalPages is totalram_pages + total_swap_pages, the denominator of
// a global OOM and of /proc/PID/oom_score.
func (h *topHost) globalTotalPages() int64 {
	return derefOr(h.mem.MemTotalKB, 0)/pageKB + derefOr(h.mem.SwapTotalKB, 0)/pageKB
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// snapshot reads every process (or those of cfg.cgroup) and ranks them.
func (h *topHost) snapshot(cgPath string) (topSnapshot, error) {
	snap := topSnapshot{Scope: "global", Rules: h.rules, Kernel: h.version.String(), At: time.Now(), Notes: slices.Clone(h.notes), Commit: h.readCommit}
	snap.GlobalTotalPages = h.globalTotalPages()
	snap.TotalPages = snap.GlobalTotalPages
	snap.OOMScoreLag = mm.OOMScoreLag(h.rules, mm.RSSCounterLagPages(h.version, h.cpus), snap.GlobalTotalPages)
	// With --cgroup, the processes and their memcgs come from the cgroup
	// tree, in mem_cgroup_scan_tasks()'s order: the cgroup, then its
	// descendants in pre-order, each one's processes in cgroup.procs order.
	memcgOf := map[int]string{}
	var memcgPIDs []int
	var walk func(p string)
	walk = func(p string) {
		dir := h.layout.Dir(p)
		for _, pid := range cgroup.PIDs(dir) {
			memcgOf[pid] = p
			memcgPIDs = append(memcgPIDs, pid)
		}
		for _, c := range cgroup.Children(dir) {
			walk(path.Join(p, c))
		}
	}
	var pids []int
	if cgPath == "" {
		var err error
		if pids, err = h.fs.PIDs(); err != nil {
			return snap, err
		}
	} else {
		if h.layout.Memory == "" {
			return snap, fmt.Errorf("--cgroup needs a memory cgroup controller: %w", cgroup.ErrNoMemoryController)
		}
		cgPath = path.Clean("/" + cgPath)
		hier, err := cgroup.ReadHierarchy(h.layout, cgPath)
		if err != nil {
			return snap, fmt.Errorf("%w (list memory cgroups with 'oomkit inspect --all-cgroups')", err)
		}
		snap.Scope = "memcg " + cgPath
		snap.TotalPages, snap.Notes = h.memcgTotalPages(hier, snap.Notes)
		walk(cgPath)
		pids = memcgPIDs
	}
	// Globally, /proc/PID/cgroup (one small file per process) is cheaper
	// than walking a tree that may hold a cgroup per container.
	scan := h.fs.ReadTasks(pids, proc.TaskOptions{Memcg: cgPath == "" && h.layout.Memory != "", MemcgV1: h.layout.Memory == cgroup.V1, Commit: h.readCommit})
	snap.Gone = scan.Gone
	snap.Notes = append(snap.Notes, scan.Notes...)
	for i := range scan.Tasks {
		t := &scan.Tasks[i]
		if p, ok := memcgOf[t.PID]; ok {
			t.Memcg = p
		} else if h.layout.Memory != "" && t.Memcg == "" {
			// Started after the walk (or the tree is unreadable): ask /proc.
			t.Memcg, _ = h.fs.MemoryCgroup(t.PID, h.layout.Memory == cgroup.V1)
		}
	}
	tasks := scan.Tasks
	if cgPath == "" {
		h.orderByCreation(tasks, snap.TotalPages)
	}
	snap.Rows = rankTasks(tasks, h.rules, h.capBonus(), snap.TotalPages, snap.GlobalTotalPages, snap.Scope, h.version.String())
	return snap, nil
}

// capBonus reports a kernel before 4.17, whose oom_badness() took 3 % off
// for CAP_SYS_ADMIN (removed by d46078b28889).
func (h *topHost) capBonus() bool { return !h.version.AtLeast(4, 17, 0) }

// orderByCreation puts tasks (in PID order) into for_each_process()
// order, oldest first, where it matters: only the relative order of tasks
// with equal badness decides a tie, so /proc/PID/stat (the start time) is
// read only for those, and they are permuted among their own places. PID
// order is creation order until PIDs wrap.
func (h *topHost) orderByCreation(tasks []proc.Task, totalpages int64) {
	groups := map[int64][]int{}
	for i, t := range tasks {
		st := t.Status
		mt := mm.Task{RSSPages: st.RSSPages(pageKB), SwapEnts: st.SwapPages(pageKB), PgtablePages: st.PgtablePages(pageKB),
			OOMScoreAdj: int(t.OOMScoreAdj), Unkillable: !st.HasMM || st.Kthread || t.PID == 1,
			CapSysAdmin: h.capBonus() && st.HasCapSysAdmin()}
		if p, ok := mm.Badness(h.rules, mt, totalpages); ok {
			groups[p] = append(groups[p], i)
		}
	}
	for _, idx := range groups {
		if len(idx) < 2 {
			continue
		}
		tied := make([]proc.Task, len(idx))
		for j, i := range idx {
			tied[j] = tasks[i]
			if st, err := h.fs.Stat(tasks[i].PID); err == nil {
				tied[j].StartTime = st.StartTime
			} else {
				tied[j].StartTime = math.MaxUint64 // exited: order unknown, keep it last
			}
		}
		slices.SortStableFunc(tied, func(a, b proc.Task) int {
			if a.StartTime != b.StartTime {
				if a.StartTime < b.StartTime {
					return -1
				}
				return 1
			}
			return a.PID - b.PID
		})
		for j, i := range idx {
			tasks[i] = tied[j]
		}
	}
}

// memcgTotalPages is mem_cgroup_get_max() of the cgroup (or, without a
// limit of its own, of the nearest limited ancestor).
func (h *topHost) memcgTotalPages(hier cgroup.Hierarchy, notes []string) (int64, []string) {
	i := len(hier.Levels) - 1
	if hier.Levels[i].LimitBytes == nil {
		i = hier.EffectiveLimit()
		if i < 0 {
			notes = append(notes, fmt.Sprintf("%s and its ancestors have no memory limit: a memcg OOM cannot happen there; ranking with the global totalpages", hier.Target().Path))
			return h.globalTotalPages(), notes
		}
		notes = append(notes, fmt.Sprintf("%s has no memory limit of its own: ranking with the limit of %s, whose OOM would scan it", hier.Target().Path, hier.Levels[i].Path))
	}
	m := hier.Levels[i]
	limit := *m.LimitBytes / mm.PageSize
	swapLimit := int64(-1)
	switch {
	case m.SwapLimitBytes != nil:
		swapLimit = *m.SwapLimitBytes / mm.PageSize
	case m.MemswLimitBytes != nil:
		swapLimit = *m.MemswLimitBytes / mm.PageSize
	}
	swappiness := int(derefOr(m.Swappiness, 60))
	if m.Version == cgroup.V2 {
		swappiness = int(derefOr(h.fs.SysVM().Swappiness, 60))
	}
	return mm.MemcgTotalPages(h.version, m.Version == cgroup.V2, limit, swapLimit, derefOr(h.mem.SwapTotalKB, 0)/pageKB, swappiness), notes
}

// rankTasks runs the model over tasks in scan order.
//
// capBonus is true for kernels before 4.17, which took 3 % off the badness
// of CAP_SYS_ADMIN processes.
func rankTasks(tasks []proc.Task, rules mm.Rules, capBonus bool, totalpages, globalTotal int64, scope, kernel string) []topRow {
	mt := make([]mm.Task, len(tasks))
	why := make([]string, len(tasks))
	for i, t := range tasks {
		st := t.Status
		mt[i] = mm.Task{
			PID: t.PID, Name: st.Name,
			RSSPages: st.RSSPages(pageKB), SwapEnts: st.SwapPages(pageKB), PgtablePages: st.PgtablePages(pageKB),
			OOMScoreAdj: int(t.OOMScoreAdj), CapSysAdmin: capBonus && st.HasCapSysAdmin(),
		}
		switch {
		case st.Kthread:
			why[i] = "kernel thread"
		case !st.HasMM:
			why[i] = "no memory (kernel thread or zombie)"
		case t.PID == 1:
			why[i] = "init"
		case t.OOMScoreAdj == mm.OOMScoreAdjMin:
			why[i] = "oom_score_adj -1000"
		}
		mt[i].Unkillable = why[i] != "" && t.OOMScoreAdj != mm.OOMScoreAdjMin
	}
	sel := mm.Select(rules, mt, totalpages)
	rows := make([]topRow, 0, len(tasks))
	memcgScope := scope != "global"
	for _, r := range sel.Ranking {
		t := tasks[r.Index]
		row := topRow{
			Schema: "oomkit.top/v1", PID: t.PID, Comm: t.Status.Name,
			RSSPages: mt[r.Index].RSSPages, SwapPages: mt[r.Index].SwapEnts, PgtablesPages: mt[r.Index].PgtablePages,
			OOMScoreAdj: t.OOMScoreAdj, Eligible: r.Eligible,
			OOMScore: t.OOMScore, Scope: scopeWord(memcgScope), TotalPages: totalpages,
			Rules: rules.ID(), KernelVersion: kernel, startTime: t.StartTime, CommitBytes: t.CommitBytes,
		}
		if r.Eligible {
			rank, pts := r.Rank, r.Points
			row.Rank, row.Points = &rank, &pts
		} else if why[r.Index] != "" {
			row.Ineligible = ptrTo(why[r.Index])
		}
		// /proc/PID/oom_score always scales against the global totalpages.
		gp, ok := mm.Badness(rules, mt[r.Index], globalTotal)
		row.ModelOOMScore = mm.OOMScore(rules, gp, ok, globalTotal)
		if t.Memcg != "" {
			cg := t.Memcg
			row.Cgroup = &cg
			if info, ok := kube.ParsePath(cg); ok {
				if info.PodUID != "" {
					row.PodUID = ptrTo(info.PodUID)
					row.pod = "pod" + shortID(info.PodUID, 8)
				}
				if info.ContainerID != "" {
					row.ContainerID = ptrTo(info.ContainerID)
					row.pod += "/" + shortID(info.ContainerID, 12)
				}
				if info.QOSClass != "" {
					row.QOSClass = ptrTo(info.QOSClass)
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func scopeWord(memcg bool) string {
	if memcg {
		return "memcg"
	}
	return "global"
}

func ptrTo[T any](v T) *T { return &v }

func shortID(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func runTopOnce(s *streams, cfg topConfig) error {
	// One scan allocates a few small objects per process and exits: let
	// the heap grow instead of collecting it mid-scan (a fifth of the CPU
	// time of a 10,000-process run went to the collector).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	h, err := loadHost(cfg.procRoot, cfg.sysRoot, cfg.assumeKernel)
	if err != nil {
		return err
	}
	h.readCommit = cfg.commit
	snap, err := h.snapshot(cfg.cgroup)
	if err != nil {
		return err
	}
	rows := viewRows(snap.Rows, cfg.sortKey, false, cfg.filter, false)
	if cfg.limit > 0 && len(rows) > cfg.limit {
		rows = rows[:cfg.limit]
	}
	if cfg.json {
		err = writeTopJSON(s.out, rows)
	} else {
		writeTopTable(s.out, snap, rows, 0)
	}
	// Notes go to stderr in both formats, so JSON Lines stay clean.
	for _, n := range topNotes(snap) {
		fmt.Fprintf(s.err, "oomkit: note: %s\n", n)
	}
	return err
}

func topNotes(snap topSnapshot) []string {
	notes := slices.Clone(snap.Notes)
	if snap.Gone > 0 {
		notes = append(notes, fmt.Sprintf("%d processes exited while they were read and are not listed", snap.Gone))
	}
	return notes
}

func writeTopJSON(w io.Writer, rows []topRow) error {
	// Encode chunks concurrently (encoding is a third of a 10,000-process
	// run's own CPU time), then write them in order: one write per chunk,
	// not one per process.
	const chunk = 1024
	bufs := make([]bytes.Buffer, (len(rows)+chunk-1)/chunk)
	errs := make([]error, len(bufs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range bufs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			enc := json.NewEncoder(&bufs[i])
			for j := i * chunk; j < min((i+1)*chunk, len(rows)); j++ {
				if err := enc.Encode(&rows[j]); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range bufs {
		if errs[i] != nil {
			return fmt.Errorf("encode: %w", errs[i])
		}
		if _, err := w.Write(bufs[i].Bytes()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// viewRows filters and sorts rows for display; rank order is the model's.
func viewRows(rows []topRow, key string, reverse bool, filter string, podsOnly bool) []topRow {
	out := make([]topRow, 0, len(rows))
	for _, r := range rows {
		if podsOnly && r.PodUID == nil {
			continue
		}
		if filter != "" && !strings.Contains(r.Comm, filter) && !strings.Contains(derefOr(r.Cgroup, ""), filter) &&
			!strings.Contains(derefOr(r.PodUID, ""), filter) && !strings.Contains(derefOr(r.ContainerID, ""), filter) &&
			strconv.Itoa(r.PID) != filter {
			continue
		}
		out = append(out, r)
	}
	if key != "rank" {
		val := func(r topRow) int64 {
			switch key {
			case "rss":
				return r.RSSPages
			case "swap":
				return r.SwapPages
			case "pgtables":
				return r.PgtablesPages
			case "adj":
				return r.OOMScoreAdj
			case "commit":
				return derefOr(r.CommitBytes, -1)
			}
			return int64(r.PID)
		}
		slices.SortStableFunc(out, func(a, b topRow) int {
			x, y := val(a), val(b)
			switch {
			case x == y:
				return 0
			case key == "pid" && x < y, key != "pid" && x > y:
				return -1
			}
			return 1
		})
	}
	if reverse {
		slices.Reverse(out)
	}
	return out
}

// writeTopTable prints the ranking as a table; maxRows 0 means all.
func writeTopTable(w io.Writer, snap topSnapshot, rows []topRow, maxRows int) {
	fmt.Fprint(w, topHeader(snap))
	fmt.Fprintln(w, topColumns(snap.Commit))
	for i, r := range rows {
		if maxRows > 0 && i >= maxRows {
			break
		}
		fmt.Fprintln(w, topLine(r, snap.OOMScoreLag, snap.Commit))
	}
}

func topHeader(snap topSnapshot) string {
	scope := "global OOM (every process; totalpages = RAM + swap)"
	if snap.Scope != "global" {
		scope = snap.Scope + " OOM"
	}
	return fmt.Sprintf("Ranked for a %s: totalpages %d, kernel %s (%s rules)\n", scope, snap.TotalPages, snap.Kernel, snap.Rules)
}

// topLine prints one row. Its mark after MODEL: "*" where the kernel's
// oom_score and the model's differ, "~" where they differ by at most lag
// points (per-CPU RSS counters not yet folded; mm.OOMScoreLag).
func topLine(r topRow, lag int64, commit bool) string {
	rank, points := "-", "-"
	if r.Rank != nil {
		rank = strconv.Itoa(*r.Rank)
		points = strconv.FormatInt(*r.Points, 10)
	}
	pod := r.pod
	if pod == "" {
		pod = "-"
	}
	mark := ""
	switch d := r.ModelOOMScore - r.OOMScore; {
	case d != 0 && d >= -lag && d <= lag:
		mark = " ~"
	case d != 0:
		mark = " *"
	}
	cm := ""
	if commit {
		cm = fmt.Sprintf(" %9s", "?")
		if r.CommitBytes != nil {
			cm = fmt.Sprintf(" %9s", pagesWord(*r.CommitBytes/mm.PageSize))
		}
	}
	return fmt.Sprintf("%5s %7d  %-15s %-26s %9s %8s %6s%s %5d %9s %5d %5d%s",
		rank, r.PID, clip(r.Comm, 15), clip(pod, 26), pagesWord(r.RSSPages), pagesWord(r.SwapPages), pagesWord(r.PgtablesPages), cm,
		r.OOMScoreAdj, points, r.OOMScore, r.ModelOOMScore, mark)
}

// topColumns is the table's header line; COMMIT only with --commit.
func topColumns(commit bool) string {
	cm := ""
	if commit {
		cm = fmt.Sprintf(" %9s", "COMMIT")
	}
	return fmt.Sprintf("%5s %7s  %-15s %-26s %9s %8s %6s%s %5s %9s %5s %5s",
		"RANK", "PID", "COMM", "POD/CONTAINER", "RSS", "SWAP", "PGTBL", cm, "ADJ", "POINTS", "SCORE", "MODEL")
}

// pagesWord prints a page count as a short IEC size.
func pagesWord(pages int64) string {
	b := pages * mm.PageSize
	switch {
	case b >= 10<<30:
		return fmt.Sprintf("%dG", b>>30)
	case b >= 10<<20:
		return fmt.Sprintf("%dM", b>>20)
	default:
		return fmt.Sprintf("%dK", b>>10)
	}
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

var errNoTerminal = errors.New("the live view needs a terminal: use --once or --json")

// runTopLive runs the refreshing terminal view until q or Ctrl-C.
func runTopLive(s *streams, cfg topConfig) error {
	if !isTerminal(s.out) {
		return errNoTerminal
	}
	h, err := loadHost(cfg.procRoot, cfg.sysRoot, cfg.assumeKernel)
	if err != nil {
		return err
	}
	h.readCommit = cfg.commit
	m := &topModel{host: h, cfg: cfg, sortKey: cfg.sortKey, filter: cfg.filter}
	m.refresh()
	if m.err != nil {
		return m.err
	}
	opts := []tea.ProgramOption{tea.WithOutput(s.out)}
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
	host          *topHost
	cfg           topConfig
	snap          topSnapshot
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
	snap, err := m.host.snapshot(m.cfg.cgroup)
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
			i := slices.Index(topSortKeys, m.sortKey)
			m.sortKey = topSortKeys[(i+1)%len(topSortKeys)]
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
	if snap.Scope != "global" {
		scope = snap.Scope + " OOM"
	}
	fmt.Fprintf(&b, "%s  %s  ranked for a %s: totalpages %d, kernel %s (%s)\n", topTitle.Render("oomkit top"), snap.At.Format("15:04:05"),
		scope, snap.TotalPages, snap.Kernel, snap.Rules)
	mem := m.host.mem
	fmt.Fprintf(&b, "MemTotal %s  MemAvailable %s  Swap %s  sort %s%s  filter %q%s\n",
		kbWord(mem.MemTotalKB), kbWord(mem.MemAvailableKB), kbWord(mem.SwapTotalKB), m.sortKey, map[bool]string{true: " (reversed)"}[m.reverse],
		m.filter, map[bool]string{true: "  [pods only]"}[m.podsOnly])
	rows := viewRows(snap.Rows, m.sortKey, m.reverse, m.filter, m.podsOnly)
	b.WriteString(topHead.Render(topColumns(snap.Commit)) + "\n")
	room := m.height - 5
	if room <= 0 {
		room = 20
	}
	for i, r := range rows {
		if i >= room {
			break
		}
		line := topLine(r, snap.OOMScoreLag, snap.Commit)
		switch {
		case r.Rank != nil && *r.Rank == 1:
			line = topFirst.Render(line)
		case r.Rank == nil:
			line = topDim.Render(line)
		}
		b.WriteString(line + "\n")
	}
	notes := topNotes(snap)
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

// kbWord prints a kB count as GiB/MiB, "?" when unknown.
func kbWord(kb *int64) string {
	if kb == nil {
		return "?"
	}
	return kube.FormatBytes(*kb * 1024)
}
