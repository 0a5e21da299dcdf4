// Package escape makes text from outside — process names, cgroup paths,
// kernel-log fields — safe to show: every control character (C0, DEL, C1)
// and every byte that is not valid UTF-8 becomes a visible escape ("\x1b"),
// so a name set with prctl(PR_SET_NAME) cannot move a terminal's cursor or
// hide text on a web page. JSON output keeps exact values instead; this is
// for text meant to be read.
package escape

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Controls returns s with control characters and invalid UTF-8 shown as
// \xNN (C0 and DEL as their byte, C1 U+0080–U+009F as \u0080–\u009f, whose
// U+009B would otherwise act as CSI). A backslash stays as it is. Strings
// with nothing to escape are returned without copying.
func Controls(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b = append(b, '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&15])
		case r < 0x20 || r == 0x7f:
			b = append(b, '\\', 'x', hexDigits[r>>4], hexDigits[r&15])
		case r >= 0x80 && r <= 0x9f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&15])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}
