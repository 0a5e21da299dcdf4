#!/bin/sh
# ci-vm-setup.sh: make this machine ready for oomkit's VM-backed tests
# (internal/vm: real cgroup v2 under qemu TCG). Idempotent; run as root on
# Debian 12. When everything is already there it only checks (about 1 s).
#
#   1. qemu-system-x86 (without recommends: 31 packages, ~18 MB download);
#   2. the guest kernel: the current Debian cloud kernel image, fetched with
#      apt-get download into ~/.cache/oomkit/kernels (or $XDG_CACHE_HOME),
#      where internal/vm looks for it. Override with
#      OOMKIT_VM_KERNEL_PACKAGE=NAME, or skip the fetch by setting
#      OOMKIT_VM_KERNEL=/path/to/vmlinuz for the tests instead;
#   3. the second guest kernel the lab's VM suite also runs on: Debian 12's
#      6.12 cloud image (linux-image-6.12-cloud-amd64).
#
# apt-get update runs at most once, and only if apt cannot find a package.
set -eu

cd "$(dirname "$0")/.."

updated=no
apt_update() {
	if [ "$updated" = no ]; then
		echo "ci-vm-setup: apt-get update"
		apt-get update -qq
		updated=yes
	fi
}

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	if ! apt-cache show qemu-system-x86 >/dev/null 2>&1; then
		apt_update
	fi
	echo "ci-vm-setup: installing qemu-system-x86"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
for tool in qemu-system-x86_64 dpkg-deb apt-get go; do
	command -v "$tool" >/dev/null 2>&1 || { echo "ci-vm-setup: $tool not found" >&2; exit 1; }
done

# fetch PACKAGE: put its kernel image in the cache and print where.
fetch() {
	# The metapackage names the current image (its ABI number changes with
	# point releases, so it is never hard-coded); without apt lists it is unknown.
	if ! apt-cache depends "$1" 2>/dev/null | grep -q 'Depends: linux-image-[0-9]' &&
		! apt-cache show "$1" >/dev/null 2>&1; then
		apt_update
	fi
	if ! kernel=$(go run ./internal/vm/cmd/vmkernel "$1"); then
		if [ "$updated" = no ]; then
			# A stale list can name an image the mirror no longer has.
			apt_update
			kernel=$(go run ./internal/vm/cmd/vmkernel "$1")
		else
			exit 1
		fi
	fi
	echo "ci-vm-setup: kernel $kernel"
}

if [ -n "${OOMKIT_VM_KERNEL:-}" ]; then
	[ -r "$OOMKIT_VM_KERNEL" ] || { echo "ci-vm-setup: OOMKIT_VM_KERNEL=$OOMKIT_VM_KERNEL is not readable" >&2; exit 1; }
	echo "ci-vm-setup: kernel $OOMKIT_VM_KERNEL (from OOMKIT_VM_KERNEL)"
else
	fetch "${OOMKIT_VM_KERNEL_PACKAGE:-linux-image-cloud-amd64}"
fi
# The second guest kernel of the VM tests (internal/vm SecondKernelPackage).
fetch linux-image-6.12-cloud-amd64
