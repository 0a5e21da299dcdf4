package oomlog

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGroupKillListsEachProcessOnce reads a real 6.1 group kill: the
// kernel prints the first victim again during the group walk, and the
// report lists every process once, the repeat not counted.
func TestGroupKillListsEachProcessOnce(t *testing.T) {
	data, err := os.ReadFile("testdata/guest-6.1-group-kill.log")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("Killed process 87 ")); n != 2 {
		t.Fatalf("fixture prints pid 87's Killed line %d times, want 2", n)
	}
	reps := parseAll(t, data)
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	r := reps[0]
	var got []int
	var group []bool
	for _, v := range r.Victims {
		got = append(got, v.PID)
		group = append(group, v.GroupKill)
	}
	if diff := cmp.Diff([]int{87, 88, 89}, got); diff != "" {
		t.Errorf("victims (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, true, true}, group); diff != "" {
		t.Errorf("group_kill flags (-want +got):\n%s", diff)
	}
	if r.GroupKillPath != "/oomkit-vmtest-group" {
		t.Errorf("group path %q", r.GroupKillPath)
	}

	// Format prints the repeat where the kernel does, and reads back the same.
	var buf bytes.Buffer
	if err := Format(&buf, r, ""); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "Killed process 87 "); n != 2 {
		t.Errorf("Format printed pid 87's Killed line %d times, want 2 (victim, then in the group walk):\n%s", n, buf.String())
	}
	back := parseAll(t, buf.Bytes())
	if len(back) != 1 || len(back[0].Victims) != 3 {
		t.Fatalf("round trip: %d reports, victims %+v", len(back), back)
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
