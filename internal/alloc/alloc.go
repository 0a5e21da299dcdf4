// Package alloc is oomkit's memory leak tool (the article's allocator): it
// allocates blocks of a fixed size at an interval, writes one byte per page
// to the first part of each block so the kernel has to back it with real
// pages, and reports after every block what the kernel says it costs —
// allocated (virtual) vs committed (Committed_AS) vs resident (RSS) vs
// charged to the memory cgroup — and, at the end, why it stopped.
//
// Memory comes from one of four places (Mode): private anonymous mmap
// outside the Go heap (what malloc does for large blocks), the Go heap (so
// GOMEMLIMIT and the garbage collector take part), a file's page cache, or
// shmem (a memfd, like tmpfs). The lab runs it in throw-away memory cgroups.
package alloc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// Schema is the JSON schema name of every record.
const Schema = "oomkit.alloc/v1"

// Mode is where blocks come from.
type Mode string

// The allocation modes.
const (
	// ModeMmap maps private anonymous memory outside the Go heap: charged
	// to Committed_AS at mmap time, resident and charged to the memcg only
	// when touched.
	ModeMmap Mode = "mmap"
	// ModeHeap allocates []byte through the Go runtime, so GOMEMLIMIT and
	// the garbage collector take part.
	ModeHeap Mode = "heap"
	// ModeFile grows an unlinked file and writes the touched part of each
	// block: page cache, charged to the memcg but reclaimable.
	ModeFile Mode = "file"
	// ModeShmem grows a memfd (shmem, like tmpfs) and maps and touches it:
	// charged to the memcg and, without swap, not reclaimable.
	ModeShmem Mode = "shmem"
)

// Modes lists the modes in documentation order.
var Modes = []Mode{ModeMmap, ModeHeap, ModeFile, ModeShmem}

// Stop reasons, the "stop_reason" of the final record.
const (
	StopMax     = "max"             // --max reached
	StopENOMEM  = "enomem"          // the kernel refused the allocation (overcommit)
	StopRuntime = "runtime_refused" // heap mode: the block would exceed GOMEMLIMIT
	StopSignal  = "signal"          // SIGINT/SIGTERM
	StopError   = "error"           // anything else (ENOSPC, a full disk, …)
)

// Config describes one run.
type Config struct {
	Mode       Mode
	BlockBytes int64
	// TouchPercent is how much of each block gets one byte written per
	// page, from its start: 0 to 100.
	TouchPercent float64
	// Interval is the pause after each block.
	Interval time.Duration
	// MaxBytes stops the run once this much is allocated; 0 means no
	// maximum (run until the kernel or a signal stops it). The last block
	// is cut to fit.
	MaxBytes int64
	// Hold keeps the memory after MaxBytes is reached, until a signal.
	Hold bool
	// Dir is where ModeFile creates its (unlinked) file; "" means
	// os.TempDir(). It must not be tmpfs.
	Dir string
	// ProcRoot is the proc mount to read statistics from ("" = /proc).
	ProcRoot string
}

// Validate checks cfg and returns an error saying what to change.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeMmap, ModeHeap, ModeFile, ModeShmem:
	default:
		return fmt.Errorf("--mode %q: want mmap, heap, file or shmem", c.Mode)
	}
	if c.BlockBytes <= 0 {
		return fmt.Errorf("--block must be more than 0 bytes, e.g. --block 100MiB")
	}
	if c.TouchPercent < 0 || c.TouchPercent > 100 || math.IsNaN(c.TouchPercent) {
		return fmt.Errorf("--touch %v%% is outside 0%%–100%%", c.TouchPercent)
	}
	if c.Interval < 0 {
		return fmt.Errorf("--interval must not be negative")
	}
	if c.MaxBytes < 0 {
		return fmt.Errorf("--max must not be negative (0 means no maximum)")
	}
	if c.Dir != "" && c.Mode != ModeFile {
		return fmt.Errorf("--dir is where --mode file puts its file; --mode %s does not use it (leave --dir out, or give --mode file)", c.Mode)
	}
	if c.Hold && c.MaxBytes == 0 {
		return fmt.Errorf("--hold needs --max: without a maximum the run only stops when something refuses memory")
	}
	return nil
}

// Record is one oomkit.alloc/v1 object: one per block ("event": "block"),
// one when --max is reached with --hold ("hold"), and a final one ("stop")
// with the stop reason.
type Record struct {
	Schema       string  `json:"schema"`
	Event        string  `json:"event"`
	PID          int     `json:"pid"`
	Mode         Mode    `json:"mode"`
	BlockBytes   int64   `json:"block_bytes"`
	TouchPercent float64 `json:"touch_percent"`
	// Blocks is how many blocks were allocated so far.
	Blocks         int   `json:"blocks"`
	AllocatedBytes int64 `json:"allocated_bytes"`
	TouchedBytes   int64 `json:"touched_bytes"`

	RSSBytes *int64 `json:"rss_bytes"`
	// CommitBytes is the allocator's own commit charge, as the kernel
	// counts it (its VM_ACCOUNT mappings, /proc/self/smaps): what its
	// blocks, its Go runtime and a fork of it add to Committed_AS.
	CommitBytes      *int64  `json:"commit_bytes"`
	CommittedASBytes *int64  `json:"committed_as_bytes"`
	CommitLimitBytes *int64  `json:"commit_limit_bytes"`
	OvercommitMode   *int    `json:"overcommit_mode"`
	Cgroup           *string `json:"cgroup"`
	CgroupUsageBytes *int64  `json:"cgroup_usage_bytes"`
	// CgroupLimitBytes is the smallest hard limit on the cgroup and its
	// ancestors; null when there is none (or it cannot be read).
	CgroupLimitBytes *int64 `json:"cgroup_limit_bytes"`

	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// StopReason is null on block records.
	StopReason *string `json:"stop_reason"`
	// Signal names the signal that stopped the run ("SIGINT"), else null.
	Signal *string `json:"signal"`
	// Error is the refusal or failure as the system reported it, else null.
	Error *string `json:"error"`
}

// Signaled is the context cause the caller sets when a signal ends the run.
type Signaled struct{ Signal os.Signal }

func (s Signaled) Error() string { return "received " + SignalName(s.Signal) }

// SignalName is the conventional name of sig ("SIGINT").
func SignalName(sig os.Signal) string {
	if s, ok := sig.(unix.Signal); ok {
		if n := unix.SignalName(s); n != "" {
			return n
		}
	}
	return sig.String()
}

// errRuntimeRefused marks a heap-mode block that would exceed GOMEMLIMIT.
var errRuntimeRefused = errors.New("the Go runtime's memory limit would be exceeded")

// Allocator holds the memory of one run. It is not safe for concurrent use.
type Allocator struct {
	cfg     Config
	be      backend
	stats   *statsReader
	start   time.Time
	blocks  int
	alloc   int64
	touched int64
}

// New checks cfg and prepares an allocator; nothing is allocated yet.
func New(cfg Config) (*Allocator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	be, err := newBackend(cfg)
	if err != nil {
		return nil, err
	}
	return &Allocator{cfg: cfg, be: be, stats: newStatsReader(cfg.ProcRoot), start: time.Now()}, nil
}

// Close releases everything allocated (unmaps, closes files). A process
// that exits need not call it.
func (a *Allocator) Close() error { return a.be.close() }

// Run allocates until cfg.MaxBytes, a refusal, or ctx is done, calling
// emit after every block and for the final record, which it also returns.
// A SIGKILL (the OOM killer) ends the process inside Run; nothing is
// emitted for it.
func (a *Allocator) Run(ctx context.Context, emit func(Record)) Record {
	if emit == nil {
		emit = func(Record) {}
	}
	for {
		if err := context.Cause(ctx); err != nil {
			return a.finish(emit, "stop", StopSignal, err)
		}
		n := a.cfg.BlockBytes
		if a.cfg.MaxBytes > 0 && a.alloc+n > a.cfg.MaxBytes {
			n = a.cfg.MaxBytes - a.alloc
		}
		t := touchBytes(n, a.cfg.TouchPercent)
		if err := a.be.block(n, t); err != nil {
			reason := StopError
			switch {
			case errors.Is(err, unix.ENOMEM):
				reason = StopENOMEM
			case errors.Is(err, errRuntimeRefused):
				reason = StopRuntime
			}
			return a.finish(emit, "stop", reason, err)
		}
		a.blocks++
		a.alloc += n
		a.touched += t
		emit(a.record("block"))
		if a.cfg.MaxBytes > 0 && a.alloc >= a.cfg.MaxBytes {
			if !a.cfg.Hold {
				return a.finish(emit, "stop", StopMax, nil)
			}
			a.finish(emit, "hold", StopMax, nil)
			<-ctx.Done()
			return a.finish(emit, "stop", StopSignal, context.Cause(ctx))
		}
		if a.cfg.Interval > 0 {
			timer := time.NewTimer(a.cfg.Interval)
			select {
			case <-ctx.Done():
				timer.Stop()
			case <-timer.C:
			}
		}
	}
}

func (a *Allocator) finish(emit func(Record), event, reason string, err error) Record {
	r := a.record(event)
	r.StopReason = &reason
	var sig Signaled
	if errors.As(err, &sig) {
		r.Signal = ptr(SignalName(sig.Signal))
	} else if err != nil {
		r.Error = ptr(err.Error())
	}
	emit(r)
	return r
}

func (a *Allocator) record(event string) Record {
	s := a.stats.read()
	return Record{
		Schema: Schema, Event: event, PID: os.Getpid(), Mode: a.cfg.Mode,
		BlockBytes: a.cfg.BlockBytes, TouchPercent: a.cfg.TouchPercent,
		Blocks: a.blocks, AllocatedBytes: a.alloc, TouchedBytes: a.touched,
		RSSBytes: s.RSSBytes, CommitBytes: s.CommitBytes, CommittedASBytes: s.CommittedASBytes, CommitLimitBytes: s.CommitLimitBytes,
		OvercommitMode: s.OvercommitMode, Cgroup: s.Cgroup, CgroupUsageBytes: s.CgroupUsageBytes,
		CgroupLimitBytes: s.CgroupLimitBytes,
		ElapsedSeconds:   math.Round(time.Since(a.start).Seconds()*1e6) / 1e6,
	}
}

var pageSize = int64(os.Getpagesize())

// touchBytes is how much of an n-byte block one byte per page covers for
// pct: whole pages from the block's start, never more than the block.
func touchBytes(n int64, pct float64) int64 {
	want := int64(math.Ceil(float64(n) * pct / 100))
	pages := (want + pageSize - 1) / pageSize
	return min(pages*pageSize, n)
}

// touch writes one byte to every page of b[:n], which makes the kernel
// allocate (and charge) a page for each.
func touch(b []byte, n int64) {
	b = b[:n]
	for i := 0; i < len(b); i += int(pageSize) {
		b[i] = 1
	}
}

// backend is one Mode's way to get a block.
type backend interface {
	// block allocates n bytes and touches the first t.
	block(n, t int64) error
	close() error
}

func newBackend(cfg Config) (backend, error) {
	switch cfg.Mode {
	case ModeHeap:
		return &heapBackend{}, nil
	case ModeFile:
		return newFileBackend(cfg.Dir)
	case ModeShmem:
		fd, err := unix.MemfdCreate("oomkit-alloc", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("memfd_create: %w", err)
		}
		return &shmemBackend{fd: fd}, nil
	}
	return &mmapBackend{}, nil
}

type mmapBackend struct{ maps [][]byte }

func (m *mmapBackend) block(n, t int64) error {
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	m.maps = append(m.maps, b)
	touch(b, t)
	return nil
}

func (m *mmapBackend) close() error {
	var errs []error
	for _, b := range m.maps {
		errs = append(errs, unix.Munmap(b))
	}
	m.maps = nil
	return errors.Join(errs...)
}

type heapBackend struct{ blocks [][]byte }

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

func (h *heapBackend) block(n, t int64) error {
	// GOMEMLIMIT is a soft limit: the runtime would collect harder and, out
	// of memory, die with a fatal error nobody can report. A heap ceiling
	// that refuses the next block is what .NET's GCHeapHardLimit (the
	// article's runtime) does, so alloc refuses on the runtime's behalf.
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		metrics.Read(heapSamples)
		used := int64(heapSamples[0].Value.Uint64() - heapSamples[1].Value.Uint64())
		if used+n > limit {
			return fmt.Errorf("%w: %d bytes mapped by the runtime + a %d-byte block > GOMEMLIMIT %d bytes",
				errRuntimeRefused, used, n, limit)
		}
	}
	b := make([]byte, n)
	h.blocks = append(h.blocks, b)
	touch(b, t)
	return nil
}

func (h *heapBackend) close() error { h.blocks = nil; return nil }

type shmemBackend struct {
	fd   int
	size int64
	maps [][]byte
}

func (s *shmemBackend) block(n, t int64) error {
	off := s.size
	if err := unix.Ftruncate(s.fd, off+n); err != nil {
		return fmt.Errorf("grow memfd to %d bytes: %w", off+n, err)
	}
	b, err := unix.Mmap(s.fd, off, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap memfd: %w", err)
	}
	// The next block's offset must be page-aligned for mmap.
	s.size = off + (n+pageSize-1)/pageSize*pageSize
	s.maps = append(s.maps, b)
	touch(b, t)
	return nil
}

func (s *shmemBackend) close() error {
	var errs []error
	for _, b := range s.maps {
		errs = append(errs, unix.Munmap(b))
	}
	s.maps = nil
	errs = append(errs, unix.Close(s.fd))
	return errors.Join(errs...)
}

type fileBackend struct {
	f    *os.File
	size int64
	buf  []byte
}

func newFileBackend(dir string) (*fileBackend, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		return nil, fmt.Errorf("--dir %s is tmpfs/ramfs, whose pages are shmem, not page cache (use --mode shmem for that, or a --dir on a disk)", dir)
	}
	// O_TMPFILE: the file has no name, so nothing is left behind whatever
	// happens to this process; its pages go when the process does.
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		f, err2 := os.CreateTemp(dir, "oomkit-alloc-")
		if err2 != nil {
			return nil, fmt.Errorf("create a file in %s: %w", dir, err2)
		}
		_ = os.Remove(f.Name())
		return &fileBackend{f: f, buf: fileBuf()}, nil
	}
	return &fileBackend{f: os.NewFile(uintptr(fd), dir+"/(unlinked)"), buf: fileBuf()}, nil
}

func fileBuf() []byte {
	b := make([]byte, bytesize.MiB)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

func (fb *fileBackend) block(n, t int64) error {
	off := fb.size
	for w := int64(0); w < t; {
		chunk := min(int64(len(fb.buf)), t-w)
		if _, err := fb.f.WriteAt(fb.buf[:chunk], off+w); err != nil {
			return fmt.Errorf("write %s: %w", fb.f.Name(), err)
		}
		w += chunk
	}
	if err := fb.f.Truncate(off + n); err != nil {
		return fmt.Errorf("grow %s: %w", fb.f.Name(), err)
	}
	// Written-back pages are clean, so reclaim can drop them without I/O:
	// the point of this mode is cache the kernel may take back.
	if err := unix.Fdatasync(int(fb.f.Fd())); err != nil {
		return fmt.Errorf("fdatasync %s: %w", fb.f.Name(), err)
	}
	fb.size = off + n
	return nil
}

func (fb *fileBackend) close() error { return fb.f.Close() }

// SetOOMScoreAdj writes /proc/self/oom_score_adj (−1000…1000). Lowering it
// below its current value needs CAP_SYS_RESOURCE.
func SetOOMScoreAdj(procRoot string, adj int) error {
	if adj < -1000 || adj > 1000 {
		return fmt.Errorf("--oom-score-adj %d is outside -1000…1000", adj)
	}
	if procRoot == "" {
		procRoot = "/proc"
	}
	path := procRoot + "/self/oom_score_adj"
	if err := os.WriteFile(path, []byte(strconv.Itoa(adj)), 0); err != nil {
		return fmt.Errorf("write %s: %w (lowering oom_score_adj needs root or CAP_SYS_RESOURCE)", path, err)
	}
	return nil
}

// StartFDEnv names the environment variable through which a parent (the
// lab) hands alloc a pipe: alloc reads one byte from that descriptor before
// its first block, so the parent can move it into a memory cgroup first.
const StartFDEnv = "OOMKIT_ALLOC_START_FD"

// WaitForStart blocks until the parent releases this process, when
// StartFDEnv is set; it returns an error if the parent closed the pipe
// without releasing it (it gave up: do not allocate).
func WaitForStart() error {
	v := os.Getenv(StartFDEnv)
	if v == "" {
		return nil
	}
	_ = os.Unsetenv(StartFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("%s=%q: want a file descriptor number ≥ 3", StartFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), "start-pipe")
	defer f.Close()
	var b [1]byte
	if n, err := f.Read(b[:]); n != 1 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("the parent closed the start pipe without releasing this process: %w", err)
	}
	return nil
}
