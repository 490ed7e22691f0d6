//go:build race

package op_test

// raceEnabled is true when the tests run under the race detector
// (go test -race); race_disabled_test.go defines it false otherwise.
const raceEnabled = true
