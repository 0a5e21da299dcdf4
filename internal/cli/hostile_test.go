package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	utf16pkg "unicode/utf16"

	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/internal/agent/k8s"
	"github.com/oomkit/oomkit/internal/lab"
	"github.com/oomkit/oomkit/internal/node/nodetest"
	"github.com/oomkit/oomkit/internal/render"
)

// The tests of issue 15: hostile and careless input, class by class,
// in every command each class applies to (docs/hostile-input.md).

// hostileComm is a process name a local user can set with
// prctl(PR_SET_NAME): a clear-screen CSI, a bell and a C1 CSI (U+009B)
// in 15 bytes, the kernel's TASK_COMM_LEN − 1.
const hostileComm = "x\x1b[2J\a\u009b1mev"

// hostileShown is how text output shows it.
const hostileShown = `x\x1b[2J\x07\u009b1mev`

// rawControl matches a C0 control other than newline and tab, DEL, or a
// C1 control encoded in UTF-8.
var rawControl = regexp.MustCompile(`[\x00-\x08\x0b-\x1f\x7f\x{80}-\x{9f}]`)

// noRawControls fails when out holds a control character a terminal
// would act on.
func noRawControls(t *testing.T, what, out string) {
	t.Helper()
	if loc := rawControl.FindStringIndex(out); loc != nil {
		t.Errorf("%s: raw control character %q at byte %d: %q", what, out[loc[0]:loc[1]], loc[0], out[max(0, loc[0]-40):min(len(out), loc[1]+40)])
	}
}

// hostileMachine is nodetest.SmallMachine with PID 400 (in the root
// cgroup) and PID 510 (in the pod's container) renamed to hostileComm.
func hostileMachine(t *testing.T) (procRoot, sysRoot string) {
	t.Helper()
	procRoot, sysRoot = nodetest.SmallMachine(t, t.TempDir())
	for _, pid := range []string{"400", "510"} {
		d := filepath.Join(procRoot, pid)
		old, err := os.ReadFile(filepath.Join(d, "comm"))
		must(t, err)
		name := strings.TrimSuffix(string(old), "\n")
		for _, f := range []string{"comm", "status", "stat", "smaps"} {
			b, err := os.ReadFile(filepath.Join(d, f))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(d, f), bytes.ReplaceAll(b, []byte(name), []byte(hostileComm)), 0o644))
		}
	}
	return procRoot, sysRoot
}

// TestEscapesProcessNames: a process name with escape sequences is shown
// escaped by every text output that prints it (top --once, inspect's
// runtimes, --pid and a cgroup's next victim) and kept exact in JSON,
// with no raw control character in either.
func TestEscapesProcessNames(t *testing.T) {
	procRoot, sysRoot := hostileMachine(t)
	roots := []string{"--proc-root", procRoot, "--sys-root", sysRoot}
	for _, tc := range []struct {
		args []string
		json bool
	}{
		{[]string{"top", "--once"}, false},
		{[]string{"top", "--once", "--cgroup", nodetest.SmallContainer}, false},
		{[]string{"top", "--json"}, true},
		{[]string{"inspect"}, false},
		{[]string{"inspect", "--pid", "400"}, false},
		{[]string{"inspect", "--cgroup", nodetest.SmallContainer}, false},
		{[]string{"inspect", "--pid", "400", "--json"}, true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, append(tc.args, roots...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			noRawControls(t, "stdout", out)
			noRawControls(t, "stderr", errOut)
			if !tc.json {
				// top's COMM column clips the shown name to 15 columns.
				clipped := tc.args[0] == "top" && strings.Contains(out, hostileShown[:14]+"…")
				if !strings.Contains(out, hostileShown) && !clipped {
					t.Errorf("the name is not shown escaped as %s:\n%s", hostileShown, out)
				}
				return
			}
			// JSON keeps the exact name.
			found := false
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var v any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				found = found || containsString(v, hostileComm)
			}
			if !found {
				t.Errorf("the exact name is not in the JSON: %s", out)
			}
		})
	}
}

// containsString reports whether a decoded JSON value holds s.
func containsString(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return x == s
	case []any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if containsString(e, s) {
				return true
			}
		}
	}
	return false
}

// TestEscapesKube: names, commands and env values from a manifest are
// shown escaped in kube's table, cgroup paths, heaps and warnings, kept
// exact in JSON.
func TestEscapesKube(t *testing.T) {
	// YAML's double-quoted \e, \a and \x9b are ESC, BEL and U+009B.
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: "p\e[2J", namespace: "n\x9b1m"}
spec:
  containers:
  - name: "c\a"
    image: mcr.microsoft.com/dotnet/aspnet:8.0
    command: ["dotnet", "app\e]0;t\a.dll"]
    env: [{name: DOTNET_GCHeapHardLimit, value: "zz\e[31m"}]
    resources: {limits: {memory: 1Gi}}
`
	for _, asJSON := range []bool{false, true} {
		args := []string{"kube", "-", "--node-memory=16Gi"}
		if asJSON {
			args = append(args, "--json")
		}
		code, out, errOut := runCLI(t, []byte(manifest), args...)
		if code != 0 && code != exitKubePartial {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		noRawControls(t, "stdout", out)
		noRawControls(t, "stderr", errOut)
		if asJSON {
			var v any
			must(t, json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &v))
			if !containsString(v, "p\x1b[2J") || !containsString(v, "c\a") {
				t.Errorf("JSON lost the exact names: %s", out)
			}
			continue
		}
		for _, want := range []string{`n\u009b1m/p\x1b[2J`, `c\x07`} {
			if !strings.Contains(out, want) {
				t.Errorf("text does not show %s:\n%s", want, out)
			}
		}
	}
}

// TestEscapesExplain: a kernel log's comm (raw, or as the kernel's own
// \xNN escapes), hostname, kernel release and cgroup paths are shown
// escaped in every paragraph of explain's text and kept exact in JSON.
func TestEscapesExplain(t *testing.T) {
	log := string(twist1(t))
	log = strings.ReplaceAll(log, "(dotnet)", "(d\x1b[2J\u009b)")
	log = strings.ReplaceAll(log, "task=dotnet,", "task=d\x1b[2J\u009b,")
	log = strings.ReplaceAll(log, "Comm: dotnet", "Comm: d\x1b[2J")
	log = strings.ReplaceAll(log, "5.4.0-1059-azure", "5.4.0-1059-\x1b[31m")
	log = strings.ReplaceAll(log, "oom_memcg=/kubepods/", "oom_memcg=/kube\x1b[2Jpods/")
	log = strings.ReplaceAll(log, "aks-agentpool-20086390-vmss00003K", "aks\x1b[2J")
	for _, args := range [][]string{{"explain", "-"}, {"explain", "-v", "-"}, {"explain", "--json", "-"}} {
		code, out, errOut := runCLI(t, []byte(log), args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		noRawControls(t, "stdout", out)
		noRawControls(t, "stderr", errOut)
		if args[1] == "--json" {
			if !strings.Contains(out, `d\u001b[2J\u009b`) {
				t.Errorf("JSON does not keep the exact comm: %s", out)
			}
			continue
		}
		if !strings.Contains(out, `d\x1b[2J\u009b (pid 14300)`) {
			t.Errorf("%v: the victim is not shown escaped:\n%s", args, out)
		}
	}
}

// TestEscapesAgentLog: the agent's log, text or JSON, shows a hostile
// process name with no raw control character, and JSON keeps its value.
func TestEscapesAgentLog(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		h, err := logHandler(format, &b)
		must(t, err)
		slog.New(h).Warn("kill "+hostileComm, "comm", hostileComm)
		noRawControls(t, format, b.String())
		if format == "json" {
			var v map[string]any
			must(t, json.Unmarshal(b.Bytes(), &v))
			if v["comm"] != hostileComm || v["msg"] != "kill "+hostileComm {
				t.Errorf("JSON log changed the value: %s", b.String())
			}
		}
	}
}

// TestEscapesLab: a lab result read back from a VM guest's output is
// shown escaped.
func TestEscapesLab(t *testing.T) {
	skipped := "no \x1b[2J cgroup"
	var b bytes.Buffer
	render.LabResult(&b, lab.Result{Scenario: "s\u009b", Summary: hostileComm, Checks: []lab.Check{{Name: "n\x1b", Detail: "d\a"}}})
	render.LabResult(&b, lab.Result{Scenario: "s", Skipped: &skipped})
	noRawControls(t, "lab", b.String())
	if !strings.Contains(b.String(), hostileShown) {
		t.Errorf("summary not shown escaped: %s", b.String())
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestWriteErrorsExit1: with standard output on /dev/full every command
// that prints exits 1 with one line saying the write failed, and explain
// stops reading at the first failed write instead of parsing the rest.
func TestWriteErrorsExit1(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	roots := []string{"--proc-root", procRoot, "--sys-root", sysRoot}
	manifest := "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n"
	for _, args := range [][]string{
		append([]string{"top", "--once"}, roots...),
		append([]string{"top", "--json"}, roots...),
		append([]string{"inspect"}, roots...),
		append([]string{"inspect", "--all-cgroups"}, roots...),
		append([]string{"inspect", "--json"}, roots...),
		{"sim", "run", "fig3"},
		{"sim", "run", "fig3", "--json"},
		{"sim", "list"},
		{"sim", "show", "fig3"},
		{"sim", "commit-limit", "--memory", "12GiB"},
		{"lab", "list"},
		{"explain", "--list-samples"},
		{"explain", "--sample", "twist-1"},
		{"explain", "--sample", "twist-1", "--json"},
		{"kube", "-", "--node-memory=16Gi"},
		{"kube", "-", "--node-memory=16Gi", "--json"},
		{"version"},
		{"--help"},
		{"sim", "--help"},
		{"completion", "bash"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			var errb bytes.Buffer
			code := Main(args, strings.NewReader(manifest), full, &errb)
			if code != ExitError || strings.Count(errb.String(), "\n") != 1 || !strings.Contains(errb.String(), "no space left on device") {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line about the write", code, errb.String())
			}
		})
	}
	t.Run("explain stops at the first failed write", func(t *testing.T) {
		one := twist1(t)
		big := bytes.Repeat(one, 2000) // 2,000 reports, ~8 MB
		in := &countingReader{r: bytes.NewReader(big)}
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		must(t, err)
		defer full.Close()
		var errb bytes.Buffer
		code := Main([]string{"explain", "-"}, in, full, &errb)
		if code != ExitError || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
		// The 64 KiB output buffer fills within a few dozen reports.
		if in.n > int64(len(big))/4 {
			t.Errorf("read %d of %d bytes after the output failed", in.n, len(big))
		}
	})
}

// TestUnknownSubcommandsExit2: a command that only groups subcommands
// refuses an unknown one as the root does (exit 2, one line), and still
// prints its help without one.
func TestUnknownSubcommandsExit2(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"sim", "bogus"}, {"lab", "bogus"}, {"completion", "bogus"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `unknown command "bogus"`) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"sim"}, {"lab"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, want help", args, code)
		}
	}
}

// utf16 encodes s as UTF-16 with a byte order mark, as PowerShell's
// redirection writes a log.
func utf16(s string, big bool) []byte {
	var b []byte
	put := func(u uint16) {
		if big {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	put(0xfeff)
	for _, u := range utf16pkg.Encode([]rune(s)) {
		put(u)
	}
	return b
}

// TestExplainUTF16: a UTF-16 log with a byte order mark (either order),
// and a UTF-8 one with a mark, explains as the UTF-8 log does.
func TestExplainUTF16(t *testing.T) {
	log := twist1(t)
	_, want, _ := runCLI(t, log, "explain", "--json", "-")
	for name, in := range map[string][]byte{
		"UTF-16LE":  utf16(string(log), false),
		"UTF-16BE":  utf16(string(log), true),
		"UTF-8 BOM": append([]byte("\ufeff"), log...),
	} {
		code, got, errOut := runCLI(t, in, "explain", "--json", "-")
		if code != 0 || got != want || errOut != "" {
			t.Errorf("%s: exit %d, stderr %q, same output: %v", name, code, errOut, got == want)
		}
	}
}

// TestExplainEndlessSource: while a source is being read, explain says on
// standard error how far it got (here at once: the first note is due
// immediately).
func TestExplainEndlessSource(t *testing.T) {
	first := explainProgressFirst
	explainProgressFirst = 0
	t.Cleanup(func() { explainProgressFirst = first })
	code, _, errOut := runCLI(t, twist1(t), "explain", "-")
	if code != 0 || !strings.Contains(errOut, "oomkit explain: -: still reading: ") || !strings.Contains(errOut, "(Ctrl-C stops)") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestExplainConflictingFlags: flags that mean nothing together are
// refused as usage errors.
func TestExplainConflictingFlags(t *testing.T) {
	for _, args := range [][]string{
		{"explain", "--list-samples", "kern.log"},
		{"explain", "--list-samples", "--json"},
		{"explain", "--list-samples", "--follow"},
		{"explain", "--sample", "twist-1", "kern.log"},
		{"explain", "--follow", "kern.log"},
		{"explain", "--top", "0", "-"},
		{"explain", "--assume-kernel", "6.1\x1b[31m", "-"},
		{"explain", "--assume-kernel", "6.1 foo", "-"},
		{"explain", "--assume-kernel", "0.0.0", "-"},
		{"explain", "--assume-kernel", "999.999.999", "-"},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		noRawControls(t, "stderr", errOut)
	}
}

// TestAssumeKernelValidated: every command with --assume-kernel accepts
// only a release that parses and that the model covers, and says which;
// the value is echoed escaped.
func TestAssumeKernelValidated(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	for _, cmd := range [][]string{
		{"explain", "--sample", "twist-1"},
		{"top", "--once", "--proc-root", procRoot, "--sys-root", sysRoot},
		{"inspect", "--proc-root", procRoot, "--sys-root", sysRoot},
		{"sim", "run", "fig3"},
	} {
		for _, v := range []string{"6.1\x1b[31m", "6.1 foo", "0.0.0", "999.999.999", "6.1\u009b"} {
			code, out, errOut := runCLI(t, nil, append(cmd, "--assume-kernel", v)...)
			if code != ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--assume-kernel") {
				t.Errorf("%v --assume-kernel %q: exit %d, stdout %q, stderr %q", cmd, v, code, out, errOut)
			}
			noRawControls(t, "stderr", errOut)
		}
		if code, _, errOut := runCLI(t, nil, append(cmd, "--assume-kernel", "5.4.0-1059-azure")...); code != 0 {
			t.Errorf("%v --assume-kernel 5.4.0-1059-azure: exit %d, %s", cmd, code, errOut)
		}
	}
}

// TestSimBoundedInput: a scenario is read with a bound (4 MiB): /dev/zero
// and a file past the bound are refused with one line, standard input too.
func TestSimBoundedInput(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	must(t, os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 500_000), 0o644))
	for _, tc := range []struct {
		args  []string
		stdin []byte
	}{
		{[]string{"sim", "run", "/dev/zero"}, nil},
		{[]string{"sim", "run", big}, nil},
		{[]string{"sim", "run", "-"}, bytes.Repeat([]byte("# padding\n"), 500_000)},
	} {
		code, out, errOut := runCLI(t, tc.stdin, tc.args...)
		if code != ExitError || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "larger than 4 MiB") {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
	}
}

// TestSimRefusesNonsense: conflicting flags and numbers the kernel would
// refuse or that would overflow are usage errors, never a wrapped value.
func TestSimRefusesNonsense(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "run", "fig3", "--json", "--full"},
		{"sim", "commit-limit", "--memory", "12GiB", "--ratio", "99999999999"},
		{"sim", "commit-limit", "--memory", "4EiB", "--swap", "4EiB", "--ratio", "100"},
		{"sim", "commit-limit", "--memory", "12GiB", "--kbytes", "9223372036854775807"},
		{"sim", "commit-limit", "--memory", "1e400"},
		{"sim", "commit-limit", "--memory", "-1GiB"},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// endlessAllocator allocates one byte every nanosecond until --max-steps
// ends the run: 2,000,000 allocation events.
const endlessAllocator = `kernel: "6.1"
node: {memory: 1GiB}
processes:
  - name: drip
    actions:
      - alloc: {block: 1, every: 1ns, repeat: 0}
duration: 1h
`

// TestSimTimelineStreams: the text timeline of 2,000,000 allocations is a
// handful of lines, each printed as it comes.
func TestSimTimelineStreams(t *testing.T) {
	code, out, errOut := runCLI(t, []byte(endlessAllocator), "sim", "run", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "\n"); n > 40 {
		t.Errorf("%d lines of timeline for one run of allocations:\n%s", n, out)
	}
}

// memoryPod is a one-container pod manifest with memory requests and
// limits of req.
func memoryPod(req string) string {
	return "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {memory: " + req + "}, limits: {memory: " + req + "}}\n"
}

// TestKubeImpossibleNumbers: quantities the API server refuses, that
// overflow, or that would keep the parser busy for minutes are refused
// (exit 3, naming file, line and key); a request larger than the node is
// an error the kubelet gives (OutOfmemory), never a wrapped
// oom_score_adj; flag quantities are usage errors.
func TestKubeImpossibleNumbers(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{"-1Gi", `oomkit: -:6: spec.containers[0].resources.requests.memory: "-1Gi" is negative`},
		{"1e400", `oomkit: -:6: spec.containers[0].resources.requests.memory: "1e400" is too large`},
		{`"9223372036854775808"`, `oomkit: -:6: spec.containers[0].resources.requests.memory: "9223372036854775808" is too large`},
		{"1e999999999", `oomkit: -:6: spec.containers[0].resources.requests.memory: "1e999999999" is too large`},
		{"1e-99999999", `oomkit: -:6: spec.containers[0].resources.requests.memory: "1e-99999999" is not a whole number of bytes`},
		{".inf", `oomkit: -:6: spec.containers[0].resources.requests.memory: ".inf" is not a Kubernetes quantity`},
	} {
		code, out, errOut := runCLI(t, []byte(memoryPod(tc.q)), "kube", "-", "--node-memory=16Gi")
		if code != ExitError || out != "" || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("memory %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.q, code, out, errOut, tc.want)
		}
	}
	// 1Ei is a valid quantity: the pod is read, and refused by the kubelet.
	code, out, errOut := runCLI(t, []byte(memoryPod("1Ei")), "kube", "-", "--node-memory=16Gi", "--json")
	if code != exitKubePartial || !strings.Contains(errOut, "the kubelet refuses to admit it (OutOfmemory)") {
		t.Errorf("1Ei: exit %d, stderr %q", code, errOut)
	}
	var row struct {
		OOMScoreAdj int `json:"oom_score_adj"`
	}
	must(t, json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &row))
	if row.OOMScoreAdj < -1000 || row.OOMScoreAdj > 1000 {
		t.Errorf("1Ei: oom_score_adj %d is outside the kernel's -1000…1000", row.OOMScoreAdj)
	}
	for _, args := range [][]string{
		{"kube", "-", "--node-memory=16Gi", "--usage", "p/c=1e400"},
		{"kube", "-", "--node-memory=16Gi", "--usage", "p/c=-1Gi"},
		{"kube", "-", "--node-memory=1e999999999"},
		{"kube", "-", "--node-memory=16Gi", "--kubernetes-version=1.31", "--single-process-oom-kill"},
	} {
		code, _, errOut := runCLI(t, []byte(memoryPod("1Gi")), args...)
		if code != ExitUsage || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, errOut)
		}
	}
}

// TestKubeDuplicateKeys: a key given twice is refused as kubectl does, at
// the line of the second.
func TestKubeDuplicateKeys(t *testing.T) {
	in := "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources:\n      limits: {memory: 1Gi}\n      limits: {memory: 2Gi}\n"
	code, _, errOut := runCLI(t, []byte(in), "kube", "-", "--node-memory=16Gi")
	if code != ExitError || !strings.HasPrefix(errOut, `oomkit: -:8: spec.containers[0].resources.limits: key "limits" given twice`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestInspectEvictionHardNumbers: --eviction-hard quantities follow the
// same rule: refused, never taken as 0.
func TestInspectEvictionHardNumbers(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	for _, v := range []string{"memory.available<1e400", "memory.available<-1Gi", "memory.available<1e999999999", "memory.available<200%"} {
		code, out, errOut := runCLI(t, nil, "inspect", "--proc-root", procRoot, "--sys-root", sysRoot, "--eviction-hard", v)
		if code != ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q", v, code, errOut)
		}
	}
}

// TestLabVMKernelChecked: lab run --vm --kernel PATH checks PATH before it
// builds or boots anything.
func TestLabVMKernelChecked(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	must(t, os.WriteFile(text, []byte("not a kernel\n"), 0o644))
	for _, args := range [][]string{
		{"lab", "run", "group-kill", "--vm", "--kernel", filepath.Join(dir, "missing")},
		{"lab", "run", "group-kill", "--vm", "--kernel", text},
		{"lab", "run", "group-kill", "--vm", "--kernel", dir},
		{"lab", "run", "group-kill", "--vm", "--kernel", text, "--kernel-package", "linux-image-cloud-amd64"},
		{"lab", "run", "group-kill", "--kernel", text},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// TestAllocDirNeedsFileMode: --dir with a mode that does not use it is a
// usage error.
func TestAllocDirNeedsFileMode(t *testing.T) {
	code, _, errOut := runCLI(t, nil, "alloc", "--block", "1MiB", "--max", "1MiB", "--mode", "mmap", "--dir", t.TempDir())
	if code != ExitUsage || !strings.Contains(errOut, "--dir is where --mode file puts its file") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestCgroupIsAFile: --cgroup naming a file in a cgroup (memory.max,
// cgroup.procs) is an error that names the directory to give, not "no
// limit at any level".
func TestCgroupIsAFile(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	file := nodetest.SmallContainer + "/memory.limit_in_bytes"
	for _, cmd := range [][]string{{"inspect"}, {"top", "--once"}, {"top", "--json"}} {
		args := append(cmd, "--proc-root", procRoot, "--sys-root", sysRoot, "--cgroup", file)
		code, out, errOut := runCLI(t, nil, args...)
		if code != ExitError || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "is a file, not a cgroup") || !strings.Contains(errOut, nodetest.SmallContainer+"\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
}

// TestExplainImpossibleNumbers: overflowing or negative sizes, an
// oom_score_adj out of the kernel's range and a PID past 64 bits become a
// warning on the event and a null field; the rest is still explained and
// nothing prints a negative size.
func TestExplainImpossibleNumbers(t *testing.T) {
	log := string(twist1(t))
	for _, tc := range []struct{ from, to, warning string }{
		{"limit 1048576kB,", "limit 9223372036854775807kB,", "memcg limit 9223372036854775807 kB is out of range"},
		{"memory: usage 1048576kB", "memory: usage -1048576kB", "memcg usage -1048576 kB is out of range"},
		{"oom_score_adj=-997\n", "oom_score_adj=-5000\n", "the trigger's oom_score_adj -5000 is out of range"},
		{"anon-rss:148368kB", "anon-rss:99999999999999999999kB", "victim 14300's anon-rss 9223372036854775807 kB is out of range"},
		{"PID: 14300 Comm", "PID: 99999999999999999999 Comm", "line 2: stack dump banner with a PID out of range"},
	} {
		in := strings.Replace(log, tc.from, tc.to, 1)
		if in == log {
			t.Fatalf("%q not in the sample", tc.from)
		}
		code, out, errOut := runCLI(t, []byte(in), "explain", "-")
		if code != 0 || !strings.Contains(out, "warning    "+tc.warning) || !strings.Contains(out, "model      predicts") {
			t.Errorf("%s: exit %d, stderr %q, output:\n%s", tc.to, code, errOut, out)
		}
		if regexp.MustCompile(`[−-][0-9.]+ (B|KiB|MiB|GiB|TiB|PiB|EiB)\b`).MatchString(out) {
			t.Errorf("%s: a negative size in:\n%s", tc.to, out)
		}
		if strings.Contains(tc.to, "PID") && !strings.Contains(out, "kernel     5.4.0-1059-azure") {
			t.Errorf("%s: the kernel version is lost:\n%s", tc.to, out)
		}
	}
}

// TestProcRootEndlessAndBlockingFiles: under --proc-root a process whose
// files are a link to /dev/zero or a FIFO is read in bounded memory and
// without blocking: the commands finish, and the process is left out or
// shown with what could be read.
func TestProcRootEndlessAndBlockingFiles(t *testing.T) {
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	status := filepath.Join(procRoot, "400", "status")
	must(t, os.Remove(status))
	must(t, os.Symlink("/dev/zero", status))
	for _, f := range []string{"comm", "smaps", "cmdline"} {
		p := filepath.Join(procRoot, "600", f)
		must(t, os.Remove(p))
		must(t, unix.Mkfifo(p, 0o644))
	}
	meminfo := filepath.Join(procRoot, "meminfo")
	for _, args := range [][]string{{"top", "--once"}, {"top", "--json"}, {"inspect"}, {"inspect", "--pid", "600"}, {"inspect", "--all-cgroups"}} {
		code, _, errOut := runCLI(t, nil, append(args, "--proc-root", procRoot, "--sys-root", sysRoot)...)
		if code != 0 && code != ExitError {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		noRawControls(t, "stderr", errOut)
	}
	// A machine-wide file that is endless is an error that names it.
	must(t, os.Remove(meminfo))
	must(t, os.Symlink("/dev/zero", meminfo))
	code, _, errOut := runCLI(t, nil, "inspect", "--proc-root", procRoot, "--sys-root", sysRoot)
	if code != ExitError || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "meminfo") {
		t.Errorf("meminfo → /dev/zero: exit %d, stderr %q", code, errOut)
	}
}

// peakRSS runs oomkit args in a child process (TestExplainHelperProcess)
// with stdin from the file in (or /dev/null) and returns its exit code and
// the peak resident memory the kernel counted for it (VmHWM of
// /proc/PID/status, read by the child as it ends), in bytes.
func peakRSS(t *testing.T, bin, in string, args ...string) (code int, peak int64) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestExplainHelperProcess$")
	peakFile := filepath.Join(t.TempDir(), "status")
	cmd.Env = append(os.Environ(), "OOMKIT_EXPLAIN_HELPER="+strings.Join(args, "\x1f"), "OOMKIT_PEAK_FILE="+peakFile)
	if in != "" {
		f, err := os.Open(in)
		must(t, err)
		defer f.Close()
		cmd.Stdin = f
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", args, err)
	}
	st, err := os.ReadFile(peakFile)
	must(t, err)
	var kb int64
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			must(t, err)
		}
	}
	if kb == 0 {
		t.Fatalf("no VmHWM in the child's status: %s", st)
	}
	return cmd.ProcessState.ExitCode(), kb * 1024
}

// TestMemoryBounds holds the memory bound of each command over inputs
// that used to grow without limit (BENCHMARKS.md, issue 15): the peak
// resident memory of the whole process, as the kernel counts it.
func TestMemoryBounds(t *testing.T) {
	dir := t.TempDir()
	// The bounds are the product's: under -race, measure this package's
	// tests built without the race detector (which costs 5–10 times the
	// memory).
	bin := os.Args[0]
	if raceEnabled {
		bin = filepath.Join(dir, "cli.test")
		build := exec.Command("go", "test", "-c", "-o", bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go test -c: %v\n%s", err, out)
		}
	}
	drip := filepath.Join(dir, "drip.yaml")
	must(t, os.WriteFile(drip, []byte(endlessAllocator), 0o644))
	// 64 MiB of OOM reports on standard input.
	reports := filepath.Join(dir, "reports.log")
	one := twist1(t)
	must(t, os.WriteFile(reports, bytes.Repeat(one, 64<<20/len(one)), 0o644))
	// An 8 MiB kubectl-get-style List of pods, JSON and YAML.
	var list bytes.Buffer
	list.WriteString(`{"apiVersion":"v1","kind":"List","items":[`)
	for i := 0; list.Len() < 8<<20; i++ {
		if i > 0 {
			list.WriteByte(',')
		}
		fmt.Fprintf(&list, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p%d","namespace":"ns","annotations":{"a":%q}},"spec":{"containers":[{"name":"c","image":"busybox","env":[{"name":"E","value":%q}],"resources":{"requests":{"memory":"100Mi","cpu":"100m"},"limits":{"memory":"200Mi"}}}]}}`,
			i, strings.Repeat("b", 400), strings.Repeat("v", 200))
	}
	list.WriteString("]}\n")
	listJSON := filepath.Join(dir, "list.json")
	must(t, os.WriteFile(listJSON, list.Bytes(), 0o644))
	const MiB = 1 << 20
	for _, tc := range []struct {
		name  string
		in    string
		args  []string
		code  int
		bound int64
	}{
		// 2,000,000 events (the default --max-steps) stream out.
		{"sim text", "", []string{"sim", "run", drip}, 0, 256 * MiB},
		{"sim json", "", []string{"sim", "run", drip, "--json"}, 0, 256 * MiB},
		// Refused at the 4 MiB bound.
		{"sim /dev/zero", "", []string{"sim", "run", "/dev/zero"}, 1, 96 * MiB},
		{"sim stdin /dev/zero", "/dev/zero", []string{"sim", "run", "-"}, 1, 96 * MiB},
		// Reports are explained one by one: flat in the input's length.
		{"explain 64 MiB", reports, []string{"explain", "-"}, 0, 128 * MiB},
		{"explain 64 MiB json", reports, []string{"explain", "--json", "-"}, 0, 128 * MiB},
		// Refused at the 256 MiB bound (io.ReadAll's last doubling: about
		// 2.4 times the bound).
		{"kube /dev/zero", "/dev/zero", []string{"kube", "-", "--node-memory=16Gi"}, 1, 768 * MiB},
		// About 20 times the input.
		{"kube 8 MiB JSON List", "", []string{"kube", listJSON, "--node-memory=64Gi", "--json"}, 0, 24 * 8 * MiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, peak := peakRSS(t, bin, tc.in, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if peak > tc.bound {
				t.Errorf("peak resident memory %d MiB, bound %d MiB", peak/MiB, tc.bound/MiB)
			}
			t.Logf("peak %d MiB (bound %d MiB)", peak/MiB, tc.bound/MiB)
		})
	}
}

// TestEscapesEvents: an Event's fields are anyone's to write (any client
// with create on events): the table shows them escaped.
func TestEscapesEvents(t *testing.T) {
	str := func(s string) *string { return &s }
	evs := []k8s.KillEvent{{LastTime: "2026-01-01T00:00:00Z", Kills: 1, Kind: "Pod", Namespace: str("n\u009b1m"),
		Pod: str("p\x1b[2J"), Container: str("c\a"), Node: str("node\x1b]0;x\x07"), VictimRole: "main\x1b[31m", Why: hostileComm}}
	var b bytes.Buffer
	must(t, writeEventsTable(&b, evs, true, time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)))
	noRawControls(t, "events", b.String())
	for _, want := range []string{`n\u009b1m`, `pod/p\x1b[2J`, `c\x07`, hostileShown} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s not shown: %s", want, b.String())
		}
	}
}

// TestEscapesSim: a scenario's names and description are shown escaped
// in the header, the timeline and the summary table; JSON keeps them.
func TestEscapesSim(t *testing.T) {
	scenario := "name: \"evil\\e[2J\"\ndescription: \"d\\x9b1m\"\nkernel: \"6.1\"\nnode: {memory: 1GiB}\n" +
		"processes:\n  - name: \"p\\e[31m\"\n    actions:\n      - alloc: {block: 2GiB, touch: 100%}\n"
	code, out, errOut := runCLI(t, []byte(scenario), "sim", "run", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	noRawControls(t, "sim", out)
	for _, want := range []string{`evil\x1b[2J: kernel 6.1`, `d\u009b1m`, `p\x1b[31m[1000]`, "  p\\x1b[31m  1000"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s not shown:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, []byte(scenario), "sim", "run", "-", "--json")
	noRawControls(t, "sim --json", out)
	if code != 0 || !strings.Contains(out, `"process":"p\u001b[31m"`) {
		t.Errorf("exit %d, JSON does not keep the name: %s", code, out)
	}
}
