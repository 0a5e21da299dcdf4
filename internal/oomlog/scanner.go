package oomlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Scanner reads kernel OOM reports from a log stream: dmesg output, syslog
// or journal files, saved /dev/kmsg records, in any mix of prefixes. It
// holds at most the report being read (and a few finished ones waiting for
// their oom_reaper lines), never the whole input.
//
//	s := oomlog.NewScanner(r, oomlog.Options{})
//	for s.Scan() {
//		rep := s.Report()
//		…
//	}
//	if err := s.Err(); err != nil { … }
type Scanner struct {
	br    *bufio.Reader
	asm   *Assembler
	max   int
	queue []*Report
	cur   *Report
	long  []byte
	err   error
	eof   bool
	line  int
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader, opts Options) *Scanner {
	opts = opts.withDefaults()
	size := 64 << 10
	if opts.MaxLineBytes > size {
		size = opts.MaxLineBytes
	}
	return &Scanner{br: bufio.NewReaderSize(r, size), asm: NewAssembler(opts), max: opts.MaxLineBytes}
}

// Scan advances to the next report. It returns false at the end of the
// input or on a read error (see Err).
func (s *Scanner) Scan() bool {
	for len(s.queue) == 0 {
		if s.eof {
			s.cur = nil
			return false
		}
		s.readLine()
	}
	s.cur = s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	return true
}

// Report returns the report found by the last call to Scan.
func (s *Scanner) Report() *Report { return s.cur }

// Err returns the first read error other than io.EOF.
func (s *Scanner) Err() error { return s.err }

// Stats returns what the scanner has read so far.
func (s *Scanner) Stats() Stats { return s.asm.Stats() }

// readLine reads and feeds one line, or finishes the input.
func (s *Scanner) readLine() {
	b, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A line longer than the buffer: keep the first max bytes, drop
		// the rest up to the newline.
		s.long = append(s.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = s.br.ReadSlice('\n')
			if room := s.max - len(s.long); room > 0 {
				s.long = append(s.long, b[:min(room, len(b))]...)
			}
		}
		s.asm.stats.LinesTooLong++
		b = s.long
		if len(b) > s.max {
			b = b[:s.max]
		}
		s.line++
		s.feed(b, true)
	} else if len(b) > 0 {
		if len(b) > s.max {
			s.asm.stats.LinesTooLong++
			b = b[:s.max]
		}
		s.line++
		s.feed(b, false)
	}
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		if err != io.EOF {
			s.err = err
		}
		s.eof = true
		s.queue = append(s.queue, s.asm.Flush()...)
	}
}

func (s *Scanner) feed(b []byte, cut bool) {
	a := s.asm
	if !a.busy() && !mayStart(b) {
		a.skip(s.line)
		return
	}
	if cut && len(a.open) > 0 && a.open[len(a.open)-1].stage != stKilled {
		a.open[len(a.open)-1].warn(fmt.Sprintf("line %d: longer than %d bytes, cut short", s.line, s.max))
	}
	s.queue = append(s.queue, a.Feed(Record{Text: string(b), Line: s.line})...)
}

// mayStart is the cheap test every line passes through when no report is
// open: can this line begin a report, attach to one, or name the kernel?
// Every word that classify() needs for such a line contains one of these.
func mayStart(b []byte) bool {
	return bytes.Contains(b, []byte("oom")) || // invoked oom-killer, oom-kill:, oom_reaper, memory.oom.group
		bytes.Contains(b, []byte("Kill")) || // Kill process, Killed process
		bytes.Contains(b, []byte("emory")) || // Out of memory, Memory cgroup, memory: usage, Memory limit
		bytes.Contains(b, []byte("Task")) || // Task in, Tasks state, Tasks in
		bytes.Contains(b, []byte("pid ]")) || // table header
		bytes.Contains(b, []byte("OOM victim")) ||
		bytes.Contains(b, []byte("PID: ")) || bytes.Contains(b, []byte("Pid: ")) || // kernel release
		bytes.Contains(b, []byte("Linux version")) ||
		bytes.Contains(b, []byte("panic"))
}
