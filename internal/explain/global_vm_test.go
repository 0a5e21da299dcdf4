package explain

import (
	"slices"
	"syscall"
	"testing"

	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/proc"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

// TestGlobalOOMInVM makes real 6.1 and 6.12 kernels run out of memory as a
// node does — what no test may do to this host — with processes holding
// the oom_score_adj the kubelet gives each QoS class, and checks every
// report explain reads back: a global OOM over RAM (no swap), the kernel's
// victim predicted from the task table, BestEffort (adj 1000, small) dying
// before the big adj 0 allocator, and the Guaranteed process (-997)
// surviving.
func TestGlobalOOMInVM(t *testing.T) {
	if testing.Short() && !vm.InGuest() {
		t.Skip("boots two VMs")
	}
	for _, k := range vm.TestKernels {
		t.Run(k.Name, func(t *testing.T) {
			if !vm.InGuest() {
				vmtest.RunTest(t, vm.Config{KernelPackage: k.Package})
				return
			}
			globalOOMInGuest(t)
		})
	}
}

func globalOOMInGuest(t *testing.T) {
	fs, err := proc.NewFS("")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := fs.Meminfo()
	if err != nil || mem.MemTotalKB == nil {
		t.Fatalf("meminfo: %v", err)
	}
	if mem.SwapTotalKB != nil && *mem.SwapTotalKB != 0 {
		t.Fatalf("the guest has %d kB of swap; this test wants RAM only", *mem.SwapTotalKB)
	}
	rd, err := kmsg.Open(kmsg.DefaultPath, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if err := rd.SeekEnd(); err != nil {
		t.Fatal(err)
	}

	stay := func(int) error { return nil } // the root cgroup: the whole node
	// With ~119k pages of RAM, adj 200 adds ~24k pages: the 32 MiB
	// Burstable process scores below the allocator once it passes ~130 MiB,
	// long before RAM runs out; adj 1000 puts BestEffort above everything.
	guaranteed := startChild(t, stay, 64, -997, true)
	burstable := startChild(t, stay, 32, 200, true)
	bestEffort := startChild(t, stay, 4, 1000, true)
	hog := startChild(t, stay, 0, 0, false)
	_ = hog.cmd.Wait()
	_ = bestEffort.cmd.Wait()

	reps, _ := readReports(t, rd)
	if len(reps) < 2 {
		t.Fatalf("%d OOM reports, want at least 2 (BestEffort, then the allocator)", len(reps))
	}
	totalpages := *mem.MemTotalKB / 4
	var victims []int
	for i, r := range reps {
		e := Explain(r, Options{PriorVictims: victims})
		a := e.Analysis
		if e.OOMKind == nil || *e.OOMKind != OOMGlobal || deref(e.Constraint) != "CONSTRAINT_NONE" {
			t.Errorf("report %d: oom_kind %v constraint %v, want global / CONSTRAINT_NONE", i, deref(e.OOMKind), deref(e.Constraint))
		}
		if deref(a.TotalPages) != totalpages {
			t.Errorf("report %d: totalpages %d, want RAM %d pages", i, deref(a.TotalPages), totalpages)
		}
		if !deref(a.Agrees) {
			t.Errorf("report %d: kernel killed %d, model predicted %d: %s", i, deref(a.KernelVictimPID), deref(a.PredictedVictimPID), a.Summary)
		}
		if e.Tasks == nil {
			t.Errorf("report %d has no task table", i)
		}
		victims = append(victims, deref(a.KernelVictimPID))
		t.Logf("report %d: %s", i, a.Summary)
	}
	if victims[0] != bestEffort.cmd.Process.Pid {
		t.Errorf("first victim %d, want the BestEffort process %d (adj 1000)", victims[0], bestEffort.cmd.Process.Pid)
	}
	if !slices.Contains(victims, hog.cmd.Process.Pid) {
		t.Errorf("victims %v do not include the allocator %d", victims, hog.cmd.Process.Pid)
	}
	if slices.Contains(victims, guaranteed.cmd.Process.Pid) {
		t.Errorf("the Guaranteed process (adj -997) was killed: victims %v", victims)
	}
	_ = burstable // may die in a second kill while the allocator's memory is being freed
	if err := guaranteed.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the Guaranteed process is gone: %v", err)
	}
}
