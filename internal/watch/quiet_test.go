package watch

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/kmsg"
)

// TestQuietFollowsThePrinting: after a kill line the stream waits
// AfterKill, or three times the longest gap between the report's records
// when the kernel printed it slowly (a serial console: ~7 ms a line at
// 115200 baud), capped at Idle; gaps before the report's header do not
// count, and a flush forgets them.
func TestQuietFollowsThePrinting(t *testing.T) {
	const afterKill = 25 * time.Millisecond
	s := New(emptySource{}, Options{AfterKill: afterKill, Idle: 2 * time.Second})
	seq := uint64(0)
	feed := func(usec uint64, text string) {
		seq++
		s.record(kmsg.Record{Seq: seq, Usec: usec, Text: text, Priority: 4})
	}
	if got := s.quiet(); got != 2*time.Second {
		t.Fatalf("before any kill line: %v, want Idle", got)
	}
	feed(1_000_000, "systemd-journald[1]: a line long before the OOM")
	feed(9_000_000, "stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0")
	feed(9_000_050, "CPU: 0 PID: 99 Comm: stress Not tainted 6.1.0 #1")
	feed(9_000_100, "Memory cgroup out of memory: Killed process 99 (stress) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0")
	if got := s.quiet(); got != afterKill {
		t.Errorf("a report printed in 100 µs: quiet %v, want AfterKill %v (the 8 s before its header do not count)", got, afterKill)
	}
	s.flush()
	feed(20_000_000, "stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0")
	feed(20_007_000, "CPU: 0 PID: 99 Comm: stress Not tainted 6.1.0 #1")
	feed(20_021_000, "Memory cgroup out of memory: Killed process 99 (stress) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0")
	if got, want := s.quiet(), 42*time.Millisecond; got != want {
		t.Errorf("a report printed 7 and 14 ms apart: quiet %v, want 3 × 14 ms = %v", got, want)
	}
	feed(21_000_000, "Tasks in /group are going to be killed due to memory.oom.group set")
	if got := s.quiet(); got != 2*time.Second {
		t.Errorf("a gap of a second: quiet %v, want Idle (the cap)", got)
	}
}

// emptySource is a Source with no records.
type emptySource struct{}

func (emptySource) Next(ctx context.Context) (kmsg.Record, error) { return kmsg.Record{}, io.EOF }

func (emptySource) Overruns() int { return 0 }
