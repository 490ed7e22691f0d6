package models_test

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/models"
)

// One step of the pendulum and its Jacobians at θ = 0.5 rad, ω = 0.1 rad/s
// with torque 1, with the nominal parameters (g, m, l) = (10, 1, 1).
func ExampleNewPendulum() {
	p := models.NewPendulum()
	d := p.Dims()
	ev := p.NewEvaluator()

	x := []float64{math.Cos(0.5), math.Sin(0.5), 0.1} // (c, s, ω)
	u := []float64{1}
	next := make([]float64, d.N)
	fx := make([]float64, d.N*d.N) // row-major N×N
	fu := make([]float64, d.N*d.M)
	ev.Linearize(next, fx, fu, x, u, p.DefaultParams())

	fmt.Printf("x′ = %.6f\n", next)
	for i := 0; i < d.N; i++ {
		fmt.Printf("∂x′_%d/∂x = %.6f   ∂x′_%d/∂u = %.6f\n", i, fx[i*d.N:(i+1)*d.N], i, fu[i])
	}
	// Output:
	// x′ = [0.862565 0.505946 0.609569]
	// ∂x′_0/∂x = [0.242563 -0.462982 -0.025297]   ∂x′_0/∂u = -0.003795
	// ∂x′_1/∂x = [-0.413536 0.789318 0.043128]   ∂x′_1/∂u = 0.006469
	// ∂x′_2/∂x = [0.000000 0.750000 1.000000]   ∂x′_2/∂u = 0.150000
}

// springStep is a user-defined model: a unit mass on a spring of learnable
// stiffness k with a force input, x = (position, velocity), semi-implicit
// Euler with dt = 0.1. Written once for every Scalar type, it gets exact
// first and second derivatives from NewAuto.
func springStep[T models.Scalar[T]](next, x, u, th []T) {
	const dt = 0.1
	k := th[0]
	v1 := x[1].Add(u[0].Sub(k.Mul(x[0])).MulC(dt)) // v′ = v + dt(u − k p)
	next[0] = x[0].Add(v1.MulC(dt))                // p′ = p + dt v′
	next[1] = v1
}

// A model defined by one generic step function, with its parameter
// Jacobian ∂x′/∂k computed by automatic differentiation.
func ExampleNewAuto() {
	spring, err := models.NewAuto("spring(dt=0.1)", models.Dims{N: 2, M: 1, P: 1}, []float64{4},
		models.StepFuncs{
			Float:     springStep[models.Float],
			Dual:      springStep[models.Dual],
			HyperDual: springStep[models.HyperDual],
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := spring.NewEvaluator()
	x, u, k := []float64{1, 0}, []float64{0.5}, spring.DefaultParams()
	next := make([]float64, 2)
	ft := make([]float64, 2) // N×P
	ev.Step(next, x, u, k)
	ev.ParamJacobian(ft, x, u, k)
	fmt.Printf("x′ = %.6f, ∂x′/∂k = %.6f\n", next, ft)
	// Output:
	// x′ = [0.965000 -0.350000], ∂x′/∂k = [-0.010000 -0.100000]
}
