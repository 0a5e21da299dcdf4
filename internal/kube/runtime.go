package kube

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
)

// Managed runtimes whose heap ceiling HeapCeiling knows.
const (
	RuntimeDotnet = "dotnet"
	RuntimeJVM    = "jvm"
	RuntimeGo     = "go"
	RuntimeNode   = "node"
)

// Process is what a container runs, as far as a manifest or /proc shows it.
type Process struct {
	// Argv is the command line: a manifest's command followed by its args,
	// or /proc/PID/cmdline.
	Argv []string
	// Env holds KEY=VALUE pairs.
	Env []string
	// Image is the container image reference ("mcr.microsoft.com/dotnet/aspnet:8.0").
	Image string
}

// Heap is the ceiling a managed runtime puts on its own heap inside a
// container: when the heap reaches it the runtime throws (or collects
// harder) instead of growing into the kernel's limit.
type Heap struct {
	// Runtime is "dotnet", "jvm", "go", "node", or "" for native or unknown
	// programs.
	Runtime string
	// CeilingBytes is the heap ceiling; nil when the runtime sets none below
	// the limit or it cannot be known from the process description.
	CeilingBytes *int64
	// Source says how the ceiling was derived, in words.
	Source string
	// Warnings are mistakes and risks found on the way, each with a fix.
	Warnings []string
}

// HeapCeiling works out the runtime's heap ceiling for p inside a container
// with a memory limit of limitBytes (0: no limit) on a node with
// nodeMemoryBytes of RAM (0: unknown). The facts are in spec/kubernetes.md §6.
func HeapCeiling(p Process, limitBytes, nodeMemoryBytes int64) Heap {
	argv := unwrapShell(p.Argv)
	env := envMap(p.Env)
	var h Heap
	switch h.Runtime = detectRuntime(argv, env, p.Image); h.Runtime {
	case RuntimeDotnet:
		dotnetHeap(&h, env, limitBytes, nodeMemoryBytes)
	case RuntimeJVM:
		jvmHeap(&h, argv, env, limitBytes, nodeMemoryBytes, isOpenJ9(p.Image))
	case RuntimeGo:
		goHeap(&h, env)
	case RuntimeNode:
		nodeHeap(&h, argv, env, limitBytes, nodeMemoryBytes)
	default:
		h.Source = "no managed runtime recognised: the process grows until the kernel's limit"
		return h
	}
	if h.CeilingBytes != nil && limitBytes > 0 {
		c := *h.CeilingBytes
		switch {
		case c > limitBytes && h.Runtime != RuntimeGo:
			h.Warnings = append(h.Warnings, fmt.Sprintf("the heap ceiling (%s) is above the memory limit (%s): the kernel kills the container before the runtime can throw; keep the heap at about 75%% of the limit",
				FormatBytes(c), FormatBytes(limitBytes)))
		case c > limitBytes:
			h.Warnings = append(h.Warnings, fmt.Sprintf("GOMEMLIMIT (%s) is above the memory limit (%s): the garbage collector never tightens before the kernel kills; set GOMEMLIMIT to about 90%% of the limit",
				FormatBytes(c), FormatBytes(limitBytes)))
		case c < limitBytes/2 && limitBytes >= 512*MiB:
			h.Warnings = append(h.Warnings, fmt.Sprintf("the heap ceiling (%s) is under half the memory limit (%s): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75%% of the limit) or lower the limit",
				FormatBytes(c), FormatBytes(limitBytes)))
		}
	}
	return h
}

// Verdict says in one sentence who stops first as the heap grows: the
// runtime at its ceiling, or the kernel at the memory limit.
func Verdict(h Heap, limitBytes int64) string {
	if h.Runtime == "" {
		if limitBytes == 0 {
			return "no memory limit and no managed heap ceiling: only a node-level OOM or an eviction stops it"
		}
		return fmt.Sprintf("no managed heap ceiling: at the %s limit the kernel kills it (OOMKilled, exit 137)", FormatBytes(limitBytes))
	}
	name, thrown := runtimeWords(h.Runtime)
	if h.CeilingBytes == nil {
		if limitBytes == 0 {
			return fmt.Sprintf("%s sets no heap ceiling and there is no memory limit: only a node-level OOM or an eviction stops it", name)
		}
		return fmt.Sprintf("%s sets no heap ceiling below the %s limit: expect a kill (OOMKilled, exit 137), not %s", name, FormatBytes(limitBytes), thrown)
	}
	c := *h.CeilingBytes
	if h.Runtime == RuntimeGo {
		if limitBytes == 0 || c < limitBytes {
			return fmt.Sprintf("GOMEMLIMIT is a soft limit at %s: the garbage collector works harder there but never fails an allocation, so live memory beyond it still ends in a kill", FormatBytes(c))
		}
		return fmt.Sprintf("GOMEMLIMIT (%s) is not below the %s limit: the kernel kills before the garbage collector tightens", FormatBytes(c), FormatBytes(limitBytes))
	}
	if limitBytes == 0 {
		return fmt.Sprintf("the runtime stops at %s and there is no memory limit: expect %s", FormatBytes(c), thrown)
	}
	if c < limitBytes {
		return fmt.Sprintf("the runtime stops at %s, before the %s limit: expect %s, not a kill", FormatBytes(c), FormatBytes(limitBytes), thrown)
	}
	return fmt.Sprintf("the heap may grow to %s, past the %s limit: expect a kill (OOMKilled, exit 137), not %s", FormatBytes(c), FormatBytes(limitBytes), thrown)
}

// runtimeWords names a runtime and what it throws at its heap ceiling.
func runtimeWords(runtime string) (name, thrown string) {
	switch runtime {
	case RuntimeDotnet:
		return ".NET", "OutOfMemoryException"
	case RuntimeJVM:
		return "the JVM", "java.lang.OutOfMemoryError"
	case RuntimeNode:
		return "Node.js", `"JavaScript heap out of memory" (abort, exit 134)`
	case RuntimeGo:
		return "Go", "a soft-limit slowdown"
	}
	return runtime, "an error from the runtime"
}

// unwrapShell turns ["sh", "-c", "exec java -Xmx1g -jar app.jar"] into
// ["java", "-Xmx1g", "-jar", "app.jar"] so the real program is seen. Quoting
// inside the script is not interpreted.
func unwrapShell(argv []string) []string {
	if len(argv) >= 3 {
		switch path.Base(argv[0]) {
		case "sh", "bash", "ash", "dash", "zsh":
			if argv[1] == "-c" || argv[1] == "-ec" || argv[1] == "-ce" {
				f := strings.Fields(argv[2])
				for len(f) > 0 && (f[0] == "exec" || strings.Contains(f[0], "=") && !strings.HasPrefix(f[0], "-")) {
					f = f[1:]
				}
				return f
			}
		}
	}
	return argv
}

// envMap reads KEY=VALUE pairs; the last of repeated keys wins, as in a
// container's environment.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// detectRuntime recognises the runtime from the program name first, then
// from runtime-specific environment variables, then from the image name.
func detectRuntime(argv []string, env map[string]string, image string) string {
	if len(argv) > 0 {
		switch path.Base(argv[0]) {
		case "dotnet":
			return RuntimeDotnet
		case "java":
			return RuntimeJVM
		case "node", "nodejs":
			return RuntimeNode
		}
	}
	// The environment, in a fixed order (a map's order is random).
	var dotnet, jvm, goRT, node bool
	for k := range env {
		switch {
		case strings.HasPrefix(k, "DOTNET_") || strings.HasPrefix(k, "COMPlus_") || strings.HasPrefix(k, "ASPNETCORE_"):
			dotnet = true
		case k == "JAVA_TOOL_OPTIONS" || k == "JDK_JAVA_OPTIONS":
			jvm = true
		case k == "GOMEMLIMIT":
			goRT = true
		case k == "NODE_OPTIONS":
			node = true
		}
	}
	switch {
	case dotnet:
		return RuntimeDotnet
	case jvm:
		return RuntimeJVM
	case goRT:
		return RuntimeGo
	case node:
		return RuntimeNode
	}
	return imageRuntime(image)
}

// imageRuntime guesses the runtime from an image's repository name.
func imageRuntime(image string) string {
	repo := strings.ToLower(image)
	if i := strings.LastIndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	name := path.Base(repo)
	switch {
	case strings.Contains(repo, "dotnet") || strings.HasPrefix(name, "aspnet"):
		return RuntimeDotnet
	case name == "java" || strings.Contains(name, "openjdk") || strings.Contains(name, "temurin") ||
		strings.Contains(name, "corretto") || strings.Contains(name, "jre") || strings.Contains(name, "jdk") ||
		strings.Contains(name, "semeru") || name == "tomcat" || name == "jetty":
		return RuntimeJVM
	case name == "node" || strings.HasPrefix(name, "node-") || strings.HasSuffix(name, "-node"):
		return RuntimeNode
	case name == "golang":
		return RuntimeGo
	}
	return ""
}

// dotnetHeap applies GCHeapHardLimit / GCHeapHardLimitPercent (hexadecimal
// in the environment, with or without 0x) and the container default,
// max(20 MB, 75% of the limit) (gc.cpp, dotnet/docs garbage-collector.md).
func dotnetHeap(h *Heap, env map[string]string, limitBytes, nodeMemoryBytes int64) {
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
			h.CeilingBytes = &n
			h.Source = fmt.Sprintf("%s=%s (hex: %s)", key, val, FormatBytes(n))
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
				h.CeilingBytes = &c
				h.Source = fmt.Sprintf("%s=%s (0x%X = %d%%) of the %s %s", key, val, pct, pct, FormatBytes(base), of)
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
	c := max(20*MiB, mulPercent(limitBytes, 75))
	h.CeilingBytes = &c
	h.Source = fmt.Sprintf(".NET default: 75%% of the %s limit (at least 20 MB)", FormatBytes(limitBytes))
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

// mulPercent returns pct% of n, rounded down.
func mulPercent(n int64, pct float64) int64 {
	v := float64(n) * pct / 100
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

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
func jvmHeap(h *Heap, argv []string, env map[string]string, limitBytes, nodeMemoryBytes int64, openJ9 bool) {
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
		h.CeilingBytes = &xmx
		h.Source = fmt.Sprintf("%s (%s)", xmxFlag, FormatBytes(xmx))
		return
	}
	phys, of := limitBytes, "the "+FormatBytes(limitBytes)+" limit"
	switch {
	case maxRAM > 0:
		phys, of = maxRAM, maxRAMFlag
	case !containerSupport || limitBytes == 0:
		phys = min(nodeMemoryBytes, 128*GiB) // MaxRAM's default caps what the JVM believes it has
		of = FormatBytes(phys) + " of node memory"
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
		case phys < GiB:
			c = phys / 2
		case phys <= 2*GiB:
			c = phys - 512*MiB
		default:
			c = min(mulPercent(phys, 75), 25*GiB)
		}
		h.CeilingBytes = &c
		h.Source = "OpenJ9 default (50% below 1 GiB, limit − 512 MiB to 2 GiB, 75% above) of " + of
		return
	}
	// MaxHeapSize's built-in default, ScaleForWordSize(96 MiB) on 64-bit.
	const defaultMaxHeap = 96 * MiB * 13 / 10
	minHeap := mulPercent(phys, minPct)
	var c int64
	var rule string
	if minHeap < defaultMaxHeap {
		c = minHeap
		rule = fmt.Sprintf("MinRAMPercentage (%s%%, small memory)", fmtPct(minPct))
		if maxPctSet {
			h.Warnings = append(h.Warnings, fmt.Sprintf("-XX:MaxRAMPercentage is ignored below about %s of memory: the JVM uses -XX:MinRAMPercentage (%s%%) there; set -Xmx",
				FormatBytes(int64(float64(defaultMaxHeap)*100/minPct)), fmtPct(minPct)))
		}
	} else {
		c = max(mulPercent(phys, maxPct), defaultMaxHeap)
		rule = fmt.Sprintf("MaxRAMPercentage (%s%%)", fmtPct(maxPct))
		if c == defaultMaxHeap {
			rule = "the built-in minimum (124.8 MiB)"
		}
	}
	c = alignJVMHeap(c)
	h.CeilingBytes = &c
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
	for region < n/2048 && region < 32*MiB {
		region <<= 1
	}
	align := max(region, 2*MiB)
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
		mult = KiB
	case 'm', 'M':
		mult = MiB
	case 'g', 'G':
		mult = GiB
	case 't', 'T':
		mult = TiB
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

// goHeap reads GOMEMLIMIT: a soft limit on Go-managed memory, decimal bytes
// with an optional B, KiB, MiB, GiB or TiB suffix; unset or "off" means none
// (runtime readGOMEMLIMIT / parseByteCount, Go 1.19+).
func goHeap(h *Heap, env map[string]string) {
	v, ok := env["GOMEMLIMIT"]
	if !ok || v == "" || v == "off" {
		h.Source = "Go sets no memory limit by default (GOMEMLIMIT unset)"
		if limit, ok := env["AUTOMEMLIMIT"]; ok {
			h.Source += "; AUTOMEMLIMIT=" + limit + " (automemlimit library) sets one at start-up from the cgroup limit"
		}
		return
	}
	n, ok := parseGoByteCount(v)
	if !ok {
		h.Warnings = append(h.Warnings, fmt.Sprintf("GOMEMLIMIT=%s is not valid (use a byte count with B, KiB, MiB, GiB or TiB, e.g. 900MiB); the Go runtime refuses to start", v))
		h.Source = "invalid GOMEMLIMIT"
		return
	}
	h.CeilingBytes = &n
	h.Source = fmt.Sprintf("GOMEMLIMIT=%s (%s, a soft limit)", v, FormatBytes(n))
}

// parseGoByteCount is the runtime's parseByteCount: an integer and an
// optional IEC suffix. Decimal (SI) suffixes such as MB are rejected, as the
// runtime does.
func parseGoByteCount(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", KiB}, {"MiB", MiB}, {"GiB", GiB}, {"TiB", TiB}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

// nodeHeap reads --max-old-space-size (MiB) and Node 24's
// --max-old-space-size-percentage from NODE_OPTIONS and the command line
// (the command line wins). Without them V8 sizes the heap from the memory it
// detects, which is unreliable under cgroup v2 before Node 20.3.
func nodeHeap(h *Heap, argv []string, env map[string]string, limitBytes, nodeMemoryBytes int64) {
	opts := strings.Fields(env["NODE_OPTIONS"])
	if len(argv) > 0 && (path.Base(argv[0]) == "node" || path.Base(argv[0]) == "nodejs" || strings.HasPrefix(argv[0], "-")) {
		first := 1
		if strings.HasPrefix(argv[0], "-") {
			first = 0 // args for the image's entrypoint
		}
		for _, a := range argv[first:] {
			if !strings.HasPrefix(a, "-") {
				break // the script; the rest are its arguments
			}
			opts = append(opts, a)
		}
	}
	var flag string
	var mib int64 = -1
	var pct float64 = -1
	for i := 0; i < len(opts); i++ {
		name, val, hasVal := strings.Cut(opts[i], "=")
		name = strings.ReplaceAll(name, "_", "-")
		if name != "--max-old-space-size" && name != "--max-old-space-size-percentage" {
			continue
		}
		if !hasVal && i+1 < len(opts) {
			i++
			val = opts[i]
		}
		if name == "--max-old-space-size" {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 || n > math.MaxInt64/MiB {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is not a size in MiB (e.g. --max-old-space-size=1536)", name, val))
				continue
			}
			mib, pct, flag = n, -1, name+"="+val
		} else {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f <= 0 || f > 100 {
				h.Warnings = append(h.Warnings, fmt.Sprintf("%s=%s is not a percentage from 0 to 100", name, val))
				continue
			}
			pct, mib, flag = f, -1, name+"="+val
		}
	}
	switch {
	case mib > 0:
		c := mib * MiB
		h.CeilingBytes = &c
		h.Source = fmt.Sprintf("%s (V8 old space: %s)", flag, FormatBytes(c))
	case pct > 0:
		base, of := limitBytes, "limit"
		if base == 0 {
			base, of = nodeMemoryBytes, "node memory"
		}
		if base > 0 {
			c := mulPercent(base, pct)
			h.CeilingBytes = &c
			h.Source = fmt.Sprintf("%s of the %s %s (Node 24+)", flag, FormatBytes(base), of)
		}
	default:
		h.Source = "V8 sizes its heap from the memory it detects; cgroup v2 limits are not reliably detected"
		if limitBytes > 0 {
			h.Warnings = append(h.Warnings, fmt.Sprintf("Node.js has no explicit heap size: set NODE_OPTIONS=--max-old-space-size=%d (75%% of the %s limit, in MiB) so it throws instead of being killed",
				mulPercent(limitBytes, 75)/MiB, FormatBytes(limitBytes)))
		}
	}
}
