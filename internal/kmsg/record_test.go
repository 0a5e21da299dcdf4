package kmsg

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Record
	}{
		{
			name: "plain",
			in:   "6,1234,8334895293,-;dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997\n",
			want: Record{Priority: 6, Seq: 1234, Usec: 8334895293, Flags: "-", Text: "dotnet invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997"},
		},
		{
			name: "continuation lines",
			in:   "7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7]\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A03:00\n",
			want: Record{Priority: 7, Seq: 160, Usec: 424069, Flags: "-", Text: "pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7]", Dict: []string{"SUBSYSTEM=acpi", "DEVICE=+acpi:PNP0A03:00"}},
		},
		{
			name: "caller field and unknown extra fields",
			in:   "4,99,1000,-,caller=T14300,future=1;Memory cgroup out of memory: Killed process 14300 (dotnet)\n",
			want: Record{Priority: 4, Seq: 99, Usec: 1000, Flags: "-", Caller: "T14300", Text: "Memory cgroup out of memory: Killed process 14300 (dotnet)"},
		},
		{
			name: "continuation fragment flag, facility",
			in:   "14,5,6,c;user (resolved) [x] \"q\"\n",
			want: Record{Priority: 14, Seq: 5, Usec: 6, Flags: "c", Text: "user (resolved) [x] \"q\""},
		},
		{
			name: "escaped bytes and semicolons in text",
			in:   "6,7,8,-;a\\x00b;c=d\n",
			want: Record{Priority: 6, Seq: 7, Usec: 8, Flags: "-", Text: "a\\x00b;c=d"},
		},
		{
			name: "three prefix fields (no flags)",
			in:   "6,7,8;x",
			want: Record{Priority: 6, Seq: 7, Usec: 8, Text: "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "no semicolon", "6,1;x", "x,1,2,-;t", "6,y,2,-;t", "6,1,-2,-;t", "\x00\xff;"} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse([]byte(in))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse(%q) error = %v, want ErrMalformed", in, err)
			}
		})
	}
}

func TestAppendTextRoundTrip(t *testing.T) {
	for _, in := range []string{
		"6,1234,8334895293,-;dotnet invoked oom-killer\n",
		"7,160,424069,-;host bridge\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A03:00\n",
		"4,99,1000,-,caller=T14300;Killed process 14300 (dotnet)\n",
	} {
		r, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(in, string(r.AppendText(nil))); diff != "" {
			t.Errorf("AppendText (-want +got):\n%s", diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"6,1,2,-;x\n A=B\n", "4,99,1000,-,caller=T1;y", ";", "1,2,3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		// What parsed must read back the same.
		r2, err := Parse(r.AppendText(nil))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", r.AppendText(nil), err)
		}
		if r.Flags == "" {
			r.Flags = "-"
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", b, diff)
		}
	})
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "no-kmsg"), false)
	var oe *OpenError
	if !errors.As(err, &oe) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open error = %v, want an *OpenError wrapping ErrNotExist", err)
	}
}

func TestOpenErrorMessage(t *testing.T) {
	err := &OpenError{Path: "/dev/kmsg", Err: unix.EPERM}
	want := "open /dev/kmsg: operation not permitted (reading the kernel log needs root or CAP_SYSLOG when kernel.dmesg_restrict=1)"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// fifo makes a named pipe that stands in for the device: one write is one
// record, as one read(2) of /dev/kmsg is, and with a writer open and
// nothing written a read says EAGAIN, so a following Reader blocks in
// poll(2) as it does on the device.
func fifo(t *testing.T) (path string, w *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "kmsg")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0) // O_RDWR: does not wait for a reader
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path, w
}

// TestLost: a jump in sequence numbers between two records is counted as
// records lost.
func TestLost(t *testing.T) {
	path, w := fifo(t)
	r, err := Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, rec := range []string{"6,100,1,-;a\n", "6,101,2,-;b\n", "6,105,3,-;c\n"} {
		if _, err := w.WriteString(rec); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if r.Lost() != 3 || r.Overruns() != 0 {
		t.Errorf("Lost = %d, Overruns = %d; want 3 (102–104), 0", r.Lost(), r.Overruns())
	}
}

// TestNextWakesOnCancel: a Next blocked in poll(2) returns as soon as its
// context is cancelled. The test cancels only once the reader says it is
// about to block, and Next has no timeout of its own: only the cancel can
// end it.
func TestNextWakesOnCancel(t *testing.T) {
	path, w := fifo(t)
	r, err := Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	blocked := make(chan struct{}, 1)
	r.OnWait(func() {
		select {
		case blocked <- struct{}{}:
		default:
		}
	})
	// A record first: the reader wakes for data as well.
	go func() {
		<-blocked
		_, _ = w.WriteString("6,7,8,-;hello\n")
	}()
	rec, err := r.Next(context.Background())
	if err != nil || rec.Text != "hello" {
		t.Fatalf("Next = %+v, %v; want the record written while it waited", rec, err)
	}
	select {
	case <-blocked: // a signal left from the first wait
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-blocked
		cancel()
	}()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel = %v, want context.Canceled", err)
	}
}

// TestReadDevice reads this machine's real /dev/kmsg: the whole ring
// without blocking, then follows it and sees a record this test writes.
func TestReadDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Skip(t, "reading /dev/kmsg needs root")
	}
	r, err := Open(DefaultPath, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	var n int
	var prev uint64
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && rec.Seq <= prev {
			t.Fatalf("sequence went backwards: %d after %d", rec.Seq, prev)
		}
		prev = rec.Seq
		n++
	}
	if n == 0 {
		t.Fatal("read no records from /dev/kmsg")
	}
	t.Logf("read %d records, last seq %d, %d lost, %d overruns", n, prev, r.Lost(), r.Overruns())

	// Follow: write a marker record and read it back (the newline matters:
	// the printk ring finalizes a record without one only when the next
	// record arrives). TestNextWakesOnCancel shows a cancel ends the wait.
	f, err := Open(DefaultPath, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.SeekEnd(); err != nil {
		t.Fatal(err)
	}
	marker := "oomkit kmsg test " + time.Now().Format(time.RFC3339Nano)
	w, err := os.OpenFile(DefaultPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("<6>" + marker + "\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		rec, err := f.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for the marker: %v", err)
		}
		if strings.HasSuffix(rec.Text, marker) {
			if rec.Facility() != 1 || rec.Level() != 6 {
				// Writes from user space get the user facility.
				t.Errorf("marker record prio %d, want facility 1 (user) level 6", rec.Priority)
			}
			break
		}
	}
}
