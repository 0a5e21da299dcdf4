//go:build race

package cli

// raceEnabled: this test binary runs under the race detector, which
// multiplies a process's memory (TestMemoryBounds builds a plain one).
const raceEnabled = true
