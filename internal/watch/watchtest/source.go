// Package watchtest is a watch.Source for tests: records, malformed records
// and overruns in the order a test adds them, and a wait that a test can
// see and cancel.
package watchtest

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/oomkit/oomkit/internal/kmsg"
)

// Source hands out what a test added, in order. When it runs dry it ends
// with io.EOF, or, when following, blocks until more is added or its
// context ends, sending on Waiting first. It is safe for one reader and any
// number of writers.
type Source struct {
	mu       sync.Mutex
	queue    []entry
	follow   bool
	overruns int
	more     chan struct{}
	waiting  chan struct{}
	onWait   func()
}

type entry struct {
	rec     kmsg.Record
	err     error
	overrun bool
}

// New returns an empty Source; follow makes it wait at the end instead of
// returning io.EOF.
func New(follow bool) *Source {
	return &Source{follow: follow, more: make(chan struct{}, 1), waiting: make(chan struct{}, 1)}
}

// Add appends records.
func (s *Source) Add(recs ...kmsg.Record) {
	s.mu.Lock()
	for _, r := range recs {
		s.queue = append(s.queue, entry{rec: r})
	}
	s.mu.Unlock()
	s.poke()
}

// AddError appends an error Next returns in turn (e.g. one wrapping
// kmsg.ErrMalformed).
func (s *Source) AddError(err error) {
	s.mu.Lock()
	s.queue = append(s.queue, entry{err: err})
	s.mu.Unlock()
	s.poke()
}

// Overrun makes the next record come after an overrun, as when read(2) of
// /dev/kmsg fails with EPIPE: Overruns counts one more once it is read. To
// lose records as the kernel does, also skip sequence numbers.
func (s *Source) Overrun() {
	s.mu.Lock()
	s.queue = append(s.queue, entry{overrun: true})
	s.mu.Unlock()
}

func (s *Source) poke() {
	select {
	case s.more <- struct{}{}:
	default:
	}
}

// Waiting receives a value each time Next has nothing to hand out and is
// about to block (following only).
func (s *Source) Waiting() <-chan struct{} { return s.waiting }

// OnWait sets f to be called each time Next has nothing to hand out and
// is about to block (following only), as kmsg.Reader.OnWait.
func (s *Source) OnWait(f func()) { s.onWait = f }

// Next implements watch.Source.
func (s *Source) Next(ctx context.Context) (kmsg.Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return kmsg.Record{}, err
		}
		s.mu.Lock()
		for len(s.queue) > 0 && s.queue[0].overrun {
			s.overruns++
			s.queue = s.queue[1:]
		}
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return e.rec, e.err
		}
		s.mu.Unlock()
		if !s.follow {
			return kmsg.Record{}, io.EOF
		}
		if s.onWait != nil {
			s.onWait()
		}
		select {
		case s.waiting <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return kmsg.Record{}, ctx.Err()
		case <-s.more:
		}
	}
}

// Overruns implements watch.Source.
func (s *Source) Overruns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overruns
}

// Records turns lines of log text into records with consecutive sequence
// numbers from firstSeq, one microsecond apart from usec; blank lines are
// skipped.
func Records(firstSeq, usec uint64, text string) []kmsg.Record {
	var out []kmsg.Record
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		out = append(out, kmsg.Record{Priority: 4, Seq: firstSeq, Usec: usec, Flags: "-", Text: l})
		firstSeq++
		usec++
	}
	return out
}
