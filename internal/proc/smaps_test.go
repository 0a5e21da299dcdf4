package proc

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSmapsCommit(t *testing.T) {
	b, err := os.ReadFile("testdata/smaps/mappings-6.18")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSmapsCommit(b)
	if err != nil {
		t.Fatal(err)
	}
	// TotalBytes: every mapping but [vsyscall], summed by hand from the
	// header lines: 1471 pages.
	want := Commit{Bytes: 765952, VMAs: 19, TotalBytes: 1471 * 4096, SharedAnon: map[uint64]int64{25: 204800}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSmapsCommit (-want +got):\n%s", diff)
	}
}

func TestParseSmapsCommitOdd(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int64
		bad      bool
	}{
		{"empty (kernel thread, zombie)", "", 0, false},
		{"no trailing newline", "1000-3000 rw-p 00000000 00:00 0 \nVmFlags: rd wr ac", 0x2000, false},
		{"path with spaces and hostile name", "1000-2000 rw-p 00000000 fe:00 12  /tmp/Plex Media Server (deleted)\nVmFlags: rd wr ac \n", 0x1000, false},
		{"'ac' only as a whole flag", "1000-2000 rw-p 00000000 00:00 0\nVmFlags: rd wr acx \n", 0, false},
		{"flags before any mapping", "VmFlags: ac\n", 0, true},
		{"bad address", "zzzz rw-p 0 00:00 0\n", 0, true},
		{"end before start", "2000-1000 rw-p 0 00:00 0\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSmapsCommit([]byte(tc.in))
			if tc.bad {
				if !errors.Is(err, errSmaps) {
					t.Fatalf("err = %v, want errSmaps", err)
				}
				return
			}
			if err != nil || got.Bytes != tc.want {
				t.Errorf("got %d, %v; want %d", got.Bytes, err, tc.want)
			}
		})
	}
}

func FuzzParseSmapsCommit(f *testing.F) {
	if b, err := os.ReadFile("testdata/smaps/mappings-6.18"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1000-3000 rw-p 00000000 00:00 0 \nVmFlags: rd wr ac"))
	f.Add([]byte("VmFlags: ac\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseSmapsCommit(b)
		if err == nil && c.Bytes < 0 {
			t.Fatalf("negative commit %d", c.Bytes)
		}
	})
}

func TestParseSysVShm(t *testing.T) {
	b, err := os.ReadFile("testdata/smaps/sysvipc-shm")
	if err != nil {
		t.Fatal(err)
	}
	n, segs, err := parseSysVShm(b)
	if err != nil || n != 1064960 || segs != 2 {
		t.Errorf("parseSysVShm = %d, %d, %v; want 1064960, 2", n, segs, err)
	}
	if _, _, err := parseSysVShm([]byte("garbage\n")); err == nil {
		t.Error("no header: want an error")
	}
}

func TestParseTmpfsMounts(t *testing.T) {
	in := "tmpfs /dev/shm tmpfs rw,nosuid 0 0\nproc /proc proc rw 0 0\ntmpfs /run/with\\040space tmpfs rw 0 0\n"
	got := parseTmpfsMounts([]byte(in))
	if diff := cmp.Diff([]string{"/dev/shm", "/run/with space"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
