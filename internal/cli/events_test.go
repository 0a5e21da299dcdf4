package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The whole path — real kills in cgroups of real Pods, the Events they
// become, kubectl describe pod and `oomkit events` listing them — is
// internal/agent/e2e's TestKubernetesKills, with the real agent binary.

func TestEventsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"events", "-A", "-n", "shop"},
		{"events", "--since", "-1h"},
		{"events", "--since", "yesterday"},
		{"events", "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, nil, &out, &errOut); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errOut.String())
		}
		if strings.Count(errOut.String(), "\n") != 1 || !strings.HasPrefix(errOut.String(), "oomkit: ") {
			t.Errorf("%v: want one line of error, got %q", args, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"events", "--kubeconfig", "/nonexistent/kubeconfig"}, nil, &out, &errOut); code != ExitError || !strings.Contains(errOut.String(), "/nonexistent/kubeconfig") {
		t.Errorf("missing kubeconfig: exit %d, %q", code, errOut.String())
	}
}
