package oomlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// parseFile returns every report of one file and the scanner's stats.
func parseFile(t testing.TB, path string) ([]*Report, Stats) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := NewScanner(f, Options{})
	var reps []*Report
	for s.Scan() {
		reps = append(reps, s.Report())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	return reps, s.Stats()
}

// expectedView renders a report with the field names and conventions of
// testdata/corpus/expected.jsonl (victim_* from the first Killed line, or the
// summary line when there is none).
func expectedView(r *Report) map[string]any {
	m := map[string]any{
		"kernel_version":        nilIfEmpty(r.KernelVersion),
		"trigger_comm":          nil,
		"trigger_pid":           nil,
		"gfp_mask":              nil,
		"order":                 nil,
		"trigger_oom_score_adj": nil,
		"constraint":            nilIfEmpty(r.Constraint),
		"oom_memcg":             nilIfEmpty(r.OOMMemcg),
		"task_memcg":            nilIfEmpty(r.TaskMemcg),
		"victim_pid":            nil,
		"victim_comm":           nil,
		"victim_total_vm_kb":    nil,
		"victim_anon_rss_kb":    nil,
		"victim_file_rss_kb":    nil,
		"victim_shmem_rss_kb":   nil,
		"victim_oom_score_adj":  nil,
		"memcg_usage_kb":        nil,
		"memcg_limit_kb":        nil,
		"memcg_failcnt":         nil,
		"tasks_count":           nil,
		"reaped":                false,
	}
	if tr := r.Trigger; tr != nil {
		m["trigger_comm"] = tr.Comm
		m["trigger_pid"] = num(tr.PID)
		m["gfp_mask"] = nilIfEmpty(tr.GFPMask)
		m["order"] = num(tr.Order)
		m["trigger_oom_score_adj"] = num(tr.OOMScoreAdj)
	}
	if len(r.Victims) > 0 {
		v := r.Victims[0]
		m["victim_pid"] = float64(v.PID)
		m["victim_comm"] = v.Comm
		m["victim_total_vm_kb"] = num(v.TotalVMKB)
		m["victim_anon_rss_kb"] = num(v.AnonRSSKB)
		m["victim_file_rss_kb"] = num(v.FileRSSKB)
		m["victim_shmem_rss_kb"] = num(v.ShmemRSSKB)
		m["victim_oom_score_adj"] = num(v.OOMScoreAdj)
		m["reaped"] = v.Reaped
	} else if r.SummaryPID != nil {
		m["victim_pid"] = num(r.SummaryPID)
		m["victim_comm"] = r.SummaryComm
	}
	if mc := r.Memcg; mc != nil {
		m["memcg_usage_kb"] = num(mc.UsageKB)
		m["memcg_limit_kb"] = num(mc.LimitKB)
		m["memcg_failcnt"] = num(mc.Failcnt)
	}
	if r.Tasks != nil {
		m["tasks_count"] = float64(len(r.Tasks))
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// num turns *int / *int64 into the float64 (or nil) that encoding/json
// produces for expected.jsonl.
func num[T int | int64](p *T) any {
	if p == nil {
		return nil
	}
	return float64(*p)
}

// TestCorpus checks every field of testdata/corpus/expected.jsonl against
// the reports parsed from the file it names.
func TestCorpus(t *testing.T) {
	data, err := os.ReadFile("testdata/corpus/expected.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var want map[string]any
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		file := want["file"].(string)
		n++
		t.Run(file, func(t *testing.T) {
			reps, _ := parseFile(t, filepath.Join("testdata/corpus", file))
			if got, w := float64(len(reps)), want["reports_in_file"]; got != w {
				t.Fatalf("reports_in_file = %v, want %v", got, w)
			}
			got := expectedView(reps[0])
			// Compare only the fields expected.jsonl states.
			wantTop := map[string]any{}
			for k := range got {
				if v, ok := want[k]; ok {
					wantTop[k] = v
				} else {
					delete(got, k)
				}
			}
			if d := cmp.Diff(wantTop, got); d != "" {
				t.Errorf("first event (-want +got):\n%s", d)
			}
			if evs, ok := want["events"].([]any); ok {
				if len(evs) != len(reps) {
					t.Fatalf("events: %d reports, want %d", len(reps), len(evs))
				}
				for i, e := range evs {
					we := e.(map[string]any)
					ge := expectedView(reps[i])
					for k := range ge {
						if _, ok := we[k]; !ok {
							delete(ge, k)
						}
					}
					if d := cmp.Diff(we, ge); d != "" {
						t.Errorf("event %d (-want +got):\n%s", i, d)
					}
				}
			}
			if va, ok := want["victims_all"].([]any); ok {
				var got []any
				for _, r := range reps {
					for _, v := range r.Victims {
						got = append(got, float64(v.PID))
					}
				}
				if d := cmp.Diff(va, got); d != "" {
					t.Errorf("victims_all (-want +got):\n%s", d)
				}
			}
		})
	}
	if n != 12 {
		t.Errorf("expected.jsonl has %d entries, want 12", n)
	}
}

// TestCorpusGolden compares the full parse of every corpus file with
// testdata/golden/<file>.json (rewrite with -update).
func TestCorpusGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			reps, stats := parseFile(t, path)
			got, err := json.MarshalIndent(struct {
				Reports []*Report
				Stats   Stats
			}{reps, stats}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata/golden", name+".json")
			if *update {
				if err := os.MkdirAll("testdata/golden", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s (-want +got):\n%s", golden, d)
			}
		})
	}
}
