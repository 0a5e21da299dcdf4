// Package kmsg reads the kernel's log ring through /dev/kmsg, one record per
// read(2): "prio,seq,usec,flags;text\n" followed by continuation lines
// " KEY=VALUE\n" (Documentation/ABI/testing/dev-kmsg). It reads the whole
// ring without blocking or follows it for new records, and it counts the
// records the kernel overwrote before they were read (EPIPE, jumps in the
// sequence numbers) instead of hiding them.
package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Record is one /dev/kmsg record.
type Record struct {
	// Priority is the syslog priority: facility<<3 | level.
	Priority int
	// Seq is the record's 64-bit sequence number; consecutive records
	// differ by one, so a jump means records were lost.
	Seq uint64
	// Usec is the time stamp in microseconds since boot (CLOCK_MONOTONIC
	// in most kernels).
	Usec uint64
	// Flags is the flags field as printed: "-" for a whole record, "c" for
	// a continuation fragment (older kernels), possibly more letters.
	Flags string
	// Text is the message with the kernel's escaping kept: non-printable
	// bytes appear as \xNN.
	Text string
	// Caller is the printk caller id ("T1234" for a task, "C2" for a CPU)
	// from a ",caller=" prefix field (CONFIG_PRINTK_CALLER), "" if none.
	Caller string
	// Dict holds the continuation lines (" SUBSYSTEM=pci",
	// " DEVICE=+pci:0000:00:1f.0") in order, without the leading space.
	Dict []string
}

// Level is the record's log level, 0 (emerg) to 7 (debug).
func (r Record) Level() int { return r.Priority & 7 }

// Facility is the record's syslog facility (0 = kernel).
func (r Record) Facility() int { return r.Priority >> 3 }

// ErrMalformed is wrapped by Parse errors.
var ErrMalformed = errors.New("malformed /dev/kmsg record")

// Parse reads one record as a read(2) of /dev/kmsg returns it. Of the
// prefix fields after the fourth only "caller=" is kept; others are
// ignored, as the ABI document asks of readers.
//
// devkmsg_read()/info_print_ext_header(), kernel/printk/printk.c:
// "%u,%llu,%llu,%c%s;" then the escaped text, "\n", then " KEY=VALUE\n"
// lines.
func Parse(b []byte) (Record, error) {
	var r Record
	semi := bytes.IndexByte(b, ';')
	if semi < 0 {
		return r, fmt.Errorf("%w: no ';' after the prefix", ErrMalformed)
	}
	prefix, rest := b[:semi], b[semi+1:]
	var fields [4][]byte
	var extra [][]byte
	n := 0
	for len(prefix) > 0 {
		i := bytes.IndexByte(prefix, ',')
		var f []byte
		if i < 0 {
			f, prefix = prefix, nil
		} else {
			f, prefix = prefix[:i], prefix[i+1:]
		}
		if n < len(fields) {
			fields[n] = f
		} else {
			extra = append(extra, f)
		}
		n++
	}
	if n < 3 {
		return r, fmt.Errorf("%w: prefix %q has %d fields, want prio,seq,usec[,flags]", ErrMalformed, b[:semi], n)
	}
	prio, err := strconv.ParseUint(string(fields[0]), 10, 31)
	if err != nil {
		return r, fmt.Errorf("%w: priority %q", ErrMalformed, fields[0])
	}
	seq, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return r, fmt.Errorf("%w: sequence number %q", ErrMalformed, fields[1])
	}
	usec, err := strconv.ParseUint(string(fields[2]), 10, 64)
	if err != nil {
		return r, fmt.Errorf("%w: time stamp %q", ErrMalformed, fields[2])
	}
	r.Priority, r.Seq, r.Usec = int(prio), seq, usec
	r.Flags = string(fields[3])
	for _, e := range extra {
		if v, ok := bytes.CutPrefix(e, []byte("caller=")); ok {
			r.Caller = string(v)
		}
	}
	rest = bytes.TrimSuffix(rest, []byte("\n"))
	text := rest
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		text = rest[:i]
		for _, line := range bytes.Split(rest[i+1:], []byte("\n")) {
			if kv, ok := bytes.CutPrefix(line, []byte(" ")); ok && len(kv) > 0 {
				r.Dict = append(r.Dict, string(kv))
			}
		}
	}
	r.Text = string(text)
	return r, nil
}

// AppendText appends the record in /dev/kmsg's own text form (prefix,
// text, continuation lines), so a log parser that reads raw /dev/kmsg
// dumps can read it back.
func (r Record) AppendText(b []byte) []byte {
	b = strconv.AppendInt(b, int64(r.Priority), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.Usec, 10)
	b = append(b, ',')
	flags := r.Flags
	if flags == "" {
		flags = "-"
	}
	b = append(b, flags...)
	if r.Caller != "" {
		b = append(b, ",caller="...)
		b = append(b, r.Caller...)
	}
	b = append(b, ';')
	b = append(b, r.Text...)
	b = append(b, '\n')
	for _, kv := range r.Dict {
		b = append(b, ' ')
		b = append(b, kv...)
		b = append(b, '\n')
	}
	return b
}
