package models

import "fmt"

// Rocket constants: the time step and the limits the step clamps the
// controls to (equal to RocketTask's bounds).
const (
	RocketDt        = 0.05 // time step, seconds
	RocketMinThrust = 2.0  // newtons: the engine cannot throttle below this
	RocketMaxThrust = 20.0 // newtons: a thrust-to-weight ratio of 2.04 at the nominal mass
	RocketMaxGimbal = 0.25 // radians (14.3°) either side of the body axis
)

// rocketRules is the rocket's parameter domain: g finite, m and ℓ > 0 (a
// positive mass and length keep the moment of inertia m ℓ²/12 positive).
var rocketRules = []paramRule{{"g", false}, {"m", true}, {"l", true}}

// NewRocket returns a planar rocket with a gimbaled engine as a
// discrete-time model with exact automatic derivatives (NewAuto).
//
// The vehicle is a rigid body moving in the vertical plane: x horizontal,
// z up, attitude φ measured from the upward vertical, positive when the
// nose leans towards +x (the convention of the pendulums' angles). The
// body is modelled as a uniform rod of mass m and length ℓ, so its moment
// of inertia about the centre of mass is J = m ℓ²/12, with the engine at
// its base, L = ℓ/2 below the centre of mass. The engine pushes with
// thrust T along the body axis turned by the gimbal angle δ (positive
// towards +x), i.e. along (sin(φ + δ), cos(φ + δ)). Newton's and Euler's
// laws for a planar rigid body (e.g. Goldstein, Poole & Safko, Classical
// Mechanics, 3rd ed., ch. 1 and 5; written here from first principles)
// give
//
//	m ẍ = T sin(φ + δ)
//	m z̈ = T cos(φ + δ) − m g
//	J φ̈ = −L T sin δ            ⇒   φ̈ = −6 T sin δ / (m ℓ)
//
// The torque is the cross product r × F of the engine's position
// r = −L (sin φ, cos φ) and the thrust F, L T sin δ counter-clockwise, which
// turns the nose away from +x: a gimbal towards +x pushes the tail towards
// +x and tips the nose towards −x. The tests check this against the cross
// product at random states.
//
// State x = (x, z, ẋ, ż, φ, ω) (N = 6), with (x, z) the centre of mass
// relative to where it rests when the rocket stands upright on the pad
// (z = 0 is standing on the ground, z > 0 above it) and ω = φ̇; control
// u = (T, δ) (M = 2); parameters θ_dyn = (g, m, ℓ) (P = 3), nominal
// (9.81, 1, 1) in SI units. The attitude is stored as the angle itself,
// not as (cos φ, sin φ) as the pendulums store theirs: a landing never
// turns the rocket past horizontal, so there is no wrap-around to avoid,
// the state is one entry shorter, no atan2 enters the step, and a
// quadratic cost in φ penalises the tilt directly.
//
// One semi-implicit Euler step of dt = 0.05 (velocities first, then the
// positions with the new velocities, as the pendulum's step):
//
//	T̄ = clamp(T, 2, 20),  δ̄ = clamp(δ, ±0.25)
//	ẋ′ = ẋ + dt T̄ sin(φ + δ̄)/m
//	ż′ = ż + dt (T̄ cos(φ + δ̄)/m − g)
//	ω′ = ω − dt 6 T̄ sin δ̄ /(m ℓ)
//	x′ = x + dt ẋ′,  z′ = z + dt ż′,  φ′ = φ + dt ω′
//
// The derivative of each clamp is 1 inside its closed interval and 0
// outside (ControlClamp reports the limits). The engine cannot shut down:
// T ≥ 2 N, a fifth of the nominal weight.
//
// Identifiability. The step depends on θ only through g, 1/m and 6/(m ℓ):
// the three parameters are separately identifiable from state
// transitions in which the engine fires (T̄ > 0, always true here) with a
// non-zero gimbal somewhere in the data. Were J and L learned as
// independent parameters, only L/J would be identifiable; tying them to
// one length through the uniform rod avoids that flat direction.
//
// The parameters must be finite with m, ℓ > 0; CheckParams names the one
// that is not (g, m, l).
func NewRocket() *Auto {
	a, err := NewAuto(fmt.Sprintf("rocket(dt=%g,thrust=[%g,%g],gimbal=%g)", RocketDt, RocketMinThrust, RocketMaxThrust, RocketMaxGimbal),
		Dims{N: 6, M: 2, P: 3}, []float64{9.81, 1.0, 1.0},
		StepFuncs{Float: RocketStep[Float], Dual: RocketStep[Dual], HyperDual: RocketStep[HyperDual]})
	if err == nil {
		a, err = a.WithControlClamp([]float64{RocketMinThrust, -RocketMaxGimbal}, []float64{RocketMaxThrust, RocketMaxGimbal})
	}
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return a.WithParamCheck(paramRuleCheck("rocket", rocketRules))
}

// RocketStep is the definition of the planar rocket (see NewRocket).
func RocketStep[T Scalar[T]](next, x, u, th []T) {
	const dt = RocketDt
	px, pz, vx, vz, phi, w := x[0], x[1], x[2], x[3], x[4], x[5]
	g, m, l := th[0], th[1], th[2]
	thrust := u[0].Clamp(RocketMinThrust, RocketMaxThrust)
	gimbal := u[1].Clamp(-RocketMaxGimbal, RocketMaxGimbal)
	dir := phi.Add(gimbal) // direction of the thrust from the vertical
	tm := thrust.Div(m)    // thrust per unit mass
	vx1 := vx.Add(tm.Mul(dir.Sin()).MulC(dt))
	vz1 := vz.Add(tm.Mul(dir.Cos()).Sub(g).MulC(dt))
	// φ̈ = −L T sin δ / J with L = ℓ/2 and J = m ℓ²/12.
	w1 := w.Sub(tm.Mul(gimbal.Sin()).Div(l).MulC(6 * dt))
	next[0] = px.Add(vx1.MulC(dt))
	next[1] = pz.Add(vz1.MulC(dt))
	next[2] = vx1
	next[3] = vz1
	next[4] = phi.Add(w1.MulC(dt))
	next[5] = w1
}

// RocketTask returns the landing task for NewRocket: cost
// ½ Σᵢ qᵢ (τᵢ − τ̂ᵢ)² written as ½τᵀdiag(q)τ + pᵀτ with p = −q ⊙ τ̂, whose
// goal τ̂ is the rocket standing upright and at rest on the pad
// (x = z = ẋ = ż = φ = ω = 0) with the engine holding its weight
// (T = m g = 9.81 N at the nominal θ, δ = 0); weights
// q = (1, 1, 0.5, 1, 1, 0.5, 0.01, 0.5) on τ = (x, z, ẋ, ż, φ, ω, T, δ), so that
// a thrust 1 N off the hover thrust costs as much as 0.1 m off the pad;
// bounds T ∈ [2, 20] N and δ ∈ [−0.25, 0.25] rad, equal to the model's
// clamp. Every weight is positive and below 2, so the cost also has the
// goal form ‖w ⊙ (τ − τ̂)‖² with w = √(q/2) < 1 that the cost-learning
// methods fit.
//
// The pad is the only goal: nothing in the cost or the bounds forbids
// z < 0 (the model has no ground). Whether a trajectory lands softly is
// judged afterwards, by envs' landing criteria.
func RocketTask() Task {
	q := []float64{1, 1, 0.5, 1, 1, 0.5, 0.01, 0.5}
	p := make([]float64, len(q))
	p[6] = -q[6] * 9.81 * 1.0 // −q_T m g
	cost, err := NewQuadCost(6, 2, q, p)
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return Task{Dynamics: NewRocket(), Cost: cost,
		Lower: []float64{RocketMinThrust, -RocketMaxGimbal}, Upper: []float64{RocketMaxThrust, RocketMaxGimbal}}
}
