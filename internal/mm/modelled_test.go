package mm

import (
	"strings"
	"testing"
)

func TestParseModelled(t *testing.T) {
	tests := []struct {
		in      string
		want    string // Version.String(), or "" for an error
		errWord string // a word the error must hold
	}{
		{"6.1.0", "6.1.0", ""},
		{"5.4.0-1059-azure", "5.4.0-1059-azure", ""},
		{"3.10.0-514.6.1.el7.x86_64", "3.10.0-514.6.1.el7.x86_64", ""},
		{"4.18.0-240.el8", "4.18.0-240.el8", ""},
		{"6.18", "6.18", ""},
		{"6.18.44-fc-v669", "6.18.44-fc-v669", ""},
		{"2.6.36", "2.6.36", ""},
		{"6.1\x1b[31m", "", "not part of a kernel release"},
		{"6.1 foo", "", "not part of a kernel release"},
		{"6.1\u009b", "", "not part of a kernel release"},
		{"0.0.0", "", "2.6.36 to 6.18"},
		{"2.6.35", "", "2.6.36 to 6.18"},
		{"999.999.999", "", "2.6.36 to 6.18"},
		{"6.19", "", "2.6.36 to 6.18"},
		{"7.0", "", "2.6.36 to 6.18"},
		{"6", "", "MAJOR.MINOR"},
		{"", "", "MAJOR.MINOR"},
		{"99999999999999999999.1", "", "not a number"},
		{strings.Repeat("6", 65), "", "longer than any kernel release"},
	}
	for _, tt := range tests {
		v, err := ParseModelled(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseModelled(%q) = %v, want an error", tt.in, v)
		case tt.want == "" && !strings.Contains(err.Error(), tt.errWord):
			t.Errorf("ParseModelled(%q) error %q does not say %q", tt.in, err, tt.errWord)
		case tt.want != "" && err != nil:
			t.Errorf("ParseModelled(%q): %v", tt.in, err)
		case tt.want != "" && v.String() != tt.want:
			t.Errorf("ParseModelled(%q) = %v, want %s", tt.in, v, tt.want)
		}
	}
}

func FuzzParseModelled(f *testing.F) {
	for _, s := range []string{"6.1.0", "5.4.0-1059-azure", "6.1\x1b[31m", "999.999.999", "2.6.36", "6.18.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseModelled(s)
		if err != nil {
			return
		}
		if v.Less(OldestModelled) || v.Major > NewestModelled.Major || v.Major == NewestModelled.Major && v.Minor > NewestModelled.Minor {
			t.Fatalf("ParseModelled(%q) = %v, outside the modelled range", s, v)
		}
		for _, r := range v.String() {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("ParseModelled(%q) kept %q", s, r)
			}
		}
	})
}
