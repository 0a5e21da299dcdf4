package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestManPagesUpToDate keeps docs/man in step with the command tree.
func TestManPagesUpToDate(t *testing.T) {
	want := filepath.Join("..", "..", "docs", "man")
	root := NewRoot(nil, &bytes.Buffer{}, &bytes.Buffer{})
	if *update {
		if err := os.RemoveAll(want); err != nil {
			t.Fatal(err)
		}
		if err := writeManPages(root, want); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := t.TempDir()
	if err := writeManPages(root, got); err != nil {
		t.Fatal(err)
	}
	gotFiles, _ := filepath.Glob(filepath.Join(got, "*.1"))
	wantFiles, _ := filepath.Glob(filepath.Join(want, "*.1"))
	if len(gotFiles) != len(wantFiles) {
		t.Fatalf("docs/man has %d pages, the command tree makes %d: run go test ./internal/cli -run ManPages -update", len(wantFiles), len(gotFiles))
	}
	for _, g := range gotFiles {
		gb, _ := os.ReadFile(g)
		wb, err := os.ReadFile(filepath.Join(want, filepath.Base(g)))
		if err != nil || !bytes.Equal(gb, wb) {
			t.Errorf("docs/man/%s is stale: run go test ./internal/cli -run ManPages -update", filepath.Base(g))
		}
	}
}

// TestExitCodes pins the exit-code contract shared by every command.
func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"version"}, ExitOK},
		{[]string{"no-such-command"}, ExitUsage},
		{[]string{"version", "--no-such-flag"}, ExitUsage},
		{[]string{"version", "extra-arg"}, ExitUsage},
	} {
		var out, errOut bytes.Buffer
		if got := Main(tt.args, nil, &out, &errOut); got != tt.code {
			t.Errorf("oomkit %v: exit %d, want %d (stderr %q)", tt.args, got, tt.code, errOut.String())
		}
		if tt.code != 0 && !bytes.HasPrefix(errOut.Bytes(), []byte("oomkit: ")) {
			t.Errorf("oomkit %v: stderr %q does not start with \"oomkit: \"", tt.args, errOut.String())
		}
		if bytes.Count(errOut.Bytes(), []byte("\n")) > 1 {
			t.Errorf("oomkit %v: error is more than one line: %q", tt.args, errOut.String())
		}
	}
}
