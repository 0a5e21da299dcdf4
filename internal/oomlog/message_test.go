package oomlog

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUnknownPrefixes: a report behind a prefix oomlog has no parser for
// is found by the kernel's own grammar and the prefix's shape, whatever
// the prefix; the formats issue 14 names that no stored public thread
// showed are built here from the kernel lines of a real 5.4 report
// (hdr54 … in assemble_test.go) and each format's definition.
func TestUnknownPrefixes(t *testing.T) {
	body := strings.Split(strings.TrimSpace(hdr54+"memory: usage 1048576kB, limit 1048576kB, failcnt 30\n"+table54+sum54+killed54(14300, "dotnet")), "\n")
	cases := []struct {
		name   string
		prefix func(i int) string
		host   string
	}{
		// RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
		{"rfc5424", func(int) string { return "<4>1 2025-03-31T16:58:31.123456+00:00 node-1 kernel - - - " }, "node-1"},
		{"rfc5424 structured data", func(int) string {
			return `<4>1 2025-03-31T16:58:31Z node-1 kernel - - [meta sequenceId="1" x="a\]b"] `
		}, "node-1"},
		// A serial console: the first line glued to a login prompt.
		{"login prompt", func(i int) string {
			if i == 0 {
				return "node-1 login: [ 8334.895293] "
			}
			return "[ 8334.895293] "
		}, ""},
		{"host kernel:", func(int) string { return "node-1 kernel: " }, "node-1"},
		{"bare kernel:", func(int) string { return "kernel: " }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log strings.Builder
			for i, l := range body {
				log.WriteString(tc.prefix(i) + l + "\n")
			}
			reps, _ := scanString(t, log.String())
			if len(reps) != 1 {
				t.Fatalf("%d reports", len(reps))
			}
			r := reps[0]
			got := []any{r.Trigger.Comm, val(r.Trigger.PID), r.KernelVersion, len(r.Tasks), r.OOMMemcg, len(r.Victims), r.Stamp.Host}
			want := []any{"dotnet", 14300, "5.4.0-1059-azure", 2, "/kubepods/pod1", 1, tc.host}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	t.Run("rfc5424 of another program", func(t *testing.T) {
		reps, _ := scanString(t, "<11>1 2025-03-31T16:58:31Z node-1 myapp 42 - - "+killed54(1, "fake"))
		if len(reps) != 0 {
			t.Errorf("%d reports from another program's line", len(reps))
		}
	})
}

// TestStackBannerStartsExcerpt: an excerpt that starts at the stack dump
// banner (its header cut away) is a report when the stack below it is the
// OOM killer's, and the banner's task is the trigger. The lines are the
// real vmware-guest.log without its first two.
func TestStackBannerStartsExcerpt(t *testing.T) {
	reps, _ := parseFile(t, "testdata/real/vmware-guest.log")
	full := reps[0]
	data := readLines(t, "testdata/real/vmware-guest.log")[2:]
	reps, _ = scanString(t, strings.Join(data, "\n")+"\n")
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	r := reps[0]
	if r.Trigger == nil || r.Trigger.Comm != "node" || val(r.Trigger.PID) != 2625 || r.KernelVersion != "4.19.189-5.ph3" || r.FirstLine != 1 {
		t.Errorf("trigger %+v, kernel %q, first line %d", r.Trigger, r.KernelVersion, r.FirstLine)
	}
	if *r.Stamp.Uptime != 39290745.072210 || *full.Stamp.Uptime != 39290745.072205 {
		t.Errorf("uptime %v (the banner's), full report's %v", *r.Stamp.Uptime, *full.Stamp.Uptime)
	}
	// A stack of another splat opens nothing.
	reps, _ = scanString(t, "CPU: 1 PID: 7 Comm: kworker/1:0 Not tainted 6.1.0 #1\nCall Trace:\n dump_stack_lvl+0x44/0x5c\n __warn+0x81/0x130\n")
	if len(reps) != 0 {
		t.Errorf("%d reports from a WARN splat", len(reps))
	}
}

// TestKernelVersionFromTheSameBoot: a report without its own banner takes
// the release of the same boot, before or after it, and never across a
// boot.
func TestKernelVersionFromTheSameBoot(t *testing.T) {
	cases := []struct {
		name, log string
		want      []string // release, then "inferred" or "report", per report
	}{
		{"Linux version line before", "Linux version 5.15.0-91-generic (buildd@lcy02) (gcc 11.4.0) #101-Ubuntu SMP\n" + sum54 + killed54(1, "a"),
			[]string{"5.15.0-91-generic inferred"}},
		{"banner of the next report", sum54 + killed54(1, "a") + hdr54 + sum54 + killed54(2, "b"),
			[]string{"5.4.0-1059-azure inferred", "5.4.0-1059-azure report"}},
		{"not across a boot", hdr54 + sum54 + killed54(1, "a") + "Linux version 6.1.0-18-amd64 (x@y) #1\n[    0.000000] x\n" + sum54 + killed54(2, "b"),
			[]string{"5.4.0-1059-azure report", "6.1.0-18-amd64 inferred"}},
		{"not across uptime running back", "[ 500.0] " + strings.ReplaceAll(strings.TrimSuffix(hdr54+sum54+killed54(1, "a"), "\n"), "\n", "\n[ 500.0] ") + "\n[  3.0] " + strings.TrimSuffix(sum54, "\n") + "\n[  3.0] " + killed54(2, "b"),
			[]string{"5.4.0-1059-azure report", " "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reps, _ := scanString(t, tc.log)
			var got []string
			for _, r := range reps {
				from := "report"
				if r.KernelVersionInferred {
					from = "inferred"
				}
				if r.KernelVersion == "" {
					from = ""
				}
				got = append(got, r.KernelVersion+" "+from)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestYearFromModTime: a syslog stamp without a year takes the latest
// year that does not put it after the file's modification time.
func TestYearFromModTime(t *testing.T) {
	cases := []struct {
		stamp, mod, want string
	}{
		{"Jan 16 21:33:51", "2024-03-01T00:00:00Z", "2024-01-16T21:33:51Z"},
		{"Dec 31 23:59:59", "2025-01-02T08:00:00Z", "2024-12-31T23:59:59Z"}, // rotated after new year
		{"Jan  2 00:00:01", "2025-01-01T23:00:00Z", "2025-01-02T00:00:01Z"}, // within a day's clock slack
		{"Feb 29 12:00:00", "2025-03-01T00:00:00Z", "2024-02-29T12:00:00Z"}, // 2025 has none
		{"Jan 16 21:33:51.123456", "2024-03-01T00:00:00Z", "2024-01-16T21:33:51.123456Z"},
	}
	for _, tc := range cases {
		t.Run(tc.stamp, func(t *testing.T) {
			mod, _ := time.Parse(time.RFC3339, tc.mod)
			s := NewScanner(strings.NewReader(tc.stamp+" h kernel: "+sum54), Options{ModTime: mod})
			if !s.Scan() {
				t.Fatal("no report")
			}
			st := s.Report().Stamp
			if st.Time == nil || st.Time.Format(time.RFC3339Nano) != tc.want || st.TimeFrom != TimeYearInferred {
				t.Errorf("time %v (%s), want %s year_inferred", st.Time, st.TimeFrom, tc.want)
			}
		})
	}
}

// TestJournalFormats: journalctl -o json and -o export read directly;
// entries of other transports are not the kernel's; a MESSAGE that is not
// valid text comes as bytes.
func TestJournalFormats(t *testing.T) {
	entry := func(transport, msg string) string {
		return `{"__REALTIME_TIMESTAMP":"1700000000000000","_BOOT_ID":"b1","_HOSTNAME":"h","_TRANSPORT":"` + transport + `","_SOURCE_MONOTONIC_TIMESTAMP":"8334895293","MESSAGE":` + msg + "}\n"
	}
	var log strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(hdr54+sum54), "\n") {
		log.WriteString(entry("kernel", `"`+l+`"`))
	}
	log.WriteString(entry("journal", `"`+strings.TrimSpace(killed54(99, "fake"))+`"`))
	// "Memory cgroup out of memory: Killed process 14300 (dot\xffnet) …" as bytes.
	var nums []string
	for _, c := range []byte(strings.TrimSpace(killed54(14300, "dot\xffnet"))) {
		nums = append(nums, strconv.Itoa(int(c)))
	}
	log.WriteString(entry("kernel", "["+strings.Join(nums, ",")+"]"))
	reps, _ := scanString(t, log.String())
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	r := reps[0]
	if len(r.Victims) != 1 || r.Victims[0].Comm != "dot\xffnet" || r.Stamp.BootID != "b1" || r.Stamp.Host != "h" || r.Stamp.TimeFrom != TimeFromJournal ||
		r.Stamp.Time.Unix() != 1700000000 || *r.Stamp.Uptime != 8334.895293 {
		t.Errorf("victims %+v stamp %+v", r.Victims, r.Stamp)
	}

	// -o export with a binary MESSAGE: a name line, a 64-bit little-endian
	// length, the bytes (here holding a newline), a newline.
	msg := "Memory cgroup out of memory: Killed process 14300 (a\nb) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB"
	var ex strings.Builder
	ex.WriteString("__CURSOR=s=1\n__REALTIME_TIMESTAMP=1700000000000000\n_BOOT_ID=b2\n_TRANSPORT=kernel\nMESSAGE=" + strings.TrimSpace(sum54) + "\n\n")
	ex.WriteString("__CURSOR=s=2\n__REALTIME_TIMESTAMP=1700000000000001\n_BOOT_ID=b2\n_TRANSPORT=kernel\nMESSAGE\n")
	n := len(msg)
	ex.WriteString(string([]byte{byte(n), byte(n >> 8), 0, 0, 0, 0, 0, 0}) + msg + "\n\n")
	reps, _ = scanString(t, ex.String())
	if len(reps) != 1 || len(reps[0].Victims) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	// The newline inside the message splits it: its first line is the
	// Killed line cut inside the comm, and it is read as such.
	if v := reps[0].Victims[0]; v.PID != 14300 || reps[0].Stamp.BootID != "b2" {
		t.Errorf("victim %+v, boot %q", v, reps[0].Stamp.BootID)
	}
}

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}
