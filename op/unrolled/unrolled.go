package unrolled

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DefaultReg is the Levenberg–Marquardt regularization μ that
// Build adds to Q_uu when Config.Reg is zero: the solver's
// default RegMin.
const DefaultReg = 1e-6

// Config configures Build and BuildTrajectory.
type Config struct {
	// Problem fixes the model, the cost, the horizon T and the control
	// bounds, as for the solver. The cost must be a *models.QuadCost
	// (φ = (q, p), stage cost ½τᵀdiag(q)τ + pᵀτ) and the model must have
	// M = 1 control.
	Problem ilqr.Problem
	// Step is the model's generic step function instantiated for
	// GraphScalar, e.g. models.PendulumStep[unrolled.GraphScalar]. It must compute
	// the same function as Problem.Dynamics; Build checks this at one
	// point and returns an error when they differ.
	Step models.Step[GraphScalar]
	// Iters is the number of iLQR iterations built into the graph, ≥ 0.
	// Zero gives the rollout of the initial controls.
	Iters int
	// Reg is the fixed regularization μ added to Q_uu in every backward
	// pass. Zero means DefaultReg; it must be finite and not
	// negative (a value far below Q_uu's, such as 1e-300, acts as none).
	Reg float64
}

// Build adds Iters iterations of box-constrained iLQR, made of Gorgonia
// operations, to the graph of x0 and returns the packed trajectory node (B, T, N+M) of the last
// iterate, row t of example b being (x_t, u_t). It is the "AutoDiff"
// baseline of the DiLQR paper (Wang et al., Figure 2): differentiating the
// returned node with Gorgonia (G.Grad with a TapeMachine, or a LispMachine)
// backpropagates through every iteration, so the backward cost grows with
// Iters, unlike op.ILQR's implicit gradient, which it approaches as the
// iterations converge.
//
// Inputs, as for op.ILQR: x0 (B, N); theta (B, P) or shared (P); phi (B, Q) or
// shared (Q), Q = 2(N+M). Each may be a constant, an input or any upstream
// node of one graph; gradients flow to all of them.
//
// The iterations start from zero controls projected onto the bounds and
// simulate them; each iteration then, in graph operations batched over the
// examples,
//
//  1. linearizes the dynamics along the current trajectory: one evaluation
//     of cfg.Step on GraphScalars whose derivative parts are the K = N+M
//     unit directions, for all T−1 steps and B examples at once, gives
//     [∂f/∂x ∂f/∂u] (forward-mode AD inside the graph);
//  2. quadratizes the cost: ∇g = q⊙τ + p, ∇²g = diag(q);
//  3. runs the backward Riccati pass with Q_uu + μ (μ = Reg, fixed), where
//     the box QP of the one control is solved in closed form,
//     k = clamp(u − Q_u/(Q_uu+μ), lo, hi) − u, with the feedback gain
//     K = −Q_ux/(Q_uu+μ) zeroed where that clamp is active (as the solver's
//     box QP does for M = 1), and the value function updated with the
//     unregularized Q_uu as in the solver;
//  4. rolls out u ← clamp(u + k + K(x̂ − x), lo, hi) with the FULL step
//     α = 1.
//
// Differences from ilqr.Solver, all deliberate so that the graph does not depend
// on the data: no line search (α = 1 always), no regularization schedule (μ
// fixed), no convergence test (exactly Iters iterations). Where the solver
// would need a shorter step or a larger μ (far from the optimum, Q_uu + μ
// not positive), these iterations may diverge; near a solution they
// converge to the same fixed point, and the output and its derivatives then
// match the solver's solution and its exact implicit gradient.
//
// A control fed to a clamp that is NaN or ±Inf (a non-finite input, or
// diverging iterations) stops the run with an error instead of
// propagating. Before a LispMachine runs such a graph, call Forward: a
// LispMachine run that fails leaks a goroutine and races (see Forward).
//
// The output depends on every input except θ when T = 1 (no dynamics step)
// and φ without iterations (no cost is evaluated); Build ties those into
// the output with a zero derivative, so that both machines run and their
// gradients are zero.
//
// Restrictions: M = 1 control; *models.QuadCost.
//
// Cost. Each iteration adds about 50 nodes per time step for the pendulum
// (one linearization of all steps at once, then per step a Riccati update
// and a forward step), so the graph grows like T·Iters. Two properties of
// Gorgonia v0.9.18 then dominate (measured in the package's
// TestMeasure and BenchmarkUnrolled):
//
//   - building would cost O(n²) in the node count n, as Gorgonia looks up
//     every new node by a linear scan of the graph (graph.go:536,
//     ExprGraph.node); Build keeps Gorgonia's ID index filled ahead
//     (graphIndex), so its own nodes are added in O(1) each (1.6 s for
//     the 150,000 nodes of the pendulum at T = 10, 300 iterations, B =
//     20), and leaves in that index only what Gorgonia would have put
//     there itself; the nodes that G.Grad adds later still pay the scan;
//   - compiling for a TapeMachine also costs O(n²) (compile.go:524,
//     codegenerator.insertFree scans all registers per read), so a
//     TapeMachine is practical up to a few tens of thousands of nodes. The
//     LispMachine needs no compile and runs forward and backward in time
//     linear in n, but it leaves derivative state on the nodes (run each
//     graph on one LispMachine only), it leaks a goroutine after a failed
//     run (so check with Forward first), and its derivatives of several
//     elementwise Ops (division, inverse, tanh) are wrong for
//     single-element tensors, which B = 1 produces: use the TapeMachine
//     for B = 1.
//
// Correctness safeguards against Gorgonia's hashing. Gorgonia identifies
// nodes by 32-bit structural hashes in two places: ExprGraph merges a new
// node into an existing one with an equal hash and the same op, type and
// shape without comparing children, and the TapeMachine's compile-time
// common-subexpression elimination treats any two nodes with equal hashes
// as one value (see HashCollisions). Both silently compute something else
// once graphs reach tens of thousands of nodes. Build therefore wraps
// every Op it applies, Gorgonia's own included, in a salted wrapper that
// changes only its hash (so no two of its nodes can be merged), picks each
// salt so that the new node's hash is not yet in the graph, and verifies
// each node's children. Gradient nodes that G.Grad adds are Gorgonia's and
// are not protected: call HashCollisions before running such a graph on a
// TapeMachine. Gorgonia's Reshape and Concat give wrong gradients on the
// LispMachine (their DoDiffs overwrite the input's gradient, and always
// slice axis 0), so Build uses small Ops of its own for reshaping,
// concatenating and slicing, with Clamp, Atan2 and two row-wise products
// (unrolled_ops.go).
func Build(x0, theta, phi *G.Node, cfg Config) (out *G.Node, err error) {
	defer recoverErr(&err)
	b, err := newBuilder(x0, theta, phi, cfg)
	if err != nil {
		return nil, err
	}
	b.index = newGraphIndex(b.g)
	defer b.index.release() // on success, error and panic alike
	out = b.build()
	if b.err != nil {
		return nil, b.err
	}
	return out, nil
}

// BuildTrajectory is Build wrapped as a Trajectory, so that code
// written for op.ILQR's X and U nodes runs unchanged on the unrolled baseline.
// Its Op is nil: the unrolled iterations have no solver status.
func BuildTrajectory(x0, theta, phi *G.Node, cfg Config) (*op.Trajectory, error) {
	out, err := Build(x0, theta, phi, cfg)
	if err != nil {
		return nil, err
	}
	d := cfg.Problem.Dynamics.Dims()
	return op.NewTrajectory(out, d.N, d.M)
}

// builder builds one unrolled graph.
//
// Layout: every per-example quantity keeps the batch on axis 0 and is
// rank 3, so the batched matrix products need no reshapes: a scalar per
// example is (B,1,1), a row vector (B,1,N), a column vector (B,N,1), a
// matrix (B,N,N). GraphScalars are (rows,1,1) with derivative parts
// (rows,1,K), rows = B in a rollout and R = (T−1)·B in a linearization.
type builder struct {
	g              *G.ExprGraph
	step           models.Step[GraphScalar]
	iters          int
	mu             float64
	bs, t, n, m, p int // batch, horizon, state, control, parameter sizes
	k, r           int // N+M and (T−1)·B
	lo, hi         []float64
	err            error
	consts         map[string]*G.Node
	ops            map[string]G.Op     // Gorgonia's Ops by constructor, types and shapes
	probe          *G.ExprGraph        // where they are made
	hashes         map[uint32]struct{} // node hashes in the graph
	hashMisses     int                 // nodes whose hash nodeHash mispredicted
	memo           map[string]*G.Node  // nodes by Op and children
	index          *graphIndex         // keeps node lookups O(1); set by Build
	x0, theta, phi *G.Node
	thetaShared    bool
	phiShared      bool

	// Per-graph nodes, made on first use (see setup).
	x0v            *G.Node   // x0 as (B,1,N)
	x0c            []*G.Node // x0 entries (B,1,1)
	thetaC         []*G.Node // θ columns (B,1)
	thetaB, thetaR []*G.Node // θ entries (B,1,1) and tiled over time (R,1,1)
	phiB           *G.Node   // φ per example (B,Q)
	qx, px         *G.Node   // cost q and p, state parts (B,1,N)
	qu, pu         *G.Node   // cost q and p, control parts (B,1,1)
	diagQx         *G.Node   // diag(q_x), (B,N,N)
}

// traj is one iterate, per time step: the state as a row (B,1,N) and as
// N entries (B,1,1), and the control (B,1,1).
type traj struct {
	xv []*G.Node
	xc [][]*G.Node
	u  []*G.Node
}

func (b *builder) fail(err error) {
	if b != nil && b.err == nil {
		b.err = err
	}
}

func (b *builder) col(rows int) tensor.Shape { return tensor.Shape{rows, 1, 1} }

func newBuilder(x0, theta, phi *G.Node, cfg Config) (*builder, error) {
	if x0 == nil || theta == nil || phi == nil {
		return nil, badInput("x0, theta and phi nodes are required")
	}
	if cfg.Step == nil {
		return nil, badInput("Config.Step is required")
	}
	if cfg.Iters < 0 {
		return nil, badInput("Iters %d < 0", cfg.Iters)
	}
	if cfg.Problem.Constraint != nil {
		return nil, badInput("the unrolled iterations take no path constraint (%s); use op.Plan", cfg.Problem.Constraint.Name())
	}
	mu := cfg.Reg
	if mu == 0 {
		mu = DefaultReg
	}
	if math.IsNaN(mu) || math.IsInf(mu, 0) || mu < 0 {
		return nil, badInput("Reg %g must be finite and non-negative", cfg.Reg)
	}
	sv, err := ilqr.NewSolver(cfg.Problem, &ilqr.Settings{Workers: 1})
	if err != nil {
		return nil, err
	}
	d := sv.Dims()
	bounds := sv.Problem() // bounds expanded to T·M
	if d.M != 1 {
		return nil, badInput("%s has M=%d controls; only M=1 is supported", cfg.Problem.Dynamics.Name(), d.M)
	}
	if _, ok := cfg.Problem.Cost.(*models.QuadCost); !ok {
		return nil, badInput("cost %s is not a *models.QuadCost", cfg.Problem.Cost.Name())
	}
	g := x0.Graph()
	if g == nil || theta.Graph() != g || phi.Graph() != g {
		return nil, badInput("x0, theta and phi must belong to one graph")
	}
	for _, in := range []struct {
		n    *G.Node
		name string
	}{{x0, "x0"}, {theta, "theta"}, {phi, "phi"}} {
		if in.n.Dtype() != tensor.Float64 {
			return nil, badInput("%s has dtype %v, want float64", in.name, in.n.Dtype())
		}
	}
	xs := x0.Shape()
	if len(xs) != 2 || xs[0] < 1 || xs[1] != d.N {
		return nil, badInput("x0 has shape %v, want (B, %d)", xs, d.N)
	}
	bs := xs[0]
	nq := cfg.Problem.Cost.Dims().Q
	thetaShared, err := paramShape("theta", theta.Shape(), bs, d.P)
	if err != nil {
		return nil, err
	}
	phiShared, err := paramShape("phi", phi.Shape(), bs, nq)
	if err != nil {
		return nil, err
	}
	if err := checkStep(cfg.Step, cfg.Problem.Dynamics, bounds.Lower[:d.M], bounds.Upper[:d.M]); err != nil {
		return nil, err
	}
	t := cfg.Problem.T
	return &builder{
		g: g, step: cfg.Step, iters: cfg.Iters, mu: mu,
		bs: bs, t: t, n: d.N, m: d.M, p: d.P, k: d.N + d.M, r: (t - 1) * bs,
		lo: bounds.Lower, hi: bounds.Upper,
		consts: make(map[string]*G.Node),
		x0:     x0, theta: theta, phi: phi, thetaShared: thetaShared, phiShared: phiShared,
	}, nil
}

// paramShape checks a parameter node's shape, (B, k) or shared (k), and
// reports whether it is shared.
func paramShape(name string, s tensor.Shape, bs, k int) (bool, error) {
	switch {
	case len(s) == 1 && s[0] == k:
		return true, nil
	case len(s) == 2 && s[0] == bs && s[1] == k:
		return false, nil
	}
	return false, badInput("%s has shape %v, want (%d) or (%d, %d)", name, s, k, bs, k)
}

// checkStep evaluates step on constants (plain float64 arithmetic) and
// the model's own evaluator at one point with the default parameters, and
// reports an error unless they agree.
func checkStep(step models.Step[GraphScalar], dyn models.Dynamics, lo, hi []float64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = badInput("Step panicked on %s's dimensions: %v", dyn.Name(), r)
		}
	}()
	d := dyn.Dims()
	x := make([]float64, d.N)
	for i := range x {
		x[i] = 0.1 * float64(i+1) * float64(1-2*(i%2)) // small, mixed signs
	}
	u := make([]float64, d.M)
	for i := range u {
		u[i] = 0.3
		if !math.IsInf(lo[i], 0) && !math.IsInf(hi[i], 0) {
			u[i] = 0.25*lo[i] + 0.75*hi[i]
		}
	}
	th := dyn.DefaultParams()
	want := make([]float64, d.N)
	dyn.NewEvaluator().Step(want, x, u, th)
	gx, gu, gt := constScalars(x), constScalars(u), constScalars(th)
	next := make([]GraphScalar, d.N)
	step(next, gx, gu, gt)
	for i, w := range want {
		got := next[i].Value()
		if !next[i].isConst() {
			return badInput("Step made a graph node from constants")
		}
		if !(math.Abs(got-w) <= 1e-9*(1+math.Abs(w))) && !(math.IsNaN(got) && math.IsNaN(w)) {
			return badInput("Step differs from %s at a test point: next[%d] = %g, want %g",
				dyn.Name(), i, got, w)
		}
	}
	return nil
}

func constScalars(v []float64) []GraphScalar {
	out := make([]GraphScalar, len(v))
	for i, x := range v {
		out[i] = GraphScalar{c: x}
	}
	return out
}

// build adds the whole unrolled computation and returns the packed output.
func (b *builder) build() *G.Node {
	b.setup()
	u0 := make([]*G.Node, b.t)
	for t := range u0 {
		u0[t] = b.filled(b.col(b.bs), clamp(0, b.lo[t], b.hi[t]))
	}
	tr := b.rollout(u0, nil, nil)
	for range b.iters {
		if b.err != nil {
			return nil
		}
		f := b.linearize(tr)
		uc, gains := b.backward(tr, f)
		tr = b.rollout(uc, gains, tr)
	}
	taus := make([]*G.Node, b.t)
	for t := range taus {
		taus[t] = b.concat(2, tr.xv[t], tr.u[t]) // (B,1,K)
	}
	return b.tieUnused(b.concat(1, taus...)) // (B,T,K)
}

// tieUnused ties θ and φ into out when nothing else consumes them (θ at
// T = 1 or for a step that ignores it, φ without iterations), so that the
// graph has no input without consumers, which the LispMachine would take
// for a non-scalar cost; their derivative is zero.
func (b *builder) tieUnused(out *G.Node) *G.Node {
	xs := []*G.Node{out}
	if !slices.ContainsFunc(b.thetaC, func(n *G.Node) bool { return n != nil }) {
		xs = append(xs, b.theta)
	}
	if b.phiB == nil {
		xs = append(xs, b.phi)
	}
	if len(xs) == 1 {
		return out
	}
	return b.apply(newTieOp(len(xs)), xs...)
}

// setup makes x0 as a row (B,1,N). The other per-graph nodes are made on
// first use by the accessors below: a node that nothing consumes would be
// a root of the graph, which the LispMachine rejects unless it is the
// scalar loss.
func (b *builder) setup() {
	b.x0v = b.reshape(b.x0, tensor.Shape{b.bs, 1, b.n})
}

// x0Entries returns the entries of x0, (B,1,1) each.
func (b *builder) x0Entries() []*G.Node {
	if b.x0c == nil {
		b.x0c = make([]*G.Node, b.n)
		for j := range b.n {
			b.x0c[j] = b.slice(b.x0v, 2, j, j+1)
		}
	}
	return b.x0c
}

// The entries of θ are made one by one on first use, so that a parameter
// the step does not use (or whose derivative it does not need) leaves no
// node without consumers: the LispMachine takes every such node for a cost
// to differentiate.

// thetaCol returns column j of θ as a (B,1) matrix.
func (b *builder) thetaCol(j int) *G.Node {
	if b.thetaC == nil {
		b.thetaC = make([]*G.Node, b.p)
	}
	if b.thetaC[j] == nil {
		thB := b.perExample(b.theta, b.thetaShared, b.p)
		b.thetaC[j] = b.slice(thB, 1, j, j+1)
	}
	return b.thetaC[j]
}

// thetaRow returns entry j of θ for a rollout, (B,1,1).
func (b *builder) thetaRow(j int) *G.Node {
	if b.thetaB == nil {
		b.thetaB = make([]*G.Node, b.p)
	}
	if b.thetaB[j] == nil {
		b.thetaB[j] = b.reshape(b.thetaCol(j), b.col(b.bs))
	}
	return b.thetaB[j]
}

// thetaTiled returns entry j of θ repeated for the T−1 steps of a
// linearization, (R,1,1).
func (b *builder) thetaTiled(j int) *G.Node {
	if b.thetaR == nil {
		b.thetaR = make([]*G.Node, b.p)
	}
	if b.thetaR[j] == nil {
		bs := b.bs
		tile := b.constTensor(fmt.Sprintf("unrolled.tile(%d,%d)", b.r, bs), tensor.Shape{b.r, bs},
			func(i, j int) float64 { return b01(i%bs == j) })
		b.thetaR[j] = b.reshape(b.matmul(tile, b.thetaCol(j)), b.col(b.r))
	}
	return b.thetaR[j]
}

// costParams returns the parts of φ = (q, p): q and p for the state as
// rows (B,1,N), for the control as (B,1,1), and diag(q_x) (B,N,N), made on
// first use (the state parts only when asked for).
func (b *builder) costParams(state bool) (qx, px, qu, pu, diagQx *G.Node) {
	bs, n, k := b.bs, b.n, b.k
	if b.phiB == nil {
		b.phiB = b.perExample(b.phi, b.phiShared, 2*k)
	}
	if b.qu == nil {
		b.qu = b.reshape(b.slice(b.phiB, 1, n, k), b.col(bs))
		b.pu = b.reshape(b.slice(b.phiB, 1, k+n, 2*k), b.col(bs))
	}
	if state && b.qx == nil {
		q := b.slice(b.phiB, 1, 0, n) // (B,N)
		b.qx = b.reshape(q, tensor.Shape{bs, 1, n})
		b.px = b.reshape(b.slice(b.phiB, 1, k, k+n), tensor.Shape{bs, 1, n})
		diag := b.constTensor(fmt.Sprintf("unrolled.diag(%d)", n), tensor.Shape{n, n * n},
			func(i, j int) float64 { return b01(j == i*n+i) })
		b.diagQx = b.reshape(b.matmul(q, diag), tensor.Shape{bs, n, n})
	}
	return b.qx, b.px, b.qu, b.pu, b.diagQx
}

// seed returns the unit direction j of the K inputs, (R,1,K).
func (b *builder) seed(j int) *G.Node {
	return b.constTensor(fmt.Sprintf("unrolled.seed(%d,%d,%d)", b.r, b.k, j), tensor.Shape{b.r, 1, b.k},
		func(_, c int) float64 { return b01(c == j) })
}

func b01(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// perExample returns a (B, k) node for a shared (k) or per-example (B, k)
// parameter node.
func (b *builder) perExample(v *G.Node, shared bool, k int) *G.Node {
	if !shared {
		return v
	}
	row := b.reshape(v, tensor.Shape{1, k})
	return b.matmul(b.filled(tensor.Shape{b.bs, 1}, 1), row)
}

// stepValues evaluates the model's step on B rows, values only.
func (b *builder) stepValues(x []*G.Node, u *G.Node) []*G.Node {
	if b.err != nil {
		return nil
	}
	xs := make([]GraphScalar, b.n)
	for i, v := range x {
		xs[i] = leafScalar(b, v, nil, b.bs)
	}
	us := []GraphScalar{leafScalar(b, u, nil, b.bs)}
	ths := make([]GraphScalar, b.p)
	for i := range ths {
		ths[i] = lazyLeaf(b, func() *G.Node { return b.thetaRow(i) }, nil, b.bs)
	}
	next := make([]GraphScalar, b.n)
	b.callStep(next, xs, us, ths)
	out := make([]*G.Node, b.n)
	for i, s := range next {
		out[i] = b.value(s, b.bs)
	}
	return out
}

// callStep runs the user's step, turning a panic into an error.
func (b *builder) callStep(next, x, u, th []GraphScalar) {
	defer func() {
		if r := recover(); r != nil {
			b.fail(fmt.Errorf("unrolled: Step panicked: %v", r))
		}
	}()
	b.step(next, x, u, th)
}

// rollout simulates from x0. Without gains it applies the controls u as
// they are; with gains it is the forward pass of an iteration from the
// previous iterate prev: u_t ← clamp(uc_t + K_t(x̂_t − x_t)), where uc_t
// already holds clamp(u_t + k_raw), and K_t is nil where it is zero.
func (b *builder) rollout(u []*G.Node, gains []*G.Node, prev *traj) *traj {
	tr := &traj{xv: make([]*G.Node, b.t), xc: make([][]*G.Node, b.t), u: make([]*G.Node, b.t)}
	tr.xv[0] = b.x0v
	if b.t > 1 {
		tr.xc[0] = b.x0Entries()
	}
	for t := range b.t {
		if b.err != nil {
			return tr
		}
		tr.u[t] = u[t]
		if gains != nil && gains[t] != nil {
			dx := b.sub(tr.xv[t], prev.xv[t])
			v := b.add(u[t], b.apply(newRowDotOp(), gains[t], dx))
			tr.u[t] = b.apply(newClampOp(b.lo[t], b.hi[t]), v)
		}
		if t < b.t-1 {
			tr.xc[t+1] = b.stepValues(tr.xc[t], tr.u[t])
			tr.xv[t+1] = b.concat(2, tr.xc[t+1]...)
		}
	}
	return tr
}

// stepJac holds the dynamics Jacobians at one time step: fx (B,N,N) (nil at
// t = 0) and fu (B,N,1) (the single control's column).
type stepJac struct{ fx, fu *G.Node }

// linearize returns the dynamics Jacobians at steps 0..T−2 of tr, from one
// derivative-carrying evaluation of the step on all R = (T−1)·B rows.
func (b *builder) linearize(tr *traj) []stepJac {
	if b.t < 2 || b.err != nil {
		return nil
	}
	stack := func(f func(t int) *G.Node) *G.Node { // steps 0..T−2 along axis 0
		parts := make([]*G.Node, b.t-1)
		for t := range parts {
			parts[t] = f(t)
		}
		return b.concat(0, parts...)
	}
	// Leaves are made on first use (see thetaCol): a state entry that the
	// step uses only linearly, or not at all, needs no stacked values.
	xs := make([]GraphScalar, b.n)
	for j := range b.n {
		xs[j] = lazyLeaf(b, func() *G.Node { return stack(func(t int) *G.Node { return tr.xc[t][j] }) },
			func() *G.Node { return b.seed(j) }, b.r)
	}
	us := []GraphScalar{lazyLeaf(b, func() *G.Node { return stack(func(t int) *G.Node { return tr.u[t] }) },
		func() *G.Node { return b.seed(b.n) }, b.r)}
	ths := make([]GraphScalar, b.p)
	for i := range ths {
		ths[i] = lazyLeaf(b, func() *G.Node { return b.thetaTiled(i) }, nil, b.r)
	}
	next := make([]GraphScalar, b.n)
	b.callStep(next, xs, us, ths)
	rows := make([]*G.Node, b.n) // row i of [f_x f_u], (R,1,K) each
	for i, s := range next {
		rows[i] = b.deriv(s, b.r)
	}
	jac := b.concat(1, rows...) // (R,N,K)
	ju := b.slice(jac, 2, b.n, b.k)
	var jx *G.Node
	if b.t > 2 { // the backward pass needs f_x only where it updates V: t ≥ 1
		jx = b.slice(jac, 2, 0, b.n)
	}
	f := make([]stepJac, b.t-1)
	for t := range f {
		f[t].fu = b.slice(ju, 0, t*b.bs, (t+1)*b.bs)
		if t > 0 {
			f[t].fx = b.slice(jx, 0, t*b.bs, (t+1)*b.bs)
		}
	}
	return f
}

// backward runs the Riccati recursion along tr with Jacobians f. It
// returns, per step, uc_t = clamp(u_t + k_raw) (the control after the
// feedforward step) and the feedback gain K_t (B,1,N), nil where it is
// identically zero: at t = 0, where x̂_0 = x_0 makes it unused, and at
// t = T−1, where Q_ux = 0 for the diagonal quadratic cost.
func (b *builder) backward(tr *traj, f []stepJac) (uc, gains []*G.Node) {
	uc = make([]*G.Node, b.t)
	gains = make([]*G.Node, b.t)
	var vx, vxx *G.Node // value function gradient (B,1,N) and Hessian (B,N,N)
	for t := b.t - 1; t >= 0 && b.err == nil; t-- {
		// Stage cost gradient q⊙τ + p and Hessian diag(q), by parts; the
		// state parts are only needed for t > 0 (they feed V at t−1).
		qxC, pxC, quC, puC, diagQx := b.costParams(t > 0)
		qu := b.add(b.mul(quC, tr.u[t]), puC)
		quu := quC
		var y *G.Node // V_xx f_u (B,N,1)
		if t < b.t-1 {
			// Q_u += V_xᵀf_u; with y = V_xx f_u, Q_uu += f_uᵀy
			fu := f[t].fu
			qu = b.add(qu, b.bmm(vx, fu, false, false))
			y = b.bmm(vxx, fu, false, false)
			quu = b.add(quu, b.bmm(fu, y, true, false))
		}
		negInv := b.div(b.scalar(-1), b.add(quu, b.scalar(b.mu))) // −1/(Q_uu+μ)
		v := b.add(tr.u[t], b.mul(qu, negInv))                    // u + k_raw
		clamp := newClampOp(b.lo[t], b.hi[t])
		uc[t] = b.apply(clamp, v)
		if t == 0 {
			break
		}
		qx := b.add(b.mul(qxC, tr.xv[t]), pxC)
		if t == b.t-1 { // Q_ux = 0, so K = 0, V_x = Q_x, V_xx = Q_xx = diag(q_x)
			vx, vxx = qx, diagQx
			continue
		}
		// Q_x += V_xᵀf_x, Q_xx += f_xᵀV_xx f_x, Q_ux = yᵀf_x
		fx := f[t].fx
		qx = b.add(qx, b.bmm(vx, fx, false, false))
		qxx := b.add(diagQx, b.bmm(fx, b.bmm(vxx, fx, false, false), true, false))
		qux := b.bmm(y, fx, true, false)
		kt := b.apply(newMaskMulOp(clamp.k.lo, clamp.k.hi), v, b.rowScale(negInv, qux)) // K
		gains[t] = kt
		k := b.sub(uc[t], tr.u[t])
		// V_x = Q_x + Kᵀ(Q_uu k + Q_u) + Q_uxᵀ k
		vx = b.sum(qx, b.rowScale(b.add(b.mul(quu, k), qu), kt), b.rowScale(k, qux))
		// V_xx = Q_xx + Kᵀ(Q_uu K + Q_ux) + Q_uxᵀK with K, Q_ux rows (B,1,N)
		w := b.add(b.rowScale(quu, kt), qux)
		vxx = b.sum(qxx, b.bmm(kt, w, true, false), b.bmm(qux, kt, true, false))
	}
	return uc, gains
}

// ---------------------------------------------------------------------------
// Node construction. Every node goes through apply, which salts its Op
// (saltedOp: no two nodes of an unrolled graph can be merged by a hash
// collision), picks the salt so that the node's hash is new to the graph,
// and checks that Gorgonia added a new node. Gorgonia's own Ops are taken from its
// constructors applied once to placeholders of the same types and shapes
// on a private probe graph; the node in the real graph then runs that very
// Op, its Do, SymDiff and DoDiff. Each helper returns nil once an error
// has been recorded.

func (b *builder) apply(op G.Op, xs ...*G.Node) *G.Node {
	if !b.ok(xs...) {
		return nil
	}
	// The same Op on the same nodes is the same node (exact identity, not
	// a hash: the deduplication that salting takes from Gorgonia).
	key := fmt.Sprintf("%x|%v", op.Hashcode(), op)
	for _, x := range xs {
		key += fmt.Sprintf("|%p", x)
	}
	if n, ok := b.memo[key]; ok {
		return n
	}
	ds := make([]G.DimSizer, len(xs))
	for i, x := range xs {
		ds[i] = x.Shape()
	}
	shape, err := op.InferShape(ds...)
	if err != nil {
		b.fail(fmt.Errorf("unrolled: %v: %w", op, err))
		return nil
	}
	// Pick a salt whose node hash no node of the graph has yet.
	b.initHashes()
	typ := G.TensorType{Dims: len(shape), Of: tensor.Float64}
	var salted G.Op
	var want uint32
	for try := 0; ; try++ {
		salted = salt(op)
		want = nodeHash(salted, typ, shape, xs)
		if _, used := b.hashes[want]; !used {
			break
		}
		if try == 100 {
			b.fail(fmt.Errorf("unrolled: %v: no unused node hash found", op))
			return nil
		}
	}
	b.index.extend()
	before := len(b.g.AllNodes())
	n, err := G.ApplyOp(salted, xs...)
	if err != nil {
		b.fail(fmt.Errorf("unrolled: %v: %w", op, err))
		return nil
	}
	// A new node, not an existing one returned by Gorgonia's hash-based
	// merging (which salting rules out; checked because it would be silent).
	// Gorgonia's own lookups (g.From) scan the graph, so count instead.
	if all := b.g.AllNodes(); len(all) != before+1 || all[before] != n {
		b.fail(fmt.Errorf("unrolled: %v: Gorgonia merged a new node with an existing one", op))
		return nil
	}
	if n.Hashcode() != want {
		b.hashMisses++ // the prediction is a model of Gorgonia's; useHash still checks
	}
	b.useHash(n)
	if b.memo == nil {
		b.memo = make(map[string]*G.Node)
	}
	b.memo[key] = n
	return n
}

// useHash records n's hash, failing if another node has it: the
// TapeMachine would compute only one of them (see HashCollisions).
func (b *builder) useHash(n *G.Node) {
	b.initHashes()
	h := n.Hashcode()
	if _, used := b.hashes[h]; used {
		b.fail(fmt.Errorf("unrolled: node %v has the 32-bit hash of another node", n))
		return
	}
	b.hashes[h] = struct{}{}
}

// initHashes records the hashes of the graph's nodes on first use.
func (b *builder) initHashes() {
	if b.hashes != nil {
		return
	}
	b.hashes = make(map[uint32]struct{}, len(b.g.AllNodes()))
	for _, n := range b.g.AllNodes() {
		b.hashes[n.Hashcode()] = struct{}{}
	}
}

// nodeHash is the hash Gorgonia gives a node of type t and shape made by
// op from children (node.go: Node.WriteHash).
func nodeHash(op G.Op, t G.TensorType, shape tensor.Shape, children []*G.Node) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v%v", t, shape)
	op.WriteHash(h)
	h.Write([]byte{byte(len(children))})
	var buf [4]byte
	for _, c := range children {
		binary.LittleEndian.PutUint32(buf[:], c.Hashcode())
		h.Write(buf[:])
	}
	return h.Sum32()
}

func (b *builder) ok(ns ...*G.Node) bool {
	if b.err != nil {
		return false
	}
	for _, n := range ns {
		if n == nil {
			b.fail(fmt.Errorf("unrolled: internal error: missing node"))
			return false
		}
	}
	return true
}

// std applies the Op that Gorgonia's constructor f makes for nodes of the
// types and shapes of xs.
func (b *builder) std(name string, f func(p []*G.Node) (*G.Node, error), xs ...*G.Node) *G.Node {
	if !b.ok(xs...) {
		return nil
	}
	key := name
	for _, x := range xs {
		key += fmt.Sprintf("|%v%v", x.Type(), x.Shape())
	}
	op, ok := b.ops[key]
	if !ok {
		if b.probe == nil {
			b.probe, b.ops = G.NewGraph(), make(map[string]G.Op)
		}
		p := make([]*G.Node, len(xs))
		for i, x := range xs {
			pn := fmt.Sprintf("probe%d.%d", len(b.ops), i)
			if x.IsScalar() {
				p[i] = G.NewScalar(b.probe, x.Dtype(), G.WithName(pn))
			} else {
				p[i] = G.NewTensor(b.probe, x.Dtype(), x.Dims(), G.WithShape(x.Shape()...), G.WithName(pn))
			}
		}
		n, err := f(p)
		if err != nil {
			b.fail(fmt.Errorf("unrolled: %s %v: %w", name, key, err))
			return nil
		}
		op = n.Op()
		b.ops[key] = op
	}
	return b.apply(op, xs...)
}

func bin(f func(x, y *G.Node) (*G.Node, error)) func(p []*G.Node) (*G.Node, error) {
	return func(p []*G.Node) (*G.Node, error) { return f(p[0], p[1]) }
}

func (b *builder) add(x, y *G.Node) *G.Node { return b.std("add", bin(G.Add), x, y) }
func (b *builder) sub(x, y *G.Node) *G.Node { return b.std("sub", bin(G.Sub), x, y) }
func (b *builder) mul(x, y *G.Node) *G.Node { return b.std("mul", bin(G.HadamardProd), x, y) }
func (b *builder) div(x, y *G.Node) *G.Node { return b.std("div", bin(G.HadamardDiv), x, y) }

// matmul is the matrix product of two rank-2 nodes.
func (b *builder) matmul(x, y *G.Node) *G.Node { return b.std("matmul", bin(G.Mul), x, y) }

// bmm is the batched matrix product, optionally transposing the factors.
func (b *builder) bmm(x, y *G.Node, transA, transB bool) *G.Node {
	return b.std(fmt.Sprintf("bmm(%t,%t)", transA, transB), func(p []*G.Node) (*G.Node, error) {
		return G.BatchedMatMul(p[0], p[1], transA, transB)
	}, x, y)
}

// unary applies Gorgonia's elementwise function f.
func (b *builder) unary(name string, f func(*G.Node) (*G.Node, error), x *G.Node) *G.Node {
	return b.std(name, func(p []*G.Node) (*G.Node, error) { return f(p[0]) }, x)
}

func (b *builder) neg(x *G.Node) *G.Node { return b.unary("neg", G.Neg, x) }

func (b *builder) rowScale(s, d *G.Node) *G.Node { return b.apply(newRowScaleOp(), s, d) }

// sum adds its arguments left to right.
func (b *builder) sum(xs ...*G.Node) *G.Node {
	if len(xs) == 0 {
		b.fail(fmt.Errorf("unrolled: internal error: empty sum"))
		return nil
	}
	s := xs[0]
	for _, x := range xs[1:] {
		s = b.add(s, x)
	}
	return s
}

func (b *builder) concat(axis int, xs ...*G.Node) *G.Node {
	if !b.ok(xs...) {
		return nil
	}
	if len(xs) == 1 {
		return xs[0]
	}
	return b.apply(newConcatOp(axis, xs[0].Dims(), len(xs)), xs...)
}

func (b *builder) reshape(x *G.Node, to tensor.Shape) *G.Node {
	if !b.ok(x) {
		return nil
	}
	if sameShape(x.Shape(), to) {
		return x
	}
	return b.apply(newReshapeOp(x.Shape(), to), x)
}

// slice takes [lo, hi) of one axis, keeping the axis.
func (b *builder) slice(x *G.Node, axis, lo, hi int) *G.Node {
	if !b.ok(x) {
		return nil
	}
	if lo == 0 && hi == x.Shape()[axis] {
		return x
	}
	return b.apply(newSliceOp(axisRange{axis, lo, hi, x.Shape()}), x)
}

// sameShape compares shapes exactly (tensor.Shape.Eq treats (k) and
// (1, k) as equal).
func sameShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
