package ilqr

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dilqr/dilqr/models"
)

// Problem is a batch of box-constrained trajectory optimization problems
// sharing one task (model, cost form, control bounds) and one horizon:
//
//	minimize   Σ_{t=0}^{T-1} g(x_t, u_t; φ)
//	subject to x_{t+1} = f(x_t, u_t; θ), t = 0..T-2,  x_0 given,
//	           Lower ≤ u_t ≤ Upper,
//	           c(x_t, u_t; ψ) ≤ 0, t = 1..T-1   (when the task has a Constraint).
//
// The task's Lower and Upper have length M (the same at every step) or T·M
// (row t bounds u_t); ±Inf means unbounded. The path constraint is solved
// by an augmented Lagrangian around the iLQR iterations (see the package
// documentation); the control bounds stay exact in the box QP.
type Problem struct {
	models.Task
	// T is the horizon: T states x_0..x_{T-1} and T controls u_0..u_{T-1}.
	T int
}

// Inputs are the per-call data of a batch of B examples.
type Inputs struct {
	// X0 holds the initial states, B rows of length N; it sets B.
	X0 []float64
	// Theta holds the dynamics parameters: B rows of length P, or one row
	// shared by all examples. Nil means the model's defaults.
	Theta []float64
	// Phi holds the cost parameters: B rows of length Q, or one shared row.
	// With PhiPerStep, each of those rows is T rows, one per step (T·Q
	// shared, or B·T·Q): a time-varying cost. Nil means the cost's defaults,
	// the same at every step.
	Phi        []float64
	PhiPerStep bool
	// Lower and Upper, when not nil, replace the problem's control bounds
	// for this call: length M (every step and example), T·M (per step) or
	// B·T·M (per example and step). Gradient gives their gradients.
	Lower, Upper []float64
	// U0 optionally warm-starts the controls: B×T×M. Nil starts from zero
	// controls projected onto the bounds.
	U0 []float64
	// Psi holds the constraint parameters ψ, laid out as Phi (B rows of
	// length R or one shared row; with PsiPerStep T rows each). Nil means
	// the constraint's defaults.
	Psi        []float64
	PsiPerStep bool
	// Mult0 optionally warm-starts the constraint multipliers: B×T×C (a
	// Result's Mult). Nil starts from zero.
	Mult0 []float64
}

// Result holds the solution of a batch. Slices are laid out example-major.
type Result struct {
	B, T, N, M int
	// X holds the states: B×T×N.
	X []float64
	// U holds the controls: B×T×M.
	U []float64
	// Lambda holds the costates: B×T×N, λ_{T-1} = ∇_x g_{T-1} and
	// λ_t = ∇_x g_t + (∂f/∂x)ᵀλ_{t+1}; λ_0 is the gradient of the optimal
	// cost with respect to x_0.
	Lambda []float64
	// Cost holds the total cost per example.
	Cost []float64
	// Mult holds the constraint multipliers ν ≥ 0: B×T×C (zero at step 0
	// and when the problem has no constraint, C = 0). With them the
	// solution is a KKT point: ∇_U of the cost plus Σ νᵀc is within
	// TolGrad of zero (projected on the control bounds).
	Mult []float64
	// Stats say how each example's solve ended.
	Stats
}

// Stats are the per-example outcomes of a batch solve.
type Stats struct {
	// Status says how the solve ended.
	Status []Status
	// Iterations is the number of iterations run.
	Iterations []int
	// GradNorm is the final projected-gradient ∞-norm.
	GradNorm []float64
	// Reg is the final regularization μ.
	Reg []float64
	// Violation is the final constraint violation max_{t,i} max(0, c_{t,i})
	// (zero without a constraint).
	Violation []float64
}

// Clone returns a deep copy of s.
func (s Stats) Clone() Stats {
	return Stats{Status: slices.Clone(s.Status), Iterations: slices.Clone(s.Iterations),
		GradNorm: slices.Clone(s.GradNorm), Reg: slices.Clone(s.Reg), Violation: slices.Clone(s.Violation)}
}

// Resize makes r hold a batch of the given size, reusing its storage (Mult
// is sized by the solver, which knows the number of constraint rows).
func (r *Result) Resize(b, t, n, m int) {
	r.B, r.T, r.N, r.M = b, t, n, m
	r.Violation = grow(r.Violation, b)
	r.X = grow(r.X, b*t*n)
	r.U = grow(r.U, b*t*m)
	r.Lambda = grow(r.Lambda, b*t*n)
	r.Cost = grow(r.Cost, b)
	r.GradNorm = grow(r.GradNorm, b)
	r.Reg = grow(r.Reg, b)
	if cap(r.Status) < b {
		r.Status = make([]Status, b)
	}
	r.Status = r.Status[:b]
	if cap(r.Iterations) < b {
		r.Iterations = make([]int, b)
	}
	r.Iterations = r.Iterations[:b]
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// AllConverged reports whether every example converged.
func (r *Result) AllConverged() bool {
	for _, s := range r.Status {
		if s != Converged {
			return false
		}
	}
	return true
}

// AllStationary reports whether every example ended at a stationary point
// (Converged or Stalled; see Status.Stationary).
func (r *Result) AllStationary() bool {
	for _, s := range r.Status {
		if !s.Stationary() {
			return false
		}
	}
	return true
}

// ErrBadInput is wrapped by every error about the caller's data.
var ErrBadInput = errors.New("bad input")

func badInput(format string, args ...any) error {
	return fmt.Errorf("ilqr: %w: "+format, append([]any{ErrBadInput}, args...)...)
}

// Solver solves batches of one Problem. It keeps one workspace per worker,
// so repeated solves allocate nothing but a grown Result. A Solver must not
// be used by two goroutines at once.
type Solver struct {
	prob     Problem
	dims     models.Dims
	nq       int
	settings Settings
	lower    []float64 // T×M
	upper    []float64 // T×M
	work     []*workspace
	job      job                   // the call in progress
	bad      []bool                // per-example input check of the call in progress
	next     atomic.Int64          // the next example to take (parallel)
	wg       sync.WaitGroup        // the workers of the call in progress
	theta0   []float64             // the model's default θ
	phi0     []float64             // the cost's default φ
	con      models.ConstraintDims // C = 0 without a constraint
	psi0     []float64             // the constraint's default ψ
	// expanded holds a call's bounds and a JVP direction's bounds given
	// once for every step, expanded to T×M (lower, upper each), so that
	// repeated calls allocate nothing.
	expanded [4][]float64
	clamp    clamp // the model's
}

// Clamper is implemented by models whose step clamps the controls
// internally (nil slices: no clamp); bounds wider than the clamp put the optimum on the clamp's
// kink, where the model is not differentiable, so the solver rejects them.
type Clamper interface {
	ControlClamp() (lo, hi []float64)
}

// NewSolver checks the problem and settings and allocates the workspaces.
func NewSolver(p Problem, s *Settings) (*Solver, error) {
	if p.Dynamics == nil || p.Cost == nil {
		return nil, badInput("problem needs both Dynamics and Cost")
	}
	d := p.Dynamics.Dims()
	cd := p.Cost.Dims()
	if cd.N != d.N || cd.M != d.M {
		return nil, badInput("cost %s is for n=%d m=%d, dynamics %s has n=%d m=%d",
			p.Cost.Name(), cd.N, cd.M, p.Dynamics.Name(), d.N, d.M)
	}
	if d.N < 1 || d.M < 1 || d.P < 0 || cd.Q < 0 {
		return nil, badInput("model sizes N=%d M=%d P=%d Q=%d: need N, M ≥ 1", d.N, d.M, d.P, cd.Q)
	}
	if p.T < 1 {
		return nil, badInput("horizon T=%d < 1", p.T)
	}
	var con models.ConstraintDims
	if p.Constraint != nil {
		con = p.Constraint.Dims()
		if con.N != d.N || con.M != d.M || con.C < 1 || con.R < 0 {
			return nil, badInput("constraint %s is for n=%d m=%d with %d rows, dynamics %s has n=%d m=%d",
				p.Constraint.Name(), con.N, con.M, con.C, p.Dynamics.Name(), d.N, d.M)
		}
	}
	// Per worker: the trajectories, linearization, gains and the gradient's
	// per-step derivatives; an upper bound, checked before anything of
	// size T is allocated.
	k := d.N + d.M
	if err := checkSize("the workspace", p.T, 2*k*k+k*(d.P+cd.Q)+d.N*d.P+8*k+d.M*d.N+con.C*(k+4+con.R)+k*con.R, 1); err != nil {
		return nil, err
	}
	set := s.withDefaults()
	if err := set.validate(); err != nil {
		return nil, err
	}
	if set.ExactIter && con.C > 0 {
		// The outer loop needs inner solves that stop: with ExactIter the
		// first would take every iteration at ν = 0, ρ = PenaltyInit.
		return nil, badInput("ExactIter with a path constraint (%s): the augmented Lagrangian's outer iterations need the inner solves' stop rules", p.Constraint.Name())
	}
	lo, err := expandBounds("Lower", p.Lower, p.T, d.M)
	if err != nil {
		return nil, err
	}
	hi, err := expandBounds("Upper", p.Upper, p.T, d.M)
	if err != nil {
		return nil, err
	}
	cl := clampOf(p.Dynamics)
	if err := cl.check(lo, hi, d.M, -1); err != nil {
		return nil, err
	}
	workers := set.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sv := &Solver{prob: p, dims: d, nq: cd.Q, settings: set, lower: lo, upper: hi, clamp: cl,
		theta0: p.Dynamics.DefaultParams(), phi0: p.Cost.DefaultParams(), con: con}
	if p.Constraint != nil {
		sv.psi0 = p.Constraint.DefaultParams()
	}
	sv.prob.Lower, sv.prob.Upper = nil, nil
	sv.work = make([]*workspace, workers)
	for i := range sv.work {
		sv.work[i] = newWorkspace(sv)
	}
	return sv, nil
}

// check checks T·M bounds lo, hi: lower ≤ upper, each interval admitting
// a finite control, and within the model's internal clamp (see Clamper).
// The messages name the example unless it is negative.
func (cl clamp) check(lo, hi []float64, m, example int) error {
	for i := range lo {
		switch {
		case math.IsNaN(lo[i]) || math.IsNaN(hi[i]):
			return badInput("%sbounds: NaN at step %d control %d", where(example), i/m, i%m)
		case lo[i] > hi[i]:
			return badInput("%sbounds: Lower %g > Upper %g at step %d control %d", where(example), lo[i], hi[i], i/m, i%m)
		case math.IsInf(lo[i], 1) || math.IsInf(hi[i], -1):
			return badInput("%sbounds: [%g, %g] at step %d control %d admits no finite control", where(example), lo[i], hi[i], i/m, i%m)
		}
	}
	for i := 0; cl.lo != nil && i < len(lo); i++ {
		j := i % m
		if lo[i] < cl.lo[j] || hi[i] > cl.hi[j] {
			return badInput("%sbounds [%g, %g] on control %d are wider than %s's internal clamp [%g, %g]",
				where(example), lo[i], hi[i], j, cl.model, cl.lo[j], cl.hi[j])
		}
	}
	return nil
}

// where is the prefix of a message about an example ("" for a negative
// index).
func where(example int) string {
	if example < 0 {
		return ""
	}
	return fmt.Sprintf("example %d: ", example)
}

// clamp is a model's internal control clamp (Clamper; nil slices: none),
// read once by NewSolver.
type clamp struct {
	lo, hi []float64
	model  string
}

func clampOf(dyn models.Dynamics) clamp {
	cl := clamp{model: dyn.Name()}
	if c, ok := dyn.(Clamper); ok {
		cl.lo, cl.hi = c.ControlClamp()
	}
	return cl
}

// MaxFloats is the largest number of float64s (8 GiB) that a solver
// allocates for one worker's workspace or one batch's result; NewSolver and
// Solve refuse problems that would need more, with ErrBadInput.
const MaxFloats = 1 << 30

// checkSize checks that a·b·c float64s, the size of what, stay within
// MaxFloats (without overflowing int on the way).
func checkSize(what string, a, b, c int) error {
	if a < 0 || b < 0 || c < 0 {
		return badInput("%s: negative size", what)
	}
	if float64(a)*float64(b)*float64(c) > MaxFloats {
		return badInput("%s would need %d×%d×%d float64s, more than the limit of %d (ilqr.MaxFloats)", what, a, b, c, MaxFloats)
	}
	return nil
}

// expandBounds turns M or T·M bounds into T·M, checking for NaN.
func expandBounds(name string, b []float64, t, m int) ([]float64, error) {
	return expandBoundsInto(make([]float64, t*m), name, b, t, m)
}

// expandBoundsInto is expandBounds writing into out (length T·M).
func expandBoundsInto(out []float64, name string, b []float64, t, m int) ([]float64, error) {
	switch len(b) {
	case m:
		for i := 0; i < t; i++ {
			copy(out[i*m:], b)
		}
	case t * m:
		copy(out, b)
	default:
		return nil, badInput("bounds: %s has length %d, want M=%d or T·M=%d", name, len(b), m, t*m)
	}
	for i, v := range out {
		if math.IsNaN(v) {
			return nil, badInput("bounds: %s[%d] is NaN", name, i)
		}
	}
	return out, nil
}

// Problem returns the problem the solver was made for.
func (sv *Solver) Problem() Problem {
	p := sv.prob
	p.Lower = append([]float64(nil), sv.lower...)
	p.Upper = append([]float64(nil), sv.upper...)
	return p
}

// Settings returns the settings in force, defaults filled in.
func (sv *Solver) Settings() Settings { return sv.settings }

// batch holds the validated views of one call's inputs.
type batch struct {
	b           int
	x0          []float64
	theta, phi  []float64
	thetaStride int       // 0 when shared
	phiStride   int       // per example: 0 when shared, else Q or T·Q
	phiStep     int       // per step: Q with Inputs.PhiPerStep, else 0
	lower       []float64 // T·M, or B·T·M with boundStride T·M
	upper       []float64
	boundStride int
	u0          []float64
	psi         []float64 // constraint parameters, laid out as phi
	psiStride   int
	psiStep     int
	mult0       []float64 // B·T·C warm start, or nil
	bad         []bool    // examples not to solve (IsolateNonFinite)
}

// checkInputs validates in against the problem and returns the batch view.
// Shapes are checked for the batch; values per example: an example whose
// x0, θ, φ or warm start is not finite, or whose θ lies outside the
// model's domain (models.ParamChecker), is an error naming it, or with
// Settings.IsolateNonFinite is marked in bt.bad and not solved.
func (sv *Solver) checkInputs(in Inputs) (batch, error) {
	return sv.check(in, sv.settings.IsolateNonFinite)
}

// Check validates in as Solve would without IsolateNonFinite, without
// solving: nil, or the error for the first unusable example.
func (sv *Solver) Check(in Inputs) error {
	_, err := sv.check(in, false)
	return err
}

// check is checkInputs with the isolation choice given.
func (sv *Solver) check(in Inputs, isolate bool) (batch, error) {
	n, m, p := sv.dims.N, sv.dims.M, sv.dims.P
	if len(in.X0) == 0 || len(in.X0)%n != 0 {
		return batch{}, badInput("X0 has length %d, want a positive multiple of N=%d", len(in.X0), n)
	}
	b := len(in.X0) / n
	if err := checkSize("the batch's result", b, sv.prob.T, 2*n+m); err != nil {
		return batch{}, err
	}
	bt := batch{b: b, x0: in.X0, theta: in.Theta, phi: in.Phi, u0: in.U0}
	var err error
	if bt.theta, bt.thetaStride, err = perExample("Theta", in.Theta, sv.theta0, b, p); err != nil {
		return batch{}, err
	}
	if err := sv.checkPhi(&bt, in); err != nil {
		return batch{}, err
	}
	if err := sv.checkCallBounds(&bt, in); err != nil {
		return batch{}, err
	}
	if err := sv.checkPsi(&bt, in); err != nil {
		return batch{}, err
	}
	tm := sv.prob.T * m
	if in.U0 != nil && len(in.U0) != b*tm {
		return batch{}, badInput("U0 has length %d, want B·T·M=%d", len(in.U0), b*tm)
	}
	sv.bad = slices.Grow(sv.bad[:0], b)[:b]
	var sharedTheta string
	if bt.thetaStride == 0 {
		sharedTheta = sv.checkTheta(bt.theta)
	}
	for i := range b {
		why := sv.checkExample(&bt, i, sharedTheta)
		if why != "" && !isolate {
			return batch{}, badInput("example %d: %s", i, why)
		}
		sv.bad[i] = why != ""
	}
	bt.bad = sv.bad
	return bt, nil
}

// checkExample returns what is wrong with the inputs of example i, or "";
// sharedTheta is checkTheta's verdict on a shared θ (checked once for the
// batch: a network's θ has thousands of entries).
func (sv *Solver) checkExample(bt *batch, i int, sharedTheta string) string {
	n, m, t := sv.dims.N, sv.dims.M, sv.prob.T
	why := sharedTheta
	if bt.thetaStride != 0 {
		why = sv.checkTheta(row(bt.theta, bt.thetaStride, i, sv.dims.P))
	}
	switch {
	case !allFinite(bt.x0[i*n : (i+1)*n]):
		return "X0 contains NaN or Inf"
	case why != "":
		return why
	case !allFinite(row(bt.phi, bt.phiStride, i, bt.phiLen(sv.nq, t))):
		return "Phi contains NaN or Inf"
	case bt.u0 != nil && !allFinite(bt.u0[i*t*m:(i+1)*t*m]):
		return "U0 contains NaN or Inf"
	}
	return sv.checkExamplePsi(bt, i)
}

// checkTheta returns what is wrong with one row of θ, or "": not finite,
// or outside the model's domain (models.ParamChecker).
func (sv *Solver) checkTheta(theta []float64) string {
	if !allFinite(theta) {
		return "Theta contains NaN or Inf"
	}
	if pc, ok := sv.prob.Dynamics.(models.ParamChecker); ok {
		if err := pc.CheckParams(theta); err != nil {
			return "Theta: " + err.Error()
		}
	}
	return ""
}

// checkPhi sets bt's view of the cost parameters in: shared or per
// example, the same at every step or (PhiPerStep) per step.
func (sv *Solver) checkPhi(bt *batch, in Inputs) error {
	var err error
	bt.phi, bt.phiStride, bt.phiStep, err = stepParams("Phi", in.Phi, sv.phi0, in.PhiPerStep, bt.b, sv.nq, sv.prob.T)
	return err
}

// stepParams checks a parameter input laid out like Phi (B rows of q or
// one shared row; with perStep T rows of q each, no default) and returns
// it with its row stride (0 when shared) and step stride (q per step,
// else 0).
func stepParams(name string, v, def []float64, perStep bool, b, q, t int) (rows []float64, stride, step int, err error) {
	if !perStep {
		rows, stride, err = perExample(name, v, def, b, q)
		return rows, stride, 0, err
	}
	if v == nil {
		return nil, 0, 0, badInput("%s is nil with %sPerStep", name, name)
	}
	rows, stride, err = perExample(name+" (per step)", v, nil, b, t*q)
	return rows, stride, q, err
}

// stepRows returns example i's rows of parameters laid out as stepParams
// returned them.
func stepRows(v []float64, stride, step, i, q, t int) phiRows {
	return phiRows{phi: row(v, stride, i, stepLen(step, q, t)), step: step, q: q}
}

// stepLen is the length of one example's parameters: T·q per step, else q.
func stepLen(step, q, t int) int {
	if step > 0 {
		return t * q
	}
	return q
}

// phiLen is the length of one example's cost parameters.
func (bt *batch) phiLen(q, t int) int { return stepLen(bt.phiStep, q, t) }

// phiRows returns example i's cost parameters.
func (bt *batch) phiRows(i, q, t int) phiRows {
	return stepRows(bt.phi, bt.phiStride, bt.phiStep, i, q, t)
}

// phiRows are one example's cost parameters: row t is at phi[t·step:].
type phiRows struct {
	phi     []float64
	step, q int
}

// at returns the cost parameters of step t.
func (p phiRows) at(t int) []float64 { return p.phi[t*p.step : t*p.step+p.q] }

// checkCallBounds sets bt's view of the control bounds: the problem's, or
// in's (M, T·M or B·T·M), checked like the problem's.
func (sv *Solver) checkCallBounds(bt *batch, in Inputs) error {
	bt.lower, bt.upper = sv.lower, sv.upper
	if in.Lower == nil && in.Upper == nil {
		return nil
	}
	m, t := sv.dims.M, sv.prob.T
	tm := t * m
	if len(in.Lower) != len(in.Upper) {
		return badInput("Lower has length %d, Upper %d", len(in.Lower), len(in.Upper))
	}
	switch len(in.Lower) {
	case m, tm:
		lo, err := expandBoundsInto(sv.expandedBuf(0), "Lower", in.Lower, t, m)
		if err != nil {
			return err
		}
		hi, err := expandBoundsInto(sv.expandedBuf(1), "Upper", in.Upper, t, m)
		if err != nil {
			return err
		}
		bt.lower, bt.upper = lo, hi
		return sv.clamp.check(lo, hi, m, -1)
	case bt.b * tm:
		bt.lower, bt.upper, bt.boundStride = in.Lower, in.Upper, tm
		for i := range bt.b {
			lo, hi := in.Lower[i*tm:(i+1)*tm], in.Upper[i*tm:(i+1)*tm]
			if err := sv.clamp.check(lo, hi, m, i); err != nil {
				return err
			}
		}
		return nil
	}
	return badInput("Lower has length %d, want M=%d, T·M=%d or B·T·M=%d", len(in.Lower), m, tm, bt.b*tm)
}

// expandedBuf returns the T·M buffer expanded[i], made on first use.
func (sv *Solver) expandedBuf(i int) []float64 {
	if sv.expanded[i] == nil {
		sv.expanded[i] = make([]float64, sv.prob.T*sv.dims.M)
	}
	return sv.expanded[i]
}

// bounds returns example i's control bounds (T·M each).
func (bt *batch) bounds(i, tm int) (lo, hi []float64) {
	return row(bt.lower, bt.boundStride, i, tm), row(bt.upper, bt.boundStride, i, tm)
}

// perExample checks the length of a shared-or-per-example parameter slice
// and returns it with its row stride (0 when shared).
func perExample(name string, v, def []float64, b, k int) ([]float64, int, error) {
	switch {
	case v == nil:
		if len(def) != k {
			return nil, 0, badInput("%s defaults have length %d, want %d", name, len(def), k)
		}
		return def, 0, nil
	case len(v) == k:
		return v, 0, nil
	case len(v) == b*k:
		return v, k, nil
	default:
		return nil, 0, badInput("%s has length %d, want %d (shared) or B·%d=%d", name, len(v), k, k, b*k)
	}
}

// row returns row i of a shared (stride 0) or per-example slice.
func row(v []float64, stride, i, k int) []float64 {
	return v[i*stride : i*stride+k]
}

// Solve solves every example of the batch described by in and writes the
// solutions into dst, which is resized as needed and may be reused across
// calls. Bad input returns an error wrapping ErrBadInput and leaves dst
// unchanged; non-convergence is reported per example in dst.Status.
func (sv *Solver) Solve(dst *Result, in Inputs) error {
	bt, err := sv.checkInputs(in)
	if err != nil {
		return err
	}
	d := sv.dims
	dst.Resize(bt.b, sv.prob.T, d.N, d.M)
	dst.Mult = grow(dst.Mult, bt.b*sv.prob.T*sv.con.C)
	sv.job = job{kind: jobSolve, bt: bt, res: dst}
	return sv.parallel(bt.b)
}

// jobKind names the per-example work a parallel call does.
type jobKind uint8

const (
	jobSolve jobKind = iota
	jobGradient
	jobRefresh
	jobJVP
)

// job is the work of one Solve, Gradient or Refresh call, shared read-only
// by the workers; each writes only its examples' rows of the outputs. Kept in
// the Solver rather than a closure so a call allocates nothing.
type job struct {
	kind    jobKind
	bt      batch
	res     *Result // solution written (jobSolve, jobRefresh) or read (jobGradient)
	grads   *Grads
	dX, dU  []float64
	opt     GradOptions
	tangent *Tangent
	dir     direction
}

// run does the current job's work for example i. A panic in the code it
// calls (a model's evaluator, the Trace callback) is recovered into w.err.
func (w *workspace) run(i int) {
	defer func() {
		if r := recover(); r != nil {
			w.err, w.errAt = fmt.Errorf("ilqr: example %d: %w: %v", i, ErrPanic, r), i
		}
	}()
	j := &w.sv.job
	switch j.kind {
	case jobSolve:
		w.solve(j.res, &j.bt, i)
	case jobGradient:
		w.gradient(j.grads, j.res, &j.bt, i, j.dX, j.dU, j.opt)
	case jobRefresh:
		w.refresh(j.res, &j.bt, i)
	case jobJVP:
		w.jvp(j.tangent, j.res, &j.bt, i, &j.dir, j.opt)
	}
}

// ErrPanic is wrapped by the error of a call during which a model's
// evaluator or the Trace callback panicked; the error names the example.
// The call's outputs are then incomplete.
var ErrPanic = errors.New("panic in a model or the Trace callback")

// parallel runs the current job for examples 0..b-1 on the workers. Each
// example is handled entirely by one worker, so results do not depend on the
// number of workers or the schedule. A worker stops at the first example
// that panics; the error of the lowest such example is returned.
func (sv *Solver) parallel(b int) error {
	for _, w := range sv.work {
		w.err = nil
	}
	nw := min(len(sv.work), b)
	if nw <= 1 {
		w := sv.work[0]
		for i := 0; i < b && w.err == nil; i++ {
			w.run(i)
		}
		return w.err
	}
	sv.next.Store(0)
	for k := 0; k < nw; k++ {
		sv.wg.Add(1)
		go sv.work[k].loop(&sv.next, b, &sv.wg)
	}
	sv.wg.Wait()
	var first *workspace
	for _, w := range sv.work[:nw] {
		if w.err != nil && (first == nil || w.errAt < first.errAt) {
			first = w
		}
	}
	if first == nil {
		return nil
	}
	return first.err
}

// loop takes examples from next until all b are taken or one panics.
func (w *workspace) loop(next *atomic.Int64, b int, wg *sync.WaitGroup) {
	defer wg.Done()
	for w.err == nil {
		i := int(next.Add(1) - 1)
		if i >= b {
			return
		}
		w.run(i)
	}
}

// Solve is a convenience wrapper: it builds a Solver for p and s, solves
// the batch once and returns a fresh Result.
func Solve(p Problem, in Inputs, s *Settings) (*Result, error) {
	sv, err := NewSolver(p, s)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := sv.Solve(&r, in); err != nil {
		return nil, err
	}
	return &r, nil
}

// Refresh recomputes the costates, cost and projected-gradient norm of the
// trajectories in r (r.X, r.U, as produced by Solve for in) without
// solving: one rollout-free linearization and adjoint sweep per example.
// Status and Iterations are left as they are. It lets a caller that kept
// only X and U (for example a graph's output) recover what Gradient needs.
// An example whose trajectory is not finite (a NonFinite solve) gets, as
// one with non-finite inputs under IsolateNonFinite, GradNorm +Inf, Cost
// NaN and zero costates; the others are refreshed.
func (sv *Solver) Refresh(r *Result, in Inputs) error {
	bt, err := sv.checkInputs(in)
	if err != nil {
		return err
	}
	d, t := sv.dims, sv.prob.T
	if r.B != bt.b || r.T != t || r.N != d.N || r.M != d.M ||
		len(r.X) != bt.b*t*d.N || len(r.U) != bt.b*t*d.M {
		return badInput("refresh: result shape does not match the inputs")
	}
	for i := range bt.b {
		if !allFinite(r.X[i*t*d.N:(i+1)*t*d.N]) || !allFinite(r.U[i*t*d.M:(i+1)*t*d.M]) {
			bt.bad[i] = true
		}
	}
	if len(r.Mult) != bt.b*t*sv.con.C {
		return badInput("refresh: Mult has length %d, want the B·T·C=%d multipliers of the solution", len(r.Mult), bt.b*t*sv.con.C)
	}
	r.Resize(bt.b, t, d.N, d.M)
	sv.job = job{kind: jobRefresh, bt: bt, res: r}
	return sv.parallel(bt.b)
}

// refresh recomputes costates, projected gradient and cost of example i.
func (w *workspace) refresh(r *Result, bt *batch, i int) {
	n, m, t := w.n, w.m, w.t
	if bt.bad[i] {
		r.GradNorm[i], r.Cost[i] = math.Inf(1), math.NaN()
		clear(r.Lambda[i*t*n : (i+1)*t*n])
		return
	}
	theta := row(bt.theta, bt.thetaStride, i, w.sv.dims.P)
	phi := bt.phiRows(i, w.sv.nq, t)
	w.lo, w.hi = bt.bounds(i, t*m)
	copy(w.x, r.X[i*t*n:(i+1)*t*n])
	copy(w.u, r.U[i*t*m:(i+1)*t*m])
	if c := w.al.c; c > 0 { // the Lagrangian with the solution's multipliers
		w.al.begin(bt, i, t, &w.sv.settings)
		copy(w.al.nu, r.Mult[i*t*c:(i+1)*t*c])
		w.al.lagrangian = true
	}
	w.linearize(theta, phi)
	r.GradNorm[i] = w.costates()
	r.Violation[i] = w.al.violation()
	copy(r.Lambda[i*t*n:(i+1)*t*n], w.lam)
	r.Cost[i] = w.pathCost(phi)
}

// Dims returns the model's sizes: N states, M controls, P dynamics
// parameters.
func (sv *Solver) Dims() models.Dims { return sv.dims }

// CostParams returns Q, the number of cost parameters φ.
func (sv *Solver) CostParams() int { return sv.nq }

// Horizon returns T.
func (sv *Solver) Horizon() int { return sv.prob.T }
