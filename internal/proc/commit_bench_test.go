package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkCommitSource reads every process of this machine's /proc once
// per op through each candidate source of a per-process commit charge.
// Only smaps is exact (its VmFlags name VM_ACCOUNT); the others are here
// for their cost: smaps_rollup walks the same page tables without the
// flags, status and maps do not walk them.
func BenchmarkCommitSource(b *testing.B) {
	f, err := NewFS("")
	if err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if _, err := os.ReadFile(filepath.Join("/proc", e.Name(), "smaps_rollup")); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if len(pids) == 0 {
		b.Fatal("no readable smaps_rollup, not even this process's own")
	}
	buf := make([]byte, smapsBufSize)
	for _, src := range []struct {
		name string
		read func(pid int) error
	}{
		{"smaps-ac (exact)", func(pid int) error { _, err := f.readCommit(pid, buf); return err }},
		{"smaps_rollup", func(pid int) error { _, err := readAll(f.pidPath(pid, "smaps_rollup"), buf); return err }},
		{"status", func(pid int) error { _, err := readAll(f.pidPath(pid, "status"), buf); return err }},
		{"maps", func(pid int) error { _, err := readAll(f.pidPath(pid, "maps"), buf); return err }},
	} {
		b.Run(src.name, func(b *testing.B) {
			defer reportCPU(b)()
			for b.Loop() {
				for _, pid := range pids {
					if err := src.read(pid); err != nil && !IsGone(err) {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(pids)), "µs/process")
			b.ReportMetric(float64(len(pids)), "processes")
		})
	}
}

// BenchmarkParseSmapsCommit is the parse alone, on the fixture.
func BenchmarkParseSmapsCommit(b *testing.B) {
	data, err := os.ReadFile("testdata/smaps/mappings-6.18")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseSmapsCommit(data); err != nil {
			b.Fatal(fmt.Sprint(err))
		}
	}
}
