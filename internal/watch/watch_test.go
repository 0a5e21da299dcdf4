package watch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/watch"
	"github.com/oomkit/oomkit/internal/watch/watchtest"
)

const boot = "3c3f3a6e-4d9e-4d0f-8f0e-6a2b1c9d7e11"

// sampleRecords reads a bundled sample of raw /dev/kmsg records.
func sampleRecords(t *testing.T, name string) []kmsg.Record {
	t.Helper()
	b, err := os.ReadFile("../explain/samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var recs []kmsg.Record
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		r, err := kmsg.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// dockerRecords is the docker-4.8-v1 sample (two memcg OOMs, each with an
// oom_reaper line) as records numbered from seq 1000: by hand, its report
// headers are lines 15 and 61 and its reaper lines 44 and 90, so the
// reports span seqs 1014–1043 and 1060–1089.
func dockerRecords(t *testing.T) []kmsg.Record {
	t.Helper()
	b, err := os.ReadFile("../explain/samples/docker-4.8-v1.log")
	if err != nil {
		t.Fatal(err)
	}
	recs := watchtest.Records(1000, 5_000_000, string(b))
	if len(recs) != 97 {
		t.Fatalf("%d records, want the file's 97 lines", len(recs))
	}
	return recs
}

// all pulls every item until io.EOF.
func all(t *testing.T, s *watch.Stream) []watch.Item {
	t.Helper()
	var items []watch.Item
	for {
		it, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return items
		}
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
}

// brief is an item in a form tests compare.
type brief struct {
	Kind        string
	First, Last uint64
	Victim      int
	Gap         string
	Lost        string
}

func briefs(items []watch.Item) []brief {
	var out []brief
	for _, it := range items {
		if it.Gap != nil {
			lost := "unknown"
			if it.Gap.Lost != nil {
				lost = fmt.Sprint(*it.Gap.Lost)
			}
			out = append(out, brief{Kind: "gap", First: it.Gap.Next, Gap: it.Gap.Cause.String(), Lost: lost})
			continue
		}
		b := brief{Kind: "event", First: it.FirstSeq, Last: it.LastSeq}
		if len(it.Event.Victims) > 0 {
			b.Victim = it.Event.Victims[0].PID
		}
		out = append(out, b)
	}
	return out
}

// TestRealRecords: the real 6.18 report (records 1378–1457 of that boot,
// no oom_reaper line) comes out as one event keyed by its first record,
// with its time since boot, once the source ends.
func TestRealRecords(t *testing.T) {
	src := watchtest.New(false)
	src.Add(sampleRecords(t, "real-6.18-cgroup-v1.log")...)
	s := watch.New(src, watch.Options{BootID: boot})
	items := all(t, s)
	if len(items) != 1 || items[0].Event == nil {
		t.Fatalf("items %+v, want one event", briefs(items))
	}
	it := items[0]
	got := map[string]any{
		"boot": it.BootID, "first": it.FirstSeq, "last": it.LastSeq, "since_boot": it.SinceBoot,
		"kmsg_seq": *it.Event.KmsgSeq, "file": it.Event.Source.File, "victim": it.Event.Victims[0].PID,
		"cursor": it.Cursor(),
	}
	want := map[string]any{
		"boot": boot, "first": uint64(1378), "last": uint64(1457), "since_boot": 1170830284 * time.Microsecond,
		"kmsg_seq": uint64(1378), "file": "/dev/kmsg", "victim": 13972,
		"cursor": watch.Cursor{BootID: boot, Seq: 1378},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}
	st := s.Stats()
	if st.Records != 80 || st.Events != 1 || st.Gaps != 0 || st.Parser.Reports != 1 {
		t.Errorf("stats %+v, want 80 records, 1 event, no gaps", st)
	}
}

func TestTwoReports(t *testing.T) {
	src := watchtest.New(false)
	src.Add(dockerRecords(t)...)
	items := all(t, watch.New(src, watch.Options{BootID: boot}))
	want := []brief{{Kind: "event", First: 1014, Last: 1043, Victim: 1381}, {Kind: "event", First: 1060, Last: 1089, Victim: 1667}}
	if diff := cmp.Diff(want, briefs(items)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}

// TestGaps injects what an overrun of the kernel's ring looks like to a
// reader: EPIPE (Overrun) and a jump in sequence numbers.
func TestGaps(t *testing.T) {
	recs := dockerRecords(t)
	for i := 60; i < len(recs); i++ {
		recs[i].Seq += 10 // ten records lost just before the second report
	}
	src := watchtest.New(false)
	src.Overrun() // before the first record: size unknown
	src.Add(recs[:60]...)
	src.Overrun()
	src.Add(recs[60:]...)
	s := watch.New(src, watch.Options{BootID: boot})
	items := all(t, s)
	// The first report ends before the second gap: its event comes first,
	// although the record after the gap is what completes it.
	want := []brief{
		{Kind: "gap", First: 1000, Gap: "overwritten", Lost: "unknown"},
		{Kind: "event", First: 1014, Last: 1043, Victim: 1381},
		{Kind: "gap", First: 1070, Gap: "overwritten", Lost: "10"},
		{Kind: "event", First: 1070, Last: 1099, Victim: 1667},
	}
	if diff := cmp.Diff(want, briefs(items)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Gaps != 2 || st.Lost != 10 {
		t.Errorf("stats: %d gaps, %d lost; want 2, 10", st.Gaps, st.Lost)
	}
}

// TestResume: a stream given the cursor of a handled event returns only
// later events, says when the records after the cursor are gone, and
// ignores a cursor of another boot.
func TestResume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		after   watch.Cursor
		want    []brief
		resumed int
	}{
		{"after the first event", watch.Cursor{BootID: boot, Seq: 1014},
			[]brief{{Kind: "event", First: 1060, Last: 1089, Victim: 1667}}, 1},
		{"after both", watch.Cursor{BootID: boot, Seq: 1060}, nil, 2},
		{"cursor inside the first report", watch.Cursor{BootID: boot, Seq: 1013},
			[]brief{{Kind: "event", First: 1014, Last: 1043, Victim: 1381}, {Kind: "event", First: 1060, Last: 1089, Victim: 1667}}, 0},
		{"records after the cursor overwritten", watch.Cursor{BootID: boot, Seq: 900},
			[]brief{{Kind: "gap", First: 1000, Gap: "since_cursor", Lost: "99"},
				{Kind: "event", First: 1014, Last: 1043, Victim: 1381}, {Kind: "event", First: 1060, Last: 1089, Victim: 1667}}, 0},
		{"cursor from another boot", watch.Cursor{BootID: "other", Seq: 5000},
			[]brief{{Kind: "gap", First: 1000, Gap: "new_boot", Lost: "1000"},
				{Kind: "event", First: 1014, Last: 1043, Victim: 1381}, {Kind: "event", First: 1060, Last: 1089, Victim: 1667}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := watchtest.New(false)
			src.Add(dockerRecords(t)...)
			after := tc.after
			s := watch.New(src, watch.Options{BootID: boot, After: &after})
			if diff := cmp.Diff(tc.want, briefs(all(t, s))); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if got := s.Stats().Resumed; got != tc.resumed {
				t.Errorf("Stats().Resumed = %d, want %d", got, tc.resumed)
			}
		})
	}
}

// TestNextReturnsOnCancel: a Next blocked in its source returns ctx's error
// once ctx is cancelled; the test cancels only when the source says Next
// is waiting in it, with records pending and without.
func TestNextReturnsOnCancel(t *testing.T) {
	for _, pending := range []bool{false, true} {
		t.Run(fmt.Sprintf("pending=%v", pending), func(t *testing.T) {
			src := watchtest.New(true)
			if pending {
				src.Add(watchtest.Records(1, 1, "some line\nanother")...)
			}
			s := watch.New(src, watch.Options{BootID: boot, Idle: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-src.Waiting()
				cancel()
			}()
			if it, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next = %+v, %v; want context.Canceled", it, err)
			}
		})
	}
}

// TestIdleFlush: following, a finished report that waits for oom_reaper
// lines comes out once the log is quiet for Options.Idle; until then it is
// held, and Drain returns it when the reader stops.
func TestIdleFlush(t *testing.T) {
	recs := sampleRecords(t, "real-6.18-cgroup-v1.log")

	src := watchtest.New(true)
	src.Add(recs...)
	s := watch.New(src, watch.Options{BootID: boot, Idle: time.Millisecond})
	it, err := s.Next(context.Background())
	if err != nil || it.Event == nil || it.FirstSeq != 1378 {
		t.Fatalf("Next = %+v, %v; want the report, flushed when idle", briefs([]watch.Item{it}), err)
	}

	src = watchtest.New(true)
	src.Add(recs...)
	s = watch.New(src, watch.Options{BootID: boot, Idle: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-src.Waiting()
		cancel()
	}()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v before the log was idle, want it to wait (context.Canceled)", err)
	}
	if d := s.Drain(); len(d) != 1 || d[0].FirstSeq != 1378 {
		t.Errorf("Drain = %+v, want the held report", briefs(d))
	}
}

// TestMalformed: a record that does not parse is an error Next returns once;
// the stream goes on.
func TestMalformed(t *testing.T) {
	src := watchtest.New(false)
	src.AddError(fmt.Errorf("read /dev/kmsg: %w: no ';' after the prefix", kmsg.ErrMalformed))
	src.Add(dockerRecords(t)...)
	s := watch.New(src, watch.Options{BootID: boot})
	if _, err := s.Next(context.Background()); !errors.Is(err, kmsg.ErrMalformed) {
		t.Fatalf("Next = %v, want ErrMalformed", err)
	}
	if got := len(all(t, s)); got != 2 {
		t.Errorf("%d items after the malformed record, want 2", got)
	}
	if s.Stats().Malformed != 1 {
		t.Errorf("Stats().Malformed = %d, want 1", s.Stats().Malformed)
	}
}

// TestEarlierVictims: a victim the kernel is still reaping is skipped by
// the next OOM's scan (MMF_OOM_SKIP, mm/oom_kill.c oom_evaluate_task), so
// when the same task table is printed again, the stream's second
// explanation must not predict the first victim again; explained alone, it
// would.
func TestEarlierVictims(t *testing.T) {
	recs := sampleRecords(t, "real-6.18-cgroup-v1.log")
	again := make([]kmsg.Record, len(recs))
	for i, r := range recs {
		r.Seq += uint64(len(recs)) // right after the first copy
		again[i] = r
	}
	src := watchtest.New(false)
	src.Add(recs...)
	src.Add(again...)
	items := all(t, watch.New(src, watch.Options{BootID: boot}))
	if len(items) != 2 {
		t.Fatalf("items %+v, want 2", briefs(items))
	}
	alone := (&watch.Explainer{}).Explain(items[1].Report)
	first, second := items[0].Event.Analysis.PredictedVictimPID, items[1].Event.Analysis.PredictedVictimPID
	if first == nil || *first != 13972 || alone.Analysis.PredictedVictimPID == nil || *alone.Analysis.PredictedVictimPID != 13972 {
		t.Fatalf("predicted %v first and %v alone, want 13972 (the sample's victim)", first, alone.Analysis.PredictedVictimPID)
	}
	if second != nil && *second == 13972 {
		t.Errorf("second report predicts pid 13972 again, which the first report killed")
	}
}

// TestAfterKill: once a report's kill line is read, a short quiet
// (Options.AfterKill) hands the report on although Idle is an hour; a
// report whose kill line has not come waits for Idle.
func TestAfterKill(t *testing.T) {
	recs := sampleRecords(t, "real-6.18-cgroup-v1.log") // its last record is the kill line
	src := watchtest.New(true)
	src.Add(recs...)
	s := watch.New(src, watch.Options{BootID: boot, Idle: time.Hour, AfterKill: time.Millisecond})
	it, err := s.Next(context.Background())
	if err != nil || it.Event == nil || it.FirstSeq != 1378 || it.LastSeq != 1457 {
		t.Fatalf("Next = %+v, %v; want the report, handed on after its kill line", briefs([]watch.Item{it}), err)
	}

	src = watchtest.New(true)
	src.Add(recs[:len(recs)-1]...)
	s = watch.New(src, watch.Options{BootID: boot, Idle: time.Hour, AfterKill: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// The source waits twice: once under the idle timer, and the
		// test gives the timer no reason to fire.
		<-src.Waiting()
		cancel()
	}()
	if it, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %+v, %v before the kill line; want it to wait for Idle", briefs([]watch.Item{it}), err)
	}
}

// TestCursor: the stream's cursor moves on with records that belong to no
// report, stops before a report not yet returned, and a stream resumed
// after it repeats no event, loses none, and counts no gap even when the
// records before the cursor are gone from the ring.
func TestCursor(t *testing.T) {
	recs := dockerRecords(t) // seqs 1000–1096; reports 1014–1043 and 1060–1089
	for _, tc := range []struct {
		name string
		upTo uint64 // records up to this seq are read before the reader stops
		want uint64 // its cursor then
	}{
		{"before any report", 1010, 1010},
		{"inside the first report", 1030, 1013},
		{"the first report ended, its reaper line read", 1050, 1050},
		{"everything", 1096, 1096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := watchtest.New(true)
			src.Add(recs[:tc.upTo-1000+1]...)
			s := watch.New(src, watch.Options{BootID: boot, Idle: time.Millisecond})
			var before []watch.Item
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src.OnWait(func() {
				// The source is dry: stop once the cursor got there (the
				// idle flush may have to come first).
				if c, ok := s.Cursor(); ok && c.Seq == tc.want {
					cancel()
				}
			})
			for {
				it, err := s.Next(ctx)
				if err != nil {
					break
				}
				before = append(before, it)
			}
			c, ok := s.Cursor()
			if !ok || c != (watch.Cursor{BootID: boot, Seq: tc.want}) {
				t.Fatalf("Cursor() = %+v, %v; want seq %d", c, ok, tc.want)
			}
			// A restart: the ring now holds only the records after the
			// cursor (the older ones were overwritten meanwhile).
			src2 := watchtest.New(false)
			src2.Add(recs[c.Seq-1000+1:]...)
			s2 := watch.New(src2, watch.Options{BootID: boot, After: &c})
			after := all(t, s2)
			got := append(briefs(before), briefs(after)...)
			want := []brief{{Kind: "event", First: 1014, Last: 1043, Victim: 1381}, {Kind: "event", First: 1060, Last: 1089, Victim: 1667}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events before and after the restart (-want +got):\n%s", diff)
			}
			if s2.Stats().Gaps != 0 {
				t.Errorf("the resumed stream counted %d gaps", s2.Stats().Gaps)
			}
		})
	}
}

// TestCaughtUp: Options.CaughtUp is called when the source waits and every
// event of the records read has been returned — not while a report is
// held for its reaper line.
func TestCaughtUp(t *testing.T) {
	src := watchtest.New(true)
	src.Add(dockerRecords(t)[:50]...) // the first report and its reaper line, then other records
	returned := 0
	var atCaughtUp []int
	caughtUp := make(chan struct{}, 1)
	s := watch.New(src, watch.Options{BootID: boot, Idle: time.Millisecond, CaughtUp: func() {
		atCaughtUp = append(atCaughtUp, returned)
		select {
		case caughtUp <- struct{}{}:
		default:
		}
	}})
	// The deadline only ends a stream that never says it caught up.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it, err := s.Next(ctx)
	if err != nil || it.Event == nil {
		t.Fatalf("Next = %+v, %v", briefs([]watch.Item{it}), err)
	}
	returned++
	go func() {
		// Stop once it has caught up (a stale wake-up of the source, or the
		// Idle timer firing while records were still being read, must not
		// end the test before that).
		<-caughtUp
		cancel()
	}()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want it to wait until it is cancelled", err)
	}
	if len(atCaughtUp) == 0 || atCaughtUp[0] != 1 {
		t.Errorf("CaughtUp called with %v events returned, want first after the report was returned", atCaughtUp)
	}
}
