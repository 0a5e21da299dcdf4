package kfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "meminfo")
	content := bytes.Repeat([]byte("MemTotal:       16384 kB\n"), 300) // > one 4 KiB buffer
	if err := os.WriteFile(small, content, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, read := range []struct {
		name string
		f    func(path string, max int) ([]byte, error)
	}{
		{"Read", Read},
		{"ReadShort", func(p string, max int) ([]byte, error) { return ReadShort(unix.AT_FDCWD, p, make([]byte, 100), max) }},
	} {
		t.Run(read.name, func(t *testing.T) {
			b, err := read.f(small, Small)
			if err != nil || !bytes.Equal(b, content) {
				t.Fatalf("read a regular file: %d bytes, %v; want %d bytes", len(b), err, len(content))
			}
			// Exactly at the bound is fine, one byte over is not.
			if _, err := read.f(small, len(content)); err != nil {
				t.Errorf("a file of exactly max bytes: %v", err)
			}
			if _, err := read.f(small, len(content)-1); !errors.Is(err, ErrTooLarge) {
				t.Errorf("a file one byte over max: %v, want ErrTooLarge", err)
			}
			// A link to /dev/zero, as in a hostile --proc-root tree, stops at the bound.
			zero := filepath.Join(dir, "zero-"+read.name)
			if err := os.Symlink("/dev/zero", zero); err != nil {
				t.Fatal(err)
			}
			if _, err := read.f(zero, 1<<16); !errors.Is(err, ErrTooLarge) {
				t.Errorf("/dev/zero: %v, want ErrTooLarge", err)
			}
			// A FIFO without a writer: open(2) must not wait for one.
			fifo := filepath.Join(dir, "fifo-"+read.name)
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := read.f(fifo, Small); err != nil || len(b) != 0 {
				t.Errorf("a FIFO without a writer: %q, %v; want nothing, at once", b, err)
			}
			// A FIFO with a writer that writes nothing: the read must not wait.
			w, err := os.OpenFile(fifo, os.O_RDWR, 0) // RDWR: does not block on Linux
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := read.f(fifo, Small); !errors.Is(err, ErrNotRegular) {
				t.Errorf("a FIFO with an idle writer: %v, want ErrNotRegular", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "stat")
	fifo := filepath.Join(dir, "fifo")
	if err := os.WriteFile(reg, []byte("cpu 1 2 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(reg); err != nil {
		t.Errorf("Check(regular file) = %v", err)
	}
	for _, p := range []string{fifo, "/dev/zero", "/dev/null"} {
		if err := Check(p); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Check(%s) = %v, want ErrNotRegular", p, err)
		}
	}
	if err := Check(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check(missing) = %v, want ErrNotExist", err)
	}
}

// The real kernel files read whole.
func TestReadKernelFiles(t *testing.T) {
	for _, p := range []string{"/proc/self/status", "/proc/meminfo", "/proc/self/mountinfo"} {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(p, Large)
		if err != nil {
			t.Fatalf("Read(%s): %v", p, err)
		}
		// meminfo and status change between reads: compare the line count.
		if bytes.Count(got, []byte("\n")) != bytes.Count(want, []byte("\n")) {
			t.Errorf("Read(%s): %d lines, os.ReadFile %d", p, bytes.Count(got, []byte("\n")), bytes.Count(want, []byte("\n")))
		}
	}
}
