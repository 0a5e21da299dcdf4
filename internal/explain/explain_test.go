package explain

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

var update = flag.Bool("update", false, "rewrite golden files")

// explainFile scans path and explains every report in it.
func explainFile(t testing.TB, path string, opts Options) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := oomlog.NewScanner(f, oomlog.Options{})
	var evs []Event
	opts.File = filepath.Base(path)
	for s.Scan() {
		e := Explain(s.Report(), opts)
		evs = append(evs, e)
		if e.Analysis.KernelVictimPID != nil {
			opts.PriorVictims = append(opts.PriorVictims, *e.Analysis.KernelVictimPID)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func version(t testing.TB, s string) *mm.Version {
	v, err := mm.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestTwists checks the article's two reports: the model reproduces the
// kernel's choice on 5.4.0-1059 and says why, and under 6.1 rules picks
// the big process instead.
func TestTwists(t *testing.T) {
	tests := []struct {
		file      string
		assume    string
		predicted int
		agrees    bool
		decidedBy string
		mustSay   []string
	}{
		{"article-twist-1.log", "", 14300, true, "tie_last_scanned",
			[]string{"clamped to 1", "the last task scanned, dotnet (pid 14300)", "169 MiB", "pid 15976, 898 MiB", "5.4.144+ and 5.9+ kernels", "agrees"}},
		{"article-twist-2.log", "", 31082, true, "tie_last_scanned",
			[]string{"clamped to 1", "the last task scanned, dotnet (pid 31082)", "pid 30548, 911 MiB", "agrees"}},
		{"article-twist-1.log", "6.1.0", 15976, false, "score",
			[]string{"assumed kernel 6.1.0", "killed pid 14300 instead", "would have chosen differently"}},
		{"article-twist-2.log", "6.1.0", 30548, false, "score",
			[]string{"assumed kernel 6.1.0", "killed pid 31082 instead", "would have chosen differently"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.assume, func(t *testing.T) {
			var opts Options
			if tt.assume != "" {
				opts.AssumeKernel = version(t, tt.assume)
			}
			evs := explainFile(t, filepath.Join("testdata/corpus", tt.file), opts)
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1", len(evs))
			}
			a := evs[0].Analysis
			got := struct {
				Predicted int
				Agrees    bool
				DecidedBy string
			}{deref(a.PredictedVictimPID), deref(a.Agrees), string(deref(a.DecidedBy))}
			want := struct {
				Predicted int
				Agrees    bool
				DecidedBy string
			}{tt.predicted, tt.agrees, tt.decidedBy}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("analysis (-want +got):\n%s", diff)
			}
			for _, s := range tt.mustSay {
				if !strings.Contains(a.Summary, s) {
					t.Errorf("summary lacks %q:\n%s", s, a.Summary)
				}
			}
		})
	}
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// TestCorpus explains every real report of the corpus, checks the key
// facts against the corpus's hand-checked expected.jsonl and compares the
// whole events with golden files (go test -update rewrites them).
func TestCorpus(t *testing.T) {
	want := readExpected(t)
	files, _ := filepath.Glob("testdata/corpus/*.log")
	if len(files) < 12 {
		t.Fatalf("found %d corpus files, want 12", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			evs := explainFile(t, path, Options{})
			exp, ok := want[name]
			if !ok {
				t.Fatalf("%s not in expected.jsonl", name)
			}
			if n, ok := exp["reports_in_file"].(float64); ok && int(n) != len(evs) {
				t.Errorf("events = %d, want %d", len(evs), int(n))
			}
			if len(evs) == 0 {
				return
			}
			e := evs[0]
			got := map[string]any{
				"kernel_version": ptrAny(e.KernelVersion),
				"constraint":     ptrAny(e.Constraint),
				"oom_memcg":      ptrAny(e.OOMMemcg),
				"task_memcg":     ptrAny(e.TaskMemcg),
				"victim_pid":     nil,
			}
			if len(e.Victims) > 0 {
				got["victim_pid"] = float64(e.Victims[0].PID)
			} else if e.Analysis.KernelVictimPID != nil {
				got["victim_pid"] = float64(*e.Analysis.KernelVictimPID)
			}
			wantSub := map[string]any{}
			for k := range got {
				wantSub[k] = exp[k]
			}
			// 008's version comes from another splat's CPU line.
			if name == "008.log" {
				delete(got, "kernel_version")
				delete(wantSub, "kernel_version")
			}
			if diff := cmp.Diff(wantSub, got); diff != "" {
				t.Errorf("facts vs expected.jsonl (-want +got):\n%s", diff)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			for _, e := range evs {
				if err := enc.Encode(e); err != nil {
					t.Fatal(err)
				}
			}
			golden := filepath.Join("testdata/golden", strings.TrimSuffix(name, ".log")+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantGolden, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(wantGolden), buf.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func ptrAny(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func readExpected(t *testing.T) map[string]map[string]any {
	f, err := os.Open("testdata/corpus/expected.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out[m["file"].(string)] = m
	}
	return out
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"},
		{43356 * 4096, "169 MiB"}, {229846 * 4096, "898 MiB"}, {1 << 30, "1 GiB"},
		{17301504, "16.5 MiB"}, {-4096, "-4 KiB"},
	}
	for _, tt := range tests {
		if got := bytesize.Format(tt.in); got != tt.want {
			t.Errorf("bytesize.Format(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := HumanKB(9007199254740988); got != "unlimited" {
		t.Errorf("HumanKB(PAGE_COUNTER_MAX) = %q, want unlimited", got)
	}
}

func TestSamples(t *testing.T) {
	names := Samples()
	for _, want := range []string{"twist-1", "twist-2"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("sample %q missing from %v", want, names)
		}
	}
	for _, n := range names {
		b, err := Sample(n)
		if err != nil {
			t.Fatal(err)
		}
		s := oomlog.NewScanner(bytes.NewReader(b), oomlog.Options{})
		if !s.Scan() {
			t.Errorf("sample %s holds no report", n)
		}
	}
	for _, bad := range []string{"", "nope", "../explain", "twist-1.log"} {
		if _, err := Sample(bad); err == nil || !strings.Contains(err.Error(), "twist-1") {
			t.Errorf("Sample(%q) error = %v, want one listing the samples", bad, err)
		}
	}
}

func cmpDiff(want, got any) string { return cmp.Diff(want, got) }

// TestSchemaDocumented checks that docs/event.md names every field the
// golden events carry, so the contract and its document move together.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/event.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	files, _ := filepath.Glob("testdata/golden/*.jsonl")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var m any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			walk(m)
		}
	}
	for k := range keys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/event.md does not document %q", k)
		}
	}
}

// TestSchemaExample keeps docs/event.md's example equal to what explain
// produces for the article's first twist.
func TestSchemaExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/event.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ex, _ := bytes.Cut(doc, []byte("```json\n"))
	ex, _, ok := bytes.Cut(ex, []byte("```"))
	if !ok {
		t.Fatal("docs/event.md has no ```json example")
	}
	var got, want map[string]any
	if err := json.Unmarshal(ex, &got); err != nil {
		t.Fatal(err)
	}
	b, _ := Sample("twist-1")
	s := oomlog.NewScanner(bytes.NewReader(b), oomlog.Options{})
	if !s.Scan() {
		t.Fatal("no report in twist-1")
	}
	e := Explain(s.Report(), Options{File: "sample:twist-1"})
	raw, _ := json.Marshal(e)
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("docs/event.md example is stale (-want +got):\n%s", diff)
	}
}

// negativeSize matches a size that wrapped negative ("-4 KiB").
var negativeSize = regexp.MustCompile(`-[0-9][0-9.]* (B|KiB|MiB|GiB|TiB|PiB|EiB)\b`)

// FuzzExplain feeds arbitrary logs through the scanner and Explain and
// encodes the events: no input may panic or produce invalid JSON.
func FuzzExplain(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.log")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Impossible numbers (issue 15 §5): out-of-range sizes, adj, pids.
	f.Add([]byte("a invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=-5000\nCPU: 0 PID: 99999999999 Comm: a Not tainted 5.4.0 #1\n" +
		"memory: usage -5kB, limit 9223372036854775807kB, failcnt -1\nTasks state (memory values in pages):\n" +
		"[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n" +
		"[      1]     0     1 9223372036854775807 -9223372036854775807 -1 -1 -32768 a\n" +
		"Memory cgroup out of memory: Killed process 1 (a) total-vm:9223372036854775807kB, anon-rss:9223372036854775807kB, file-rss:9223372036854775807kB, shmem-rss:9223372036854775807kB, UID:0 pgtables:1kB oom_score_adj:-32768\n"))
	f.Add([]byte("Mem-Info:\n9223372036854775807 pages RAM\n-5 pages reserved\nTotal swap = 9223372036854775807kB\n" +
		"[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n[      2]     0     2 1 1 4096 0 1000 b\nOut of memory: Killed process 2 (b) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:0kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := oomlog.NewScanner(bytes.NewReader(b), oomlog.Options{})
		var prior []int
		for s.Scan() {
			for _, opts := range []Options{{PriorVictims: prior}, {AssumeKernel: version(t, "4.19.0")}, {Verbose: true}} {
				e := Explain(s.Report(), opts)
				out, err := json.Marshal(e)
				if err != nil || !json.Valid(out) {
					t.Fatalf("event does not encode: %v", err)
				}
				if got, want := e.AppendJSON(nil), encodeReflect(t, e); !bytes.Equal(got, want) {
					t.Fatalf("AppendJSON differs from encoding/json:\n got %s\nwant %s", got, want)
				}
				if e.Analysis.Summary == "" {
					t.Fatal("empty summary")
				}
				if negativeSize.MatchString(e.Analysis.Summary) {
					t.Fatalf("summary shows a negative size: %s", e.Analysis.Summary)
				}
				if e.Analysis.KernelVictimPID != nil {
					prior = append(prior, *e.Analysis.KernelVictimPID)
				}
			}
		}
	})
}

// encodeReflect is what encoding/json writes for e without MarshalJSON:
// the reference AppendJSON must match byte for byte.
func encodeReflect(t testing.TB, e Event) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes what
// encoding/json writes, for every corpus and real-input event, and for
// strings holding every byte class encoding/json escapes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*.log")
	real, _ := filepath.Glob("../oomlog/testdata/real/*.log")
	n := 0
	for _, f := range append(files, real...) {
		for _, e := range explainFile(t, f, Options{Verbose: true}) {
			if got, want := e.AppendJSON(nil), encodeReflect(t, e); !bytes.Equal(got, want) {
				t.Errorf("%s: AppendJSON differs from encoding/json:\n got %s\nwant %s", f, got, want)
			}
			n++
		}
	}
	hostile := "a\"b\\c\x00\x01\x1f\x7f<>&\u2028\u2029\xff\xfe é\t\n\r\b\f"
	f64 := 1e-7
	e := Explain(&oomlog.Report{Trigger: &oomlog.Trigger{Comm: hostile}, Victims: []oomlog.Victim{{PID: 1, Comm: hostile}}}, Options{File: hostile})
	e.UptimeSeconds = &f64
	if got, want := e.AppendJSON(nil), encodeReflect(t, e); !bytes.Equal(got, want) {
		t.Errorf("hostile strings: AppendJSON differs:\n got %s\nwant %s", got, want)
	}
	if n < 20 {
		t.Errorf("only %d events compared", n)
	}
}

func FuzzAppendInt(f *testing.F) {
	for _, n := range []int64{0, 9, 10, -1, -10, 99, 100, -997, 1 << 62, -1 << 63, 1<<63 - 1} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if got, want := string(appendInt([]byte("x"), n)), "x"+strconv.FormatInt(n, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", n, got, want)
		}
	})
}
