package agent

import (
	"errors"
	"testing"
)

func TestKeyValue(t *testing.T) {
	events := "low 0\nhigh 12\nmax 97\noom 3\noom_kill 4\noom_group_kill 1\n"
	for _, tc := range []struct {
		in, key string
		want    int64
		found   bool
		bad     bool
	}{
		{events, "oom_kill", 4, true, false},
		{events, "oom", 3, true, false},
		{events, "oom_group_kill", 1, true, false},
		{events, "swap", 0, false, false},
		{"oom_kill_disable 0\nunder_oom 0\noom_kill 17\n", "oom_kill", 17, true, false},
		{"oom_kill\n", "oom_kill", 0, false, false},
		{"oom_kill banana\n", "oom_kill", 0, true, true},
		{"oom_kill -1\n", "oom_kill", 0, true, true},
		{"oom_kill 99999999999999999999\n", "oom_kill", 0, true, true},
		{"\x00\xff garbage", "oom_kill", 0, false, false},
		{"total_inactive_file 4096\ninactive_file 8192\n", "inactive_file", 8192, true, false},
	} {
		n, found, err := keyValue([]byte(tc.in), tc.key)
		if n != tc.want || found != tc.found || (err != nil) != tc.bad {
			t.Errorf("keyValue(%q, %q) = %d, %v, %v; want %d, %v, bad=%v", tc.in, tc.key, n, found, err, tc.want, tc.found, tc.bad)
		}
		if err != nil && !errors.Is(err, errFormat) {
			t.Errorf("error %v does not wrap errFormat", err)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  int64
		ok    bool
		isErr bool
	}{
		{"max\n", 0, false, false},
		{"67108864\n", 67108864, true, false},
		{"9223372036854771712\n", 0, false, false},
		{"18446744073709551615\n", 0, false, false},
		{"lots\n", 0, false, true},
		{"", 0, false, true},
	} {
		n, ok, err := parseLimit([]byte(tc.in))
		if n != tc.want || ok != tc.ok || (err != nil) != tc.isErr {
			t.Errorf("parseLimit(%q) = %d, %v, %v", tc.in, n, ok, err)
		}
	}
}

func FuzzKeyValue(f *testing.F) {
	for _, s := range []string{"oom_kill 1\n", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "oom_kill x", "oom_kill 9223372036854775807"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, found, err := keyValue(b, "oom_kill")
		if n < 0 || (!found && err != nil) {
			t.Fatalf("keyValue(%q) = %d, %v, %v", b, n, found, err)
		}
		_, _, _ = parseLimit(b)
		_, _ = parseInt(b)
	})
}
