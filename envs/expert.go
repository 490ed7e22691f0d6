package envs

import (
	"fmt"
	"math/rand/v2"

	"github.com/dilqr/dilqr/op/ilqr"
)

// Demos is a batch of B expert demonstrations of horizon T for a system
// with N state entries and M controls. Slices are example-major.
type Demos struct {
	B, T, N, M int
	// X0 holds the initial states: B rows of length N.
	X0 []float64
	// X holds the states x₀…x_{T−1}: B×T×N, with X[b, 0, :] = X0[b, :].
	X []float64
	// U holds the controls u₀…u_{T−1}: B×T×M.
	U []float64
	// Cost holds the true total cost of each demonstration: length B.
	Cost []float64
	// Rejected counts the initial states drawn for these demonstrations whose
	// expert solve did not converge and that were replaced by new draws.
	Rejected int
}

// Example returns views (not copies) of demonstration b: its initial state
// (length N), states (T rows of length N) and controls (T rows of length
// M).
func (d *Demos) Example(b int) (x0, X, U []float64) {
	n, m, t := d.N, d.M, d.T
	return d.X0[b*n : (b+1)*n], d.X[b*t*n : (b+1)*t*n], d.U[b*t*m : (b+1)*t*m]
}

// DefaultExpertSettings returns the solver settings of the expert: at most
// 500 iLQR iterations (mpc.pytorch's imitation experiments use lqr_iter =
// 500), convergence when the projected gradient of the total cost over the
// controls falls below 1e-9, or below 1e-8 once the cost has stopped
// changing (relative change under 1e-14). Other fields are op's defaults.
func DefaultExpertSettings() ilqr.Settings {
	return ilqr.Settings{MaxIter: 500, TolGrad: 1e-9, TolCost: 1e-14, TolGradLoose: 1e-8}
}

// Expert plans optimal trajectories for an Env with its true dynamics,
// cost and bounds, solving batches with ilqr.Solver from zero initial
// controls. Its demonstrations are local optima of the finite-horizon
// problem (stationary points of the projected gradient), certified per
// example by the solver's status. An Expert must not be used by two
// goroutines at once.
type Expert struct {
	env      *Env
	settings ilqr.Settings
	solver   *ilqr.Solver
	res      ilqr.Result
}

// NewExpert returns an expert for env with horizon env.Horizon(). A nil s
// means DefaultExpertSettings(); zero fields of a non-nil s take op's
// defaults (see ilqr.Settings).
func NewExpert(env *Env, s *ilqr.Settings) (*Expert, error) {
	if env == nil {
		return nil, fmt.Errorf("envs: expert: nil Env")
	}
	set := DefaultExpertSettings()
	if s != nil {
		set = *s
	}
	task := env.task
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: task, T: env.t},
		&set)
	if err != nil {
		return nil, fmt.Errorf("envs: expert for %s: %w", env.name, err)
	}
	return &Expert{env: env, settings: sv.Settings(), solver: sv}, nil
}

// Settings returns the solver settings in force, defaults filled in.
func (ex *Expert) Settings() ilqr.Settings { return ex.settings }

// Env returns the environment the expert plans for.
func (ex *Expert) Env() *Env { return ex.env }

// Plan solves the true problem from each initial state in x0 (B rows of
// length N) and returns the solver's result for the whole batch,
// converged or not: check Result.Status before using an example. The
// result is owned by the expert and overwritten by its next call.
func (ex *Expert) Plan(x0 []float64) (*ilqr.Result, error) {
	if err := ex.solver.Solve(&ex.res, ilqr.Inputs{X0: x0, Theta: ex.env.theta, Phi: ex.env.phi}); err != nil {
		return nil, fmt.Errorf("envs: expert for %s: %w", ex.env.name, err)
	}
	return &ex.res, nil
}

// Collect returns n demonstrations whose solves converged. It draws
// initial states with s from rng (a nil s means the env's own sampler,
// Env.SampleInitial), solves them in batches and keeps, in draw order, the
// first n whose status is ilqr.Converged; a draw that does not converge
// is rejected, counted in Demos.Rejected and replaced by the next draw.
// The kept set depends only on the sequence of draws, not on batch sizes
// or worker counts, so the same sampler and rng state give the same
// demonstrations, and Collect(n) is a prefix of Collect(n′) for n < n′.
// Draws solved beyond the n-th kept one are discarded unused.
//
// Collect fails if more than maxRejected draws are rejected (a sign that
// the settings or the sampler do not suit the env); maxRejected < 0 means
// max(n, 16).
func (ex *Expert) Collect(n int, s Sampler, rng *rand.Rand, maxRejected int) (Demos, error) {
	d := ex.env.Dims()
	t := ex.env.t
	if n < 1 {
		return Demos{}, fmt.Errorf("envs: collect: n=%d < 1", n)
	}
	if rng == nil {
		return Demos{}, fmt.Errorf("envs: collect: nil rng")
	}
	if maxRejected < 0 {
		maxRejected = max(n, 16)
	}
	if s == nil {
		s = SamplerFunc(ex.env.SampleInitial)
	}
	out := Demos{B: n, T: t, N: d.N, M: d.M,
		X0: make([]float64, 0, n*d.N), X: make([]float64, 0, n*t*d.N),
		U: make([]float64, 0, n*t*d.M), Cost: make([]float64, 0, n)}
	kept := 0
	var x0 []float64
	for kept < n {
		// Draw a little more than needed so that a few rejections do not
		// cost another round of solves.
		need := n - kept
		b := need + need/8 + 1
		x0 = x0[:0]
		for range b {
			x0 = append(x0, make([]float64, d.N)...)
			s.Sample(x0[len(x0)-d.N:], rng)
		}
		res, err := ex.Plan(x0)
		if err != nil {
			return Demos{}, err
		}
		for i := 0; i < b && kept < n; i++ {
			if !res.Status[i].Stationary() {
				out.Rejected++
				if out.Rejected > maxRejected {
					return Demos{}, fmt.Errorf("envs: collect %s: %d expert solves did not converge (last: %v after %d iterations) with only %d of %d demonstrations kept",
						ex.env.name, out.Rejected, res.Status[i], res.Iterations[i], kept, n)
				}
				continue
			}
			out.X0 = append(out.X0, x0[i*d.N:(i+1)*d.N]...)
			out.X = append(out.X, res.X[i*t*d.N:(i+1)*t*d.N]...)
			out.U = append(out.U, res.U[i*t*d.M:(i+1)*t*d.M]...)
			out.Cost = append(out.Cost, res.Cost[i])
			kept++
		}
	}
	return out, nil
}
