package vm

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guest's disks: namespaces of one NVMe controller (the one block
// driver both Debian kernel flavours build in, next to ext4), each backed by
// a memfd on the host and prepared on the host, so that the host pays only
// for what the guest writes.
//
//   - nsid 1, swap (Config.SwapMiB): makes anonymous memory reclaimable, so
//     memory.high reclaims instead of only throttling;
//   - nsid 2, scratch (Config.ScratchMiB): an ext4 filesystem mounted on
//     /tmp instead of tmpfs, so files written there are page cache the
//     kernel can drop, as on a real node's disk.
const (
	swapNSID    = 1
	scratchNSID = 2
)

const swapPageSize = 4096

// swapImage returns a memfd of mib MiB holding an empty swap area, as
// mkswap(8) writes it: union swap_header in include/linux/swap.h, version 1,
// last_page, no bad pages, and "SWAPSPACE2" in the last 10 bytes of page 0.
// The rest stays a hole, so the host pays only for what the guest swaps out.
func swapImage(mib int) (*os.File, error) {
	size := int64(mib) << 20
	pages := size / swapPageSize
	if pages < 10 {
		return nil, fmt.Errorf("swap of %d MiB is too small", mib)
	}
	hdr := make([]byte, swapPageSize)
	binary.LittleEndian.PutUint32(hdr[1024:], 1)               // version
	binary.LittleEndian.PutUint32(hdr[1028:], uint32(pages-1)) // last_page
	binary.LittleEndian.PutUint32(hdr[1032:], 0)               // nr_badpages
	copy(hdr[1036:], "oomkit-vm-swap!!")                       // uuid (any 16 bytes)
	copy(hdr[swapPageSize-10:], "SWAPSPACE2")                  // magic
	f, err := memfdWith("oomkit-swap", hdr)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("size swap memfd: %w", err)
	}
	return f, nil
}

// scratchImage returns a memfd of mib MiB holding an empty ext4
// filesystem, made by the host's mkfs.ext4 (e2fsprogs, priority "required"
// in Debian). No journal: it is thrown away with the VM.
func scratchImage(ctx context.Context, mib int) (*os.File, error) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"} {
			if _, serr := os.Stat(p); serr == nil {
				mkfs, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("scratch disk: mkfs.ext4 not found (apt-get install e2fsprogs)")
	}
	fd, err := unix.MemfdCreate("oomkit-scratch", 0)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "oomkit-scratch")
	if err := f.Truncate(int64(mib) << 20); err != nil {
		f.Close()
		return nil, fmt.Errorf("size scratch memfd: %w", err)
	}
	cmd := exec.CommandContext(ctx, mkfs, "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "nodiscard", "-L", "oomkit-scratch", "/dev/fd/3")
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil {
		f.Close()
		return nil, fmt.Errorf("scratch disk: mkfs.ext4: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return f, nil
}

// nvmeDisk waits for the NVMe namespace nsid to appear (NVMe probes
// asynchronously) and returns its device path.
func nvmeDisk(nsid int) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	want := strconv.Itoa(nsid)
	for {
		blocks, _ := filepath.Glob("/sys/block/nvme*")
		for _, b := range blocks {
			id, err := os.ReadFile(filepath.Join(b, "nsid"))
			if err != nil || strings.TrimSpace(string(id)) != want {
				continue
			}
			dev := "/dev/" + filepath.Base(b)
			if _, err := os.Stat(dev); err == nil {
				return dev, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("NVMe namespace %d did not appear within 10s", nsid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// enableSwap swaps on the swap namespace.
func enableSwap() error {
	dev, err := nvmeDisk(swapNSID)
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	p, err := unix.BytePtrFromString(dev)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
		return fmt.Errorf("swapon %s: %w", dev, errno)
	}
	return nil
}

// mountScratch mounts the scratch namespace's ext4 on dir.
func mountScratch(dir string) error {
	dev, err := nvmeDisk(scratchNSID)
	if err != nil {
		return fmt.Errorf("scratch disk: %w", err)
	}
	if err := unix.Mount(dev, dir, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount %s (ext4) on %s: %w", dev, dir, err)
	}
	return os.Chmod(dir, 0o1777)
}

// diskArgs returns qemu's arguments for the disks: one NVMe controller and
// a namespace per memfd, the memfds being the fds given.
func diskArgs(swapFD, scratchFD int) []string {
	if swapFD < 0 && scratchFD < 0 {
		return nil
	}
	args := []string{"-device", "nvme,id=oomkit-nvme,serial=oomkit"}
	for _, d := range []struct {
		name     string
		fd, nsid int
	}{{"swap", swapFD, swapNSID}, {"scratch", scratchFD, scratchNSID}} {
		if d.fd < 0 {
			continue
		}
		args = append(args,
			"-drive", fmt.Sprintf("file=/dev/fd/%d,if=none,id=%s,format=raw,cache=unsafe", d.fd, d.name),
			"-device", fmt.Sprintf("nvme-ns,drive=%s,bus=oomkit-nvme,nsid=%d", d.name, d.nsid))
	}
	return args
}
