package layering

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxCLILines bounds internal/cli (issue 10): it wires flags and streams
// to the packages below; what it prints lives in internal/render, what
// it computes in the model packages. A command that needs more belongs
// there, not here.
const maxCLILines = 3000

// TestCLIStaysThin counts internal/cli's non-test Go lines.
func TestCLIStaysThin(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "cli", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in internal/cli: %v", err)
	}
	total := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		total += bytes.Count(b, []byte("\n"))
	}
	t.Logf("internal/cli: %d lines of non-test Go", total)
	if total > maxCLILines {
		t.Errorf("internal/cli has %d lines of non-test Go, more than %d: move rendering to internal/render and logic to the package that owns it", total, maxCLILines)
	}
}
