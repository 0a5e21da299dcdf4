package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentHelpAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"agent", "--help"}, strings.NewReader(""), &out, &errb); code != ExitOK {
		t.Fatalf("agent --help: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"--listen", "--state-dir", "--sample-interval", "--retain-events", "CAP_SYSLOG", "Examples:", "/api/v1/events"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("agent --help lacks %q", want)
		}
	}
	for _, args := range [][]string{
		{"agent", "--log-format", "xml"},
		{"agent", "--sample-interval", "1ms"},
		{"agent", "--history", "48h"},
		{"agent", "--retain-events", "-1"},
		{"agent", "--listen", "9741"},       // no port separator
		{"agent", "--listen", "bad:addr:x"}, // not HOST:PORT
		{"agent", "extra"},
	} {
		errb.Reset()
		if code := Main(args, strings.NewReader(""), &out, &errb); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errb.String())
		}
	}
}

// TestSystemdUnit: the unit's command line is one the agent accepts.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "oomkit-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	var exec []string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exec = strings.Fields(v)
		}
	}
	if len(exec) < 2 || filepath.Base(exec[0]) != "oomkit" || exec[1] != "agent" {
		t.Fatalf("ExecStart %v", exec)
	}
	cmd := NewRoot(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	agent, _, err := cmd.Find([]string{"agent"})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.ParseFlags(exec[2:]); err != nil {
		t.Fatalf("the unit's flags: %v", err)
	}
	for _, want := range []string{"AmbientCapabilities=CAP_SYSLOG", "ProtectSystem=strict", "StateDirectory=oomkit", "DeviceAllow=/dev/kmsg r"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
}
