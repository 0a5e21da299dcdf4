//go:build race

package lab_test

// raceLimit: under the race detector every allocator starts with ~30 MiB
// resident (shadow memory), which would decide the scenarios at the
// default 128 MiB limit; the tests give them more room.
var raceLimit = []string{"--limit", "384MiB"}
