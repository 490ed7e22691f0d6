package envs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Landing defines a successful rocket landing: at touchdown the rocket
// must be slow, upright, still and on the pad. A zero field means its
// default.
//
// The defaults are those of a soft, upright touchdown for a vehicle of
// the size of models.NewRocket (1 m): a vertical speed of 1 m/s is a drop
// from 5 cm, a horizontal one of 0.5 m/s would tip it over within a few
// tenths of a second on legs of ±0.5 m; 0.1 rad (5.7°) and 0.5 rad/s bound
// the attitude and its rate as Success bounds the poles'; the pad is 2 m
// wide. The expert (MPC with the true model) meets them with a wide
// margin (see EvaluateLanding).
type Landing struct {
	// MaxSpeedX bounds |ẋ| at touchdown, m/s. Default 0.5.
	MaxSpeedX float64
	// MaxSpeedZ bounds |ż| at touchdown, m/s. Default 1.
	MaxSpeedZ float64
	// MaxAngle bounds the tilt |φ| at touchdown, radians. Default 0.1.
	MaxAngle float64
	// MaxRate bounds |ω| at touchdown, rad/s. Default 0.5.
	MaxRate float64
	// PadHalfWidth bounds |x| at touchdown, metres. Default
	// RocketPadHalfWidth (1).
	PadHalfWidth float64
	// Contact is the height z (metres) at which the rocket counts as down
	// when it ends the episode without having reached z ≤ 0: a planner
	// that approaches the pad asymptotically ends a few centimetres above
	// it. Default 0.1.
	Contact float64
}

func (l *Landing) withDefaults() (Landing, error) {
	var d Landing
	if l != nil {
		d = *l
	}
	def := func(v *float64, x float64) {
		if *v == 0 {
			*v = x
		}
	}
	def(&d.MaxSpeedX, 0.5)
	def(&d.MaxSpeedZ, 1)
	def(&d.MaxAngle, 0.1)
	def(&d.MaxRate, 0.5)
	def(&d.PadHalfWidth, RocketPadHalfWidth)
	def(&d.Contact, 0.1)
	v := []float64{d.MaxSpeedX, d.MaxSpeedZ, d.MaxAngle, d.MaxRate, d.PadHalfWidth, d.Contact}
	for _, x := range v {
		if !(x > 0) || math.IsInf(x, 0) {
			return d, fmt.Errorf("envs: landing: limits %v must be positive and finite", v)
		}
	}
	return d, nil
}

// Check reports whether the state x = (x, z, ẋ, ż, φ, ω) is a successful
// touchdown: every limit met (the height is not checked; see Touchdown).
// It returns "" when it is, and otherwise the first limit it breaks, as
// "|ż| = 2.3 > 1". l must have its defaults filled in.
func (l *Landing) check(x []float64) string {
	for _, c := range []struct {
		name     string
		v, limit float64
	}{
		{"|x|", x[0], l.PadHalfWidth}, {"|ẋ|", x[2], l.MaxSpeedX}, {"|ż|", x[3], l.MaxSpeedZ},
		{"|φ|", x[4], l.MaxAngle}, {"|ω|", x[5], l.MaxRate},
	} {
		if !(math.Abs(c.v) <= c.limit) {
			return fmt.Sprintf("%s = %.3g > %g", c.name, math.Abs(c.v), c.limit)
		}
	}
	return ""
}

// Touchdown is how one rocket episode ended.
type Touchdown struct {
	// Step is the index of the touchdown state: the first state with
	// z ≤ 0, or else the last state of the episode if its z ≤
	// Landing.Contact; −1 if the rocket never came down.
	Step int
	// State is the touchdown state (the last state when Step is −1).
	State []float64
	// Landed is set when the rocket came down within every limit.
	Landed bool
	// Why says why it did not land: "no touchdown (z = 3.2 at the end)"
	// or the first limit broken at touchdown; "" when Landed.
	Why string
}

// LandingEvaluation is the outcome of EvaluateLanding: an Evaluation whose
// Episode.Success means a successful landing, with each episode's
// touchdown.
type LandingEvaluation struct {
	Evaluation
	// Touchdowns holds each episode's touchdown, in episode order.
	Touchdowns []Touchdown
	// Landing are the criteria in force, defaults filled in.
	Landing Landing
}

// touchdown finds the touchdown of a rocket trajectory X (rows of length
// 6) under the criteria l (defaults filled in).
func (l *Landing) touchdown(X []float64) Touchdown {
	const n = 6
	k := len(X) / n
	td := Touchdown{Step: -1}
	for t := 0; t < k; t++ {
		if X[t*n+1] <= 0 {
			td.Step = t
			break
		}
	}
	if td.Step < 0 && X[(k-1)*n+1] <= l.Contact {
		td.Step = k - 1
	}
	at := td.Step
	if at < 0 {
		at = k - 1
	}
	td.State = slices.Clone(X[at*n : (at+1)*n])
	switch {
	case td.Step < 0:
		td.Why = fmt.Sprintf("no touchdown (z = %.3g at the end)", td.State[1])
	default:
		td.Why = l.check(td.State)
	}
	td.Landed = td.Why == ""
	return td
}

// RocketSteps is the default length of a rocket episode, 8 s: the expert
// needs about 160 steps to land (see EvaluateLanding).
const RocketSteps = 160

// EvaluateLanding runs closed-loop landings of policy p on the rocket env
// as Evaluate runs episodes (same seeds, starts, clamping, timing; cfg's
// Success is ignored) and judges each by its touchdown: the first state
// with z ≤ 0, or the last state if the rocket ends the episode within
// Landing.Contact of the ground; the episode succeeds when at touchdown
// |x|, |ẋ|, |ż|, |φ| and |ω| are within land's limits (a nil land means
// the defaults of Landing). The simulator has no ground: an episode runs
// its cfg.Steps steps whatever happens, and what follows the touchdown
// does not change its success.
//
// Episode.Cost is the true cost in excess of hovering at the pad, the goal
// state with the hover control (m g, 0): Σ_t [g(x_t, u_t) − g(0, (m g, 0))]
// with the true θ and φ, the minimum of the task's cost. FinalAngle and
// FinalRate are the attitude and its rate at the last state; Reached is the
// touchdown step of a successful landing and −1 otherwise.
//
// Measured with the true model, default MPC (horizon 40) and 160 steps
// (8 s): the expert lands in 50 of 50 episodes from RocketRanges (seed 0),
// approaching the pad asymptotically (at the end z ≤ 1.3 cm, |ż| ≤ 1.3 cm/s);
// after 100 steps (5 s) only 32% are within Contact of the ground, so
// rocket episodes need about 160 steps: RocketSteps, EvalConfig's default
// for the rocket.
func EvaluateLanding(env *Env, p Policy, cfg *EvalConfig, land *Landing) (*LandingEvaluation, error) {
	if env == nil || p == nil {
		return nil, errors.New("envs: evaluate landing: nil Env or Policy")
	}
	if env.name != "rocket" {
		return nil, fmt.Errorf("envs: evaluate landing: env %q is not the rocket", env.name)
	}
	c, err := evalDefaults(env, cfg)
	if err != nil {
		return nil, err
	}
	l, err := land.withDefaults()
	if err != nil {
		return nil, err
	}
	succ, err := c.Success.withDefaults()
	if err != nil {
		return nil, err
	}
	n := env.Dims().N
	x0 := make([]float64, c.Episodes*n)
	rng := rand.New(rand.NewPCG(c.Seed, startStream))
	for k := range c.Episodes {
		c.Starts.Sample(x0[k*n:(k+1)*n], rng)
	}
	ev := &LandingEvaluation{Evaluation: Evaluation{Env: env.name, Episodes: make([]Episode, c.Episodes), Success: succ},
		Touchdowns: make([]Touchdown, c.Episodes), Landing: l}
	r := newRunner(env, &succ)
	goal := make([]float64, n)
	r.floor = r.cost.Value(goal, rocketHover(env.theta), env.phi)
	for k := range ev.Episodes {
		ep := &ev.Episodes[k]
		if err := r.landing(ep, p, x0[k*n:(k+1)*n], c.Steps); err != nil {
			return nil, fmt.Errorf("envs: evaluate landing: episode %d: %w", k, err)
		}
		td := l.touchdown(ep.X)
		ev.Touchdowns[k] = td
		ep.Success = td.Landed
		if td.Landed {
			ep.Reached = td.Step
		}
		if !c.Keep {
			ep.X, ep.U = nil, nil
		}
	}
	ev.summarize()
	return ev, nil
}

// landing runs one rocket episode of k steps from x0 into ep, keeping its
// states and controls.
func (r *runner) landing(ep *Episode, p Policy, x0 []float64, k int) error {
	*ep = Episode{X0: slices.Clone(x0), Reached: -1, StepTimes: make([]time.Duration, k),
		X: make([]float64, 0, (k+1)*r.n), U: make([]float64, 0, k*r.m)}
	copy(r.x, x0)
	ep.X = append(ep.X, r.x...)
	for t := 0; t < k; t++ {
		if err := r.act(ep, p, t); err != nil {
			return fmt.Errorf("step %d: %w", t, err)
		}
		ep.U = append(ep.U, r.u...)
		ep.Cost += r.cost.Value(r.x, r.u, r.env.phi) - r.floor
		r.env.Step(r.next, r.x, r.u)
		r.x, r.next = r.next, r.x
		ep.X = append(ep.X, r.x...)
	}
	ep.FinalAngle, ep.FinalRate = r.x[4], r.x[5]
	return nil
}

// rocketDown reports whether the rocket state x is on the ground (z at
// most the default Landing.Contact) within the default landing limits: the
// status strip of WriteGIF for the rocket.
func rocketDown(x []float64) bool {
	l, _ := (*Landing)(nil).withDefaults()
	return x[1] <= l.Contact && l.check(x) == ""
}
