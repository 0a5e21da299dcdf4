//go:build race

package alloc_test

// raceEnabled: the race detector shadows Go heap memory, so heap-mode RSS
// is not what the program touched.
const raceEnabled = true
