package oomlog

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGroupKillListsEachProcessOnce reads real group kills from a 6.1 and
// a 6.12 guest: the kernel prints the chosen victim again during the group
// walk (first in the walk on 6.1, last on 6.12, wherever the cgroup's task
// list has it), and the report lists every process once, the repeat not
// counted.
func TestGroupKillListsEachProcessOnce(t *testing.T) {
	for _, tc := range []struct {
		file   string
		victim int
		want   []int
	}{
		{"testdata/guest-6.1-group-kill.log", 87, []int{87, 88, 89}},
		{"testdata/guest-6.12-group-kill.log", 136, []int{136, 134, 135}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			killed := fmt.Sprintf("Killed process %d ", tc.victim)
			if n := bytes.Count(data, []byte(killed)); n != 2 {
				t.Fatalf("fixture prints pid %d's Killed line %d times, want 2", tc.victim, n)
			}
			reps := parseAll(t, data)
			if len(reps) != 1 {
				t.Fatalf("%d reports, want 1", len(reps))
			}
			r := reps[0]
			last := 0 // the report ends at the last Killed line
			for i, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, "Killed process") {
					last = i + 1
				}
			}
			if r.FirstLine != 1 || r.LastLine != last {
				t.Errorf("report spans lines %d-%d, want 1-%d (the repeated Killed line included)", r.FirstLine, r.LastLine, last)
			}
			var got []int
			var group []bool
			for _, v := range r.Victims {
				got = append(got, v.PID)
				group = append(group, v.GroupKill)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("victims (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]bool{false, true, true}, group); diff != "" {
				t.Errorf("group_kill flags (-want +got):\n%s", diff)
			}
			if r.GroupKillPath != "/oomkit-vmtest-group" {
				t.Errorf("group path %q", r.GroupKillPath)
			}
			if r.RepeatedKills != 1 {
				t.Errorf("repeated kills %d, want 1 (the victim's second Killed line)", r.RepeatedKills)
			}

			// Format prints the repeat in the group walk too, and reads back the same.
			var buf bytes.Buffer
			if err := Format(&buf, r, ""); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(buf.String(), killed); n != 2 {
				t.Errorf("Format printed pid %d's Killed line %d times, want 2 (victim, then in the group walk):\n%s", tc.victim, n, buf.String())
			}
			back := parseAll(t, buf.Bytes())
			if len(back) != 1 || len(back[0].Victims) != 3 {
				t.Fatalf("round trip: %d reports, victims %+v", len(back), back)
			}
			if back[0].RepeatedKills != r.RepeatedKills {
				t.Errorf("round trip repeated kills %d, want %d", back[0].RepeatedKills, r.RepeatedKills)
			}
			if diff := cmp.Diff(r.Victims, back[0].Victims); diff != "" {
				t.Errorf("round trip victims (-read +formatted):\n%s", diff)
			}
		})
	}
}

func parseAll(t *testing.T, data []byte) []*Report {
	t.Helper()
	s := NewScanner(bytes.NewReader(data), Options{})
	var reps []*Report
	for s.Scan() {
		reps = append(reps, s.Report())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return reps
}
