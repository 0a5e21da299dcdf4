// Package vm runs code on a real cgroup v2 kernel from any Linux host: it
// boots a Debian kernel under qemu (TCG, software emulation: no KVM needed)
// with an initramfs whose only file of note is /init, a static Go binary of
// ours, and brings the program's output and exit status back.
//
// This project's machines have the memory controller on cgroup v1, while
// Kubernetes nodes mostly run v2 (memory.max, memory.high,
// memory.oom.group, memory.events). A guest boots in about 2 s and gives a
// private kernel with cgroup v2 mounted at /sys/fs/cgroup and the memory
// controller enabled for the root's children, where experiments that kill
// processes harm nothing.
//
// # How a boot works
//
// The host side (Run, RunOomkit; vmtest.RunTest for tests) packs the
// binary as /init in a newc cpio archive written in Go, finds qemu-system-x86_64 (FindQEMU) and
// the kernel (Config.Kernel, or a Debian package fetched with apt-get
// download and cached by FetchKernel), and starts qemu with the kernel
// console on ttyS0 and a results channel on ttyS1. Nothing is written to
// disk: the initramfs and the optional disks (Config.SwapMiB for swap,
// Config.ScratchMiB for an ext4 /tmp whose page cache is reclaimable) are
// memfds, the serial ports pipes. qemu runs in its own process group and is killed with
// everything in it on a guest kernel panic, on Config.Timeout, or when the
// context ends.
//
// The guest side is GuestInit, which the package's init function calls: in
// a binary booted by this package it is PID 1, mounts /proc, /sys, /dev,
// /tmp and cgroup2, runs the binary again with the host's arguments (there
// InGuest reports true), sends its stdout, stderr and exit status back as
// frames, and powers off. Anywhere else it does nothing. The exit status is
// an explicit frame because qemu exits 0 for a panic and a power-off alike.
//
// # Tests that run in the VM
//
// A test runs the part of itself that needs cgroup v2 inside the guest:
//
//	func TestGroupKill(t *testing.T) {
//		if !vm.InGuest() {
//			vmtest.RunTest(t, vm.Config{}) // build, boot, run this test there
//			return
//		}
//		// In the guest, as root: real cgroup v2.
//		os.Mkdir("/sys/fs/cgroup/x", 0o755)
//		os.WriteFile("/sys/fs/cgroup/x/memory.max", []byte("64M"), 0)
//		...
//	}
//
// vmtest.RunTest (internal/vm/vmtest: the harness imports package testing,
// so it lives apart from this package, which the oomkit binary links)
// builds the package's test binary with CGO_ENABLED=0 once per package per
// `go test` (TestBinary), and logs the guest's output through t. The guest
// test runs in "/", so it cannot read testdata; to start helper processes,
// re-exec /proc/self/exe with an environment variable the package's
// TestMain checks (see TestGroupKill's hogs in this package). Where qemu or
// a kernel is missing RunTest skips with the reason; with
// OOMKIT_REQUIRE_KERNEL_TESTS=1 it fails instead.
//
// # Configuration
//
// Config's zero value boots the current Debian cloud kernel (fetched once
// into os.UserCacheDir()/oomkit/kernels) with 512 MiB and one CPU, under a
// 5-minute timeout (generous: TCG on a loaded 2-core host is slow).
// OOMKIT_QEMU, OOMKIT_VM_KERNEL (a vmlinuz), OOMKIT_VM_KERNEL_PACKAGE and
// OOMKIT_VM_ACCEL override the defaults for every test at once. scripts/ci-vm-setup.sh installs qemu and pre-fetches
// the kernel.
package vm
