package main

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/train"
)

// Closed loop: a trained model drives the true pendulum. At every step of
// an episode the policy renders the last frames of the true state as the
// training data was rendered, runs the model's forward graph (batch 1) and
// applies the first of the T controls it predicts: for the planner model
// that is model-predictive control with the learned state estimate and
// cost, for the MLP the first output of its head.

// visionPolicy is a trained model as an envs.Policy. Its input at step t
// is the two frames (x_{t−gap}, x_t) of the true states, rendered with
// envs.Env.Render as makeSplit renders the demonstrations. Before the
// episode the pendulum is taken to have swung freely (u = 0), as in the
// demonstrations: at steps t < gap the missing frames are the unforced
// pendulum's states before x₀ (previousState). From step gap on they are
// the states the episode actually visited, so they include the effect of
// the controls applied, which the demonstrations' first frames never show
// (at most 3·|u|·dt² = 0.0075 rad per step of difference in the angle).
//
// A visionPolicy keeps the frames of its episode and must not be used by
// two goroutines at once.
type visionPolicy struct {
	env  *envs.Env
	nt   *net // forward graph of batch 1
	opts envs.RenderOptions
	gap  int
	g, l float64 // the true gravity and length, for the unforced past
	// hist[k] is the state x_{t−gap+k}: hist[0] the older frame,
	// hist[gap] the current state.
	hist [][]float64
	img  []float64 // (1, 2, S, S)
	plan []float64 // the controls of the last forward pass
	next int       // the step the next call must be
	// errs, unless nil, receives the error of the model's state estimate
	// at every step (planner model, or a model with the state loss).
	errs *stateErrors
}

// stateErrors accumulates the errors of a state estimate against the true
// states, separately for the states with |ω| ≤ 1 (the range of the
// training starts) and beyond.
type stateErrors struct {
	n            [2]int
	angle, omega [2]float64 // sums of |θ̂ − θ| and (ω̂ − ω)²
}

// add records the estimate est of the true state x.
func (e *stateErrors) add(est, x []float64) {
	k := 0
	if math.Abs(x[2]) > 1 {
		k = 1
	}
	e.n[k]++
	e.angle[k] += math.Abs(math.Remainder(math.Atan2(est[1], est[0])-math.Atan2(x[1], x[0]), 2*math.Pi))
	e.omega[k] += (est[2] - x[2]) * (est[2] - x[2])
}

// String reports the mean angle error and the RMS rate error of both
// groups.
func (e *stateErrors) String() string {
	var b strings.Builder
	for k, name := range []string{"|ω| ≤ 1", "|ω| > 1"} {
		if k > 0 {
			b.WriteString("; ")
		}
		n := float64(max(e.n[k], 1))
		fmt.Fprintf(&b, "%s: %d states, mean |θ̂ − θ| %.3g rad, RMS(ω̂ − ω) %.3g rad/s", name, e.n[k], e.angle[k]/n, math.Sqrt(e.omega[k]/n))
	}
	return b.String()
}

// newVisionPolicy returns the policy of the forward graph nt (batch 1)
// for images of size×size pixels of env's states with frames gap steps
// apart.
func newVisionPolicy(env *envs.Env, nt *net, size, gap int) (*visionPolicy, error) {
	if nt.b != 1 || nt.target != nil {
		return nil, fmt.Errorf("closed loop: the %s graph has batch %d (want 1) or a loss", nt.kind, nt.b)
	}
	if gap < 1 {
		return nil, fmt.Errorf("closed loop: frame gap %d < 1", gap)
	}
	th := env.Params()
	p := &visionPolicy{env: env, nt: nt, opts: envs.RenderOptions{Size: size}, gap: gap,
		g: th[0], l: th[2], hist: make([][]float64, gap+1), img: make([]float64, 2*size*size)}
	for k := range p.hist {
		p.hist[k] = make([]float64, 3)
	}
	return p, nil
}

// Control implements envs.Policy: it writes the model's first control for
// the frames ending at x into u. Step 0 starts an episode; any other step
// must follow the previous call's.
func (p *visionPolicy) Control(u, x []float64, t int) (envs.StepInfo, error) {
	if len(u) != 1 || len(x) != 3 {
		return envs.StepInfo{}, fmt.Errorf("closed loop: u has length %d and x %d, want 1 and 3", len(u), len(x))
	}
	switch {
	case t == 0:
		copy(p.hist[p.gap], x)
		for k := p.gap - 1; k >= 0; k-- {
			copy(p.hist[k], previousState(p.hist[k+1], p.g, p.l))
		}
	case t == p.next:
		oldest := p.hist[0]
		copy(p.hist, p.hist[1:])
		p.hist[p.gap] = oldest
		copy(oldest, x)
	default:
		return envs.StepInfo{}, fmt.Errorf("closed loop: step %d after step %d", t, p.next-1)
	}
	p.next = t + 1
	plan, info, err := p.forward()
	if err != nil {
		return info, err
	}
	u[0] = plan[0]
	return info, nil
}

// forward renders the frames of p.hist, runs the graph and returns the
// predicted controls (T values; overwritten by the next call).
func (p *visionPolicy) forward() ([]float64, envs.StepInfo, error) {
	k := len(p.img) / 2
	if _, err := p.env.Render(p.img[:k], p.hist[0], &p.opts); err != nil {
		return nil, envs.StepInfo{}, err
	}
	if _, err := p.env.Render(p.img[k:], p.hist[p.gap], &p.opts); err != nil {
		return nil, envs.StepInfo{}, err
	}
	if err := p.nt.run(p.img, nil); err != nil {
		return nil, envs.StepInfo{}, err
	}
	plan, err := train.Float64s(p.nt.uVal)
	if err != nil {
		return nil, envs.StepInfo{}, err
	}
	p.plan = append(p.plan[:0], plan...)
	if p.errs != nil && p.nt.state != nil {
		est, err := train.Float64s(p.nt.stateVal)
		if err != nil {
			return nil, envs.StepInfo{}, err
		}
		p.errs.add(est, p.hist[p.gap])
	}
	var info envs.StepInfo
	if pl := p.nt.planner; pl != nil {
		st := pl.Stats()
		if len(st.Status) != 1 {
			return nil, info, fmt.Errorf("closed loop: planner reports %d solves, want 1", len(st.Status))
		}
		info = envs.StepInfo{Solved: true, Converged: st.Status[0].Stationary(), Iterations: st.Iterations[0]}
	}
	return p.plan, info, nil
}

// heavierPole drives the true pendulum as if its pole were factor times as
// heavy. The pendulum's mass enters its step only through the angular
// acceleration 3ū/(m l²) of the clamped torque ū (models.NewPendulum), so
// a pole factor times as heavy under torque u moves exactly as the
// simulator's pole under ū/factor: heavierPole clamps the inner policy's
// control to the bounds and divides it by factor. The torque the policy
// commands is factor times the one the evaluator records; heavyCosts
// recomputes the episodes' costs with it.
type heavierPole struct {
	p      envs.Policy
	factor float64
}

// Control implements envs.Policy.
func (h heavierPole) Control(u, x []float64, t int) (envs.StepInfo, error) {
	info, err := h.p.Control(u, x, t)
	if err != nil {
		return info, err
	}
	for i, v := range u {
		if !math.IsNaN(v) { // the evaluator replaces NaN by zero and counts it
			u[i] = min(max(v, -models.PendulumMaxTorque), models.PendulumMaxTorque) / h.factor
		}
	}
	return info, nil
}

// heavyCosts recomputes the costs of ev's episodes (kept with their states
// and controls) for the torques the policy commanded under heavierPole:
// factor times the recorded ones. Each episode's cost is
// Σ_t [g(x_t, factor·u_t) − g(x_goal, 0)] with the true cost, as
// envs.Episode.Cost defines it; MeanCost is updated.
func heavyCosts(env *envs.Env, ev *envs.Evaluation, factor float64) error {
	task := env.Task()
	cost := task.Cost.NewEvaluator()
	phi := env.CostParams()
	floor := cost.Value([]float64{1, 0, 0}, []float64{0}, phi) // upright at rest
	ev.MeanCost = 0
	u := []float64{0}
	for i := range ev.Episodes {
		ep := &ev.Episodes[i]
		if len(ep.U) == 0 || len(ep.X) != 3*(len(ep.U)+1) {
			return errors.New("closed loop: heavy-pole costs need the episodes' states and controls")
		}
		ep.Cost = 0
		for t := range ep.U {
			u[0] = factor * ep.U[t]
			ep.Cost += cost.Value(ep.X[3*t:3*t+3], u, phi) - floor
		}
		ev.MeanCost += ep.Cost / float64(len(ev.Episodes))
	}
	return nil
}
