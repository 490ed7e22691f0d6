package envs

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// mustExpert returns NewExpert(e, s), failing the test on an error.
func mustExpert(t testing.TB, e *Env, s *ilqr.Settings) *Expert {
	t.Helper()
	ex, err := NewExpert(e, s)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// mustCollect returns ex.Collect(n, s, rng, maxRejected), failing the test
// on an error.
func mustCollect(t testing.TB, ex *Expert, n int, s Sampler, rng *rand.Rand, maxRejected int) Demos {
	t.Helper()
	d, err := ex.Collect(n, s, rng, maxRejected)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// referenceEvaluator returns the automatic-differentiation evaluator of the
// env's model where the model also has hand-written derivatives, so the
// checks below do not reuse the code path the solver ran on.
func referenceEvaluator(e *Env) models.DynamicsEvaluator {
	if f, ok := e.task.Dynamics.(models.FastDynamics); ok {
		return f.AutoEvaluator()
	}
	return e.task.Dynamics.NewEvaluator()
}

// adjointGradient returns the total cost J of the trajectory (X, U) and its
// gradient with respect to U (T×M), with the states treated as functions
// of U through the dynamics: the costates λ_{T−1} = ∇_x g_{T−1},
// λ_t = ∇_x g_t + f_xᵀ λ_{t+1} and ∇_{u_t} J = ∇_u g_t + f_uᵀ λ_{t+1}
// (λ_T = 0).
func adjointGradient(e *Env, X, U []float64) (float64, []float64) {
	d := e.Dims()
	n, m := d.N, d.M
	t := len(U) / m
	dyn := referenceEvaluator(e)
	cost := e.task.Cost.NewEvaluator()
	grad := make([]float64, n+m)
	hess := make([]float64, (n+m)*(n+m))
	fx, fu, next := make([]float64, n*n), make([]float64, n*m), make([]float64, n)
	lam := make([]float64, n) // λ_{s+1}
	newLam := make([]float64, n)
	gu := make([]float64, t*m)
	var j float64
	for s := t - 1; s >= 0; s-- {
		x, u := X[s*n:(s+1)*n], U[s*m:(s+1)*m]
		j += cost.Quadratize(grad, hess, x, u, e.phi)
		copy(newLam, grad[:n])
		copy(gu[s*m:(s+1)*m], grad[n:])
		if s < t-1 {
			dyn.Linearize(next, fx, fu, x, u, e.theta)
			for i := 0; i < n; i++ {
				for k := 0; k < n; k++ {
					newLam[i] += fx[k*n+i] * lam[k]
				}
			}
			for i := 0; i < m; i++ {
				for k := 0; k < n; k++ {
					gu[s*m+i] += fu[k*m+i] * lam[k]
				}
			}
		}
		lam, newLam = newLam, lam
	}
	return j, gu
}

// projectedGradNorm returns ‖u − Π(u − ∇_U J)‖_∞ for the env's bounds.
func projectedGradNorm(e *Env, U, g []float64) float64 {
	m := e.Dims().M
	var r float64
	for i, u := range U {
		p := max(e.task.Lower[i%m], min(e.task.Upper[i%m], u-g[i]))
		r = max(r, math.Abs(u-p))
	}
	return r
}

// rolloutCost returns the true total cost of the rollout of U from x0.
func rolloutCost(t *testing.T, e *Env, x0, U []float64) float64 {
	X := make([]float64, len(U)/e.Dims().M*e.Dims().N)
	if err := e.Rollout(X, x0, U); err != nil {
		t.Fatal(err)
	}
	j, err := e.TrajectoryCost(X, U)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestExpertOptimal checks every kept demonstration independently of the
// solver: it starts at x0, is a rollout of the true dynamics, respects the
// bounds, re-solving it gives status Converged and the same trajectory,
// and the projected gradient of the true cost over U, from an adjoint
// sweep on the automatic derivatives, is at most 1e-6. The adjoint itself
// is checked against central finite differences of the re-simulated cost.
func TestExpertOptimal(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t, name)
			ex := mustExpert(t, e, nil)
			const n = 12
			demos := mustCollect(t, ex, n, nil, rand.New(rand.NewPCG(3, 0)), -1)
			if demos.B != n || demos.T != e.Horizon() || len(demos.X) != n*demos.T*demos.N || len(demos.U) != n*demos.T*demos.M {
				t.Fatalf("demos have B=%d T=%d and lengths %d, %d", demos.B, demos.T, len(demos.X), len(demos.U))
			}
			// Re-plan the kept initial states: every one converges again to
			// the same trajectory (the solver is deterministic per example).
			res, err := ex.Plan(demos.X0)
			if err != nil {
				t.Fatal(err)
			}
			for b := range n {
				if !res.Status[b].Stationary() {
					t.Errorf("demo %d: re-solve status %v", b, res.Status[b])
				}
			}
			if !slices.Equal(res.X, demos.X) || !slices.Equal(res.U, demos.U) {
				t.Errorf("re-solving the kept initial states gives other trajectories")
			}
			d := e.Dims()
			sim := make([]float64, demos.T*d.N)
			for b := range n {
				x0, X, U := demos.Example(b)
				if !slices.Equal(X[:d.N], x0) {
					t.Errorf("demo %d: X does not start at x0", b)
				}
				if err := e.Rollout(sim, x0, U); err != nil {
					t.Fatal(err)
				}
				for i := range sim {
					if math.Abs(sim[i]-X[i]) > 1e-10*(1+math.Abs(X[i])) {
						t.Errorf("demo %d: state entry %d is %g, the simulator gives %g", b, i, X[i], sim[i])
						break
					}
				}
				for i, u := range U {
					if u < e.task.Lower[i%d.M] || u > e.task.Upper[i%d.M] {
						t.Errorf("demo %d: control %g outside the bounds", b, u)
					}
				}
				j, g := adjointGradient(e, X, U)
				if pg := projectedGradNorm(e, U, g); pg > 1e-6 {
					t.Errorf("demo %d: projected gradient %.3g > 1e-6", b, pg)
				}
				if math.Abs(j-demos.Cost[b]) > 1e-9*(1+math.Abs(j)) {
					t.Errorf("demo %d: cost %g, recomputed %g", b, demos.Cost[b], j)
				}
			}
			// Finite differences of J(U) on demo 0 against the adjoint, on
			// the controls at least 1e-3 inside the bounds (step 1e-6: the
			// truncation error h²|J'''| and the round-off 1e-16|J|/h are
			// both far below the 1e-6 tolerance).
			x0, X, U := demos.Example(0)
			_, g := adjointGradient(e, X, U)
			up := slices.Clone(U)
			checked := 0
			for i, u := range U {
				if u-e.task.Lower[i%d.M] < 1e-3 || e.task.Upper[i%d.M]-u < 1e-3 {
					continue
				}
				const h = 1e-6
				up[i] = u + h
				jp := rolloutCost(t, e, x0, up)
				up[i] = u - h
				jm := rolloutCost(t, e, x0, up)
				up[i] = u
				fd := (jp - jm) / (2 * h)
				if math.Abs(fd-g[i]) > 1e-6*(1+math.Abs(g[i])) {
					t.Errorf("dJ/du[%d]: adjoint %.9g, finite differences %.9g", i, g[i], fd)
				}
				checked++
			}
			if checked == 0 {
				t.Errorf("no control off the bounds to check")
			}
		})
	}
}

// TestCollectRejects forces rejections with too few iterations: the
// rejected draws are counted and replaced, the kept ones still converge,
// and a limit on rejections is enforced with a clear error.
func TestCollectRejects(t *testing.T) {
	e := mustEnv(t, "pendulum")
	// Eight iterations suffice from some starts only (op's pendulum example
	// needs 4 to 6 from easy ones).
	s := DefaultExpertSettings()
	s.MaxIter = 8
	ex := mustExpert(t, e, &s)
	demos := mustCollect(t, ex, 10, nil, rand.New(rand.NewPCG(1, 0)), 1000)
	if demos.Rejected == 0 {
		t.Fatalf("no rejection with MaxIter=8; the test needs another setting")
	}
	if demos.B != 10 || len(demos.X0) != 10*e.Dims().N {
		t.Fatalf("kept %d demonstrations, want 10", demos.B)
	}
	res, err := ex.Plan(demos.X0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.AllStationary() {
		t.Errorf("a kept demonstration does not converge: %v", res.Status)
	}
	// The same draws give the same outcome.
	again := mustCollect(t, ex, 10, nil, rand.New(rand.NewPCG(1, 0)), 1000)
	if again.Rejected != demos.Rejected || !slices.Equal(again.U, demos.U) {
		t.Errorf("collect is not deterministic: rejected %d then %d", demos.Rejected, again.Rejected)
	}

	_, err = ex.Collect(10, nil, rand.New(rand.NewPCG(1, 0)), 0)
	if err == nil || !strings.Contains(err.Error(), "did not converge") {
		t.Errorf("limit of 0 rejections: error %v, want one saying a solve did not converge", err)
	}
	if _, err := ex.Collect(0, nil, rand.New(rand.NewPCG(1, 0)), -1); err == nil {
		t.Errorf("n=0: no error")
	}
	if _, err := ex.Collect(1, nil, nil, -1); err == nil {
		t.Errorf("nil rng: no error")
	}
}

// TestCollectPrefix checks that the demonstrations kept from a stream of
// draws do not depend on how many are asked for: the first three of eight
// are the three of a request for three.
func TestCollectPrefix(t *testing.T) {
	e := mustEnv(t, "cartpole")
	ex := mustExpert(t, e, nil)
	small := mustCollect(t, ex, 3, nil, rand.New(rand.NewPCG(9, 9)), -1)
	big := mustCollect(t, ex, 8, nil, rand.New(rand.NewPCG(9, 9)), -1)
	if !slices.Equal(small.U, big.U[:len(small.U)]) || !slices.Equal(small.X0, big.X0[:len(small.X0)]) {
		t.Errorf("Collect(3) is not a prefix of Collect(8)")
	}
}
