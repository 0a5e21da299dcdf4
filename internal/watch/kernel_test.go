package watch_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/watch"
)

// TestMain turns the test binary into an allocator for TestRealKernel when
// asked: it waits until it has been moved into the memcg, then touches
// memory until the OOM killer ends it.
func TestMain(m *testing.M) {
	if os.Getenv("OOMKIT_WATCH_HOG") != "" {
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			os.Exit(3)
		}
		for {
			b, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				os.Exit(3)
			}
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
		}
	}
	os.Exit(m.Run())
}

// TestRealKernel makes this machine's kernel OOM-kill a process in a
// throw-away memcg and follows /dev/kmsg with a Stream. The item's keys are
// checked against the raw records, read by a second, plain reader: the
// first record is the "invoked oom-killer" line, the last one the kill or
// reaper line of the victim, the time is that record's. A second stream
// resumed from the item's cursor does not return the event again.
func TestRealKernel(t *testing.T) {
	kerneltest.SerializeOOM(t)
	m := kerneltest.NewMemcg(t, 64<<20)
	raw, err := kmsg.Open(kmsg.DefaultPath, true)
	if err != nil {
		kerneltest.Skip(t, err.Error())
	}
	defer raw.Close()
	if err := raw.SeekEnd(); err != nil {
		t.Fatal(err)
	}
	s, err := watch.Open(kmsg.DefaultPath, watch.Options{Follow: true, FromEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	hog := exec.Command(os.Args[0], "-test.run=^$")
	hog.Env = append(os.Environ(), "OOMKIT_WATCH_HOG=1")
	stdin, err := hog.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hog.Process.Kill(); _ = hog.Wait() })
	if err := m.AddProcess(hog.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	_ = hog.Wait()
	pid := hog.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a guard, not a synchronisation
	defer cancel()
	var it watch.Item
	for {
		it, err = s.Next(ctx)
		if err != nil && !errors.Is(err, kmsg.ErrMalformed) {
			t.Fatalf("no event for %s: %v", m.Path, err)
		}
		if err == nil && it.Event != nil && it.Report.OOMMemcg == m.Path {
			break
		}
	}

	// The same records, read plainly: up to the event's last one.
	var header, last *kmsg.Record
	for {
		rec, err := raw.Next(ctx)
		if err != nil {
			t.Fatalf("raw read: %v", err)
		}
		if strings.Contains(rec.Text, " invoked oom-killer: ") && header == nil {
			r := rec
			header = &r
		}
		if strings.Contains(rec.Text, fmt.Sprintf("process %d (", pid)) {
			r := rec
			last = &r // "Killed process PID (comm)" and "oom_reaper: reaped process PID (comm)"
		}
		if rec.Seq >= it.LastSeq {
			break
		}
	}
	boot := watch.ReadBootID(watch.BootIDPath)
	if header == nil || last == nil {
		t.Fatalf("raw records have no header or no line for pid %d up to seq %d", pid, it.LastSeq)
	}
	got := map[string]any{"boot": it.BootID, "first": it.FirstSeq, "last": it.LastSeq, "since_boot": it.SinceBoot, "victim": it.Event.Victims[0].PID}
	want := map[string]any{"boot": boot, "first": header.Seq, "last": last.Seq, "since_boot": time.Duration(header.Usec) * time.Microsecond, "victim": pid}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s = %v, want %v (from the raw records)", k, got[k], want[k])
		}
	}
	if len(boot) != 36 {
		t.Errorf("boot ID %q is not a UUID", boot)
	}

	// Resumed from the cursor, a whole-ring read skips the event.
	c := it.Cursor()
	again, err := watch.Open(kmsg.DefaultPath, watch.Options{After: &c})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for {
		it2, err := again.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, kmsg.ErrMalformed) {
			t.Fatal(err)
		}
		if err == nil && it2.Event != nil && it2.FirstSeq <= c.Seq {
			t.Errorf("resumed stream returned event %d at or before the cursor %d", it2.FirstSeq, c.Seq)
		}
	}
	if again.Stats().Resumed == 0 {
		t.Errorf("resumed stream skipped no event; the ring held event %d", c.Seq)
	}
}
