package vm

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// cpioWriter writes the "newc" cpio format (magic 070701), the only one the
// kernel unpacks as an initramfs (init/initramfs.c). Every header field is 8
// hex digits; the name and the data are each padded to a multiple of 4.
type cpioWriter struct {
	w   io.Writer
	ino int
	off int64
	err error
}

// File modes as the kernel's cpio unpacker expects them (S_IF* | permissions).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeCharDev = 0o020000
	modeSymlink = 0o120000
)

func (c *cpioWriter) add(name string, mode uint32, devMajor, devMinor int, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, devMajor, devMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if n := c.off % 4; n != 0 {
		c.write(make([]byte, 4-n))
	}
}

// close writes the end-of-archive entry.
func (c *cpioWriter) close() error {
	c.add("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

// initramfsFile is one extra regular file for the guest's root.
type initramfsFile struct {
	name string
	mode uint32 // permissions only
	data []byte
}

// writeInitramfs writes a newc cpio archive with the directories a Go /init
// needs (dev, proc, sys, tmp), /dev/console (c 5 1, so init has a console
// before devtmpfs is mounted), the program as /name with /init a symlink to
// it, and the extra files. The program's own name is what the kernel's
// reports show as its comm (and its children's, when they re-exec
// os.Executable()), rather than "init". With compress the archive is
// gzipped (BestSpeed); the kernel takes either form, and under TCG the
// uncompressed one boots as fast.
func writeInitramfs(w io.Writer, name string, init []byte, files []initramfsFile, compress bool) error {
	var gz *gzip.Writer
	out := w
	if compress {
		gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = gz
	}
	c := &cpioWriter{w: out}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run"} {
		c.add(d, modeDir|0o755, 0, 0, nil)
	}
	c.add("dev/console", modeCharDev|0o600, 5, 1, nil)
	c.add(name, modeRegular|0o755, 0, 0, init)
	if name != "init" {
		c.add("init", modeSymlink|0o777, 0, 0, []byte(name))
	}
	for _, f := range files {
		c.add(f.name, modeRegular|f.mode, 0, 0, f.data)
	}
	if err := c.close(); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return fmt.Errorf("write initramfs: %w", err)
		}
	}
	return nil
}

// buildInitramfs returns the archive writeInitramfs writes, in memory.
func buildInitramfs(name string, init []byte, files []initramfsFile, compress bool) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(init) + 4096)
	if err := writeInitramfs(&b, name, init, files, compress); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
