package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X …/internal/cli.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

// newVersionCommand is `oomkit version`.
func newVersionCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print oomkit's version",
		Args:    cobra.NoArgs,
		Example: "  oomkit version",
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.out, "oomkit %s\n", buildVersion())
			return err
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return v
	}
	return "(devel)"
}
