package vm

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultKernelPackage is the metapackage whose current image is booted when
// neither Config.Kernel nor Config.KernelPackage is set. The cloud flavour's
// vmlinuz is LZ4-compressed; the generic one is XZ, which costs ~3 s more
// to decompress under TCG (spec/qemu-v2.md §3). Both have MEMCG, PSI and the
// 8250 console built in, so the guest needs no modules.
const DefaultKernelPackage = "linux-image-cloud-amd64"

// SecondKernelPackage is the other kernel oomkit's own VM tests boot, next
// to the default (6.1 on Debian 12): Debian 12's 6.12 cloud image, so the
// parser and the model meet two real kernels (scripts/ci-vm-setup.sh
// fetches both).
const SecondKernelPackage = "linux-image-6.12-cloud-amd64"

// TestKernel is a kernel the project's VM-backed tests boot: Name for the
// subtest, Package for Config.KernelPackage ("" = the default).
type TestKernel struct{ Name, Package string }

// TestKernels are the kernels every VM-backed test runs on, one subtest
// each: Debian 12's default cloud kernel (6.1) and its 6.12 image.
var TestKernels = []TestKernel{{"default", ""}, {"6.12", SecondKernelPackage}}

// kernelPath returns the kernel image to boot: Config.Kernel, or the cached
// (fetched if need be) image of Config.KernelPackage.
func (c Config) kernelPath(ctx context.Context) (string, error) {
	if c.Kernel != "" {
		if _, err := os.Stat(c.Kernel); err != nil {
			return "", fmt.Errorf("%w: %w (point the kernel option at a vmlinuz, or leave it empty to fetch %s)", ErrNoKernel, err, DefaultKernelPackage)
		}
		return c.Kernel, nil
	}
	return FetchKernel(ctx, c.KernelPackage, c.CacheDir)
}

// CheckKernelImage reports whether path is a kernel qemu can boot
// directly: a regular file holding an x86 bzImage (the boot protocol's
// "HdrS" magic at offset 0x202, Documentation/arch/x86/boot.rst) or an ELF
// vmlinux. It reads 0x206 bytes and builds nothing.
func CheckKernelImage(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w (give the path of a vmlinuz, e.g. /boot/vmlinuz-$(uname -r))", ErrNoKernel, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoKernel, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (give the path of a vmlinuz)", ErrNoKernel, path)
	}
	hdr := make([]byte, 0x206)
	n, _ := io.ReadFull(f, hdr)
	hdr = hdr[:n]
	if bytes.HasPrefix(hdr, []byte("\x7fELF")) || len(hdr) == 0x206 && string(hdr[0x202:0x206]) == "HdrS" {
		return nil
	}
	return fmt.Errorf("%w: %s is neither a bzImage nor an ELF vmlinux (give the path of a vmlinuz, e.g. /boot/vmlinuz-$(uname -r))", ErrNoKernel, path)
}

// DefaultCacheDir is where fetched kernels are kept:
// os.UserCacheDir()/oomkit/kernels.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: no cache directory: %w (set HOME or XDG_CACHE_HOME)", ErrNoKernel, err)
	}
	return filepath.Join(d, "oomkit", "kernels"), nil
}

// FetchKernel returns the path of the vmlinuz in Debian package pkg (default
// DefaultKernelPackage; a metapackage resolves to the image it depends on),
// from cacheDir (default DefaultCacheDir) if it is there, else fetched with
// `apt-get download` and unpacked with `dpkg-deb --fsys-tarfile`. The cache
// is keyed by package name and version, so an ABI bump or a point release
// fetches the new image instead of silently booting the old one. Concurrent
// fetches of the same kernel wait for each other.
func FetchKernel(ctx context.Context, pkg, cacheDir string) (string, error) {
	if pkg == "" {
		pkg = DefaultKernelPackage
	}
	if cacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return "", err
		}
		cacheDir = d
	}
	memo := filepath.Join(cacheDir, pkg+".resolved")
	if image := readResolved(memo, cacheDir); image != "" {
		return image, nil
	}
	name, version, err := resolveKernelPackage(ctx, pkg)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, name+"_"+version)
	image := filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(image); err == nil {
		writeResolved(memo, name+"_"+version)
		return image, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoKernel, err)
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(image); err == nil {
		return image, nil // another process fetched it while we waited
	}
	if err := downloadKernel(ctx, name, version, cacheDir, dir); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("fetch %s %s: %w", name, version, ctx.Err())
		}
		return "", fmt.Errorf("%w: fetch %s %s: %w (check the network and `apt-get update`, or set %s to a local vmlinuz)", ErrNoKernel, name, version, err, EnvKernel)
	}
	writeResolved(memo, name+"_"+version)
	return image, nil
}

// aptLists is where apt keeps its package lists; `apt-get update` renames
// new lists into it, which changes its modification time.
const aptLists = "/var/lib/apt/lists"

// readResolved returns the cached image that memo (written by
// writeResolved) names, if memo is newer than apt's lists: apt would
// resolve the package the same way, so the two apt-cache calls (~1 s
// together) are skipped. It returns "" otherwise.
func readResolved(memo, cacheDir string) string {
	mi, err := os.Stat(memo)
	if err != nil {
		return ""
	}
	li, err := os.Stat(aptLists)
	if err != nil || !mi.ModTime().After(li.ModTime()) {
		return ""
	}
	b, err := os.ReadFile(memo)
	if err != nil {
		return ""
	}
	entry := strings.TrimSpace(string(b))
	if entry == "" || strings.ContainsAny(entry, "/\n") {
		return ""
	}
	image := filepath.Join(cacheDir, entry, "vmlinuz")
	if _, err := os.Stat(image); err != nil {
		return ""
	}
	return image
}

// writeResolved records which cache entry a package name resolved to. It
// is only a shortcut, so errors are ignored.
func writeResolved(memo, entry string) {
	tmp := memo + ".tmp" + strconv.Itoa(os.Getpid())
	if os.WriteFile(tmp, []byte(entry+"\n"), 0o644) == nil {
		if os.Rename(tmp, memo) != nil {
			os.Remove(tmp)
		}
	}
}

// lockDir takes an exclusive flock on dir/.lock.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: lock kernel cache: %w", ErrNoKernel, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: lock kernel cache: %w", ErrNoKernel, err)
	}
	return func() { f.Close() }, nil
}

var imageDepends = regexp.MustCompile(`(?m)^\s*\|?Depends:\s*(linux-image-[0-9][^\s<>]*)\s*$`)

// resolveKernelPackage turns pkg into a concrete image package and the
// version apt would download, asking the local apt lists (no network).
func resolveKernelPackage(ctx context.Context, pkg string) (name, version string, err error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", "", fmt.Errorf("%w: apt-cache not found, so kernel package %q cannot be fetched here (set %s to a local vmlinuz)", ErrNoKernel, pkg, EnvKernel)
	}
	name = pkg
	if out, err := exec.CommandContext(ctx, "apt-cache", "depends", pkg).Output(); err == nil {
		if m := imageDepends.FindSubmatch(out); m != nil {
			name = string(m[1])
		}
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "policy", name).Output()
	if ctx.Err() != nil {
		return "", "", fmt.Errorf("resolve kernel package %s: %w", pkg, ctx.Err())
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: apt-cache policy %s: %w", ErrNoKernel, name, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			version = strings.TrimSpace(v)
		}
	}
	if version == "" || version == "(none)" {
		return "", "", fmt.Errorf("%w: kernel package %q is not known to apt (check the name with `apt-cache search linux-image`, run `apt-get update`, or set %s to a local vmlinuz)", ErrNoKernel, pkg, EnvKernel)
	}
	return name, version, nil
}

// downloadKernel fetches name=version into a scratch directory under
// cacheDir, extracts /boot/vmlinuz-* as dst/vmlinuz and renames the
// directory into place, so dst is complete or absent.
func downloadKernel(ctx context.Context, name, version, cacheDir, dst string) error {
	tmp, err := os.MkdirTemp(cacheDir, ".fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// apt's download sandbox user (_apt) must be able to write here.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	dl := exec.CommandContext(ctx, "apt-get", "download", "-q", name+"="+version)
	dl.Dir = tmp
	var stderr bytes.Buffer
	dl.Stderr = &stderr
	if err := dl.Run(); err != nil {
		return fmt.Errorf("apt-get download: %w: %s", err, aptError(stderr.String()))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download left %d .deb files, want 1", len(debs))
	}
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	if err := extractBoot(ctx, debs[0], out); err != nil {
		return err
	}
	if err := os.Rename(out, dst); err != nil {
		return fmt.Errorf("move kernel into the cache: %w", err)
	}
	return nil
}

// aptError picks apt's "E:" lines out of its stderr.
func aptError(stderr string) string {
	var es []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "E: ") {
			es = append(es, strings.TrimPrefix(l, "E: "))
		}
	}
	if len(es) == 0 {
		return strings.TrimSpace(stderr)
	}
	return strings.Join(es, "; ")
}

// extractBoot writes the package's /boot/vmlinuz-* to dir/vmlinuz and its
// /boot/config-* to dir/config. Only the data tar is read, through
// dpkg-deb, not unpacked: the generic image's modules are 400 MB.
func extractBoot(ctx context.Context, deb, dir string) error {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	found, terr := extractBootTar(bufio.NewReaderSize(pipe, 1<<20), dir)
	_, _ = io.Copy(io.Discard, pipe)
	werr := cmd.Wait()
	switch {
	case terr != nil:
		return terr
	case werr != nil:
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", filepath.Base(deb), werr, strings.TrimSpace(stderr.String()))
	case !found:
		return errors.New("the package has no /boot/vmlinuz-*: not a kernel image package")
	}
	return nil
}

// extractBootTar is extractBoot's tar half.
func extractBootTar(r io.Reader, dir string) (found bool, err error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return found, fmt.Errorf("read kernel package: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		var dst string
		switch {
		case strings.HasPrefix(h.Name, "./boot/vmlinuz-"):
			dst = filepath.Join(dir, "vmlinuz")
			found = true
		case strings.HasPrefix(h.Name, "./boot/config-"):
			dst = filepath.Join(dir, "config")
		default:
			continue
		}
		f, err := os.Create(dst)
		if err != nil {
			return found, err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return found, fmt.Errorf("extract %s: %w", h.Name, err)
		}
	}
}
