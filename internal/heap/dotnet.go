package heap

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// dotnetHeap applies GCHeapHardLimit / GCHeapHardLimitPercent (hexadecimal
// in the environment, with or without 0x) and the container default,
// max(20 MB, 75% of the limit) (gc.cpp, dotnet/docs garbage-collector.md).
func dotnetHeap(h *Ceiling, env map[string]string, limitBytes, nodeMemoryBytes int64) {
	get := func(name string) (key, val string, ok bool) {
		for _, prefix := range []string{"DOTNET_", "COMPlus_"} {
			if v, ok := env[prefix+name]; ok {
				return prefix + name, v, true
			}
		}
		return "", "", false
	}
	for _, soh := range []string{"GCHeapHardLimitSOH", "GCHeapHardLimitLOH", "GCHeapHardLimitPOH"} {
		if key, _, ok := get(soh); ok {
			h.Warnings = append(h.Warnings, key+" sets per-object-heap limits, which oomkit does not model; the total ceiling is their sum")
			h.Source = "per-object-heap limits (" + key + ")"
			return
		}
	}
	if key, val, ok := get("GCHeapHardLimit"); ok {
		n, err := parseHex(val)
		switch {
		case err != nil:
			h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is not a hexadecimal byte count (the runtime reads hex, e.g. 0xC800000 for 200 MiB); it is ignored", key, val))
		case n > 0:
			h.Bytes = &n
			h.Source = fmt.Sprintf("%s=%s (hex: %s)", key, val, bytesize.Format(n))
			if pk, _, ok := get("GCHeapHardLimitPercent"); ok {
				h.Warnings = append(h.Warnings, pk+" is ignored because "+key+" is set")
			}
			return
		}
	}
	if key, val, ok := get("GCHeapHardLimitPercent"); ok {
		pct, err := parseHex(val)
		if err != nil || pct > 1000 {
			h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is not a hexadecimal percentage (e.g. 0x4B for 75%%); it is ignored", key, val))
		} else if pct > 0 {
			if isDecimalLooking(val) && pct >= 10 {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is hexadecimal: it means 0x%s = %d%%, not %s%%; write 0x%X for %s%%",
					key, val, val, pct, val, mustAtoi(val), val))
			}
			if pct > 100 {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s asks for %d%% of the memory: a heap ceiling above the limit never protects the container", key, val, pct))
			}
			base, of := limitBytes, "limit"
			if base == 0 {
				base, of = nodeMemoryBytes, "node memory (no container limit)"
			}
			if base > 0 {
				c := mulPercent(base, float64(pct))
				h.Bytes = &c
				h.Source = fmt.Sprintf("%s=%s (0x%X = %d%%) of the %s %s", key, val, pct, pct, bytesize.Format(base), of)
			} else {
				h.Source = fmt.Sprintf("%s=%s (%d%%) of an unknown amount of memory", key, val, pct)
			}
			return
		}
	}
	if limitBytes == 0 {
		h.Source = ".NET sets no GC heap hard limit when the container has no memory limit"
		return
	}
	c := max(20*bytesize.MiB, mulPercent(limitBytes, 75))
	h.Bytes = &c
	h.Source = fmt.Sprintf(".NET default: 75%% of the %s limit (at least 20 MB)", bytesize.Format(limitBytes))
}

// parseHex reads a hexadecimal number with or without a 0x prefix, as the
// CLR reads DOTNET_ settings.
func parseHex(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	n, err := strconv.ParseUint(s, 16, 63)
	if err != nil {
		return 0, err
	}
	return int64(n), nil
}

// isDecimalLooking reports a value written with decimal digits only, which a
// reader takes for decimal although the CLR reads hex.
func isDecimalLooking(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
