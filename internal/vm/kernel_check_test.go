package vm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckKernelImage: a bzImage is told by the boot protocol's "HdrS"
// at 0x202 (Documentation/arch/x86/boot.rst), a vmlinux by its ELF magic;
// anything else, a directory or a missing path is refused.
func TestCheckKernelImage(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bz := make([]byte, 0x400)
	copy(bz[0x202:], "HdrS")
	for _, ok := range []string{write("bzImage", bz), write("vmlinux", []byte("\x7fELF\x02\x01\x01"))} {
		if err := CheckKernelImage(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// Debian's own images, where a VM test fetched them already.
	if cache, err := DefaultCacheDir(); err == nil {
		real, _ := filepath.Glob(filepath.Join(cache, "*", "vmlinuz"))
		for _, p := range real {
			if err := CheckKernelImage(p); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	for _, bad := range []string{write("text", []byte("hello")), write("empty", nil), dir, filepath.Join(dir, "missing")} {
		if err := CheckKernelImage(bad); !errors.Is(err, ErrNoKernel) {
			t.Errorf("%s: %v, want ErrNoKernel", bad, err)
		}
	}
}
