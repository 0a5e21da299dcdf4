package proc

import (
	"fmt"
	"runtime"
	"sync"
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
}

// TaskOptions chooses the optional files ReadTasks reads per process.
type TaskOptions struct {
	// Memcg reads /proc/PID/cgroup; MemcgV1 picks the v1 "memory" line
	// instead of the v2 "0::" line.
	Memcg, MemcgV1 bool
	// StartTime reads /proc/PID/stat for the creation order.
	StartTime bool
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
func (f FS) ReadTask(pid int, o TaskOptions) (Task, error) {
	t := Task{PID: pid}
	var err error
	if t.Status, err = f.Status(pid); err != nil {
		return Task{}, err
	}
	if t.OOMScoreAdj, err = f.OOMScoreAdj(pid); err != nil {
		return Task{}, err
	}
	if t.OOMScore, err = f.OOMScore(pid); err != nil {
		return Task{}, err
	}
	if o.Memcg {
		if t.Memcg, err = f.MemoryCgroup(pid, o.MemcgV1); err != nil {
			return Task{}, err
		}
	}
	if o.StartTime {
		st, err := f.Stat(pid)
		if err != nil {
			return Task{}, err
		}
		t.StartTime = st.StartTime
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
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= len(pids) {
					return
				}
				for i := lo; i < min(lo+chunk, len(pids)); i++ {
					t, err := f.ReadTask(pids[i], o)
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
