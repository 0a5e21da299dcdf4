package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
	"github.com/oomkit/oomkit/internal/visible"
	"github.com/oomkit/oomkit/internal/watch"
)

// explainConfig is what the explain command's flags say.
type explainConfig struct {
	follow      bool
	json        bool
	verbose     bool
	top         int
	assume      string
	sample      string
	listSamples bool
	kmsgPath    string
}

// newExplainCommand is `oomkit explain`.
func newExplainCommand(s *streams) *cobra.Command {
	cfg := explainConfig{}
	cmd := &cobra.Command{
		Use:   "explain [FILE|-]...",
		Short: "Explain every OOM kill in a kernel log: which limit, which victim, why, and what Kubernetes will say",
		Long: `explain reads kernel logs and explains every OOM-killer report in them.

For each OOM kill it prints when it happened; which limit was hit (the machine,
or a memory cgroup with its usage and limit); the task whose allocation
failed and the victims with their memory; for Kubernetes the pod UID,
container ID, QoS class, cgroup driver, runtime and the scope of the limit
(container, pod, QoS tier, node); the kernel's ranking recomputed from the
task table under the rules of the kernel that printed it (top N, with
points, and the clamp or tie rule that decided); whether Kubernetes will
report OOMKilled, as far as the report can tell; and a summary in plain
words.

FILE is a log in any format the kernel's messages reach disk in: dmesg,
dmesg -T, syslog, journalctl, raw /dev/kmsg dumps; plain or gzip. "-" is
standard input. With no FILE, explain reads this machine's kernel log from
/dev/kmsg (the whole ring, without waiting), and --follow keeps reading new
records until interrupted.

When a log holds no OOM report, explain says so in one line on standard
error and exits 0; --json then prints nothing.

Exit status:
  0  the logs were read (with or without OOM reports)
  1  a log could not be read (missing, unreadable, not gzip); the other
     logs are still explained
  2  usage error (bad flag, bad --assume-kernel, unknown --sample)`,
		Example: `  oomkit explain                          # this machine's kernel log (/dev/kmsg, needs root)
  oomkit explain --follow                 # ... and every OOM kill from now on
  oomkit explain /var/log/kern.log        # a saved log; .gz works too
  journalctl -k -o short-precise | oomkit explain -
  oomkit explain --sample twist-1         # a real report bundled with oomkit
  oomkit explain --sample twist-1 --assume-kernel 6.1.0   # what would 6.1 have killed?
  oomkit explain --json kern.log | jq .analysis.summary`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExplain(cmd.Context(), s, cfg, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&cfg.follow, "follow", "f", false, "keep reading /dev/kmsg for new OOM reports (no FILE)")
	f.BoolVar(&cfg.json, "json", false, "print one oomkit.event/v1 JSON object per OOM kill (JSON Lines; docs/event.md)")
	f.BoolVarP(&cfg.verbose, "verbose", "v", false, "add the whole task table and rank every task")
	f.IntVar(&cfg.top, "top", explain.DefaultTop, "show the top `N` tasks of the kernel's ranking")
	f.StringVar(&cfg.assume, "assume-kernel", "", "explain as kernel `VERSION` would have chosen (e.g. 6.1.0), whatever the report prints")
	f.StringVar(&cfg.sample, "sample", "", "explain the bundled real report `NAME` (\"list\" lists them)")
	f.BoolVar(&cfg.listSamples, "list-samples", false, "list the bundled sample reports")
	f.StringVar(&cfg.kmsgPath, "kmsg-path", kmsg.DefaultPath, "kernel log device (for tests)")
	_ = f.MarkHidden("kmsg-path")
	return cmd
}

// explainOut renders events to the command's output, buffered.
type explainOut struct {
	s    *streams
	cfg  explainConfig
	w    *bufio.Writer
	line []byte // an event's JSON line (explain.Event.AppendJSON)
	opts explain.Options
	n    int // events written
	// boot is the wall-clock boot time, for /dev/kmsg events whose stamps
	// are seconds since boot; zero for files.
	boot time.Time
}

func runExplain(ctx context.Context, s *streams, cfg explainConfig, args []string) error {
	if cfg.listSamples || cfg.sample == "list" {
		if err := listSamplesAlone(cfg, args); err != nil {
			return err
		}
		for _, n := range explain.Samples() {
			fmt.Fprintln(s.out, n)
		}
		return s.outErr()
	}
	if cfg.top < 1 {
		return usageError("--top %d: want 1 or more", cfg.top)
	}
	opts := explain.Options{Top: cfg.top, Verbose: cfg.verbose}
	if cfg.assume != "" {
		v, err := mm.ParseModelled(cfg.assume)
		if err != nil {
			return usageError("--assume-kernel: %v", err)
		}
		opts.AssumeKernel = &v
	}
	if cfg.sample != "" && len(args) > 0 {
		return usageError("--sample explains a bundled report; it takes no FILE")
	}
	if cfg.follow && (len(args) > 0 || cfg.sample != "") {
		return usageError("--follow reads this machine's kernel log; it takes no FILE or --sample")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// The buffer writes through the safety net of the format: text shows
	// any control character a renderer missed escaped; JSON escapes DEL
	// and C1, which encoding/json leaves raw.
	var out io.Writer
	var text *visible.TextWriter
	if cfg.json {
		out = s.json()
	} else {
		text = s.text()
		out = text
	}
	o := &explainOut{s: s, cfg: cfg, w: bufio.NewWriterSize(out, 64<<10), opts: opts}
	err := o.run(ctx, cfg, args)
	ferr := o.w.Flush()
	if ferr == nil && text != nil {
		ferr = text.Flush()
	}
	if ferr == nil {
		ferr = s.outErr()
	}
	if ferr != nil {
		// Nothing more reached the output: say so first, whatever else failed.
		return fmt.Errorf("write output: %w", ferr)
	}
	return err
}

// listSamplesAlone refuses what --list-samples (or --sample list) would
// ignore: a FILE, another --sample, --follow, --json and the flags that
// shape an explanation.
func listSamplesAlone(cfg explainConfig, args []string) error {
	what := ""
	switch {
	case len(args) > 0:
		what = "a FILE"
	case cfg.listSamples && cfg.sample != "" && cfg.sample != "list":
		what = "--sample"
	case cfg.follow:
		what = "--follow"
	case cfg.json:
		what = "--json"
	case cfg.assume != "":
		what = "--assume-kernel"
	case cfg.verbose:
		what = "--verbose"
	case cfg.top != explain.DefaultTop:
		what = "--top"
	}
	if what != "" {
		return usageError("--list-samples only lists the bundled reports; it takes no %s", what)
	}
	return nil
}

// run explains the sample, the files or /dev/kmsg.
func (o *explainOut) run(ctx context.Context, cfg explainConfig, args []string) error {
	s := o.s

	if cfg.sample != "" {
		b, err := explain.Sample(cfg.sample)
		if err != nil {
			return usageError("--sample: %v", err)
		}
		return o.scan("sample:"+cfg.sample, bytes.NewReader(b), time.Time{})
	}
	if len(args) == 0 {
		return o.kmsg(ctx)
	}
	var failed error
	for _, a := range args {
		if o.s.outErr() != nil {
			break // the output failed: the exit error says so
		}
		if err := o.file(a); err != nil {
			if failed == nil {
				failed = err
			} else {
				// Report every failure once; the first becomes the exit error.
				o.w.Flush()
				fmt.Fprintf(s.err, "oomkit: %s\n", err)
			}
		}
	}
	return failed
}

// file explains the reports in the file name ("-": standard input).
func (o *explainOut) file(name string) error {
	var r io.Reader
	var mod time.Time
	if name == "-" {
		r = o.s.in
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fileError(err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return fmt.Errorf("%s is a directory (pass a log file, e.g. %s/kern.log)", name, strings.TrimSuffix(name, "/"))
		} else if err == nil {
			mod = fi.ModTime() // the year of syslog stamps that print none
		}
		r = f
	}
	// A source that never ends (/dev/zero, a pipe from a generator) is
	// read in flat memory for as long as the user lets it run: now and
	// then a note on standard error says what is going on.
	r = &progressReader{r: r, name: name, o: o, start: o.n, next: time.Now().Add(explainProgressFirst)}
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(2)
	isGzip := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	switch {
	case isGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w (the file is damaged; check it with gzip -t)", name, err)
		}
		defer zr.Close()
		return o.scan(name, decodeText(bufio.NewReaderSize(zr, 64<<10)), mod)
	case strings.HasSuffix(name, ".gz"):
		return fmt.Errorf("%s: not gzip data although the name ends in .gz (rename it, or decompress the right file)", name)
	}
	return o.scan(name, decodeText(br), mod)
}

// decodeText returns log text as UTF-8: a UTF-16 log (Windows tools and
// PowerShell's redirection write one, with a byte order mark) is decoded,
// a UTF-8 byte order mark dropped, anything else read as it is.
func decodeText(br *bufio.Reader) io.Reader {
	bom, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(bom, []byte{0xef, 0xbb, 0xbf}):
		_, _ = br.Discard(3)
		return br
	case bytes.HasPrefix(bom, []byte{0xff, 0xfe}), bytes.HasPrefix(bom, []byte{0xfe, 0xff}):
		// ExpectBOM reads the order from the mark and drops it.
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
	}
	return br
}

// When explain tells how far it got in a source that is still being read:
// first after explainProgressFirst, then every explainProgressEvery.
// Tests shorten them.
var (
	explainProgressFirst = 10 * time.Second
	explainProgressEvery = time.Minute
)

// progressReader counts what is read from a source and, when it is
// time, notes on standard error how much has been read and how many OOM
// reports it held so far.
type progressReader struct {
	r     io.Reader
	name  string
	o     *explainOut
	n     int64
	next  time.Time
	start int // o.n when the source was opened
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); !now.Before(p.next) {
		p.next = now.Add(explainProgressEvery)
		p.o.w.Flush()
		fmt.Fprintf(p.o.s.err, "oomkit explain: %s: still reading: %s so far, %d OOM %s (Ctrl-C stops)\n",
			visible.String(p.name), bytesize.Format(p.n), p.o.n-p.start, plural(p.o.n-p.start, "report", "reports"))
	}
	return n, err
}

// fileError adds what to do to an open error.
func fileError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (check the path; with no FILE oomkit explain reads this machine's kernel log)", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (run as root, or copy the log somewhere readable)", err)
	}
	return err
}

// scan explains every report read from r, a file last modified at mod
// (zero: unknown).
func (o *explainOut) scan(name string, r io.Reader, mod time.Time) error {
	sc := oomlog.NewScanner(r, oomlog.Options{ModTime: mod})
	before := o.n
	x := watch.Explainer{Options: o.opts}
	x.Options.File = name
	for sc.Scan() {
		e := x.Explain(sc.Report())
		o.write(&e)
		if o.s.outErr() != nil {
			return nil // the output failed: the exit error says so
		}
	}
	err := sc.Err()
	if err != nil {
		err = fmt.Errorf("read %s: %w", name, err)
	}
	o.noteStats(name, sc.Stats().Lines, sc.Stats(), before, "lines")
	return err
}

// write renders one event.
func (o *explainOut) write(e *explain.Event) {
	o.n++
	if o.cfg.json {
		o.line = append(e.AppendJSON(o.line[:0]), '\n')
		_, _ = o.w.Write(o.line)
		return
	}
	if o.n > 1 {
		_ = o.w.WriteByte('\n')
	}
	renderEvent(o.w, e, o.n, o.cfg.verbose, o.boot)
}

// noteStats tells, on standard error, what could not be used, and says so
// when a source held no OOM report.
func (o *explainOut) noteStats(name string, read int, st oomlog.Stats, before int, unit string) {
	o.w.Flush()
	name = visible.String(name)
	if n := st.LinesTooLong; n > 0 {
		fmt.Fprintf(o.s.err, "oomkit explain: %s: %d %s longer than the 64 KiB limit %s cut\n", name, n, units(n, unit), plural(n, "was", "were"))
	}
	if n := st.InvalidLines; n > 0 {
		fmt.Fprintf(o.s.err, "oomkit explain: %s: %d %s in or next to a report could not be read (NUL bytes, invalid UTF-8 or missing fields)\n", name, n, units(n, unit))
	}
	if o.n == before {
		fmt.Fprintf(o.s.err, "oomkit explain: no OOM-killer report in %s (%d %s read; oomkit explain --sample twist-1 shows what an explanation looks like)\n", name, read, units(read, unit))
	}
}

// isUptimeStamp reports whether a stamp is just the dmesg "[ s.us]" form
// of the uptime, which the line shows anyway.
func isUptimeStamp(text string, up *float64) bool {
	if up == nil {
		return false
	}
	f, err := strconv.ParseFloat(strings.Trim(text, "[] "), 64)
	return err == nil && f == *up
}

// bootTime reads the boot time from /proc/stat's btime; zero if unknown.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			if sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}

// units is "line"/"lines" or "record"/"records" for n.
func units(n int, unit string) string { return plural(n, strings.TrimSuffix(unit, "s"), unit) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// kmsg explains the reports in this machine's kernel log: the whole ring,
// or, with --follow, every report from now on until interrupted.
func (o *explainOut) kmsg(ctx context.Context) error {
	st, err := watch.Open(o.cfg.kmsgPath, watch.Options{Follow: o.cfg.follow, Explain: o.opts})
	if err != nil {
		var oe *kmsg.OpenError
		if errors.As(err, &oe) && (errors.Is(err, fs.ErrPermission)) {
			return fmt.Errorf("open %s: %w (run as root, or pass a log file: oomkit explain /var/log/kern.log)", oe.Path, oe.Err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w (this system has no kernel log device; pass a log file: oomkit explain /var/log/kern.log)", err)
		}
		return err
	}
	defer st.Close()
	name := o.cfg.kmsgPath
	if name == kmsg.DefaultPath {
		o.boot = bootTime()
	}
	if o.cfg.follow {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	var lost uint64
	firstUnknown := false
	gaps := 0
	for {
		it, err := st.Next(ctx)
		switch {
		case err == nil && it.Gap != nil:
			if gaps == 0 && it.Gap.Lost == nil {
				firstUnknown = true
			}
			gaps++
			if it.Gap.Lost != nil && *it.Gap.Lost > 0 {
				fmt.Fprintf(o.s.err, "oomkit explain: %s: %d records were overwritten before they could be read (the ring buffer is too small for the log rate)\n", name, *it.Gap.Lost)
				lost += *it.Gap.Lost
			}
			continue
		case err == nil:
			o.write(it.Event)
			if o.cfg.follow {
				o.w.Flush()
			}
			if o.s.outErr() != nil {
				return nil // the output failed: the exit error says so
			}
			continue
		case errors.Is(err, io.EOF):
		case ctx.Err() != nil:
			// Interrupted while following: finish quietly.
		case errors.Is(err, kmsg.ErrMalformed):
			fmt.Fprintf(o.s.err, "oomkit explain: %v\n", err)
			continue
		default:
			o.drain(st)
			return err
		}
		break
	}
	o.drain(st)
	if firstUnknown && lost == 0 {
		fmt.Fprintf(o.s.err, "oomkit explain: %s: records were overwritten before the first one could be read\n", name)
	}
	stats := st.Stats()
	o.noteStats(name, stats.Records, stats.Parser, 0, "records")
	return nil
}

// drain writes the events of the reports a stopped stream still held.
func (o *explainOut) drain(st *watch.Stream) {
	for _, it := range st.Drain() {
		if it.Event != nil {
			o.write(it.Event)
		}
	}
}

// renderEvent writes one event as readable text.
func renderEvent(w *bufio.Writer, e *explain.Event, n int, verbose bool, boot time.Time) {
	src := e.Source.File
	if e.Source.Line != nil {
		src += fmt.Sprintf(":%d", *e.Source.Line)
		if e.Source.LastLine != nil && *e.Source.LastLine != *e.Source.Line {
			src += fmt.Sprintf("-%d", *e.Source.LastLine)
		}
	} else if e.KmsgSeq != nil {
		src += fmt.Sprintf(" seq %d", *e.KmsgSeq)
	}
	fmt.Fprintf(w, "OOM kill #%d  (%s)\n", n, visible.String(src))
	// Every value shown comes, in whole or in part, from the log: each
	// row shows it escaped (visible.String).
	row := func(k, v string) { fmt.Fprintf(w, "  %-10s %s\n", k, visible.String(v)) }

	var when []string
	if e.Time != nil {
		when = append(when, *e.Time)
	} else if e.TimeText != nil && e.KmsgSeq == nil && !isUptimeStamp(*e.TimeText, e.UptimeSeconds) {
		when = append(when, *e.TimeText)
	}
	if e.UptimeSeconds != nil {
		up := fmt.Sprintf("%.6f s after boot", *e.UptimeSeconds)
		if !boot.IsZero() {
			// Boot time + uptime drifts across suspend: an estimate.
			t := boot.Add(time.Duration(*e.UptimeSeconds * float64(time.Second)))
			up += " (≈ " + t.Local().Format("2006-01-02 15:04:05 MST") + ")"
		}
		when = append(when, up)
	}
	if e.Host != nil {
		when = append(when, "on "+*e.Host)
	}
	if len(when) == 0 {
		when = append(when, "not in the log")
	}
	row("when", strings.Join(when, ", "))

	a := &e.Analysis
	kv := "not printed"
	if e.KernelVersion != nil {
		kv = *e.KernelVersion
	}
	if a.RulesKernels != nil {
		kv += fmt.Sprintf(" (OOM rules of %s", *a.RulesKernels)
		if a.AssumedKernel != nil {
			kv += ", assumed " + *a.AssumedKernel
		}
		kv += ")"
	}
	row("kernel", kv)
	row("limit", limitLine(e))
	if t := e.Trigger; t != nil {
		s := visible.String(deref(t.Comm, "?"))
		if t.PID != nil {
			s += fmt.Sprintf(" (pid %d)", *t.PID)
		}
		if t.GFPMask != nil {
			s += " gfp_mask=" + *t.GFPMask
			if len(t.GFPFlags) > 0 {
				s += "(" + strings.Join(t.GFPFlags, "|") + ")"
			}
		}
		if t.Order != nil {
			s += fmt.Sprintf(" order=%d", *t.Order)
		}
		if t.OOMScoreAdj != nil {
			s += fmt.Sprintf(" oom_score_adj=%d", *t.OOMScoreAdj)
		}
		row("trigger", s)
	}
	if len(e.Victims) == 0 {
		v := "none printed"
		if e.NoKillable {
			v = "none: no killable process"
		} else if e.Truncated {
			v = "unknown: the report is cut off before the kill"
		}
		row("killed", v)
	}
	for i, v := range e.Victims {
		k := "killed"
		if i > 0 {
			k = ""
		}
		row(k, victimLine(&v))
	}
	if e.GroupKillPath != nil {
		row("", "memory.oom.group: every task in "+visible.String(*e.GroupKillPath)+" was killed")
	}
	if e.Panic != nil {
		row("panic", *e.Panic)
	}
	if k := e.Kubernetes; k != nil {
		var p []string
		if k.PodUID != nil {
			p = append(p, "pod "+*k.PodUID)
		}
		if k.QOSClass != nil {
			p = append(p, "QoS "+*k.QOSClass)
		}
		if k.ContainerID != nil {
			p = append(p, "container "+*k.ContainerID)
		}
		row("kubernetes", strings.Join(p, ", "))
		p = p[:0]
		p = append(p, "driver "+deref(k.CgroupDriver, "unknown"), "runtime "+deref(k.ContainerRuntime, "unknown (the cgroup name does not say)"), "limit scope "+deref(k.LimitScope, "unknown"))
		row("", strings.Join(p, ", "))
		if k.VictimOOMScoreAdjMeaning != nil {
			row("", "victim's oom_score_adj: "+*k.VictimOOMScoreAdjMeaning)
		}
		row("OOMKilled?", k.OOMKilled)
		wrap(w, visible.String(k.OOMKilledReason), "             ", 100)
	}

	// The ranking.
	if len(a.Ranking) > 0 {
		tp := "unknown (adj left out)"
		if a.TotalPages != nil {
			tp = fmt.Sprintf("%d pages = %s", *a.TotalPages, explain.HumanPages(*a.TotalPages))
			if a.TotalPagesFrom != nil {
				tp += ", " + totalPagesWords(string(*a.TotalPagesFrom))
			}
		}
		fmt.Fprintf(w, "  ranking    (totalpages %s)\n", tp)
		fmt.Fprintf(w, "    %4s %8s  %-16s %10s %6s %11s %11s\n", "rank", "pid", "name", "rss", "adj", "points", "raw")
		for _, r := range a.Ranking {
			mark := ""
			if a.KernelVictimPID != nil && r.PID == *a.KernelVictimPID {
				mark = "  <- killed"
			}
			if a.PredictedVictimPID != nil && r.PID == *a.PredictedVictimPID {
				if mark == "" {
					mark = "  <- predicted"
				} else {
					mark += ", predicted"
				}
			}
			fmt.Fprintf(w, "    %4d %8d  %-16s %10s %6d %11d %11d%s\n", r.Rank, r.PID, trunc(visible.String(r.Name), 16), explain.HumanPages(r.RSSPages), r.OOMScoreAdj, r.Points, r.RawPoints, mark)
		}
		if n := eligible(e); n > len(a.Ranking) {
			fmt.Fprintf(w, "    … %d more eligible (--top N or --verbose)\n", n-len(a.Ranking))
		}
	}
	if a.DecidedBy != nil {
		row("decided by", decidedWords(a))
	}
	if a.PredictedVictimPID != nil || a.Agrees != nil {
		m := "predicts " + intOr(a.PredictedVictimPID, "nothing")
		switch {
		case a.Agrees == nil:
		case *a.Agrees:
			m += ", the kernel's choice"
		default:
			m += ", the kernel chose " + intOr(a.KernelVictimPID, "?")
		}
		row("model", m)
	}
	var others []string
	for _, br := range a.ByRules {
		if br.PredictedVictimPID == nil || (a.Rules != nil && br.Rules == *a.Rules) {
			continue
		}
		others = append(others, fmt.Sprintf("%s kernels: pid %d", br.Kernels, *br.PredictedVictimPID))
	}
	if len(others) > 0 {
		row("others", "on "+strings.Join(others, "; "))
	}
	for i, r := range a.Reasons {
		k := "note"
		if i > 0 {
			k = ""
		}
		fmt.Fprintf(w, "  %-10s ", k)
		wrapRest(w, visible.String(r), "             ", 100)
	}
	fmt.Fprintf(w, "  summary\n")
	wrap(w, visible.String(a.Summary), "    ", 100)
	for _, wn := range e.Warnings {
		row("warning", visible.String(wn))
	}
	if verbose && e.Tasks != nil {
		fmt.Fprintf(w, "  tasks      (%d, in the order printed)\n", len(e.Tasks))
		fmt.Fprintf(w, "    %8s %6s %8s %10s %10s %10s %8s %6s  %s\n", "pid", "uid", "tgid", "total_vm", "rss", "pgtables", "swap", "adj", "name")
		for _, t := range e.Tasks {
			pg := "-"
			if t.PgtablesBytes != nil {
				pg = explain.HumanBytes(*t.PgtablesBytes)
			}
			sw := "-"
			if t.SwapEnts != nil {
				sw = explain.HumanPages(*t.SwapEnts)
			}
			fmt.Fprintf(w, "    %8d %6s %8s %10s %10s %10s %8s %6d  %s\n", t.PID, intOr(t.UID, "-"), intOr(t.TGID, "-"),
				explain.HumanPages(t.TotalVMPages), explain.HumanPages(t.RSSPages), pg, sw, t.OOMScoreAdj, visible.String(t.Name))
		}
	}
}

func eligible(e *explain.Event) int {
	n := 0
	for _, t := range e.Tasks {
		if t.OOMScoreAdj > mm.OOMScoreAdjMin {
			n++
		}
	}
	return n
}

func limitLine(e *explain.Event) string {
	kind := deref((*string)(e.OOMKind), "")
	switch kind {
	case "memcg":
		s := "memcg " + visible.String(deref(e.OOMMemcg, "(path not printed)"))
		if m := e.Memcg; m != nil {
			if m.UsageKB != nil && m.LimitKB != nil {
				s += fmt.Sprintf(": usage %s of limit %s", explain.HumanKB(*m.UsageKB), explain.HumanKB(*m.LimitKB))
			}
			if m.Failcnt != nil {
				s += fmt.Sprintf(", failcnt %d", *m.Failcnt)
			}
			if m.SwapLimitKB != nil {
				what := "swap"
				if m.SwapIsMemsw {
					what = "memory+swap"
				}
				s += fmt.Sprintf("; %s limit %s", what, explain.HumanKB(*m.SwapLimitKB))
			}
		}
		return s
	case "global":
		s := "node (global OOM"
		if c := deref(e.Constraint, ""); c != "" && c != "CONSTRAINT_NONE" {
			s += ", " + c
		}
		s += ")"
		if mi := e.MemInfo; mi != nil && mi.RAMPages != nil {
			s += ": RAM " + explain.HumanPages(*mi.RAMPages)
			if mi.SwapTotalKB != nil {
				s += ", swap " + explain.HumanKB(*mi.SwapTotalKB)
			}
		}
		return s
	}
	return "not in the report"
}

func victimLine(v *explain.Victim) string {
	s := fmt.Sprintf("%s (pid %d)", visible.String(v.Comm), v.PID)
	var parts []string
	var sum int64
	have := false
	for _, p := range []struct {
		n string
		v *int64
	}{{"anon", v.AnonRSSKB}, {"file", v.FileRSSKB}, {"shmem", v.ShmemRSSKB}} {
		if p.v != nil {
			sum += *p.v
			have = true
			parts = append(parts, p.n+" "+explain.HumanKB(*p.v))
		}
	}
	if have {
		s += " " + explain.HumanKB(sum) + " resident (" + strings.Join(parts, ", ") + ")"
	}
	if v.TotalVMKB != nil {
		s += ", " + explain.HumanKB(*v.TotalVMKB) + " virtual"
	}
	if v.OOMScoreAdj != nil {
		s += fmt.Sprintf(", oom_score_adj %d", *v.OOMScoreAdj)
	}
	if v.UID != nil {
		s += fmt.Sprintf(", uid %d", *v.UID)
	}
	switch {
	case v.Reaped:
		s += ", reaped"
	case v.ReapFailed:
		s += ", the reaper could not reap it"
	}
	if v.GroupKill {
		s += " [memory.oom.group]"
	}
	return s
}

func totalPagesWords(from string) string {
	switch from {
	case "memcg_limit":
		return "the memcg limit"
	case "memcg_limit_no_swap_assumed":
		return "the memcg limit; no swap assumed"
	case "ram_plus_swap":
		return "RAM + swap"
	case "ram_plus_swap_approx":
		return "RAM + swap, an upper bound for a cpuset/mempolicy OOM"
	}
	return from
}

func decidedWords(a *explain.Analysis) string {
	switch *a.DecidedBy {
	case "score":
		return "score: the victim had the most points"
	case "tie_last_scanned":
		s := fmt.Sprintf("tie: %d tasks share the top score", a.TiedWith)
		if a.Clamped > 0 {
			s += fmt.Sprintf(" (%d clamped to 1)", a.Clamped)
		}
		return s + "; the last task scanned wins"
	case "tie_first_scanned":
		s := fmt.Sprintf("tie: %d tasks share the top score", a.TiedWith)
		if a.Clamped > 0 {
			s += fmt.Sprintf(" (%d clamped to 1)", a.Clamped)
		}
		return s + "; the first task scanned keeps the slot"
	case "oom_kill_allocating_task":
		return "vm.oom_kill_allocating_task: the allocating task, no ranking"
	}
	return string(*a.DecidedBy)
}

func deref(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func intOr(p *int, def string) string {
	if p == nil {
		return def
	}
	return fmt.Sprint(*p)
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// wrap writes text word-wrapped at width, every line indented.
func wrap(w *bufio.Writer, text, indent string, width int) {
	_, _ = w.WriteString(indent)
	wrapRest(w, text, indent, width)
}

// wrapRest writes text word-wrapped; the first line continues the current
// one, the others start with indent.
func wrapRest(w *bufio.Writer, text, indent string, width int) {
	col := len(indent)
	for i, word := range strings.Fields(text) {
		n := len([]rune(word))
		if i > 0 {
			if col+1+n > width {
				_, _ = w.WriteString("\n" + indent)
				col = len(indent)
			} else {
				_ = w.WriteByte(' ')
				col++
			}
		}
		_, _ = w.WriteString(word)
		col += n
	}
	_ = w.WriteByte('\n')
}
