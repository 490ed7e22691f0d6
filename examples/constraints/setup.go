package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// The two learning problems.
const (
	taskVehicle  = "vehicle"
	taskCartpole = "cartpole"
)

// allTasks lists the problems in table order.
var allTasks = []string{taskVehicle, taskCartpole}

// setup is one learning problem: a task whose constraint is unknown to the
// learner, the entries k of the constraint's ψ that are learned, their true
// values and the learner's first guess, and the distribution of starts.
type setup struct {
	name string
	// task carries the true constraint (its default ψ is the truth).
	task models.Task
	t    int
	// trueK and initK are the learned entries of ψ at the truth and at
	// the constraint learners' first guess; kNames names them.
	trueK, initK []float64
	kNames       []string
	// psi returns the full ψ for the learned entries k.
	psi func(k []float64) []float64
	// psiGrad adds to dst (len k) dL/dk given g = dL/dψ, one example's row.
	psiGrad func(dst, g []float64)
	// project moves k back into the constraint's domain after a step.
	project func(k []float64)
	// guess draws another first guess of k, for a restart.
	guess func(rng *rand.Rand) []float64
	// start draws one initial state.
	start func(rng *rand.Rand) []float64
	// wu weighs the controls' mean square error against the states' in
	// the imitation loss.
	wu float64
	// lrPsi and lrCost are Adam's learning rates for k and for the cost
	// parameters (log q, p).
	lrPsi, lrCost float64
}

// vehicleGuess is the constraint learners' default first guess for the
// obstacle (c_x, c_y, r): the centre 0.5 m short of the true one and 0.2 m
// above it, half its radius (-vehicle-guess).
var vehicleGuess = []float64{2.0, 0.25, 0.5}

// newVehicleSetup returns the vehicle around the unknown disc of
// models.VehicleTask, T = 30 steps (3 s). The starts are near the origin,
// on either side of the line to the goal, so that some demonstrations pass
// above the obstacle and some below: p_x ∈ (−0.3, 0.3) m,
// p_y ∈ (−0.6, 0.6) m, heading ∈ (−0.3, 0.3) rad, speed ∈ (0, 0.5) m/s.
func newVehicleSetup() *setup {
	task := models.VehicleTask()
	return &setup{
		name: taskVehicle, task: task, t: 30,
		trueK:  []float64{models.VehicleObstacleX, models.VehicleObstacleY, models.VehicleObstacleR},
		initK:  slices.Clone(vehicleGuess),
		kNames: []string{"c_x", "c_y", "r"},
		psi:    func(k []float64) []float64 { return []float64{k[0], k[1], k[2]} },
		psiGrad: func(dst, g []float64) {
			for i := range dst {
				dst[i] += g[i]
			}
		},
		project: func(k []float64) { k[2] = max(k[2], 0.05) },
		// Restarts: a disc of radius 0.5–1.5 m centred anywhere between
		// the starts and the goal, within 1 m of the line.
		guess: func(rng *rand.Rand) []float64 {
			return []float64{uniform(rng, 1, 4), uniform(rng, -1, 1), uniform(rng, 0.5, 1.5)}
		},
		start: func(rng *rand.Rand) []float64 {
			y := uniform(rng, 0.3, 0.7)
			if rng.IntN(2) == 0 {
				y = -y
			}
			return []float64{uniform(rng, -0.3, 0.3), y, uniform(rng, -0.2, 0.2), uniform(rng, 0, 0.5)}
		},
		wu: 1, lrPsi: 0.05, lrCost: 0.05,
	}
}

// cartpoleLimit and cartpoleGuess are the true track limit |x| ≤ 0.4 m
// and the constraint learners' first guess, 0.8 m. The guess is loose but
// still active: without a limit the swing-ups from the starts below drive
// the cart more than 1 m from the centre.
const (
	cartpoleLimit = 0.4
	cartpoleGuess = 0.8
)

// newCartpoleSetup returns the cart-pole swing-up (models.CartpoleTask)
// on a track |x| ≤ 0.4 m, T = 20 steps (1 s). The learned entry is the
// one limit s of the symmetric track, ψ = (−s, −∞, −∞, −∞, −∞, s, ∞, ∞,
// ∞, ∞) (models.CartpoleTrackLimit). Starts: cart at
// x ∈ (−0.2, 0.2) m, ẋ ∈ (−0.3, 0.3) m/s, the pole 0.3–0.9 rad from
// upright on either side, ω ∈ (−0.3, 0.3) rad/s.
func newCartpoleSetup() (*setup, error) {
	task := models.CartpoleTask()
	lim, err := models.CartpoleTrackLimit(cartpoleLimit)
	if err != nil {
		return nil, err
	}
	task.Constraint = lim
	return &setup{
		name: taskCartpole, task: task, t: 20,
		trueK: []float64{cartpoleLimit}, initK: []float64{cartpoleGuess}, kNames: []string{"x_max"},
		psi: func(k []float64) []float64 {
			inf := math.Inf(1)
			return []float64{-k[0], -inf, -inf, -inf, -inf, k[0], inf, inf, inf, inf}
		},
		// ψ_0 = −s and ψ_5 = s.
		psiGrad: func(dst, g []float64) { dst[0] += g[5] - g[0] },
		project: func(k []float64) { k[0] = max(k[0], 0.05) },
		guess:   func(rng *rand.Rand) []float64 { return []float64{uniform(rng, 0.5, 1.5)} },
		start: func(rng *rand.Rand) []float64 {
			th := uniform(rng, 0.3, 0.9)
			if rng.IntN(2) == 0 {
				th = -th
			}
			return []float64{uniform(rng, -0.2, 0.2), uniform(rng, -0.3, 0.3), math.Cos(th), math.Sin(th), uniform(rng, -0.3, 0.3)}
		},
		// The forces reach tens of newtons where the states are of order
		// one: 1e-3 puts a 30 N error on a par with a 1 m one.
		wu: 1e-3, lrPsi: 0.05, lrCost: 0.05,
	}, nil
}

// newSetup returns the named problem.
func newSetup(name string) (*setup, error) {
	switch name {
	case taskVehicle:
		return newVehicleSetup(), nil
	case taskCartpole:
		return newCartpoleSetup()
	}
	return nil, fmt.Errorf("unknown task %q (have %v)", name, allTasks)
}

// uniform draws from (lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// dims returns the state and control sizes.
func (s *setup) dims() (n, m int) {
	d := s.task.Dynamics.Dims()
	return d.N, d.M
}

// psiError returns ‖k − k*‖, the distance of the learned entries from the
// truth (metres for both problems).
func (s *setup) psiError(k []float64) float64 {
	var e float64
	for i, v := range k {
		e += (v - s.trueK[i]) * (v - s.trueK[i])
	}
	return math.Sqrt(e)
}

// demos are expert demonstrations from B starts.
type demos struct {
	b    int
	x0   []float64 // B×N
	x, u []float64 // B×T×N, B×T×M
}

// expertSettings are the expert's and the evaluation's solver settings:
// Newton steps, stationary to 1e-9, violation within 1e-9, from zero
// controls. Newton steps matter for the planners without the constraint
// (the constrained ones always take them): on the vehicle, iLQR's
// Gauss–Newton steps leave the projected gradient near 1e-6 after 1000
// iterations, where Newton's reach 1e-9 in 10–15.
var expertSettings = ilqr.Settings{MaxIter: 1000, Newton: true}

// collect draws starts from rng and solves them with the planner of the
// true constraint until it has k stationary solves; it returns them and
// the number of starts rejected (at most 4k tried).
func collect(s *setup, k int, rng *rand.Rand) (*demos, int, error) {
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: s.task, T: s.t}, &expertSettings)
	if err != nil {
		return nil, 0, err
	}
	n, m := s.dims()
	d := &demos{}
	var res ilqr.Result
	rejected := 0
	for tries := 0; d.b < k; tries++ {
		if tries >= 4 {
			return nil, rejected, fmt.Errorf("%s: %d of %d expert solves kept after %d rounds", s.name, d.b, k, tries)
		}
		var x0 []float64
		for range k - d.b {
			x0 = append(x0, s.start(rng)...)
		}
		if err := sv.Solve(&res, ilqr.Inputs{X0: x0}); err != nil {
			return nil, rejected, err
		}
		for b, st := range res.Status {
			if !st.Stationary() {
				rejected++
				continue
			}
			d.x0 = append(d.x0, x0[b*n:(b+1)*n]...)
			d.x = append(d.x, res.X[b*s.t*n:(b+1)*s.t*n]...)
			d.u = append(d.u, res.U[b*s.t*m:(b+1)*s.t*m]...)
			d.b++
		}
	}
	return d, rejected, nil
}

// imitation returns the imitation loss of the trajectories X, U against
// the demonstrations d, one value per example,
//
//	ℓ_b = mean_{t,i} (x̂_{t,i} − x_{t,i})² + wu · mean_{t,j} (û_{t,j} − u_{t,j})²,
//
// and, when dX and dU are not nil, writes the gradient of mean_b ℓ_b into
// them.
func (s *setup) imitation(per, dX, dU, x, u []float64, d *demos) {
	n, m := s.dims()
	tn, tm := s.t*n, s.t*m
	for b := range d.b {
		var ex, eu float64
		for i := b * tn; i < (b+1)*tn; i++ {
			e := x[i] - d.x[i]
			ex += e * e
			if dX != nil {
				dX[i] = 2 * e / float64(d.b*tn)
			}
		}
		for i := b * tm; i < (b+1)*tm; i++ {
			e := u[i] - d.u[i]
			eu += e * e
			if dU != nil {
				dU[i] = 2 * s.wu * e / float64(d.b*tm)
			}
		}
		per[b] = ex/float64(tn) + s.wu*eu/float64(tm)
	}
}

// violation returns the largest violation max(0, c) of the true
// constraint over steps 1..T−1 of each trajectory of X, U.
func (s *setup) violation(per, x, u []float64) {
	n, m := s.dims()
	con := s.task.Constraint
	ev := con.NewEvaluator()
	psi := con.DefaultParams()
	c := make([]float64, con.Dims().C)
	for b := range per {
		v := 0.0
		for t := 1; t < s.t; t++ {
			i := b*s.t + t
			ev.Value(c, x[i*n:(i+1)*n], u[i*m:(i+1)*m], psi)
			for _, ci := range c {
				v = max(v, ci)
			}
		}
		per[b] = v
	}
}
