// Package store keeps the agent's kills and its reconciliation state in
// one bbolt file in the state directory: kills survive restarts, are
// bounded by count and age, and are written in the same transaction as the
// state that says they were seen, so a crash can neither lose a stored
// kill nor let a restart store it twice.
package store

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// FileName is the store's file in the state directory.
const FileName = "agent.db"

var (
	bucketKills  = []byte("kills")   // id → flate(JSON api.Kill)
	bucketByTime = []byte("by_time") // be64(observed_at ns) + id → nil
	bucketState  = []byte("state")   // name → JSON
	// id → nil: kills not yet written as Kubernetes Events (agents with
	// --node-name), so a restart publishes them and nothing else.
	bucketUnpublished = []byte("unpublished")
)

// ErrLocked means another process holds the store.
var ErrLocked = errors.New("the state directory is in use by another oomkit agent")

// Store is an open store.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens (or creates) the store in dir. A file that is not a valid
// store is moved aside to NAME.corrupt-<unix time> with a warning on log,
// and a fresh store is started: the agent must run, and the old file is
// kept for whoever wants to look at it.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	s, err := open(path)
	if err == nil {
		return s, nil
	}
	if errors.Is(err, ErrLocked) || errors.Is(err, fs.ErrPermission) {
		return nil, err
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("%w; moving it aside failed too: %w", err, rerr)
	}
	log.Warn("the store was unreadable; moved it aside and started a fresh one", "error", err.Error(), "moved_to", aside)
	return open(path)
}

// open opens path and checks every page, turning bbolt's panics on a
// damaged file into errors.
func open(path string) (s *Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open %s: damaged store: %v", path, r)
			s = nil
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w (stop it, or give this one another --state-dir)", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKills, bucketByTime, bucketState, bucketUnpublished} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// Read every error: the checker goroutine must finish before
		// the transaction ends.
		var first error
		for cerr := range tx.Check() {
			if first == nil {
				first = cerr
			}
		}
		return first
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: damaged store: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Batch is one transaction's worth of changes.
type Batch struct {
	// Put stores kills, replacing one with the same ID.
	Put []*api.Kill
	// State maps names to values stored as JSON (nil deletes).
	State map[string]any
	// Unpublished marks kills (by ID) as waiting for their Kubernetes
	// Event; Published clears the mark (applied after Unpublished).
	Unpublished, Published []string
}

// Commit writes b in one transaction: all of it or, on error, none.
func (s *Store) Commit(b Batch) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		kills, byTime := tx.Bucket(bucketKills), tx.Bucket(bucketByTime)
		for _, k := range b.Put {
			val, err := encode(k)
			if err != nil {
				return err
			}
			if old := kills.Get([]byte(k.ID)); old != nil {
				if at, err := observedAt(old); err == nil {
					if err := byTime.Delete(timeKey(at, k.ID)); err != nil {
						return err
					}
				}
			}
			if err := kills.Put([]byte(k.ID), val); err != nil {
				return err
			}
			if err := byTime.Put(timeKey(k.ObservedAt, k.ID), nil); err != nil {
				return err
			}
		}
		unpub := tx.Bucket(bucketUnpublished)
		for _, id := range b.Unpublished {
			if err := unpub.Put([]byte(id), nil); err != nil {
				return err
			}
		}
		for _, id := range b.Published {
			if err := unpub.Delete([]byte(id)); err != nil {
				return err
			}
		}
		st := tx.Bucket(bucketState)
		for name, v := range b.State {
			if v == nil {
				if err := st.Delete([]byte(name)); err != nil {
					return err
				}
				continue
			}
			j, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := st.Put([]byte(name), j); err != nil {
				return err
			}
		}
		return nil
	})
}

// State reads the state value name into v; found is false when absent.
func (s *Store) State(name string, v any) (found bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState).Get([]byte(name))
		if b == nil {
			return nil
		}
		found = true
		return json.Unmarshal(b, v)
	})
	return found, err
}

// Get returns the kill with id, nil if none.
func (s *Store) Get(id string) (*api.Kill, error) {
	var k *api.Kill
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKills).Get([]byte(id))
		if b == nil {
			return nil
		}
		var err error
		k, err = decode(b)
		return err
	})
	return k, err
}

// Unpublished lists the IDs of kills marked as waiting for their
// Kubernetes Event, in ID order.
func (s *Store) Unpublished() ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUnpublished).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// Has reports whether a kill with id is stored.
func (s *Store) Has(id string) bool {
	found := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketKills).Get([]byte(id)) != nil
		return nil
	})
	return found
}

// Filter selects kills for List.
type Filter struct {
	Since     time.Time // observed at or after; zero: all
	Namespace string    // "" : any
	Pod       string
	Limit     int // the newest Limit matches; 0: all
}

// Match reports whether k passes the filter's namespace and pod (the
// kill's Kubernetes attribution).
func (f Filter) Match(k *api.Kill) bool {
	ns, pod, _ := k.Names()
	return (f.Namespace == "" || ns == f.Namespace) && (f.Pod == "" || pod == f.Pod)
}

// List returns the matching kills, oldest first.
func (s *Store) List(f Filter) ([]*api.Kill, error) {
	var out []*api.Kill
	err := s.db.View(func(tx *bolt.Tx) error {
		kills := tx.Bucket(bucketKills)
		c := tx.Bucket(bucketByTime).Cursor()
		floor := timeKey(f.Since, "")
		for k, _ := c.Last(); k != nil && bytes.Compare(k, floor) >= 0; k, _ = c.Prev() {
			v := kills.Get(k[8:])
			if v == nil {
				continue
			}
			kill, err := decode(v)
			if err != nil {
				return fmt.Errorf("kill %s: %w", k[8:], err)
			}
			if !f.Match(kill) {
				continue
			}
			out = append(out, kill)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// Count is the number of stored kills.
func (s *Store) Count() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketKills).Stats().KeyN
		return nil
	})
	return n
}

// Prune deletes the oldest kills beyond maxCount and those observed
// before notBefore, and returns how many it deleted.
func (s *Store) Prune(maxCount int, notBefore time.Time) (int, error) {
	deleted := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		kills, byTime, unpub := tx.Bucket(bucketKills), tx.Bucket(bucketByTime), tx.Bucket(bucketUnpublished)
		n := kills.Stats().KeyN
		c := byTime.Cursor()
		cut := timeKey(notBefore, "")
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if (maxCount <= 0 || n <= maxCount) && (notBefore.IsZero() || bytes.Compare(k, cut) >= 0) {
				break
			}
			if err := kills.Delete(k[8:]); err != nil {
				return err
			}
			if err := unpub.Delete(k[8:]); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n--
			deleted++
		}
		return nil
	})
	return deleted, err
}

func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	binary.BigEndian.PutUint64(k, uint64(ns))
	return append(k, id...)
}

// encode compresses a kill's JSON: its history repeats itself and shrinks
// several times over.
// flaters are compressors to reuse: a new flate.Writer allocates and
// clears about 1 MiB, most of a kill's cost to store (BenchmarkCommit).
var flaters = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed)
	return zw
}}

func encode(k *api.Kill) ([]byte, error) {
	var buf bytes.Buffer
	zw := flaters.Get().(*flate.Writer)
	defer flaters.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(k); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func inflate(b []byte) ([]byte, error) {
	zr := flate.NewReader(bytes.NewReader(b))
	defer zr.Close()
	return io.ReadAll(zr)
}

func decode(b []byte) (*api.Kill, error) {
	j, err := inflate(b)
	if err != nil {
		return nil, err
	}
	var k api.Kill
	if err := json.Unmarshal(j, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// observedAt is a stored kill's observed_at (its by_time key), without
// decoding the rest of it.
func observedAt(b []byte) (time.Time, error) {
	j, err := inflate(b)
	if err != nil {
		return time.Time{}, err
	}
	var k struct {
		ObservedAt time.Time `json:"observed_at"`
	}
	err = json.Unmarshal(j, &k)
	return k.ObservedAt, err
}
