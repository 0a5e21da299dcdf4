package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenManCommand is the hidden `oomkit gen-man DIR`. The man pages in
// docs/man are generated from the command tree, so they never drift from
// --help (TestManPagesUpToDate fails when they are stale; `go test
// ./internal/cli -run ManPages -update` rewrites them).
func newGenManCommand(*streams) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write oomkit's man pages (one per command) into DIR",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeManPages(cmd.Root(), args[0])
		},
	}
}

// writeManPages writes one page per command into dir. The date a page
// carries (the .TH line's third field) is when its text last changed: a
// page whose text is unchanged keeps the file already in dir, date and
// all, so regenerating the pages changes nothing until a command's help
// does, and the generation month never makes a page look stale. A changed
// page gets the current month, or SOURCE_DATE_EPOCH's for reproducible
// builds (cobra's doc.GenManTree reads it).
func writeManPages(root *cobra.Command, dir string) error {
	tmp, err := os.MkdirTemp("", "oomkit-man-")
	if err != nil {
		return fmt.Errorf("write man pages: %w", err)
	}
	defer os.RemoveAll(tmp)
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "OOMKIT", Section: "1", Source: "oomkit", Manual: "oomkit manual"}
	if err := doc.GenManTree(root, hdr, tmp); err != nil {
		return fmt.Errorf("write man pages: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	pages, err := filepath.Glob(filepath.Join(tmp, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		page, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.Base(p))
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(undated(old), undated(page)) {
			continue
		}
		if err := os.WriteFile(dst, page, 0o644); err != nil {
			return fmt.Errorf("write man pages: %w", err)
		}
	}
	return nil
}

// undated is a man page without the date in its .TH line
// (.TH "TITLE" "SECTION" "DATE" "SOURCE" "MANUAL", man(7)).
func undated(page []byte) []byte {
	lines := strings.Split(string(page), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, ".TH ") {
			continue
		}
		f := strings.Split(l, `"`)
		if len(f) > 5 {
			f[5] = ""
			lines[i] = strings.Join(f, `"`)
		}
		break
	}
	return []byte(strings.Join(lines, "\n"))
}
