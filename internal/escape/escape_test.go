package escape

import "testing"

func TestControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"python3", "python3"},
		{"Plex Media Server", "Plex Media Server"},
		{"evil\x1b[31mred", `evil\x1b[31mred`},
		{"a\nb\tc\x00", `a\x0ab\x09c\x00`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b2J", `csi\u009b2J`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"日本語", "日本語"},
		{`back\slash`, `back\slash`},
		{"", ""},
	} {
		if got := Controls(tc.in); got != tc.want {
			t.Errorf("Controls(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzControls(f *testing.F) {
	for _, s := range []string{"python3", "a\x1b[0m", "\u009b", "\xff\xfe", "(resolved)", `"with quotes"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Controls(s)
		for i := 0; i < len(out); {
			r, n := decode(out[i:])
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == -1 {
				t.Fatalf("Controls(%q) = %q keeps a control or invalid byte at %d", s, out, i)
			}
			i += n
		}
	})
}

// decode is utf8.DecodeRuneInString with -1 for invalid bytes.
func decode(s string) (rune, int) {
	for i, r := range s {
		if r == 0xFFFD && (len(s) < 3 || s[:3] != "\uFFFD") {
			return -1, 1
		}
		_ = i
		return r, len(string(r))
	}
	return 0, 1
}
