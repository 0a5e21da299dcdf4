package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/kfile"
)

// Task is one process as the OOM killer sees it: the badness inputs from
// status, the kernel's own oom_score and the oom_score_adj.
type Task struct {
	PID         int
	Status      Status
	OOMScore    int64
	OOMScoreAdj int64
	// Memcg is the memory cgroup path from /proc/PID/cgroup ("" when not
	// asked for or not found).
	Memcg string
	// StartTime is from /proc/PID/stat when asked for, else 0.
	StartTime uint64
	// CommitBytes is the commit charge from /proc/PID/smaps (Commit.Bytes)
	// when asked for, else nil.
	CommitBytes *int64
}

// TaskOptions chooses the optional files ReadTasks reads per process.
type TaskOptions struct {
	// Memcg reads /proc/PID/cgroup; MemcgV1 picks the v1 "memory" line
	// instead of the v2 "0::" line.
	Memcg, MemcgV1 bool
	// StartTime reads /proc/PID/stat for the creation order.
	StartTime bool
	// Commit reads /proc/PID/smaps for the commit charge: a page-table
	// walk, about a millisecond of CPU per process (BENCHMARKS.md).
	Commit bool
}

// TaskScan is the result of reading many processes.
type TaskScan struct {
	// Tasks are in the order of the pids asked for, without the skipped ones.
	Tasks []Task
	// Gone counts processes that exited while they were read.
	Gone int
	// Notes say what else could not be read (one per process), e.g.
	// permission errors on a hardened /proc (hidepid).
	Notes []string
}

// ReadTask reads one process. A process that exits meanwhile gives an
// error satisfying IsGone.
//
// The files are opened relative to one descriptor of /proc/PID, so the
// process directory is looked up once, and a PID reused by a new process
// between two reads cannot mix two processes' files.
func (f FS) ReadTask(pid int, o TaskOptions) (Task, error) {
	return f.readTask(pid, o, make([]byte, 4096))
}

// readTask is ReadTask with a caller's scratch buffer (one per worker).
func (f FS) readTask(pid int, o TaskOptions, buf []byte) (Task, error) {
	t := Task{PID: pid}
	dir := f.pidPath(pid, "")
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Task{}, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	read := func(name string) ([]byte, error) {
		b, err := readAt(dfd, name, buf)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				pe.Path = filepath.Join(dir, name)
			}
		}
		return b, err
	}
	b, err := read("status")
	if err != nil {
		return Task{}, err
	}
	if t.Status, err = parseStatus(b); err != nil {
		return Task{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, "status"), err)
	}
	if !t.Status.HasMM && !t.Status.Kthread {
		f.threadMM(dir, &t.Status, buf)
	}
	readInt := func(name string) (int64, error) {
		b, err := read(name)
		if err != nil {
			return 0, err
		}
		n, err := parseInt(b)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
		}
		return n, nil
	}
	if t.OOMScoreAdj, err = readInt("oom_score_adj"); err != nil {
		return Task{}, err
	}
	if t.OOMScore, err = readInt("oom_score"); err != nil {
		return Task{}, err
	}
	if o.Memcg {
		b, err := read("cgroup")
		if err != nil {
			return Task{}, err
		}
		t.Memcg = ParseMemoryCgroup(b, o.MemcgV1)
	}
	if o.StartTime {
		b, err := read("stat")
		if err != nil {
			return Task{}, err
		}
		st, err := parseStat(b)
		if err != nil {
			return Task{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, "stat"), err)
		}
		t.StartTime = st.StartTime
	}
	if o.Commit {
		b, err := kfile.ReadAt(dfd, "smaps", buf[:cap(buf)], kfile.Large)
		if err != nil {
			return Task{}, err
		}
		c, err := parseSmapsCommit(b)
		if err != nil {
			return Task{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, "smaps"), err)
		}
		t.CommitBytes = &c.Bytes
	}
	return t, nil
}

// ReadTasks reads pids concurrently (proc reads are syscalls; a few
// workers per CPU keep them busy). Processes that exit meanwhile are
// skipped and counted in Gone; other failures become a note and the
// process is skipped.
func (f FS) ReadTasks(pids []int, o TaskOptions) TaskScan {
	type result struct {
		t   Task
		err error
	}
	res := make([]result, len(pids))
	workers := min(2*runtime.GOMAXPROCS(0), len(pids))
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	const chunk = 64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= len(pids) {
					return
				}
				for i := lo; i < min(lo+chunk, len(pids)); i++ {
					t, err := f.readTask(pids[i], o, buf)
					res[i] = result{t, err}
				}
			}
		}()
	}
	wg.Wait()
	s := TaskScan{Tasks: make([]Task, 0, len(pids))}
	for i, r := range res {
		switch {
		case r.err == nil:
			s.Tasks = append(s.Tasks, r.t)
		case IsGone(r.err):
			s.Gone++
		default:
			s.Notes = append(s.Notes, fmt.Sprintf("pid %d skipped: %v", pids[i], r.err))
		}
	}
	return s
}

// threadMM handles a thread-group leader that has exited while other
// threads run on (a zombie leader): its status has no memory lines, but
// oom_badness() scores the process through find_lock_task_mm(), which
// takes any thread that still has the mm. The memory lines of the first
// such thread are copied into st (the counters are per mm, the same for
// every thread).
func (f FS) threadMM(dir string, st *Status, buf []byte) {
	ents, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil || len(ents) < 2 {
		return
	}
	for _, e := range ents {
		b, err := readAt(unix.AT_FDCWD, filepath.Join(dir, "task", e.Name(), "status"), buf)
		if err != nil {
			continue
		}
		ts, err := parseStatus(b)
		if err != nil || !ts.HasMM {
			continue
		}
		name, kthread, uid := st.Name, st.Kthread, st.UID
		*st = ts
		st.Name, st.Kthread, st.UID = name, kthread, uid
		return
	}
}
