package alloc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// The test binary doubles as the allocator: with childEnv set it runs one
// alloc.Config from configEnv (waiting on the start pipe first, like
// `oomkit alloc` started by the lab) and prints its records as JSON Lines.
const (
	childEnv   = "OOMKIT_ALLOC_TEST_CHILD"
	configEnv  = "OOMKIT_ALLOC_TEST_CONFIG"
	rlimitEnv  = "OOMKIT_ALLOC_TEST_RLIMIT_AS"
	gomemlimit = "GOMEMLIMIT"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func childMain() int {
	var cfg alloc.Config
	if err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if v := os.Getenv(rlimitEnv); v != "" {
		n, _ := strconv.ParseUint(v, 10, 64)
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if err := alloc.WaitForStart(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	a, err := alloc.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { cancel(alloc.Signaled{Signal: <-sigs}) }()
	enc := json.NewEncoder(os.Stdout)
	a.Run(ctx, func(r alloc.Record) { _ = enc.Encode(r) })
	return 0
}

// proc is an allocator child started in a memcg.
type proc struct {
	cmd     *exec.Cmd
	records chan alloc.Record
}

// startIn starts an allocator child for cfg, moves it into m, and lets it
// allocate. It is killed when the test ends.
func startIn(t testing.TB, m *cgroup.Memcg, cfg alloc.Config, env ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), childEnv+"=1", configEnv+"="+string(b), alloc.StartFDEnv+"=3"), env...)
	cmd.ExtraFiles = []*os.File{pr}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := m.AddProcess(cmd.Process.Pid); err != nil {
		pw.Close()
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, records: make(chan alloc.Record, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r alloc.Record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				p.records <- r
			}
		}
		close(p.records)
	}()
	if _, err := pw.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	return p
}

// until returns records up to and including the first with event ev.
func (p *proc) until(t testing.TB, ev string) []alloc.Record {
	t.Helper()
	var got []alloc.Record
	timeout := time.After(60 * time.Second)
	for {
		select {
		case r, ok := <-p.records:
			if !ok {
				t.Fatalf("allocator exited before a %q record; got %d records", ev, len(got))
			}
			got = append(got, r)
			if r.Event == ev {
				return got
			}
		case <-timeout:
			t.Fatalf("no %q record within 60 s", ev)
		}
	}
}

// statusKB reads a "Key: N kB" line of /proc/PID/status in bytes.
func statusBytes(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n * 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func usageFile(m *cgroup.Memcg) string {
	if m.Version == cgroup.V2 {
		return filepath.Join(m.Dir, "memory.current")
	}
	return filepath.Join(m.Dir, "memory.usage_in_bytes")
}

// TestNumbersAreTheKernels allocates N blocks with touch P in a limited
// memcg and checks what alloc reports, and what the kernel says from
// outside (/proc/PID/status RssAnon, the cgroup's usage), against
// N × block × P. The tolerance is what the process had before its first
// block (the Go runtime; charged to the memcg it started in) plus page
// tables: 2 KiB of PTEs per MiB touched, rounded up generously.
func TestNumbersAreTheKernels(t *testing.T) {
	const (
		blocks = 6
		block  = 16 * bytesize.MiB
	)
	for _, tc := range []struct {
		mode alloc.Mode
		pct  float64
	}{
		{alloc.ModeMmap, 50},
		{alloc.ModeMmap, 100},
		{alloc.ModeMmap, 0},
		{alloc.ModeHeap, 25},
		{alloc.ModeShmem, 75},
	} {
		t.Run(fmt.Sprintf("%s/%g%%", tc.mode, tc.pct), func(t *testing.T) {
			if tc.mode == alloc.ModeHeap && raceEnabled {
				t.Skip("the race detector's shadow memory inflates the Go heap's RSS; this case runs without -race")
			}
			m := kerneltest.NewMemcg(t, 256*bytesize.MiB)
			before := readInt(t, usageFile(m))
			p := startIn(t, m, alloc.Config{Mode: tc.mode, BlockBytes: block, TouchPercent: tc.pct, MaxBytes: blocks * block, Hold: true})
			recs := p.until(t, "hold")
			want := int64(float64(blocks*block) * tc.pct / 100)
			last := recs[len(recs)-1]
			if last.Blocks != blocks || last.AllocatedBytes != blocks*block || last.TouchedBytes != want {
				t.Fatalf("hold record: blocks %d allocated %d touched %d, want %d, %d, %d",
					last.Blocks, last.AllocatedBytes, last.TouchedBytes, blocks, blocks*block, want)
			}
			if *last.StopReason != alloc.StopMax {
				t.Errorf("stop_reason %q, want max", *last.StopReason)
			}
			if last.Cgroup == nil || *last.Cgroup != m.Path {
				t.Errorf("cgroup %v, want %s", last.Cgroup, m.Path)
			}
			if last.CgroupLimitBytes == nil || *last.CgroupLimitBytes != 256*bytesize.MiB {
				t.Errorf("cgroup_limit_bytes %v, want %d", last.CgroupLimitBytes, 256*bytesize.MiB)
			}
			// The allocator's runtime grows a little between records (its
			// /proc reads, the collector); under -race every heap byte has
			// shadow memory too, and 2 MiB was once 8% short (2.26 MB with
			// nothing touched). A block is 16 MiB, so either allowance still
			// catches one block too many or too few.
			noise := 2 * bytesize.MiB
			if raceEnabled {
				noise = 4 * bytesize.MiB
			}
			tol := noise + want/512
			// RSS grows by exactly what was touched (first to last block).
			first := recs[0]
			grew := *last.RSSBytes - *first.RSSBytes
			touched := last.TouchedBytes - first.TouchedBytes
			if d := grew - touched; d < -tol || d > tol {
				t.Errorf("rss grew %d bytes over blocks 2..%d, touched %d (diff %d, tolerance %d)", grew, blocks, touched, d, tol)
			}
			// The cgroup is charged what was touched (the runtime's pages
			// from before the move stay charged where it started).
			usage := readInt(t, usageFile(m)) - before
			slack := 4 * bytesize.MiB // the runtime's own growth after the move
			if raceEnabled {
				slack = 32 * bytesize.MiB // and the race detector's shadow memory
			}
			if d := usage - want; d < -tol || d > tol+slack {
				t.Errorf("cgroup usage %d bytes, touched %d (diff %d)", usage, want, d)
			}
			if *last.CgroupUsageBytes < want {
				t.Errorf("reported cgroup usage %d < touched %d", *last.CgroupUsageBytes, want)
			}
			// The kernel's own view from outside: anon (or shmem) resident.
			key := "RssAnon"
			if tc.mode == alloc.ModeShmem {
				key = "RssShmem"
			}
			// Above what was touched it may hold only what the process held
			// before its blocks (the runtime: its RSS at the first record
			// less that block's pages) and the runtime's growth since.
			res := statusBytes(t, p.cmd.Process.Pid, key)
			runtime := *first.RSSBytes - first.TouchedBytes
			if res < want || res > want+runtime+tol+slack {
				t.Errorf("/proc/PID/status %s %d, touched %d (runtime held %d before its blocks, tolerance %d)",
					key, res, want, runtime, tol+slack)
			}
		})
	}
}

// TestPageCacheIsReclaimed writes twice the limit through the page cache:
// the memcg stays at its limit and nothing is killed.
func TestPageCacheIsReclaimed(t *testing.T) {
	m := kerneltest.NewMemcg(t, 64*bytesize.MiB)
	p := startIn(t, m, alloc.Config{Mode: alloc.ModeFile, BlockBytes: 16 * bytesize.MiB, TouchPercent: 100, MaxBytes: 128 * bytesize.MiB})
	recs := p.until(t, "stop")
	last := recs[len(recs)-1]
	if *last.StopReason != alloc.StopMax || last.TouchedBytes != 128*bytesize.MiB {
		t.Fatalf("stop %q after %d bytes, want max after %d", *last.StopReason, last.TouchedBytes, 128*bytesize.MiB)
	}
	if *last.CgroupUsageBytes > 64*bytesize.MiB {
		t.Errorf("usage %d over the 64 MiB limit", *last.CgroupUsageBytes)
	}
}

// TestHeapRuntimeRefuses: under GOMEMLIMIT the heap mode stops with
// runtime_refused before the limit, not with a fatal runtime error.
func TestHeapRuntimeRefuses(t *testing.T) {
	m := kerneltest.NewMemcg(t, 256*bytesize.MiB)
	p := startIn(t, m, alloc.Config{Mode: alloc.ModeHeap, BlockBytes: 16 * bytesize.MiB, TouchPercent: 100}, gomemlimit+"=96MiB")
	recs := p.until(t, "stop")
	last := recs[len(recs)-1]
	if *last.StopReason != alloc.StopRuntime {
		t.Fatalf("stop_reason %q (%v), want %s", *last.StopReason, last.Error, alloc.StopRuntime)
	}
	if last.AllocatedBytes > 96*bytesize.MiB || last.AllocatedBytes < 48*bytesize.MiB {
		t.Errorf("allocated %d before the refusal; want between 48 MiB and GOMEMLIMIT 96 MiB", last.AllocatedBytes)
	}
}

// TestENOMEM: the kernel refusing address space (here through RLIMIT_AS,
// since the lab may not change vm.overcommit_memory) ends the run with
// enomem and the errno in the record.
func TestENOMEM(t *testing.T) {
	m := kerneltest.NewMemcg(t, 256*bytesize.MiB)
	p := startIn(t, m, alloc.Config{Mode: alloc.ModeMmap, BlockBytes: 256 * bytesize.MiB, TouchPercent: 0},
		rlimitEnv+"="+strconv.FormatInt(4*bytesize.GiB, 10))
	recs := p.until(t, "stop")
	last := recs[len(recs)-1]
	if *last.StopReason != alloc.StopENOMEM || last.Error == nil || !strings.Contains(*last.Error, "cannot allocate memory") {
		t.Fatalf("stop_reason %q error %v, want enomem", *last.StopReason, last.Error)
	}
	if last.CommittedASBytes == nil || last.CommitLimitBytes == nil || last.OvercommitMode == nil {
		t.Errorf("the ENOMEM record must carry Committed_AS, CommitLimit and the mode: %+v", last)
	}
}

// TestSignalSummary: SIGTERM during --hold ends the run with a final
// record that names the signal.
func TestSignalSummary(t *testing.T) {
	m := kerneltest.NewMemcg(t, 128*bytesize.MiB)
	p := startIn(t, m, alloc.Config{Mode: alloc.ModeMmap, BlockBytes: 8 * bytesize.MiB, TouchPercent: 100, MaxBytes: 16 * bytesize.MiB, Hold: true})
	p.until(t, "hold")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	recs := p.until(t, "stop")
	last := recs[len(recs)-1]
	if *last.StopReason != alloc.StopSignal || last.Signal == nil || *last.Signal != "SIGTERM" {
		t.Fatalf("stop_reason %q signal %v, want signal SIGTERM", *last.StopReason, last.Signal)
	}
	if last.TouchedBytes != 16*bytesize.MiB {
		t.Errorf("summary touched %d, want %d", last.TouchedBytes, 16*bytesize.MiB)
	}
}

// TestOwnCommitCharge: the commit_bytes the allocator reports is its own
// charge as the kernel counts it. An untouched private mmap block is
// charged in full at mmap (VM_ACCOUNT); a shmem block (a tmpfs file mapped
// shared) is charged to the file, page by page, never to the process
// (Documentation/mm/overcommit-accounting.rst). The Go runtime may map
// between two records, so one pair of consecutive records must show the
// exact step and none may show less.
func TestOwnCommitCharge(t *testing.T) {
	m := kerneltest.NewMemcg(t, 128*bytesize.MiB)
	const block = 8 * bytesize.MiB
	for _, tc := range []struct {
		mode alloc.Mode
		step int64
	}{
		{alloc.ModeMmap, block},
		{alloc.ModeShmem, 0},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			p := startIn(t, m, alloc.Config{Mode: tc.mode, BlockBytes: block, TouchPercent: 0, MaxBytes: 5 * block, Hold: true})
			recs := p.until(t, "hold")
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			p.until(t, "stop")
			exact := false
			var prev *int64
			for _, r := range recs {
				if r.Event != "block" {
					continue
				}
				if r.CommitBytes == nil {
					t.Fatalf("block %d has no commit_bytes", r.Blocks)
				}
				if prev != nil {
					d := *r.CommitBytes - *prev
					if d < tc.step {
						t.Errorf("block %d: commit moved %d, less than %d", r.Blocks, d, tc.step)
					}
					exact = exact || d == tc.step
				}
				prev = r.CommitBytes
			}
			if !exact {
				t.Errorf("no block moved commit_bytes by exactly %d", tc.step)
			}
		})
	}
}
