package train

// Levenberg–Marquardt fitting of a planner's dynamics parameters to
// demonstrations, with the Jacobian of the planner's solution from its
// forward-mode sensitivities (ilqr.Solver.JVP).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	"gonum.org/v1/gonum/mat"
)

// Damping selects the damping term of the Levenberg–Marquardt step.
type Damping uint8

const (
	// Marquardt damps with λ·diag(JᵀJ) (Marquardt 1963): the step does not
	// depend on the units of the parameters.
	Marquardt Damping = iota
	// Levenberg damps with λ·c·I, c the largest diagonal entry of JᵀJ
	// (Levenberg 1944, with λ made relative to the scale of JᵀJ).
	Levenberg
)

// String returns the damping's name.
func (d Damping) String() string {
	return enumName("Damping", d, "marquardt", "levenberg")
}

// enumName returns names[v], the name of an enumeration's value v whose
// constants count from 0 in the order of names, or "typ(v)" for a value
// past them.
func enumName[E ~uint8](typ string, v E, names ...string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// LMConfig configures FitLM. A zero field means its default.
type LMConfig struct {
	// NTrain is the number of training demonstrations fitted: the first
	// NTrain of the dataset's training split. Default all of them.
	NTrain int
	// InitTheta is the initial guess of the dynamics parameters θ.
	// Default InitialGuess(env).
	InitTheta []float64
	// Planner holds the planner's solver settings. Default the settings
	// the dataset's expert used (envs.Dataset.Expert), so that the true
	// parameters reproduce the demonstrations.
	Planner *ilqr.Settings
	// MaxIter is the largest number of iterations; each evaluates one
	// Jacobian (P JVP calls) and tries steps until one lowers the loss.
	// Default 50.
	MaxIter int
	// Damping selects the damping term. Default Marquardt.
	Damping Damping
	// Lambda0 is the initial damping factor λ. Default 1e-3.
	Lambda0 float64
	// LambdaMin is the smallest λ: an accepted step divides λ by
	// LambdaDown down to LambdaMin. Default 1e-12.
	LambdaMin float64
	// LambdaMax is the largest λ: a rejected step multiplies λ by LambdaUp,
	// and when it would pass LambdaMax the fit ends with status
	// LMNoDecrease. Default 1e10.
	LambdaMax float64
	// LambdaUp and LambdaDown are the factors λ is multiplied by after a
	// rejected step and divided by after an accepted one. Default 10 both.
	LambdaUp, LambdaDown float64
	// StateWeight w weighs the state residuals w·(X − X_demo) against the
	// control residuals U − U_demo (w in units of the controls per unit
	// of state). Default 1. The states make the fit far more robust: from
	// the pendulum's InitialGuess the controls alone lead into a local
	// minimum (mean squared control error 6.3), the controls and
	// states to the truth.
	StateWeight float64
	// ControlsOnly drops the state residuals: ½‖r‖² is then the
	// imitation loss (the mean squared control error times half the
	// number of control entries).
	ControlsOnly bool
	// TolStep ends the fit (LMStepConverged) when the proposed step in
	// log θ has max_j |δ_j| ≤ TolStep (every parameter would change by a
	// relative 1e-10 or less). Default 1e-10.
	TolStep float64
	// TolGrad ends the fit (LMGradConverged) when the residual is zero or
	// the largest cosine between the residual and a column of J,
	// max_j |J_jᵀ r| / (‖J_j‖ ‖r‖) (MINPACK's gtol), is within TolGrad.
	// Default 1e-12.
	TolGrad float64
	// RankTol: singular values of the column-scaled Jacobian below
	// RankTol times the largest are treated as zero. Their directions are
	// not determined by the data (LMResult.NullSpace); steps leave them
	// alone. Default 1e-9.
	RankTol float64
	// MaxStep bounds the step in log θ: a step with max_j |δ_j| above it
	// is shortened to it (each parameter changes by a factor of at most
	// e^MaxStep per step). +Inf means no bound. Default 1.
	MaxStep float64
	// Trace, when not nil, is called after every iteration.
	Trace func(LMIter)
}

// LMStatus says how a fit ended.
type LMStatus uint8

const (
	// LMStepConverged: the proposed step fell within TolStep.
	LMStepConverged LMStatus = iota
	// LMGradConverged: the scaled gradient fell within TolGrad.
	LMGradConverged
	// LMNoDecrease: no step lowered the loss up to λ = LambdaMax, the
	// usual end once the residual is down to the planner's round-off.
	LMNoDecrease
	// LMIterationLimit: MaxIter iterations ran.
	LMIterationLimit
)

// String returns a lower-case description of s.
func (s LMStatus) String() string {
	return enumName("LMStatus", s, "step converged", "gradient converged",
		"no decrease up to the largest damping", "iteration limit")
}

// LMIter describes one iteration of FitLM.
type LMIter struct {
	// Iter counts the iterations from 1.
	Iter int
	// Theta and Loss are the parameters and the loss ½‖r‖² after the
	// iteration; Imitation the mean squared control error there.
	Theta           []float64
	Loss, Imitation float64
	// Lambda is λ after the iteration; Trials the steps it tried;
	// Accepted whether one lowered the loss, and Step its length in log θ,
	// max_j |δ_j| (about the largest relative change of a parameter).
	Lambda   float64
	Trials   int
	Accepted bool
	Step     float64
	// Grad is the scaled gradient (see LMConfig.TolGrad) at the start of
	// the iteration; Rank the numerical rank of its Jacobian.
	Grad float64
	Rank int
}

// LMResult is the outcome of FitLM.
type LMResult struct {
	Env string
	// Names label the dynamics parameters; Initial, Theta (the fit) and
	// True their values.
	Names                []string
	Initial, Theta, True []float64
	// InitialLoss is ½‖r‖² at Initial.
	InitialLoss float64
	// Loss is ½‖r‖² at Theta and Imitation the mean squared difference
	// between the planned and the demonstrated controls (Row.Train's
	// measure) on the fitted demonstrations.
	Loss, Imitation float64
	Status          LMStatus
	// Iterations counts the Jacobians evaluated, Trials the steps tried
	// (accepted or not), Solves the batch solves of the planner (one per
	// trial and the initial one) and JVPs the batch JVP calls (P per
	// Jacobian).
	Iterations, Trials, Solves, JVPs int
	// Unconverged counts the planner solves of single examples, over the
	// whole fit, that did not reach a stationary point.
	Unconverged int
	// Singular holds the singular values of the column-scaled Jacobian
	// dr/d(log θ) (columns of unit length under Marquardt damping) at the
	// last Jacobian, largest first; Rank counts those above RankTol times
	// the largest.
	Singular []float64
	Rank     int
	// NullSpace holds an orthonormal basis of the directions in log θ
	// that the data do not determine (those of the singular values below
	// RankTol): for the pendulum one, ±(1, −2, 1)/√6, the relative change
	// (k, 1/k², k) of (g, m, l) that keeps 3g/(2l) and 3/(ml²).
	NullSpace [][]float64
	// History holds one entry per iteration.
	History []LMIter
	Elapsed time.Duration
}

// withDefaults fills the zero fields of c.
func (c LMConfig) withDefaults(ds *envs.Dataset) (LMConfig, error) {
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	if c.NTrain < 0 || c.MaxIter < 0 || c.Damping > Levenberg || bad(c.Lambda0) || bad(c.LambdaMin) ||
		bad(c.LambdaMax) || bad(c.LambdaUp) || bad(c.LambdaDown) || bad(c.StateWeight) || bad(c.TolStep) ||
		bad(c.TolGrad) || bad(c.RankTol) || c.MaxStep < 0 || math.IsNaN(c.MaxStep) || c.RankTol >= 1 {
		return c, errors.New("train: lm: negative, NaN or infinite setting, RankTol ≥ 1, or unknown damping")
	}
	setDefault(&c.NTrain, ds.Train.B)
	if c.NTrain > ds.Train.B {
		return c, fmt.Errorf("train: lm: NTrain %d exceeds the dataset's %d training demonstrations", c.NTrain, ds.Train.B)
	}
	if c.InitTheta == nil {
		g, err := InitialGuess(ds.Env)
		if err != nil {
			return c, err
		}
		c.InitTheta = g
	}
	c.InitTheta = slices.Clone(c.InitTheta)
	if len(c.InitTheta) != len(ds.Theta) {
		return c, fmt.Errorf("train: lm: initial θ has %d entries, the model %d", len(c.InitTheta), len(ds.Theta))
	}
	for j, v := range c.InitTheta {
		if !(v > 0) || math.IsInf(v, 0) {
			return c, fmt.Errorf("train: lm: initial θ[%d] = %g: the fit works in log θ and needs every parameter positive and finite", j, v)
		}
	}
	s := ds.Expert.Settings()
	if c.Planner != nil {
		s = *c.Planner
	}
	c.Planner = &s
	setDefault(&c.MaxIter, 50)
	setDefault(&c.Lambda0, 1e-3)
	setDefault(&c.LambdaMin, 1e-12)
	setDefault(&c.LambdaMax, 1e10)
	setDefault(&c.LambdaUp, 10)
	setDefault(&c.LambdaDown, 10)
	setDefault(&c.TolStep, 1e-10)
	setDefault(&c.TolGrad, 1e-12)
	setDefault(&c.RankTol, 1e-9)
	setDefault(&c.StateWeight, 1)
	if c.ControlsOnly {
		c.StateWeight = 0
	}
	setDefault(&c.MaxStep, 1)
	if c.TolStep >= c.MaxStep {
		return c, fmt.Errorf("train: lm: TolStep %g ≥ MaxStep %g: every step would count as converged", c.TolStep, c.MaxStep)
	}
	if c.LambdaUp <= 1 || c.LambdaDown <= 1 || c.LambdaMin > c.LambdaMax || c.Lambda0 > c.LambdaMax {
		return c, fmt.Errorf("train: lm: need LambdaUp, LambdaDown > 1 and LambdaMin, Lambda0 ≤ LambdaMax")
	}
	c.Lambda0 = max(c.Lambda0, c.LambdaMin)
	return c, nil
}

// FitLM fits the dynamics parameters θ of the planner (the dataset's
// task, its cost known) to the first cfg.NTrain training demonstrations
// by Levenberg–Marquardt on the residuals
//
//	r(θ) = (U(θ) − U_demo, w·(X(θ) − X_demo)),
//
// U(θ), X(θ) the planner's solution from each demonstration's x₀ (B×T×M
// and B×T×N, w = LMConfig.StateWeight; without the states with
// ControlsOnly, when the loss ½‖r‖² is the imitation loss up to a
// factor). It works in ρ = log θ, so every parameter stays positive and a
// step is a relative change; there the pendulum's non-identifiable
// direction is the constant (1, −2, 1). Each iteration
//
//  1. evaluates the Jacobian J = dr/dρ column by column, one
//     ilqr.Solver.JVP call per parameter (direction θ_j e_j), each
//     covering the whole batch;
//  2. tests the gradient stop rule (LMConfig.TolGrad);
//  3. computes the step δ solving (JᵀJ + λD)δ = −Jᵀr, D = diag(JᵀJ)
//     (Marquardt) or its largest entry times I (Levenberg), through the
//     singular value decomposition of the column-scaled J; singular values
//     below LMConfig.RankTol are dropped and the step's component along
//     their directions removed, so parameter combinations the data do not
//     determine stay where they are (LMResult.NullSpace lists them);
//     a step longer than MaxStep is shortened to it, one within TolStep
//     ends the fit;
//  4. solves the planner at θ·exp(δ), warm-started from the current
//     solution, and accepts the step if the loss decreased (λ divided by
//     LambdaDown); otherwise λ is multiplied by LambdaUp and step 3 is
//     repeated, until λ would pass LambdaMax (LMNoDecrease).
//
// A step that leaves the model's parameter domain (models.ParamChecker)
// is rejected like one that raises the loss. The fit uses no randomness:
// the same inputs give the same result, bit for bit, whatever the number
// of workers. Examples whose solve does not converge contribute their
// residual but no Jacobian rows (ilqr.SkipUnconverged) and are counted in
// LMResult.Unconverged. Cancelling ctx stops the fit between two planner
// calls; it returns ctx's error with the result so far.
//
// The fit is local: from the cart-pole's InitialGuess with 10
// demonstrations it ends in a local minimum with the pole's mass driven
// towards zero; with 100, or from 20–30% off the truth, it converges.
//
// References: K. Levenberg, "A method for the solution of certain
// non-linear problems in least squares", Q. Appl. Math. 2 (1944);
// D. W. Marquardt, "An algorithm for least-squares estimation of nonlinear
// parameters", SIAM J. Appl. Math. 11 (1963).
func FitLM(ctx context.Context, ds *envs.Dataset, cfg LMConfig) (*LMResult, error) {
	start := time.Now()
	task, cfg, err := checkInputs(ds, cfg)
	if err != nil {
		return nil, err
	}
	f, err := newLMFit(ds, task, cfg)
	if err != nil {
		return nil, err
	}
	err = f.run(ctx)
	f.res.Elapsed = time.Since(start)
	return f.res, err
}

// lmPoint is the planner's solution at one θ and its residual.
type lmPoint struct {
	theta []float64
	sol   ilqr.Result
	r     []float64
	loss  float64
}

// lmFit is one call of FitLM.
type lmFit struct {
	cfg       LMConfig
	sv        *ilqr.Solver
	d         *envs.Demos
	phi       []float64
	domain    func([]float64) error
	p, nr, nu int // parameters, residuals, control residuals
	cur, try  lmPoint
	jac       []float64 // column-major: column j is dr/d(log θ_j) (length nr)
	tan       ilqr.Tangent
	dir       []float64
	res       *LMResult
}

// newLMFit sets up the solver and the buffers of a fit.
func newLMFit(ds *envs.Dataset, task models.Task, cfg LMConfig) (*lmFit, error) {
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: task, T: ds.T}, cfg.Planner)
	if err != nil {
		return nil, fmt.Errorf("train: lm: %w", err)
	}
	d := prefix(&ds.Train, cfg.NTrain)
	p := len(ds.Theta)
	nu := d.B * d.T * d.M
	nr := nu
	if cfg.StateWeight > 0 {
		nr += d.B * d.T * d.N
	}
	f := &lmFit{cfg: cfg, sv: sv, d: d, phi: slices.Clone(ds.Phi), p: p, nr: nr, nu: nu,
		jac: make([]float64, nr*p), dir: make([]float64, p)}
	f.domain = func([]float64) error { return nil }
	if pc, ok := task.Dynamics.(models.ParamChecker); ok {
		f.domain = pc.CheckParams
	}
	if err := f.domain(cfg.InitTheta); err != nil {
		return nil, fmt.Errorf("train: lm: initial θ: %w", err)
	}
	for _, pt := range []*lmPoint{&f.cur, &f.try} {
		pt.theta, pt.r = make([]float64, p), make([]float64, nr)
	}
	copy(f.cur.theta, cfg.InitTheta)
	names, _ := DynamicsParamNames(ds.Env)
	f.res = &LMResult{Env: ds.Env, Names: names, Initial: slices.Clone(cfg.InitTheta), True: slices.Clone(ds.Theta)}
	return f, nil
}

// inputs returns the planner's inputs at θ, warm-started from warm (nil:
// zero controls).
func (f *lmFit) inputs(theta, warm []float64) ilqr.Inputs {
	return ilqr.Inputs{X0: f.d.X0, Theta: theta, Phi: f.phi, U0: warm}
}

// evaluate solves the planner at pt.theta, warm-started from warm, and
// fills pt's residual and loss.
func (f *lmFit) evaluate(pt *lmPoint, warm []float64) error {
	if err := f.sv.Solve(&pt.sol, f.inputs(pt.theta, warm)); err != nil {
		return fmt.Errorf("train: lm: solving at θ = %v: %w", pt.theta, err)
	}
	f.res.Solves++
	for _, s := range pt.sol.Status {
		if !s.Stationary() {
			f.res.Unconverged++
		}
	}
	for i, u := range pt.sol.U {
		pt.r[i] = u - f.d.U[i]
	}
	if w := f.cfg.StateWeight; w > 0 {
		for i, x := range pt.sol.X {
			pt.r[f.nu+i] = w * (x - f.d.X[i])
		}
	}
	var s float64
	for _, v := range pt.r {
		s += v * v
	}
	pt.loss = s / 2
	return nil
}

// jacobian fills f.jac at the current point: column j is the JVP of the
// residual along the j-th unit vector of log θ, the direction θ_j e_j of
// θ.
func (f *lmFit) jacobian() error {
	for j := range f.p {
		clear(f.dir)
		f.dir[j] = f.cur.theta[j] // d/d(log θ_j) = θ_j d/dθ_j
		err := f.sv.JVP(&f.tan, &f.cur.sol, f.inputs(f.cur.theta, nil), ilqr.Direction{Theta: f.dir}, ilqr.GradOptions{})
		if err != nil {
			return fmt.Errorf("train: lm: jacobian at θ = %v: %w", f.cur.theta, err)
		}
		f.res.JVPs++
		col := f.jac[j*f.nr : (j+1)*f.nr]
		copy(col, f.tan.U)
		if w := f.cfg.StateWeight; w > 0 {
			for i, x := range f.tan.X {
				col[f.nu+i] = w * x
			}
		}
	}
	return nil
}

// lmModel is the linear least-squares model of one iteration, r + Jδ,
// through the SVD of the column-scaled Jacobian J·S⁻¹ = U Σ Vᵀ.
type lmModel struct {
	scale []float64 // S: column norms (Marquardt) or ones (Levenberg)
	sv    []float64 // Σ, largest first
	v     *mat.Dense
	utr   []float64 // Uᵀr
	rank  int
	lam   float64     // λ's multiplier: 1 (Marquardt) or max diag(JᵀJ) (Levenberg)
	null  [][]float64 // orthonormal basis of the null space (see nullSpace)
	grad  float64     // max_j |J_jᵀ r| / (‖J_j‖ ‖r‖)
}

// newLMModel factors the Jacobian jac (column-major, p columns of length
// nr) at residual r.
func newLMModel(jac, r []float64, p int, damping Damping, rankTol float64) (*lmModel, error) {
	nr := len(r)
	m := &lmModel{scale: make([]float64, p), lam: 1}
	rn := mat.Norm(mat.NewVecDense(nr, r), 2)
	var maxDiag float64
	for j := range p {
		col := jac[j*nr : (j+1)*nr]
		n := mat.Norm(mat.NewVecDense(nr, col), 2)
		maxDiag = max(maxDiag, n*n)
		if n > 0 && rn > 0 {
			var dot float64
			for i, v := range col {
				dot += v * r[i]
			}
			m.grad = max(m.grad, math.Abs(dot)/(n*rn))
		}
		m.scale[j] = 1
		if damping == Marquardt && n > 0 {
			m.scale[j] = n
		}
	}
	if damping == Levenberg && maxDiag > 0 {
		m.lam = maxDiag
	}
	a := mat.NewDense(nr, p, nil)
	for j := range p {
		for i := range nr {
			a.Set(i, j, jac[j*nr+i]/m.scale[j])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, errors.New("train: lm: the SVD of the Jacobian did not converge")
	}
	m.sv = svd.Values(nil)
	var u mat.Dense
	svd.UTo(&u)
	m.v = new(mat.Dense)
	svd.VTo(m.v)
	var utr mat.VecDense
	utr.MulVec(u.T(), mat.NewVecDense(nr, r))
	m.utr = utr.RawVector().Data
	for _, s := range m.sv {
		if s > rankTol*m.sv[0] {
			m.rank++
		}
	}
	m.null = m.nullSpace()
	return m, nil
}

// step writes into dst the damped step for λ: the solution of
// (JᵀJ + λD)δ = −Jᵀr restricted to the rank directions, with its
// components along the null space removed (they change neither the
// model nor, to first order, the residual: the step leaves the
// parameters the data do not determine where they are).
func (m *lmModel) step(dst []float64, lambda float64) {
	p := len(dst)
	clear(dst)
	l := lambda * m.lam
	for i := range m.rank {
		s := m.sv[i]
		c := -s / (s*s + l) * m.utr[i]
		for j := range p {
			dst[j] += c * m.v.At(j, i)
		}
	}
	for j := range p {
		dst[j] /= m.scale[j]
	}
	for _, n := range m.null {
		var c float64
		for j, v := range n {
			c += v * dst[j]
		}
		for j, v := range n {
			dst[j] -= c * v
		}
	}
}

// nullSpace returns an orthonormal basis of the directions of the
// singular values below the rank, in the unscaled coordinates: the right
// singular vectors ṽ of J·S⁻¹ mapped to S⁻¹ṽ, then orthonormalized
// (Gram–Schmidt).
func (m *lmModel) nullSpace() [][]float64 {
	p := len(m.scale)
	var out [][]float64
	for i := m.rank; i < len(m.sv); i++ {
		v := make([]float64, p)
		for j := range p {
			v[j] = m.v.At(j, i) / m.scale[j]
		}
		for _, u := range out {
			var c float64
			for j := range v {
				c += u[j] * v[j]
			}
			for j := range v {
				v[j] -= c * u[j]
			}
		}
		var n float64
		for _, x := range v {
			n += x * x
		}
		n = math.Sqrt(n)
		if n == 0 {
			continue
		}
		for j := range v {
			v[j] /= n
		}
		out = append(out, v)
	}
	return out
}

// run iterates until a stop rule holds.
func (f *lmFit) run(ctx context.Context) error {
	res, cfg := f.res, &f.cfg
	defer f.finish()
	if err := f.evaluate(&f.cur, nil); err != nil {
		return err
	}
	res.InitialLoss = f.cur.loss
	lambda := cfg.Lambda0
	delta := make([]float64, f.p)
	res.Status = LMIterationLimit
	for iter := 1; iter <= cfg.MaxIter; iter++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.jacobian(); err != nil {
			return err
		}
		mod, err := newLMModel(f.jac, f.cur.r, f.p, cfg.Damping, cfg.RankTol)
		if err != nil {
			return err
		}
		res.Iterations = iter
		res.Singular, res.Rank, res.NullSpace = mod.sv, mod.rank, mod.null
		it := LMIter{Iter: iter, Grad: mod.grad, Rank: mod.rank}
		if f.cur.loss == 0 || mod.grad <= cfg.TolGrad {
			res.Status = LMGradConverged
			f.trace(it, lambda)
			return nil
		}
		stop, err := f.tryStep(ctx, mod, &lambda, delta, &it)
		f.trace(it, lambda)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// tryStep tries steps from the current point, raising λ after each that
// does not lower the loss, until one does (accepted: the point moves
// there and λ falls) or a stop rule holds (stop set, res.Status says
// which).
func (f *lmFit) tryStep(ctx context.Context, mod *lmModel, lambda *float64, delta []float64, it *LMIter) (stop bool, err error) {
	res, cfg := f.res, &f.cfg
	for {
		mod.step(delta, *lambda)
		rs := 0.0
		for _, d := range delta {
			rs = max(rs, math.Abs(d))
		}
		if rs > cfg.MaxStep {
			for j := range delta {
				delta[j] *= cfg.MaxStep / rs
			}
			rs = cfg.MaxStep
		}
		if rs <= cfg.TolStep {
			res.Status = LMStepConverged
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return true, err
		}
		it.Trials++
		res.Trials++
		for j := range delta {
			f.try.theta[j] = f.cur.theta[j] * math.Exp(delta[j])
		}
		if f.domain(f.try.theta) == nil {
			if err := f.evaluate(&f.try, f.cur.sol.U); err != nil {
				return true, err
			}
			if f.try.loss < f.cur.loss {
				f.cur, f.try = f.try, f.cur
				*lambda = max(*lambda/cfg.LambdaDown, cfg.LambdaMin)
				it.Accepted, it.Step = true, rs
				return false, nil
			}
		}
		if *lambda*cfg.LambdaUp > cfg.LambdaMax {
			res.Status = LMNoDecrease
			return true, nil
		}
		*lambda *= cfg.LambdaUp
	}
}

// trace completes it with the current point and λ, records it and passes
// it to LMConfig.Trace.
func (f *lmFit) trace(it LMIter, lambda float64) {
	it.Theta, it.Loss, it.Imitation, it.Lambda = slices.Clone(f.cur.theta), f.cur.loss, f.imitation(), lambda
	f.res.History = append(f.res.History, it)
	if f.cfg.Trace != nil {
		f.cfg.Trace(it)
	}
}

// imitation returns the mean squared control error at the current point.
func (f *lmFit) imitation() float64 {
	var s float64
	for _, v := range f.cur.r[:f.nu] {
		s += v * v
	}
	return s / float64(f.nu)
}

// finish writes the current point into the result.
func (f *lmFit) finish() {
	f.res.Theta, f.res.Loss, f.res.Imitation = slices.Clone(f.cur.theta), f.cur.loss, f.imitation()
}
