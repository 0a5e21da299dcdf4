package mm

import "testing"

// TestAccountable checks the per-mapping table of
// Documentation/mm/overcommit-accounting.rst ("The Overcommit Accounting
// Rules"; identical in 5.4 and 6.18): which mappings a process's own
// VM_ACCOUNT pages hold.
func TestAccountable(t *testing.T) {
	for _, tc := range []struct {
		name string
		vma  VMA
		want bool
	}{
		{"private writable (malloc, brk, anonymous mmap)", VMA{Write: true}, true},
		{"private read-only (text, PROT_NONE reservation)", VMA{}, false},
		{"shared writable file", VMA{Write: true, Shared: true}, false},
		{"shared anonymous: charged to the shmem object, not the process", VMA{Write: true, Shared: true}, false},
		{"MAP_NORESERVE honoured (modes 0, 1)", VMA{Write: true, NoReserve: true}, false},
		{"hugetlb", VMA{Write: true, Hugetlb: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.vma.Accountable(); got != tc.want {
				t.Errorf("Accountable(%+v) = %v, want %v", tc.vma, got, tc.want)
			}
		})
	}
}

// TestNoReserveAndSysV: "In mode 2 the MAP_NORESERVE flag is ignored"
// (overcommit-accounting.rst); ipc/shm.c treats SHM_NORESERVE the same way.
func TestNoReserveAndSysV(t *testing.T) {
	for mode, want := range map[int]bool{OvercommitGuess: true, OvercommitAlways: true, OvercommitNever: false} {
		if got := NoReserveHonoured(mode); got != want {
			t.Errorf("NoReserveHonoured(%d) = %v, want %v", mode, got, want)
		}
		if got := SysVShmCharged(false, true, mode); got == want {
			t.Errorf("SysVShmCharged(SHM_NORESERVE, mode %d) = %v, want %v", mode, got, !want)
		}
		if !SysVShmCharged(false, false, mode) || SysVShmCharged(true, false, mode) {
			t.Errorf("mode %d: a plain segment is charged, a SHM_HUGETLB one is not", mode)
		}
	}
}

func TestProcessCommitPages(t *testing.T) {
	vmas := []VMA{
		{Pages: 100, Write: true, Account: true},    // heap
		{Pages: 33, Write: true, Account: true},     // stack
		{Pages: 7, Account: true},                   // made read-only after it was charged: still charged
		{Pages: 500, Write: true, Shared: true},     // shared anonymous
		{Pages: 1000, Write: true, NoReserve: true}, // MAP_NORESERVE in mode 0
		{Pages: 9, Write: false},                    // text
	}
	if got := ProcessCommitPages(vmas); got != 140 {
		t.Errorf("ProcessCommitPages = %d, want 140", got)
	}
	if got := ForkChargePages(140); got != 140 {
		t.Errorf("ForkChargePages = %d", got)
	}
}

// TestForkFails: a mode-2 fork needs CommitLimit headroom for the parent's
// whole commit charge (spec/kernel.md §1.6). Machine: 1000 pages of RAM,
// ratio 50, no swap: CommitLimit 500 pages; no reserves.
func TestForkFails(t *testing.T) {
	v := Version{Major: 6, Minor: 1}
	s := CommitState{TotalRAMPages: 1000, CommittedPages: 300}
	root := Caller{CapSysAdmin: true}
	never := Overcommit{Mode: OvercommitNever, Ratio: 50}
	for _, tc := range []struct {
		pages int64
		want  bool
	}{
		{199, false}, // 300 + 199 < 500
		{200, true},  // 300 + 200 = 500 is not < 500
		{0, false},
	} {
		if got := ForkFails(v, never, s, tc.pages, root); got != tc.want {
			t.Errorf("mode 2, %d pages: ForkFails = %v, want %v", tc.pages, got, tc.want)
		}
	}
	if ForkFails(v, Overcommit{Mode: OvercommitGuess}, s, 900, root) {
		t.Error("mode 0 (5.2+) fails only a request above RAM + swap")
	}
}

func TestCommitGapAndRounding(t *testing.T) {
	g := CommitGap{CommittedPages: 1000, ProcessPages: 700, Outside: Outside{SharedAnonPages: 100, SysVShmPages: 50, TmpfsPages: 25}}
	if got := g.ResidualPages(); got != 125 {
		t.Errorf("ResidualPages = %d, want 125", got)
	}
	for in, want := range map[int64]int64{0: 0, 1: 1, 4096: 1, 4097: 2, 3*4096 + 100: 4} {
		if got := PageRound(in); got != want {
			t.Errorf("PageRound(%d) = %d, want %d", in, got, want)
		}
	}
	if CommittedASExact(Version{Major: 5, Minor: 4, Patch: 286}) || !CommittedASExact(Version{Major: 5, Minor: 10}) {
		t.Error("Committed_AS is exact from 5.10 on")
	}
}

func TestCommitGapExplain(t *testing.T) {
	g := CommitGap{CommittedPages: 2560, ProcessPages: 1280, Outside: Outside{SharedAnonPages: 256, SysVShmPages: 256, TmpfsPages: 256}}
	got := g.Explain(Version{Major: 5, Minor: 4}, 3)
	want := "Committed_AS 10 MiB = processes' private writable mappings 5 MiB + shared anonymous 1 MiB + SysV shm 1 MiB + tmpfs 1 MiB + unattributed 2 MiB. Unattributed is 3 process(es) whose smaps could not be read; the per-CPU counter's lag (Committed_AS is approximate before 5.10); memfd and unlimited-tmpfs files (no file counts them); processes outside this PID namespace; processes that started or exited during the walk."
	if got != want {
		t.Errorf("Explain =\n%s\nwant\n%s", got, want)
	}
}
