package visible

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "python3", "python3"},
		{"hostile but printable", `Plex Media Server ( ) [ "with quotes" (resolved)`, `Plex Media Server ( ) [ "with quotes" (resolved)`},
		{"utf-8 letters stay", "jäva-ß-日本", "jäva-ß-日本"},
		{"ESC colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"C0 and DEL", "a\x00b\nc\td\re\x7f", `a\x00b\x0ac\x09d\x0de\x7f`},
		// U+009B is CSI for terminals that honour 8-bit controls; as UTF-8 it is C2 9B.
		{"C1 CSI as UTF-8", "x\u009b31my", `x\u009b31my`},
		{"C1 NEL and APC", "\u0085\u009f", `\u0085\u009f`},
		{"raw 0x9b byte (not UTF-8)", "x\x9b31my", `x\x9b31my`},
		{"truncated UTF-8", "ab\xe6\x97", `ab\xe6\x97`},
		{"U+00A0 is not a control", "a\u00a0b", "a\u00a0b"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if Safe(tt.in) != (tt.in == tt.want) {
				t.Errorf("Safe(%q) = %v, want %v", tt.in, Safe(tt.in), tt.in == tt.want)
			}
		})
	}
}

func TestStringDoesNotAllocateWhenSafe(t *testing.T) {
	s := "kubepods-burstable-pod1234.slice"
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Errorf("String allocated %v times for a safe string, want 0", n)
	}
}

func TestJSONWriter(t *testing.T) {
	v := map[string]string{"comm": "a\x1b[2Jb\u009bc\x7fd\u0085é"}
	var raw bytes.Buffer
	if err := json.NewEncoder(&raw).Encode(v); err != nil {
		t.Fatal(err)
	}
	// Write one byte at a time: sequences split across writes still escape.
	var out bytes.Buffer
	w := JSONWriter(&out)
	for _, c := range raw.Bytes() {
		if _, err := w.Write([]byte{c}); err != nil {
			t.Fatal(err)
		}
	}
	got := out.String()
	want := `{"comm":"a\u001b[2Jb\u009bc\u007fd\u0085é"}` + "\n"
	if got != want {
		t.Errorf("JSONWriter output = %q, want %q", got, want)
	}
	var back map[string]string
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["comm"] != v["comm"] {
		t.Errorf("value changed: %q, want %q", back["comm"], v["comm"])
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"python3", "\x1b[31m", "\u009b", "\x9b", "ab\xe6\x97", "a\u00a0b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if !utf8.ValidString(got) {
			t.Fatalf("String(%q) = %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("String(%q) = %q keeps control %U", s, got, r)
			}
		}
		if String(got) != got {
			t.Fatalf("String is not idempotent on %q", got)
		}
		if Safe(s) && got != s {
			t.Fatalf("Safe(%q) but String changed it to %q", s, got)
		}
	})
}

func FuzzJSONWriter(f *testing.F) {
	f.Add("a\x1b[2Jb\u009bc\x7fd", 1)
	f.Fuzz(func(t *testing.T, s string, split int) {
		raw, err := json.Marshal(s)
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := JSONWriter(&out)
		if split < 0 {
			split = -split
		}
		split %= len(raw) + 1
		_, _ = w.Write(raw[:split])
		_, _ = w.Write(raw[split:])
		var back string
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("output %q does not parse: %v", out.String(), err)
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("value changed: %q -> %q, want %q", s, back, want)
		}
		for _, r := range out.String() {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("output %q keeps control %U", out.String(), r)
			}
		}
	})
}

func TestTextWriter(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"layout stays", "a\tb\nc\n", "a\tb\nc\n"},
		{"ESC and CR", "x\x1b[2J\ry\n", `x\x1b[2J\x0dy` + "\n"},
		{"C1 CSI", "a\u009b31mb", `a\u009b31mb`},
		{"invalid byte", "a\x9bb\xffc", `a\x9bb\xffc`},
		{"UTF-8 letters", "jäva 日本", "jäva 日本"},
		{"already escaped stays", `\x1b`, `\x1b`},
		{"truncated at the end", "ab\xe6\x97", `ab\xe6\x97`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte per write: the result is the same.
			for _, split := range []bool{false, true} {
				var out bytes.Buffer
				w := NewTextWriter(&out)
				if split {
					for i := 0; i < len(tt.in); i++ {
						if n, err := w.Write([]byte{tt.in[i]}); n != 1 || err != nil {
							t.Fatalf("Write = %d, %v", n, err)
						}
					}
				} else if n, err := w.Write([]byte(tt.in)); n != len(tt.in) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if out.String() != tt.want {
					t.Errorf("split=%v: got %q, want %q", split, out.String(), tt.want)
				}
			}
		})
	}
}

func TestTextWriterPassesWriteErrors(t *testing.T) {
	w := NewTextWriter(failWriter{})
	if n, err := w.Write([]byte("hello\x1b")); err == nil || n != 0 {
		t.Errorf("Write = %d, %v; want 0 and the underlying error", n, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFull }

var errFull = errors.New("no space left on device")

func FuzzTextWriter(f *testing.F) {
	for _, s := range []string{"python3\n", "\x1b[31m\t", "\u009b", "\x9b", "ab\xe6\x97", "a\u00a0b"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, split int) {
		var out bytes.Buffer
		w := NewTextWriter(&out)
		if split < 0 {
			split = -split
		}
		split %= len(s) + 1
		_, _ = w.Write([]byte(s[:split]))
		_, _ = w.Write([]byte(s[split:]))
		_ = w.Flush()
		got := out.String()
		if !utf8.ValidString(got) {
			t.Fatalf("%q -> %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("%q -> %q keeps control %U", s, got, r)
			}
		}
		// Line by line, it is what String shows.
		want := strings.Join(func() []string {
			var parts []string
			for _, l := range strings.Split(s, "\n") {
				var cells []string
				for _, c := range strings.Split(l, "\t") {
					cells = append(cells, String(c))
				}
				parts = append(parts, strings.Join(cells, "\t"))
			}
			return parts
		}(), "\n")
		if got != want {
			t.Fatalf("%q -> %q, want %q (String per cell)", s, got, want)
		}
	})
}
