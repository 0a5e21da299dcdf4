package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSchemaDocs keeps docs/inspect.md and docs/top.md in step with the
// JSON the commands print (their golden files): the example block equals
// the golden output, and every field name printed is documented.
func TestSchemaDocs(t *testing.T) {
	for _, tc := range []struct{ doc, golden string }{
		{"inspect.md", "testdata/inspect/pid.json"},
		{"inspect.md", "testdata/inspect/pod.json"},
		{"inspect.md", "testdata/inspect/all.json"},
		{"top.md", "testdata/top/global.jsonl"},
		{"top.md", "testdata/top/memcg.jsonl"},
	} {
		t.Run(tc.doc+" "+filepath.Base(tc.golden), func(t *testing.T) {
			docb, err := os.ReadFile(filepath.Join("..", "..", "docs", tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			doc := string(docb)
			gb, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(gb), "\n")
			var golden any
			if err := json.Unmarshal([]byte(first), &golden); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.golden, "pid.json") || strings.HasSuffix(tc.golden, "global.jsonl") {
				m := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(doc)
				if m == nil {
					t.Fatal("no ```json example block")
				}
				var example any
				if err := json.Unmarshal([]byte(m[1]), &example); err != nil {
					t.Fatalf("example block: %v", err)
				}
				if d := cmp.Diff(golden, example); d != "" {
					t.Errorf("docs/%s example differs from %s (-golden +doc); paste the golden output:\n%s", tc.doc, tc.golden, d)
				}
			}
			var missing []string
			for k := range jsonKeys(golden, map[string]bool{}) {
				if !strings.Contains(doc, "`"+k+"`") && !strings.Contains(doc, "."+k+"`") && !strings.Contains(doc, "`"+k+",") &&
					!strings.Contains(doc, " "+k+"`") && !strings.Contains(doc, " "+k+",") {
					missing = append(missing, k)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("docs/%s does not document %q", tc.doc, missing)
			}
		})
	}
}

// jsonKeys collects every object key in v.
func jsonKeys(v any, keys map[string]bool) map[string]bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			keys[k] = true
			jsonKeys(e, keys)
		}
	case []any:
		for _, e := range x {
			jsonKeys(e, keys)
		}
	}
	return keys
}
