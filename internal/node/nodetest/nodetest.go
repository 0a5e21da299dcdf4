// Package nodetest writes fake /proc and /sys trees for the tests of
// internal/node and of the commands built on it: processes with the
// status, oom_score, cgroup, cmdline and environ files of a 6.18 kernel
// (the formats copied from this project's machines; see
// internal/proc/testdata/README.md), and two whole machines, a small
// cgroup v1 host with a Guaranteed pod (SmallMachine) and a cgroup v2
// Kubernetes node with managed runtimes (KubeNodeV2).
package nodetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/mm"
)

// Process describes one process of a fake /proc tree.
type Process struct {
	PID  int
	Comm string
	// AnonKB, FileKB and ShmemKB are RssAnon, RssFile and RssShmem;
	// SwapKB is VmSwap and PteKB VmPTE.
	AnonKB, FileKB, ShmemKB, SwapKB, PteKB int64
	// Adj is oom_score_adj.
	Adj int64
	// Memcg is the memory cgroup path ("" for the root).
	Memcg   string
	Kthread bool
	// Argv and Env are cmdline and environ.
	Argv, Env []string
	// Start is the start time in /proc/PID/stat.
	Start uint64
	// OOMScore overrides the kernel's oom_score (nil: computed as 6.18 does).
	OOMScore *int64
	// EnvironMode is the environ file's mode (0: 0400, as the kernel's).
	EnvironMode os.FileMode
}

// Host is the machine-wide part of a fake tree.
type Host struct {
	MemTotalKB, MemAvailableKB, SwapTotalKB, CommitLimitKB, CommittedKB int64
	// Release is sys/kernel/osrelease ("" leaves the file out).
	Release string
	// PSI writes pressure/memory.
	PSI bool
	// V1 mounts the memory controller on cgroup v1 (else v2).
	V1 bool
}

// DefaultHost is this project's machine: 6.18, 23.5 GiB, no swap, PSI,
// cgroup v1.
var DefaultHost = Host{
	MemTotalKB: 24684084, MemAvailableKB: 24216356, CommitLimitKB: 12342040, CommittedKB: 72048,
	Release: "6.18.44-fc-v669", PSI: true, V1: true,
}

// WriteProc writes a proc tree under root/proc and returns root/proc.
func WriteProc(tb testing.TB, root string, h Host, ps []Process) string {
	tb.Helper()
	pr := filepath.Join(root, "proc")
	w := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(pr, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			tb.Fatal(err)
		}
	}
	w("meminfo", fmt.Sprintf(`MemTotal:       %d kB
MemFree:        23498420 kB
MemAvailable:   %d kB
Buffers:           21784 kB
Cached:           841516 kB
SwapCached:            0 kB
Active:           362032 kB
Inactive:         503660 kB
Active(anon):       1560 kB
Inactive(anon):     9708 kB
Active(file):     360472 kB
Inactive(file):   493952 kB
SwapTotal:       %d kB
SwapFree:        %d kB
CommitLimit:    %d kB
Committed_AS:   %d kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
`, h.MemTotalKB, h.MemAvailableKB, h.SwapTotalKB, h.SwapTotalKB, h.CommitLimitKB, h.CommittedKB), 0o444)
	w("vmstat", "nr_free_pages 5874605\noom_kill 0\n", 0o444)
	w("mounts", "proc /proc proc rw 0 0\n", 0o444)
	w("sysvipc/shm", "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n", 0o444)
	if h.Release != "" {
		w("sys/kernel/osrelease", h.Release+"\n", 0o444)
	}
	for k, v := range map[string]string{"overcommit_memory": "0", "overcommit_ratio": "50", "overcommit_kbytes": "0",
		"oom_kill_allocating_task": "0", "panic_on_oom": "0", "swappiness": "60"} {
		w("sys/vm/"+k, v+"\n", 0o644)
	}
	if h.PSI {
		w("pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 0o444)
	}
	if h.V1 {
		w("self/mountinfo", `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`, 0o444)
	} else {
		w("self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n", 0o444)
	}
	total := h.MemTotalKB/4 + h.SwapTotalKB/4
	for _, p := range ps {
		d := fmt.Sprint(p.PID)
		var st strings.Builder
		fmt.Fprintf(&st, "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n", p.Comm, p.PID, p.PID)
		if p.Kthread {
			st.WriteString("Kthread:\t1\nThreads:\t1\n")
		} else {
			fmt.Fprintf(&st, "Kthread:\t0\nVmPeak:\t%8d kB\nVmSize:\t%8d kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t%8d kB\nVmRSS:\t%8d kB\nRssAnon:\t%8d kB\nRssFile:\t%8d kB\nRssShmem:\t%8d kB\nVmData:\t    1164 kB\nVmStk:\t     132 kB\nVmExe:\t     772 kB\nVmLib:\t    1596 kB\nVmPTE:\t%8d kB\nVmSwap:\t%8d kB\nHugetlbPages:\t       0 kB\nThreads:\t1\n",
				p.AnonKB+p.FileKB+p.ShmemKB+1024, p.AnonKB+p.FileKB+p.ShmemKB+1024, p.AnonKB+p.FileKB+p.ShmemKB, p.AnonKB+p.FileKB+p.ShmemKB,
				p.AnonKB, p.FileKB, p.ShmemKB, p.PteKB, p.SwapKB)
		}
		w(d+"/status", st.String(), 0o444)
		// smaps: the text (not charged) and a private writable heap of
		// RssAnon + 1 MiB (charged: "ac"); empty for a kernel thread.
		var sm string
		if !p.Kthread {
			heap := (p.AnonKB + 1024) * 1024
			sm = fmt.Sprintf("55d0c0000000-55d0c0100000 r-xp 00000000 fe:00 1234 /usr/bin/%s\nSize: 1024 kB\nVmFlags: rd ex mr mw me\n"+
				"7f0000000000-%x rw-p 00000000 00:00 0 \nSize: %d kB\nVmFlags: rd wr mr mw me ac\n", p.Comm, 0x7f0000000000+heap, heap/1024)
		}
		w(d+"/smaps", sm, 0o444)
		w(d+"/comm", p.Comm+"\n", 0o644)
		w(d+"/stat", fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 %d 98 0 0 0 0 0 0 0 20 0 1 0 %d 3133440 %d 18446744073709551615 0 0\n",
			p.PID, p.Comm, p.PID, p.PID, map[bool]int{true: 0x00208040, false: 0x00400100}[p.Kthread], p.Start, (p.AnonKB+p.FileKB+p.ShmemKB)/4), 0o444)
		w(d+"/oom_score_adj", fmt.Sprintf("%d\n", p.Adj), 0o644)
		var score int64
		if p.OOMScore != nil {
			score = *p.OOMScore
		} else {
			t := mm.Task{RSSPages: (p.AnonKB + p.FileKB + p.ShmemKB) / 4, SwapEnts: p.SwapKB / 4, PgtablePages: p.PteKB / 4,
				OOMScoreAdj: int(p.Adj), Unkillable: p.Kthread || p.PID == 1}
			pts, ok := mm.Badness(mm.RulesSigned, t, total)
			score = mm.OOMScore(mm.RulesSigned, pts, ok, total)
		}
		w(d+"/oom_score", fmt.Sprintf("%d\n", score), 0o444)
		cg := "/"
		if p.Memcg != "" {
			cg = p.Memcg
		}
		if h.V1 {
			w(d+"/cgroup", fmt.Sprintf("9:name=systemd:/\n4:memory:%s\n1:cpu:/\n0::/\n", cg), 0o444)
		} else {
			w(d+"/cgroup", fmt.Sprintf("0::%s\n", cg), 0o444)
		}
		w(d+"/cmdline", strings.Join(p.Argv, "\x00")+map[bool]string{true: "\x00"}[len(p.Argv) > 0], 0o444)
		mode := p.EnvironMode
		if mode == 0 {
			mode = 0o400
		}
		w(d+"/environ", strings.Join(p.Env, "\x00")+map[bool]string{true: "\x00"}[len(p.Env) > 0], mode)
	}
	return pr
}
