package oomlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// realView renders a report with the field names of
// testdata/real/expected.jsonl.
func realView(r *Report) map[string]any {
	m := map[string]any{
		"first_line":              float64(r.FirstLine),
		"kernel_version":          r.KernelVersion,
		"kernel_version_inferred": r.KernelVersionInferred,
		"constraint":              r.Constraint,
		"global_oom":              r.GlobalOOM,
		"oom_memcg":               r.OOMMemcg,
		"task_memcg":              r.TaskMemcg,
		"no_killable":             r.NoKillable,
		"truncated":               r.Truncated,
		"cut_lines":               float64(r.CutLines),
		"uptime":                  num64f(r.Stamp.Uptime),
		"time_text":               r.Stamp.Text,
		"time_from":               string(r.Stamp.TimeFrom),
		"host":                    r.Stamp.Host,
		"boot_id":                 r.Stamp.BootID,
		"chosen_pid":              num(r.ChosenPID),
		"chosen_comm":             r.ChosenComm,
		"chosen_score":            num(r.ChosenScore),
		"table_format":            string(r.TableFormat),
		"tasks_count":             nil,
		"time":                    nil,
		"trigger_comm":            nil,
	}
	if r.Stamp.Time != nil {
		m["time"] = r.Stamp.Time.UTC().Format(time.RFC3339Nano)
	}
	if t := r.Trigger; t != nil {
		m["trigger_comm"] = t.Comm
		m["trigger_pid"] = num(t.PID)
		m["gfp_mask"] = t.GFPMask
		m["order"] = num(t.Order)
		m["trigger_oom_score_adj"] = num(t.OOMScoreAdj)
		m["nodemask"] = t.Nodemask
		m["cpuset"] = t.Cpuset
		m["mems_allowed"] = t.MemsAllowed
	}
	if mc := r.Memcg; mc != nil {
		m["stats_path"] = mc.StatsPath
		m["memcg_usage_kb"] = num(mc.UsageKB)
		m["memcg_limit_kb"] = num(mc.LimitKB)
		m["memcg_failcnt"] = num(mc.Failcnt)
		if mc.SwapIsMemsw {
			m["memsw_limit_kb"] = num(mc.SwapLimitKB)
			m["memsw_failcnt"] = num(mc.SwapFailcnt)
		}
		m["kmem_usage_kb"] = num(mc.KmemUsageKB)
		if v, ok := mc.Stats["rss"]; ok {
			m["stats_rss_bytes"] = float64(v)
		}
	}
	if r.Tasks != nil {
		m["tasks_count"] = float64(len(r.Tasks))
		pids, names := []any{}, []any{}
		for _, t := range r.Tasks {
			pids = append(pids, float64(t.PID))
			names = append(names, t.Name)
		}
		m["task_pids"], m["task_names"] = pids, names
	}
	vs := []any{}
	for _, v := range r.Victims {
		from := "killed_line"
		if v.FromSummary {
			from = "summary_line"
		}
		vs = append(vs, map[string]any{
			"pid": float64(v.PID), "comm": v.Comm, "from": from, "uid": num(v.UID),
			"total_vm_kb": num(v.TotalVMKB), "anon_rss_kb": num(v.AnonRSSKB), "file_rss_kb": num(v.FileRSSKB),
			"shmem_rss_kb": num(v.ShmemRSSKB), "oom_score_adj": num(v.OOMScoreAdj), "reaped": v.Reaped,
		})
	}
	m["victims"] = vs
	return m
}

func num64f(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// only keeps the keys of got that want states, in maps and lists of maps.
func only(want, got any) any {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return got
		}
		out := map[string]any{}
		for k, wv := range w {
			out[k] = only(wv, g[k])
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return got
		}
		out := make([]any, len(g))
		for i := range g {
			out[i] = only(w[i], g[i])
		}
		return out
	}
	return got
}

// TestRealInputs checks the hand-checked fields of testdata/real: real
// reports from public threads (and the journal's own formats, generated
// here) of each class of input issue 14 lists.
func TestRealInputs(t *testing.T) {
	data, err := os.ReadFile("testdata/real/expected.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var want struct {
			File    string           `json:"file"`
			ModTime *time.Time       `json:"mod_time"`
			Events  []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		seen[want.File] = true
		t.Run(want.File, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata/real", want.File))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var opts Options
			if want.ModTime != nil {
				opts.ModTime = *want.ModTime
			}
			s := NewScanner(f, opts)
			var got []any
			for s.Scan() {
				got = append(got, realView(s.Report()))
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			var w []any
			for _, e := range want.Events {
				w = append(w, e)
			}
			if d := cmp.Diff(w, only(w, got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	files, _ := filepath.Glob("testdata/real/*.log")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no entry in testdata/real/expected.jsonl", f)
		}
	}
}
