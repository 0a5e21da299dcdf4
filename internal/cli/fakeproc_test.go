package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/mm"
)

// fakeProcess describes one process of a fake /proc tree. The files are
// written in the formats of a 6.18 kernel (copied from this project's
// machines; see testdata/README.md).
type fakeProcess struct {
	pid                                    int
	comm                                   string
	anonKB, fileKB, shmemKB, swapKB, pteKB int64
	adj                                    int64
	memcg                                  string
	kthread                                bool
	argv, env                              []string
	start                                  uint64
	// oomScore overrides the kernel's oom_score (nil: computed as 6.18 does).
	oomScore *int64
	// environMode is the environ file's mode (0: 0400, as the kernel's).
	environMode os.FileMode
}

// fakeHost is the machine-wide part of a fake tree.
type fakeHost struct {
	memTotalKB, memAvailableKB, swapTotalKB, commitLimitKB, committedKB int64
	release                                                             string
	psi                                                                 bool
	v1                                                                  bool // memory controller on v1 (else v2)
}

var defaultFakeHost = fakeHost{
	memTotalKB: 24684084, memAvailableKB: 24216356, commitLimitKB: 12342040, committedKB: 72048,
	release: "6.18.44-fc-v669", psi: true, v1: true,
}

// writeFakeProc writes a proc tree under root/proc and returns root/proc.
func writeFakeProc(tb testing.TB, root string, h fakeHost, ps []fakeProcess) string {
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
`, h.memTotalKB, h.memAvailableKB, h.swapTotalKB, h.swapTotalKB, h.commitLimitKB, h.committedKB), 0o444)
	w("vmstat", "nr_free_pages 5874605\noom_kill 0\n", 0o444)
	w("mounts", "proc /proc proc rw 0 0\n", 0o444)
	w("sysvipc/shm", "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n", 0o444)
	w("sys/kernel/osrelease", h.release+"\n", 0o444)
	for k, v := range map[string]string{"overcommit_memory": "0", "overcommit_ratio": "50", "overcommit_kbytes": "0",
		"oom_kill_allocating_task": "0", "panic_on_oom": "0", "swappiness": "60"} {
		w("sys/vm/"+k, v+"\n", 0o644)
	}
	if h.psi {
		w("pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 0o444)
	}
	if h.v1 {
		w("self/mountinfo", `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`, 0o444)
	} else {
		w("self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n", 0o444)
	}
	total := h.memTotalKB/4 + h.swapTotalKB/4
	for _, p := range ps {
		d := fmt.Sprint(p.pid)
		var st strings.Builder
		fmt.Fprintf(&st, "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n", p.comm, p.pid, p.pid)
		if p.kthread {
			st.WriteString("Kthread:\t1\nThreads:\t1\n")
		} else {
			fmt.Fprintf(&st, "Kthread:\t0\nVmPeak:\t%8d kB\nVmSize:\t%8d kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t%8d kB\nVmRSS:\t%8d kB\nRssAnon:\t%8d kB\nRssFile:\t%8d kB\nRssShmem:\t%8d kB\nVmData:\t    1164 kB\nVmStk:\t     132 kB\nVmExe:\t     772 kB\nVmLib:\t    1596 kB\nVmPTE:\t%8d kB\nVmSwap:\t%8d kB\nHugetlbPages:\t       0 kB\nThreads:\t1\n",
				p.anonKB+p.fileKB+p.shmemKB+1024, p.anonKB+p.fileKB+p.shmemKB+1024, p.anonKB+p.fileKB+p.shmemKB, p.anonKB+p.fileKB+p.shmemKB,
				p.anonKB, p.fileKB, p.shmemKB, p.pteKB, p.swapKB)
		}
		w(d+"/status", st.String(), 0o444)
		// smaps: the text (not charged) and a private writable heap of
		// RssAnon + 1 MiB (charged: "ac"); empty for a kernel thread.
		var sm string
		if !p.kthread {
			heap := (p.anonKB + 1024) * 1024
			sm = fmt.Sprintf("55d0c0000000-55d0c0100000 r-xp 00000000 fe:00 1234 /usr/bin/%s\nSize: 1024 kB\nVmFlags: rd ex mr mw me\n"+
				"7f0000000000-%x rw-p 00000000 00:00 0 \nSize: %d kB\nVmFlags: rd wr mr mw me ac\n", p.comm, 0x7f0000000000+heap, heap/1024)
		}
		w(d+"/smaps", sm, 0o444)
		w(d+"/comm", p.comm+"\n", 0o644)
		w(d+"/stat", fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 %d 98 0 0 0 0 0 0 0 20 0 1 0 %d 3133440 %d 18446744073709551615 0 0\n",
			p.pid, p.comm, p.pid, p.pid, map[bool]int{true: 0x00208040, false: 0x00400100}[p.kthread], p.start, (p.anonKB+p.fileKB+p.shmemKB)/4), 0o444)
		w(d+"/oom_score_adj", fmt.Sprintf("%d\n", p.adj), 0o644)
		var score int64
		if p.oomScore != nil {
			score = *p.oomScore
		} else {
			t := mm.Task{RSSPages: (p.anonKB + p.fileKB + p.shmemKB) / 4, SwapEnts: p.swapKB / 4, PgtablePages: p.pteKB / 4,
				OOMScoreAdj: int(p.adj), Unkillable: p.kthread || p.pid == 1}
			pts, ok := mm.Badness(mm.RulesSigned, t, total)
			score = mm.OOMScore(mm.RulesSigned, pts, ok, total)
		}
		w(d+"/oom_score", fmt.Sprintf("%d\n", score), 0o444)
		cg := "/"
		if p.memcg != "" {
			cg = p.memcg
		}
		if h.v1 {
			w(d+"/cgroup", fmt.Sprintf("9:name=systemd:/\n4:memory:%s\n1:cpu:/\n0::/\n", cg), 0o444)
		} else {
			w(d+"/cgroup", fmt.Sprintf("0::%s\n", cg), 0o444)
		}
		w(d+"/cmdline", strings.Join(p.argv, "\x00")+map[bool]string{true: "\x00"}[len(p.argv) > 0], 0o444)
		mode := p.environMode
		if mode == 0 {
			mode = 0o400
		}
		w(d+"/environ", strings.Join(p.env, "\x00")+map[bool]string{true: "\x00"}[len(p.env) > 0], mode)
	}
	return pr
}
