// Package heap works out the heap ceiling a managed runtime sets for
// itself inside a memory limit — .NET's GCHeapHardLimit(Percent), the
// JVM's -Xmx and RAM percentages (HotSpot and OpenJ9), Go's GOMEMLIMIT,
// Node.js's --max-old-space-size — from a process's command line,
// environment and image, and who stops first as the heap grows: the
// runtime (an exception) or the kernel (an OOM kill). The facts are in
// spec/kubernetes.md §6, each with the runtime's source or docs; the
// models were checked against a real JVM and the Go runtime
// (real_test.go). It does no I/O: 'oomkit inspect' (internal/node) feeds
// it /proc, 'oomkit kube' (internal/kube) pod specs, and the simulator
// its scenarios.
package heap

import (
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/oomkit/oomkit/internal/bytesize"
)

// Managed runtimes whose heap ceiling CeilingOf knows.
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

// Ceiling is the ceiling a managed runtime puts on its own heap inside a
// container: when the heap reaches it the runtime throws (or collects
// harder) instead of growing into the kernel's limit.
type Ceiling struct {
	// Runtime is "dotnet", "jvm", "go", "node", or "" for native or unknown
	// programs.
	Runtime string
	// Bytes is the heap ceiling; nil when the runtime sets none below
	// the limit or it cannot be known from the process description.
	Bytes *int64
	// Source says how the ceiling was derived, in words.
	Source string
	// Warnings are mistakes and risks found on the way, each with a fix.
	Warnings []string
}

// CeilingOf works out the runtime's heap ceiling for p inside a container
// with a memory limit of limitBytes (0: no limit) on a node with
// nodeMemoryBytes of RAM (0: unknown). The facts are in spec/kubernetes.md §6.
func CeilingOf(p Process, limitBytes, nodeMemoryBytes int64) Ceiling {
	argv := unwrapShell(p.Argv)
	env := envMap(p.Env)
	var h Ceiling
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
	if h.Bytes != nil && limitBytes > 0 {
		c := *h.Bytes
		switch {
		case c > limitBytes && h.Runtime != RuntimeGo:
			h.Warnings = append(h.Warnings, fmt.Sprintf("the heap ceiling (%s) is above the memory limit (%s): the kernel kills the container before the runtime can throw; keep the heap at about 75%% of the limit",
				bytesize.Format(c), bytesize.Format(limitBytes)))
		case c > limitBytes:
			h.Warnings = append(h.Warnings, fmt.Sprintf("GOMEMLIMIT (%s) is above the memory limit (%s): the garbage collector never tightens before the kernel kills; set GOMEMLIMIT to about 90%% of the limit",
				bytesize.Format(c), bytesize.Format(limitBytes)))
		case c < limitBytes/2 && limitBytes >= 512*bytesize.MiB:
			h.Warnings = append(h.Warnings, fmt.Sprintf("the heap ceiling (%s) is under half the memory limit (%s): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75%% of the limit) or lower the limit",
				bytesize.Format(c), bytesize.Format(limitBytes)))
		}
	}
	return h
}

// Verdict says in one sentence who stops first as the heap grows: the
// runtime at its ceiling, or the kernel at the memory limit.
func Verdict(h Ceiling, limitBytes int64) string {
	if h.Runtime == "" {
		if limitBytes == 0 {
			return "no memory limit and no managed heap ceiling: only a node-level OOM or an eviction stops it"
		}
		return fmt.Sprintf("no managed heap ceiling: at the %s limit the kernel kills it (OOMKilled, exit 137)", bytesize.Format(limitBytes))
	}
	name, thrown := runtimeWords(h.Runtime)
	if h.Bytes == nil {
		if limitBytes == 0 {
			return fmt.Sprintf("%s sets no heap ceiling and there is no memory limit: only a node-level OOM or an eviction stops it", name)
		}
		return fmt.Sprintf("%s sets no heap ceiling below the %s limit: expect a kill (OOMKilled, exit 137), not %s", name, bytesize.Format(limitBytes), thrown)
	}
	c := *h.Bytes
	if h.Runtime == RuntimeGo {
		if limitBytes == 0 || c < limitBytes {
			return fmt.Sprintf("GOMEMLIMIT is a soft limit at %s: the garbage collector works harder there but never fails an allocation, so live memory beyond it still ends in a kill", bytesize.Format(c))
		}
		return fmt.Sprintf("GOMEMLIMIT (%s) is not below the %s limit: the kernel kills before the garbage collector tightens", bytesize.Format(c), bytesize.Format(limitBytes))
	}
	if limitBytes == 0 {
		return fmt.Sprintf("the runtime stops at %s and there is no memory limit: expect %s", bytesize.Format(c), thrown)
	}
	if c < limitBytes {
		return fmt.Sprintf("the runtime stops at %s, before the %s limit: expect %s, not a kill", bytesize.Format(c), bytesize.Format(limitBytes), thrown)
	}
	return fmt.Sprintf("the heap may grow to %s, past the %s limit: expect a kill (OOMKilled, exit 137), not %s", bytesize.Format(c), bytesize.Format(limitBytes), thrown)
}

// ReadsEnv reports an environment variable CeilingOf reads, whose value
// changes the ceiling (a manifest that takes it from valueFrom hides it).
func ReadsEnv(name string) bool {
	switch name {
	case "GOMEMLIMIT", "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS":
		return true
	}
	return strings.Contains(name, "GCHeapHardLimit")
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

// mulPercent returns pct% of n, rounded down.
func mulPercent(n int64, pct float64) int64 {
	v := float64(n) * pct / 100
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
