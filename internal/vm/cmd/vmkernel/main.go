// Command vmkernel fetches the guest kernel that internal/vm boots into its
// cache (os.UserCacheDir()/oomkit/kernels) and prints its path, so CI can
// warm the cache before the tests run (scripts/ci-vm-setup.sh).
//
//	go run ./internal/vm/cmd/vmkernel [PACKAGE]
//
// PACKAGE defaults to $OOMKIT_VM_KERNEL_PACKAGE, then linux-image-cloud-amd64.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/oomkit/oomkit/internal/vm"
)

func main() {
	pkg := os.Getenv(vm.EnvKernelPackage)
	if len(os.Args) > 1 {
		pkg = os.Args[1]
	}
	p, err := vm.FetchKernel(context.Background(), pkg, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmkernel:", err)
		os.Exit(1)
	}
	fmt.Println(p)
}
