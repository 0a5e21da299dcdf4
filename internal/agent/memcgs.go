package agent

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/cgroup"
)

// memcg is one memory cgroup the agent samples and whose oom_kill counter
// it reads.
type memcg struct {
	path   string // as the kernel prints it: "/kubepods/pod…"
	dir    string
	ino    uint64 // kernfs id: never reused within a boot, so a cgroup removed and made again under the same path is a new memcg
	born   time.Time
	parent *memcg

	usage, stat, limit, counter *pollFile

	ring ring
	// limitBytes is the cgroup's own limit, 0 with hasLimit false when none.
	limitBytes int64
	hasLimit   bool

	// lastUsage and inactive are the last usage and inactive file read;
	// reads counts samples.
	lastUsage, inactive int64
	reads               int

	// kills is the last oom_kill value read; known is false until the
	// first read.
	kills, groupKills int64
	known             bool
	walkGen           uint64
}

// files of the memory controller, by version: usage, stat, limit, kill
// counter, and the memory.stat key of the inactive page cache (v1's
// total_ variant counts the subtree, as v2's does).
type controllerFiles struct {
	usage, stat, limit, counter, inactiveKey string
}

var (
	filesV1 = controllerFiles{"memory.usage_in_bytes", "memory.stat", "memory.limit_in_bytes", "memory.oom_control", "total_inactive_file"}
	// memory.events.local (5.2+) counts only this cgroup's kills;
	// memory.events counts the subtree (memcg_memory_event(),
	// include/linux/memcontrol.h), so it would count one kill in every
	// ancestor. Before 5.2 memory.events was local and .local absent.
	filesV2 = controllerFiles{"memory.current", "memory.stat", "memory.max", "memory.events.local", "inactive_file"}
)

// memcgs is the table of memory cgroups, walked every few samples.
type memcgs struct {
	mu      sync.RWMutex
	version cgroup.Version
	root    string // directory of the hierarchy's root
	files   controllerFiles
	byPath  map[string]*memcg
	gen     uint64
	ringCap int
	// onError is told about a file that could not be read or parsed.
	onError func(source, path string, err error)
	// watch, when set, is told about every counter file (v2 inotify).
	watch *watcher
}

func newMemcgs(l cgroup.Layout, ringCap int, onError func(source, path string, err error)) *memcgs {
	m := &memcgs{version: l.Memory, root: l.Dir("/"), byPath: map[string]*memcg{}, ringCap: ringCap, onError: onError}
	m.files = filesV1
	if l.Memory == cgroup.V2 {
		m.files = filesV2
	}
	return m
}

// walk finds the memory cgroups that exist now: new ones are opened, gone
// ones closed. It returns the new ones.
func (m *memcgs) walk() []*memcg {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	var added []*memcg
	var visit func(p, dir string, parent *memcg)
	visit = func(p, dir string, parent *memcg) {
		c := m.byPath[p]
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return
		}
		if c != nil && c.ino != st.Ino {
			// Removed and made again between two walks: a new cgroup.
			c.closeFiles()
			delete(m.byPath, p)
			c = nil
		}
		if c == nil {
			c = m.open(p, dir, st)
			if c != nil {
				m.byPath[p] = c
				added = append(added, c)
			}
		}
		if c != nil {
			c.walkGen, c.parent = m.gen, parent
			parent = c
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.IsDir() {
				visit(path.Join(p, e.Name()), filepath.Join(dir, e.Name()), parent)
			}
		}
	}
	visit("/", m.root, nil)
	for p, c := range m.byPath {
		if c.walkGen != m.gen {
			c.closeFiles()
			delete(m.byPath, p)
		}
	}
	return added
}

// open opens a cgroup's files; nil when it is not a memory cgroup (the v2
// root, which has no memory.current) or vanished meanwhile.
func (m *memcgs) open(p, dir string, st unix.Stat_t) *memcg {
	usage, err := openPoll(filepath.Join(dir, m.files.usage), 64)
	if err != nil {
		return nil
	}
	c := &memcg{path: p, dir: dir, ino: st.Ino, usage: usage, born: time.Unix(st.Ctim.Sec, st.Ctim.Nsec)}
	c.ring.init(m.ringCap)
	var errs []error
	if c.stat, err = openPoll(filepath.Join(dir, m.files.stat), 8192); err != nil {
		errs = append(errs, err)
	}
	if c.limit, err = openPoll(filepath.Join(dir, m.files.limit), 64); err != nil && p != "/" {
		errs = append(errs, err)
	}
	c.counter, err = openPoll(filepath.Join(dir, m.files.counter), 256)
	if err != nil && m.version == cgroup.V2 {
		// Before 5.2 memory.events was local and .local did not exist.
		c.counter, err = openPoll(filepath.Join(dir, "memory.events"), 256)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if e := errors.Join(errs...); e != nil && !gone(e) {
		m.onError("cgroup", p, e)
	}
	return c
}

func (c *memcg) closeFiles() {
	c.usage.close()
	c.stat.close()
	c.limit.close()
	c.counter.close()
}

// gone reports whether err says the cgroup was removed: its files then
// read as ENODEV (kernfs node deactivated) or are missing.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}

// sample reads every cgroup's usage, working set and limit at now.
func (m *memcgs) sample(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := now.UnixMilli()
	for p, c := range m.byPath {
		b, err := c.usage.read()
		if err != nil {
			if gone(err) {
				c.closeFiles()
				delete(m.byPath, p)
				continue
			}
			m.onError("cgroup", p, err)
			continue
		}
		usage, err := parseInt(b)
		if err != nil {
			m.onError("cgroup", p, err)
			continue
		}
		// memory.stat costs ~9 µs to generate (usage ~1 µs): read it only
		// when usage moved, and every staleEvery samples regardless; the
		// limit likewise every staleEvery samples.
		fresh := c.reads%staleEvery == 0
		c.reads++
		if c.stat != nil && (fresh || usage != c.lastUsage) {
			if b, err := c.stat.read(); err == nil {
				if inactive, found, err := keyValue(b, m.files.inactiveKey); err == nil && found {
					c.inactive = inactive
				} else if err != nil {
					m.onError("cgroup", p, err)
				}
			}
		}
		c.lastUsage = usage
		ws := max(usage-c.inactive, 0)
		if c.limit != nil && fresh {
			if b, err := c.limit.read(); err == nil {
				if n, ok, err := parseLimit(b); err == nil {
					c.limitBytes, c.hasLimit = n, ok
				} else {
					m.onError("cgroup", p, err)
				}
			}
		}
		lim := int64(-1)
		if c.hasLimit {
			lim = c.limitBytes
		}
		c.ring.add(sample{ms, usage, ws, lim})
	}
}

// staleEvery is how many samples may reuse a memcg's last memory.stat and
// limit when its usage did not change.
const staleEvery = 10

// counterChange is one memcg whose oom_kill counter went up.
type counterChange struct {
	path       string
	ino        uint64
	from, to   int64 // kills from+1 … to are new
	groupKills int64 // oom_group_kill increments (v2)
}

// scanCounters reads every oom_kill counter and returns the increases
// since the last read. A memcg read for the first time counts from 0 when
// fromZero says it was born after the agent's baseline (its kills are
// new), else from its current value.
func (m *memcgs) scanCounters(fromZero func(c *memcg) bool) []counterChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []counterChange
	for p, c := range m.byPath {
		if c.counter == nil {
			continue
		}
		b, err := c.counter.read()
		if err != nil {
			if !gone(err) {
				m.onError("cgroup_counters", p, err)
			}
			continue
		}
		n, found, err := keyValue(b, "oom_kill")
		if err != nil || !found {
			if err == nil {
				err = errNoOOMKill
			}
			m.onError("cgroup_counters", p, err)
			continue
		}
		g, _, _ := keyValue(b, "oom_group_kill")
		if !c.known {
			c.known = true
			if !fromZero(c) {
				c.kills, c.groupKills = n, g
				continue
			}
		}
		if n < c.kills {
			// Cannot happen to a kernel counter of the same cgroup; do not
			// invent kills from it.
			m.onError("cgroup_counters", p, errCounterBack)
			c.kills = n
			continue
		}
		if n > c.kills {
			out = append(out, counterChange{path: p, ino: c.ino, from: c.kills, to: n, groupKills: max(g-c.groupKills, 0)})
			c.kills, c.groupKills = n, g
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

var (
	errNoOOMKill   = errors.New("no oom_kill counter (kernels before 4.13 do not count kills per cgroup)")
	errCounterBack = errors.New("oom_kill counter went backwards; ignoring the drop")
)

// counters returns the last read value of every counter, for the state
// that survives restarts.
func (m *memcgs) counters() map[string]savedCounter {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]savedCounter, len(m.byPath))
	for p, c := range m.byPath {
		if c.known {
			out[p] = savedCounter{Ino: c.ino, Kills: c.kills, GroupKills: c.groupKills}
		}
	}
	return out
}

// restore sets the counters read before a restart, for memcgs that are
// still the same cgroup (same inode).
func (m *memcgs) restore(saved map[string]savedCounter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, s := range saved {
		if c := m.byPath[p]; c != nil && c.ino == s.Ino {
			c.kills, c.groupKills, c.known = s.Kills, s.GroupKills, true
		}
	}
}

// savedCounter is a counter value kept across restarts.
type savedCounter struct {
	Ino        uint64 `json:"ino"`
	Kills      int64  `json:"kills"`
	GroupKills int64  `json:"group_kills"`
}

func (m *memcgs) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byPath)
}

func (m *memcgs) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.byPath {
		c.closeFiles()
	}
	m.byPath = map[string]*memcg{}
}
