package layer

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/op/unrolled"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Source says where a parameter block (θ or the cost parameters) of an
// ILQR layer comes from.
type Source uint8

const (
	// Fixed: a constant at ParamSpec.Init (default: the task's nominal
	// values); not learned, not saved.
	Fixed Source = iota
	// Learned: the layer owns a learnable node holding the raw value r,
	// initialised to the Transform's inverse of ParamSpec.Init, and the
	// planner uses Transform(r). Saved and loaded with the layer.
	Learned
	// External: the raw value comes from the node ParamSpec.Node (an input
	// or the output of upstream layers); the planner uses Transform of it.
	External
)

// String returns "fixed", "learned" or "external".
func (s Source) String() string {
	return enumName("Source", s, "fixed", "learned", "external")
}

// CostForm selects how an ILQR layer's cost parameters are written.
type CostForm uint8

const (
	// NativeCost: the parameters φ of the task's cost itself: (q, p) for a
	// models.QuadCost, (w, goal) for a models.GoalCost, the cost's own φ
	// otherwise.
	NativeCost CostForm = iota
	// GoalWeights: the paper's goal form (w, goal), each of length N+M, on
	// a task whose cost is a models.QuadCost. The layer maps them onto the
	// quadratic cost with Gorgonia ops, q = 2w², p = −2w²⊙goal (the goal
	// cost ‖w⊙(τ − goal)‖² less a constant; see models.GoalCost.ToQuad).
	GoalWeights
	// QuadBlocks: a task whose cost is a models.FullQuadCost, with its
	// matrix Q and vector p given as two blocks, ILQRConfig.CostQ and
	// CostP, each shared, per example, per step or both: e.g. a fixed Q and
	// a reference trajectory computed by a network as p (per example and
	// step). ILQRConfig.Cost is not used.
	QuadBlocks
)

// String returns "native", "goal" or "quad-blocks".
func (f CostForm) String() string {
	return enumName("CostForm", f, "native", "goal", "quad-blocks")
}

// ParamSpec says where one parameter block of an ILQR layer comes from and
// how it is parameterised.
//
// Values are in one of two spaces. The natural space is what the planner
// uses: θ itself; the cost parameters in the layer's CostForm. The raw space
// is what a Learned node or an External node holds: raw = Transform⁻¹(natural)
// on the transformed entries, the natural value on the others. Transform
// acts on all of θ, and on the weight entries of the cost parameters: the
// first N+M entries (q of a QuadCost, w of a GoalCost or of GoalWeights),
// or all of φ for any other cost. The other cost entries (p, goal) are
// unconstrained.
type ParamSpec struct {
	// Source of the block; default Fixed.
	Source Source
	// Transform from raw to natural values; default Identity. Ignored for
	// Fixed.
	Transform Transform
	// Init is the natural value for Fixed and the initial natural value for
	// Learned (e.g. a wrong initial guess of θ to be corrected by
	// training): one row of length K (θ: P; cost: Q, or 2(N+M) for
	// GoalWeights) or, with PerExample, B rows. Nil means the task's nominal
	// values (for GoalWeights: w = √(q/2), goal = −p/q of the task's
	// QuadCost). Must be nil for External.
	Init []float64
	// Node holds the raw value for External, (K) shared by the batch or
	// (B, K) per example; nil otherwise.
	Node *G.Node
	// PerExample makes a Fixed or Learned block one row per example (B, K)
	// rather than one row (K) shared by the batch.
	PerExample bool
	// PerStep (the QuadBlocks cost blocks only) makes a block one row per
	// step: (T, K), or (B, T, K) with PerExample. For an External node it
	// says whether a rank-2 node is (T, K) (per step) or (B, K).
	PerStep bool
}

// given reports whether any field of s is set.
func (s *ParamSpec) given() bool {
	return s.Source != Fixed || s.Transform != Identity || s.Init != nil || s.Node != nil || s.PerExample || s.PerStep
}

// ILQRConfig configures an ILQR layer.
type ILQRConfig struct {
	// T is the horizon: T states and T controls; at least 1.
	T int
	// Batch is the number of examples B every x0 must have; at least 1.
	Batch int
	// Solver holds the solver's settings (nil: defaults), the gradient
	// (the zero value is ilqr.Implicit, the exact derivative of the
	// converged solution, with unconverged examples skipped;
	// ilqr.FixedPoint is mpc.pytorch's approximation) and warm starting
	// (see op.SolverConfig).
	Solver op.SolverConfig
	// Theta is the dynamics parameter block θ (length P).
	Theta ParamSpec
	// Cost is the cost parameter block, in the form CostForm says.
	Cost ParamSpec
	// CostForm selects the cost parameterisation; default NativeCost.
	CostForm CostForm
	// CostQ and CostP are the blocks of a QuadBlocks cost: Q (K×K, K =
	// N+M; Init row-major, External nodes (K, K), (B, K, K), (T, K, K) or
	// (B, T, K, K)) and p (K; External (K), (B, K), (T, K) or (B, T, K)),
	// with Identity transforms. Default Init: the task's cost.
	CostQ, CostP ParamSpec
	// Lower and Upper, when not nil, are nodes holding the control bounds,
	// (M), (T, M) or (B, T, M) (both alike); gradients flow to them. Nil:
	// the task's bounds.
	Lower, Upper *G.Node
	// Psi is the parameter block ψ of the task's path constraint
	// (models.Task.Constraint, R entries per row); only for a task with
	// one. Init, for Fixed and Learned, is one row of R or, with
	// PerExample and PerStep, B, T or B·T rows (one row is repeated); nil
	// means the constraint's DefaultParams. Entries may be ±Inf where the
	// constraint allows (an unbounded entry of models.StateBounds): a
	// Learned block learns the finite columns only (an infinite column
	// must be infinite in every row) and keeps the others fixed. The
	// Transform acts on the learned entries, or on every entry of an
	// External node, which is (R), (B, R), (T, R) or (B, T, R) as
	// PerExample and PerStep say. Default: Fixed at the defaults.
	Psi ParamSpec
	// Dtype is the dtype of the layer's nodes, tensor.Float64 (the default,
	// also for the zero value) or tensor.Float32: Learned and Fixed blocks
	// are made in it, External nodes, bound nodes and x0 must have it, and
	// Plan and Policy return it. The solver computes in float64 either way
	// (op.Plan converts at its boundary). Not with Unrolled (float64 only).
	Dtype tensor.Dtype
	// Unrolled, when not nil, replaces the planner's node by the unrolled
	// baseline (unrolled.Build): a fixed number of iLQR iterations built from
	// Gorgonia operations, differentiated by Gorgonia's reverse mode through
	// every iteration (the paper's "AutoDiff"). Settings, Grad and
	// WarmStart are then not used and Stats is empty. It needs a model with
	// one control and a models.QuadCost task cost (in the native or the
	// goal-weights form).
	Unrolled *UnrolledSpec
	// Name prefixes the node names: Name.theta_raw, Name.cost_raw and
	// Name.psi_raw for Learned blocks, Name.theta, Name.cost and Name.psi
	// (solver-space constants) for Fixed ones; default "ilqr".
	Name string
}

// UnrolledSpec selects the unrolled baseline for an ILQR layer (see
// unrolled.Config).
type UnrolledSpec struct {
	// Step is the model's step function for graph scalars, e.g.
	// models.PendulumStep[unrolled.GraphScalar].
	Step models.Step[unrolled.GraphScalar]
	// Iters is the number of unrolled iterations.
	Iters int
	// Reg is the fixed regularization; zero means unrolled.DefaultReg.
	Reg float64
}

// ILQR is the box-constrained iLQR planner as a layer: given initial states
// x0 (B, N) it returns the optimal trajectories of
//
//	minimize   Σ_{t=0}^{T-1} g(x_t, u_t; φ)
//	subject to x_{t+1} = f(x_t, u_t; θ),  lower ≤ u_t ≤ upper,
//	           c(x_t, u_t; ψ) ≤ 0, t = 1..T−1  (a task with a Constraint),
//
// for the task's dynamics f, cost g and path constraint c, with θ, φ and
// ψ fixed, learned by the layer, or computed upstream (see ParamSpec).
// Gradients of a loss on the trajectories flow to x0, θ, φ and ψ and on to
// whatever computed them (see package op for the exact implicit gradient).
//
// Parameters, for the blocks with Source Learned: theta_raw ((P) or
// (B, P)), cost_raw ((K) or (B, K)) and psi_raw ((…, R') with the R' finite
// columns of ψ's Init), in the raw space of ParamSpec.
type ILQR struct {
	params
	cfg        ILQRConfig
	prob       ilqr.Problem
	dims       models.Dims
	k          int // N+M
	thetaLen   int // P
	costLen    int // length of the cost block in the layer's form
	theta, phi *G.Node
	costQ      *G.Node      // QuadBlocks: Q as (…, K²)
	costP      *G.Node      // QuadBlocks: p
	raw        [2]*G.Node   // θ and cost blocks in raw space (Learned/External) or solver space (Fixed)
	fixed      [2][]float64 // natural values of Fixed blocks
	psi        psiBlock
	last       *op.Trajectory
}

// NewILQR adds an ILQR layer for task to g (for an ilqr.Problem p, pass
// models.Task{Dynamics: p.Dynamics, Cost: p.Cost, Lower: p.Lower,
// Upper: p.Upper} and cfg.T = p.T; bounds may have length M or T·M). It
// checks the configuration
// and the shapes of external nodes, creates the learnable nodes of Learned
// blocks (initialised from Init through the Transform's inverse) and the
// nodes mapping raw values to the solver's θ and φ. The solver itself is
// checked (bounds, settings, horizon) when Plan or Policy adds its node.
// A configuration it refuses leaves g as it was.
func NewILQR(g *G.ExprGraph, task models.Task, cfg ILQRConfig) (*ILQR, error) {
	// The layer is first built in a scratch graph, the external nodes
	// replaced by stand-ins of their dtype, shape and name, so that every
	// check has run before the first node is added to g.
	if g == nil {
		return nil, configErr("a graph is required")
	}
	scratch := G.NewGraph()
	dryCfg, stood := standIns(scratch, cfg)
	dry, err := newILQR(scratch, task, dryCfg)
	if err != nil {
		return nil, err
	}
	// The names the layer gives its nodes must be free in g too.
	for _, n := range scratch.AllNodes() {
		if name := n.Name(); !stood[n] && strings.HasPrefix(name, dry.prefix+".") && len(g.ByName(name)) > 0 {
			return nil, configErr("a node named %q is already in the graph: give the layer a distinct Name", name)
		}
	}
	return newILQR(g, task, cfg)
}

// standIns returns cfg with each node it names replaced by a node of s of
// the same dtype, shape and name, and the set of these stand-ins.
func standIns(s *G.ExprGraph, cfg ILQRConfig) (ILQRConfig, map[*G.Node]bool) {
	stood := map[*G.Node]bool{}
	stand := func(n *G.Node) *G.Node {
		if n == nil {
			return nil
		}
		var m *G.Node
		if n.Dims() == 0 {
			m = G.NewScalar(s, n.Dtype(), G.WithName(n.Name()))
		} else {
			m = G.NewTensor(s, n.Dtype(), n.Dims(), G.WithShape(n.Shape()...), G.WithName(n.Name()))
		}
		stood[m] = true
		return m
	}
	for _, p := range []*ParamSpec{&cfg.Theta, &cfg.Cost, &cfg.CostQ, &cfg.CostP, &cfg.Psi} {
		p.Node = stand(p.Node)
	}
	cfg.Lower, cfg.Upper = stand(cfg.Lower), stand(cfg.Upper)
	return cfg, stood
}

func newILQR(g *G.ExprGraph, task models.Task, cfg ILQRConfig) (*ILQR, error) {
	if task.Dynamics == nil || task.Cost == nil {
		return nil, configErr("ILQR: the task needs Dynamics and Cost")
	}
	if cfg.T < 1 || cfg.Batch < 1 {
		return nil, configErr("ILQR: horizon T=%d and Batch=%d must be at least 1", cfg.T, cfg.Batch)
	}
	p, err := newParams(g, cfg.Name, "ilqr", cfg.Dtype, "ILQR")
	if err != nil {
		return nil, err
	}
	if p.dtype != tensor.Float64 && cfg.Unrolled != nil {
		return nil, configErr("ILQR: the unrolled baseline is float64 only, Dtype is %v", p.dtype)
	}
	d := task.Dynamics.Dims()
	cd := task.Cost.Dims()
	if cd.N != d.N || cd.M != d.M {
		return nil, configErr("ILQR: cost %s is for N=%d M=%d, dynamics %s has N=%d M=%d",
			task.Cost.Name(), cd.N, cd.M, task.Dynamics.Name(), d.N, d.M)
	}
	l := &ILQR{params: p, cfg: cfg, dims: d, k: d.N + d.M, thetaLen: d.P}
	l.cfg.Theta.Init = slices.Clone(cfg.Theta.Init)
	l.cfg.Cost.Init = slices.Clone(cfg.Cost.Init)
	l.cfg.Psi.Init = slices.Clone(cfg.Psi.Init)
	l.prob = ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: slices.Clone(task.Lower),
		Upper: slices.Clone(task.Upper), Constraint: task.Constraint}, T: cfg.T}

	switch {
	case cfg.Theta.PerStep || cfg.Cost.PerStep:
		return nil, configErr("ILQR: PerStep is for the quad-blocks cost blocks and Psi, not Theta or Cost")
	case cfg.CostForm == QuadBlocks && cfg.Cost.given():
		return nil, configErr("ILQR: CostForm quad-blocks takes its cost as CostQ and CostP; leave Cost empty")
	case cfg.CostForm != QuadBlocks && (cfg.CostQ.given() || cfg.CostP.given()):
		return nil, configErr("ILQR: CostQ and CostP are for CostForm quad-blocks, the form is %v", cfg.CostForm)
	}
	switch cfg.CostForm {
	case NativeCost:
		l.costLen = cd.Q
	case GoalWeights:
		if _, ok := task.Cost.(*models.QuadCost); !ok {
			return nil, configErr("ILQR: CostForm goal needs a task with a *models.QuadCost, %s is %T (use NativeCost for a GoalCost)",
				task.Cost.Name(), task.Cost)
		}
		l.costLen = 2 * l.k
	case QuadBlocks:
		if err := l.quadBlocks(); err != nil {
			return nil, err
		}
	default:
		return nil, configErr("ILQR: unknown CostForm %v", cfg.CostForm)
	}
	if (cfg.Lower == nil) != (cfg.Upper == nil) {
		return nil, configErr("ILQR: give both Lower and Upper nodes, or neither")
	}
	if cfg.Lower != nil && cfg.Unrolled != nil {
		return nil, configErr("ILQR: the unrolled baseline takes the task's bounds only")
	}
	if l.theta, err = l.block(0, &l.cfg.Theta); err != nil {
		return nil, err
	}
	if cfg.CostForm != QuadBlocks {
		if l.phi, err = l.block(1, &l.cfg.Cost); err != nil {
			return nil, err
		}
	}
	if err := l.buildPsi(); err != nil {
		return nil, err
	}
	return l, nil
}

// quadBlocks builds the nodes of a QuadBlocks cost: Q as (…, K²) and p.
func (l *ILQR) quadBlocks() error {
	fq, ok := l.prob.Cost.(*models.FullQuadCost)
	if !ok {
		return configErr("ILQR: CostForm quad-blocks needs a task with a *models.FullQuadCost, %s is %T", l.prob.Cost.Name(), l.prob.Cost)
	}
	if l.cfg.Unrolled != nil {
		return configErr("ILQR: the unrolled baseline does not take a quad-blocks cost")
	}
	k := l.k
	def := fq.DefaultParams()
	var err error
	if l.costQ, err = l.costBlock("cost_Q", &l.cfg.CostQ, k*k, def[:k*k], true); err != nil {
		return err
	}
	l.costP, err = l.costBlock("cost_p", &l.cfg.CostP, k, def[k*k:], false)
	return err
}

// costBlock builds the node of one QuadBlocks block of width w, laid out
// (…, w): Fixed or Learned from Init (default def), or an External node,
// whose trailing K×K axes (matrix) are flattened.
func (l *ILQR) costBlock(name string, s *ParamSpec, w int, def []float64, matrix bool) (*G.Node, error) {
	bad := func(format string, args ...any) error {
		return configErr("ILQR: "+name+": "+format, args...)
	}
	if s.Transform != Identity {
		return nil, bad("quad-blocks costs take the Identity transform only")
	}
	b, t := l.cfg.Batch, l.cfg.T
	var lead []int
	if s.PerExample {
		lead = append(lead, b)
	}
	if s.PerStep {
		lead = append(lead, t)
	}
	shape := append(slices.Clone(lead), w)
	switch s.Source {
	case Fixed, Learned:
		if s.Node != nil {
			return nil, bad("Node is only for Source external")
		}
		init := s.Init
		rows := 1
		for _, d := range lead {
			rows *= d
		}
		if init == nil {
			init = tile(def, rows)
		} else if len(init) == w {
			init = tile(init, rows)
		}
		if len(init) != rows*w {
			return nil, bad("Init has length %d, want %d or %d", len(init), w, rows*w)
		}
		for j, v := range init {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, bad("Init[%d] is %v", j, v)
			}
		}
		if s.Source == Fixed {
			return inputNodeOf(l.g, l.prefix+"."+name, l.dtype, init, shape...)
		}
		return l.add(name+"_raw", init, shape...)
	case External:
		n := s.Node
		if n == nil {
			return nil, bad("Source external needs a Node")
		}
		if s.Init != nil {
			return nil, bad("Init is not used with Source external")
		}
		want := slices.Clone(lead)
		if matrix {
			want = append(want, l.k, l.k)
		} else {
			want = append(want, w)
		}
		if n.Dtype() != l.dtype || !slices.Equal(n.Shape(), want) {
			return nil, bad("node %s is %v of shape %v, want %v %v (PerExample %t, PerStep %t)",
				n.Name(), n.Dtype(), n.Shape(), l.dtype, want, s.PerExample, s.PerStep)
		}
		if matrix {
			return G.Reshape(n, shape)
		}
		return n, nil
	}
	return nil, bad("unknown Source %v", s.Source)
}

var blockNames = [2]string{"theta", "cost"}

// width returns the length K of block i and how many of its leading
// entries the Transform acts on.
func (l *ILQR) width(i int) (k, transformed int) {
	if i == 0 {
		return l.thetaLen, l.thetaLen
	}
	switch l.prob.Cost.(type) {
	case *models.QuadCost, *models.GoalCost: // also GoalWeights, which needs a QuadCost
		return l.costLen, l.k
	}
	return l.costLen, l.costLen
}

// defaults returns the nominal natural value of block i.
func (l *ILQR) defaults(i int) ([]float64, error) {
	if i == 0 {
		return l.prob.Dynamics.DefaultParams(), nil
	}
	phi := l.prob.Cost.DefaultParams()
	if l.cfg.CostForm != GoalWeights {
		return phi, nil
	}
	k := l.k
	out := make([]float64, 2*k)
	for j := 0; j < k; j++ {
		q, p := phi[j], phi[k+j]
		switch {
		case q > 0:
			out[j], out[k+j] = math.Sqrt(q/2), -p/q
		case q == 0 && p == 0:
		default:
			return nil, fmt.Errorf("the task's cost (q=%g, p=%g at entry %d) has no goal form: give Init", q, p, j)
		}
	}
	return out, nil
}

// block builds the node of block i (0: θ, 1: cost) in the solver's space.
func (l *ILQR) block(i int, s *ParamSpec) (*G.Node, error) {
	k, nt := l.width(i)
	b := l.cfg.Batch
	bad := func(format string, args ...any) error {
		return configErr("ILQR: "+blockNames[i]+": "+format, args...)
	}
	if !s.Transform.valid() {
		return nil, bad("unknown Transform %v", s.Transform)
	}
	switch s.Source {
	case Fixed, Learned:
		if s.Node != nil {
			return nil, bad("Node is only for Source external, the source is %v", s.Source)
		}
		init := s.Init
		if init == nil {
			def, err := l.defaults(i)
			if err != nil {
				return nil, bad("%v", err)
			}
			init = def
		}
		rows := 1
		if s.PerExample {
			rows = b
			if len(init) == k {
				init = tile(init, b)
			}
		}
		if len(init) != rows*k {
			want := fmt.Sprintf("%d", k)
			if s.PerExample {
				want = fmt.Sprintf("%d or B·%d=%d", k, k, b*k)
			}
			return nil, bad("Init has length %d, want %s", len(init), want)
		}
		for j, v := range init {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, bad("Init[%d] is %v", j, v)
			}
		}
		shape := []int{k}
		if s.PerExample {
			shape = []int{b, k}
		}
		if s.Source == Fixed {
			l.fixed[i] = slices.Clone(init)
			nat := slices.Clone(init)
			if i == 1 && l.cfg.CostForm == GoalWeights {
				nat = goalToQuad(nat, l.k)
			}
			n, err := inputNodeOf(l.g, l.prefix+"."+blockNames[i], l.dtype, nat, shape...)
			if err != nil {
				return nil, err
			}
			l.raw[i] = n
			return n, nil
		}
		raw := slices.Clone(init)
		for r := 0; r < rows; r++ {
			for j := 0; j < nt; j++ {
				v, err := s.Transform.inverseAs(l.dtype, raw[r*k+j])
				if err != nil {
					return nil, bad("Init[%d]: %v", r*k+j, err)
				}
				raw[r*k+j] = v
			}
		}
		n, err := l.add(blockNames[i]+"_raw", raw, shape...)
		if err != nil {
			return nil, err
		}
		l.raw[i] = n
	case External:
		if s.Node == nil {
			return nil, bad("Source external needs a Node")
		}
		if s.Init != nil || s.PerExample {
			return nil, bad("Init and PerExample are not used with Source external: the node's shape decides")
		}
		sh := s.Node.Shape()
		if s.Node.Dtype() != l.dtype || !(slices.Equal(sh, []int{k}) || slices.Equal(sh, []int{b, k})) {
			return nil, bad("node %s is %v of shape %v, want %v (%d) or (B=%d, %d)", s.Node.Name(), s.Node.Dtype(), sh, l.dtype, k, b, k)
		}
		l.raw[i] = s.Node
	default:
		return nil, bad("unknown Source %v", s.Source)
	}
	n, err := l.toSolver(i, l.raw[i], s.Transform, nt)
	if err != nil {
		return nil, fmt.Errorf("layer: ILQR: %s: %w", blockNames[i], err)
	}
	return n, nil
}

// toSolver maps the raw node of block i to the solver's space: the
// Transform on the first nt entries of each row, then, for a GoalWeights
// cost, (w, goal) ↦ (q, p) = (2w², −2w²⊙goal).
func (l *ILQR) toSolver(i int, raw *G.Node, t Transform, nt int) (*G.Node, error) {
	k := raw.Shape()[raw.Dims()-1]
	goal := i == 1 && l.cfg.CostForm == GoalWeights
	if (t == Identity || nt == 0) && !goal {
		return raw, nil
	}
	if nt == k && !goal {
		return t.node(raw)
	}
	axis := raw.Dims() - 1
	cols := func(lo, hi int) (*G.Node, error) {
		if axis == 0 {
			return G.Slice(raw, G.S(lo, hi))
		}
		return G.Slice(raw, nil, G.S(lo, hi))
	}
	a, err := cols(0, nt)
	if err != nil {
		return nil, err
	}
	rest, err := cols(nt, k)
	if err != nil {
		return nil, err
	}
	if a, err = t.node(a); err != nil {
		return nil, err
	}
	if goal {
		w2, err := G.Square(a)
		if err != nil {
			return nil, err
		}
		if a, err = G.Add(w2, w2); err != nil { // q = 2w²
			return nil, err
		}
		qg, err := G.HadamardProd(a, rest)
		if err != nil {
			return nil, err
		}
		if rest, err = G.Neg(qg); err != nil { // p = −2w²⊙goal
			return nil, err
		}
	}
	return G.Concat(axis, a, rest)
}

// goalToQuad maps rows (w, goal) of length 2k to (q, p) = (2w², −2w²⊙goal),
// with the same floating-point operations as the graph.
func goalToQuad(v []float64, k int) []float64 {
	out := make([]float64, len(v))
	for r := 0; r+2*k <= len(v); r += 2 * k {
		for j := 0; j < k; j++ {
			w2 := v[r+j] * v[r+j]
			q := w2 + w2
			out[r+j] = q
			out[r+k+j] = -(q * v[r+k+j])
		}
	}
	return out
}

func tile(v []float64, n int) []float64 {
	out := make([]float64, 0, n*len(v))
	for i := 0; i < n; i++ {
		out = append(out, v...)
	}
	return out
}

// Kind implements Layer: "ilqr".
func (l *ILQR) Kind() string { return "ilqr" }

// Describe implements Layer: the model, the cost and, for each learned
// block, its form and transform, e.g.
// "ilqr(pendulum(dt=0.05,umax=2),quad(n=3,m=1),theta_raw=softplus,cost_raw=goal/sigmoid)".
func (l *ILQR) Describe() string {
	s := fmt.Sprintf("ilqr(%s,%s", l.prob.Dynamics.Name(), l.prob.Cost.Name())
	if l.cfg.Theta.Source == Learned {
		s += ",theta_raw=" + l.cfg.Theta.Transform.String()
	}
	if l.cfg.CostForm == QuadBlocks {
		for _, b := range []struct {
			name string
			s    ParamSpec
		}{{"cost_Q", l.cfg.CostQ}, {"cost_p", l.cfg.CostP}} {
			if b.s.Source == Learned {
				s += fmt.Sprintf(",%s_raw=perExample:%t/perStep:%t", b.name, b.s.PerExample, b.s.PerStep)
			}
		}
	} else if l.cfg.Cost.Source == Learned {
		s += fmt.Sprintf(",cost_raw=%v/%v", l.cfg.CostForm, l.cfg.Cost.Transform)
	}
	if ps := l.cfg.Psi; ps.Source == Learned {
		s += fmt.Sprintf(",psi_raw=%s/%v/cols:%v/perExample:%t/perStep:%t", l.prob.Constraint.Name(),
			ps.Transform, l.psi.cols, ps.PerExample, ps.PerStep)
	}
	return s + ")"
}

// Problem returns the problem the layer solves (a copy).
func (l *ILQR) Problem() ilqr.Problem {
	p := l.prob
	p.Lower, p.Upper = slices.Clone(p.Lower), slices.Clone(p.Upper)
	return p
}

// Theta returns the node of θ as the solver receives it, (P) or (B, P).
func (l *ILQR) Theta() *G.Node { return l.theta }

// Phi returns the node of the solver's cost parameters φ, (Q) or (B, Q):
// for GoalWeights the mapped (q, p); nil for QuadBlocks (see CostBlocks).
func (l *ILQR) Phi() *G.Node { return l.phi }

// CostBlocks returns the nodes of a QuadBlocks cost: Q laid out (…, K²)
// and p (…, K); nil otherwise.
func (l *ILQR) CostBlocks() (q, p *G.Node) { return l.costQ, l.costP }

// ThetaValue returns the current natural value of θ (P, or B·P with
// PerExample) of a Fixed or Learned block, computed from the raw node's
// value in Go; an External block is an error (its value exists only while
// a machine runs).
func (l *ILQR) ThetaValue() ([]float64, error) { return l.value(0, l.cfg.Theta) }

// CostValue returns the current natural value of the cost block in the
// layer's CostForm (φ, or (w, goal) for GoalWeights), as ThetaValue does.
func (l *ILQR) CostValue() ([]float64, error) {
	if l.cfg.CostForm == QuadBlocks {
		return nil, fmt.Errorf("layer: ILQR: CostForm quad-blocks has no cost block: its cost is CostBlocks' Q and p")
	}
	return l.value(1, l.cfg.Cost)
}

func (l *ILQR) value(i int, s ParamSpec) ([]float64, error) {
	if s.Source == External {
		return nil, fmt.Errorf("layer: ILQR: %s comes from the external node %s", blockNames[i], s.Node.Name())
	}
	if s.Source == Fixed {
		return slices.Clone(l.fixed[i]), nil
	}
	v, err := nodeData(Param{Name: blockNames[i], Node: l.raw[i]})
	if err != nil {
		return nil, fmt.Errorf("layer: ILQR: %w", err)
	}
	v = slices.Clone(v)
	k, nt := l.width(i)
	for r := 0; r+k <= len(v); r += k {
		for j := 0; j < nt; j++ {
			v[r+j] = s.Transform.applyAs(l.dtype, v[r+j])
		}
	}
	return v, nil
}

// opConfig returns the op configuration of the layer.
func (l *ILQR) opConfig() op.OpConfig {
	return op.OpConfig{Problem: l.Problem(), Solver: l.cfg.Solver}
}

// Trajectory adds the planner's node for the initial states x0 (B, N) to
// the graph and returns it; its X and U parts are made only on request
// (see op.Trajectory: a LispMachine needs every unconsumed node to be a
// scalar, so make only the parts the loss uses). The same x0 gives the same
// node (unless WarmStart), so Plan and Policy on one x0 share one solve.
func (l *ILQR) Trajectory(x0 *G.Node) (*op.Trajectory, error) {
	if _, err := checkBatchMatrix(x0, l.dims.N, "ILQR x0"); err != nil {
		return nil, err
	}
	if b := x0.Shape()[0]; b != l.cfg.Batch {
		return nil, configErr("ILQR: x0 has batch %d, the layer was built for %d", b, l.cfg.Batch)
	}
	if err := checkDtype(x0, l.dtype, "ILQR x0"); err != nil {
		return nil, err
	}
	var tr *op.Trajectory
	var err error
	if u := l.cfg.Unrolled; u != nil {
		tr, err = unrolled.BuildTrajectory(x0, l.theta, l.phi,
			unrolled.Config{Problem: l.Problem(), Step: u.Step, Iters: u.Iters, Reg: u.Reg})
	} else {
		nodes := op.Nodes{X0: x0, Theta: l.theta, Cost: []op.CostNode{{Node: l.phi}},
			Lower: l.cfg.Lower, Upper: l.cfg.Upper, Psi: l.psi.node, PsiPerStep: l.psi.node != nil && l.cfg.Psi.PerStep}
		if l.cfg.CostForm == QuadBlocks {
			nodes.Cost = []op.CostNode{{Node: l.costQ, PerStep: l.cfg.CostQ.PerStep},
				{Node: l.costP, PerStep: l.cfg.CostP.PerStep}}
		}
		tr, err = op.Plan(nodes, l.opConfig())
	}
	if err != nil {
		return nil, fmt.Errorf("layer: ILQR: %w", err)
	}
	l.last = tr
	return tr, nil
}

// Plan adds the planner for x0 (B, N) to the graph and returns the optimal
// states X (B, T, N) and controls U (B, T, M).
func (l *ILQR) Plan(x0 *G.Node) (x, u *G.Node, err error) {
	tr, err := l.Trajectory(x0)
	if err != nil {
		return nil, nil, err
	}
	b, t := l.cfg.Batch, l.cfg.T
	if x, err = tr.X(); err != nil {
		return nil, nil, err
	}
	if x, err = reshapeTo(x, b, t, l.dims.N); err != nil {
		return nil, nil, err
	}
	if u, err = tr.U(); err != nil {
		return nil, nil, err
	}
	if u, err = reshapeTo(u, b, t, l.dims.M); err != nil {
		return nil, nil, err
	}
	return x, u, nil
}

// Policy is the planner as an MPC policy: it returns the first control u_0
// (B, M) of the optimal plan from x0 (B, N). Applying it, stepping the
// system and planning again from the new state is model-predictive control.
func (l *ILQR) Policy(x0 *G.Node) (*G.Node, error) {
	tr, err := l.Trajectory(x0)
	if err != nil {
		return nil, err
	}
	n, m := l.dims.N, l.dims.M
	u0, err := G.Slice(tr.Packed, nil, G.S(0), G.S(n, n+m))
	if err != nil {
		return nil, fmt.Errorf("layer: ILQR policy: %w", err)
	}
	if u0, err = reshapeTo(u0, l.cfg.Batch, m); err != nil {
		return nil, err
	}
	return op.Cast(u0, l.dtype) // Packed is float64; u0 itself for a Float64 layer
}

// Stats returns the per-example solver status (status, iterations, final
// projected-gradient norm, and after a backward pass the gradient status)
// of the most recent run of the node added by the latest Trajectory, Plan
// or Policy call; empty before any run.
func (l *ILQR) Stats() op.Stats {
	if l.last == nil || l.last.Op == nil {
		return op.Stats{}
	}
	return l.last.Op.Stats()
}

// Save writes the layer's learned parameters to path (see SaveLayers).
func (l *ILQR) Save(path string) error { return SaveLayers(path, l) }

// Load reads the layer's learned parameters from path (see LoadLayers).
func (l *ILQR) Load(path string) error { return LoadLayers(path, l) }

// psiBlock is the layer's view of the constraint parameters ψ.
type psiBlock struct {
	node  *G.Node   // ψ as the planner receives it; nil: the constraint's defaults
	raw   *G.Node   // the Learned or External node
	init  []float64 // Fixed and Learned: the natural rows (Learned: the fixed columns' values)
	cols  []int     // Learned: the learned columns
	r     int       // R
	shape []int     // the shape of ψ's node
}

// buildPsi builds the node of the constraint parameters ψ in the solver's
// space (see ILQRConfig.Psi), or none for the constraint's defaults.
func (l *ILQR) buildPsi() error {
	s := &l.cfg.Psi
	bad := func(format string, args ...any) error {
		return configErr("ILQR: psi: "+format, args...)
	}
	con := l.prob.Constraint
	given := s.given()
	if con == nil {
		if given {
			return bad("the task has no path constraint")
		}
		return nil
	}
	if l.cfg.Unrolled != nil {
		return configErr("ILQR: the unrolled baseline does not take a path constraint (%s)", con.Name())
	}
	if !s.Transform.valid() {
		return bad("unknown Transform %v", s.Transform)
	}
	r := con.Dims().R
	l.psi.r = r
	if r == 0 {
		if given {
			return bad("%s has no parameters", con.Name())
		}
		return nil
	}
	var lead []int
	if s.PerExample {
		lead = append(lead, l.cfg.Batch)
	}
	if s.PerStep {
		lead = append(lead, l.cfg.T)
	}
	rows := 1
	for _, d := range lead {
		rows *= d
	}
	l.psi.shape = append(slices.Clone(lead), r)
	switch s.Source {
	case Fixed, Learned:
		if s.Node != nil {
			return bad("Node is only for Source external, the source is %v", s.Source)
		}
		init := s.Init
		if init == nil {
			init = con.DefaultParams()
		}
		if len(init) == r {
			init = tile(init, rows)
		}
		if len(init) != rows*r {
			return bad("Init has length %d, want %d or %d", len(init), r, rows*r)
		}
		if err := checkPsiRows(con, init, r); err != nil {
			return bad("Init: %v", err)
		}
		l.psi.init = init
		if s.Source == Learned {
			return l.learnPsi(s.Transform, lead, rows)
		}
		if s.Init == nil && rows == 1 {
			return nil // the planner's default ψ
		}
		n, err := inputNodeOf(l.g, l.prefix+".psi", l.dtype, init, l.psi.shape...)
		l.psi.node = n
		return err
	case External:
		n := s.Node
		if n == nil {
			return bad("Source external needs a Node")
		}
		if s.Init != nil {
			return bad("Init is not used with Source external")
		}
		if n.Dtype() != l.dtype || !slices.Equal(n.Shape(), l.psi.shape) {
			return bad("node %s is %v of shape %v, want %v %v (PerExample %t, PerStep %t)",
				n.Name(), n.Dtype(), n.Shape(), l.dtype, tensor.Shape(l.psi.shape), s.PerExample, s.PerStep)
		}
		l.psi.raw = n
		nat, err := s.Transform.node(n)
		if err != nil {
			return fmt.Errorf("layer: ILQR: psi: %w", err)
		}
		l.psi.node = nat
		return nil
	}
	return bad("unknown Source %v", s.Source)
}

// checkPsiRows checks rows of r constraint parameters: no NaN, and each
// row within the constraint's domain where it has one
// (models.ParamChecker: e.g. lower ≤ upper for StateBounds).
func checkPsiRows(con models.Constraint, v []float64, r int) error {
	pc, ok := con.(models.ParamChecker)
	for i := 0; i < len(v); i += r {
		row := v[i : i+r]
		for j, x := range row {
			if math.IsNaN(x) {
				return fmt.Errorf("entry %d is NaN", i+j)
			}
		}
		if ok {
			if err := pc.CheckParams(row); err != nil {
				return fmt.Errorf("row %d: %w", i/r, err)
			}
		}
	}
	return nil
}

// learnPsi makes the learnable node psi_raw of the finite columns of
// l.psi.init (rows of R, the leading axes lead) and the planner's ψ:
// Transform(psi_raw) with the infinite columns put back as constants,
// ψ = Transform(psi_raw)·S + F, S selecting the learned columns and F
// holding the infinite entries (zero elsewhere).
func (l *ILQR) learnPsi(t Transform, lead []int, rows int) error {
	bad := func(format string, args ...any) error {
		return configErr("ILQR: psi: "+format, args...)
	}
	r, init := l.psi.r, l.psi.init
	l.psi.cols = nil
	for j := 0; j < r; j++ {
		inf := 0
		for i := 0; i < rows; i++ {
			if math.IsInf(init[i*r+j], 0) {
				inf++
			}
		}
		switch inf {
		case 0:
			l.psi.cols = append(l.psi.cols, j)
		case rows:
		default:
			return bad("Init: entry %d is infinite in some rows and finite in others", j)
		}
	}
	nf := len(l.psi.cols)
	if nf == 0 {
		return bad("Init has no finite entry to learn")
	}
	raw := make([]float64, 0, rows*nf)
	for i := 0; i < rows; i++ {
		for _, j := range l.psi.cols {
			v, err := t.inverseAs(l.dtype, init[i*r+j])
			if err != nil {
				return bad("Init[%d]: %v", i*r+j, err)
			}
			raw = append(raw, v)
		}
	}
	n, err := l.add("psi_raw", raw, append(slices.Clone(lead), nf)...)
	if err != nil {
		return err
	}
	l.psi.raw = n
	nat, err := t.node(n)
	if err == nil && nf < r {
		nat, err = l.scatterPsi(nat, rows)
	}
	if err != nil {
		return fmt.Errorf("layer: ILQR: psi: %w", err)
	}
	l.psi.node = nat
	return nil
}

// scatterPsi returns ψ (shape l.psi.shape) from nat, its learned columns
// ((…, R') natural values): (nat as rows×R')·S + F.
func (l *ILQR) scatterPsi(nat *G.Node, rows int) (*G.Node, error) {
	r, cols := l.psi.r, l.psi.cols
	sel := make([]float64, len(cols)*r)
	for k, j := range cols {
		sel[k*r+j] = 1
	}
	fixed := make([]float64, rows*r)
	for i, v := range l.psi.init {
		if math.IsInf(v, 0) {
			fixed[i] = v
		}
	}
	sn, err := inputNodeOf(l.g, l.prefix+".psi_select", l.dtype, sel, len(cols), r)
	if err != nil {
		return nil, err
	}
	fn, err := inputNodeOf(l.g, l.prefix+".psi_fixed", l.dtype, fixed, rows, r)
	if err != nil {
		return nil, err
	}
	flat, err := reshapeTo(nat, rows, len(cols))
	if err != nil {
		return nil, err
	}
	prod, err := G.Mul(flat, sn)
	if err != nil {
		return nil, err
	}
	sum, err := G.Add(prod, fn)
	if err != nil {
		return nil, err
	}
	return reshapeTo(sum, l.psi.shape...)
}

// Psi returns the node of the constraint parameters ψ as the planner
// receives it, (R), (B, R), (T, R) or (B, T, R); nil when the planner uses
// the constraint's defaults (and without a constraint).
func (l *ILQR) Psi() *G.Node { return l.psi.node }

// PsiValue returns the current natural value of ψ of a Fixed or Learned
// block, its rows laid out as ILQRConfig.Psi's Init (R, or B, T or B·T
// rows of R), computed from the raw node's value in Go; an External block
// is an error, and a task without a constraint gives nil.
func (l *ILQR) PsiValue() ([]float64, error) {
	s := l.cfg.Psi
	switch {
	case l.prob.Constraint == nil:
		return nil, nil
	case s.Source == External:
		return nil, fmt.Errorf("layer: ILQR: psi comes from the external node %s", s.Node.Name())
	case s.Source == Fixed:
		return slices.Clone(l.psi.init), nil
	}
	v, err := nodeData(Param{Name: "psi_raw", Node: l.psi.raw})
	if err != nil {
		return nil, fmt.Errorf("layer: ILQR: %w", err)
	}
	out := slices.Clone(l.psi.init)
	nf := len(l.psi.cols)
	for i := 0; i*nf < len(v); i++ {
		for k, j := range l.psi.cols {
			out[i*l.psi.r+j] = s.Transform.applyAs(l.dtype, v[i*nf+k])
		}
	}
	return out, nil
}
