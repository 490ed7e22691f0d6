package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// rocketSample returns a rocket test point: a state anywhere a landing
// goes (tilts up to ±1 rad), controls 5% of the range away from the
// clamps' kinks, inside the clamps four times in five, and θ within 30%
// of the nominal.
func rocketSample(rng *rand.Rand, i int) (x, u, theta []float64) {
	x = []float64{uniform(rng, -6, 6), uniform(rng, -1, 16), uniform(rng, -3, 3),
		uniform(rng, -8, 3), uniform(rng, -1, 1), uniform(rng, -2, 2)}
	const span = RocketMaxThrust - RocketMinThrust
	thrust := uniform(rng, RocketMinThrust+0.05*span, RocketMaxThrust-0.05*span)
	gimbal := controlPoint(rng, RocketMaxGimbal)
	if i%5 == 4 { // thrust outside its clamp, below or above
		thrust = []float64{RocketMinThrust - uniform(rng, 0.05, 1)*span, RocketMaxThrust + uniform(rng, 0.05, 1)*span}[rng.IntN(2)]
	}
	return x, []float64{thrust, gimbal}, scaled(rng, []float64{9.81, 1, 1})
}

// TestRocketFiniteDifferences checks the rocket's automatic derivatives
// against central finite differences of its step, as
// TestDynamicsFiniteDifferences does for the other models: [∂f/∂x ∂f/∂u
// ∂f/∂θ] against differences of Step, and the Lagrangian Hessian rows of
// τ = (x, u) against differences, over τ, of the exact λᵀ[fx fu ft].
func TestRocketFiniteDifferences(t *testing.T) {
	checkAutoFiniteDifferences(t, NewRocket(), 40, rocketSample)
}

// TestRocketFirstPrinciples checks the step against Newton's and Euler's
// laws computed independently of RocketStep: the accelerations read back
// from one step, (v′ − v)/dt, are F/m − (0, g) for the thrust vector
// F = T(sin(φ+δ), cos(φ+δ)), and the angular acceleration is the
// counter-clockwise torque r × F of the thrust at the engine's position
// r = −(ℓ/2)(sin φ, cos φ), over J = mℓ²/12, with the sign flipped because
// φ grows clockwise (towards +x). The positions then move with the new
// velocities (semi-implicit Euler).
func TestRocketFirstPrinciples(t *testing.T) {
	const dt = RocketDt
	ev := NewRocket().NewEvaluator()
	rng := rand.New(rand.NewPCG(seed, 41))
	next := make([]float64, 6)
	for pt := 0; pt < 200; pt++ {
		x, u, th := rocketSample(rng, pt)
		u[0] = uniform(rng, RocketMinThrust, RocketMaxThrust) // inside the clamps
		u[1] = uniform(rng, -RocketMaxGimbal, RocketMaxGimbal)
		ev.Step(next, x, u, th)
		g, m, l := th[0], th[1], th[2]
		fx, fz := u[0]*math.Sin(x[4]+u[1]), u[0]*math.Cos(x[4]+u[1])
		rx, rz := -l/2*math.Sin(x[4]), -l/2*math.Cos(x[4])
		torque := rx*fz - rz*fx // counter-clockwise, in the (x, z) plane
		want := []float64{fx / m, fz/m - g, -torque / (m * l * l / 12)}
		got := []float64{(next[2] - x[2]) / dt, (next[3] - x[3]) / dt, (next[5] - x[5]) / dt}
		for i := range want {
			// Reading an acceleration back divides the step's round-off by dt.
			if e := math.Abs(got[i] - want[i]); e > 1e-12*(1+math.Abs(want[i]))/dt {
				t.Errorf("point %d: acceleration %d is %.15g, want %.15g", pt, i, got[i], want[i])
			}
		}
		pos := []float64{x[0] + dt*next[2], x[1] + dt*next[3], x[4] + dt*next[5]}
		if got := []float64{next[0], next[1], next[4]}; fdtest.MixedErr(got[0], pos[0])+fdtest.MixedErr(got[1], pos[1])+fdtest.MixedErr(got[2], pos[2]) > 1e-15 {
			t.Errorf("point %d: positions %v, want %v", pt, got, pos)
		}
	}
}

// TestRocketBehaviour checks the model's qualitative physics at the
// nominal θ: hovering upright at T = m g stays put, more thrust climbs and
// less falls, a gimbal towards +x turns the nose towards −x (φ decreases)
// while pushing the rocket towards +x, a tilted rocket at hover thrust
// drifts the way it leans, and the clamps hold T in [2, 20] N and δ within
// ±0.25 rad.
func TestRocketBehaviour(t *testing.T) {
	dyn := NewRocket()
	ev := dyn.NewEvaluator()
	th := dyn.DefaultParams()
	hover := th[0] * th[1]
	step := func(x, u []float64) []float64 {
		next := make([]float64, 6)
		ev.Step(next, x, u, th)
		return next
	}
	rest := make([]float64, 6)
	if got := step(rest, []float64{hover, 0}); slices.Max(got) != 0 || slices.Min(got) != 0 {
		t.Errorf("hovering at rest moves to %v", got)
	}
	if got := step(rest, []float64{hover + 1, 0}); !(got[3] > 0 && got[1] > 0) {
		t.Errorf("more thrust than the weight: ż′ = %g, z′ = %g, want both > 0", got[3], got[1])
	}
	if got := step(rest, []float64{hover - 1, 0}); !(got[3] < 0) {
		t.Errorf("less thrust than the weight: ż′ = %g, want < 0", got[3])
	}
	if got := step(rest, []float64{hover, 0.1}); !(got[5] < 0 && got[4] < 0 && got[2] > 0) {
		t.Errorf("gimbal towards +x: ω′ = %g, φ′ = %g, ẋ′ = %g; want ω′, φ′ < 0 < ẋ′", got[5], got[4], got[2])
	}
	if got := step([]float64{0, 0, 0, 0, 0.2, 0}, []float64{hover, 0}); !(got[2] > 0 && got[5] == 0) {
		t.Errorf("leaning towards +x: ẋ′ = %g, ω′ = %g; want ẋ′ > 0, ω′ = 0", got[2], got[5])
	}
	for _, tc := range []struct{ u, clamped []float64 }{
		{[]float64{50, 1}, []float64{RocketMaxThrust, RocketMaxGimbal}},
		{[]float64{-3, -1}, []float64{RocketMinThrust, -RocketMaxGimbal}},
	} {
		if got, want := step(rest, tc.u), step(rest, tc.clamped); !slices.Equal(got, want) {
			t.Errorf("u = %v: %v, want the clamped %v's %v", tc.u, got, tc.clamped, want)
		}
	}
	lo, hi := dyn.ControlClamp()
	if !slices.Equal(lo, []float64{2, -0.25}) || !slices.Equal(hi, []float64{20, 0.25}) {
		t.Errorf("ControlClamp() = %v, %v", lo, hi)
	}
}

// TestRocketTask checks the landing task: its sizes and bounds (equal to
// the clamp), every cost weight in (0, 2) (the goal form the cost
// learners fit has w = √(q/2) < 1), and that the goal, standing at rest
// on the pad with the hover thrust, is both the cost's minimum (zero
// gradient, positive definite diagonal Hessian) and a fixed point of the
// dynamics.
func TestRocketTask(t *testing.T) {
	task := RocketTask()
	d, cd := task.Dynamics.Dims(), task.Cost.Dims()
	if d != (Dims{N: 6, M: 2, P: 3}) || cd.N != 6 || cd.M != 2 {
		t.Fatalf("dims %+v, cost %+v", d, cd)
	}
	if !slices.Equal(task.Lower, []float64{RocketMinThrust, -RocketMaxGimbal}) ||
		!slices.Equal(task.Upper, []float64{RocketMaxThrust, RocketMaxGimbal}) {
		t.Errorf("bounds [%v, %v]", task.Lower, task.Upper)
	}
	phi := task.Cost.DefaultParams()
	for j, q := range phi[:8] {
		if !(q > 0 && q < 2) {
			t.Errorf("weight q[%d] = %g outside (0, 2)", j, q)
		}
	}
	th := task.Dynamics.DefaultParams()
	goal := make([]float64, 6)
	u := []float64{th[0] * th[1], 0}
	grad, hess := make([]float64, 8), make([]float64, 64)
	task.Cost.NewEvaluator().Quadratize(grad, hess, goal, u, phi)
	for i, g := range grad {
		if math.Abs(g) > 1e-15 {
			t.Errorf("cost gradient at the goal: entry %d is %g", i, g)
		}
		if !(hess[i*8+i] > 0) {
			t.Errorf("cost Hessian entry (%d, %d) = %g, want > 0", i, i, hess[i*8+i])
		}
	}
	next := make([]float64, 6)
	task.Dynamics.NewEvaluator().Step(next, goal, u, th)
	if slices.Max(next) != 0 || slices.Min(next) != 0 {
		t.Errorf("the goal is not a fixed point: %v", next)
	}
	if got := task.Dynamics.Name(); got != "rocket(dt=0.05,thrust=[2,20],gimbal=0.25)" {
		t.Errorf("Name() = %q", got)
	}
}
