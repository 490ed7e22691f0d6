package op

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"slices"
	"sync"

	"github.com/chewxy/hm"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SolverConfig holds what a planner node needs beyond its problem: the
// solver's settings, the gradient and warm starting. OpConfig and the
// layer's ILQRConfig hold it as their Solver field.
type SolverConfig struct {
	// Settings of the solver; nil means ilqr's defaults.
	Settings *ilqr.Settings
	// Grad selects the gradient mode and the policies for unconverged
	// examples and indefinite sweeps (default: ilqr.Implicit,
	// ilqr.SkipUnconverged, ilqr.ZeroIndefinite).
	Grad ilqr.GradOptions
	// WarmStart makes each run start from the controls of the previous run
	// of this Op for every example that converged there (zero controls for
	// the others and on the first run), and, for a problem with a path
	// constraint, from that run's multipliers (ilqr.Inputs.Mult0; zero
	// for the others). Runs stay deterministic: the same sequence of
	// inputs gives the same sequence of outputs.
	WarmStart bool
}

// OpConfig configures an iLQR Op.
type OpConfig struct {
	// Problem fixes the model, cost form, horizon and bounds.
	Problem ilqr.Problem
	// Solver configures the solver, the gradient and warm starting.
	Solver SolverConfig
}

// ILQROp is a Gorgonia Op that solves a batch of box-constrained optimal
// control problems in its Do and differentiates the converged solutions
// exactly in its SymDiff and DoDiff.
//
// Inputs: x0 (B, N); θ (B, P) or shared (P); φ (B, Q) or shared (Q), or
// the blocks of Batch.Cost; optionally the control bounds and the path
// constraint's parameters ψ (see Batch). Output: the packed trajectory
// (B, T, N+M), row t of example b being (x_t, u_t). Use Trajectory's X and
// U nodes to split it.
//
// The Op keeps per-run records (statuses, the solution with its costates
// and constraint multipliers, warm starts) under a mutex; its result
// depends only on its inputs and, with WarmStart, on the previous runs.
type ILQROp struct {
	goOp
	cfg    OpConfig
	solver *ilqr.Solver
	b      int
	layout layout

	isolate      bool      // the caller's Settings.IsolateNonFinite
	lower, upper []float64 // the control bounds, T×M
	con          int       // C, the path constraint's rows (0 without one)

	mu       sync.Mutex
	res      ilqr.Result
	last     lastRun
	warm     []float64 // B×T×M, valid where ok
	warmMult []float64 // B×T×C multipliers, valid where ok
	ok       []bool

	dX, dU []float64  // scratch of the backward pass
	grads  ilqr.Grads // its gradients
	phiBuf []float64  // φ assembled from blocks
}

// grow returns s resized to n, reusing its storage.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// lastRun records the most recent forward run, so that the backward pass
// of the same run reuses its solution (costates and statuses included).
type lastRun struct {
	out        []float64 // copy of the packed output
	in         []float64 // copy of the inputs (concatInputs)
	stats      ilqr.Stats
	onBound    []int
	gradStatus []ilqr.GradStatus
	valid      bool // op.res holds the solution of this run
}

// NewILQROp returns the Op for the batch shape b. ILQR makes it from its
// input nodes; call it directly to run the Op outside a graph.
func NewILQROp(cfg OpConfig, b Batch) (*ILQROp, error) {
	if b.B < 1 {
		return nil, badInput("batch size %d < 1", b.B)
	}
	// The Op always solves with isolation, so that every example gets its
	// own status; without the option it then refuses the run.
	set := ilqr.Settings{}
	if cfg.Solver.Settings != nil {
		set = *cfg.Solver.Settings
	}
	set.IsolateNonFinite = true
	sv, err := ilqr.NewSolver(cfg.Problem, &set)
	if err != nil {
		return nil, err
	}
	if gr := cfg.Solver.Grad; gr.Mode > ilqr.FixedPoint || gr.Unconverged > ilqr.GradientAnyway || gr.Indefinite > ilqr.RegularizeIndefinite {
		return nil, badInput("unknown gradient mode %d or policy %d/%d", gr.Mode, gr.Unconverged, gr.Indefinite)
	}
	l, err := newLayout(b, sv)
	if err != nil {
		return nil, err
	}
	p := sv.Problem()
	op := &ILQROp{cfg: cfg, solver: sv, b: b.B, layout: l, lower: p.Lower, upper: p.Upper,
		isolate: cfg.Solver.Settings != nil && cfg.Solver.Settings.IsolateNonFinite}
	if p.Constraint != nil {
		op.con = p.Constraint.Dims().C
	}
	return op, nil
}

// Trajectory is the output of an ILQR node; X and U give its parts.
type Trajectory struct {
	// Packed is the Op's output (B, T, N+M).
	Packed *G.Node
	// Op gives access to the solver status after a run.
	Op *ILQROp

	n, m  int
	x, u  *G.Node
	dtype tensor.Dtype // of Plan's inputs: X and U are cast to it
}

// ILQR adds an iLQR node to the graph of x0: x0 (B, N), theta (B, P) or
// (P), phi (B, Q) or (Q). Each may be a constant, an input or the output of
// upstream layers; gradients flow to all of them. Plan takes more general
// inputs.
func ILQR(x0, theta, phi *G.Node, cfg OpConfig) (*Trajectory, error) {
	return Plan(Nodes{X0: x0, Theta: theta, Cost: []CostNode{{Node: phi}}}, cfg)
}

// Nodes are the inputs of a planner node.
type Nodes struct {
	// X0 holds the initial states (B, N); Theta the dynamics parameters,
	// (P) shared or (B, P).
	X0, Theta *G.Node
	// Cost holds the cost parameters φ in one or more blocks, whose widths
	// add up to the cost's Q (e.g. the matrix and the vector of a
	// models.FullQuadCost as two nodes): each block (k) shared, (B, k) per
	// example, or with PerStep (T, k) or (B, T, k) per step.
	Cost []CostNode
	// Lower and Upper, when not nil, are the control bounds, both (M),
	// (T, M) or (B, T, M); gradients flow to them (a control held on its
	// bound moves with it).
	Lower, Upper *G.Node
	// Psi, when not nil, holds the parameters ψ of the problem's path
	// constraint (R entries per row): (R) shared or (B, R) per example, or
	// with PsiPerStep one row per step, (T, R) or (B, T, R). Gradients flow
	// to it. Nil: the constraint's DefaultParams (and no constraint, no ψ).
	// Entries may be ±Inf where the constraint allows it (an unbounded
	// entry of models.StateBounds); they get zero gradients.
	Psi        *G.Node
	PsiPerStep bool
}

// CostNode is one block of the cost parameters.
type CostNode struct {
	Node    *G.Node
	PerStep bool
}

// Plan adds a planner node for the inputs n to their graph. The inputs
// must share one dtype, Float64 or Float32. The solver computes in float64:
// Float32 inputs are cast to Float64 on their way into the Op (Cast), and
// the Trajectory's X and U are cast back to Float32, so a Float32 graph
// sees Float32 values and gradients; Packed, the Op's own output, stays
// Float64.
func Plan(n Nodes, cfg OpConfig) (*Trajectory, error) {
	if n.X0 == nil || n.Theta == nil || len(n.Cost) == 0 {
		return nil, badInput("Plan: x0, theta and cost nodes are required")
	}
	if n.X0.Dims() != 2 {
		return nil, badInput("Plan: x0 must be (B, N), has shape %v", n.X0.Shape())
	}
	b := Batch{B: n.X0.Shape()[0], ThetaShared: n.Theta.Dims() == 1}
	args := G.Nodes{n.X0, n.Theta}
	for i, c := range n.Cost {
		if c.Node == nil {
			return nil, badInput("Plan: cost block %d has no node", i)
		}
		sh := c.Node.Shape()
		if len(sh) == 0 {
			return nil, badInput("Plan: cost block %d is a scalar; a block is (K), (B, K), (T, K) or (B, T, K)", i)
		}
		blk := CostBlock{Width: sh[len(sh)-1], PerStep: c.PerStep}
		want := 1
		if c.PerStep {
			want++
		}
		switch c.Node.Dims() {
		case want:
		case want + 1:
			blk.PerExample = true
		default:
			return nil, badInput("Plan: cost block %d has shape %v", i, sh)
		}
		b.Cost = append(b.Cost, blk)
		args = append(args, c.Node)
	}
	if len(n.Cost) == 1 && !n.Cost[0].PerStep {
		b.PhiShared, b.Cost = !b.Cost[0].PerExample, nil
	}
	if (n.Lower == nil) != (n.Upper == nil) {
		return nil, badInput("Plan: give both Lower and Upper, or neither")
	}
	if n.Lower != nil {
		if n.Lower.Dims() == 0 || n.Upper.Dims() == 0 {
			return nil, badInput("Plan: bounds are (M), (T, M) or (B, T, M) nodes, not scalars")
		}
		b.BoundsRank = n.Lower.Dims()
		args = append(args, n.Lower, n.Upper)
	}
	if n.Psi != nil {
		b.Psi = PsiInput{Given: true, PerStep: n.PsiPerStep}
		want := 1
		if n.PsiPerStep {
			want++
		}
		switch n.Psi.Dims() {
		case want:
		case want + 1:
			b.Psi.PerExample = true
		default:
			return nil, badInput("Plan: psi has shape %v, want rank %d (shared) or %d (per example)", n.Psi.Shape(), want, want+1)
		}
		args = append(args, n.Psi)
	} else if n.PsiPerStep {
		return nil, badInput("Plan: PsiPerStep without a Psi node")
	}
	op, err := NewILQROp(cfg, b)
	if err != nil {
		return nil, err
	}
	dt, err := castInputs(args, op.layout.slots)
	if err != nil {
		return nil, err
	}
	out, err := G.ApplyOp(op, args...)
	if err != nil {
		return nil, fmt.Errorf("op: Plan: %w", err)
	}
	if applied, ok := out.Op().(*ILQROp); ok {
		op = applied // an identical node already in the graph was reused
	}
	return &Trajectory{Packed: out, Op: op, n: op.solver.Dims().N, m: op.solver.Dims().M, dtype: dt}, nil
}

// NewTrajectory wraps a packed trajectory node (B, T, n+m), made by any
// planner (such as the unrolled baseline), so that its X and U parts can be
// taken as for ILQR's output. Its Op is nil.
func NewTrajectory(packed *G.Node, n, m int) (*Trajectory, error) {
	if packed == nil || packed.Dims() != 3 || packed.Shape()[2] != n+m || n < 1 || m < 1 {
		return nil, badInput("NewTrajectory: node must be (B, T, n+m) with n, m ≥ 1")
	}
	return &Trajectory{Packed: packed, n: n, m: m}, nil
}

// X returns the state trajectory node (B, T, N), made on first use, in
// the dtype of Plan's inputs. (Nodes that nothing consumes are roots of the
// graph, which the LispMachine requires to be scalars, so the parts are
// only made when asked for.)
func (tr *Trajectory) X() (*G.Node, error) {
	if tr.x == nil {
		x, err := tr.part(0, tr.n)
		if err != nil {
			return nil, fmt.Errorf("op: slicing X: %w", err)
		}
		tr.x = x
	}
	return tr.x, nil
}

// U returns the control trajectory node (B, T, M), made on first use, in
// the dtype of Plan's inputs.
func (tr *Trajectory) U() (*G.Node, error) {
	if tr.u == nil {
		u, err := tr.part(tr.n, tr.n+tr.m)
		if err != nil {
			return nil, fmt.Errorf("op: slicing U: %w", err)
		}
		tr.u = u
	}
	return tr.u, nil
}

// part slices columns [a, b) of the packed trajectory as a (B, T, b−a)
// node, cast to the inputs' dtype when that is Float32. (Gorgonia's Slice
// drops an axis of width one; the reshape restores it.)
func (tr *Trajectory) part(a, b int) (*G.Node, error) {
	s, err := G.Slice(tr.Packed, nil, nil, G.S(a, b))
	if err != nil {
		return nil, err
	}
	sh := tr.Packed.Shape()
	if want := (tensor.Shape{sh[0], sh[1], b - a}); !slices.Equal(s.Shape(), want) {
		if s, err = G.Reshape(s, want); err != nil {
			return nil, err
		}
	}
	if tr.dtype == tensor.Float32 {
		return Cast(s, tensor.Float32)
	}
	return s, nil
}

// Arity implements gorgonia.Op: x0, θ, the cost blocks, the bounds and ψ.
func (op *ILQROp) Arity() int { return len(op.layout.slots) }

func tensorType(dims int) G.TensorType { return G.TensorType{Dims: dims, Of: tensor.Float64} }

// inputTypes returns the types of the Op's inputs.
func (op *ILQROp) inputTypes() []hm.Type {
	ts := make([]hm.Type, len(op.layout.slots))
	for i, s := range op.layout.slots {
		ts[i] = tensorType(len(s.shape))
	}
	return ts
}

// Type implements gorgonia.Op.
func (op *ILQROp) Type() hm.Type {
	return hm.NewFnType(append(op.inputTypes(), tensorType(3))...)
}

// InferShape implements gorgonia.Op; it checks every input's shape.
func (op *ILQROp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != len(op.layout.slots) {
		return nil, badInput("%v: want %d inputs, have %d", op, len(op.layout.slots), len(ds))
	}
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			continue // not known yet; Do checks again
		}
		if want := op.layout.slots[i]; !slices.Equal(s, want.shape) {
			return nil, badInput("%s has shape %v, want %v", want.name, s, want.shape)
		}
	}
	d := op.solver.Dims()
	return tensor.Shape{op.b, op.solver.Horizon(), d.N + d.M}, nil
}

// WriteHash implements gorgonia.Op: every setting that changes the result.
func (op *ILQROp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.identity()) }

// Hashcode implements gorgonia.Op.
func (op *ILQROp) Hashcode() uint32 { return hash32(op) }

// goOp holds the gorgonia.Op methods that are the same for every Op of
// the package: each returns a new value, computed in Go, never in place.
type goOp struct{}

// ReturnsPtr implements gorgonia.Op.
func (goOp) ReturnsPtr() bool { return false }

// CallsExtern implements gorgonia.Op.
func (goOp) CallsExtern() bool { return false }

// OverwritesInput implements gorgonia.Op.
func (goOp) OverwritesInput() int { return -1 }

// hash32 is an Op's Hashcode: the 32-bit FNV-1a hash of what WriteHash
// writes.
func hash32(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// String implements gorgonia.Op: the model, the horizon and a hash of
// every other setting, short enough for error messages and distinct for
// Ops that compute different things.
func (op *ILQROp) String() string {
	p := op.solver.Problem()
	return fmt.Sprintf("iLQR(%s,T=%d,#%08x)", p.Dynamics.Name(), p.T, op.Hashcode())
}

// identity describes everything that changes the Op's results. A warm
// started Op depends on its own history, so it is never merged with another.
func (op *ILQROp) identity() string {
	s := op.solver.Settings()
	p := op.solver.Problem()
	warm := ""
	if op.cfg.Solver.WarmStart {
		warm = fmt.Sprintf(",warm@%p", op)
	}
	return fmt.Sprintf("iLQR{%s,%s,T=%d,%s,lo=%v,hi=%v,"+
		"maxit=%d,exact=%t,newton=%t,tol=%g/%g/%g,reg=%g/%g/%g/%g,ls=%d/%g,isolate=%t,grad=%v/%d/%d%s%s}",
		p.Dynamics.Name(), p.Cost.Name(), p.T, op.layout.identity(),
		p.Lower, p.Upper, s.MaxIter, s.ExactIter, s.Newton, s.TolGrad, s.TolCost, s.TolGradLoose,
		s.RegInit, s.RegMin, s.RegMax, s.RegFactor, s.LineSearchSteps, s.LineSearchMin, op.isolate,
		op.cfg.Solver.Grad.Mode, op.cfg.Solver.Grad.Unconverged, op.cfg.Solver.Grad.Indefinite,
		constraintIdentity(p, s), warm)
}

// constraintIdentity describes the path constraint of p and the settings
// of its augmented Lagrangian: its name, its default ψ (used when ψ is not
// an input; StateBounds' name does not hold its bounds) and tolerances.
// Empty without a constraint.
func constraintIdentity(p ilqr.Problem, s ilqr.Settings) string {
	if p.Constraint == nil {
		return ""
	}
	return fmt.Sprintf(",con=%s,ψ0=%v,viol=%g,penalty=%g/%g/%g,outer=%d", p.Constraint.Name(),
		p.Constraint.DefaultParams(), s.TolViolation, s.PenaltyInit, s.PenaltyFactor, s.PenaltyMax, s.MaxOuter)
}

// float64s returns the contiguous float64 data of v (copied if v is a
// view), checking its shape.
func float64s(v G.Value, name string, want tensor.Shape) ([]float64, error) {
	if v == nil {
		return nil, badInput("%s has no value", name)
	}
	// Exact comparison: tensor.Shape.Eq takes (k), (k, 1) and (1, k) as equal.
	if !slices.Equal(v.Shape(), want) {
		return nil, badInput("%s has shape %v, want %v", name, v.Shape(), want)
	}
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, badInput("%s must be a float64 *tensor.Dense, is %T", name, v)
	}
	if d.Dtype() != tensor.Float64 {
		return nil, badInput("%s must be float64, is %v (op.Cast converts a float32 graph's values)", name, d.Dtype())
	}
	if d.RequiresIterator() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return nil, badInput("%s: cannot materialize view", name)
		}
		d = m
	}
	data, ok := d.Data().([]float64)
	if !ok {
		return nil, badInput("%s has no float64 data", name)
	}
	return data, nil
}

// Do implements gorgonia.Op: it solves the batch and returns the packed
// trajectory. It never panics: bad input is returned as an error.
//
// An example whose inputs or rollout are not finite is refused with an
// error naming it, unless Settings.IsolateNonFinite is set: then its
// output holds x0 (non-finite entries as 0) with zero controls, its
// gradients are zero, and its status says NonFinite. Either way the other
// examples are solved and Stats reports every example.
func (op *ILQROp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverInto(&err)
	op.mu.Lock()
	defer op.mu.Unlock()
	in, err := op.layout.inputs(vals, &op.phiBuf)
	if err != nil {
		return nil, err
	}
	in.U0, in.Mult0 = op.warmStart()
	op.last.valid = false
	if err := op.solver.Solve(&op.res, in); err != nil {
		return nil, err
	}
	r := &op.res
	op.last.stats = copyStats(op.last.stats, r.Stats)
	op.last.onBound = op.countOnBound(op.last.onBound[:0], r, in)
	op.last.gradStatus = op.last.gradStatus[:0]
	if !op.isolate {
		if err := op.refuseNonFinite(in); err != nil {
			return nil, err
		}
	}
	out := op.pack(r)
	op.saveWarm(r)
	op.last.out = append(op.last.out[:0], out...)
	op.last.in = concatInputs(op.last.in[:0], in)
	op.last.valid = true
	d := op.solver.Dims()
	return tensor.New(tensor.WithShape(op.b, op.solver.Horizon(), d.N+d.M), tensor.WithBacking(out)), nil
}

// warmStart returns the warm start of this run: the previous run's
// controls and constraint multipliers of the examples that ended at a
// stationary point there, zero for the others; nil without WarmStart or
// before the first run (and nil multipliers without a constraint).
func (op *ILQROp) warmStart() (u0, mult0 []float64) {
	if !op.cfg.Solver.WarmStart || op.warm == nil {
		return nil, nil
	}
	t := op.solver.Horizon()
	u0 = warmRows(op.warm, op.ok, t*op.solver.Dims().M)
	if op.con > 0 {
		mult0 = warmRows(op.warmMult, op.ok, t*op.con)
	}
	return u0, mult0
}

// warmRows returns a copy of v (rows of k) with the rows not ok zeroed.
func warmRows(v []float64, ok []bool, k int) []float64 {
	out := make([]float64, len(v))
	for i, good := range ok {
		if good {
			copy(out[i*k:(i+1)*k], v[i*k:(i+1)*k])
		}
	}
	return out
}

// saveWarm keeps the controls and multipliers of r for the next run's
// warm start.
func (op *ILQROp) saveWarm(r *ilqr.Result) {
	if !op.cfg.Solver.WarmStart {
		return
	}
	op.warm = append(op.warm[:0], r.U...)
	op.warmMult = append(op.warmMult[:0], r.Mult...)
	op.ok = op.ok[:0]
	for _, s := range r.Status {
		op.ok = append(op.ok, s.Stationary())
	}
}

// refuseNonFinite returns the error for the first NonFinite example of the
// run: its input error, or a non-finite rollout.
func (op *ILQROp) refuseNonFinite(in ilqr.Inputs) error {
	i := slices.Index(op.res.Status, ilqr.NonFinite)
	if i < 0 {
		return nil
	}
	if err := op.solver.Check(in); err != nil {
		return err
	}
	return badInput("example %d: the rollout from x0 is not finite (check its x0, θ and φ)", i)
}

// pack lays r out as the Op's output (B, T, N+M); NonFinite examples hold
// x0, with non-finite entries as 0, and zero controls.
func (op *ILQROp) pack(r *ilqr.Result) []float64 {
	d, t := op.solver.Dims(), op.solver.Horizon()
	k := d.N + d.M
	out := make([]float64, op.b*t*k)
	for e := 0; e < op.b; e++ {
		held := r.Status[e] == ilqr.NonFinite
		for s := 0; s < t; s++ {
			i := e*t + s
			o := out[i*k : (i+1)*k]
			if held {
				for j, v := range r.X[e*t*d.N : e*t*d.N+d.N] {
					if !math.IsNaN(v) && !math.IsInf(v, 0) {
						o[j] = v
					}
				}
				continue
			}
			copy(o[:d.N], r.X[i*d.N:(i+1)*d.N])
			copy(o[d.N:], r.U[i*d.M:(i+1)*d.M])
		}
	}
	return out
}

// countOnBound appends to dst, per example, the number of controls of r
// on a bound: the run's bounds in, or where in has none the problem's.
func (op *ILQROp) countOnBound(dst []int, r *ilqr.Result, in ilqr.Inputs) []int {
	tm := len(op.lower) // T·M: the problem's bounds are expanded per step
	for e := 0; e < r.B; e++ {
		n := 0
		for j, u := range r.U[e*tm : (e+1)*tm] {
			if u <= boundAt(in.Lower, op.lower, e, j, r.M) || u >= boundAt(in.Upper, op.upper, e, j, r.M) {
				n++
			}
		}
		dst = append(dst, n)
	}
	return dst
}

// boundAt returns the bound of control j (of T·M) of example e from a
// run's bounds v, laid out as ilqr.Inputs.Lower (M, T·M or B·T·M; the
// solver checked the length), or from def, the problem's (T·M), when v is
// nil.
func boundAt(v, def []float64, e, j, m int) float64 {
	tm := len(def)
	switch len(v) {
	case 0:
		return def[j]
	case m:
		return v[j%m]
	case tm:
		return v[j]
	default:
		return v[e*tm+j]
	}
}

// copyStats copies src into dst's storage.
func copyStats(dst, src ilqr.Stats) ilqr.Stats {
	dst.Status = append(dst.Status[:0], src.Status...)
	dst.Iterations = append(dst.Iterations[:0], src.Iterations...)
	dst.GradNorm = append(dst.GradNorm[:0], src.GradNorm...)
	dst.Reg = append(dst.Reg[:0], src.Reg...)
	dst.Violation = append(dst.Violation[:0], src.Violation...)
	return dst
}

// Stats are the per-example outcomes of an Op's most recent run: the
// solver's (with ilqr.Stats.Violation, the path constraint's final
// violation), and after a backward pass of the run, the gradient's.
type Stats struct {
	ilqr.Stats
	// OnBound counts, per example, the controls u_t,j on a bound: the
	// gradient holds them fixed, so their entries of the output get no
	// gradient.
	OnBound []int
	// GradStatus says what the gradient did per example; nil before a
	// backward pass of the run.
	GradStatus []ilqr.GradStatus

	controls int // B·T·M
}

// Health summarises Stats as shares of the batch, for training logs: a
// growing share of skipped, indefinite or non-finite examples, or of
// controls on a bound, is why a training run can plateau with nothing
// failing.
type Health struct {
	// Unconverged: examples whose solve did not end at a stationary point
	// (Infeasible ones aside). Their gradients are zero under
	// ilqr.SkipUnconverged; raise MaxIter, warm-start, or use
	// GradientAnyway.
	Unconverged float64
	// Infeasible: examples whose path constraint could not be met (status
	// ilqr.Infeasible: the violation stopped falling with the penalty at
	// its largest). Their gradients are zero under ilqr.SkipUnconverged;
	// relax the constraint (ψ), or check that x0 admits a feasible plan.
	Infeasible float64
	// Violation is not a share: the largest path-constraint violation
	// max(0, c) of the run's examples (ilqr.Stats.Violation; zero without
	// a constraint).
	Violation float64
	// Indefinite: examples whose gradient's linear system was indefinite
	// (zero gradient, or regularized: see ilqr.RegularizeIndefinite) or
	// singular, its active constraint rows dependent (ilqr.GradDependent:
	// zero gradient).
	Indefinite float64
	// NonFinite: examples with non-finite inputs, rollouts or gradient
	// sweeps.
	NonFinite float64
	// OnBound: controls on a bound, out of all B·T·M: they get no
	// gradient; widen the bounds or penalize the controls more.
	OnBound float64
}

// Health returns the shares of the batch that got no (or a damped)
// gradient; the gradient's shares are zero before a backward pass.
func (s Stats) Health() Health {
	var h Health
	b := len(s.Status)
	if b == 0 {
		return h
	}
	var onBound int
	for i, st := range s.Status {
		var g ilqr.GradStatus // GradOK before a backward pass
		if i < len(s.GradStatus) {
			g = s.GradStatus[i]
		}
		switch {
		case st == ilqr.NonFinite || g == ilqr.GradNonFinite:
			h.NonFinite++
		case st == ilqr.Infeasible:
			h.Infeasible++
		case !st.Stationary():
			h.Unconverged++
		}
		switch g {
		case ilqr.GradIndefinite, ilqr.GradRegularized, ilqr.GradDependent:
			h.Indefinite++
		}
		onBound += s.OnBound[i]
	}
	for _, v := range s.Violation {
		h.Violation = max(h.Violation, v)
	}
	h.Unconverged /= float64(b)
	h.Infeasible /= float64(b)
	h.NonFinite /= float64(b)
	h.Indefinite /= float64(b)
	if s.controls > 0 {
		h.OnBound = float64(onBound) / float64(s.controls)
	}
	return h
}

// Stats returns a copy of the statuses of the most recent run (nil slices
// before the first run).
func (op *ILQROp) Stats() Stats {
	op.mu.Lock()
	defer op.mu.Unlock()
	tm := op.solver.Horizon() * op.solver.Dims().M
	return Stats{Stats: op.last.stats.Clone(), OnBound: slices.Clone(op.last.onBound),
		GradStatus: slices.Clone(op.last.gradStatus), controls: len(op.last.onBound) * tm}
}

// Mult returns a copy of the path-constraint multipliers ν ≥ 0 of the
// most recent run's solutions, B×T×C (zero at step 0 and where a row is
// inactive; see ilqr.Result.Mult); nil before the first run and without a
// constraint.
func (op *ILQROp) Mult() []float64 {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.con == 0 || !op.last.valid {
		return nil
	}
	return slices.Clone(op.res.Mult)
}

// DiffWRT implements gorgonia.SDOp: every input is differentiable.
func (op *ILQROp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff implements gorgonia.SDOp. One backward node computes the
// gradients of all inputs in a single sweep; they are sliced out of its
// packed result.
func (op *ILQROp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	slots := op.layout.slots
	if len(inputs) != len(slots) {
		return nil, badInput("%v: SymDiff wants %d inputs, has %d", op, len(slots), len(inputs))
	}
	back, err := G.ApplyOp(&ilqrGradOp{op}, append(slices.Clone(inputs), output, grad)...)
	if err != nil {
		return nil, fmt.Errorf("op: SymDiff: %w", err)
	}
	res := make(G.Nodes, len(slots))
	off := 0
	for i, s := range slots {
		sz := s.shape.TotalSize()
		sl, err := G.Slice(back, G.S(off, off+sz))
		if err != nil {
			return nil, fmt.Errorf("op: SymDiff: slicing %s: %w", s.name, err)
		}
		if res[i], err = G.Reshape(sl, s.shape.Clone()); err != nil {
			return nil, fmt.Errorf("op: SymDiff: reshaping %s: %w", s.name, err)
		}
		off += sz
	}
	return res, nil
}

// DoDiff implements gorgonia.ADOp for the LispMachine: it adds the input
// gradients into the inputs' derivative values.
func (op *ILQROp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverInto(&err)
	slots := op.layout.slots
	if len(inputs) != len(slots) {
		return badInput("%v: DoDiff wants %d inputs, has %d", op, len(slots), len(inputs))
	}
	og, err := output.Grad()
	if err != nil {
		return fmt.Errorf("op: DoDiff: output gradient: %w", err)
	}
	vals := make([]G.Value, 0, len(inputs)+2)
	for _, in := range inputs {
		vals = append(vals, in.Value())
	}
	packed, err := op.backward(append(vals, output.Value(), og))
	if err != nil {
		return err
	}
	off := 0
	for i, s := range slots {
		sz := s.shape.TotalSize()
		g, err := inputs[i].Grad()
		if err != nil {
			return fmt.Errorf("op: DoDiff: %s has no gradient value: %w", s.name, err)
		}
		dst, err := float64s(g, s.name+" gradient", s.shape)
		if err != nil {
			return err
		}
		if gd, ok := g.(*tensor.Dense); ok && gd.RequiresIterator() {
			return badInput("%s gradient is a view", s.name)
		}
		for j := range dst {
			dst[j] += packed[off+j]
		}
		off += sz
	}
	return nil
}

// backward computes the packed input gradients, in the order of the
// inputs, for the values (inputs…, output, dL/doutput).
func (op *ILQROp) backward(vals []G.Value) ([]float64, error) {
	ns := len(op.layout.slots)
	if len(vals) != ns+2 {
		return nil, badInput("%v: backward wants %d inputs, has %d", op, ns+2, len(vals))
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	in, err := op.layout.inputs(vals[:ns], &op.phiBuf)
	if err != nil {
		return nil, err
	}
	d, t := op.solver.Dims(), op.solver.Horizon()
	k := d.N + d.M
	outShape := tensor.Shape{op.b, t, k}
	out, err := float64s(vals[ns], "output", outShape)
	if err != nil {
		return nil, err
	}
	dout, err := float64s(vals[ns+1], "output gradient", outShape)
	if err != nil {
		return nil, err
	}
	if !allFinite(dout) {
		return nil, badInput("output gradient contains NaN or Inf")
	}
	op.dX = grow(op.dX, op.b*t*d.N)
	op.dU = grow(op.dU, op.b*t*d.M)
	dX, dU := op.dX, op.dU
	for i := 0; i < op.b*t; i++ {
		copy(dX[i*d.N:(i+1)*d.N], dout[i*k:i*k+d.N])
		copy(dU[i*d.M:(i+1)*d.M], dout[i*k+d.N:(i+1)*k])
	}
	r, err := op.solution(in, out)
	if err != nil {
		return nil, err
	}
	g := &op.grads
	if err := op.solver.Gradient(g, r, in, dX, dU, op.cfg.Solver.Grad); err != nil {
		return nil, err
	}
	op.last.gradStatus = append(op.last.gradStatus[:0], g.Status...)
	packed := op.layout.packGrads(nil, g, d.N, d.P)
	if !allFinite(packed) {
		return nil, errors.New("op: backward produced NaN or Inf")
	}
	return packed, nil
}

// solution returns the solution the backward pass differentiates: the
// forward run's own when out and the inputs are this Op's last run's (the
// usual case), else one rebuilt from out, whose costates are recomputed and
// whose statuses the projected gradient decides. The multipliers of a path
// constraint cannot be recovered from out: a constrained problem is solved
// again instead, from out's controls (and the last run's multipliers).
func (op *ILQROp) solution(in ilqr.Inputs, out []float64) (*ilqr.Result, error) {
	if op.last.valid && slices.Equal(out, op.last.out) &&
		sameData(op.last.in, in) {
		return &op.res, nil
	}
	d, t := op.solver.Dims(), op.solver.Horizon()
	k := d.N + d.M
	r := new(ilqr.Result)
	r.Resize(op.b, t, d.N, d.M)
	for i := 0; i < op.b*t; i++ {
		copy(r.X[i*d.N:(i+1)*d.N], out[i*k:i*k+d.N])
		copy(r.U[i*d.M:(i+1)*d.M], out[i*k+d.N:(i+1)*k])
	}
	if op.con > 0 {
		return op.resolve(in, r.U)
	}
	if err := op.solver.Refresh(r, in); err != nil {
		return nil, err
	}
	set := op.solver.Settings()
	for i, pg := range r.GradNorm {
		switch {
		case math.IsInf(pg, 1):
			r.Status[i] = ilqr.NonFinite
		case pg <= set.TolGrad:
			r.Status[i] = ilqr.Converged
		case pg <= set.TolGradLoose:
			r.Status[i] = ilqr.Stalled
		default:
			r.Status[i] = ilqr.IterationLimit
		}
	}
	return r, nil
}

// resolve solves in again from the controls u0 and, when they fit, the
// multipliers of the Op's last run, for a backward pass that has no
// record of the solution it differentiates.
func (op *ILQROp) resolve(in ilqr.Inputs, u0 []float64) (*ilqr.Result, error) {
	in.U0 = u0
	if m := op.res.Mult; len(m) == op.b*op.solver.Horizon()*op.con && allFinite(m) {
		in.Mult0 = m
	}
	r := new(ilqr.Result)
	if err := op.solver.Solve(r, in); err != nil {
		return nil, err
	}
	if !op.isolate {
		if i := slices.Index(r.Status, ilqr.NonFinite); i >= 0 {
			return nil, badInput("example %d: the rollout from x0 is not finite (check its x0, θ, φ and ψ)", i)
		}
	}
	return r, nil
}

// ilqrGradOp is the backward Op of ILQROp: inputs (the forward Op's
// inputs…, output, dL/doutput), output the packed gradients of the
// forward Op's inputs as a vector.
type ilqrGradOp struct{ fwd *ILQROp }

func (g *ilqrGradOp) size() int {
	n := 0
	for _, s := range g.fwd.layout.slots {
		n += s.shape.TotalSize()
	}
	return n
}

func (g *ilqrGradOp) Arity() int { return len(g.fwd.layout.slots) + 2 }

func (g *ilqrGradOp) Type() hm.Type {
	return hm.NewFnType(append(g.fwd.inputTypes(), tensorType(3), tensorType(3), tensorType(1))...)
}

func (g *ilqrGradOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != g.Arity() {
		return nil, badInput("%v: want %d inputs, have %d", g, g.Arity(), len(ds))
	}
	return tensor.Shape{g.size()}, nil
}

func (g *ilqrGradOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverInto(&err)
	packed, err := g.fwd.backward(vals)
	if err != nil {
		return nil, err
	}
	return tensor.New(tensor.WithShape(len(packed)), tensor.WithBacking(packed)), nil
}

func (g *ilqrGradOp) ReturnsPtr() bool      { return false }
func (g *ilqrGradOp) CallsExtern() bool     { return false }
func (g *ilqrGradOp) OverwritesInput() int  { return -1 }
func (g *ilqrGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, "∂"+g.fwd.identity()) }
func (g *ilqrGradOp) String() string        { return "∂" + g.fwd.String() }

func (g *ilqrGradOp) Hashcode() uint32 {
	h := fnv.New32a()
	g.WriteHash(h)
	return h.Sum32()
}
