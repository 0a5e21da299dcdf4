package alloc

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/proc"

	"github.com/oomkit/oomkit/internal/kfile"
)

// unlimitedBytes is the smallest value treated as "no limit": cgroup v1
// prints PAGE_COUNTER_MAX pages in bytes (9223372036854771712 on x86-64),
// and nothing real comes close to 2^62.
const unlimitedBytes = int64(1) << 62

// Stats is what the kernel says about this process and its memory cgroup
// at one moment. A nil field was not readable.
type Stats struct {
	// RSSBytes is the resident set (/proc/self/statm "resident" × page
	// size): anon + file + shmem pages mapped by this process.
	RSSBytes *int64
	// CommitBytes is this process's own commit charge as the kernel counts
	// it: its VM_ACCOUNT mappings in /proc/self/smaps (proc.ReadCommit).
	CommitBytes *int64
	// CommittedASBytes and CommitLimitBytes are /proc/meminfo's
	// Committed_AS and CommitLimit (system-wide).
	CommittedASBytes *int64
	CommitLimitBytes *int64
	// OvercommitMode is vm.overcommit_memory (0 guess, 1 always, 2 never).
	OvercommitMode *int
	// Cgroup is the memory cgroup path of this process; CgroupUsageBytes
	// its usage (v1 memory.usage_in_bytes, v2 memory.current) and
	// CgroupLimitBytes the smallest hard limit on it and its ancestors
	// (nil when none is set).
	Cgroup           *string
	CgroupUsageBytes *int64
	CgroupLimitBytes *int64
}

// statsReader reads Stats from procRoot and the process's memory cgroup,
// resolved once when it is made.
type statsReader struct {
	procRoot string
	layout   cgroup.Layout
	memcg    string // "" when unknown
	// proc reads the commit charge (nil when the proc root is unusable);
	// smaps is its reused read buffer, so a record adds no garbage that
	// would show in the RSS the allocator reports.
	proc  *proc.FS
	smaps []byte
}

func newStatsReader(procRoot string) *statsReader {
	r := &statsReader{procRoot: procRoot, smaps: make([]byte, 64<<10)}
	if f, err := proc.NewFS(procRoot); err == nil {
		r.proc = &f
	}
	if l, err := cgroup.Detect(cgroup.Roots{Proc: procRoot}); err == nil && l.Memory != "" {
		if p, err := cgroup.ProcessMemcg(cgroup.Roots{Proc: procRoot}, l, 0); err == nil {
			r.layout, r.memcg = l, p
		}
	}
	return r
}

func (r *statsReader) read() Stats {
	var s Stats
	if b, err := kfile.Read(filepath.Join(r.procRoot, "self", "statm"), kfile.Small); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				s.RSSBytes = ptr(n * int64(os.Getpagesize()))
			}
		}
	}
	if r.proc != nil {
		var c proc.Commit
		var err error
		if c, r.smaps, err = r.proc.ReadCommitBuf(os.Getpid(), r.smaps); err == nil {
			s.CommitBytes = ptr(c.Bytes)
		}
	}
	if b, err := kfile.Read(filepath.Join(r.procRoot, "meminfo"), kfile.Small); err == nil {
		m := parseMeminfo(b)
		if v, ok := m["Committed_AS"]; ok {
			s.CommittedASBytes = ptr(v)
		}
		if v, ok := m["CommitLimit"]; ok {
			s.CommitLimitBytes = ptr(v)
		}
	}
	if b, err := kfile.Read(filepath.Join(r.procRoot, "sys", "vm", "overcommit_memory"), kfile.Small); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			s.OvercommitMode = &n
		}
	}
	if r.memcg != "" {
		s.Cgroup = ptr(r.memcg)
		usage := "memory.usage_in_bytes"
		if r.layout.Memory == cgroup.V2 {
			usage = "memory.current"
		}
		s.CgroupUsageBytes = readBytesFile(filepath.Join(r.layout.Dir(r.memcg), usage))
		s.CgroupLimitBytes = effectiveLimit(r.layout, r.memcg)
	}
	return s
}

// effectiveLimit is the smallest hard limit on path and its ancestors: the
// one the kernel enforces first (charges go leaf to root).
func effectiveLimit(l cgroup.Layout, path string) *int64 {
	file := "memory.limit_in_bytes"
	if l.Memory == cgroup.V2 {
		file = "memory.max"
	}
	var limit *int64
	for p := path; ; p = filepath.Dir(p) {
		if v := readBytesFile(filepath.Join(l.Dir(p), file)); v != nil && *v < unlimitedBytes {
			if limit == nil || *v < *limit {
				limit = v
			}
		}
		if p == "/" || p == "." || p == "" {
			break
		}
	}
	return limit
}

// readBytesFile reads a cgroup file holding one number or "max" (returned
// as unlimitedBytes); nil when unreadable.
func readBytesFile(path string) *int64 {
	b, err := kfile.Read(path, kfile.Small)
	if err != nil {
		return nil
	}
	t := strings.TrimSpace(string(b))
	if t == "max" {
		return ptr(unlimitedBytes)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// parseMeminfo reads /proc/meminfo into bytes by key ("MemAvailable").
func parseMeminfo(b []byte) map[string]int64 {
	m := make(map[string]int64)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m
}

// MemAvailableBytes returns /proc/meminfo's MemAvailable under procRoot.
func MemAvailableBytes(procRoot string) (int64, error) {
	b, err := kfile.Read(filepath.Join(procRoot, "meminfo"), kfile.Small)
	if err != nil {
		return 0, err
	}
	v, ok := parseMeminfo(b)["MemAvailable"]
	if !ok {
		return 0, os.ErrNotExist
	}
	return v, nil
}

// OvercommitModeName names a vm.overcommit_memory value the way
// Documentation/mm/overcommit-accounting.rst does.
func OvercommitModeName(mode int) string {
	switch mode {
	case 0:
		return "heuristic (0: a single request fails only if it exceeds RAM + swap)"
	case 1:
		return "always (1: never refuse)"
	case 2:
		return "never (2: Committed_AS may not exceed CommitLimit)"
	}
	return "unknown"
}

func ptr[T any](v T) *T { return &v }
