// Package cli builds oomkit's command tree: one file per subcommand, flags
// into config structs, rendering of text and JSON output. NewRoot lists
// every subcommand; each file has the constructor of its own.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oomkit/oomkit/internal/visible"
)

// Exit codes shared by every command. Commands document their own extra codes
// in their --help text and in the man page.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// ExitError carries a command-specific exit code with its message. Commands
// return it (or wrap it) to choose a code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode returns err with the exit code code attached.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError marks err as a usage mistake (exit 2).
func usageError(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

// silentExit ends the command with code and prints nothing more: the
// command has already said what it had to.
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// streams are the command's standard streams, injected so tests can run
// commands in-process.
type streams struct {
	in io.Reader
	// out is standard output behind a writer that keeps its first error:
	// every later write fails at once, and commands that produce a lot
	// check outErr to stop early.
	out *stickyWriter
	err io.Writer
}

// outErr is the first error writing standard output, or nil.
func (s *streams) outErr() error { return s.out.err }

// text is standard output for text: outside strings the renderers missed
// are shown escaped (visible.TextWriter). Flush it when done.
func (s *streams) text() *visible.TextWriter { return visible.NewTextWriter(s.out) }

// json is standard output for JSON Lines: DEL and C1 controls, which
// encoding/json writes raw, are escaped (visible.JSONWriter).
func (s *streams) json() io.Writer { return visible.JSONWriter(s.out) }

// stickyWriter passes writes on until the first error, which it keeps and
// returns for every later write, so output stops at the first failure.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// NewRoot builds the root command with every subcommand.
func NewRoot(in io.Reader, out, errOut io.Writer) *cobra.Command {
	return newRoot(&streams{in: in, out: &stickyWriter{w: out}, err: errOut})
}

func newRoot(s *streams) *cobra.Command {
	in, out, errOut := s.in, s.out, s.err
	root := &cobra.Command{
		Use:   "oomkit",
		Short: "See, explain, reproduce and predict out-of-memory kills on Linux and Kubernetes",
		Long: `oomkit sees, explains, reproduces and predicts out-of-memory kills on Linux
and Kubernetes: which process died, which limit was hit, why the kernel chose
that victim, whether Kubernetes will say OOMKilled, how close everything else
is to the same fate, and what to change.

Sizes are bytes (4096) or a number with a binary unit: KiB, MiB, GiB, TiB
(also Kubernetes' Ki, Mi, Gi, Ti; 1.5GiB works). MB, GB, k, M and G are
refused as ambiguous, except where the value is a Kubernetes quantity
(kube --node-memory and --usage, inspect --eviction-hard, a pod's memory in
a sim scenario): there 1G is 10^9 bytes and 1Gi 2^30, as in Kubernetes.
Percentages carry their sign: 50%. Sizes print as 1.5 GiB, 169 MiB
(docs/sizes.md).`,
		Example: `  oomkit explain                     # explain every OOM kill in this machine's kernel log
  oomkit explain /var/log/kern.log   # ... or in a saved log
  oomkit explain --sample twist-1    # a real report bundled with oomkit`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	// Every flag error of every command (unknown flag, bad value) comes
	// here: cobra's typed way to classify them.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withCode(ExitUsage, fmt.Errorf("%w (see --help)", err))
	})
	root.AddCommand(
		newExplainCommand(s),
		newInspectCommand(s),
		newTopCommand(s),
		newKubeCommand(s),
		newAllocCommand(s),
		newLabCommand(s),
		newSimCommand(s),
		newAgentCommand(s),
		newEventsCommand(s),
		newVersionCommand(s),
		newGenManCommand(s),
	)
	return root
}

// usageArgs makes the argument errors of every command in the tree usage
// errors: cobra's validators (NoArgs, ExactArgs, …) return untyped errors,
// so each validator is wrapped, and its message kept.
func usageArgs(c *cobra.Command) {
	if v := c.Args; v != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := v(cmd, args); err != nil {
				return withCode(ExitUsage, err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// unknownSubcommands makes every command that only groups subcommands
// (sim, lab, completion, …) refuse an unknown one as a usage error, as the
// root does; without arguments it still prints its help. cobra runs such a
// command's help and exits 0 for "oomkit sim bogus".
func unknownSubcommands(c *cobra.Command) {
	if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, sub := range c.Commands() {
		unknownSubcommands(sub)
	}
}

// Main runs oomkit with args and returns the process exit code. Errors are
// printed once, here, as one line prefixed with "oomkit: ".
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	s := &streams{in: in, out: &stickyWriter{w: out}, err: errOut}
	root := newRoot(s)
	root.SetArgs(args)
	// cobra adds its completion command inside Execute; adding it first
	// lets usageArgs and unknownSubcommands reach its subcommands too.
	root.InitDefaultCompletionCmd(args...)
	unknownSubcommands(root)
	usageArgs(root)
	cmd, err := root.ExecuteC()
	if err == nil && s.outErr() != nil {
		// A command (or cobra's help) that did not check its writes: the
		// output is incomplete, and that is a failure.
		err = withCode(ExitError, fmt.Errorf("write standard output: %w", s.outErr()))
	}
	if err == nil {
		return ExitOK
	}
	var se silentExit
	if errors.As(err, &se) {
		return se.code
	}
	code := ExitError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case cmd == root:
		// An unknown subcommand: cobra gives no typed error for it. It
		// comes from Command.Find (legacyArgs), the one untyped error the
		// root can return (it has no RunE, its flag errors come through
		// the FlagErrorFunc), so where it came from classifies it.
		code = ExitUsage
	}
	// Errors quote what the user or a file gave (paths, names, flag
	// values): shown escaped, on one line.
	msg := visible.String(strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " "))
	fmt.Fprintf(errOut, "oomkit: %s\n", msg)
	return code
}

// isTerminal reports whether w is a terminal (for live progress lines and
// colour); false for anything that is not an *os.File.
func isTerminal(w io.Writer) bool {
	if sw, ok := w.(*stickyWriter); ok {
		w = sw.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
