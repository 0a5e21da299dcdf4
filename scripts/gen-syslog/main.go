// Command gen-syslog writes the benchmark syslog for scripts/bench-explain.sh:
// a busy Kubernetes node's /var/log/syslog of realistic unrelated lines
// (systemd, kubelet, containerd, sshd, cron, kernel network and storage
// messages) with the real kernel OOM reports of
// internal/oomlog/testdata/corpus spliced in at regular intervals.
//
//	go run ./scripts/gen-syslog -size 256 -o /tmp/syslog   # write the file
//	go run ./scripts/gen-syslog -scan /tmp/syslog          # count reports with oomlog.Scanner
//
// The output is deterministic for a given -seed, so timings compare.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/oomlog"
)

func main() {
	var (
		sizeMiB = flag.Int("size", 256, "size of the file to write, in MiB")
		out     = flag.String("o", "", "file to write (required unless -scan)")
		corpus  = flag.String("corpus", "internal/oomlog/testdata/corpus", "directory of *.log kernel reports to splice in")
		every   = flag.Int("every", 20000, "splice one report after this many unrelated lines")
		seed    = flag.Int64("seed", 1, "random seed")
		scan    = flag.String("scan", "", "instead of writing, read this file with oomlog.Scanner and print the report count and time")
	)
	flag.Parse()
	var err error
	switch {
	case *scan != "":
		err = scanFile(*scan)
	case *out == "":
		err = fmt.Errorf("-o FILE is required (or -scan FILE)")
	default:
		err = generate(*out, *corpus, int64(*sizeMiB)<<20, *every, *seed)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen-syslog: %v\n", err)
		os.Exit(1)
	}
}

// scanFile times oomlog.Scanner over path: the fallback measurement when
// the oomkit binary has no explain command.
func scanFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	start := time.Now()
	s := oomlog.NewScanner(f, oomlog.Options{})
	n := 0
	for s.Scan() {
		n++
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	st := s.Stats()
	fmt.Printf("reports=%d lines=%d seconds=%.3f\n", n, st.Lines, time.Since(start).Seconds())
	return nil
}

// reports loads the corpus files as syslog lines: lines that carry no
// syslog prefix of their own get the kernel's.
func reports(dir string) ([][]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no *.log reports in %s (run from the repository root or pass -corpus)", dir)
	}
	var out [][]string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if len(l) < 16 || l[3] != ' ' || l[6] != ' ' || l[9] != ':' {
				l = "Jan 16 21:33:51 node-1 kernel: " + l
			}
			lines = append(lines, l)
		}
		out = append(out, lines)
	}
	return out, nil
}

var months = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// noise writes one unrelated syslog line.
func noise(w *bufio.Writer, rng *rand.Rand, i int) {
	ts := fmt.Sprintf("%s %2d %02d:%02d:%02d", months[(i/50000000)%12], 1+(i/2000000)%28, (i/150000)%24, (i/2500)%60, (i/40)%60)
	up := float64(i) / 400
	pid := 1000 + rng.Intn(60000)
	switch rng.Intn(16) {
	case 0, 1, 2:
		fmt.Fprintf(w, "%s node-1 kubelet[2211]: I0116 21:33:51.%06d    2211 kubelet.go:%d] \"SyncLoop (PLEG): event for pod\" pod=\"default/web-6d4cf56db6-%05x\" event={\"ID\":\"%08x-9b08-4fc1-b8af-fed0810cc5c2\",\"Type\":\"ContainerStarted\"}\n", ts, rng.Intn(1e6), 2000+rng.Intn(500), rng.Intn(1<<20), rng.Uint32())
	case 3, 4:
		fmt.Fprintf(w, "%s node-1 containerd[987]: time=\"2024-01-16T21:33:51.%09dZ\" level=info msg=\"StartContainer for \\\"%016x\\\" returns successfully\"\n", ts, rng.Intn(1e9), rng.Uint64())
	case 5:
		fmt.Fprintf(w, "%s node-1 systemd[1]: Started Session %d of User azureuser.\n", ts, rng.Intn(100000))
	case 6:
		fmt.Fprintf(w, "%s node-1 CRON[%d]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)\n", ts, pid)
	case 7:
		fmt.Fprintf(w, "%s node-1 sshd[%d]: Accepted publickey for azureuser from 10.0.%d.%d port %d ssh2: RSA SHA256:%016x\n", ts, pid, rng.Intn(256), rng.Intn(256), 1024+rng.Intn(60000), rng.Uint64())
	case 8:
		fmt.Fprintf(w, "%s node-1 kernel: [%12.6f] IPv6: ADDRCONF(NETDEV_CHANGE): veth%07x: link becomes ready\n", ts, up, rng.Intn(1<<28))
	case 9:
		fmt.Fprintf(w, "%s node-1 kernel: [%12.6f] cni0: port %d(veth%08x) entered forwarding state\n", ts, up, 1+rng.Intn(30), rng.Uint32())
	case 10:
		fmt.Fprintf(w, "%s node-1 kernel: [%12.6f] EXT4-fs (sda1): re-mounted. Opts: discard. Quota mode: none.\n", ts, up)
	case 11:
		fmt.Fprintf(w, "%s node-1 kubelet[2211]: W0116 21:33:51.%06d    2211 eviction_manager.go:%d] eviction manager: memory available %dMi, threshold 100Mi\n", ts, rng.Intn(1e6), 300+rng.Intn(100), 200+rng.Intn(4000))
	case 12:
		fmt.Fprintf(w, "%s node-1 dockerd[%d]: time=\"2024-01-16T21:33:51Z\" level=warning msg=\"Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.\"\n", ts, pid)
	case 13:
		fmt.Fprintf(w, "%s node-1 kernel: [%12.6f] audit: type=1400 audit(%d.%03d:%d): apparmor=\"STATUS\" operation=\"profile_replace\" profile=\"unconfined\" name=\"cri-containerd.apparmor.d\" pid=%d comm=\"apparmor_parser\"\n", ts, up, 1700000000+i/400, rng.Intn(1000), rng.Intn(1000), pid)
	case 14:
		fmt.Fprintf(w, "%s node-1 systemd[1]: kubepods-burstable-pod%08x.slice: Consumed %d.%03ds CPU time, %d.%dM memory peak.\n", ts, rng.Uint32(), rng.Intn(100), rng.Intn(1000), rng.Intn(900), rng.Intn(10))
	default:
		fmt.Fprintf(w, "%s node-1 kernel: [%12.6f] TCP: request_sock_TCP: Possible SYN flooding on port %d. Sending cookies.\n", ts, up, 1024+rng.Intn(60000))
	}
}

func generate(path, corpus string, size int64, every int, seed int64) error {
	reps, err := reports(corpus)
	if err != nil {
		return err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewSource(seed))
	var written int64
	spliced, lines := 0, 0
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	for i := 0; written < size; i++ {
		noise(bw, rng, i)
		lines++
		if i > 0 && i%every == 0 {
			for _, l := range reps[spliced%len(reps)] {
				// bufio.Writer keeps the first error; Flush below reports it.
				_, _ = bw.WriteString(l)
				_ = bw.WriteByte('\n')
				lines++
			}
			spliced++
		}
		if i%4096 == 0 {
			bw.Flush()
			written = cw.n
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen-syslog: wrote %s: %d MiB, %d lines, %d reports spliced from %d files\n", path, cw.n>>20, lines, spliced, len(reps))
	return nil
}

type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
