package heap

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oomkit/oomkit/internal/bytesize"
)

func ptr[T any](v T) *T { return &v }

// heapTests are shared with FuzzCeilingOf as seeds.
var heapTests = []struct {
	name    string
	p       Process
	limit   int64
	node    int64
	want    Ceiling
	verdict string
}{
	// .NET
	{
		name:    "dotnet default 75% of limit",
		p:       Process{Argv: []string{"dotnet", "app.dll"}},
		limit:   2 * bytesize.GiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(3 * bytesize.GiB / 2), Source: ".NET default: 75% of the 2 GiB limit (at least 20 MB)"},
		verdict: "the runtime stops at 1.5 GiB, before the 2 GiB limit: expect OutOfMemoryException, not a kill",
	},
	{
		name:    "dotnet default floor 20 MB",
		p:       Process{Image: "mcr.microsoft.com/dotnet/aspnet:8.0"},
		limit:   16 * bytesize.MiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(20 * bytesize.MiB), Source: ".NET default: 75% of the 16 MiB limit (at least 20 MB)", Warnings: []string{"the heap ceiling (20 MiB) is above the memory limit (16 MiB): the kernel kills the container before the runtime can throw; keep the heap at about 75% of the limit"}},
		verdict: "the heap may grow to 20 MiB, past the 16 MiB limit: expect a kill (OOMKilled, exit 137), not OutOfMemoryException",
	},
	{
		name:    "dotnet no limit",
		p:       Process{Argv: []string{"/usr/bin/dotnet", "app.dll"}},
		node:    16 * bytesize.GiB,
		want:    Ceiling{Runtime: "dotnet", Source: ".NET sets no GC heap hard limit when the container has no memory limit"},
		verdict: ".NET sets no heap ceiling and there is no memory limit: only a node-level OOM or an eviction stops it",
	},
	{
		name:    "dotnet percent 0x4B",
		p:       Process{Argv: []string{"dotnet", "app.dll"}, Env: []string{"DOTNET_GCHeapHardLimitPercent=0x4B"}},
		limit:   2 * bytesize.GiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(3 * bytesize.GiB / 2), Source: "DOTNET_GCHeapHardLimitPercent=0x4B (0x4B = 75%) of the 2 GiB limit"},
		verdict: "the runtime stops at 1.5 GiB, before the 2 GiB limit: expect OutOfMemoryException, not a kill",
	},
	{
		name:    "dotnet percent 4B without 0x",
		p:       Process{Env: []string{"DOTNET_GCHeapHardLimitPercent=4B"}},
		limit:   2 * bytesize.GiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(3 * bytesize.GiB / 2), Source: "DOTNET_GCHeapHardLimitPercent=4B (0x4B = 75%) of the 2 GiB limit"},
		verdict: "the runtime stops at 1.5 GiB, before the 2 GiB limit: expect OutOfMemoryException, not a kill",
	},
	{
		name:  "dotnet percent 80 means 128%",
		p:     Process{Argv: []string{"dotnet", "app.dll"}, Env: []string{"DOTNET_GCHeapHardLimitPercent=80"}},
		limit: 1 * bytesize.GiB,
		want: Ceiling{Runtime: "dotnet", Bytes: ptr(int64(1374389534)), Source: "DOTNET_GCHeapHardLimitPercent=80 (0x80 = 128%) of the 1 GiB limit",
			Warnings: []string{
				"DOTNET_GCHeapHardLimitPercent=80 is hexadecimal: it means 0x80 = 128%, not 80%; write 0x50 for 80%",
				"DOTNET_GCHeapHardLimitPercent=80 asks for 128% of the memory: a heap ceiling above the limit never protects the container",
				"the heap ceiling (1.28 GiB) is above the memory limit (1 GiB): the kernel kills the container before the runtime can throw; keep the heap at about 75% of the limit",
			}},
		verdict: "the heap may grow to 1.28 GiB, past the 1 GiB limit: expect a kill (OOMKilled, exit 137), not OutOfMemoryException",
	},
	{
		name:  "dotnet percent 30 means 48%",
		p:     Process{Env: []string{"COMPlus_GCHeapHardLimitPercent=30"}},
		limit: 1 * bytesize.GiB,
		want: Ceiling{Runtime: "dotnet", Bytes: ptr(int64(515396075)), Source: "COMPlus_GCHeapHardLimitPercent=30 (0x30 = 48%) of the 1 GiB limit",
			Warnings: []string{
				"COMPlus_GCHeapHardLimitPercent=30 is hexadecimal: it means 0x30 = 48%, not 30%; write 0x1E for 30%",
				"the heap ceiling (492 MiB) is under half the memory limit (1 GiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit",
			}},
		verdict: "the runtime stops at 492 MiB, before the 1 GiB limit: expect OutOfMemoryException, not a kill",
	},
	{
		name:    "dotnet percent without limit uses node memory",
		p:       Process{Env: []string{"DOTNET_GCHeapHardLimitPercent=0x32"}},
		node:    8 * bytesize.GiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(4 * bytesize.GiB), Source: "DOTNET_GCHeapHardLimitPercent=0x32 (0x32 = 50%) of the 8 GiB node memory (no container limit)"},
		verdict: "the runtime stops at 4 GiB and there is no memory limit: expect OutOfMemoryException",
	},
	{
		name:    "dotnet absolute hex",
		p:       Process{Env: []string{"DOTNET_GCHeapHardLimit=0xC800000"}},
		limit:   512 * bytesize.MiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(200 * bytesize.MiB), Source: "DOTNET_GCHeapHardLimit=0xC800000 (hex: 200 MiB)", Warnings: []string{"the heap ceiling (200 MiB) is under half the memory limit (512 MiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit"}},
		verdict: "the runtime stops at 200 MiB, before the 512 MiB limit: expect OutOfMemoryException, not a kill",
	},
	{
		name:  "dotnet absolute wins over percent, DOTNET_ over COMPlus_",
		p:     Process{Env: []string{"COMPlus_GCHeapHardLimit=0x1000", "DOTNET_GCHeapHardLimit=C800000", "DOTNET_GCHeapHardLimitPercent=0x4B"}},
		limit: 256 * bytesize.MiB,
		want: Ceiling{Runtime: "dotnet", Bytes: ptr(200 * bytesize.MiB), Source: "DOTNET_GCHeapHardLimit=C800000 (hex: 200 MiB)",
			Warnings: []string{"DOTNET_GCHeapHardLimitPercent is ignored because DOTNET_GCHeapHardLimit is set"}},
		verdict: "the runtime stops at 200 MiB, before the 256 MiB limit: expect OutOfMemoryException, not a kill",
	},
	{
		name:  "dotnet absolute not hex",
		p:     Process{Env: []string{"DOTNET_GCHeapHardLimit=200Mi"}},
		limit: 1 * bytesize.GiB,
		want: Ceiling{Runtime: "dotnet", Bytes: ptr(768 * bytesize.MiB), Source: ".NET default: 75% of the 1 GiB limit (at least 20 MB)",
			Warnings: []string{"DOTNET_GCHeapHardLimit=200Mi is not a hexadecimal byte count (the runtime reads hex, e.g. 0xC800000 for 200 MiB); it is ignored"}},
		verdict: "the runtime stops at 768 MiB, before the 1 GiB limit: expect OutOfMemoryException, not a kill",
	},

	// JVM: defaults measured with OpenJDK 17.0.15 (-XX:MaxRAM standing in for the limit).
	{
		name: "jvm default 128m", p: Process{Argv: []string{"java", "-jar", "app.jar"}}, limit: 128 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(64 * bytesize.MiB), Source: "JVM default: MinRAMPercentage (50%, small memory) of the 128 MiB limit"},
		verdict: "the runtime stops at 64 MiB, before the 128 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm default 190m", p: Process{Argv: []string{"java", "-jar", "app.jar"}}, limit: 190 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(96 * bytesize.MiB), Source: "JVM default: MinRAMPercentage (50%, small memory) of the 190 MiB limit"},
		verdict: "the runtime stops at 96 MiB, before the 190 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm default 256m plateau", p: Process{Image: "eclipse-temurin:21-jre"}, limit: 256 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(126 * bytesize.MiB), Source: "JVM default: the built-in minimum (124.8 MiB) of the 256 MiB limit"},
		verdict: "the runtime stops at 126 MiB, before the 256 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm default 384m plateau", p: Process{Image: "openjdk:17"}, limit: 384 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(126 * bytesize.MiB), Source: "JVM default: the built-in minimum (124.8 MiB) of the 384 MiB limit"},
		verdict: "the runtime stops at 126 MiB, before the 384 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm default 512m", p: Process{Argv: []string{"java", "Main"}}, limit: 512 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(128 * bytesize.MiB), Source: "JVM default: MaxRAMPercentage (25%) of the 512 MiB limit", Warnings: []string{"the heap ceiling (128 MiB) is under half the memory limit (512 MiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit"}},
		verdict: "the runtime stops at 128 MiB, before the 512 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm default 1g", p: Process{Argv: []string{"java", "Main"}}, limit: bytesize.GiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(256 * bytesize.MiB), Source: "JVM default: MaxRAMPercentage (25%) of the 1 GiB limit",
			Warnings: []string{"the heap ceiling (256 MiB) is under half the memory limit (1 GiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit"}},
		verdict: "the runtime stops at 256 MiB, before the 1 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm default 600m aligned", p: Process{Argv: []string{"java", "Main"}}, limit: 513 * bytesize.MiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(130 * bytesize.MiB), Source: "JVM default: MaxRAMPercentage (25%) of the 513 MiB limit",
			Warnings: []string{"the heap ceiling (130 MiB) is under half the memory limit (513 MiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit"}},
		verdict: "the runtime stops at 130 MiB, before the 513 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm MaxRAMPercentage 75 of 1g", p: Process{Argv: []string{"java", "-XX:MaxRAMPercentage=75", "-jar", "app.jar"}}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(768 * bytesize.MiB), Source: "JVM default: MaxRAMPercentage (75%) of the 1 GiB limit"},
		verdict: "the runtime stops at 768 MiB, before the 1 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm MaxRAMPercentage 80 of 8g in JAVA_TOOL_OPTIONS", p: Process{Env: []string{"JAVA_TOOL_OPTIONS=-XX:+UseG1GC -XX:MaxRAMPercentage=80"}}, limit: 8 * bytesize.GiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(6556 * bytesize.MiB), Source: "JVM default: MaxRAMPercentage (80%) of the 8 GiB limit"},
		verdict: "the runtime stops at 6.4 GiB, before the 8 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm MaxRAMPercentage ignored in small memory", p: Process{Argv: []string{"java", "-XX:MaxRAMPercentage=75", "Main"}}, limit: 200 * bytesize.MiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(100 * bytesize.MiB), Source: "JVM default: MinRAMPercentage (50%, small memory) of the 200 MiB limit",
			Warnings: []string{"-XX:MaxRAMPercentage is ignored below about 250 MiB of memory: the JVM uses -XX:MinRAMPercentage (50%) there; set -Xmx"}},
		verdict: "the runtime stops at 100 MiB, before the 200 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm MinRAMPercentage", p: Process{Argv: []string{"java", "-XX:MinRAMPercentage=20", "Main"}}, limit: 300 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(60 * bytesize.MiB), Source: "JVM default: MinRAMPercentage (20%, small memory) of the 300 MiB limit"},
		verdict: "the runtime stops at 60 MiB, before the 300 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm MaxRAM overrides the limit", p: Process{Argv: []string{"java", "-XX:MaxRAM=8g", "Main"}}, limit: 4 * bytesize.GiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(2 * bytesize.GiB), Source: "JVM default: MaxRAMPercentage (25%) of -XX:MaxRAM=8g"},
		verdict: "the runtime stops at 2 GiB, before the 4 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm Xmx above limit", p: Process{Argv: []string{"java", "-Xmx2g", "-jar", "app.jar", "-Xmx64m"}}, limit: bytesize.GiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(2 * bytesize.GiB), Source: "-Xmx2g (2 GiB)",
			Warnings: []string{"the heap ceiling (2 GiB) is above the memory limit (1 GiB): the kernel kills the container before the runtime can throw; keep the heap at about 75% of the limit"}},
		verdict: "the heap may grow to 2 GiB, past the 1 GiB limit: expect a kill (OOMKilled, exit 137), not java.lang.OutOfMemoryError",
	},
	{
		name: "jvm Xmx unaligned", p: Process{Argv: []string{"java", "-Xmx100000k", "Main"}}, limit: bytesize.GiB / 8,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(98 * bytesize.MiB), Source: "-Xmx100000k (98 MiB)"},
		verdict: "the runtime stops at 98 MiB, before the 128 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm command line beats JAVA_TOOL_OPTIONS, MaxHeapSize", p: Process{Argv: []string{"java", "-cp", "x.jar", "-XX:MaxHeapSize=768m", "Main"}, Env: []string{"JAVA_TOOL_OPTIONS=-Xmx2g"}}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(768 * bytesize.MiB), Source: "-XX:MaxHeapSize=768m (768 MiB)"},
		verdict: "the runtime stops at 768 MiB, before the 1 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm through sh -c", p: Process{Argv: []string{"/bin/sh", "-c", "exec java -Xmx512m -jar /app.jar"}}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(512 * bytesize.MiB), Source: "-Xmx512m (512 MiB)"},
		verdict: "the runtime stops at 512 MiB, before the 1 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "jvm no limit sizes from node", p: Process{Argv: []string{"java", "Main"}}, node: 16 * bytesize.GiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(4 * bytesize.GiB), Source: "JVM default: MaxRAMPercentage (25%) of 16 GiB of node memory"},
		verdict: "the runtime stops at 4 GiB and there is no memory limit: expect java.lang.OutOfMemoryError",
	},
	{
		name: "jvm without container support", p: Process{Argv: []string{"java", "-XX:-UseContainerSupport", "Main"}}, limit: bytesize.GiB, node: 16 * bytesize.GiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(4 * bytesize.GiB), Source: "JVM default: MaxRAMPercentage (25%) of 16 GiB of node memory",
			Warnings: []string{
				"-XX:-UseContainerSupport makes the JVM size its heap from the node's memory, not the container limit; remove it",
				"the heap ceiling (4 GiB) is above the memory limit (1 GiB): the kernel kills the container before the runtime can throw; keep the heap at about 75% of the limit",
			}},
		verdict: "the heap may grow to 4 GiB, past the 1 GiB limit: expect a kill (OOMKilled, exit 137), not java.lang.OutOfMemoryError",
	},
	{
		name: "jvm bad Xmx", p: Process{Argv: []string{"java", "-Xmx1.5g", "Main"}}, limit: 512 * bytesize.MiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(128 * bytesize.MiB), Source: "JVM default: MaxRAMPercentage (25%) of the 512 MiB limit",
			Warnings: []string{
				"-Xmx1.5g is not a valid heap size (e.g. -Xmx768m); the JVM refuses to start",
				"the heap ceiling (128 MiB) is under half the memory limit (512 MiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit",
			}},
		verdict: "the runtime stops at 128 MiB, before the 512 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},

	{
		name: "jvm args without command", p: Process{Argv: []string{"-Xmx300m", "-jar", "/app.jar"}, Image: "eclipse-temurin:21"}, limit: 512 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(300 * bytesize.MiB), Source: "-Xmx300m (300 MiB)"},
		verdict: "the runtime stops at 300 MiB, before the 512 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "env order is fixed: DOTNET_ wins over GOMEMLIMIT", p: Process{Env: []string{"GOMEMLIMIT=1GiB", "NODE_OPTIONS=", "DOTNET_gcServer=1", "JAVA_TOOL_OPTIONS="}}, limit: 2 * bytesize.GiB,
		want:    Ceiling{Runtime: "dotnet", Bytes: ptr(3 * bytesize.GiB / 2), Source: ".NET default: 75% of the 2 GiB limit (at least 20 MB)"},
		verdict: "the runtime stops at 1.5 GiB, before the 2 GiB limit: expect OutOfMemoryException, not a kill",
	},

	{
		name: "openj9 below 1 GiB", p: Process{Image: "ibm-semeru-runtimes:open-21-jre"}, limit: 768 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(384 * bytesize.MiB), Source: "OpenJ9 default (50% below 1 GiB, limit − 512 MiB to 2 GiB, 75% above) of the 768 MiB limit"},
		verdict: "the runtime stops at 384 MiB, before the 768 MiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "openj9 1.5 GiB", p: Process{Image: "adoptopenjdk/openjdk11-openj9"}, limit: 1536 * bytesize.MiB,
		want:    Ceiling{Runtime: "jvm", Bytes: ptr(bytesize.GiB), Source: "OpenJ9 default (50% below 1 GiB, limit − 512 MiB to 2 GiB, 75% above) of the 1.5 GiB limit"},
		verdict: "the runtime stops at 1 GiB, before the 1.5 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},
	{
		name: "openj9 above 2 GiB, capped at 25 GiB", p: Process{Image: "ibm-semeru-runtimes:open-17"}, limit: 64 * bytesize.GiB,
		want: Ceiling{Runtime: "jvm", Bytes: ptr(25 * bytesize.GiB), Source: "OpenJ9 default (50% below 1 GiB, limit − 512 MiB to 2 GiB, 75% above) of the 64 GiB limit",
			Warnings: []string{"the heap ceiling (25 GiB) is under half the memory limit (64 GiB): memory is paid for and never usable by the heap; raise the ceiling (e.g. 75% of the limit) or lower the limit"}},
		verdict: "the runtime stops at 25 GiB, before the 64 GiB limit: expect java.lang.OutOfMemoryError, not a kill",
	},

	// Go
	{
		name: "go GOMEMLIMIT MiB", p: Process{Env: []string{"GOMEMLIMIT=900MiB"}}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "go", Bytes: ptr(900 * bytesize.MiB), Source: "GOMEMLIMIT=900MiB (900 MiB, a soft limit)"},
		verdict: "GOMEMLIMIT is a soft limit at 900 MiB: the garbage collector works harder there but never fails an allocation, so live memory beyond it still ends in a kill",
	},
	{
		name: "go GOMEMLIMIT plain bytes", p: Process{Env: []string{"GOMEMLIMIT=1073741824"}}, limit: 2 * bytesize.GiB,
		want:    Ceiling{Runtime: "go", Bytes: ptr(bytesize.GiB), Source: "GOMEMLIMIT=1073741824 (1 GiB, a soft limit)"},
		verdict: "GOMEMLIMIT is a soft limit at 1 GiB: the garbage collector works harder there but never fails an allocation, so live memory beyond it still ends in a kill",
	},
	{
		name: "go GOMEMLIMIT above limit", p: Process{Env: []string{"GOMEMLIMIT=2GiB"}}, limit: bytesize.GiB,
		want: Ceiling{Runtime: "go", Bytes: ptr(2 * bytesize.GiB), Source: "GOMEMLIMIT=2GiB (2 GiB, a soft limit)",
			Warnings: []string{"GOMEMLIMIT (2 GiB) is above the memory limit (1 GiB): the garbage collector never tightens before the kernel kills; set GOMEMLIMIT to about 90% of the limit"}},
		verdict: "GOMEMLIMIT (2 GiB) is not below the 1 GiB limit: the kernel kills before the garbage collector tightens",
	},
	{
		name: "go GOMEMLIMIT SI suffix invalid", p: Process{Env: []string{"GOMEMLIMIT=900MB"}}, limit: bytesize.GiB,
		want: Ceiling{Runtime: "go", Source: "invalid GOMEMLIMIT",
			Warnings: []string{"GOMEMLIMIT=900MB is not valid (use a byte count with B, KiB, MiB, GiB or TiB, e.g. 900MiB); the Go runtime refuses to start"}},
		verdict: "Go sets no heap ceiling below the 1 GiB limit: expect a kill (OOMKilled, exit 137), not a soft-limit slowdown",
	},
	{
		name: "go GOMEMLIMIT off", p: Process{Env: []string{"GOMEMLIMIT=off"}}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "go", Source: "Go sets no memory limit by default (GOMEMLIMIT unset)"},
		verdict: "Go sets no heap ceiling below the 1 GiB limit: expect a kill (OOMKilled, exit 137), not a soft-limit slowdown",
	},
	{
		name: "go image without GOMEMLIMIT", p: Process{Image: "golang:1.26"}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "go", Source: "Go sets no memory limit by default (GOMEMLIMIT unset)"},
		verdict: "Go sets no heap ceiling below the 1 GiB limit: expect a kill (OOMKilled, exit 137), not a soft-limit slowdown",
	},

	// Node.js
	{
		name: "node flag in argv", p: Process{Argv: []string{"node", "--max-old-space-size=1536", "server.js", "--max-old-space-size=64"}}, limit: 2 * bytesize.GiB,
		want:    Ceiling{Runtime: "node", Bytes: ptr(1536 * bytesize.MiB), Source: "--max-old-space-size=1536 (V8 old space: 1.5 GiB)"},
		verdict: `the runtime stops at 1.5 GiB, before the 2 GiB limit: expect "JavaScript heap out of memory" (abort, exit 134), not a kill`,
	},
	{
		name: "node flag in NODE_OPTIONS with underscores", p: Process{Argv: []string{"npm", "start"}, Env: []string{"NODE_OPTIONS=--max_old_space_size 3072"}}, limit: 2 * bytesize.GiB,
		want: Ceiling{Runtime: "node", Bytes: ptr(3 * bytesize.GiB), Source: "--max-old-space-size=3072 (V8 old space: 3 GiB)",
			Warnings: []string{"the heap ceiling (3 GiB) is above the memory limit (2 GiB): the kernel kills the container before the runtime can throw; keep the heap at about 75% of the limit"}},
		verdict: `the heap may grow to 3 GiB, past the 2 GiB limit: expect a kill (OOMKilled, exit 137), not "JavaScript heap out of memory" (abort, exit 134)`,
	},
	{
		name: "node percentage", p: Process{Image: "node:24-alpine", Env: []string{"NODE_OPTIONS=--max-old-space-size-percentage=75"}}, limit: 2 * bytesize.GiB,
		want:    Ceiling{Runtime: "node", Bytes: ptr(3 * bytesize.GiB / 2), Source: "--max-old-space-size-percentage=75 of the 2 GiB limit (Node 24+)"},
		verdict: `the runtime stops at 1.5 GiB, before the 2 GiB limit: expect "JavaScript heap out of memory" (abort, exit 134), not a kill`,
	},
	{
		name: "node default", p: Process{Image: "docker.io/library/node:20"}, limit: bytesize.GiB,
		want: Ceiling{Runtime: "node", Source: "V8 sizes its heap from the memory it detects; cgroup v2 limits are not reliably detected",
			Warnings: []string{"Node.js has no explicit heap size: set NODE_OPTIONS=--max-old-space-size=768 (75% of the 1 GiB limit, in MiB) so it throws instead of being killed"}},
		verdict: `Node.js sets no heap ceiling below the 1 GiB limit: expect a kill (OOMKilled, exit 137), not "JavaScript heap out of memory" (abort, exit 134)`,
	},

	{
		name: "node args without command", p: Process{Argv: []string{"--max-old-space-size=700", "server.js"}, Image: "node:22"}, limit: bytesize.GiB,
		want:    Ceiling{Runtime: "node", Bytes: ptr(700 * bytesize.MiB), Source: "--max-old-space-size=700 (V8 old space: 700 MiB)"},
		verdict: `the runtime stops at 700 MiB, before the 1 GiB limit: expect "JavaScript heap out of memory" (abort, exit 134), not a kill`,
	},

	// Native
	{
		name: "native", p: Process{Argv: []string{"nginx", "-g", "daemon off;"}, Image: "nginx:1.27"}, limit: bytesize.GiB,
		want:    Ceiling{Source: "no managed runtime recognised: the process grows until the kernel's limit"},
		verdict: "no managed heap ceiling: at the 1 GiB limit the kernel kills it (OOMKilled, exit 137)",
	},
	{
		name: "hostile names", p: Process{Argv: []string{"Plex Media Server", "(resolved)", `"with quotes"`}, Image: "[::1]:5000/x"},
		want:    Ceiling{Source: "no managed runtime recognised: the process grows until the kernel's limit"},
		verdict: "no memory limit and no managed heap ceiling: only a node-level OOM or an eviction stops it",
	},
}

func TestCeilingOf(t *testing.T) {
	for _, tt := range heapTests {
		t.Run(tt.name, func(t *testing.T) {
			got := CeilingOf(tt.p, tt.limit, tt.node)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CeilingOf (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.verdict, Verdict(got, tt.limit)); diff != "" {
				t.Errorf("Verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzCeilingOf(f *testing.F) {
	for _, tt := range heapTests {
		var arg, env string
		if len(tt.p.Argv) > 0 {
			arg = tt.p.Argv[len(tt.p.Argv)-1]
		}
		if len(tt.p.Env) > 0 {
			env = tt.p.Env[0]
		}
		f.Add(tt.p.Image, arg, env, tt.limit)
	}
	f.Fuzz(func(t *testing.T, image, arg, env string, limit int64) {
		for _, argv0 := range []string{"java", "node", "dotnet", "sh"} {
			h := CeilingOf(Process{Argv: []string{argv0, arg}, Env: []string{env}, Image: image}, limit, 8*bytesize.GiB)
			if h.Bytes != nil && *h.Bytes < 0 {
				t.Fatalf("negative ceiling %d", *h.Bytes)
			}
			_ = Verdict(h, limit)
		}
	})
}
