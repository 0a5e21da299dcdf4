package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/node"
)

// TopSortKeys are the columns `oomkit top --sort` orders by.
var TopSortKeys = []string{"rank", "rss", "swap", "pgtables", "adj", "pid", "commit"}

// topRow is one process of the ranking as an oomkit.top/v1 object
// (docs/top.md): the process, then the ranking it belongs to.
type topRow struct {
	Schema string `json:"schema"`
	*node.Process
	OOMKind       string `json:"oom_kind"`
	TotalPages    int64  `json:"total_pages"`
	Rules         string `json:"rules"`
	KernelVersion string `json:"kernel_version"`
}

// TopNotes are the notes printed under a ranking.
func TopNotes(r node.Ranking) []string {
	notes := slices.Clone(r.Notes)
	if r.Gone > 0 {
		notes = append(notes, fmt.Sprintf("%d processes exited while they were read and are not listed", r.Gone))
	}
	return notes
}

// TopJSON prints rows as oomkit.top/v1 objects, one per line.
func TopJSON(w io.Writer, r node.Ranking, rows []node.Process) error {
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
			row := topRow{Schema: "oomkit.top/v1", OOMKind: r.OOMKind(), TotalPages: r.TotalPages, Rules: r.Rules.ID(), KernelVersion: r.Kernel.String()}
			for j := i * chunk; j < min((i+1)*chunk, len(rows)); j++ {
				row.Process = &rows[j]
				if err := enc.Encode(&row); err != nil {
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

// TopRows filters and sorts rows for display; rank order is the model's.
func TopRows(rows []node.Process, key string, reverse bool, filter string, podsOnly bool) []node.Process {
	out := make([]node.Process, 0, len(rows))
	for _, r := range rows {
		k := derefOr(r.Kubernetes, kube.Attribution{})
		if podsOnly && k.PodUID == nil {
			continue
		}
		if filter != "" && !strings.Contains(r.Comm, filter) && !strings.Contains(derefOr(r.Cgroup, ""), filter) &&
			!strings.Contains(derefOr(k.PodUID, ""), filter) && !strings.Contains(derefOr(k.ContainerID, ""), filter) &&
			strconv.Itoa(r.PID) != filter {
			continue
		}
		out = append(out, r)
	}
	if key != "rank" {
		val := func(r node.Process) int64 {
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
		slices.SortStableFunc(out, func(a, b node.Process) int {
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

// TopColumns is the ranking's column header; COMMIT only with --commit.
func TopColumns(commit bool) string {
	cm := ""
	if commit {
		cm = fmt.Sprintf(" %9s", "COMMIT")
	}
	return fmt.Sprintf("%5s %7s  %-15s %-26s %9s %8s %6s%s %5s %9s %5s %5s",
		"RANK", "PID", "COMM", "POD/CONTAINER", "RSS", "SWAP", "PGTBL", cm, "ADJ", "POINTS", "SCORE", "MODEL")
}

// TopTable prints the ranking as a table; maxRows 0 means all.
func TopTable(w io.Writer, r node.Ranking, rows []node.Process, maxRows int) {
	scope := "global OOM (every process; totalpages = RAM + swap)"
	if r.Memcg != "" {
		scope = "memcg " + vs(r.Memcg) + " OOM"
	}
	fmt.Fprintf(w, "Ranked for a %s: totalpages %d, kernel %s (%s rules)\n", scope, r.TotalPages, r.Kernel, r.Rules)
	fmt.Fprintln(w, TopColumns(r.Commit))
	for i, p := range rows {
		if maxRows > 0 && i >= maxRows {
			break
		}
		fmt.Fprintln(w, TopLine(p, r.OOMScoreLag, r.Commit))
	}
}

// TopLine prints one row. Its mark after MODEL: "*" where the kernel's
// oom_score and the model's differ, "~" where they differ by at most lag
// points (per-CPU RSS counters not yet folded; mm.OOMScoreLag).
func TopLine(p node.Process, lag int64, commit bool) string {
	rank, points := "-", "-"
	if p.Rank != nil {
		rank = strconv.Itoa(*p.Rank)
		points = strconv.FormatInt(*p.Points, 10)
	}
	mark := ""
	switch d := p.ModelOOMScore - p.OOMScore; {
	case d != 0 && d >= -lag && d <= lag:
		mark = " ~"
	case d != 0:
		mark = " *"
	}
	cm := ""
	if commit {
		cm = fmt.Sprintf(" %9s", "?")
		if p.CommitBytes != nil {
			cm = fmt.Sprintf(" %9s", pagesWord(*p.CommitBytes/mm.PageSize))
		}
	}
	return fmt.Sprintf("%5s %7d  %-15s %-26s %9s %8s %6s%s %5d %9s %5d %5d%s",
		rank, p.PID, clip(vs(p.Comm), 15), clip(vs(podLabel(p.Kubernetes)), 26), pagesWord(p.RSSPages), pagesWord(p.SwapPages), pagesWord(p.PgtablesPages), cm,
		p.OOMScoreAdj, points, p.OOMScore, p.ModelOOMScore, mark)
}

// podLabel is "pod<uid…>/<container id…>", short, or "-" outside pods.
func podLabel(k *kube.Attribution) string {
	if k == nil || k.PodUID == nil {
		return "-"
	}
	l := "pod" + shortID(*k.PodUID, 8)
	if k.ContainerID != nil {
		l += "/" + shortID(*k.ContainerID, 12)
	}
	return l
}

func shortID(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
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

// KBWord prints a kB count as GiB/MiB, "?" when unknown.
func KBWord(kb *int64) string {
	if kb == nil {
		return "?"
	}
	return bytesize.Format(*kb * 1024)
}
