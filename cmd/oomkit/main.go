// Command oomkit sees, explains, reproduces and predicts out-of-memory kills
// on Linux and Kubernetes. See `oomkit --help` and docs/oomkit.1.
package main

import (
	"os"

	"github.com/oomkit/oomkit/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
