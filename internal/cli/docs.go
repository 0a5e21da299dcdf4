package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The man pages in docs/man are generated from the command tree, so they
// never drift from --help: `oomkit gen-man docs/man` (TestManPagesUpToDate
// fails when they are stale; `go test ./internal/cli -run ManPages -update`
// rewrites them).
func init() {
	register(func(s *streams) *cobra.Command {
		return &cobra.Command{
			Use:    "gen-man DIR",
			Short:  "Write oomkit's man pages (one per command) into DIR",
			Args:   cobra.ExactArgs(1),
			Hidden: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return writeManPages(cmd.Root(), args[0])
			},
		}
	})
}

func writeManPages(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "OOMKIT", Section: "1", Source: "oomkit", Manual: "oomkit manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		return fmt.Errorf("write man pages to %s: %w", dir, err)
	}
	return nil
}
