package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/lab"
)

// TestAllocLabRefusals is the table of refusals: arguments → exit code →
// the one-line message. None of these allocates or creates a cgroup.
func TestAllocLabRefusals(t *testing.T) {
	root := lab.Host{EUID: 0, Layout: cgroup.Layout{Memory: cgroup.V1, V1Memory: "/sys/fs/cgroup/memory"},
		OwnMemcg: "/user.slice", MemAvailableBytes: 8 * bytesize.GiB, KernelRelease: "6.18.0"}
	user := root
	user.EUID = 1000
	noMemcg := root
	noMemcg.Layout, noMemcg.OwnMemcg = cgroup.Layout{}, ""
	readOnly := root
	readOnly.OwnMemcgErr = "memory cgroup /sys/fs/cgroup/memory/user.slice is not writable: read-only file system"

	for _, tc := range []struct {
		name string
		args []string
		host *lab.Host
		code int
		msg  string
	}{
		{"touch over 100", []string{"alloc", "--block", "1MiB", "--touch", "150%"}, nil, 2, `oomkit: --touch: "150%" is outside 0%–100%`},
		{"block 0", []string{"alloc", "--block", "0"}, nil, 2, "oomkit: --block must be more than 0 bytes"},
		{"no block", []string{"alloc"}, nil, 2, "oomkit: --block is required"},
		{"bad size", []string{"alloc", "--block", "10parsecs"}, nil, 2, `oomkit: --block: "10parsecs" is not a size`},
		{"bad mode", []string{"alloc", "--block", "1MiB", "--mode", "brk"}, nil, 2, `oomkit: --mode "brk": want mmap, heap, file or shmem`},
		{"hold without max", []string{"alloc", "--block", "1MiB", "--hold"}, nil, 2, "oomkit: --hold needs --max"},
		{"adj out of range", []string{"alloc", "--block", "1MiB", "--oom-score-adj", "2000"}, nil, 2, "oomkit: --oom-score-adj 2000 is outside -1000…1000"},
		{"max 0", []string{"alloc", "--block", "1MiB", "--max", "0"}, nil, 2, "oomkit: --max 0"},
		{"unknown scenario", []string{"lab", "run", "twist-3"}, &root, 2, `oomkit: unknown scenario "twist-3" ('oomkit lab list' shows them)`},
		{"no scenario", []string{"lab", "run"}, &root, 2, "oomkit: name a scenario or use --all"},
		{"names and all", []string{"lab", "run", "--all", "twist-1"}, &root, 2, "oomkit: give scenario names or --all, not both"},
		{"limit too small", []string{"lab", "run", "--all", "--limit", "1MiB"}, &root, 2, "oomkit: --limit 1 MiB is too small"},
		{"limit not a size", []string{"lab", "run", "--all", "--limit", "lots"}, &root, 2, `oomkit: --limit: "lots" is not a size`},
		{"limit above half of MemAvailable", []string{"lab", "run", "--all", "--limit", "1TiB"}, &root, 4,
			"oomkit: --limit 1 TiB is above half of MemAvailable (8 GiB): choose --limit 4 GiB or less"},
		{"not root", []string{"lab", "run", "--all"}, &user, 4, "oomkit: the lab needs root to create memory cgroups"},
		{"no memory controller", []string{"lab", "run", "container-limit"}, &noMemcg, 4, "oomkit: no writable memory cgroup to run the lab in: no cgroup memory controller is mounted"},
		{"memcg not writable", []string{"lab", "run", "container-limit"}, &readOnly, 4, "oomkit: no writable memory cgroup to run the lab in: memory cgroup /sys/fs/cgroup/memory/user.slice is not writable"},
		{"clean as a user", []string{"lab", "clean"}, &user, 4, "oomkit: the lab needs root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.host != nil {
				h := *tc.host
				old := labHost
				labHost = func() lab.Host { return h }
				t.Cleanup(func() { labHost = old })
			}
			var out, errOut bytes.Buffer
			code := Main(tc.args, strings.NewReader(""), &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			msg := errOut.String()
			if !strings.HasPrefix(msg, tc.msg) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", msg, tc.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestLabRefusesLimitOnThisHost: the real host, a limit no machine here
// has half of: refused with exit 4 before anything is created.
func TestLabRefusesLimitOnThisHost(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"lab", "run", "--all", "--limit", "1000TiB"}, strings.NewReader(""), &out, &errOut); code != labExitRefused {
		t.Fatalf("exit %d, want %d: %s", code, labExitRefused, errOut.String())
	}
	if !strings.Contains(errOut.String(), "MemAvailable") && !strings.Contains(errOut.String(), "root") &&
		!strings.Contains(errOut.String(), "memory cgroup") {
		t.Errorf("message %q does not say why", errOut.String())
	}
}

func TestLabListGolden(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"lab", "list"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	golden(t, filepath.Join("testdata", "lab/list.golden"), out.Bytes())
}

// TestSchemasDocumented: every field of oomkit.alloc/v1 and oomkit.lab/v1
// is documented in docs/alloc.md and docs/lab.md.
func TestSchemasDocumented(t *testing.T) {
	for doc, v := range map[string]any{"alloc.md": alloc.Record{}, "lab.md": lab.Result{}} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range jsonFields(reflect.TypeOf(v)) {
			if !bytes.Contains(b, []byte("`"+f+"`")) {
				t.Errorf("docs/%s does not document `%s`", doc, f)
			}
		}
	}
}

// jsonFields lists the JSON names of t's fields and of the structs it
// holds (slices, pointers), depth first.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != "" && !strings.Contains(t.PkgPath(), "oomkit/internal/alloc") && !strings.Contains(t.PkgPath(), "oomkit/internal/lab") {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, name)
		out = append(out, jsonFields(f.Type)...)
	}
	return out
}
