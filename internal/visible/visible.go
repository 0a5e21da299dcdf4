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
