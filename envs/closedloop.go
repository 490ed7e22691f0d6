package envs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// Closed-loop evaluation. A Policy is asked for a control at every step of
// an episode on the true simulator (Env.Step); Evaluate runs episodes from
// seeded initial states and measures whether the policy brings the system
// upright and holds it there, what it costs, and how long each decision
// takes. MPC is the receding-horizon planner: it plans from the current
// state with any dynamics and cost parameters, applies the first control,
// and warm-starts the next plan with the rest of this one.

// StepInfo says how a policy computed one control.
type StepInfo struct {
	// Solved is set when the control came from a planner solve.
	Solved bool
	// Converged is set when that solve ended at a stationary point
	// (ilqr.Status.Stationary: Converged, or Stalled within TolGradLoose).
	Converged bool
	// Iterations is the number of solver iterations the solve took.
	Iterations int
}

// Policy chooses the control for the current state of a closed-loop
// episode.
//
// Control writes the control for state x (length N) at step t of an
// episode into u (length M) and says how it was computed. Step t = 0
// starts a new episode: a policy with internal state (a warm start, a
// recurrent state) resets it then. An error ends the evaluation. The
// evaluator clamps u to the task's bounds before applying it and replaces
// a non-finite entry by zero (counted in Episode.BadControls). A Policy is
// used by one goroutine at a time.
type Policy interface {
	Control(u, x []float64, t int) (StepInfo, error)
}

// PolicyFunc adapts a function to the Policy interface.
type PolicyFunc func(u, x []float64, t int) (StepInfo, error)

// Control calls f(u, x, t).
func (f PolicyFunc) Control(u, x []float64, t int) (StepInfo, error) { return f(u, x, t) }

// ZeroPolicy returns the policy that always applies zero controls, the
// baseline that succeeds only from states that are already at rest
// upright.
func ZeroPolicy() Policy {
	return PolicyFunc(func(u, _ []float64, _ int) (StepInfo, error) {
		clear(u)
		return StepInfo{}, nil
	})
}

// DefaultMPCHorizon is MPC's default planning horizon: 40 steps of 0.05 s
// (2 s). One plan of the demonstrations' 20 steps (1 s) cannot swing the
// pendulum up from hanging, but replanning at every step pumps energy in
// over several plans. Measured with the true model over 60 episodes of
// 5 s from the envs' starts (seed 7), the share of pendulum episodes that
// end upright and held was 95%, 95%, 93%, 97% and 100% for horizons 20,
// 25, 30, 35 and 40 (the failures stay near hanging, a local optimum of
// the short plans), and 90% and then 100% for the cart-pole at 20 and 25
// to 40.
const DefaultMPCHorizon = 40

// DefaultMPCSettings returns the solver settings MPC uses by default: at
// most 100 iterations per step (each solve is warm-started from the
// previous plan, so most take a few), status Converged when the projected
// gradient falls below 1e-6 and Stalled when the cost has stopped changing
// (relative change under 1e-12) with it below 1e-5, and one worker (a
// closed loop solves one state at a time). Both statuses count as
// converged in StepInfo. Far tighter tolerances, like the expert's 1e-9,
// cost more iterations per step and change the applied controls by much
// less than the differences between models that the evaluation shows.
func DefaultMPCSettings() ilqr.Settings {
	return ilqr.Settings{MaxIter: 100, TolGrad: 1e-6, TolGradLoose: 1e-5, TolCost: 1e-12, Workers: 1}
}

// MPCConfig configures a receding-horizon planner. A zero field means its
// default.
type MPCConfig struct {
	// Horizon is the number of steps T of each plan. Default
	// DefaultMPCHorizon.
	Horizon int
	// Theta are the dynamics parameters the planner uses (length P). Nil
	// means the env's true parameters; a learned model passes its θ̂.
	Theta []float64
	// Phi are the cost parameters the planner uses (the task's cost form,
	// e.g. (q, p) of a quadratic cost). Nil means the env's true cost; a
	// learned cost passes its φ̂.
	Phi []float64
	// Settings are the solver settings. Nil means DefaultMPCSettings();
	// zero fields of a non-nil value take ilqr's defaults.
	Settings *ilqr.Settings
}

// MPC is a receding-horizon planner used as a Policy: at each step it
// solves the finite-horizon problem (the env's task with cfg's θ and φ)
// from the current state, returns the plan's first control and keeps the
// plan's remaining controls, shifted by one step (the last one repeated),
// as the warm start of the next solve. The first solve of an episode
// starts from zero controls. With the true θ and φ it is the closed-loop
// expert, the reference of CostRatio. An MPC must not be used by two
// goroutines at once.
type MPC struct {
	env        *Env
	t, n, m    int
	theta, phi []float64
	solver     *ilqr.Solver
	res        ilqr.Result
	x0, u0     []float64
	warm       bool
}

// NewMPC returns a receding-horizon planner for env. A nil cfg means all
// defaults (the true model, DefaultMPCHorizon, DefaultMPCSettings). It
// fails for a horizon below 1, parameters of the wrong length or not
// finite, or settings the solver rejects.
func NewMPC(env *Env, cfg *MPCConfig) (*MPC, error) {
	if env == nil {
		return nil, errors.New("envs: mpc: nil Env")
	}
	c := deref(cfg)
	setDefault(&c.Horizon, DefaultMPCHorizon)
	if c.Horizon < 1 {
		return nil, fmt.Errorf("envs: mpc for %s: horizon %d < 1", env.name, c.Horizon)
	}
	set := DefaultMPCSettings()
	if c.Settings != nil {
		set = *c.Settings
	}
	theta, phi := env.theta, env.phi
	if c.Theta != nil {
		theta = c.Theta
	}
	if c.Phi != nil {
		phi = c.Phi
	}
	if len(theta) != len(env.theta) || len(phi) != len(env.phi) {
		return nil, fmt.Errorf("envs: mpc for %s: θ has length %d, φ %d; want P=%d and Q=%d",
			env.name, len(theta), len(phi), len(env.theta), len(env.phi))
	}
	if !finite(theta) || !finite(phi) {
		return nil, fmt.Errorf("envs: mpc for %s: θ or φ is not finite", env.name)
	}
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: env.task, T: c.Horizon}, &set)
	if err != nil {
		return nil, fmt.Errorf("envs: mpc for %s: %w", env.name, err)
	}
	d := env.Dims()
	return &MPC{env: env, t: c.Horizon, n: d.N, m: d.M,
		theta: slices.Clone(theta), phi: slices.Clone(phi), solver: sv,
		x0: make([]float64, d.N), u0: make([]float64, c.Horizon*d.M)}, nil
}

// Horizon returns the planning horizon T.
func (p *MPC) Horizon() int { return p.t }

// Control plans from x and writes the plan's first control into u. At
// t = 0 the plan starts from zero controls, afterwards from the previous
// plan shifted by one step. A solve that does not converge still gives its
// final iterate's control (StepInfo.Converged is false); a non-finite plan
// is an error.
func (p *MPC) Control(u, x []float64, t int) (StepInfo, error) {
	if len(u) != p.m || len(x) != p.n {
		return StepInfo{}, fmt.Errorf("envs: mpc for %s: u has length %d, x %d; want M=%d and N=%d",
			p.env.name, len(u), len(x), p.m, p.n)
	}
	if t == 0 || !p.warm {
		clear(p.u0)
	}
	copy(p.x0, x)
	if err := p.solver.Solve(&p.res, ilqr.Inputs{X0: p.x0, Theta: p.theta, Phi: p.phi, U0: p.u0}); err != nil {
		p.warm = false
		return StepInfo{}, fmt.Errorf("envs: mpc for %s at step %d: %w", p.env.name, t, err)
	}
	plan := p.res.U[:p.t*p.m]
	if !finite(plan) {
		p.warm = false
		return StepInfo{}, fmt.Errorf("envs: mpc for %s at step %d: the plan is not finite (%v)", p.env.name, t, p.res.Status[0])
	}
	copy(u, plan[:p.m])
	// Warm start: the plan shifted by one step, its last control repeated.
	copy(p.u0, plan[p.m:])
	copy(p.u0[(p.t-1)*p.m:], plan[(p.t-1)*p.m:])
	p.warm = true
	st := p.res.Status[0]
	return StepInfo{Solved: true, Converged: st.Stationary(), Iterations: p.res.Iterations[0]}, nil
}

// OutsideSampler draws initial states outside a box of starts: each
// physical coordinate uniformly from a widened range, a draw that falls
// inside the box drawn again. It tests a model trained on starts from the
// box on starts it has not seen. Make one with Env.Outside.
type OutsideSampler struct {
	wide   *UniformSampler
	box    []Range
	q, buf []float64
}

// Outside returns a sampler of starts outside the box in (one Range per
// entry of e.InitialRanges(), as for Env.Uniform): every range of in
// widened to twice its width about its centre, an angle's range (a
// coordinate named theta…) capped at the whole circle [−π, π], and draws
// inside in (all coordinates within their ranges) rejected. For the
// pendulum trained within ±π/2 of upright with ω ∈ (−1, 1], it draws θ
// from the whole circle and ω from (−2, 2] and keeps the starts with
// |θ| > π/2 or |ω| > 1. It fails if in does not suit e, or if the widened
// box is almost all inside in (more than 99% of it, as when every range
// has zero width).
func (e *Env) Outside(in []Range) (*OutsideSampler, error) {
	if _, err := e.Uniform(in); err != nil {
		return nil, err
	}
	wide := make([]Range, len(in))
	covered := 1.0 // the share of the widened box inside in
	for i, r := range in {
		c, h := (r.Lo+r.Hi)/2, r.Hi-r.Lo
		wide[i] = Range{Name: r.Name, Lo: c - h, Hi: c + h}
		if isAngle(r.Name) {
			wide[i].Lo, wide[i].Hi = max(wide[i].Lo, -math.Pi), min(wide[i].Hi, math.Pi)
		}
		if w := wide[i].Hi - wide[i].Lo; w > 0 {
			covered *= (min(r.Hi, wide[i].Hi) - max(r.Lo, wide[i].Lo)) / w
		}
	}
	if covered > 0.99 {
		return nil, fmt.Errorf("envs: %s: the box %v covers %.3g of its widened box: too few starts outside it", e.name, in, covered)
	}
	u, err := e.Uniform(wide)
	if err != nil {
		return nil, err
	}
	return &OutsideSampler{wide: u, box: slices.Clone(in), q: make([]float64, len(in))}, nil
}

// Ranges returns the widened ranges the sampler draws from.
func (s *OutsideSampler) Ranges() []Range { return s.wide.Ranges() }

// Excluded returns the box whose starts the sampler rejects.
func (s *OutsideSampler) Excluded() []Range { return slices.Clone(s.box) }

// Sample implements Sampler: it draws physical coordinates as
// Env.Uniform(s.Ranges()) does, again and again until they leave the
// excluded box (rejection sampling), and stores the state in dst. The
// expected number of draws per start is 1/(1 − v), v the share of the
// widened box that the excluded box covers: 4/3 for the pendulum's
// reference box (v = ¼) and 8/7 for the cart-pole's (v = ⅛, its angle
// already spans the circle). Env.Outside refuses v > 0.99.
func (s *OutsideSampler) Sample(dst []float64, rng *rand.Rand) {
	ranges := s.wide.ranges
	for {
		for i, r := range ranges {
			s.q[i] = r.Hi - (r.Hi-r.Lo)*rng.Float64()
		}
		if !inBox(s.q, s.box) {
			break
		}
	}
	s.wide.env.StateFromCoords(dst, s.q)
}

// inBox reports whether every coordinate of q lies in its range of box
// (closed intervals).
func inBox(q []float64, box []Range) bool {
	for i, r := range box {
		if q[i] < r.Lo || q[i] > r.Hi {
			return false
		}
	}
	return true
}

// isAngle reports whether a coordinate named name is an angle (theta,
// theta1, ...).
func isAngle(name string) bool { return len(name) >= 5 && name[:5] == "theta" }

// joint names the state entries of one pole: its cosine, sine and angular
// rate.
type joint struct{ c, s, w int }

// geometry returns the poles of env's state and the index of the cart's
// position (−1 for none).
func (e *Env) geometry() (poles []joint, cart int) {
	switch e.name {
	case "pendulum":
		return []joint{{0, 1, 2}}, -1
	case "cartpole":
		return []joint{{2, 3, 4}}, 0
	case "double_pendulum":
		return []joint{{2, 3, 4}, {5, 6, 7}}, 0
	}
	return nil, -1
}

// goalState writes the goal (every pole upright, everything at rest at
// the origin) into dst.
func (e *Env) goalState(dst []float64) {
	clear(dst)
	poles, _ := e.geometry()
	for _, j := range poles {
		dst[j.c] = 1
	}
}

// Success defines a successful episode. A zero field means its default.
type Success struct {
	// AngleTol bounds every pole's angle from upright, |atan2(s, c)|,
	// radians. Default 0.1.
	AngleTol float64
	// RateTol bounds every pole's angular rate |ω|, rad/s. Default 0.5.
	RateTol float64
	// HoldSteps is the number of final states over which both bounds must
	// hold. Default 20 (the last second at the envs' 0.05 s step).
	HoldSteps int
	// TrackLimit bounds the cart's position |x| (metres) at every state of
	// the episode, for the envs with a cart. Default 2.4, the track of the
	// classic cart-pole benchmark (Barto, Sutton & Anderson 1983, as in
	// Gym's CartPole); the expert plans never come near it (see Evaluate).
	TrackLimit float64
}

func (s *Success) withDefaults() (Success, error) {
	d := deref(s)
	setDefault(&d.AngleTol, 0.1)
	setDefault(&d.RateTol, 0.5)
	setDefault(&d.HoldSteps, 20)
	setDefault(&d.TrackLimit, 2.4)
	if !(d.AngleTol > 0 && d.RateTol > 0 && d.TrackLimit > 0) || d.HoldSteps < 1 ||
		!finite([]float64{d.AngleTol, d.RateTol, d.TrackLimit}) {
		return d, fmt.Errorf("envs: success: tolerances %g, %g, track %g must be positive and finite, hold %d ≥ 1",
			d.AngleTol, d.RateTol, d.TrackLimit, d.HoldSteps)
	}
	return d, nil
}

// upright reports whether x has every pole within the tolerances.
func (e *Env) upright(x []float64, s *Success) bool {
	if e.name == "rocket" {
		return rocketDown(x)
	}
	poles, _ := e.geometry()
	for _, j := range poles {
		if math.Abs(math.Atan2(x[j.s], x[j.c])) >= s.AngleTol || math.Abs(x[j.w]) >= s.RateTol {
			return false
		}
	}
	return true
}

// EvalConfig configures Evaluate. A zero field means its default.
type EvalConfig struct {
	// Episodes is the number of episodes. Default 20.
	Episodes int
	// Steps is the number of controls applied per episode; an episode has
	// Steps+1 states. Default 100 (5 s at the envs' 0.05 s step), and
	// RocketSteps for the rocket.
	Steps int
	// Seed seeds the initial states: PCG stream (Seed, 0x636c) ("cl").
	// Zero is a valid seed.
	Seed uint64
	// Starts draws the initial states, one per episode in order. Nil
	// means the env's own distribution (Env.Uniform(InitialRanges())).
	Starts Sampler
	// Success defines success; nil means the defaults of Success.
	Success *Success
	// Keep keeps every episode's states and controls (Episode.X, U).
	Keep bool
}

// startStream is the PCG stream of the initial states ("cl").
const startStream = 0x636c

// Episode is one closed-loop run.
type Episode struct {
	// X0 is the initial state (length N).
	X0 []float64
	// X holds the Steps+1 states x₀…x_K and U the K controls applied,
	// after clamping (rows of length N and M); nil unless EvalConfig.Keep.
	X, U []float64
	// Cost is the true cost in excess of resting at the goal:
	// Σ_{t<K} [g(x_t, u_t; φ_true) − g(x_goal, 0; φ_true)], where x_goal
	// has every pole upright and everything at rest at the origin. For the
	// envs' quadratic costs x_goal with u = 0 is the cost's minimum, so
	// Cost ≥ 0 and is zero only for an episode that starts and stays at
	// rest at the goal. (The raw cost of the pendulum is −0.5 per step
	// upright: a ratio of raw costs would mean nothing.)
	Cost float64
	// Success is set when every pole stayed within the success tolerances
	// over the last HoldSteps states (all states of a shorter episode) and
	// the cart stayed on its track throughout.
	Success bool
	// OffTrack is set when the cart left its track at some state.
	OffTrack bool
	// Reached is the first step from which the poles stayed within the
	// tolerances until the end, −1 if the last state is not within them.
	Reached int
	// FinalAngle is the first pole's angle from upright at the last state,
	// radians in (−π, π]; FinalRate its angular rate.
	FinalAngle, FinalRate float64
	// Solves counts the steps whose control came from a planner solve and
	// Converged those whose solve converged.
	Solves, Converged int
	// BadControls counts the non-finite control entries replaced by zero.
	BadControls int
	// StepTimes holds the wall time of each Control call.
	StepTimes []time.Duration
}

// Evaluation is the outcome of Evaluate.
type Evaluation struct {
	Env      string
	Episodes []Episode
	// SuccessRate is the share of successful episodes.
	SuccessRate float64
	// MeanCost is the mean of Episode.Cost.
	MeanCost float64
	// StepP50 and StepP99 are the median and 99th percentile (nearest
	// rank) of the wall time of a Control call over every step of every
	// episode: for a planner, its solve time per step.
	StepP50, StepP99 time.Duration
	// ConvergedShare is the share of solved steps whose solve converged,
	// NaN when no step was solved (a policy that does not plan).
	ConvergedShare float64
	// Success are the criteria in force, defaults filled in.
	Success Success
}

// Evaluate runs cfg.Episodes closed-loop episodes of policy p on env's
// true simulator. Episode k starts from the k-th state drawn from
// cfg.Starts (with a generator on PCG stream (Seed, 0x636c)); at each step
// t = 0…Steps−1 the policy gives u_t for the state x_t, the evaluator
// clamps it to the task's bounds (a non-finite entry becomes 0) and the
// simulator steps to x_{t+1}. Everything but the step times is a
// deterministic function of env, cfg and a deterministic p: the same seed
// gives the same starts, states, costs and successes.
//
// A policy error ends the evaluation with that error. Evaluate fails for
// a nil env or policy, or an invalid cfg.
//
// For the rocket, whose success is a landing and not an upright pole,
// Evaluate is EvaluateLanding with the default Landing criteria.
func Evaluate(env *Env, p Policy, cfg *EvalConfig) (*Evaluation, error) {
	if env == nil || p == nil {
		return nil, errors.New("envs: evaluate: nil Env or Policy")
	}
	if env.name == "rocket" { // success is a landing, not an upright pole
		le, err := EvaluateLanding(env, p, cfg, nil)
		if err != nil {
			return nil, err
		}
		return &le.Evaluation, nil
	}
	c, succ, x0, err := evalSetup(env, cfg)
	if err != nil {
		return nil, err
	}
	n := env.Dims().N
	ev := &Evaluation{Env: env.name, Episodes: make([]Episode, c.Episodes), Success: succ}
	r := newRunner(env, &succ)
	for k := range ev.Episodes {
		if err := r.episode(&ev.Episodes[k], p, x0[k*n:(k+1)*n], c.Steps, c.Keep); err != nil {
			return nil, fmt.Errorf("envs: evaluate %s: episode %d: %w", env.name, k, err)
		}
	}
	ev.summarize()
	return ev, nil
}

// evalSetup returns cfg with its defaults, its success criterion with
// its defaults, and the episodes' initial states (c.Episodes rows of
// length N) drawn from c.Starts by the stream c.Seed selects.
func evalSetup(env *Env, cfg *EvalConfig) (c EvalConfig, succ Success, x0 []float64, err error) {
	if c, err = evalDefaults(env, cfg); err != nil {
		return c, succ, nil, err
	}
	if succ, err = c.Success.withDefaults(); err != nil {
		return c, succ, nil, err
	}
	n := env.Dims().N
	x0 = make([]float64, c.Episodes*n)
	rng := rand.New(rand.NewPCG(c.Seed, startStream))
	for k := range c.Episodes {
		c.Starts.Sample(x0[k*n:(k+1)*n], rng)
	}
	return c, succ, x0, nil
}

// evalDefaults fills cfg's defaults and checks it.
func evalDefaults(env *Env, cfg *EvalConfig) (EvalConfig, error) {
	c := deref(cfg)
	setDefault(&c.Episodes, 20)
	if env.name == "rocket" {
		setDefault(&c.Steps, RocketSteps)
	}
	setDefault(&c.Steps, 100)
	if c.Episodes < 0 || c.Steps < 0 {
		return c, fmt.Errorf("envs: evaluate %s: %d episodes of %d steps", env.name, c.Episodes, c.Steps)
	}
	if c.Starts == nil {
		u, err := env.Uniform(env.InitialRanges())
		if err != nil {
			return c, err
		}
		c.Starts = u
	}
	return c, nil
}

// runner holds the scratch space of one evaluation's episodes.
type runner struct {
	env        *Env
	succ       *Success
	n, m       int
	cost       models.CostEvaluator
	floor      float64 // g(x_goal, 0)
	x, next, u []float64
	lo, hi     []float64
	inside     int // length of the current run of upright states
}

func newRunner(env *Env, succ *Success) *runner {
	d := env.Dims()
	r := &runner{env: env, succ: succ, n: d.N, m: d.M, cost: env.task.Cost.NewEvaluator(),
		x: make([]float64, d.N), next: make([]float64, d.N), u: make([]float64, d.M),
		lo: env.task.Lower[:d.M], hi: env.task.Upper[:d.M]}
	goal := make([]float64, d.N)
	env.goalState(goal)
	r.floor = r.cost.Value(goal, make([]float64, d.M), env.phi)
	return r
}

// episode runs one episode of k steps from x0 into ep.
func (r *runner) episode(ep *Episode, p Policy, x0 []float64, k int, keep bool) error {
	*ep = Episode{X0: slices.Clone(x0), Reached: -1, StepTimes: make([]time.Duration, k)}
	if keep {
		ep.X = make([]float64, 0, (k+1)*r.n)
		ep.U = make([]float64, 0, k*r.m)
	}
	copy(r.x, x0)
	r.inside = 0
	r.observe(ep, 0, keep)
	for t := 0; t < k; t++ {
		if err := r.act(ep, p, t); err != nil {
			return fmt.Errorf("step %d: %w", t, err)
		}
		if keep {
			ep.U = append(ep.U, r.u...)
		}
		ep.Cost += r.cost.Value(r.x, r.u, r.env.phi) - r.floor
		r.env.Step(r.next, r.x, r.u)
		r.x, r.next = r.next, r.x
		r.observe(ep, t+1, keep)
	}
	poles, _ := r.env.geometry()
	ep.FinalAngle = math.Atan2(r.x[poles[0].s], r.x[poles[0].c])
	ep.FinalRate = r.x[poles[0].w]
	ep.Success = r.inside >= min(r.succ.HoldSteps, k+1) && !ep.OffTrack
	return nil
}

// act asks the policy for the control of step t into r.u, times it,
// counts its solve and makes it applicable: non-finite entries become 0,
// the rest is clamped to the bounds.
func (r *runner) act(ep *Episode, p Policy, t int) error {
	clear(r.u)
	start := time.Now()
	info, err := p.Control(r.u, r.x, t)
	ep.StepTimes[t] = time.Since(start)
	if err != nil {
		return err
	}
	if info.Solved {
		ep.Solves++
		if info.Converged {
			ep.Converged++
		}
	}
	for i, v := range r.u {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
			ep.BadControls++
		}
		r.u[i] = min(max(v, r.lo[i]), r.hi[i])
	}
	return nil
}

// observe records state t (r.x): keeps it, checks the track, and extends
// or breaks the run of upright states (r.inside, ep.Reached).
func (r *runner) observe(ep *Episode, t int, keep bool) {
	if keep {
		ep.X = append(ep.X, r.x...)
	}
	if _, cart := r.env.geometry(); cart >= 0 && math.Abs(r.x[cart]) > r.succ.TrackLimit {
		ep.OffTrack = true
	}
	if !r.env.upright(r.x, r.succ) {
		r.inside, ep.Reached = 0, -1
		return
	}
	if r.inside == 0 {
		ep.Reached = t
	}
	r.inside++
}

// summarize computes the evaluation's aggregate metrics.
func (ev *Evaluation) summarize() {
	var times []time.Duration
	succ, solves, conv := 0, 0, 0
	ev.MeanCost = 0
	for i := range ev.Episodes {
		ep := &ev.Episodes[i]
		if ep.Success {
			succ++
		}
		ev.MeanCost += ep.Cost
		solves += ep.Solves
		conv += ep.Converged
		times = append(times, ep.StepTimes...)
	}
	k := float64(len(ev.Episodes))
	ev.SuccessRate, ev.MeanCost = float64(succ)/k, ev.MeanCost/k
	if len(ev.Episodes) == 0 {
		ev.SuccessRate, ev.MeanCost = math.NaN(), math.NaN()
	}
	ev.ConvergedShare = math.NaN()
	if solves > 0 {
		ev.ConvergedShare = float64(conv) / float64(solves)
	}
	slices.Sort(times)
	ev.StepP50, ev.StepP99 = percentile(times, 50), percentile(times, 99)
}

// percentile returns the p-th percentile of the sorted values by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it (the ⌈p/100·n⌉-th smallest); 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	r := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(r, 1), len(sorted))-1]
}

// CostRatio returns Σ_k ev.Episodes[k].Cost / Σ_k ref.Episodes[k].Cost:
// the total excess cost of ev's policy over that of the reference (the
// expert: MPC with the true model) on the same starts. A ratio of sums
// rather than a mean of ratios, so that episodes the expert finishes at
// almost no cost do not dominate it. It fails if the two evaluations are
// of different envs, or their episodes did not start from the same
// states, or the reference's total cost is not positive.
func CostRatio(ev, ref *Evaluation) (float64, error) {
	if ev == nil || ref == nil {
		return 0, errors.New("envs: cost ratio: nil evaluation")
	}
	if ev.Env != ref.Env || len(ev.Episodes) != len(ref.Episodes) {
		return 0, fmt.Errorf("envs: cost ratio: %d episodes of %s against %d of %s",
			len(ev.Episodes), ev.Env, len(ref.Episodes), ref.Env)
	}
	var a, b float64
	for k := range ev.Episodes {
		if !slices.Equal(ev.Episodes[k].X0, ref.Episodes[k].X0) {
			return 0, fmt.Errorf("envs: cost ratio: episode %d starts from different states", k)
		}
		a += ev.Episodes[k].Cost
		b += ref.Episodes[k].Cost
	}
	if !(b > 0) {
		return 0, fmt.Errorf("envs: cost ratio: the reference's total cost is %g", b)
	}
	return a / b, nil
}

// finite reports whether every entry of v is finite.
func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// setDefault sets *v to d where it is zero.
func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// deref returns *p, or the zero value for a nil p.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
