package oomlog

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func f64(v float64) *float64 { return &v }
func u64(v uint64) *uint64   { return &v }
func tm(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// prefixCases are one line of each log prefix oomkit reads, with the stamp
// and message text it must find.
var prefixCases = []struct {
	name, line string
	body       string
	src        lineSource
	st         Stamp
}{
	{"none", "sed invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0",
		"sed invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0", srcPlain, Stamp{}},
	{"dmesg", "[ 8334.895293] oom_reaper: reaped process 1 (a)",
		"oom_reaper: reaped process 1 (a)", srcPlain, Stamp{Text: "[ 8334.895293]", Uptime: f64(8334.895293)}},
	{"dmesg caller id", "[  123.000001][ T4567] Out of memory: Killed process 1 (a)",
		"Out of memory: Killed process 1 (a)", srcPlain, Stamp{Text: "[  123.000001]", Uptime: f64(123.000001), Caller: "T4567"}},
	{"dmesg caller id cpu", "[    1.5][    C2] text",
		"text", srcPlain, Stamp{Text: "[    1.5]", Uptime: f64(1.5), Caller: "C2"}},
	{"dmesg level", "<4>[   12.345678] text",
		"text", srcPlain, Stamp{Text: "[   12.345678]", Uptime: f64(12.345678)}},
	{"level only", "<6>text", "text", srcPlain, Stamp{}},
	{"dmesg -T German", "[Di Aug 12 03:54:03 2025] php-fpm invoked oom-killer: x",
		"php-fpm invoked oom-killer: x", srcPlain, Stamp{Text: "[Di Aug 12 03:54:03 2025]", Time: tm("2025-08-12T03:54:03Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -T German März", "[Mo Mär  3 10:00:00 2025] text",
		"text", srcPlain, Stamp{Text: "[Mo Mär  3 10:00:00 2025]", Time: tm("2025-03-03T10:00:00Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -T French", "[mar. déc. 16 21:33:51 2025] text",
		"text", srcPlain, Stamp{Text: "[mar. déc. 16 21:33:51 2025]", Time: tm("2025-12-16T21:33:51Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -T Japanese", "[火  8月 12 03:54:03 2025] text",
		"text", srcPlain, Stamp{Text: "[火  8月 12 03:54:03 2025]", Time: tm("2025-08-12T03:54:03Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -T Russian", "[Вт дек 16 21:33:51 2025] text",
		"text", srcPlain, Stamp{Text: "[Вт дек 16 21:33:51 2025]", Time: tm("2025-12-16T21:33:51Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -T unknown month", "[Xx Qqq 16 21:33:51 2025] text",
		"text", srcPlain, Stamp{Text: "[Xx Qqq 16 21:33:51 2025]"}},
	{"dmesg iso", "2024-02-01T10:00:00,123456+01:00 text",
		"text", srcPlain, Stamp{Text: "2024-02-01T10:00:00,123456+01:00", Time: tm("2024-02-01T10:00:00.123456+01:00"), TimeFrom: TimeFromStamp}},
	{"syslog host + dmesg", "Jan 28 19:58:45 localhost kernel: [  455.498827] text",
		"text", srcSyslog, Stamp{Text: "Jan 28 19:58:45", Uptime: f64(455.498827), Host: "localhost"}},
	{"syslog no host + dmesg", "Jan  5 15:19:27 kernel: [ 5864.708440] text",
		"text", srcSyslog, Stamp{Text: "Jan  5 15:19:27", Uptime: f64(5864.708440)}},
	{"syslog host no dmesg", "Jul 15 23:44:32 rocky8 kernel: text",
		"text", srcSyslog, Stamp{Text: "Jul 15 23:44:32", Host: "rocky8"}},
	{"syslog other program", "Jan  5 15:19:01 CRON[14500]: Killed process 1 (a)", "", srcForeign, Stamp{Text: "Jan  5 15:19:01"}},
	{"syslog other program host", "Jan 28 19:51:47 localhost ntpd[1313]: oom", "", srcForeign, Stamp{Text: "Jan 28 19:51:47"}},
	{"syslog empty kernel line", "Jan  5 15:19:27 kernel:", "", srcSyslog, Stamp{Text: "Jan  5 15:19:27"}},
	{"syslog empty kernel line host", "Jan  5 15:19:27 h kernel:", "", srcSyslog, Stamp{Text: "Jan  5 15:19:27", Host: "h"}},
	{"not a month", "A00 00 00:00:00 Killed process 1 (a)", "A00 00 00:00:00 Killed process 1 (a)", srcPlain, Stamp{}},
	{"journal short-precise", "Jan 16 21:33:51.123456 node1 kernel: text",
		"text", srcSyslog, Stamp{Text: "Jan 16 21:33:51.123456", Host: "node1"}},
	{"journal short-iso", "2024-02-01T10:00:00+0100 node1 kernel: text",
		"text", srcSyslog, Stamp{Text: "2024-02-01T10:00:00+0100", Time: tm("2024-02-01T10:00:00+01:00"), TimeFrom: TimeFromStamp, Host: "node1"}},
	{"journal short-iso-precise", "2024-02-01T10:00:00.500000+01:00 node1 kernel: text",
		"text", srcSyslog, Stamp{Text: "2024-02-01T10:00:00.500000+01:00", Time: tm("2024-02-01T10:00:00.5+01:00"), TimeFrom: TimeFromStamp, Host: "node1"}},
	{"journal short-monotonic", "[ 8334.895293] node1 kernel: text",
		"text", srcPlain, Stamp{Text: "[ 8334.895293]", Uptime: f64(8334.895293), Host: "node1"}},
	{"kmsg", "6,1234,8334895293,-;text",
		"text", srcKmsg, Stamp{Text: "6,1234,8334895293,-", Uptime: f64(8334.895293), Seq: u64(1234)}},
	{"kmsg caller", "4,77,1000000,c,caller=T99;text",
		"text", srcKmsg, Stamp{Text: "4,77,1000000,c,caller=T99", Uptime: f64(1), Seq: u64(77), Caller: "T99"}},
	{"dmesg reltime minute", "[Jan16 21:33] oom invoked oom-killer: x", "oom invoked oom-killer: x", srcPlain, Stamp{Text: "[Jan16 21:33]"}},
	{"dmesg reltime minute, one-digit day", "[Dec 4 18:13] oom invoked oom-killer: x", "oom invoked oom-killer: x", srcPlain, Stamp{Text: "[Dec 4 18:13]"}},
	{"dmesg reltime delta", "[  +0.000123] oom invoked oom-killer: x", "oom invoked oom-killer: x", srcPlain, Stamp{Text: "[  +0.000123]"}},
	{"dmesg delta", "[<    0.000123>] oom invoked oom-killer: x", "oom invoked oom-killer: x", srcPlain, Stamp{Text: "[<    0.000123>]"}},
	{"dmesg -x", "kern  :warn  : [ 1414.258748] oom invoked oom-killer: x",
		"oom invoked oom-killer: x", srcPlain, Stamp{Text: "[ 1414.258748]", Uptime: f64(1414.258748)}},
	{"dmesg -x iso", "kern  :warn  : 2026-11-28T05:03:18,638256+00:00 oom invoked oom-killer: x",
		"oom invoked oom-killer: x", srcPlain, Stamp{Text: "2026-11-28T05:03:18,638256+00:00", Time: tm("2026-11-28T05:03:18.638256Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -x -T", "kern  :warn  : [Sat Nov 28 05:03:18 2026] oom invoked oom-killer: x",
		"oom invoked oom-killer: x", srcPlain, Stamp{Text: "[Sat Nov 28 05:03:18 2026]", Time: tm("2026-11-28T05:03:18Z"), TimeFrom: TimeFromStamp}},
	{"dmesg -x user facility", "user  :notice: [ 1414.3] Killed process 1 (a)", "", srcForeign, Stamp{}},
	{"task row is not a stamp", "[  478]     0   478     2719        1 udevd",
		"[  478]     0   478     2719        1 udevd", srcPlain, Stamp{}},
	{"syslog + task row", "Feb  9 11:55:27 qa01 kernel: [  478]     0   478 udevd",
		"[  478]     0   478 udevd", srcSyslog, Stamp{Text: "Feb  9 11:55:27", Host: "qa01"}},
	{"stack frame", "[<ffffffff816861ac>] dump_stack+0x19/0x1b", "[<ffffffff816861ac>] dump_stack+0x19/0x1b", srcPlain, Stamp{}},
}

func TestSplitPrefix(t *testing.T) {
	for _, tc := range prefixCases {
		t.Run(tc.name, func(t *testing.T) {
			var st Stamp
			body, src := splitPrefix(tc.line, &st, time.UTC)
			if src == srcForeign {
				body = ""
			}
			if body != tc.body || src != tc.src {
				t.Errorf("splitPrefix(%q) = %q, %d; want %q, %d", tc.line, body, src, tc.body, tc.src)
			}
			if d := cmp.Diff(tc.st, st); d != "" {
				t.Errorf("stamp (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseUptime: the fast path reads every stamp as strconv.ParseFloat
// does, bit for bit.
func TestParseUptime(t *testing.T) {
	for _, s := range []string{"0.000000", "8334.895293", "39290745.072205", "503.279096", "1.5", "26.337940",
		"4650180.470877", "99999999999.999999", "123456789012345.678", "0.1", "7", "1234567890.123456789012"} {
		want, err := strconv.ParseFloat(s, 64)
		got, ok := parseUptime(s)
		if err != nil || !ok || got != want {
			t.Errorf("parseUptime(%q) = %v, %v; ParseFloat %v, %v", s, got, ok, want, err)
		}
	}
}

// TestIsMonth3: exactly the twelve English month abbreviations syslog
// prints, followed by a space.
func TestIsMonth3(t *testing.T) {
	months := map[string]bool{}
	for _, m := range []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"} {
		months[m] = true
	}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			for c := 'a'; c <= 'z'; c++ {
				m := string([]rune{a, b, c})
				if isMonth3(m+" ") != months[m] {
					t.Errorf("isMonth3(%q) = %v", m+" ", !months[m])
				}
			}
		}
	}
	if isMonth3("Jan") || isMonth3("Jan:") {
		t.Error("a month without the space after it")
	}
}
