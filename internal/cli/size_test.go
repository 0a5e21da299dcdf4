package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestSizeFlags: every command reads sizes and percentages one way
// (internal/bytesize, docs/sizes.md), and refuses what is ambiguous or
// impossible with a usage error that says what to write.
func TestSizeFlags(t *testing.T) {
	kubeIn := "testdata/kube/in/workloads.yaml"
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"alloc", "--block", "100MB"}, `oomkit: --block: "100MB" is ambiguous (decimal or binary?): write 100MiB for 100×2^20 bytes, or 100000000 for decimal`},
		{[]string{"alloc", "--block", "1k"}, `oomkit: --block: "1k" is ambiguous (decimal or binary?): write 1KiB`},
		{[]string{"alloc", "--block", "1MiB", "--touch", "50"}, `oomkit: --touch: "50" needs a % sign: write 50%`},
		{[]string{"alloc", "--block", "1MiB", "--max", "9223372036854775808"}, `oomkit: --max: "9223372036854775808" is too large`},
		{[]string{"alloc", "--block", "-1MiB"}, `oomkit: --block: "-1MiB" is negative`},
		{[]string{"alloc", "--block", "1e400"}, `oomkit: --block: "1e400" is not a size`},
		{[]string{"sim", "commit-limit", "--memory", "12G"}, `oomkit: --memory: "12G" is ambiguous`},
		{[]string{"sim", "commit-limit", "--memory", "12GiB", "--swap", "1e400"}, `oomkit: --swap: "1e400" is not a size`},
		{[]string{"lab", "run", "--all", "--limit", "128M"}, `oomkit: --limit: "128M" is ambiguous`},
		{[]string{"kube", kubeIn, "--node-memory", "16GB"}, `oomkit: --node-memory: "16GB" is not a Kubernetes quantity: write 16G (decimal, 10^9 bytes each) or 16Gi (binary)`},
		{[]string{"kube", kubeIn, "--node-memory", "-1Gi"}, `oomkit: --node-memory: "-1Gi" is negative`},
		{[]string{"kube", kubeIn, "--node-memory", "0"}, `oomkit: --node-memory 0: give the node's memory`},
		{[]string{"kube", kubeIn, "--node-memory", "16Gi", "--usage", "web/app=1e400"}, `oomkit: --usage web/app: "1e400" is too large`},
		{[]string{"kube", kubeIn, "--node-memory", "16Gi", "--usage", "web/app=512m"}, `oomkit: --usage web/app: "512m" is not a whole number of bytes`},
		{[]string{"inspect", "--eviction-hard", "memory.available<1e400"}, `oomkit: --eviction-hard: "1e400" is too large`},
		{[]string{"inspect", "--eviction-hard", "memory.available<-1Gi"}, `oomkit: --eviction-hard: "-1Gi" is negative`},
		{[]string{"inspect", "--eviction-hard", "memory.available<150%"}, `oomkit: --eviction-hard: "150%" is outside 0%–100%`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tc.args, strings.NewReader(""), &out, &errOut)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, errOut.String())
			}
			if msg := errOut.String(); !strings.HasPrefix(msg, tc.msg) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", msg, tc.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
