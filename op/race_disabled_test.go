//go:build !race

package op_test

// raceEnabled is false without the race detector; see race_enabled_test.go.
const raceEnabled = false
