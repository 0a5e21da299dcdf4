package proc

import (
	"fmt"
	"runtime"
	"sync"
)

// CommitCensus is every process's commit charge, read in one pass, with
// what is charged outside processes: the inputs of mm.CommitGap, which
// puts them next to Committed_AS.
type CommitCensus struct {
	// ByPID is each readable process's Commit.
	ByPID map[int]Commit
	// Unreadable counts processes whose smaps could not be read (a
	// sandboxed or hidepid /proc); Gone those that exited meanwhile.
	Unreadable, Gone int
	// SharedAnonBytes is the shared anonymous memory mapped by the
	// processes, each object once (by inode), at its largest mapping.
	SharedAnonBytes int64
	// Shared is SysV shared memory and tmpfs.
	Shared SharedMemory
	// CommittedASKB is /proc/meminfo's Committed_AS read after the walk
	// (nil when missing).
	CommittedASKB *int64
	// Notes say what could not be read.
	Notes []string
}

// ProcessBytes is the sum of the readable processes' charges.
func (c CommitCensus) ProcessBytes() int64 {
	var n int64
	for _, x := range c.ByPID {
		n += x.Bytes
	}
	return n
}

// CommitCensus reads /proc/PID/smaps of pids (every process when nil),
// a few at a time per CPU, then the shared memory and Committed_AS.
// Reading smaps walks each process's page tables: about a millisecond of
// CPU per process (BENCHMARKS.md), so this is inspect's job, not top's
// refresh loop's.
func (f FS) CommitCensus(pids []int) CommitCensus {
	c := CommitCensus{ByPID: map[int]Commit{}}
	if pids == nil {
		var err error
		if pids, err = f.PIDs(); err != nil {
			c.Notes = append(c.Notes, err.Error())
			return c
		}
	}
	type result struct {
		pid int
		c   Commit
		err error
	}
	res := make([]result, len(pids))
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < min(2*runtime.GOMAXPROCS(0), len(pids)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, smapsBufSize)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(pids) {
					return
				}
				cm, err := f.readCommit(pids[i], buf)
				res[i] = result{pids[i], cm, err}
			}
		}()
	}
	wg.Wait()
	shared := map[uint64]int64{}
	var firstErr error
	for _, r := range res {
		switch {
		case r.err == nil:
			c.ByPID[r.pid] = r.c
			for ino, n := range r.c.SharedAnon {
				shared[ino] = max(shared[ino], n)
			}
		case IsGone(r.err):
			c.Gone++
		default:
			c.Unreadable++
			if firstErr == nil {
				firstErr = r.err
			}
		}
	}
	for _, n := range shared {
		c.SharedAnonBytes += n
	}
	if c.Unreadable > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d process(es) whose smaps could not be read (first: %v): their commit charge is in Committed_AS's unattributed part", c.Unreadable, firstErr))
	}
	c.Shared = f.SharedMemory()
	c.Notes = append(c.Notes, c.Shared.Notes...)
	if m, err := f.Meminfo(); err != nil {
		c.Notes = append(c.Notes, err.Error())
	} else {
		c.CommittedASKB = m.CommittedASKB
	}
	return c
}
