package main

import "github.com/dilqr/dilqr/models"

// timeUnrolled times the unrolled baseline.
func timeUnrolled(task models.Task, t, it int, x0, dX, dU []float64, reps, maxUnrolled int) (row, error) {
	return row{mode: "unrolled", t: t, iters: it, note: "not available yet"}, nil
}
