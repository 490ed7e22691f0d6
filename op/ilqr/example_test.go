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

// ExampleSolver_Gradient_constraint swings the cart-pole up on a track of
// ±0.4 m, a state limit its unconstrained plan leaves by over a metre, and
// asks how the plan would move with the limit: dL/dψ for L = Σ_t x_t (the
// cart's positions), ψ = (lower, upper), the state's bounds. The cart
// runs into the upper end of the track, so only that bound matters:
// moving it out by δ moves the positions' sum by 13.03 δ.
func ExampleSolver_Gradient_constraint() {
	task := models.CartpoleTask()
	track, err := models.CartpoleTrackLimit(0.4)
	if err != nil {
		fmt.Println(err)
		return
	}
	task.Constraint = track
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: task, T: 20}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// State (x, ẋ, cos θ, sin θ, ω): the pole 0.6 rad off upright.
	in := ilqr.Inputs{X0: []float64{0, 0, math.Cos(0.6), math.Sin(0.6), 0}}
	var res ilqr.Result
	if err := sv.Solve(&res, in); err != nil {
		fmt.Println(err)
		return
	}
	var most float64
	for t := range res.T {
		most = max(most, math.Abs(res.X[t*res.N]))
	}
	fmt.Printf("%v, violation ≤ 1e-9: %v, largest |x| %.4f m\n", res.Status[0], res.Violation[0] <= 1e-9, most)

	dX := make([]float64, len(res.X))
	for t := range res.T {
		dX[t*res.N] = 1 // L = Σ_t x_t
	}
	var g ilqr.Grads
	if err := sv.Gradient(&g, &res, in, dX, make([]float64, len(res.U)), ilqr.GradOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	n := res.N // ψ = (lower_0..lower_{N−1}, upper_0..upper_{N−1}); the cart is entry 0
	fmt.Printf("dL/d(lower x) = %.3f, dL/d(upper x) = %.3f\n", g.Psi[0], g.Psi[n])
	// Output:
	// converged, violation ≤ 1e-9: true, largest |x| 0.4000 m
	// dL/d(lower x) = 0.000, dL/d(upper x) = 13.030
}
