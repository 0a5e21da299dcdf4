package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPagesUpToDate keeps docs/man in step with the command tree. The
// pages' dates are not compared: a page carries the month its text last
// changed (writeManPages), which no test can know on another day.
func TestManPagesUpToDate(t *testing.T) {
	want := filepath.Join("..", "..", "docs", "man")
	root := NewRoot(nil, &bytes.Buffer{}, &bytes.Buffer{})
	if !*update {
		// As if run in another month: January 2100.
		t.Setenv("SOURCE_DATE_EPOCH", "4102444800")
	}
	got := t.TempDir()
	if err := writeManPages(root, got); err != nil {
		t.Fatal(err)
	}
	gotFiles, _ := filepath.Glob(filepath.Join(got, "*.1"))
	wantFiles, _ := filepath.Glob(filepath.Join(want, "*.1"))
	if *update {
		if err := writeManPages(root, want); err != nil {
			t.Fatal(err)
		}
		made := map[string]bool{}
		for _, g := range gotFiles {
			made[filepath.Base(g)] = true
		}
		for _, w := range wantFiles {
			if !made[filepath.Base(w)] {
				if err := os.Remove(w); err != nil {
					t.Fatal(err)
				}
			}
		}
		return
	}
	if len(gotFiles) != len(wantFiles) {
		t.Fatalf("docs/man has %d pages, the command tree makes %d: run go test ./internal/cli -run ManPages -update", len(wantFiles), len(gotFiles))
	}
	for _, g := range gotFiles {
		gb, _ := os.ReadFile(g)
		wb, err := os.ReadFile(filepath.Join(want, filepath.Base(g)))
		if err != nil || !bytes.Equal(undated(gb), undated(wb)) {
			t.Errorf("docs/man/%s is stale: run go test ./internal/cli -run ManPages -update", filepath.Base(g))
		}
	}
}

// manDate is the date field of a page's .TH line.
func manDate(page []byte) string {
	for _, l := range strings.Split(string(page), "\n") {
		if f := strings.Split(l, `"`); strings.HasPrefix(l, ".TH ") && len(f) > 5 {
			return f[5]
		}
	}
	return ""
}

// TestManPagesKeepTheirDate: regenerating an unchanged page keeps the file
// (and its date) as it was; a changed page is rewritten.
func TestManPagesKeepTheirDate(t *testing.T) {
	dir := t.TempDir()
	root := NewRoot(nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err := writeManPages(root, dir); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "oomkit-version.1")
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), `"`+manDate(b)+`"`, `"Jan 1999"`, 1)
	if manDate([]byte(old)) != "Jan 1999" {
		t.Fatalf("could not set the date of %s:\n%.200s", page, b)
	}
	if err := os.WriteFile(page, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "oomkit-alloc.1")
	if err := os.WriteFile(stale, []byte(".nh\n.TH \"OOMKIT\" \"1\" \"Jan 1999\" \"oomkit\" \"oomkit manual\"\nold text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeManPages(root, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(page); string(b) != old {
		t.Errorf("an unchanged page was rewritten:\n%.200s", b)
	}
	if b, _ := os.ReadFile(stale); strings.Contains(string(b), "old text") || strings.Contains(string(b), "Jan 1999") {
		t.Errorf("a changed page kept its old text or date:\n%.200s", b)
	}
}

// TestExitCodes pins the exit-code contract shared by every command.
func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"version"}, ExitOK},
		{[]string{}, ExitOK}, // help
		{[]string{"--help"}, ExitOK},
		{[]string{"no-such-command"}, ExitUsage},
		{[]string{"explian"}, ExitUsage}, // with a suggestion on a second line, joined
		{[]string{"--no-such-flag"}, ExitUsage},
		{[]string{"version", "--no-such-flag"}, ExitUsage},
		{[]string{"version", "extra-arg"}, ExitUsage},
		{[]string{"sim", "run"}, ExitUsage},
		{[]string{"sim", "run", "a", "b"}, ExitUsage},
		{[]string{"top", "--limit", "x"}, ExitUsage},
		{[]string{"completion", "bash", "extra"}, ExitUsage},
		{[]string{"completion", "bash"}, ExitOK},
		{[]string{"explain", "/no/such/file"}, ExitError},
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
