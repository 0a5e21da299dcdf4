package oomlog

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// This file reads the systemd journal's own formats, as journalctl writes
// them: -o json (one JSON object per entry) and -o export (one "KEY=VALUE"
// line per field, entries separated by an empty line; fields that are not
// text are a bare name line, a little-endian 64-bit length and the bytes).
// Each entry's MESSAGE is fed with the journal's own time
// (__REALTIME_TIMESTAMP), boot (_BOOT_ID) and host (_HOSTNAME); entries of
// other transports than the kernel's are not kernel text.
// (systemd's man/journal-export-formats.md, man/systemd.journal-fields.xml.)

// journalEntry is the fields of one entry oomlog uses.
type journalEntry struct {
	message   string
	realtime  string // µs since the epoch
	monotonic string // _SOURCE_MONOTONIC_TIMESTAMP: the kernel's µs since boot
	bootID    string
	host      string
	transport string
	ident     string
}

// kernel reports whether the entry is the kernel's: journald's kmsg reader
// sets _TRANSPORT=kernel.
func (e *journalEntry) kernel() bool {
	if e.transport != "" {
		return e.transport == "kernel"
	}
	return e.ident == "kernel"
}

// stamp is the entry's time, uptime, boot and host.
func (e *journalEntry) stamp() Stamp {
	var st Stamp
	if us, err := strconv.ParseInt(e.realtime, 10, 64); err == nil && us > 0 {
		t := time.UnixMicro(us).UTC()
		st.Time, st.TimeFrom = &t, TimeFromJournal
		st.Text = t.Format(time.RFC3339Nano)
	}
	if us, err := strconv.ParseUint(e.monotonic, 10, 64); err == nil {
		up := float64(us) / 1e6
		st.Uptime = &up
	}
	st.BootID, st.Host = e.bootID, e.host
	return st
}

// set records one field of the entry.
func (e *journalEntry) set(key, val string) {
	switch key {
	case "MESSAGE":
		e.message = val
	case "__REALTIME_TIMESTAMP":
		e.realtime = val
	case "_SOURCE_MONOTONIC_TIMESTAMP":
		e.monotonic = val
	case "_BOOT_ID":
		e.bootID = val
	case "_HOSTNAME":
		e.host = val
	case "_TRANSPORT":
		e.transport = val
	case "SYSLOG_IDENTIFIER":
		e.ident = val
	}
}

// feedJournal feeds an entry's message, if the kernel wrote it.
func (a *Assembler) feedJournal(e *journalEntry, lineNo int) {
	if !e.kernel() || e.message == "" {
		return
	}
	a.prefixed = false
	a.feedBody(e.message, e.stamp(), lineNo)
}

// journalJSON reads one line of journalctl -o json; ok is false when the
// line is not a JSON object with a MESSAGE.
func journalJSON(line string) (journalEntry, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		return journalEntry{}, false
	}
	m, ok := raw["MESSAGE"]
	if !ok {
		return journalEntry{}, false
	}
	var e journalEntry
	e.set("MESSAGE", journalValue(m))
	for _, k := range []string{"__REALTIME_TIMESTAMP", "_SOURCE_MONOTONIC_TIMESTAMP", "_BOOT_ID", "_HOSTNAME", "_TRANSPORT", "SYSLOG_IDENTIFIER"} {
		if v, ok := raw[k]; ok {
			e.set(k, journalValue(v))
		}
	}
	return e, true
}

// journalValue reads a field of journalctl -o json: a string; an array of
// byte values for a field that is not valid text; an array of either for
// a field the entry holds more than once (the first is taken).
func journalValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var bs []byte
	var nums []int
	if json.Unmarshal(v, &nums) == nil {
		for _, n := range nums {
			bs = append(bs, byte(n))
		}
		return string(bs)
	}
	var many []json.RawMessage
	if json.Unmarshal(v, &many) == nil && len(many) > 0 {
		return journalValue(many[0])
	}
	return ""
}

// exportReader is the state of journalctl -o export input.
type exportReader struct {
	entry journalEntry
	first int // line of the entry's first field
	// binary is the field whose length-prefixed value is being read, and
	// data what was read of it (length first).
	binary string
	data   []byte
}

// exportLine reads one line (its newline kept) of journalctl -o export.
func (a *Assembler) exportLine(line string, lineNo int) {
	x := a.export
	if x.binary != "" {
		x.data = append(x.data, line...)
		if len(x.data) < 8 {
			return
		}
		n := binary.LittleEndian.Uint64(x.data[:8])
		if n > uint64(a.opts.MaxLineBytes) || uint64(len(x.data)) < 8+n+1 {
			if n > uint64(a.opts.MaxLineBytes) && uint64(len(x.data)) >= uint64(a.opts.MaxLineBytes)+9 {
				x.binary, x.data = "", nil // too long to be a message: drop it
			}
			return
		}
		x.entry.set(x.binary, string(x.data[8:8+n]))
		x.binary, x.data = "", x.data[:0]
		return
	}
	text := strings.TrimRight(line, "\n")
	if text == "" {
		a.feedJournal(&x.entry, x.first)
		x.entry, x.first = journalEntry{}, 0
		return
	}
	if x.first == 0 {
		x.first = lineNo
	}
	if k, v, ok := strings.Cut(text, "="); ok {
		x.entry.set(k, v)
		return
	}
	x.binary = text
}

// exportStarts reports whether line begins journalctl -o export input:
// every entry's first field is its cursor.
func exportStarts(line string) bool {
	return strings.HasPrefix(line, "__CURSOR=")
}
