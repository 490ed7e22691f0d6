package op_test

// Tests of the ILQR Op with a path constraint: the pendulum with the speed
// limit |ω| ≤ 0.6 (models.StateBounds, ψ = (lower, upper)), active on the
// swing from x0 = (cos 3.0, sin 3.0, 0.3). Gradients with respect to x0,
// θ and ψ are checked against central differences of the Op's forward
// (the graph re-run), with ψ shared, per example and per step, on
// Float64 and Float32 graphs and both VMs; then warm starts of the
// multipliers, Stats and Health, and bad ψ.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/internal/gtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// conHorizon is the horizon of the constrained cases; conLimit the speed
// limit, which the swing from conStart reaches.
const (
	conHorizon = 20
	conLimit   = 0.6
)

// conTight are the settings of the solves that are differentiated or
// finite-differenced: projected gradient, violation and complementarity
// within 1e-12 (as ilqr's constrained gradient tests).
var conTight = ilqr.Settings{MaxIter: 3000, TolGrad: 1e-12, TolGradLoose: 1e-12, TolViolation: 1e-12}

// conCase is one layout of ψ: its node's shape and data.
type conCase struct {
	name    string
	b       int
	psi     []float64 // node data
	shape   []int     // node shape
	perStep bool
	round   bool // round every input and weight to float32
}

// psiRows returns k copies of the speed limit's ψ with the limit of row i
// raised by 0.02·i (so per-example rows differ).
func psiRows(k int, vary bool) []float64 {
	inf := math.Inf(1)
	var v []float64
	for i := range k {
		w := conLimit
		if vary {
			w += 0.02 * float64(i)
		}
		v = append(v, -inf, -inf, -w, inf, inf, w)
	}
	return v
}

// finiteCols returns the indices of the finite entries of v.
func finiteCols(v []float64) []int {
	var c []int
	for i, x := range v {
		if !math.IsInf(x, 0) {
			c = append(c, i)
		}
	}
	return c
}

// conGraph is a planner graph with a ψ input and the loss Σ wx·X + Σ wu·U,
// its symbolic gradient added for a TapeMachine.
type conGraph struct {
	g                   *G.ExprGraph
	x0, theta, phi, psi *G.Node
	tr                  *op.Trajectory
	loss                *G.Node
	lossVal             G.Value
	data                map[*G.Node][]float64 // the float64 inputs' backing data
}

// newConGraph builds the graph of case c with inputs of dtype dt (their
// values rounded to it) under cfg; with grad it adds G.Grad for a
// TapeMachine.
func newConGraph(t *testing.T, cfg op.OpConfig, c conCase, dt tensor.Dtype, grad bool) *conGraph {
	t.Helper()
	task := cfg.Problem.Task
	g := G.NewGraph()
	cg := &conGraph{g: g, data: map[*G.Node][]float64{}}
	node := func(name string, v []float64, shape ...int) *G.Node {
		if c.round {
			v = round32(v)
		}
		val := denseAs(dt, v, shape...)
		n := G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(val))
		if dt == tensor.Float64 {
			cg.data[n] = val.Data().([]float64)
		}
		return n
	}
	cg.x0 = node("x0", gtest.SwingStarts(c.b), c.b, 3)
	cg.theta = node("theta", task.Dynamics.DefaultParams(), 3)
	cg.phi = node("phi", task.Cost.DefaultParams(), 8)
	cg.psi = node("psi", c.psi, c.shape...)
	tr, err := op.Plan(op.Nodes{X0: cg.x0, Theta: cg.theta, Cost: []op.CostNode{{Node: cg.phi}},
		Psi: cg.psi, PsiPerStep: c.perStep}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cg.tr = tr
	x, u := trajectoryParts(t, tr)
	wx, wu := gradWeights(7, c.b*cfg.Problem.T, 3, 1)
	cx := node("wx", wx, x.Shape()...)
	cu := node("wu", wu, u.Shape()...)
	cg.loss = G.Must(G.Add(G.Must(G.Sum(G.Must(G.HadamardProd(x, cx)))), G.Must(G.Sum(G.Must(G.HadamardProd(u, cu))))))
	G.Read(cg.loss, &cg.lossVal)
	if grad {
		if _, err := G.Grad(cg.loss, cg.x0, cg.theta, cg.psi); err != nil {
			t.Fatal(err)
		}
	}
	return cg
}

// conResult is what one run of a conGraph gives.
type conResult struct {
	loss             float64
	x0, theta, psi   []float64
	stats            op.Stats
	mult             []float64
	gradStatusString string
}

// collect reads the loss, the gradients and the Op's records of a run.
func (cg *conGraph) collect(t *testing.T) conResult {
	t.Helper()
	st := cg.tr.Op.Stats()
	return conResult{loss: anyFloats(t, cg.lossVal)[0], x0: anyGrad(t, cg.x0), theta: anyGrad(t, cg.theta),
		psi: anyGrad(t, cg.psi), stats: st, mult: cg.tr.Op.Mult(), gradStatusString: fmt.Sprint(st.GradStatus)}
}

// runConGraph runs cg (built with grad) once on a new TapeMachine, or (built
// without) on a LispMachine.
func runConGraph(t *testing.T, cg *conGraph, machine string) conResult {
	t.Helper()
	var vm G.VM
	if machine == "tape" {
		vm = G.NewTapeMachine(cg.g)
	} else {
		vm = G.NewLispMachine(cg.g)
	}
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return cg.collect(t)
}

// checkActive fails unless every example converged with the violation
// within 1e-9 and some multiplier of its positive.
func checkActive(t *testing.T, r conResult, b int) {
	t.Helper()
	for i, s := range r.stats.Status {
		if s != ilqr.Converged {
			t.Fatalf("example %d: %v", i, s)
		}
		if v := r.stats.Violation[i]; !(v <= 1e-9) {
			t.Errorf("example %d: violation %.2g > 1e-9", i, v)
		}
	}
	if len(r.mult) == 0 || len(r.mult)%b != 0 {
		t.Fatalf("%d multipliers for B=%d", len(r.mult), b)
	}
	k := len(r.mult) / b
	for i := range b {
		if slices.Max(r.mult[i*k:(i+1)*k]) <= 0 {
			t.Errorf("example %d: no active constraint row: the case tests nothing", i)
		}
	}
	if h := r.stats.Health(); h.Infeasible != 0 || !(h.Violation <= 1e-9) {
		t.Errorf("health %+v: want no infeasible example and violation ≤ 1e-9", h)
	}
	for i, g := range r.stats.GradStatus {
		if g != ilqr.GradOK {
			t.Errorf("example %d: gradient %v", i, g)
		}
	}
}

// fdGraph returns central differences of cg's loss, re-running the graph
// on one TapeMachine, with respect to the given entries of the float64
// input n (all when cols is nil), and checks the active set stays put.
func fdGraph(t *testing.T, cg *conGraph, n *G.Node, cols []int, floor float64) []float64 {
	t.Helper()
	vm := G.NewTapeMachine(cg.g)
	defer vm.Close()
	var base []bool
	loss := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		st := cg.tr.Op.Stats()
		for i, s := range st.Status {
			if s != ilqr.Converged || st.Violation[i] > 1e-12 {
				t.Fatalf("re-run: example %d %v, violation %.2g", i, s, st.Violation[i])
			}
		}
		act := slices.Collect(func(yield func(bool) bool) {
			for _, v := range cg.tr.Op.Mult() {
				if !yield(v > 0) {
					return
				}
			}
		})
		if base == nil {
			base = act
		} else if !slices.Equal(act, base) {
			t.Fatal("a perturbation changed the active constraint rows")
		}
		return anyFloats(t, cg.lossVal)[0]
	}
	loss()
	v := cg.data[n]
	if cols == nil {
		cols = fdtest.Span(0, len(v))
	}
	out := make([]float64, len(v))
	for _, j := range cols {
		out[j] = fdtest.CentralDiff(v[j:j+1], fdtest.Rel, floor, loss)[0]
	}
	return out
}

// checkFD compares the gradient g with the quotients fd on cols; returns
// the error (fdtest.RelErr over those entries).
func checkFD(t *testing.T, name string, g, fd []float64, cols []int, tol float64) float64 {
	t.Helper()
	var a, b []float64
	for _, j := range cols {
		a, b = append(a, g[j]), append(b, fd[j])
	}
	e, j := fdtest.RelErr(a, b)
	if !(e <= tol) {
		t.Errorf("dL/d%s[%d]: Op %.10g, central differences %.10g: relative error %.2g > %g", name, cols[j], a[j], b[j], e, tol)
	}
	for j, v := range g {
		if !slices.Contains(cols, j) && v != 0 && math.IsInf(fd[j], 0) {
			t.Errorf("dL/d%s[%d] = %g on an infinite entry", name, j, v)
		}
	}
	return e
}

// conCases are the ψ layouts: shared (R), per example (B, R) with
// different limits, per step (T, R) and per example and step (B, T, R).
func conCases() []conCase {
	r := 6
	return []conCase{
		{name: "shared/B=2", b: 2, psi: psiRows(1, false), shape: []int{r}},
		{name: "per-example/B=3", b: 3, psi: psiRows(3, true), shape: []int{3, r}},
		{name: "per-step/B=2", b: 2, psi: psiRows(conHorizon, false), shape: []int{conHorizon, r}, perStep: true},
		{name: "per-example-step/B=2", b: 2, psi: psiRows(2*conHorizon, false), shape: []int{2, conHorizon, r}, perStep: true},
	}
}

// conFDTol is the tolerance of the Op's gradients against the central
// differences: the re-solves carry round-off of about 1e-11 from the
// multiplier terms, divided by steps of at least 1e-4 (floor 0.1).
const conFDTol = 1e-5

// TestOpConstraintFiniteDifferences checks dL/dx0, dL/dθ and dL/dψ of the
// Op against central differences of its forward, for ψ shared, per
// example, per step, and per example and step. For the per-step layouts
// only the steps where the limit is active, and one where it is not, are
// differenced, and the gradient summed over the steps must equal the
// shared layout's.
func TestOpConstraintFiniteDifferences(t *testing.T) {
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: gtest.SpeedLimitTask(t, conLimit), T: conHorizon},
		Solver: op.SolverConfig{Settings: &conTight}}
	var shared conResult
	for _, c := range conCases() {
		t.Run(c.name, func(t *testing.T) {
			cg := newConGraph(t, cfg, c, tensor.Float64, true)
			r := runConGraph(t, cg, "tape")
			checkActive(t, r, c.b)
			cols := finiteCols(c.psi)
			if c.perStep {
				cols = perStepCols(r.mult, c)
				if c.b == 2 && len(c.shape) == 2 && shared.psi != nil {
					sum := make([]float64, 6)
					for i, v := range r.psi {
						sum[i%6] += v
					}
					if e, j := fdtest.RelErr(sum, shared.psi); !(e <= 1e-12) || math.IsNaN(e) {
						t.Errorf("per-step dL/dψ summed over steps: entry %d %.12g, shared %.12g", j, sum[j], shared.psi[j])
					}
				}
			} else if c.b == 2 {
				shared = r
			}
			const floor = 0.1 // see conFDTol
			ex := checkFD(t, "x0", r.x0, fdGraph(t, cg, cg.x0, nil, floor), fdtest.Span(0, 3*c.b), conFDTol)
			et := checkFD(t, "theta", r.theta, fdGraph(t, cg, cg.theta, nil, fdtest.Floor), fdtest.Span(0, 3), conFDTol)
			ep := checkFD(t, "psi", r.psi, fdGraph(t, cg, cg.psi, cols, floor), cols, conFDTol)
			t.Logf("relative errors: x0 %.2g, θ %.2g, ψ %.2g (%d entries of ψ)", ex, et, ep, len(cols))
		})
	}
}

// perStepCols returns the ψ entries of a per-step case to difference: the
// speed limit's at every step where example 0's limit is active, and at
// one step where it is not.
func perStepCols(mult []float64, c conCase) []int {
	const rows = 6 // C = R = 6: the rows and entries of ψ line up
	var cols []int
	inactive := -1
	for s := 1; s < conHorizon; s++ {
		lo, hi := mult[s*rows+2], mult[s*rows+5]
		if lo > 0 || hi > 0 {
			cols = append(cols, s*rows+2, s*rows+5)
		} else if inactive < 0 {
			inactive = s
		}
	}
	if inactive > 0 {
		cols = append(cols, inactive*rows+2, inactive*rows+5)
	}
	return cols
}

// TestOpConstraintMachinesAndFloat32 runs the shared and per-example
// layouts on both VMs and in Float32: the VMs agree bit for bit, and the
// Float32 graph's gradients (inputs and weights exact in float32) are the
// Float64 graph's rounded once.
func TestOpConstraintMachinesAndFloat32(t *testing.T) {
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: gtest.SpeedLimitTask(t, conLimit), T: conHorizon},
		Solver: op.SolverConfig{Settings: &conTight}}
	for _, c := range conCases()[:2] {
		t.Run(c.name, func(t *testing.T) {
			c.round = true
			var res [3]conResult
			for i, run := range []struct {
				dt      tensor.Dtype
				machine string
			}{{tensor.Float64, "tape"}, {tensor.Float64, "lisp"}, {tensor.Float32, "tape"}} {
				cg := newConGraph(t, cfg, c, run.dt, run.machine == "tape")
				res[i] = runConGraph(t, cg, run.machine)
				checkActive(t, res[i], c.b)
			}
			tape, lisp, f32 := res[0], res[1], res[2]
			for _, p := range []struct {
				name       string
				a, b, want []float64
			}{{"x0", lisp.x0, f32.x0, tape.x0}, {"theta", lisp.theta, f32.theta, tape.theta}, {"psi", lisp.psi, f32.psi, tape.psi}} {
				if !slices.Equal(p.a, p.want) {
					t.Errorf("dL/d%s: LispMachine %v, TapeMachine %v", p.name, p.a, p.want)
				}
				for j, g := range p.want {
					if p.b[j] != float64(float32(g)) {
						t.Errorf("dL/d%s[%d]: Float32 graph %.9g, Float64 graph %.17g", p.name, j, p.b[j], g)
					}
				}
			}
			if !slices.Equal(lisp.mult, tape.mult) || !slices.Equal(f32.mult, tape.mult) {
				t.Error("the multipliers differ between the runs")
			}
		})
	}
}

// TestOpConstraintWarmStart: with WarmStart a second run of the same
// inputs starts from the first run's controls and multipliers: it takes
// fewer iterations and ends at the same solution.
func TestOpConstraintWarmStart(t *testing.T) {
	set := conTight
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: gtest.SpeedLimitTask(t, conLimit), T: conHorizon},
		Solver: op.SolverConfig{Settings: &set, WarmStart: true}}
	c := conCases()[1]
	cg := newConGraph(t, cfg, c, tensor.Float64, true)
	vm := G.NewTapeMachine(cg.g)
	defer vm.Close()
	var runs [2]conResult
	for i := range runs {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		runs[i] = cg.collect(t)
		checkActive(t, runs[i], c.b)
	}
	for i := range c.b {
		if a, b := runs[0].stats.Iterations[i], runs[1].stats.Iterations[i]; b >= a {
			t.Errorf("example %d: %d iterations warm, %d cold", i, b, a)
		}
	}
	if e, j := fdtest.RelErr(runs[1].mult, runs[0].mult); !(e <= 1e-6) {
		t.Errorf("multiplier %d: warm %.10g, cold %.10g", j, runs[1].mult[j], runs[0].mult[j])
	}
	if e, j := fdtest.RelErr(runs[1].psi, runs[0].psi); !(e <= 1e-6) {
		t.Errorf("dL/dψ[%d]: warm %.10g, cold %.10g", j, runs[1].psi[j], runs[0].psi[j])
	}
	t.Logf("iterations cold %v, warm %v", runs[0].stats.Iterations, runs[1].stats.Iterations)
}

// TestOpConstraintInfeasible: a limit no control can meet from x0
// (ω ∈ [1.5, 2] at step 1 from ω = 0.3) ends Infeasible, which Health
// counts apart from Unconverged, with the violation reported.
func TestOpConstraintInfeasible(t *testing.T) {
	set := ilqr.Settings{MaxIter: 300, PenaltyMax: 1e4}
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: gtest.SpeedLimitTask(t, conLimit), T: 5},
		Solver: op.SolverConfig{Settings: &set}}
	inf := math.Inf(1)
	c := conCase{name: "infeasible", b: 1, psi: []float64{-inf, -inf, 1.5, inf, inf, 2}, shape: []int{6}}
	cg := newConGraph(t, cfg, c, tensor.Float64, false)
	vm := G.NewTapeMachine(cg.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	st := cg.tr.Op.Stats()
	h := st.Health()
	if st.Status[0] != ilqr.Infeasible || h.Infeasible != 1 || h.Unconverged != 0 || !(h.Violation > 0.1) {
		t.Errorf("status %v, health %+v: want infeasible, Infeasible 1, Unconverged 0, violation > 0.1", st.Status, h)
	}
}

// TestOpConstraintBadPsi: a ψ of the wrong shape, NaN, or with a lower
// bound above the upper one, ψ for a task without a constraint, and
// PsiPerStep without ψ are errors wrapping ErrBadInput, never panics; the
// value errors name the example (and, with IsolateNonFinite, that example
// is held at x0 and reported NonFinite while the others are solved).
func TestOpConstraintBadPsi(t *testing.T) {
	task := gtest.SpeedLimitTask(t, conLimit)
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: task, T: 8}}
	inf := math.Inf(1)
	good := []float64{-inf, -inf, -conLimit, inf, inf, conLimit}
	nodes := func(g *G.ExprGraph, psi []float64, shape ...int) op.Nodes {
		x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"), G.WithValue(denseOf(gtest.SwingStarts(2), 2, 3)))
		th := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("theta"), G.WithValue(denseOf(task.Dynamics.DefaultParams(), 3)))
		ph := G.NewVector(g, tensor.Float64, G.WithShape(8), G.WithName("phi"), G.WithValue(denseOf(task.Cost.DefaultParams(), 8)))
		n := op.Nodes{X0: x0, Theta: th, Cost: []op.CostNode{{Node: ph}}}
		if psi != nil {
			n.Psi = G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName("psi"), G.WithValue(denseOf(psi, shape...)))
		}
		return n
	}
	isBad := func(t *testing.T, err error, says string) {
		t.Helper()
		if err == nil || !errors.Is(op.Cause(err), op.ErrBadInput) || !strings.Contains(err.Error(), says) {
			t.Errorf("error %v: want ErrBadInput saying %q", err, says)
		}
	}
	t.Run("build", func(t *testing.T) {
		g := G.NewGraph()
		_, err := op.Plan(nodes(g, []float64{0, 1, 2, 3, 4}, 5), cfg)
		isBad(t, err, "psi has shape (5)")
		g = G.NewGraph()
		_, err = op.Plan(nodes(g, tile(good, 2*8*2), 2, 8, 2, 6), cfg)
		isBad(t, err, "psi has shape")
		g = G.NewGraph()
		n := nodes(g, nil)
		n.PsiPerStep = true
		_, err = op.Plan(n, cfg)
		isBad(t, err, "PsiPerStep without a Psi node")
		g = G.NewGraph()
		plain := cfg
		plain.Problem.Task = models.PendulumTask()
		_, err = op.Plan(nodes(g, good, 6), plain)
		isBad(t, err, "without a path constraint")
	})
	for _, c := range []struct {
		name, says string
		psi        []float64
	}{
		{"NaN", "NaN bound on state 2", []float64{-inf, -inf, math.NaN(), inf, inf, conLimit}},
		{"lower above upper", "lower 0.7 > upper 0.6 on state 2", []float64{-inf, -inf, 0.7, inf, inf, conLimit}},
	} {
		for _, isolate := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/isolate=%t", c.name, isolate), func(t *testing.T) {
				psi := append(slices.Clone(good), c.psi...) // example 1 is bad
				g := G.NewGraph()
				n := nodes(g, psi, 2, 6)
				set := ilqr.Settings{IsolateNonFinite: isolate}
				cfg := cfg
				cfg.Solver.Settings = &set
				tr, err := op.Plan(n, cfg)
				if err != nil {
					t.Fatal(err)
				}
				x, u := trajectoryParts(t, tr)
				loss := G.Must(G.Add(G.Must(G.Sum(x)), G.Must(G.Sum(u))))
				vm := newMachine(t, "tape", g, loss, n.X0, n.Psi)
				defer vm.Close()
				err = vm.RunAll()
				st := tr.Op.Stats()
				if !isolate {
					isBad(t, err, "example 1: Psi: models: state bounds: "+c.says)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if st.Status[0] != ilqr.Converged || st.Status[1] != ilqr.NonFinite {
					t.Errorf("statuses %v: want converged, non-finite", st.Status)
				}
				if gp := anyGrad(t, n.Psi); slices.ContainsFunc(gp[6:], func(v float64) bool { return v != 0 }) {
					t.Errorf("the isolated example's dL/dψ %v is not zero", gp[6:])
				}
			})
		}
	}
}

// tile returns k copies of v.
func tile(v []float64, k int) []float64 {
	var out []float64
	for range k {
		out = append(out, v...)
	}
	return out
}

// TestOpConstraintIdentity: planner nodes of tasks whose constraints differ
// only in their default ψ (StateBounds' name does not hold its bounds), or
// with and without a ψ input, are distinct nodes of one graph.
func TestOpConstraintIdentity(t *testing.T) {
	g := G.NewGraph()
	task := models.PendulumTask()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 3), G.WithName("x0"), G.WithValue(denseOf(gtest.SwingStarts(1), 1, 3)))
	th := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("theta"), G.WithValue(denseOf(task.Dynamics.DefaultParams(), 3)))
	ph := G.NewVector(g, tensor.Float64, G.WithShape(8), G.WithName("phi"), G.WithValue(denseOf(task.Cost.DefaultParams(), 8)))
	psi := G.NewVector(g, tensor.Float64, G.WithShape(6), G.WithName("psi"), G.WithValue(denseOf(psiRows(1, false), 6)))
	var packed []*G.Node
	for _, c := range []struct {
		wmax float64
		psi  *G.Node
	}{{0.6, nil}, {0.5, nil}, {0.6, psi}, {0.6, nil}} {
		cfg := op.OpConfig{Problem: ilqr.Problem{Task: gtest.SpeedLimitTask(t, c.wmax), T: 8}}
		tr, err := op.Plan(op.Nodes{X0: x0, Theta: th, Cost: []op.CostNode{{Node: ph}}, Psi: c.psi}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		packed = append(packed, tr.Packed)
	}
	if packed[0] == packed[1] || packed[0] == packed[2] || packed[1] == packed[2] {
		t.Error("planner nodes of different constraints were merged")
	}
	if packed[3] != packed[0] {
		t.Error("identical planner nodes were not merged")
	}
}

// TestOpConstraintBackwardWithoutRecord: a backward pass whose forward run
// the Op has no record of (here: the Op never ran; the packed solution is
// an input) solves again from the given controls to recover the
// multipliers, and gives the gradients of the recorded path.
func TestOpConstraintBackwardWithoutRecord(t *testing.T) {
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: gtest.SpeedLimitTask(t, conLimit), T: conHorizon},
		Solver: op.SolverConfig{Settings: &conTight}}
	c := conCases()[1] // per example, B = 3
	cg := newConGraph(t, cfg, c, tensor.Float64, true)
	want := runConGraph(t, cg, "tape")
	packed := anyFloats(t, cg.tr.Packed.Value())
	wx, wu := gradWeights(7, c.b*conHorizon, 3, 1)
	dout := make([]float64, 0, len(packed))
	for i := range c.b * conHorizon {
		dout = append(dout, wx[3*i], wx[3*i+1], wx[3*i+2], wu[i])
	}

	g := G.NewGraph()
	task := cfg.Problem.Task
	in := func(name string, v []float64, shape ...int) *G.Node {
		return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(denseOf(v, shape...)))
	}
	inputs := G.Nodes{in("x0", gtest.SwingStarts(c.b), c.b, 3), in("theta", task.Dynamics.DefaultParams(), 3),
		in("phi", task.Cost.DefaultParams(), 8), in("psi", c.psi, c.shape...)}
	o, err := op.NewILQROp(cfg, op.Batch{B: c.b, ThetaShared: true, PhiShared: true,
		Psi: op.PsiInput{Given: true, PerExample: true}})
	if err != nil {
		t.Fatal(err)
	}
	grads, err := o.SymDiff(inputs, in("out", packed, c.b, conHorizon, 4), in("dout", dout, c.b, conHorizon, 4))
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for i, w := range [][]float64{want.x0, want.theta, nil, want.psi} {
		if w == nil {
			continue
		}
		got := anyFloats(t, grads[i].Value())
		if e, j := fdtest.RelErr(got, w); !(e <= 1e-8) {
			t.Errorf("gradient of %s[%d]: without the record %.12g, with it %.12g (relative %.2g)", inputs[i].Name(), j, got[j], w[j], e)
		}
	}
}
