// Package visible makes text from outside oomkit safe to show: process names
// (any local user can set one with prctl(PR_SET_NAME)), kernel-log fields,
// cgroup paths, manifest values. Control characters — C0 (U+0000–U+001F),
// DEL (U+007F) and C1 (U+0080–U+009F, where U+009B acts as CSI on terminals
// that honour 8-bit controls) — and bytes that are not UTF-8 are shown as
// visible escapes, so no escape sequence from the data reaches a terminal
// or a page.
//
// Text output passes every outside string through String (before padding
// columns, so widths are those of what is shown); JSON output keeps the
// exact value and goes through JSONWriter, which escapes what
// encoding/json leaves raw (DEL and C1).
package visible

import (
	"io"
	"strings"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String returns s with every control character and every byte that is not
// UTF-8 shown as an escape: a byte b < 0x80 (C0, DEL) or an invalid byte as
// \xNN, a C1 control as \u00NN. s is returned unchanged (no allocation)
// when there is nothing to escape, the common case.
func String(s string) string {
	i := firstUnsafe(s)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			writeByteEscape(&b, s[i])
		case r < 0x20 || r == 0x7f:
			writeByteEscape(&b, byte(r))
		case r >= 0x80 && r <= 0x9f:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Safe reports whether String(s) == s.
func Safe(s string) bool { return firstUnsafe(s) == len(s) }

// firstUnsafe returns the index of the first byte that String would
// escape, or len(s).
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < 0x80 {
			return i
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || r <= 0x9f {
			return i
		}
		i += n
	}
	return len(s)
}

func writeByteEscape(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&0xf])
}

// JSONWriter returns a writer for encoding/json output that rewrites DEL
// and C1 controls, which encoding/json writes raw, as \u escapes. The value
// a JSON parser reads is unchanged; a terminal showing the JSON sees no
// control character. (encoding/json already escapes C0 controls, and with
// SetEscapeHTML(true) also <, > and &.) Writes must be whole JSON texts or
// split on any byte boundary: a UTF-8 sequence split across two writes is
// held until the next write.
func JSONWriter(w io.Writer) io.Writer { return &jsonWriter{w: w} }

type jsonWriter struct {
	w       io.Writer
	pending []byte // an incomplete UTF-8 lead byte from the previous write
	buf     []byte
}

func (j *jsonWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(j.pending) > 0 {
		p = append(j.pending, p...)
		j.pending = nil
	}
	j.buf = j.buf[:0]
	start := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case 0x7f:
			j.buf = append(j.buf, p[start:i]...)
			j.buf = append(j.buf, `\u007f`...)
			start = i + 1
		case 0xc2:
			if i+1 == len(p) {
				j.buf = append(j.buf, p[start:i]...)
				j.pending = []byte{c}
				start = len(p)
				break
			}
			if d := p[i+1]; d >= 0x80 && d <= 0x9f {
				j.buf = append(j.buf, p[start:i]...)
				j.buf = append(j.buf, '\\', 'u', '0', '0', hex[d>>4], hex[d&0xf])
				i++
				start = i + 1
			}
		}
	}
	j.buf = append(j.buf, p[start:]...)
	if _, err := j.w.Write(j.buf); err != nil {
		return 0, err
	}
	return n, nil
}

// TextWriter is the safety net under a command's text output: it shows
// every control character and every byte that is not UTF-8 as String does,
// except newline and tab, which lay the text out. Renderers still pass
// outside strings through String themselves (so column widths are those of
// what is shown); TextWriter catches what one of them missed. Output that
// went through String passes unchanged.
//
// A UTF-8 sequence split across two writes is held until the next write;
// Flush writes (escaped) what an unfinished one left.
type TextWriter struct {
	w       io.Writer
	pending []byte // the start of a UTF-8 sequence the last write cut
	buf     []byte
}

// NewTextWriter returns a TextWriter writing to w.
func NewTextWriter(w io.Writer) *TextWriter { return &TextWriter{w: w} }

// Write writes p with its control characters escaped. It reports len(p)
// written when the underlying writer took everything.
func (t *TextWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(t.pending) > 0 {
		p = append(t.pending, p...)
		t.pending = nil
	}
	// Hold an unfinished UTF-8 sequence at the end for the next write.
	if cut := incompleteTail(p); cut < len(p) {
		t.pending = append([]byte(nil), p[cut:]...)
		p = p[:cut]
	}
	i := firstUnsafeText(p)
	if i == len(p) {
		if _, err := t.w.Write(p); err != nil {
			return 0, err
		}
		return n, nil
	}
	t.buf = append(t.buf[:0], p[:i]...)
	for i < len(p) {
		c := p[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			t.buf = append(t.buf, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f:
			t.buf = append(t.buf, '\\', 'x', hex[c>>4], hex[c&0xf])
			size = 1
		case r >= 0x80 && r <= 0x9f:
			t.buf = append(t.buf, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			t.buf = append(t.buf, p[i:i+size]...)
		}
		i += size
	}
	if _, err := t.w.Write(t.buf); err != nil {
		return 0, err
	}
	return n, nil
}

// Flush writes what an unfinished UTF-8 sequence at the end of the last
// write left, escaped.
func (t *TextWriter) Flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	s := String(string(t.pending))
	t.pending = nil
	_, err := io.WriteString(t.w, s)
	return err
}

// firstUnsafeText is firstUnsafe for TextWriter: newline and tab are safe.
func firstUnsafeText(p []byte) int {
	for i := 0; i < len(p); {
		c := p[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c < 0x80 {
			return i
		}
		r, n := utf8.DecodeRune(p[i:])
		if (r == utf8.RuneError && n <= 1) || r <= 0x9f {
			return i
		}
		i += n
	}
	return len(p)
}

// incompleteTail returns where an unfinished UTF-8 sequence at the end of
// p starts (one that more bytes could complete), or len(p).
func incompleteTail(p []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < 0x80 {
			return len(p) // ASCII: nothing pending
		}
		if c >= 0xc0 { // a lead byte
			if !utf8.FullRune(p[len(p)-k:]) {
				return len(p) - k
			}
			return len(p)
		}
	}
	return len(p)
}
