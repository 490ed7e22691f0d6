package ilqr_test

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// ExampleSolve swings the pendulum up from two starts over one second
// (T = 20 steps of 0.05 s) with the torque bounded by ±2.
func ExampleSolve() {
	task := models.PendulumTask()
	prob := ilqr.Problem{Task: task, T: 20}
	// States (cos θ, sin θ, ω), θ = 0 upright: nearly hanging down and
	// swinging, then a quarter turn off upright at rest.
	var x0 []float64
	for _, s := range []struct{ theta, omega float64 }{{2.5, 0.3}, {-1, 0}} {
		x0 = append(x0, math.Cos(s.theta), math.Sin(s.theta), s.omega)
	}
	res, err := ilqr.Solve(prob, ilqr.Inputs{X0: x0}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range res.B {
		fmt.Printf("start %d: %v after %d iterations, cost %.4f\n", i, res.Status[i], res.Iterations[i], res.Cost[i])
	}
	// Output:
	// start 0: converged after 6 iterations, cost 27.4603
	// start 1: converged after 4 iterations, cost 26.1643
}
