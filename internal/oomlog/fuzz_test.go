package oomlog

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// formatForFuzz writes a parsed report back out; it must not panic on
// anything the parser returns.
// Its output must read back as at least one report.
func formatForFuzz(w *bytes.Buffer, r *Report) error {
	if err := Format(w, r, r.KernelVersion); err != nil {
		return err
	}
	s := NewScanner(bytes.NewReader(w.Bytes()), Options{})
	for s.Scan() {
	}
	return s.Err()
}

// FuzzScanner feeds arbitrary bytes to the Scanner: it must never panic,
// every report it returns must be well formed, and reading the same input
// through the Assembler must give the same reports.
func FuzzScanner(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.log")
	real, _ := filepath.Glob("testdata/real/*.log")
	for _, p := range append(files, real...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, tc := range prefixCases {
		f.Add([]byte(tc.line))
	}
	f.Add([]byte(hdr54 + table54 + sum54 + killed54(14300, "dotnet") + reaped(14300, "dotnet")))
	f.Add([]byte(hdr54 + sum54 + killed54(1, "a") + "Tasks in /a are going to be killed due to memory.oom.group set\n" + killed54(2, "b")))
	f.Add([]byte("4,100,1000,-;Memory cgroup stats for /a:\\x0aanon 4096\n SUBSYSTEM=x\n"))
	f.Add([]byte("Jan  1 00:00:00 h kernel: a invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0#012Mem-Info:#012free:1\r\n"))
	// The paths issue 14 added: learned prefixes, cut and wrapped lines,
	// rows by shape, banner-first excerpts, journal JSON and export.
	f.Add([]byte("x y Guest: <4>[1.5] a invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0\nx y Guest: <6>[1.6] [  1]     0     1      1        1    4096        0             0 b\n"))
	f.Add([]byte("kernel: a invoked oom-kil\nkernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a/b\n"))
	f.Add([]byte("[ 1.0] Task in /a killed as a result of limit of /k\nubepods\n[ 1.1] Memory cgroup out of memory: Killed process 1 (a\n"))
	f.Add([]byte("CPU: 0 PID: 1 Comm: a Not tainted 6.1.0 #1\n dump_header+0x1/0x2\n oom_kill_process+0x1/0x2\nMem-Info:\n"))
	f.Add([]byte(`{"MESSAGE":"oom-kill:constraint=CONSTRAINT_NONE,task=a,pid=1,uid=0","_TRANSPORT":"kernel","__REALTIME_TIMESTAMP":"1","_BOOT_ID":"x"}` + "\n"))
	f.Add([]byte("__CURSOR=s\n_TRANSPORT=kernel\nMESSAGE\n\x05\x00\x00\x00\x00\x00\x00\x00ab\ncd\n\n"))
	f.Add([]byte("<4>1 2025-03-31T16:58:31Z h kernel - - [x a=\"]\"] a invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(bytes.NewReader(data), Options{MaxLineBytes: 4096})
		var reps []*Report
		for s.Scan() {
			r := s.Report()
			if r == nil || r.FirstLine < 1 || r.LastLine < r.FirstLine {
				t.Fatalf("bad report lines %+v", r)
			}
			for _, v := range r.Victims {
				if r.Truncated && !v.FromSummary {
					t.Fatalf("truncated report with a victim from a Killed line")
				}
			}
			if r.KernelVersionInferred && r.KernelVersion == "" {
				t.Fatalf("an inferred empty kernel version")
			}
			reps = append(reps, r)
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		if st := s.Stats(); st.Reports != len(reps) {
			t.Fatalf("stats say %d reports, got %d", st.Reports, len(reps))
		}
		// The record API must agree with the reader API.
		a := NewAssembler(Options{MaxLineBytes: 4096})
		var got []*Report
		lines := strings.SplitAfter(string(data), "\n")
		short := true
		for i, l := range lines {
			if l == "" {
				continue
			}
			short = short && len(l) <= 4096
			got = append(got, a.Feed(Record{Text: l, Line: i + 1})...)
		}
		got = append(got, a.Flush()...)
		if short && !reflect.DeepEqual(reps, got) {
			if d := cmp.Diff(reps, got); d != "" {
				t.Fatalf("Scanner and Assembler disagree (-scanner +assembler):\n%s", d)
			}
		}
		for _, r := range reps {
			var buf bytes.Buffer
			if err := formatForFuzz(&buf, r); err != nil && r.KernelVersion != "" {
				if _, _, _, ok := releaseOf(r.KernelVersion); ok {
					t.Fatalf("format: %v", err)
				}
			}
		}
	})
}
