package models

import "fmt"

// Pendulum constants, as in mpc.pytorch's PendulumDx.
const (
	PendulumDt        = 0.05 // time step, seconds
	PendulumMaxTorque = 2.0  // the step clamps u to ±PendulumMaxTorque
)

// NewPendulum returns the torque-controlled pendulum of mpc.pytorch's
// PendulumDx as a discrete-time model with exact automatic derivatives.
//
// State x = (c, s, ω) with c = cos θ, s = sin θ (θ = 0 upright); control
// u = (torque); parameters θ_dyn = (g, m, l), nominal (10, 1, 1). One step of
// length dt = 0.05:
//
//	ū  = clamp(u, ±2)
//	ω′ = ω + dt·(3g/(2l)·s + 3ū/(m l²))
//	θ′ = atan2(s, c) + dt·ω′
//	x′ = (cos θ′, sin θ′, ω′)
//
// The raw entry s is used, not sin(atan2(s, c)), and derivatives are taken
// with respect to c, s and ω as independent inputs, as autodiff of these
// formulas gives them.
func NewPendulum() Dynamics {
	a, err := NewAuto(fmt.Sprintf("pendulum(dt=%g,umax=%g)", PendulumDt, PendulumMaxTorque),
		Dims{N: 3, M: 1, P: 3}, []float64{10, 1, 1},
		StepFuncs{Float: pendulumStep[Float], Dual: pendulumStep[Dual], HyperDual: pendulumStep[HyperDual]})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return a
}

func pendulumStep[T Scalar[T]](next, x, u, th []T) {
	c, s, w := x[0], x[1], x[2]
	g, m, l := th[0], th[1], th[2]
	ub := u[0].Clamp(-PendulumMaxTorque, PendulumMaxTorque)
	// 3g/(2l)·s + 3ū/(m l²)
	acc := g.MulC(3).Div(l.MulC(2)).Mul(s).Add(ub.MulC(3).Div(m.Mul(l).Mul(l)))
	w1 := w.Add(acc.MulC(PendulumDt))
	a1 := s.Atan2(c).Add(w1.MulC(PendulumDt))
	next[0] = a1.Cos()
	next[1] = a1.Sin()
	next[2] = w1
}

// PendulumTask returns the pendulum swing-up task of mpc.pytorch's pendulum
// example: cost ½τᵀdiag(q)τ + pᵀτ with q = (1, 1, 0.1, 0.001),
// p = (−1, 0, 0, 0) (goal upright, c = 1), and bounds u ∈ [−2, 2].
func PendulumTask() Task {
	cost, err := NewQuadCost(3, 1, []float64{1, 1, 0.1, 0.001}, []float64{-1, 0, 0, 0})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return Task{Dynamics: NewPendulum(), Cost: cost, Lower: []float64{-2}, Upper: []float64{2}}
}

// Task bundles a model with its default cost and control bounds.
type Task struct {
	Dynamics Dynamics
	Cost     Cost
	// Lower and Upper bound each control component (length M).
	Lower, Upper []float64
}
