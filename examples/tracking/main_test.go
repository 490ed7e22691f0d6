package main

import (
	"io"
	"testing"
)

// TestTracking checks that the planner follows the reference: the RMS
// angle error over the horizon is below 0.05 rad (0.0296 when written;
// the reference swings ±0.25 rad), and a horizon below 2 is refused.
func TestTracking(t *testing.T) {
	rms, err := run(io.Discard, 40)
	if err != nil {
		t.Fatal(err)
	}
	if !(rms < 0.05) {
		t.Errorf("RMS tracking error %.4f rad, want < 0.05", rms)
	}
	if _, err := run(io.Discard, 1); err == nil {
		t.Error("T = 1 accepted")
	}
}
