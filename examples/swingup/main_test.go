package main

import (
	"strings"
	"testing"
)

// TestRun: with the default horizon, the first four pendulums of seed 1
// (one of them starting 0.4 rad from hanging) are swung up and held.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, 4, 40, 100, 100, 1); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "4 of 4 reached upright and held it") {
		t.Errorf("not all held:\n%s", s)
	}
	if strings.Count(s, " yes ") != 4 {
		t.Errorf("want four rows saying yes:\n%s", s)
	}
	if err := run(&out, 0, 40, 100, 100, 1); err == nil {
		t.Error("-b 0: no error")
	}
}
