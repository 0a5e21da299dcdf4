package vm

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guest's swap: an NVMe disk (the one block driver both Debian kernel
// flavours build in) backed by a memfd on the host, formatted as swap on the
// host and enabled by GuestInit before the program starts. Swap is what
// makes anonymous memory reclaimable, so memory.high can throttle and
// reclaim instead of only throttling.

// swapDevice is the NVMe namespace the guest kernel names the disk.
const swapDevice = "/dev/nvme0n1"

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

// enableSwap waits for the swap disk to appear (NVMe probes asynchronously)
// and swaps on it.
func enableSwap() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(swapDevice); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("swap disk %s did not appear within 10s", swapDevice)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p, err := unix.BytePtrFromString(swapDevice)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
		return fmt.Errorf("swapon %s: %w", swapDevice, errno)
	}
	return nil
}
