package node

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/internal/vm/vmtest"
)

// envHolder makes the test binary a process that sets its oom_score_adj,
// touches some memory, says "ready" and waits to be killed. Its value is
// "MiB,adj".
const envHolder = "OOMKIT_NODETEST_HOLD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(envHolder); spec != "" {
		hold(spec)
	}
	if os.Getenv(envForkHelper) == "1" {
		forkHelper()
	}
	os.Exit(m.Run())
}

// hold is the holder process: adj first (a negative one needs
// CAP_SYS_RESOURCE, which the guest's root has), then the memory.
func hold(spec string) {
	mibText, adj, _ := strings.Cut(spec, ",")
	mib, err := strconv.Atoi(mibText)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(3)
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(3)
	}
	b, err := syscall.Mmap(-1, 0, mib<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(3)
	}
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 1
	}
	fmt.Println("ready")
	time.Sleep(time.Hour) // not select{}: the runtime would call that a deadlock
	os.Exit(0)
}

// TestRankAgreesWithKernelInVM is TestRankAgreesWithKernel on
// other kernels, with what this host cannot set up: negative
// oom_score_adj (the kubelet's -997 and -998, -500, -1000) next to 0, 500,
// 999 and 1000, in guests running 6.1 and 6.12.
func TestRankAgreesWithKernelInVM(t *testing.T) {
	if testing.Short() && !vm.InGuest() {
		t.Skip("boots two VMs")
	}
	for _, k := range vm.TestKernels {
		t.Run(k.Name, func(t *testing.T) {
			if !vm.InGuest() {
				vmtest.RunTest(t, vm.Config{KernelPackage: k.Package})
				return
			}
			rankAgreesInGuest(t)
		})
	}
}

// rankAgreesInGuest starts holders with every kind of oom_score_adj, then
// checks the model against the guest kernel's oom_score for every process.
func rankAgreesInGuest(t *testing.T) {
	holders := []struct{ mib, adj int }{
		{48, -997}, {40, -998}, {24, -500}, {32, 0}, {16, 500}, {4, 999}, {20, 1000}, {64, -1000},
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	byPID := map[int]int{} // pid → adj
	for _, hd := range holders {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d", envHolder, hd.mib, hd.adj))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("holder %d MiB adj %d: %q, %v", hd.mib, hd.adj, line, err)
		}
		byPID[cmd.Process.Pid] = hd.adj
	}

	h, err := Open(cgroup.Roots{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := h.Rank("", RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s, rules %s, %d CPUs, %d processes, oom_score lag up to %d points", snap.Kernel, snap.Rules.ID(), h.CPUs, len(snap.Processes), snap.OOMScoreLag)
	// 6.1 keeps per-task RSS caches that status and the OOM killer read
	// alike: exact. 6.2+ has per-CPU counters: a bounded lag, never zero.
	if exact := !snap.Kernel.AtLeast(6, 2, 0); exact != (snap.OOMScoreLag == 0) {
		t.Errorf("kernel %s: oom_score lag %d points", snap.Kernel, snap.OOMScoreLag)
	}
	checkModelAgrees(t, h, snap)

	seen := 0
	for _, r := range snap.Processes {
		adj, ok := byPID[r.PID]
		if !ok {
			continue
		}
		seen++
		if int(r.OOMScoreAdj) != adj {
			t.Errorf("pid %d: oom_score_adj %d, the holder set %d", r.PID, r.OOMScoreAdj, adj)
		}
		t.Logf("pid %d adj %5d: oom_score %4d model %4d rank %v", r.PID, adj, r.OOMScore, r.ModelOOMScore, rankText(r.Rank))
		if adj == -1000 && (r.Rank != nil || r.OOMScore != 0) {
			t.Errorf("pid %d with adj -1000: rank %v oom_score %d, want never chosen and 0", r.PID, rankText(r.Rank), r.OOMScore)
		}
	}
	if seen != len(holders) {
		t.Errorf("found %d of %d holders in the snapshot", seen, len(holders))
	}
	if first := snap.Processes[0]; byPID[first.PID] != 1000 {
		t.Errorf("rank 1 is pid %d (%s, adj %d), want the adj 1000 holder", first.PID, first.Comm, first.OOMScoreAdj)
	}
}

func rankText(r *int) string {
	if r == nil {
		return "-"
	}
	return strconv.Itoa(*r)
}
