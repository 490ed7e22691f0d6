package gtest

import (
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
)

// SpeedLimitTask is the constrained problem of the op and layer tests: the
// pendulum task with the speed limit |ω| ≤ w on the steps 1..T−1
// (models.PendulumSpeedLimit).
func SpeedLimitTask(t testing.TB, w float64) models.Task {
	t.Helper()
	task := models.PendulumTask()
	var err error
	if task.Constraint, err = models.PendulumSpeedLimit(w); err != nil {
		t.Fatal(err)
	}
	return task
}

// SwingStarts returns b pendulum starts near (cos 3.0, sin 3.0, 0.3), the
// first that one exactly, from which the swing up reaches the speed limit
// of SpeedLimitTask.
func SwingStarts(b int) []float64 { return fdtest.AngleStates(b, 3.0, 0.3, -0.05, 0.05) }
