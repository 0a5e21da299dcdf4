package agent

import (
	"context"
	"errors"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// watcher wakes the agent when a v2 memory.events.local file changes: the
// kernel notifies on every change of it (cgroup_file_notify() in
// memcg_memory_event(), at most once per 10 ms per file), so a kill is
// read from the counters at once instead of at the next sample. Events of
// other kinds (max, high) wake it too; the counter read that follows is a
// few system calls.
type watcher struct {
	fd     int
	notify chan<- struct{}
	mu     sync.Mutex
	wds    map[string]int
}

func newWatcher(notify chan<- struct{}) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &watcher{fd: fd, notify: notify, wds: map[string]int{}}, nil
}

// add watches file; errors (the cgroup just vanished) are ignored: the
// counters are also read on every kill line and /proc/vmstat change.
func (w *watcher) add(file string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.wds[file]; ok {
		return
	}
	wd, err := unix.InotifyAddWatch(w.fd, file, unix.IN_MODIFY)
	if err == nil {
		w.wds[file] = wd
	}
}

// keep drops the watches of files not in live (the kernel drops a
// removed file's watch by itself; this forgets its name).
func (w *watcher) keep(live map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for f, wd := range w.wds {
		if !live[f] {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.wds, f)
		}
	}
}

func (w *watcher) run(ctx context.Context) {
	buf := make([]byte, 4096)
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		n, err := unix.Poll(fds, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n <= 0 {
			continue
		}
		for {
			if _, err := unix.Read(w.fd, buf); err != nil {
				break
			}
		}
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}

func (w *watcher) close() { unix.Close(w.fd) }

// watchAll watches every memcg's counter file.
func (m *memcgs) watchAll() {
	if m.watch == nil {
		return
	}
	m.mu.RLock()
	live := make(map[string]bool, len(m.byPath))
	for _, c := range m.byPath {
		f := filepath.Join(c.dir, m.files.counter)
		live[f] = true
		m.watch.add(f)
	}
	m.mu.RUnlock()
	m.watch.keep(live)
}
