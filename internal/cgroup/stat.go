package cgroup

import (
	"bytes"
	"fmt"
	"strconv"
)

// Stat is memory.stat: "key value" lines, values in bytes (page counts for
// the event counters).
type Stat map[string]int64

// get returns the value of key, nil when absent.
func (s Stat) get(key string) *int64 {
	v, ok := s[key]
	if !ok {
		return nil
	}
	return &v
}

// parseStat reads a flat-keyed cgroup file (memory.stat, memory.events,
// memory.oom_control): "key value" per line.
func parseStat(b []byte) (Stat, error) {
	s := Stat{}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			return nil, fmt.Errorf("line %q: want \"key value\"", line)
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			// v1 hierarchical_*_limit are unsigned and may exceed int64.
			if _, uerr := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64); uerr == nil {
				n = 1<<63 - 1
			} else {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
		}
		s[string(k)] = n
	}
	return s, nil
}
