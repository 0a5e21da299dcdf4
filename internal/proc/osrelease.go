package proc

import (
	"fmt"
	"strings"
)

// OSRelease reads /proc/sys/kernel/osrelease, the running kernel's release
// ("6.18.44-fc-v669").
func (f FS) OSRelease() (string, error) {
	p := f.path("sys", "kernel", "osrelease")
	b, err := readFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("read %s: empty", p)
	}
	return s, nil
}
