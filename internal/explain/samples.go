package explain

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// samplesFS holds real kernel reports bundled in the binary; provenance
// is in samples/README.md.
//
//go:embed samples/*.log
var samplesFS embed.FS

// Samples lists the names of the bundled sample reports, sorted.
func Samples() []string {
	ents, _ := fs.ReadDir(samplesFS, "samples")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".log"))
	}
	sort.Strings(names)
	return names
}

// Sample returns the text of the bundled report name.
func Sample(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("no sample %q (samples: %s)", name, strings.Join(Samples(), ", "))
	}
	b, err := samplesFS.ReadFile("samples/" + name + ".log")
	if err != nil {
		return nil, fmt.Errorf("no sample %q (samples: %s)", name, strings.Join(Samples(), ", "))
	}
	return b, nil
}
