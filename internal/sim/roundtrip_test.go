package sim

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// roundTripKernels are the kernels every built-in is replayed on, so each
// report format (≤4.14, 4.19, 5.0, 5.4, 6.1, 6.12) is printed and read.
var roundTripKernels = []string{"", "4.14.5", "4.19.72", "5.0.1", "5.2.1", "5.4.0-1059-azure", "6.1.0", "6.12.0"}

// simReports runs every built-in on every kernel of roundTripKernels.
func simReports(t testing.TB) map[string][]oomlog.Report {
	t.Helper()
	out := map[string][]oomlog.Report{}
	for _, b := range Builtins() {
		for _, k := range roundTripKernels {
			s, err := Builtin(b.Name)
			if err != nil {
				t.Fatal(err)
			}
			if k != "" {
				if s.Kernel, err = mm.ParseVersion(k); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Run(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Reports) > 0 {
				out[fmt.Sprintf("%s@%s", b.Name, s.Kernel)] = res.Reports
			}
		}
	}
	// The policies the built-ins do not reach: panic_on_oom, the
	// allocating task, group kill, no eligible task, sacrifice child.
	extra := map[string]string{
		"panic-global":    replace(globalBase, "PANIC", "1", "ALLOC", "0"),
		"allocating-task": replace(globalBase, "PANIC", "0", "ALLOC", "1"),
		"group-kill":      replace(memcgBase, "KERNEL", "6.1.0", "CGV", "2", "GROUP", "true", "PANIC", "0", "ADJ", "0"),
		"panic-memcg":     replace(memcgBase, "KERNEL", "5.10.0", "CGV", "2", "GROUP", "false", "PANIC", "2", "ADJ", "0"),
		"no-victim-5.4":   replace(memcgBase, "KERNEL", "5.4.0", "CGV", "1", "GROUP", "false", "PANIC", "0", "ADJ", "-1000"),
		"no-victim-6.8":   replace(memcgBase, "KERNEL", "6.8.0", "CGV", "2", "GROUP", "false", "PANIC", "0", "ADJ", "-1000"),
	}
	for name, y := range extra {
		s, err := Load(name+".yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Reports) == 0 {
			t.Fatalf("%s: no report", name)
		}
		out[name] = res.Reports
	}
	return out
}

// TestReportRoundTrip is the property Parse(Format(r)) == r on every
// report the simulator produces: the kernel-format text reads back, with
// oomlog's parser, to the same report.
func TestReportRoundTrip(t *testing.T) {
	all := simReports(t)
	if len(all) == 0 {
		t.Fatal("no built-in produced an OOM report")
	}
	for name, reports := range all {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			for i := range reports {
				v, _ := mm.ParseVersion(reports[i].KernelVersion)
				if err := WriteReport(&buf, &reports[i], v); err != nil {
					t.Fatal(err)
				}
			}
			sc := oomlog.NewScanner(bytes.NewReader(buf.Bytes()), oomlog.Options{})
			var got []oomlog.Report
			for sc.Scan() {
				got = append(got, *sc.Report())
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			opts := []cmp.Option{
				cmpopts.IgnoreFields(oomlog.Report{}, "FirstLine", "LastLine", "Stamp"),
				cmpopts.EquateEmpty(),
			}
			if reports[0].PanicOnOOM != 0 {
				// Known parser gap (reported): check_panic_on_oom() prints only
				// "Kernel panic - not syncing: Out of memory: … panic_on_oom is
				// enabled", which oomlog reads as a plain panic (PanicOnOOM 0,
				// Truncated). Everything else must still read back.
				opts = append(opts, cmpopts.IgnoreFields(oomlog.Report{}, "PanicOnOOM", "Truncated"))
			}
			if diff := cmp.Diff(reports, got, opts...); diff != "" {
				t.Errorf("Parse(Format(r)) != r (-want +got):\n%s\n--- text:\n%s", diff, buf.String())
			}
		})
	}
}

// TestReportExplain checks that explain, reading the printed reports,
// names the victim the simulator killed, with the same limit, and agrees
// that the kernel's rules choose it.
func TestReportExplain(t *testing.T) {
	for name, reports := range simReports(t) {
		t.Run(name, func(t *testing.T) {
			var prior []int
			for i := range reports {
				r := &reports[i]
				if len(r.Victims) == 0 {
					continue
				}
				var buf bytes.Buffer
				v, _ := mm.ParseVersion(r.KernelVersion)
				if err := WriteReport(&buf, r, v); err != nil {
					t.Fatal(err)
				}
				sc := oomlog.NewScanner(&buf, oomlog.Options{})
				if !sc.Scan() {
					t.Fatalf("report %d: parser found nothing", i)
				}
				ev := explain.Explain(sc.Report(), explain.Options{PriorVictims: prior})
				for _, v := range r.Victims {
					prior = append(prior, v.PID)
				}
				if len(ev.Victims) == 0 || ev.Victims[0].PID != r.Victims[0].PID {
					t.Fatalf("report %d: explain victims %+v, want pid %d first", i, ev.Victims, r.Victims[0].PID)
				}
				want := r.Victims[0].PID
				if r.ChosenPID != nil {
					want = *r.ChosenPID // ≤ 5.0: the process chosen before "sacrifice child"
				}
				// Up to 4.16 CAP_SYS_ADMIN takes 3 % off the badness; a report
				// does not print capabilities and explain assumes uid 0 has
				// it, so it can only agree where the simulator's process
				// really had it; older kernels are checked for the victim only.
				if a := ev.Analysis; v.AtLeast(4, 17, 0) && (a.PredictedVictimPID == nil || *a.PredictedVictimPID != want || a.Agrees == nil || !*a.Agrees) {
					t.Errorf("report %d: explain predicts %v (agrees %v), the simulator killed %d; totalpages %v (%v); reasons %q", i, deref(a.PredictedVictimPID), a.Agrees, want, deref(a.TotalPages), deref((*string)(a.TotalPagesFrom)), a.Reasons)
				}
				if r.Memcg != nil && (ev.Memcg == nil || ev.Memcg.LimitKB == nil || *ev.Memcg.LimitKB != *r.Memcg.LimitKB) {
					t.Errorf("report %d: explain memcg %+v, want limit %d kB", i, ev.Memcg, *r.Memcg.LimitKB)
				}
			}
		})
	}
}

// deref reads an optional value for a failure message; nil reads as zero.
func deref[T int | int64 | string](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
