package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// VMStat is the part of /proc/vmstat oomkit uses; nil when the kernel does
// not print the counter.
type VMStat struct {
	// OOMKill counts OOM kills since boot, global and memcg (4.13+).
	OOMKill *int64
}

// VMStat reads /proc/vmstat.
func (f FS) VMStat() (VMStat, error) {
	p := f.path("vmstat")
	b, err := readFile(p)
	if err != nil {
		return VMStat{}, fmt.Errorf("read %s: %w", p, err)
	}
	s, err := parseVMStat(bytes.NewReader(b))
	if err != nil {
		return VMStat{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return s, nil
}

// parseVMStat reads "name value" lines.
func parseVMStat(r io.Reader) (VMStat, error) {
	var s VMStat
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, val, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if !ok {
			continue
		}
		if string(name) == "oom_kill" {
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return VMStat{}, fmt.Errorf("oom_kill %q: %w", val, err)
			}
			s.OOMKill = &n
		}
	}
	return s, sc.Err()
}
