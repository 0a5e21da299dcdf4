package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	Name         string
	Mode         uint32
	Major, Minor uint32
	Data         string
}

// readNewc parses a newc archive the way init/initramfs.c does: 110-byte
// header, name and data each padded to 4 bytes, up to TRAILER!!!.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("bad header field %d at %d: %v", i, off, err)
		}
		return uint32(v)
	}
	pad := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		mode, size, rmaj, rmin, namesize := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+namesize-1])
		dataOff := pad(off + 110 + namesize)
		data := string(b[dataOff : dataOff+size])
		off = pad(dataOff + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, rmaj, rmin, data})
	}
}

func TestInitramfs(t *testing.T) {
	files := []initramfsFile{{name: "oomkit-vm.json", mode: 0o644, data: []byte(`{"args":["a b"]}`)}}
	want := []cpioEntry{
		{Name: "dev", Mode: 0o040755},
		{Name: "proc", Mode: 0o040755},
		{Name: "sys", Mode: 0o040755},
		{Name: "tmp", Mode: 0o040755},
		{Name: "run", Mode: 0o040755},
		{Name: "dev/console", Mode: 0o020600, Major: 5, Minor: 1},
		{Name: "oomkit", Mode: 0o100755, Data: "\x7fELF odd length"},
		{Name: "init", Mode: 0o120777, Data: "oomkit"},
		{Name: "oomkit-vm.json", Mode: 0o100644, Data: `{"args":["a b"]}`},
	}
	for _, gz := range []bool{false, true} {
		b, err := buildInitramfs("oomkit", []byte("\x7fELF odd length"), files, gz)
		if err != nil {
			t.Fatal(err)
		}
		if gz {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(want, readNewc(t, b)); diff != "" {
			t.Errorf("gzip=%v: archive (-want +got):\n%s", gz, diff)
		}
	}
}

func TestFrames(t *testing.T) {
	big := bytes.Repeat([]byte("x"), maxFramePayload+5)
	var buf bytes.Buffer
	for _, f := range []struct {
		kind byte
		p    []byte
	}{{frameRelease, []byte("6.1.0-56-cloud-amd64")}, {frameStdout, []byte("a\nb\r\n\x00")}, {frameStderr, nil}, {frameStdout, big}, {frameExit, []byte("137")}} {
		if err := writeFrame(&buf, f.kind, f.p); err != nil {
			t.Fatal(err)
		}
	}
	var res Result
	var live bytes.Buffer
	exited := make(chan struct{})
	if err := readFrames(&buf, Config{Stdout: &live}, &res, exited); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	default:
		t.Error("exit frame did not close exited")
	}
	wantOut := append([]byte("a\nb\r\n\x00"), big...)
	if !bytes.Equal(res.Stdout, wantOut) || !bytes.Equal(live.Bytes(), wantOut) {
		t.Errorf("stdout: got %d bytes (live %d), want %d", len(res.Stdout), live.Len(), len(wantOut))
	}
	if res.ExitCode != 137 || res.KernelRelease != "6.1.0-56-cloud-amd64" || len(res.Stderr) != 0 {
		t.Errorf("exit %d, release %q, stderr %q", res.ExitCode, res.KernelRelease, res.Stderr)
	}

	// A corrupted length is an error, not a huge allocation.
	_, _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte("Offffffffxyz"))))
	if err == nil {
		t.Error("corrupt frame accepted")
	}
}
