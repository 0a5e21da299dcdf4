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
	"github.com/oomkit/oomkit/internal/render"
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
	render.ExplainEvent(o.w, e, o.n, o.cfg.verbose, o.boot)
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
