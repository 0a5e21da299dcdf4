package cgroup

import "testing"

// must fails the test when a setup step (writing a fixture file, making a
// directory) fails, so a broken fixture never passes as an empty one.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
