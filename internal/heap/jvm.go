package heap

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// jvmOptions collects the JVM options in the order HotSpot applies them
// (later wins): JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, then the command line
// up to the main class or -jar.
func jvmOptions(argv []string, env map[string]string) []string {
	var opts []string
	opts = append(opts, strings.Fields(env["JAVA_TOOL_OPTIONS"])...)
	opts = append(opts, strings.Fields(env["JDK_JAVA_OPTIONS"])...)
	if len(argv) > 0 && (path.Base(argv[0]) == "java" || strings.HasPrefix(argv[0], "-")) {
		// argv[0] "-…": args without a command, passed to the image's
		// entrypoint (java in a JVM image).
		first := 1
		if strings.HasPrefix(argv[0], "-") {
			first = 0
		}
		for i := first; i < len(argv); i++ {
			a := argv[i]
			switch {
			case a == "-jar" || a == "-m" || a == "--module":
				return opts
			case a == "-cp" || a == "-classpath" || a == "--class-path" || a == "-p" || a == "--module-path":
				i++
			case strings.HasPrefix(a, "-"):
				opts = append(opts, a)
			default:
				return opts // the main class; the rest are program arguments
			}
		}
	}
	return opts
}

// jvmHeap applies -Xmx / -XX:MaxHeapSize, -XX:MaxRAM, -XX:MaxRAMPercentage,
// -XX:MinRAMPercentage and -XX:-UseContainerSupport the way HotSpot's
// Arguments::set_heap_size does (OpenJDK 17): physical memory is the
// container limit; below ~250 MiB the heap is MinRAMPercentage (50%) of it,
// above it max(MaxRAMPercentage (25%) of it, 124.8 MiB), rounded up to the
// heap alignment. Measured here with OpenJDK 17.0.15 (spec §6).
//
// Eclipse OpenJ9 (openj9/semeru images) has its own default: 50% below
// 1 GiB, the limit less 512 MiB up to 2 GiB, 75% above, at most 25 GiB
// (eclipse.dev/openj9/docs/xxusecontainersupport).
func jvmHeap(h *Ceiling, argv []string, env map[string]string, limitBytes, nodeMemoryBytes int64, openJ9 bool) {
	var (
		xmx, maxRAM          int64
		xmxFlag, maxRAMFlag  string
		maxPct, minPct       = 25.0, 50.0
		maxPctSet            bool
		containerSupport     = true
		containerSupportFlag string
	)
	for _, o := range jvmOptions(argv, env) {
		switch {
		case strings.HasPrefix(o, "-Xmx"):
			if n, ok := parseJVMSize(o[len("-Xmx"):]); ok {
				xmx, xmxFlag = n, o
			} else {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s is not a valid heap size (e.g. -Xmx768m); the JVM refuses to start", o))
			}
		case strings.HasPrefix(o, "-XX:MaxHeapSize="):
			if n, ok := parseJVMSize(o[len("-XX:MaxHeapSize="):]); ok {
				xmx, xmxFlag = n, o
			} else {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s is not a valid heap size; the JVM refuses to start", o))
			}
		case strings.HasPrefix(o, "-XX:MaxRAM="):
			if n, ok := parseJVMSize(o[len("-XX:MaxRAM="):]); ok {
				maxRAM, maxRAMFlag = n, o
			}
		case strings.HasPrefix(o, "-XX:MaxRAMPercentage="):
			if f, err := strconv.ParseFloat(o[len("-XX:MaxRAMPercentage="):], 64); err == nil && f >= 0 && f <= 100 {
				maxPct, maxPctSet = f, true
			} else {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s must be a number from 0 to 100 (e.g. -XX:MaxRAMPercentage=75.0); the JVM refuses to start", o))
			}
		case strings.HasPrefix(o, "-XX:MinRAMPercentage="):
			if f, err := strconv.ParseFloat(o[len("-XX:MinRAMPercentage="):], 64); err == nil && f >= 0 && f <= 100 {
				minPct = f
			}
		case o == "-XX:-UseContainerSupport":
			containerSupport, containerSupportFlag = false, o
		case o == "-XX:+UseContainerSupport":
			containerSupport, containerSupportFlag = true, ""
		}
	}
	if xmx > 0 {
		xmx = alignJVMHeap(xmx)
		h.Bytes = &xmx
		h.Source = fmt.Sprintf("%s (%s)", xmxFlag, bytesize.Format(xmx))
		return
	}
	phys, of := limitBytes, "the "+bytesize.Format(limitBytes)+" limit"
	switch {
	case maxRAM > 0:
		phys, of = maxRAM, maxRAMFlag
	case !containerSupport || limitBytes == 0:
		phys = min(nodeMemoryBytes, 128*bytesize.GiB) // MaxRAM's default caps what the JVM believes it has
		of = bytesize.Format(phys) + " of node memory"
		if !containerSupport && limitBytes > 0 {
			h.Warnings = append(h.Warnings, containerSupportFlag+" makes the JVM size its heap from the node's memory, not the container limit; remove it")
		}
	}
	if phys <= 0 {
		h.Source = "JVM default from the machine's memory, which is unknown here"
		return
	}
	if openJ9 && !maxPctSet {
		var c int64
		switch {
		case phys < bytesize.GiB:
			c = phys / 2
		case phys <= 2*bytesize.GiB:
			c = phys - 512*bytesize.MiB
		default:
			c = min(mulPercent(phys, 75), 25*bytesize.GiB)
		}
		h.Bytes = &c
		h.Source = "OpenJ9 default (50% below 1 GiB, limit − 512 MiB to 2 GiB, 75% above) of " + of
		return
	}
	// MaxHeapSize's built-in default, ScaleForWordSize(96 MiB) on 64-bit.
	const defaultMaxHeap = 96 * bytesize.MiB * 13 / 10
	minHeap := mulPercent(phys, minPct)
	var c int64
	var rule string
	if minHeap < defaultMaxHeap {
		c = minHeap
		rule = fmt.Sprintf("MinRAMPercentage (%s%%, small memory)", fmtPct(minPct))
		if maxPctSet {
			h.Warnings = append(h.Warnings, fmt.Sprintf("-XX:MaxRAMPercentage is ignored below about %s of memory: the JVM uses -XX:MinRAMPercentage (%s%%) there; set -Xmx",
				bytesize.Format(int64(float64(defaultMaxHeap)*100/minPct)), fmtPct(minPct)))
		}
	} else {
		c = max(mulPercent(phys, maxPct), defaultMaxHeap)
		rule = fmt.Sprintf("MaxRAMPercentage (%s%%)", fmtPct(maxPct))
		if c == defaultMaxHeap {
			rule = "the built-in minimum (124.8 MiB)"
		}
	}
	c = alignJVMHeap(c)
	h.Bytes = &c
	h.Source = fmt.Sprintf("JVM default: %s of %s", rule, of)
}

// isOpenJ9 recognises Eclipse OpenJ9 images (IBM Semeru runtimes).
func isOpenJ9(image string) bool {
	i := strings.ToLower(image)
	return strings.Contains(i, "openj9") || strings.Contains(i, "semeru")
}

// alignJVMHeap rounds a heap size up to HotSpot's heap alignment: the G1
// region size (heap/2048, rounded up to a power of two, 1–32 MiB), at least
// 2 MiB. This reproduces the sizes OpenJDK 17 printed on this machine.
func alignJVMHeap(n int64) int64 {
	region := int64(1) << 20
	for region < n/2048 && region < 32*bytesize.MiB {
		region <<= 1
	}
	align := max(region, 2*bytesize.MiB)
	return (n + align - 1) / align * align
}

func fmtPct(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// parseJVMSize reads a HotSpot size: digits with an optional k, m, g or t
// suffix (either case); no suffix means bytes.
func parseJVMSize(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = bytesize.KiB
	case 'm', 'M':
		mult = bytesize.MiB
	case 'g', 'G':
		mult = bytesize.GiB
	case 't', 'T':
		mult = bytesize.TiB
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}
