package oomlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unsafe"
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
	arena strings.Builder // see text
	err   error
	eof   bool
	line  int
}

// readBufBytes is the read buffer: 256 KiB reads keep the system calls
// few on a big file (a tenth of the time of a 256 MiB quiet log went to
// 64 KiB reads), and a line up to it is read without a copy.
const readBufBytes = 256 << 10

// readers keeps read buffers between Scanners: a caller that scans many
// small inputs (one report each) does not pay for a fresh 64 KiB buffer
// every time.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufBytes) }}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader, opts Options) *Scanner {
	opts = opts.withDefaults()
	var br *bufio.Reader
	if opts.MaxLineBytes > readBufBytes {
		// A buffer as long as the longest line, so that ReadSlice returns it whole.
		br = bufio.NewReaderSize(r, opts.MaxLineBytes)
	} else {
		br = readers.Get().(*bufio.Reader)
		br.Reset(r)
	}
	return &Scanner{br: br, asm: NewAssembler(opts), max: opts.MaxLineBytes}
}

// arenaBytes is the block lines fed to the Assembler are copied into: one
// allocation for many lines of a report instead of one each. A
// strings.Builder only appends (and allocates without zeroing), so the
// strings made from its text stay as they were; a full block is left to
// the reports that hold strings of it.
const arenaBytes = 16 << 10

// minArenaBytes is the smallest block: a pipe that delivers a line at a
// time leaves little buffered, and its lines still share blocks.
const minArenaBytes = 2 << 10

// text returns b as a string copied into the arena.
func (s *Scanner) text(b []byte) string {
	if len(b) > arenaBytes/4 {
		return string(b)
	}
	if s.arena.Cap()-s.arena.Len() < len(b) {
		// A block no larger than what the read buffer still holds: at
		// the end of the input (or of a small one) the rest fits in a
		// block of its size, not a whole one mostly unused.
		n := min(arenaBytes, max(minArenaBytes, len(b)+s.br.Buffered()))
		s.arena = strings.Builder{}
		s.arena.Grow(n)
	}
	start := s.arena.Len()
	s.arena.Write(b)
	return s.arena.String()[start:]
}

// release returns the read buffer once the input has ended.
func (s *Scanner) release() {
	if s.br != nil && s.br.Size() == readBufBytes {
		s.br.Reset(nil)
		readers.Put(s.br)
	}
	s.br = nil
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
	if err == nil {
		// Almost every line: whole, and not the last.
		if len(b) > s.max {
			s.asm.stats.LinesTooLong++
			b = b[:s.max]
		}
		s.line++
		s.feed(b, false)
		return
	}
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
		s.release()
		s.queue = append(s.queue, s.asm.Flush()...)
	}
}

func (s *Scanner) feed(b []byte, cut bool) {
	a := s.asm
	// A read-only view of the line, valid until the next read: the
	// prefilter and skip use the strings package's searches on it
	// without copying the line.
	view := unsafe.String(unsafe.SliceData(b), len(b))
	if a.export == nil {
		if a.needsEveryLine() {
			// Another program's syslog line is no report's: the
			// Assembler would drop it after parsing its prefix
			// (srcForeign), and parse it into the text arena first.
			// Unless a prefix shape learned from a report is in force
			// (it may read the line otherwise), or the line is cut,
			// which the open report counts.
			if !cut && a.shape == nil && otherProgram(view) {
				a.skip(s.line, view)
				return
			}
		} else if !mayStart(view) && !strings.HasPrefix(view, "__CURSOR=") {
			a.skip(s.line, view)
			return
		}
	}
	if cut && len(a.open) > 0 && a.open[len(a.open)-1].stage != afterKill {
		b := a.open[len(a.open)-1]
		b.r.CutLines++
		b.warn(fmt.Sprintf("line %d: longer than %d bytes, cut short", s.line, s.max))
	}
	s.queue = append(s.queue, a.Feed(Record{Text: s.text(b), Line: s.line})...)
}

// otherProgram reports whether b is a syslog line of a program other
// than the kernel (splitPrefixInto's srcForeign, read the same way).
func otherProgram(b string) bool {
	end := syslogTime(b)
	if end < 0 {
		return false
	}
	kind, _, _ := kernelTag(b[end+1:])
	return kind == tagOther
}

// mayStart is the cheap test every line passes through unless an open
// report needs every line (Assembler.needsEveryLine): can this line begin
// a report, continue one past its kill, attach to a held one, or name the
// kernel? It looks for the rare bytes of the words classify() needs (and
// skips other programs' syslog lines outright) instead of running a search
// per word: most log lines are not OOM reports and must cost next to
// nothing.
func mayStart(b string) bool {
	if end := syslogTime(b); end >= 0 {
		switch kind, _, body := kernelTag(b[end+1:]); kind {
		case tagOther:
			return false // another program's syslog line
		case tagKernel:
			b = b[min(end+1+body, len(b)):] // only the kernel's text can matter
			// and not its dmesg stamp, whose brackets the row and table
			// header tests would look into.
			if len(b) > 2 && b[0] == '[' {
				if i := strings.IndexByte(b[:min(len(b), 32)], ']'); i > 0 && strings.IndexByte(b[1:i], '.') > 0 {
					b = b[i+1:]
				}
			}
		}
	}
	return hasRareWord(b)
}

// rareByte marks the bytes hasRareWord stops at: the first (or, for
// "oom" and "]", a telling) byte of each word it looks for.
var rareByte = [256]bool{'m': true, 'K': true, 'O': true, 'T': true, 'P': true, 'L': true, '[': true, ']': true}

// hasRareWord is mayStart's search of the kernel's text, in one pass over
// it (a kernel line that is not about OOM would otherwise be read once per
// word): at each rare byte, does one of these words start or end here?
//
//	"oom"                invoked oom-killer, oom-kill:, oom_reaper, memory.oom.group
//	"mory"               Out of memory, Memory cgroup …, memory: usage
//	"Kill", "Kernel panic"  Kill process, Killed process, panics
//	"OOM victim"         OOM victim … is already exiting
//	"Task"               Task in, Tasks state, Tasks in
//	"PID: ", "Pid: "     the kernel release on CPU lines
//	"Linux version"      the boot banner
//	"pid ]"              the task table header "[ pid ]" / "[  pid  ]"
//	"[ 123]  1"          a task-table row: "[", spaces, digits, "] ",
//	                     spaces, a digit (a dmesg stamp has a dot inside
//	                     its brackets); rows whose header was cut begin
//	                     a report on their own (excerpt.go)
func hasRareWord(b string) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !rareByte[c] {
			continue
		}
		r := b[i:]
		switch c {
		case 'm':
			if i >= 2 && b[i-1] == 'o' && b[i-2] == 'o' || len(r) > 3 && r[1] == 'o' && r[2] == 'r' && r[3] == 'y' {
				return true
			}
		case 'K':
			if strings.HasPrefix(r, "Kill") || strings.HasPrefix(r, "Kernel panic") {
				return true
			}
		case 'O':
			if strings.HasPrefix(r, "OOM victim") {
				return true
			}
		case 'T':
			if strings.HasPrefix(r, "Task") {
				return true
			}
		case 'P':
			if strings.HasPrefix(r, "PID: ") || strings.HasPrefix(r, "Pid: ") {
				return true
			}
		case 'L':
			if strings.HasPrefix(r, "Linux version") {
				return true
			}
		case ']':
			j := i - 1
			for j >= 0 && b[j] == ' ' {
				j--
			}
			if j >= 2 && b[j] == 'd' && b[j-1] == 'i' && b[j-2] == 'p' {
				return true
			}
		case '[':
			if isTaskRowAt(r) {
				return true
			}
		}
	}
	return false
}

// isTaskRowAt reports whether r starts like a task-table row: "[",
// spaces, digits, "] ", spaces, a digit.
func isTaskRowAt(r string) bool {
	j := 1
	for j < len(r) && r[j] == ' ' {
		j++
	}
	d := j
	for j < len(r) && isDigit(r[j]) {
		j++
	}
	if j == d || j+2 >= len(r) || r[j] != ']' || r[j+1] != ' ' {
		return false
	}
	k := j + 1
	for k < len(r) && r[k] == ' ' {
		k++
	}
	return k < len(r) && isDigit(r[k])
}
