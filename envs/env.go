package envs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/dilqr/dilqr/models"
)

// Range is the interval one coordinate of an initial state is drawn from,
// uniformly on (Lo, Hi]. Coordinates are physical (angles in radians, not
// their cosine and sine); see Env.InitialRanges.
type Range struct {
	Name   string
	Lo, Hi float64
}

// Env is a simulated system with its true parameters: a models.Task
// (dynamics, cost, control bounds) evaluated at the models' default θ and
// φ, a seeded sampler of initial states, the horizon of its demonstrations
// and the geometry used to render its states. An Env is immutable and safe
// for concurrent use; make one with New.
type Env struct {
	name   string
	task   models.Task
	theta  []float64 // true dynamics parameters
	phi    []float64 // true cost parameters
	t      int       // demonstration horizon
	ranges []Range
	// fromCoords writes the state for the physical coordinates q (one per
	// range, in order) into dst.
	fromCoords func(dst, q []float64)
	// geometry draws a state; halfWidth is its default view.
	draw      func(c *canvas, x []float64)
	halfWidth float64
	evals     *sync.Pool // of models.DynamicsEvaluator
}

// Default demonstration horizons (time steps of 0.05 s). mpc.pytorch's
// imitation experiments (experiments/il_env.py) use T = 20 for the
// pendulum and the cart-pole. Measured with the default expert settings
// over 4000 kept demonstrations per env (seeds 0 and 1), the expert
// rejected 0 pendulum draws, 6 cart-pole draws (0.15%) and 4 double
// pendulum draws (0.1%). The double pendulum uses T = 15 because at T = 20
// about 5% of its solves, and at T = 30 about 24%, stop at the iteration
// limit; the pendulum and the cart-pole lose 0.5% and 0.9% at T = 30.
const (
	PendulumHorizon       = 20
	CartpoleHorizon       = 20
	DoublePendulumHorizon = 15
)

// Names returns the names New accepts, sorted: "cartpole",
// "double_pendulum", "pendulum" and "rocket": the tasks of
// models.TaskByName without a path constraint (the "vehicle", whose
// obstacle an environment would have to draw and judge, has none yet).
func Names() []string { return []string{"cartpole", "double_pendulum", "pendulum", "rocket"} }

// New returns the environment registered under name, built on
// models.TaskByName(name) with the model's default (true) parameters.
//
// Initial states are drawn uniformly, coordinate by coordinate, in the
// order listed (θ = 0 is upright, angles in radians, velocities per second):
//
//	"pendulum"         θ ∈ (−π, π], ω ∈ (−1, 1]                       T = 20
//	"cartpole"         x ∈ (−0.5, 0.5], ẋ ∈ (−0.5, 0.5], θ ∈ (−π, π],
//	                   ω ∈ (−1, 1]                                    T = 20
//	"double_pendulum"  x ∈ (−0.5, 0.5], ẋ ∈ (−0.5, 0.5],
//	                   θ₁ ∈ (−0.2π, 0.2π], ω₁ ∈ (−0.5, 0.5],
//	                   θ₂ ∈ (−0.2π, 0.2π], ω₂ ∈ (−0.5, 0.5]            T = 15
//
// The cart-pole ranges are those of mpc.pytorch's imitation experiments;
// its pendulum draws θ from (−π/2, π/2] only, the full circle here makes
// swing-ups part of the data. The double pendulum starts within 36° of
// upright, a balancing task like the inverted-double-pendulum benchmarks:
// in 0.75 s at most 100 N cannot swing its links up from far off upright,
// and the expert's local optima from there are not useful demonstrations.
// The rocket's ranges and horizon are listed at RocketRanges.
func New(name string) (*Env, error) {
	task, err := models.TaskByName(name)
	if err != nil {
		return nil, fmt.Errorf("envs: unknown env %q (known: %v)", name, Names())
	}
	e := &Env{
		name:  name,
		task:  task,
		theta: task.Dynamics.DefaultParams(),
		phi:   task.Cost.DefaultParams(),
	}
	dyn := task.Dynamics
	e.evals = &sync.Pool{New: func() any { return dyn.NewEvaluator() }}
	switch name {
	case "pendulum":
		e.t = PendulumHorizon
		e.ranges = []Range{{"theta", -math.Pi, math.Pi}, {"omega", -1, 1}}
		e.fromCoords = func(dst, q []float64) {
			dst[0], dst[1], dst[2] = math.Cos(q[0]), math.Sin(q[0]), q[1]
		}
		e.draw, e.halfWidth = drawPendulum(e.theta), 1.25
	case "cartpole":
		e.t = CartpoleHorizon
		e.ranges = []Range{{"x", -0.5, 0.5}, {"xdot", -0.5, 0.5}, {"theta", -math.Pi, math.Pi}, {"omega", -1, 1}}
		e.fromCoords = func(dst, q []float64) {
			dst[0], dst[1], dst[2], dst[3], dst[4] = q[0], q[1], math.Cos(q[2]), math.Sin(q[2]), q[3]
		}
		e.draw, e.halfWidth = drawCartpole(e.theta), 2.0
	case "double_pendulum":
		e.t = DoublePendulumHorizon
		const a = 0.2 * math.Pi
		e.ranges = []Range{{"x", -0.5, 0.5}, {"xdot", -0.5, 0.5},
			{"theta1", -a, a}, {"omega1", -0.5, 0.5}, {"theta2", -a, a}, {"omega2", -0.5, 0.5}}
		e.fromCoords = func(dst, q []float64) {
			dst[0], dst[1] = q[0], q[1]
			dst[2], dst[3], dst[4] = math.Cos(q[2]), math.Sin(q[2]), q[3]
			dst[5], dst[6], dst[7] = math.Cos(q[4]), math.Sin(q[4]), q[5]
		}
		e.draw, e.halfWidth = drawDoublePendulum(e.theta), 1.6
	case "rocket":
		e.t, e.ranges = RocketHorizon, RocketRanges()
		e.fromCoords = func(dst, q []float64) { copy(dst, q) }
		e.draw, e.halfWidth = drawRocket(e.theta), rocketHalfWidth
	default:
		return nil, fmt.Errorf("envs: no environment for model %q", name) // a model added to models but not here
	}
	return e, nil
}

// WithHorizon returns a copy of e whose demonstrations have horizon t
// (t states and t controls). It fails for t < 1.
func (e *Env) WithHorizon(t int) (*Env, error) {
	if t < 1 {
		return nil, fmt.Errorf("envs: %s: horizon T=%d < 1", e.name, t)
	}
	c := *e
	c.t = t
	return &c, nil
}

// Name returns the environment's name, as passed to New.
func (e *Env) Name() string { return e.name }

// Task returns the task: dynamics, cost and control bounds. The bound
// slices are copies.
func (e *Env) Task() models.Task {
	t := e.task
	t.Lower = slices.Clone(t.Lower)
	t.Upper = slices.Clone(t.Upper)
	return t
}

// Dims returns the sizes of the dynamics: N state entries, M controls and
// P dynamics parameters.
func (e *Env) Dims() models.Dims { return e.task.Dynamics.Dims() }

// Params returns a copy of the true dynamics parameters θ (the model's
// defaults, e.g. (g, m, l) = (10, 1, 1) for the pendulum).
func (e *Env) Params() []float64 { return slices.Clone(e.theta) }

// CostParams returns a copy of the true cost parameters φ (the task's
// default cost, e.g. (q, p) for a QuadCost).
func (e *Env) CostParams() []float64 { return slices.Clone(e.phi) }

// Horizon returns the horizon T of the demonstrations: T states x₀…x_{T−1}
// and T controls u₀…u_{T−1}.
func (e *Env) Horizon() int { return e.t }

// InitialRanges returns the ranges SampleInitial draws from, one per
// physical coordinate, in the order they are drawn (see New).
func (e *Env) InitialRanges() []Range { return slices.Clone(e.ranges) }

// SampleInitial draws one initial state into dst (length N) from rng:
// one rng.Float64 per range of InitialRanges, in order, each coordinate
// set to Hi − (Hi − Lo)·r, uniform on (Lo, Hi]; angles are then stored as
// their cosine and sine. The same rng state gives the same x₀ on every
// platform. It panics if len(dst) != N.
func (e *Env) SampleInitial(dst []float64, rng *rand.Rand) {
	if len(dst) != e.Dims().N {
		panic(fmt.Sprintf("envs: %s: SampleInitial: len(dst)=%d, want N=%d", e.name, len(dst), e.Dims().N))
	}
	var buf [8]float64
	q := buf[:len(e.ranges)]
	for i, r := range e.ranges {
		q[i] = r.Hi - (r.Hi-r.Lo)*rng.Float64()
	}
	e.fromCoords(dst, q)
}

// Step simulates one time step of the true system: it writes
// f(x, u; θ_true) into next (length N); x has length N and u length M. The
// model clamps u to its limits (equal to the task's bounds). Step is safe
// for concurrent use; it panics if a slice has the wrong length.
func (e *Env) Step(next, x, u []float64) {
	d := e.Dims()
	if len(next) != d.N || len(x) != d.N || len(u) != d.M {
		panic(fmt.Sprintf("envs: %s: Step: lengths next=%d x=%d u=%d, want N=%d, N, M=%d",
			e.name, len(next), len(x), len(u), d.N, d.M))
	}
	ev := e.evals.Get().(models.DynamicsEvaluator)
	ev.Step(next, x, u, e.theta)
	e.evals.Put(ev)
}

// Rollout simulates the true system from x0 (length N) under the controls
// U (T rows of length M) and writes the T states x₀…x_{T−1} into X (T rows
// of length N): the dynamics are applied T−1 times and u_{T−1} is not
// used, as in the solver's convention. It returns an error if the lengths
// disagree.
func (e *Env) Rollout(X, x0, U []float64) error {
	d := e.Dims()
	if len(x0) != d.N || len(U) == 0 || len(U)%d.M != 0 {
		return fmt.Errorf("envs: %s: rollout: x0 has length %d (want N=%d), U length %d (want a positive multiple of M=%d)",
			e.name, len(x0), d.N, len(U), d.M)
	}
	t := len(U) / d.M
	if len(X) != t*d.N {
		return fmt.Errorf("envs: %s: rollout: X has length %d, want T·N=%d", e.name, len(X), t*d.N)
	}
	ev := e.evals.Get().(models.DynamicsEvaluator)
	defer e.evals.Put(ev)
	copy(X[:d.N], x0)
	for s := 0; s+1 < t; s++ {
		ev.Step(X[(s+1)*d.N:(s+2)*d.N], X[s*d.N:(s+1)*d.N], U[s*d.M:(s+1)*d.M], e.theta)
	}
	return nil
}

// TrajectoryCost returns the true total cost Σ_t g(x_t, u_t; φ_true) of a
// trajectory with X (T rows of length N) and U (T rows of length M). It
// returns an error if the lengths disagree.
func (e *Env) TrajectoryCost(X, U []float64) (float64, error) {
	d := e.Dims()
	if len(U) == 0 || len(U)%d.M != 0 || len(X) != len(U)/d.M*d.N {
		return 0, fmt.Errorf("envs: %s: cost: X length %d and U length %d are not T·N and T·M for N=%d, M=%d",
			e.name, len(X), len(U), d.N, d.M)
	}
	ev := e.task.Cost.NewEvaluator()
	var j float64
	for s := 0; s < len(U)/d.M; s++ {
		j += ev.Value(X[s*d.N:(s+1)*d.N], U[s*d.M:(s+1)*d.M], e.phi)
	}
	return j, nil
}
