package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/oomkit/oomkit/internal/node/nodetest"
)

// BenchmarkTopCommit10k is BenchmarkTopOnceJSON10k's 10,000-process tree
// with and without --commit, in the same run. Each fake process has a
// real smaps (internal/proc's 19-mapping fixture): the difference is
// oomkit's own cost of the column (open, read to EOF, parse); on the real
// /proc the kernel's page-table walk comes on top (BenchmarkTopRealProcCommit,
// and BenchmarkCommitSource in internal/proc).
func BenchmarkTopCommit10k(b *testing.B) {
	root := b.TempDir()
	ps := make([]nodetest.Process, 10000)
	for i := range ps {
		ps[i] = nodetest.Process{PID: 100 + i, Comm: fmt.Sprintf("worker-%d", i), AnonKB: int64(1000 + i*7%50000), FileKB: int64(i % 3000),
			PteKB: 40 + int64(i%100)*4, Adj: int64(i%3)*500 - 500, Start: uint64(i),
			Memcg: fmt.Sprintf("/kubepods/burstable/pod%08x-ea16-463a-96c2-fc74acfb9c47/%064x", i/10, i)}
	}
	procRoot := nodetest.WriteProc(b, root, nodetest.DefaultHost, ps)
	smaps, err := os.ReadFile("../proc/testdata/smaps/mappings-6.18")
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range ps {
		must(b, os.WriteFile(filepath.Join(procRoot, fmt.Sprint(p.PID), "smaps"), smaps, 0o444))
	}
	sysRoot := filepath.Join(root, "sys")
	mem := filepath.Join(sysRoot, "fs/cgroup/memory")
	for _, p := range ps {
		dir := filepath.Join(mem, p.Memcg)
		must(b, os.MkdirAll(dir, 0o755))
		must(b, os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprintf("%d\n", p.PID)), 0o644))
	}
	for _, d := range []string{"", "kubepods", "kubepods/burstable"} {
		must(b, os.WriteFile(filepath.Join(mem, d, "cgroup.procs"), nil, 0o644))
	}
	for _, commit := range []bool{false, true} {
		b.Run(fmt.Sprintf("commit=%v", commit), func(b *testing.B) {
			args := []string{"top", "--once", "--json", "--proc-root", procRoot, "--sys-root", sysRoot}
			if commit {
				args = append(args, "--commit")
			}
			defer reportCPU(b)()
			for b.Loop() {
				var out, errb bytes.Buffer
				if code := Main(args, nil, &out, &errb); code != 0 {
					b.Fatalf("exit %d: %s", code, errb.String())
				}
				if commit && !bytes.Contains(out.Bytes(), []byte(`"commit_bytes":765952`)) {
					b.Fatal("no commit_bytes in the output")
				}
			}
		})
	}
}

// BenchmarkTopRealProcCommit is 'top --once --json' on this machine's
// /proc without and with --commit: the kernel's smaps walk included.
func BenchmarkTopRealProcCommit(b *testing.B) {
	for _, commit := range []bool{false, true} {
		b.Run(fmt.Sprintf("commit=%v", commit), func(b *testing.B) {
			args := []string{"top", "--once", "--json"}
			if commit {
				args = append(args, "--commit")
			}
			defer reportCPU(b)()
			for b.Loop() {
				var out, errb bytes.Buffer
				if code := Main(args, nil, &out, &errb); code != 0 {
					b.Fatalf("exit %d: %s", code, errb.String())
				}
			}
		})
	}
}
