package agent

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/cgroup"
)

// watcher wakes the agent when the cgroup tree changes or a v2
// memory.events.local file does.
//
// Directories: mkdir and rmdir in cgroupfs go through the VFS, which
// reports them to inotify, so a new memory cgroup is sampled from its
// first second, not from the next walk.
//
// Counters (v2 only): the kernel notifies on every change of
// memory.events.local (cgroup_file_notify() in memcg_memory_event(), at
// most once per 10 ms per file), so a kill is read from the counters at
// once instead of at the next sample. Events of other kinds (max, high)
// wake it too; the counter read that follows is a few system calls. v1's
// memory.oom_control has no such notification (its eventfd fires when the
// OOM starts, before the kill is counted, and is deprecated in 6.x).
type watcher struct {
	fd       int
	f        *os.File // fd in Go's poller
	counters chan<- struct{}
	tree     chan<- struct{}
	mu       sync.Mutex
	wds      map[string]int
	dirs     map[int32]bool // watch descriptors of directories
}

func newWatcher(counters, tree chan<- struct{}) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &watcher{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), counters: counters, tree: tree, wds: map[string]int{}, dirs: map[int32]bool{}}, nil
}

// add watches a counter file (dir false) or a cgroup directory; errors
// (the cgroup just vanished) are ignored: the counters are also read on
// every kill line and /proc/vmstat change, and the tree walked every few
// samples.
func (w *watcher) add(name string, dir bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.wds[name]; ok {
		return
	}
	mask := uint32(unix.IN_MODIFY)
	if dir {
		mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_ONLYDIR
	}
	wd, err := unix.InotifyAddWatch(w.fd, name, mask)
	if err == nil {
		w.wds[name] = wd
		if dir {
			w.dirs[int32(wd)] = true
		}
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
			delete(w.dirs, int32(wd))
		}
	}
}

// run reads events until ctx ends; the descriptor sits in Go's poller, so
// waiting costs nothing.
func (w *watcher) run(ctx context.Context) {
	f := w.f
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		n, err := f.Read(buf)
		if err != nil {
			return // ctx ended, or the descriptor was closed
		}
		counters, tree := false, false
		{
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				w.mu.Lock()
				isDir := w.dirs[ev.Wd]
				w.mu.Unlock()
				if isDir {
					tree = true
				} else {
					counters = true
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
		if counters {
			poke(w.counters)
		}
		if tree {
			poke(w.tree)
		}
	}
}

func poke(c chan<- struct{}) {
	if c == nil {
		return
	}
	select {
	case c <- struct{}{}:
	default:
	}
}

func (w *watcher) close() { w.f.Close() }

// watchAll watches every memcg's counter file.
func (m *memcgs) watchAll() {
	if m.watch == nil {
		return
	}
	m.mu.RLock()
	live := make(map[string]bool, len(m.byPath))
	for _, c := range m.byPath {
		live[c.dir] = true
		m.watch.add(c.dir, true)
		if m.version == cgroup.V2 {
			f := filepath.Join(c.dir, m.files.counter)
			live[f] = true
			m.watch.add(f, false)
		}
	}
	m.mu.RUnlock()
	m.watch.keep(live)
}
