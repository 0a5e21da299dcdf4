package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/kerneltest"
	"github.com/oomkit/oomkit/internal/node/nodetest"
)

const topTUIEnv = "OOMKIT_TOP_TUI_ARGS"

// TestTopTUIHelper runs 'oomkit top' on the real terminal it was started
// in (by TestTopTUI, inside tmux), with the arguments in $OOMKIT_TOP_TUI_ARGS.
func TestTopTUIHelper(t *testing.T) {
	args := os.Getenv(topTUIEnv)
	if args == "" {
		t.Skip("helper process for TestTopTUI")
	}
	os.Exit(Main(append([]string{"top"}, strings.Fields(args)...), os.Stdin, os.Stdout, os.Stderr))
}

// TestTopTUI drives the live view in a real terminal (tmux): it must show
// the ranking, re-sort on s, filter on /, show pods only on p, and quit
// on q.
func TestTopTUI(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		kerneltest.Skip(t, "no tmux to drive the live view in")
	}
	procRoot, sysRoot := nodetest.SmallMachine(t, t.TempDir())
	session := fmt.Sprintf("oomkit-top-test-%d", os.Getpid())
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	exitFile := filepath.Join(t.TempDir(), "exit")
	args := strings.Join([]string{"--interval", "300ms", "--proc-root", procRoot, "--sys-root", sysRoot}, " ")
	shell := fmt.Sprintf("%s=%q %q -test.run='^TestTopTUIHelper$'; echo $? > %q; sleep 30",
		topTUIEnv, args, os.Args[0], exitFile)
	tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "30", shell)
	defer func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() }()
	// wait polls the pane until it contains want.
	wait := func(want string) string {
		t.Helper()
		var screen string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			screen = tmux("capture-pane", "-p", "-t", session)
			if strings.Contains(screen, want) {
				return screen
			}
		}
		t.Fatalf("screen never showed %q:\n%s", want, screen)
		return ""
	}
	screen := wait("q quit")
	for _, want := range []string{"oomkit top", "RANK", "data_sim", "Plex Media Ser", "sort rank"} {
		if !strings.Contains(screen, want) {
			t.Errorf("first screen lacks %q:\n%s", want, screen)
		}
	}
	if first := firstRow(screen); !strings.Contains(first, " 601 ") {
		t.Errorf("first row %q, want pid 601 (rank 1)", first)
	}
	tmux("send-keys", "-t", session, "s")
	screen = wait("sort rss")
	if first := firstRow(screen); !strings.Contains(first, "data_sim") {
		t.Errorf("sorted by rss, first row %q, want data_sim", first)
	}
	tmux("send-keys", "-t", session, "/")
	wait("filter: ")
	tmux("send-keys", "-t", session, "-l", "Plex")
	tmux("send-keys", "-t", session, "Enter")
	screen = wait(`filter "Plex"`)
	if !strings.Contains(screen, "1 processes") || strings.Contains(screen, "data_sim") {
		t.Errorf("filter Plex:\n%s", screen)
	}
	tmux("send-keys", "-t", session, "Escape")
	wait(`filter ""`)
	tmux("send-keys", "-t", session, "p")
	screen = wait("[pods only]")
	if !strings.Contains(screen, "3 processes") || strings.Contains(screen, "Plex") {
		t.Errorf("pods only:\n%s", screen)
	}
	t.Logf("pods-only screen:\n%s", screen)
	tmux("send-keys", "-t", session, "q")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(exitFile); err == nil {
			if strings.TrimSpace(string(b)) != "0" {
				t.Errorf("top exited with %s", b)
			}
			return
		}
	}
	t.Fatalf("top did not quit on q:\n%s", tmux("capture-pane", "-p", "-t", session))
}

// firstRow is the first line after the column header.
func firstRow(screen string) string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.Contains(l, "RANK") && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	return ""
}
