package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/kmsg"
)

// runCLI runs oomkit in-process.
func runCLI(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, bytes.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func twist1(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../explain/samples/twist-1.log")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExplainGolden pins the readable and JSON output on the bundled real
// reports (go test ./internal/cli -run ExplainGolden -update rewrites).
func TestExplainGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"twist-1", []string{"explain", "--sample", "twist-1"}},
		{"twist-2", []string{"explain", "--sample", "twist-2"}},
		{"twist-1-assume-6.1", []string{"explain", "--sample", "twist-1", "--assume-kernel", "6.1.0"}},
		{"twist-2-assume-6.1", []string{"explain", "--sample", "twist-2", "--assume-kernel", "6.1.0"}},
		{"twist-1-verbose", []string{"explain", "--sample", "twist-1", "--verbose"}},
		{"twist-1-json", []string{"explain", "--sample", "twist-1", "--json"}},
		{"real-6.18-cgroup-v1", []string{"explain", "--sample", "real-6.18-cgroup-v1"}},
		{"arch-6.1-global-top3", []string{"explain", "--sample", "arch-6.1-global", "--top", "3"}},
		{"proxmox-5.15-cgroup-v2", []string{"explain", "--sample", "proxmox-5.15-cgroup-v2"}},
		{"rhel7-global", []string{"explain", "--sample", "rhel7-global"}},
		{"docker-4.8-v1", []string{"explain", "--sample", "docker-4.8-v1"}},
		{"list-samples", []string{"explain", "--list-samples"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			golden(t, filepath.Join("testdata", "explain", tt.name+".golden"), []byte(out))
		})
	}
}

// TestExplainTwists checks the article's point end to end: the model
// reproduces the kernel's choice and, assuming a 6.1 kernel, picks the big
// process.
func TestExplainTwists(t *testing.T) {
	for _, tt := range []struct {
		sample, assume string
		predicted      int
		agrees         bool
	}{
		{"twist-1", "", 14300, true},
		{"twist-2", "", 31082, true},
		{"twist-1", "6.1.0", 15976, false},
		{"twist-2", "6.1.0", 30548, false},
	} {
		t.Run(tt.sample+tt.assume, func(t *testing.T) {
			args := []string{"explain", "--json", "--sample", tt.sample}
			if tt.assume != "" {
				args = append(args, "--assume-kernel", tt.assume)
			}
			code, out, errOut := runCLI(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var e struct {
				Analysis struct {
					PredictedVictimPID int    `json:"predicted_victim_pid"`
					Agrees             bool   `json:"agrees"`
					Summary            string `json:"summary"`
				} `json:"analysis"`
			}
			if err := json.Unmarshal([]byte(out), &e); err != nil {
				t.Fatal(err)
			}
			got := []any{e.Analysis.PredictedVictimPID, e.Analysis.Agrees}
			if diff := cmp.Diff([]any{tt.predicted, tt.agrees}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			want := "clamped to 1"
			if tt.assume != "" {
				want = "would have chosen differently"
			}
			if !strings.Contains(e.Analysis.Summary, want) {
				t.Errorf("summary lacks %q: %s", want, e.Analysis.Summary)
			}
		})
	}
}

// TestExplainBadInput feeds hostile input end to end: a one-line message
// or a warning, the documented exit code, never a panic.
func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	tw := twist1(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 1<<20)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	lines := strings.SplitAfter(string(tw), "\n")
	withNUL := strings.Replace(string(tw), "-997 bash", "-997 ba\x00sh", 1)
	badUTF8 := strings.Replace(string(tw), "-997 bash", "-997 b\xff\xfeash", 1)
	long := append(bytes.Repeat([]byte("A"), 10<<20), '\n')
	long = append(long, tw...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	cutGz := gz.Bytes()[:gz.Len()/2]

	tests := []struct {
		name      string
		args      []string
		stdin     []byte
		code      int
		events    int    // OOM kill headers on stdout
		stderrHas string // "" means stderr must be empty
		stdoutHas string
	}{
		{"garbage", []string{write("garbage.log", garbage)}, nil, 0, 0, "no OOM-killer report", ""},
		{"NUL bytes", []string{write("nul.log", []byte(withNUL))}, nil, 0, 1, "1 line in or next to a report could not be read", `ba\x00sh`},
		{"invalid UTF-8", []string{write("utf8.log", []byte(badUTF8))}, nil, 0, 1, "1 line in or next to a report could not be read", `b\xff\xfeash`},
		{"10 MB line", []string{write("long.log", long)}, nil, 0, 1, "1 line longer than the 64 KiB limit was cut", "pid 14300"},
		{"truncated report", []string{write("cut.log", []byte(strings.Join(lines[:16], "")))}, nil, 0, 1, "", "cut off before the kill"},
		{"empty file", []string{write("empty.log", nil)}, nil, 0, 0, "no OOM-killer report in", ""},
		{"empty stdin", []string{"-"}, nil, 0, 0, "no OOM-killer report in -", ""},
		{"stdin", []string{"-"}, tw, 0, 1, "", "pid 14300"},
		{"gzip stdin", []string{"-"}, gz.Bytes(), 0, 1, "", "pid 14300"},
		{"gzip file", []string{write("kern.log.gz", gz.Bytes())}, nil, 0, 1, "", "pid 14300"},
		{"missing file", []string{filepath.Join(dir, "nope.log")}, nil, 1, 0, "no such file or directory (check the path", ""},
		{"directory", []string{dir}, nil, 1, 0, "is a directory", ""},
		{".gz that is not gzip", []string{write("plain.gz", tw)}, nil, 1, 0, "not gzip data although the name ends in .gz", ""},
		{"cut gzip", []string{write("cut.gz", cutGz)}, nil, 1, 1, "unexpected EOF", ""},
		{"one of two missing", []string{filepath.Join(dir, "nope.log"), write("ok.log", tw)}, nil, 1, 1, "nope.log: no such file", "pid 14300"},
		{"kmsg path missing", []string{"--kmsg-path", filepath.Join(dir, "no-kmsg")}, nil, 1, 0, "pass a log file: oomkit explain /var/log/kern.log", ""},
		{"kmsg path is /dev/null", []string{"--kmsg-path", "/dev/null"}, nil, 0, 0, "no OOM-killer report in /dev/null (0 records read;", ""},
		{"kmsg path is not a kmsg device", []string{"--kmsg-path", write("fake-kmsg", garbage[:4096])}, nil, 0, 0, "malformed /dev/kmsg record", ""},
		{"bad --assume-kernel", []string{"--sample", "twist-1", "--assume-kernel", "five"}, nil, 2, 0, "--assume-kernel: kernel version \"five\"", ""},
		{"--top 0", []string{"--sample", "twist-1", "--top", "0"}, nil, 2, 0, "--top 0: want 1 or more", ""},
		{"unknown sample", []string{"--sample", "nope"}, nil, 2, 0, "samples: arch-6.1-global", ""},
		{"--follow with a file", []string{"--follow", write("f.log", tw)}, nil, 2, 0, "--follow reads this machine's kernel log", ""},
		{"--sample with a file", []string{"--sample", "twist-1", "x.log"}, nil, 2, 0, "it takes no FILE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.stdin, append([]string{"explain"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, errOut)
			}
			if n := strings.Count(out, "OOM kill #"); n != tt.events {
				t.Errorf("%d events on stdout, want %d", n, tt.events)
			}
			if tt.stderrHas == "" && errOut != "" {
				t.Errorf("stderr %q, want none", errOut)
			}
			if !strings.Contains(errOut, tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderrHas)
			}
			if tt.code != 0 && strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", errOut)
			}
			if !strings.Contains(out, tt.stdoutHas) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdoutHas, out)
			}
		})
	}
}

// TestExplainJSONLines checks that --json prints one valid oomkit.event/v1
// object per line, and nothing when the log holds no report.
func TestExplainJSONLines(t *testing.T) {
	code, out, _ := runCLI(t, nil, "explain", "--json", "--sample", "docker-4.8-v1")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if m["schema"] != "oomkit.event/v1" {
			t.Errorf("line %d: schema %v", n+1, m["schema"])
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d JSON lines, want 2 (the sample has two OOM kills)", n)
	}
	code, out, errOut := runCLI(t, []byte("no oom here\n"), "explain", "--json", "-")
	if code != 0 || out != "" || !strings.Contains(errOut, "no OOM-killer report") {
		t.Errorf("no report: exit %d, stdout %q, stderr %q; want 0, nothing, a note", code, out, errOut)
	}
}

// TestExplainKmsg reads this machine's real /dev/kmsg (root) through the
// CLI: it must finish without waiting and exit 0.
func TestExplainKmsg(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Skip(t, "reading /dev/kmsg needs root")
	}
	code, out, errOut := runCLI(t, nil, "explain", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.HasPrefix(l, `{"schema":"oomkit.event/v1"`) {
			t.Errorf("not an event: %.100s", l)
		}
	}
}

// TestExplainUnprivileged runs oomkit explain as nobody, for real: the
// kernel refuses /dev/kmsg (kernel.dmesg_restrict) and a root-only log,
// and oomkit says what to do in one line.
func TestExplainUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Skip(t, "needs root to switch to nobody")
	}
	dir, err := os.MkdirTemp("", "oomkit-explain-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cli.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "root-only.log")
	if err := os.WriteFile(secret, twist1(t), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"kmsg", nil, "oomkit: open /dev/kmsg: operation not permitted (run as root, or pass a log file: oomkit explain /var/log/kern.log)\n"},
		{"root-only file", []string{secret}, "oomkit: open " + secret + ": permission denied (run as root, or copy the log somewhere readable)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if b, _ := os.ReadFile("/proc/sys/kernel/dmesg_restrict"); tt.args == nil && strings.TrimSpace(string(b)) != "1" {
				kerneltest.Skip(t, "kernel.dmesg_restrict is not 1: nobody may read /dev/kmsg here")
			}
			explainAsNobody(t, bin, tt.args, tt.want)
		})
	}
}

// explainAsNobody runs oomkit explain args as nobody and wants exit 1 with
// the one-line error want.
func explainAsNobody(t *testing.T, bin string, args []string, want string) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestExplainHelperProcess$")
	cmd.Env = append(os.Environ(), "OOMKIT_EXPLAIN_HELPER="+strings.Join(append([]string{"explain"}, args...), "\x1f"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("%v: %v, want exit 1 (stderr %q)", args, err, errOut.String())
	}
	if diff := cmp.Diff(want, errOut.String()); diff != "" {
		t.Errorf("%v stderr (-want +got):\n%s", args, diff)
	}
}

// TestExplainHelperProcess is oomkit run by TestExplainUnprivileged in a
// child process; it does nothing in a normal test run.
func TestExplainHelperProcess(t *testing.T) {
	if os.Getenv("OOMKIT_EXPLAIN_HOG") != "" {
		// An allocator for TestExplainFollow: wait until moved into the
		// memcg, then touch memory until the OOM killer ends us.
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			os.Exit(3)
		}
		for {
			b, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				os.Exit(3)
			}
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
		}
	}
	args := os.Getenv("OOMKIT_EXPLAIN_HELPER")
	if args == "" {
		t.Skip("helper process for TestExplainUnprivileged")
	}
	code := Main(strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr)
	if f := os.Getenv("OOMKIT_PEAK_FILE"); f != "" {
		// For peakRSS: this process's own high-water mark (VmHWM belongs
		// to the mm exec made; ru_maxrss would include the parent's).
		st, _ := os.ReadFile("/proc/self/status")
		_ = os.WriteFile(f, st, 0o644)
	}
	os.Exit(code)
}

// TestExplainFollow runs explain --follow on the real /dev/kmsg, makes the
// kernel OOM-kill a process in a throw-away memcg, and waits for the event
// to come out; cancelling the context ends the command cleanly.
func TestExplainFollow(t *testing.T) {
	kerneltest.SerializeOOM(t)
	m := kerneltest.NewMemcg(t, 64<<20)
	out, errOut := newNotifyBuffer(), newNotifyBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	cfg := explainConfig{follow: true, json: true, top: explain.DefaultTop, kmsgPath: kmsg.DefaultPath}
	go func() { done <- runExplain(ctx, &streams{in: nil, out: &stickyWriter{w: out}, err: errOut}, cfg, nil) }()

	hog := exec.Command(os.Args[0], "-test.run=^TestExplainHelperProcess$")
	hog.Env = append(os.Environ(), "OOMKIT_EXPLAIN_HOG=1")
	stdin, err := hog.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hog.Process.Kill(); _ = hog.Wait() })
	if err := m.AddProcess(hog.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	_ = hog.Wait()
	want := fmt.Sprintf(`"oom_memcg":%q`, m.Path)
	victim := fmt.Sprintf(`"kernel_victim_pid":%d`, hog.Process.Pid)
	out.waitFor(t, "event for "+m.Path, func(s string) bool { return strings.Contains(s, want) })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("explain --follow ended with %v, want nil after cancel", err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, want) && !strings.Contains(line, victim) {
			t.Errorf("event for %s does not name victim %d: %.300s", m.Path, hog.Process.Pid, line)
		}
	}
}
