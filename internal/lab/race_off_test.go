//go:build !race

package lab_test

var raceLimit []string
