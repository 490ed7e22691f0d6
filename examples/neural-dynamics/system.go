package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"
)

// The friction the planner's nominal model lacks. frictionEps is the
// velocity scale of the smoothed Coulomb term: tanh(ω/ε) is within 2% of
// sign ω for |ω| ≥ 2.3ε = 0.58 rad/s, and stays differentiable (its slope
// at rest, c/ε = 1.2 N·m·s, is 6 times the viscous one). With ε = 0.1,
// tried first, the plans of a residual network fitted by next-state
// prediction chattered near rest in a short trial.
const frictionEps = 0.25 // rad/s

// trueParams are the true system's parameters θ* = (g, m, l, b, c): the
// pendulum's (10, 1, 1), viscous damping b = 0.2 N·m·s and Coulomb
// friction c = 0.3 N·m (15% of the largest torque).
var trueParams = []float64{10, 1, 1, 0.2, 0.3}

// frictionStep is the true system: the pendulum of models.PendulumStep
// with a friction torque τ_f = b ω + c tanh(ω/ε) opposing the motion,
//
//	ū  = clamp(u, ±2)
//	ω′ = ω + dt·(3g/(2l)·s + 3(ū − b ω − c tanh(ω/ε))/(m l²))
//	θ′ = atan2(s, c) + dt·ω′,  x′ = (cos θ′, sin θ′, ω′)
//
// with θ = (g, m, l, b, c). With b = c = 0 it is the pendulum, operation
// for operation (the tests check it).
func frictionStep[T models.Scalar[T]](next, x, u, th []T) {
	c, s, w := x[0], x[1], x[2]
	g, m, l, visc, coul := th[0], th[1], th[2], th[3], th[4]
	ub := u[0].Clamp(-models.PendulumMaxTorque, models.PendulumMaxTorque)
	fr := visc.Mul(w).Add(coul.Mul(w.MulC(1 / frictionEps).Tanh()))
	acc := g.MulC(3).Div(l.MulC(2)).Mul(s).Add(ub.Sub(fr).MulC(3).Div(m.Mul(l).Mul(l)))
	w1 := w.Add(acc.MulC(models.PendulumDt))
	a1 := s.Atan2(c).Add(w1.MulC(models.PendulumDt))
	next[0] = a1.Cos()
	next[1] = a1.Sin()
	next[2] = w1
}

// newTrueSystem returns the true system as a models.Auto (exact derivatives
// by dual and hyper-dual numbers) with the pendulum's clamp.
func newTrueSystem() (*models.Auto, error) {
	a, err := models.NewAuto(fmt.Sprintf("pendulum+friction(dt=%g,umax=%g,eps=%g)",
		models.PendulumDt, models.PendulumMaxTorque, frictionEps),
		models.Dims{N: 3, M: 1, P: len(trueParams)}, trueParams, models.StepFuncs{
			Float:     frictionStep[models.Float],
			Dual:      frictionStep[models.Dual],
			HyperDual: frictionStep[models.HyperDual],
		})
	if err != nil {
		return nil, err
	}
	return a.WithControlClamp([]float64{-models.PendulumMaxTorque}, []float64{models.PendulumMaxTorque})
}

// trueTask is the true system with the pendulum's swing-up cost and bounds
// (models.PendulumTask): what the expert plans with.
func trueTask() (models.Task, error) {
	dyn, err := newTrueSystem()
	if err != nil {
		return models.Task{}, err
	}
	task := models.PendulumTask()
	task.Dynamics = dyn
	return task, nil
}

// demos are expert demonstrations: B initial states, B×T×N states and
// B×T×M controls.
type demos struct {
	b, t   int
	x0     []float64
	x, u   []float64
	reject int // draws whose expert solve did not converge, replaced
}

// n is the state size, m the control size of the pendulum.
const n, m = 3, 1

// collect draws initial states from the pendulum's reference ranges
// (train.ReferenceRanges: θ within π/2 of upright, ω in (−1, 1]) with rng
// and keeps the first b whose expert solve (iLQR on the true system,
// envs.DefaultExpertSettings) converged, in draw order.
func collect(task models.Task, t, b int, rng *rand.Rand) (*demos, error) {
	env, err := envs.New("pendulum")
	if err != nil {
		return nil, err
	}
	ranges, err := train.ReferenceRanges("pendulum")
	if err != nil {
		return nil, err
	}
	sampler, err := env.Uniform(ranges)
	if err != nil {
		return nil, err
	}
	set := envs.DefaultExpertSettings()
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: task, T: t}, &set)
	if err != nil {
		return nil, err
	}
	d := &demos{t: t}
	var res ilqr.Result
	for d.b < b {
		k := b - d.b
		x0 := make([]float64, k*n)
		for i := range k {
			sampler.Sample(x0[i*n:(i+1)*n], rng)
		}
		if err := sv.Solve(&res, ilqr.Inputs{X0: x0}); err != nil {
			return nil, err
		}
		for i := range k {
			if !res.Status[i].Stationary() {
				d.reject++
				if d.reject > b {
					return nil, fmt.Errorf("expert: %d of the draws did not converge", d.reject)
				}
				continue
			}
			d.x0 = append(d.x0, x0[i*n:(i+1)*n]...)
			d.x = append(d.x, res.X[i*t*n:(i+1)*t*n]...)
			d.u = append(d.u, res.U[i*t*m:(i+1)*t*m]...)
			d.b++
		}
	}
	return d, nil
}

// pick returns the demonstrations idx of d (copies).
func (d *demos) pick(idx []int) *demos {
	out := &demos{b: len(idx), t: d.t}
	for _, i := range idx {
		out.x0 = append(out.x0, d.x0[i*n:(i+1)*n]...)
		out.x = append(out.x, d.x[i*d.t*n:(i+1)*d.t*n]...)
		out.u = append(out.u, d.u[i*d.t*m:(i+1)*d.t*m]...)
	}
	return out
}

// pairs are state–control pairs (x, u) with the true next state.
type pairs struct {
	k          int
	x, u, next []float64
}

// transitions returns the T−1 transitions (x_t, u_t, x_{t+1}) of every
// demonstration: the data of system identification.
func (d *demos) transitions() *pairs {
	p := &pairs{}
	for b := range d.b {
		for t := 0; t+1 < d.t; t++ {
			i := b*d.t + t
			p.x = append(p.x, d.x[i*n:(i+1)*n]...)
			p.u = append(p.u, d.u[i*m:(i+1)*m]...)
			p.next = append(p.next, d.x[(i+1)*n:(i+2)*n]...)
			p.k++
		}
	}
	return p
}

// allPairs returns every (x_t, u_t) of the demonstrations, t = 0…T−1, with
// the true next state: where the expert went.
func (d *demos) allPairs(sys models.DynamicsEvaluator) *pairs {
	p := &pairs{k: d.b * d.t, x: d.x, u: d.u}
	p.next = make([]float64, len(d.x))
	for i := range p.k {
		sys.Step(p.next[i*n:(i+1)*n], d.x[i*n:(i+1)*n], d.u[i*m:(i+1)*m], trueParams)
	}
	return p
}

// randomPairs returns k pairs drawn uniformly from a box wider than the
// demonstrations cover: θ on the whole circle, ω in (−3, 3], u in
// (−2, 2], with the true next state. It measures how a model
// extrapolates.
func randomPairs(sys models.DynamicsEvaluator, k int, rng *rand.Rand) *pairs {
	p := &pairs{k: k, x: make([]float64, k*n), u: make([]float64, k*m), next: make([]float64, k*n)}
	for i := range k {
		a := math.Pi - 2*math.Pi*rng.Float64()
		p.x[i*n], p.x[i*n+1], p.x[i*n+2] = math.Cos(a), math.Sin(a), 3-6*rng.Float64()
		p.u[i] = 2 - 4*rng.Float64()
		sys.Step(p.next[i*n:(i+1)*n], p.x[i*n:(i+1)*n], p.u[i*m:(i+1)*m], trueParams)
	}
	return p
}

// modelError returns the mean squared next-state error of the model dyn
// at θ over the pairs: 1/(K N) Σ ‖f̂(x, u; θ) − x′‖².
func modelError(dyn models.Dynamics, theta []float64, p *pairs) float64 {
	ev := dyn.NewEvaluator()
	next := make([]float64, n)
	var sse float64
	for i := range p.k {
		ev.Step(next, p.x[i*n:(i+1)*n], p.u[i*m:(i+1)*m], theta)
		for j := range n {
			d := next[j] - p.next[i*n+j]
			sse += d * d
		}
	}
	return sse / float64(p.k*n)
}
