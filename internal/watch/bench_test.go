package watch_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/oomlog"
	"github.com/oomkit/oomkit/internal/watch"
	"github.com/oomkit/oomkit/internal/watch/watchtest"
)

// benchRing is a ring's worth of records: ordinary log lines with the
// docker-4.8-v1 sample's two OOM reports every 1000 records.
func benchRing(b *testing.B) []kmsg.Record {
	data, err := os.ReadFile("../explain/samples/docker-4.8-v1.log")
	if err != nil {
		b.Fatal(err)
	}
	var recs []kmsg.Record
	seq := uint64(1)
	for len(recs) < 20000 {
		for i := 0; i < 900; i++ {
			recs = append(recs, kmsg.Record{Priority: 6, Seq: seq, Usec: seq * 1000, Flags: "-", Text: "eth0: link up, 10Gbps full duplex, flow control rx/tx"})
			seq++
		}
		for _, r := range watchtest.Records(seq, seq*1000, string(data)) {
			recs = append(recs, r)
			seq++
		}
	}
	return recs
}

// BenchmarkStream reads a 20,000-record ring through a Stream: records →
// Assembler → explained events.
func BenchmarkStream(b *testing.B) {
	recs := benchRing(b)
	b.ReportAllocs()
	for b.Loop() {
		src := watchtest.New(false)
		src.Add(recs...)
		s := watch.New(src, watch.Options{})
		for {
			_, err := s.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(recs)), "records/op")
}

// BenchmarkAssemblerDirect is the baseline: the same records from the same
// source fed to an Assembler and explained with no stream around them
// (what explain's /dev/kmsg loop did before internal/watch).
func BenchmarkAssemblerDirect(b *testing.B) {
	recs := benchRing(b)
	b.ReportAllocs()
	for b.Loop() {
		src := watchtest.New(false)
		src.Add(recs...)
		a := oomlog.NewAssembler(oomlog.Options{})
		var x watch.Explainer
		explainAll := func(reps []*oomlog.Report) {
			for _, r := range reps {
				_ = x.Explain(r)
			}
		}
		for {
			rec, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			seq, up := rec.Seq, float64(rec.Usec)/1e6
			explainAll(a.Feed(oomlog.Record{Text: rec.Text, Stamp: oomlog.Stamp{Seq: &seq, Uptime: &up, Caller: rec.Caller}, HasStamp: true}))
		}
		explainAll(a.Flush())
	}
	b.ReportMetric(float64(len(recs)), "records/op")
}
