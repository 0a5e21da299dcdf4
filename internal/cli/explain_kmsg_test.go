package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/watch/watchtest"
)

// packetPipe stands in for /dev/kmsg: a pipe in packet mode (O_DIRECT,
// pipe(7)) hands one write to one read(2), as the device hands out one
// record per read. Every record is written before the reader starts, and
// the write end is closed: the reader reads the whole "ring", then the end.
// It returns the path the reader opens.
func packetPipe(t *testing.T, packets [][]byte) string {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_DIRECT|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(p[0]), "kmsg-r"), os.NewFile(uintptr(p[1]), "kmsg-w")
	t.Cleanup(func() { r.Close() })
	// One packet takes one page of the pipe's buffer.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, (len(packets)+1)*os.Getpagesize()); err != nil {
		t.Fatal(err)
	}
	for _, b := range packets {
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return fmt.Sprintf("/proc/self/fd/%d", p[0])
}

// kmsgPackets is a sample's records as /dev/kmsg packets, sequence numbers
// from firstSeq; skip maps a record index to sequence numbers skipped
// before it (records the kernel overwrote); bad inserts a record that does
// not parse before that index.
func kmsgPackets(t *testing.T, sample string, firstSeq uint64, skip map[int]uint64, bad int) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "explain", "samples", sample))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	seq := firstSeq
	for i, r := range watchtest.Records(firstSeq, 7_000_000, string(b)) {
		if i == bad {
			out = append(out, []byte("6,x,1,-;not a record\n"))
		}
		seq += skip[i]
		r.Seq = seq
		seq++
		out = append(out, r.AppendText(nil))
	}
	return out
}

// TestExplainKmsgGolden pins what explain prints for /dev/kmsg (no FILE,
// no --follow): the whole ring read once, with sequence numbers in place of
// line numbers, the records lost to overwriting and a malformed record
// reported on standard error. The golden files were written by the code
// before internal/watch existed and must not change.
func TestExplainKmsgGolden(t *testing.T) {
	for _, tt := range []struct {
		name    string
		packets func() [][]byte
		args    []string
	}{
		{"kmsg-docker", func() [][]byte { return kmsgPackets(t, "docker-4.8-v1.log", 500, nil, -1) }, nil},
		{"kmsg-docker-json", func() [][]byte { return kmsgPackets(t, "docker-4.8-v1.log", 500, nil, -1) }, []string{"--json"}},
		{"kmsg-gaps", func() [][]byte {
			return kmsgPackets(t, "docker-4.8-v1.log", 500, map[int]uint64{50: 7, 70: 3}, 20)
		}, nil},
		{"kmsg-real-6.18", func() [][]byte { return rawPackets(t, "real-6.18-cgroup-v1.log") }, []string{"--top", "2", "--verbose"}},
		{"kmsg-empty", func() [][]byte { return nil }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := packetPipe(t, tt.packets())
			args := append([]string{"explain", "--kmsg-path", path}, tt.args...)
			var out, errOut bytes.Buffer
			code := Main(args, nil, &out, &errOut)
			var got bytes.Buffer
			fmt.Fprintf(&got, "$ oomkit explain%s\nexit %d\n--- stdout\n%s--- stderr\n%s", argsText(tt.args), code,
				bytes.ReplaceAll(out.Bytes(), []byte(path), []byte("KMSG")), bytes.ReplaceAll(errOut.Bytes(), []byte(path), []byte("KMSG")))
			golden(t, filepath.Join("testdata", "explain", tt.name+".golden"), got.Bytes())
		})
	}
}

// rawPackets is a sample of raw /dev/kmsg records, one packet per line.
func rawPackets(t *testing.T, sample string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "explain", "samples", sample))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func argsText(args []string) string {
	var b bytes.Buffer
	for _, a := range args {
		b.WriteString(" " + strconv.Quote(a))
	}
	return b.String()
}

// notifyBuffer is a buffer that says when it was written to.
type notifyBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{wrote: make(chan struct{}, 1)} }

func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer func() {
		select {
		case n.wrote <- struct{}{}:
		default:
		}
	}()
	return n.b.Write(p)
}

func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

// waitFor blocks until cond holds for the buffer's text, waking on writes.
func (n *notifyBuffer) waitFor(t *testing.T, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second) // a guard against a hang, not a synchronisation
	for !cond(n.String()) {
		select {
		case <-n.wrote:
		case <-deadline:
			t.Fatalf("no %s within 30 s; output so far:\n%s", what, n.String())
		}
	}
}

// TestExplainFollowGolden: --follow prints what the whole-ring read
// prints, as each report completes (the second report of the sample comes
// out when the log has been quiet for two seconds), and stops cleanly when
// cancelled. The golden file was written by the code before internal/watch.
func TestExplainFollowGolden(t *testing.T) {
	path := packetPipe(t, kmsgPackets(t, "docker-4.8-v1.log", 500, map[int]uint64{70: 3}, -1))
	out, errOut := newNotifyBuffer(), newNotifyBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	cfg := explainConfig{follow: true, top: explain.DefaultTop, kmsgPath: path}
	go func() { done <- runExplain(ctx, &streams{out: &stickyWriter{w: out}, err: errOut}, cfg, nil) }()
	// Each event is written (flushed) whole.
	out.waitFor(t, "second event", func(s string) bool { return strings.Contains(s, "OOM kill #2") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("explain --follow ended with %v after cancel, want nil", err)
	}
	got := fmt.Sprintf("$ oomkit explain --follow\n--- stdout\n%s--- stderr\n%s",
		strings.ReplaceAll(out.String(), path, "KMSG"), strings.ReplaceAll(errOut.String(), path, "KMSG"))
	golden(t, filepath.Join("testdata", "explain", "kmsg-follow.golden"), []byte(got))
}
