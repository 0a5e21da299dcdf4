package heap

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kerneltest"
)

// TestJVMDefaultsAgainstRealJava checks the HotSpot ergonomics model
// against the java on this machine: -XX:MaxRAM stands in for the container
// limit, and MaxHeapSize is what the JVM chose.
func TestJVMDefaultsAgainstRealJava(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		kerneltest.Skip(t, "no java on PATH to check the JVM model against (.ci/run installs default-jre-headless)")
	}
	if testing.Short() {
		t.Skip("starts a JVM per case")
	}
	cases := [][]string{
		{"-XX:MaxRAM=128m"}, {"-XX:MaxRAM=190m"}, {"-XX:MaxRAM=255m"}, {"-XX:MaxRAM=384m"}, {"-XX:MaxRAM=512m"},
		{"-XX:MaxRAM=513m"}, {"-XX:MaxRAM=600m"}, {"-XX:MaxRAM=1g"}, {"-XX:MaxRAM=4g"}, {"-XX:MaxRAM=8g"},
		{"-XX:MaxRAM=8g", "-XX:MaxRAMPercentage=80"}, {"-XX:MaxRAM=1g", "-XX:MaxRAMPercentage=75.5"},
		{"-XX:MaxRAM=200m", "-XX:MaxRAMPercentage=75"}, {"-XX:MaxRAM=300m", "-XX:MinRAMPercentage=20"},
		{"-Xmx100000k"}, {"-Xmx123456789"}, {"-XX:MaxHeapSize=768m"},
	}
	for _, flags := range cases {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			out, err := exec.Command(java, append(flags, "-XX:+PrintFlagsFinal", "-version")...).CombinedOutput()
			if err != nil {
				t.Fatalf("java %v: %v\n%s", flags, err, out)
			}
			var real int64 = -1
			for _, l := range strings.Split(string(out), "\n") {
				f := strings.Fields(l)
				if len(f) >= 4 && f[1] == "MaxHeapSize" {
					real, _ = strconv.ParseInt(f[3], 10, 64)
				}
			}
			if real < 0 {
				t.Fatalf("no MaxHeapSize in java's output")
			}
			h := CeilingOf(Process{Argv: append([]string{"java"}, append(flags, "-jar", "app.jar")...)}, 0, 16*bytesize.GiB)
			if h.Bytes == nil {
				t.Fatalf("no ceiling predicted (%s)", h.Source)
			}
			if diff := *h.Bytes - real; diff != 0 {
				t.Errorf("predicted %d (%s), java chose %d (off by %d)", *h.Bytes, bytesize.Format(*h.Bytes), real, diff)
			}
		})
	}
}

// TestGOMEMLIMITAgainstGoRuntime starts this test binary with GOMEMLIMIT set
// and compares what the Go runtime made of it with parseGoByteCount.
func TestGOMEMLIMITAgainstGoRuntime(t *testing.T) {
	if v, ok := os.LookupEnv("OOMKIT_GOMEMLIMIT_CHILD"); ok && v == "1" {
		fmt.Printf("limit=%d\n", debug.SetMemoryLimit(-1))
		os.Exit(0)
	}
	for _, v := range []string{"900MiB", "1GiB", "1073741824", "512KiB", "2TiB", "100B", "off", "900MB", "1.5GiB", "-1", "GiB"} {
		t.Run(v, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestGOMEMLIMITAgainstGoRuntime$")
			cmd.Env = append(os.Environ(), "OOMKIT_GOMEMLIMIT_CHILD=1", "GOMEMLIMIT="+v)
			out, err := cmd.CombinedOutput()
			realOK := err == nil
			var real int64
			if realOK {
				_, serr := fmt.Sscanf(strings.TrimSpace(string(out)), "limit=%d", &real)
				if serr != nil {
					t.Fatalf("child printed %q", out)
				}
			}
			h := CeilingOf(Process{Env: []string{"GOMEMLIMIT=" + v}}, 0, 0)
			switch {
			case !realOK && len(h.Warnings) == 0:
				t.Errorf("the Go runtime refused GOMEMLIMIT=%s, oomkit accepted it (%s)", v, h.Source)
			case realOK && v == "off":
				if h.Bytes != nil {
					t.Errorf("GOMEMLIMIT=off: oomkit predicts a ceiling %d", *h.Bytes)
				}
			case realOK && (h.Bytes == nil || *h.Bytes != real):
				t.Errorf("GOMEMLIMIT=%s: runtime %d, oomkit %v (%s)", v, real, h.Bytes, h.Source)
			}
		})
	}
}
