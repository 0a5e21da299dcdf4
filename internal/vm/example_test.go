package vm_test

import (
	"context"
	"fmt"
	"os"

	"github.com/oomkit/oomkit/internal/vm"
)

// RunOomkit runs a subcommand of the oomkit binary in a fresh guest; this is
// how `oomkit lab run --vm` runs its scenarios on cgroup v2.
func ExampleRunOomkit() {
	res, err := vm.RunOomkit(context.Background(), vm.Config{Stderr: os.Stderr}, "lab", "run", "--all", "--json")
	if err != nil {
		fmt.Fprintln(os.Stderr, "oomkit:", err) // no qemu, no kernel, panic, timeout
		return
	}
	fmt.Printf("guest kernel %s, exit status %d\n", res.KernelRelease, res.ExitCode)
	os.Stdout.Write(res.Stdout) // the scenarios' oomkit.lab/v1 lines
}
