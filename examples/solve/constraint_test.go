package main

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
)

// boundField is the state bound name given as entries, each a number or
// nil (JSON null): its free values are the numbers, at the indices idx;
// the JSON value puts them back among the nulls; the gradient is the
// reported one at idx.
func boundField(name string, entries []any) fdField {
	var v []float64
	var idx []int
	for i, e := range entries {
		if x, ok := e.(float64); ok {
			v, idx = append(v, x), append(idx, i)
		}
	}
	return fdField{name: name, v: v, dims: []int{len(entries)},
		json: func(v []float64) any {
			out := slices.Clone(entries)
			for k, i := range idx {
				out[i] = v[k]
			}
			return out
		},
		grad: func(g *Grad) []float64 {
			all := g.XLower
			if name == "x_upper" {
				all = g.XUpper
			}
			out := make([]float64, len(idx))
			for k, i := range idx {
				out[k] = all[i]
			}
			return out
		}}
}

// stateCase is a problem with state bounds active at its solution: entry
// of the state bounded by x_lower and x_upper, one of which some states
// sit on.
type stateCase struct {
	name   string
	in     map[string]any
	fields []fdField
	entry  int
}

// taskDefaults returns the cost (q, p) and dynamics parameters of the
// model's task, to give explicitly (so that they can be perturbed).
func taskDefaults(t *testing.T, model string) (q, p, params []float64) {
	t.Helper()
	task, err := models.TaskByName(model)
	if err != nil {
		t.Fatal(err)
	}
	c := task.Cost.DefaultParams()
	k := len(c) / 2
	return c[:k], c[k:], task.Dynamics.DefaultParams()
}

// linearLoss is a seeded loss Σ wx·X + Σ wu·U.
func linearLoss(steps, n, m int, seed uint64) map[string]any {
	w := fdtest.Normals(seed, steps*(n+m))
	wx, wu := make([][]float64, steps), make([][]float64, steps)
	for s := range steps {
		wx[s] = w[s*n : (s+1)*n]
		wu[s] = w[steps*n+s*m : steps*n+(s+1)*m]
	}
	return map[string]any{"kind": "linear", "wx": wx, "wu": wu}
}

// stateCases: the pendulum from near the bottom with some speed under the
// speed limit |ω| ≤ 0.6 (T = 20: ω rises to the limit at step 1 and stays
// there to step 15), and the cart-pole with the track limit |x| ≤ 0.4
// (T = 15: the cart reaches the end of the track at step 11 and stays).
// Both are solved to "tol": 1e-12, which also makes the violation
// tolerance 1e-12.
func stateCases(t *testing.T) []stateCase {
	var cases []stateCase
	add := func(name, model string, steps int, x0 []float64, lower, upper []any, entry int, seed uint64) {
		q, p, params := taskDefaults(t, model)
		n := len(x0)
		fields := []fdField{boundField("x_lower", lower), boundField("x_upper", upper),
			listField("x0", x0), listField("params", params), listField("q", q), listField("p", p)}
		in := map[string]any{"model": model, "T": steps, "loss": linearLoss(steps, n, 1, seed),
			"tol": 1e-12, "max_iter": 3000}
		for _, f := range fields {
			in[f.name] = f.json(f.v)
		}
		cases = append(cases, stateCase{name: name, in: in, fields: fields, entry: entry})
	}
	const w = 0.6
	add("pendulum/speed limit", "pendulum", 20, fdtest.AngleState(math.Pi-0.2, 0.3),
		[]any{nil, nil, -w}, []any{nil, nil, w}, 2, 7)
	const xmax = 0.4
	add("cartpole/track limit", "cartpole", 15, []float64{0, 0, math.Cos(0.6), math.Sin(0.6), 0},
		[]any{-xmax, nil, nil, nil, nil}, []any{xmax, nil, nil, nil, nil}, 0, 8)
	return cases
}

// solveDirect runs the command's solve on in without the JSON output, so
// that the multipliers (Output.mult) are kept.
func solveDirect(t *testing.T, in map[string]any) *Output {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := readProblem(bytes.NewReader(b), defaultLimits.inputBytes)
	if err != nil {
		t.Fatal(err)
	}
	o, err := solve(pr, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// checkStateActive checks the solution o of c against its bounds and
// multipliers: the violation within 1e-9; a positive multiplier only on a
// finite bound that its state sits on (within 1e-9), and some; every
// other state at least 1e-3 from its bounds, so that the finite
// differences do not change the active set. It returns the number of
// states on a bound.
func checkStateActive(t *testing.T, c stateCase, o *Output) int {
	t.Helper()
	if o.MaxViolation == nil || !(*o.MaxViolation <= 1e-9) {
		t.Fatalf("max_violation %v, want ≤ 1e-9", o.MaxViolation)
	}
	n := len(o.X[0])
	lower := c.fields[0].json(c.fields[0].v).([]any)
	upper := c.fields[1].json(c.fields[1].v).([]any)
	if len(o.mult) != len(o.X) || len(o.mult[0]) != 2*n {
		t.Fatalf("multipliers %d×%d, want %d×%d", len(o.mult), len(o.mult[0]), len(o.X), 2*n)
	}
	active := 0
	for s, x := range o.X {
		for i := range n {
			for side, b := range [2]any{lower[i], upper[i]} {
				nu := o.mult[s][side*n+i]
				bound, finite := b.(float64)
				switch {
				case nu < 0:
					t.Fatalf("step %d: multiplier %d = %g < 0", s, side*n+i, nu)
				case nu > 0 && (s == 0 || !finite):
					t.Fatalf("step %d: multiplier %d = %g on a row that is not constrained", s, side*n+i, nu)
				case !finite || s == 0:
				case nu > 0:
					if d := math.Abs(x[i] - bound); d > 1e-9 {
						t.Fatalf("x_%d[%d] = %.12g is %.2g from the bound %g with multiplier %g", s, i, x[i], d, bound, nu)
					}
					active++
				case math.Abs(x[i]-bound) < 1e-3:
					t.Fatalf("x_%d[%d] = %.12g is within 1e-3 of the bound %g without a multiplier", s, i, x[i], bound)
				}
			}
		}
	}
	if active == 0 {
		t.Fatal("no state on a bound: the case does not test active state bounds")
	}
	return active
}

// relErrAtScale is fdtest.RelErr with the scale at least scale: the
// largest |a_j − b_j| / max(|b_j|, max_k |b_k|, scale) and its index.
func relErrAtScale(a, b []float64, scale float64) (float64, int) {
	for _, v := range b {
		scale = math.Max(scale, math.Abs(v))
	}
	worst, at := 0.0, -1
	for j := range a {
		if e := math.Abs(a[j]-b[j]) / math.Max(scale, math.SmallestNonzeroFloat64); e > worst || math.IsNaN(e) {
			worst, at = e, j
		}
	}
	return worst, at
}

// checkFD compares the gradient of field f reported in o, the solution of
// in, at the entries idx of f.v (all for nil), with central differences of
// the loss of in re-solved by the command, and fails t beyond 1e-7
// relative to the field's largest difference quotient; the state bounds'
// gradients are compared at the scale of the largest of them, since a
// bound no state sits on has gradient 0 and quotients of round-off size.
// It leaves in as it was and returns the error.
func checkFD(t *testing.T, in map[string]any, o *Output, f fdField, idx []int) float64 {
	t.Helper()
	got := f.grad(&o.Grad)
	fd := diffSubset(f.v, idx, func() float64 {
		in[f.name] = f.json(f.v)
		return solveMap(t, in).Loss
	})
	in[f.name] = f.json(f.v)
	if idx != nil {
		sub := make([]float64, len(idx))
		for k, i := range idx {
			sub[k] = got[i]
		}
		got = sub
	}
	e, at := fdtest.RelErr(got, fd)
	if f.name == "x_lower" || f.name == "x_upper" {
		var scale float64
		for _, v := range slices.Concat(o.Grad.XLower, o.Grad.XUpper) {
			scale = math.Max(scale, math.Abs(v))
		}
		e, at = relErrAtScale(got, fd, scale)
	}
	if !(e <= 1e-7) {
		t.Errorf("dL/d%s[%d] = %.12g, finite differences %.12g (relative error %.2e > 1e-7)",
			f.name, at, got[at], fd[at], e)
	}
	return e
}

// TestStateBoundsGradients: with a state bound active, the reported
// gradients of the bounds, x0, params, q and p agree with central
// differences of the loss of the command re-solved on perturbed inputs
// (fdtest.CentralDiff: Richardson-extrapolated, steps 1e-3 relative with
// a floor of 1e-5, so 6e-4 and 4e-4 on the bounds) to 1e-7 relative to
// the field's largest entry (measured: within 2e-9), the solve converged with the violation
// within 1e-9 and the gradient status "ok". The null entries' gradients
// are exactly 0.
func TestStateBoundsGradients(t *testing.T) {
	for _, c := range stateCases(t) {
		t.Run(c.name, func(t *testing.T) {
			o := solveDirect(t, c.in)
			if o.Status != "converged" || o.GradStatus != "ok" {
				t.Fatalf("status %q, gradient %q", o.Status, o.GradStatus)
			}
			active := checkStateActive(t, c, o)
			for i := range o.Grad.XLower {
				if i != c.entry && (o.Grad.XLower[i] != 0 || o.Grad.XUpper[i] != 0) {
					t.Errorf("dL/dx_lower[%d] = %g, dL/dx_upper[%d] = %g at a null bound, want 0", i, o.Grad.XLower[i], i, o.Grad.XUpper[i])
				}
			}
			for _, f := range c.fields {
				e := checkFD(t, c.in, o, f, nil)
				t.Logf("%d states on a bound; dL/d%s = %.6g, worst relative error %.2e", active, f.name, f.grad(&o.Grad), e)
			}
		})
	}
}

// TestStateBoundsFixedPoint: grad_mode fixed_point takes state bounds and
// writes the same fields, with the same solution.
func TestStateBoundsFixedPoint(t *testing.T) {
	c := stateCases(t)[1]
	ref := solveDirect(t, c.in)
	c.in["grad_mode"] = "fixed_point"
	o := solveDirect(t, c.in)
	if o.Status != "converged" || o.MaxViolation == nil || len(o.Grad.XLower) != 5 || len(o.Grad.XUpper) != 5 {
		t.Fatalf("status %q, max_violation %v, grad.x_lower %v, grad.x_upper %v", o.Status, o.MaxViolation, o.Grad.XLower, o.Grad.XUpper)
	}
	if e, at := fdtest.RelErr(slices.Concat(o.U...), slices.Concat(ref.U...)); e > 1e-12 {
		t.Errorf("U[%d] differs from implicit mode's by %.2e", at, e)
	}
	if o.Grad.XUpper[0] == 0 {
		t.Error("dL/dx_upper[0] = 0 with the cart on the bound")
	}
}

// TestStateBoundsJSON: the bounds are read from JSON with null entries,
// the output has max_violation and both bound gradients when only one
// bound is given, zero at the nulls and at the bound not given, and the
// gradient reads back; "x_lower": null is no bound at all, and without
// bounds the output has neither max_violation nor a bound gradient.
func TestStateBoundsJSON(t *testing.T) {
	base := `{"model": "pendulum", "T": 20, "x0": [-0.9800665778412416, 0.19866933079506122, 0.3],
 "loss": {"kind": "sum_sq_u"}, "tol": 1e-12, "max_iter": 3000`
	r := runCmd(defaultLimits, nil, strings.NewReader(base+`, "x_upper": [null, null, 0.6]}`))
	o := wantSolution(t, r)
	for _, f := range []string{`"max_violation": `, `"x_lower": [`, `"x_upper": [`} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("output has no %s", f)
		}
	}
	if o.MaxViolation == nil || !(*o.MaxViolation <= 1e-9) || o.Status != "converged" {
		t.Fatalf("status %q, max_violation %v", o.Status, o.MaxViolation)
	}
	if !slices.Equal(o.Grad.XLower, []float64{0, 0, 0}) || o.Grad.XUpper[0] != 0 || o.Grad.XUpper[1] != 0 || !(o.Grad.XUpper[2] != 0) {
		t.Errorf("grad.x_lower %v, grad.x_upper %v: want zeros but at x_upper[2]", o.Grad.XLower, o.Grad.XUpper)
	}
	g := roundTrip(t, &o.Grad)
	if !slices.Equal(g.XLower, o.Grad.XLower) || !slices.Equal(g.XUpper, o.Grad.XUpper) {
		t.Errorf("read back: x_lower %v, x_upper %v; wrote %v, %v", g.XLower, g.XUpper, o.Grad.XLower, o.Grad.XUpper)
	}

	// Bounds on nothing: a constrained solve of the unconstrained problem.
	free := wantSolution(t, runCmd(defaultLimits, nil, strings.NewReader(base+`}`)))
	r = runCmd(defaultLimits, nil, strings.NewReader(base+`, "x_lower": [null, null, null]}`))
	o = wantSolution(t, r)
	if o.MaxViolation == nil || *o.MaxViolation != 0 || !strings.Contains(r.stdout, `"max_violation": 0`) {
		t.Errorf("all bounds null: max_violation %v, want 0 written", o.MaxViolation)
	}
	if !slices.Equal(o.Grad.XLower, []float64{0, 0, 0}) || !slices.Equal(o.Grad.XUpper, []float64{0, 0, 0}) {
		t.Errorf("all bounds null: grad.x_lower %v, grad.x_upper %v, want zeros", o.Grad.XLower, o.Grad.XUpper)
	}
	if e, at := fdtest.RelErr(slices.Concat(o.U...), slices.Concat(free.U...)); e > 1e-9 {
		t.Errorf("all bounds null: U[%d] differs from the unbounded solution's by %.2e", at, e)
	}
	if e, at := fdtest.RelErr(o.Grad.X0, free.Grad.X0); e > 1e-7 {
		t.Errorf("all bounds null: dL/dx0[%d] differs from the unbounded solution's by %.2e", at, e)
	}

	// null fields: no bounds, the output of the problem without them.
	want := runCmd(defaultLimits, nil, strings.NewReader(base+`}`))
	got := runCmd(defaultLimits, nil, strings.NewReader(base+`, "x_lower": null, "x_upper": null}`))
	if got != want {
		t.Errorf("null bounds: output differs from none:\n%s\nwant\n%s", got.stdout, want.stdout)
	}
	for _, f := range []string{"max_violation", "x_lower", "x_upper"} {
		if strings.Contains(want.stdout, f) {
			t.Errorf("output without state bounds has %s", f)
		}
	}
}

// TestStateBoundsInfeasible: a bound no state x_1 can meet (cos θ ≥ 0.5
// with the pendulum near the bottom and |u| ≤ 2) ends with status
// "infeasible", exit status 0, and max_violation saying by how much.
func TestStateBoundsInfeasible(t *testing.T) {
	in := problem(t, map[string]any{"T": 10, "x0": fdtest.AngleState(math.Pi-0.2, 0),
		"x_lower": []any{0.5, nil, nil}, "tol": 0})
	o := wantSolution(t, runCmd(defaultLimits, nil, strings.NewReader(in)))
	if o.Status != "infeasible" || o.MaxViolation == nil || !(*o.MaxViolation > 0.1) {
		t.Errorf("status %q, max_violation %v: want infeasible, violated by over 0.1", o.Status, o.MaxViolation)
	}
}

// TestStateBoundsTolViolation: tol_violation sets the violation tolerance
// (a loose one stops the outer iterations earlier, with a larger
// violation); without it the tolerance is min(tol, 1e-9).
func TestStateBoundsTolViolation(t *testing.T) {
	c := stateCases(t)[0]
	tight := solveDirect(t, c.in)
	c.in["tol_violation"] = 1e-3
	loose := solveDirect(t, c.in)
	t.Logf("iterations %d with tol_violation 1e-3, %d with 1e-12; max_violation %g, %g", loose.Iterations, tight.Iterations, *loose.MaxViolation, *tight.MaxViolation)
	if loose.Status != "converged" || !(*loose.MaxViolation <= 1e-3) || loose.Iterations > tight.Iterations {
		t.Errorf("tol_violation 1e-3: status %q, max_violation %g, %d iterations (%d with tol's)", loose.Status, *loose.MaxViolation, loose.Iterations, tight.Iterations)
	}
	for _, c := range []struct{ given, tol, want float64 }{
		{0, 1e-12, 1e-12}, {0, 1e-10, 1e-10}, {0, 1e-6, 1e-9}, {1e-4, 1e-12, 1e-4},
	} {
		if got := violationTol(c.given, c.tol); got != c.want {
			t.Errorf("violationTol(%g, %g) = %g, want %g", c.given, c.tol, got, c.want)
		}
	}
}

// TestStateBoundsBadInput: bad state bounds are refused with exit status
// 2 and a message naming the field (pendulumJSON: n = 3), and so are the
// bounds with grad_mode unrolled and on a model with a path constraint of
// its own.
func TestStateBoundsBadInput(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		raw    string // added before "tol" in the JSON text, for what maps cannot write
		want   []string
	}{
		{"lower above upper", map[string]any{"x_lower": []any{nil, 0.5, -1}, "x_upper": []any{nil, 0.4, 1}}, "",
			[]string{"x_lower[1] = 0.5 > x_upper[1] = 0.4"}},
		{"short", map[string]any{"x_lower": []any{nil, 1}}, "", []string{"x_lower has 2 entries", "n=3"}},
		{"long", map[string]any{"x_upper": []any{nil, 1, 2, 3}}, "", []string{"x_upper has 4 entries", "n=3"}},
		{"empty", map[string]any{"x_upper": []any{}}, "", []string{"x_upper has 0 entries"}},
		{"number", map[string]any{"x_upper": 1}, "", []string{"x_upper is a number", "a number or null"}},
		{"object", map[string]any{"x_lower": map[string]any{"a": 1}}, "", []string{"x_lower is an object"}},
		{"string entry", map[string]any{"x_upper": []any{nil, "1", nil}}, "", []string{"x_upper[1] is a string, want a number or null"}},
		{"bool entry", map[string]any{"x_upper": []any{true, nil, nil}}, "", []string{"x_upper[0] is true"}},
		{"nested", map[string]any{"x_lower": []any{[]float64{1}, nil, nil}}, "", []string{"x_lower[0] is a list"}},
		{"overflow", nil, `"x_lower": [null, null, -1e400], `, []string{"x_lower[2] = -1e400 is not a finite float64"}},
		{"tol_violation alone", map[string]any{"tol_violation": 1e-6}, "", []string{"tol_violation", "no state bounds"}},
		{"tol_violation negative", map[string]any{"tol_violation": -1, "x_upper": []any{nil, nil, 1}}, "", []string{"tol_violation = -1"}},
		{"unrolled x_lower", map[string]any{"grad_mode": "unrolled", "tol": 0, "max_iter": 2, "x_lower": []any{nil, nil, -1}}, "",
			[]string{"x_lower: grad_mode unrolled takes no state bounds"}},
		{"unrolled x_upper", map[string]any{"grad_mode": "unrolled", "tol": 0, "max_iter": 2, "x_upper": []any{nil, nil, 1}}, "",
			[]string{"x_upper: grad_mode unrolled takes no state bounds"}},
		{"unrolled tol_violation", map[string]any{"grad_mode": "unrolled", "tol": 0, "max_iter": 2, "x_upper": []any{nil, nil, 1}, "tol_violation": 1e-6}, "",
			[]string{"grad_mode unrolled takes no state bounds"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := pendulumJSON
			if c.fields != nil {
				in = problem(t, c.fields)
			} else if in = strings.Replace(in, `"tol"`, c.raw+`"tol"`, 1); in == pendulumJSON {
				t.Fatal(`no "tol" in the problem`)
			}
			wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(in)), c.want...)
		})
	}
	for _, name := range models.TaskNames() {
		task, err := models.TaskByName(name)
		if err != nil || task.Constraint == nil {
			continue
		}
		d := task.Dynamics.Dims()
		// Refused with or without state bounds: the command has no field
		// for the model's own constraint parameters, and dropping the
		// constraint would plan through it.
		for _, in := range []map[string]any{
			{"model": name, "T": 5, "x0": make([]float64, d.N), "x_upper": make([]any, d.N),
				"loss": map[string]any{"kind": "sum_sq_u"}},
			{"model": name, "T": 5, "x0": make([]float64, d.N), "loss": map[string]any{"kind": "sum_sq_u"}},
		} {
			b, _ := json.Marshal(in)
			wantFailure(t, runCmd(defaultLimits, nil, bytes.NewReader(b)), "path constraint of its own")
		}
	}
}

// TestStateBoundsCombined: state bounds with every other kind of input at
// once, on the pendulum speed-limit case: Q once, p per step, control
// bounds per step and a network (its output layer scaled by 0.01: with
// 0.05 the perturbed solves of some weights land in another local
// minimum, a jump in the loss that no derivative describes); the solve
// converges with ω on its upper bound and some controls on theirs, and the gradients of the bounds,
// x0 and the network weights agree with central differences to 1e-7.
func TestStateBoundsCombined(t *testing.T) {
	c := stateCases(t)[0]
	const tt, k = 20, 4
	in := c.in
	q, p := in["q"].([]float64), in["p"].([]float64)
	delete(in, "q")
	in["Q"] = rows(symMatrix(q, [3]float64{0, 3, 0.02}, [3]float64{1, 2, 0.01}), k)
	in["p"] = rows(scaledRows(p, tt, -0.01), k)
	lo, hi := make([][]float64, tt), make([][]float64, tt)
	for s := range tt {
		lo[s], hi[s] = []float64{-2 + 0.01*float64(s)}, []float64{2 - 0.01*float64(s)}
	}
	in["u_lower"], in["u_upper"] = lo, hi
	w := netWeights(3, 1, []int{4}, 0.01, 9)
	net := mlpField([]int{4}, w)
	in["mlp"] = net.json(net.v)
	o := solveDirect(t, in)
	if o.Status != "converged" || o.GradStatus != "ok" {
		t.Fatalf("status %q, gradient %q", o.Status, o.GradStatus)
	}
	active := checkStateActive(t, c, o)
	onBound := 0
	for s, u := range o.U {
		if u[0] == hi[s][0] {
			onBound++
		}
	}
	if onBound == 0 || slices.Max(o.Grad.UUpper) == 0 && slices.Min(o.Grad.UUpper) == 0 {
		t.Fatalf("%d controls on their upper bound, dL/du_upper %v: want some held there", onBound, o.Grad.UUpper)
	}
	if !slices.Equal(o.Grad.dims["Q"], []int{k, k}) || !slices.Equal(o.Grad.dims["p"], []int{tt, k}) || len(o.Grad.MLP) != len(w) {
		t.Fatalf("gradient shapes %v, %d network weights", o.Grad.dims, len(o.Grad.MLP))
	}
	var every5 []int // a seventh of the weights, to keep the test fast
	for i := 0; i < len(w); i += 5 {
		every5 = append(every5, i)
	}
	for _, f := range []fdField{c.fields[0], c.fields[1], c.fields[2], net} {
		idx := []int(nil)
		if f.name == "mlp" {
			idx = every5
		}
		e := checkFD(t, in, o, f, idx)
		t.Logf("%d states and %d controls on a bound; dL/d%s worst relative error %.2e", active, onBound, f.name, e)
	}
}

// TestStateBoundsEqual: equal bounds are accepted and pin the entry: the
// cart-pole's cart held at 0 for the whole horizon.
func TestStateBoundsEqual(t *testing.T) {
	c := stateCases(t)[1]
	c.in["x_lower"], c.in["x_upper"] = []any{0.0, nil, nil, nil, nil}, []any{0.0, nil, nil, nil, nil}
	o := solveMap(t, c.in)
	if o.Status != "converged" || !(*o.MaxViolation <= 1e-9) {
		t.Fatalf("status %q, max_violation %g", o.Status, *o.MaxViolation)
	}
	for s, x := range o.X {
		if math.Abs(x[0]) > 1e-9 {
			t.Errorf("x_%d[0] = %g, want 0", s, x[0])
		}
	}
	// The rows of the two bounds of an entry are dependent where both
	// are active; the gradient status says what the sweep made of it.
	t.Logf("gradient status %q", o.GradStatus)
}

// FuzzStateBounds solves the pendulum (T = 5) under fuzzed state bounds,
// each entry a number or null (bit i of mask nulls entry i, lower then
// upper): the command must exit 0 with both bound gradients of n entries,
// zero at the nulls, and a max_violation ≥ 0; or, exactly when some entry
// has lower > upper, exit 2 naming the bounds.
func FuzzStateBounds(f *testing.F) {
	f.Add(uint8(0b011011), -1.0, -1.0, -0.6, 1.0, 1.0, 0.6)
	f.Add(uint8(0b000000), -1.0, -1.0, -0.6, 1.0, 1.0, 0.6)
	f.Add(uint8(0b111110), 0.5, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Add(uint8(0b011011), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Add(uint8(0b011011), 0.0, 0.0, 1.0, 0.0, 0.0, -1.0)
	f.Add(uint8(0b110110), 1e300, 0.0, 0.0, 1e308, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, mask uint8, l0, l1, l2, u0, u1, u2 float64) {
		vals := []float64{l0, l1, l2, u0, u1, u2}
		b := make([]any, 6)
		for i, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return // not representable in JSON
			}
			if mask&(1<<i) == 0 {
				b[i] = v
			}
		}
		in := map[string]any{"model": "pendulum", "T": 5, "x0": fdtest.AngleState(math.Pi-0.2, 0.3),
			"x_lower": b[:3], "x_upper": b[3:], "loss": map[string]any{"kind": "sum_sq_u"}, "max_iter": 200}
		js, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		inverted := false
		for i := range 3 {
			inverted = inverted || b[i] != nil && b[3+i] != nil && vals[i] > vals[3+i]
		}
		var out, errb bytes.Buffer
		code := runLimited(fuzzLimits, nil, bytes.NewReader(js), &out, &errb)
		if inverted {
			if code != 2 || !strings.Contains(errb.String(), "> x_upper[") {
				t.Fatalf("inverted bounds %v: exit status %d, stderr %q", b, code, errb.String())
			}
			return
		}
		if code != 0 {
			// Only a non-finite solution may fail (bounds of 1e300 can
			// make the multipliers overflow).
			if code != 2 || !strings.Contains(errb.String(), "not finite") {
				t.Fatalf("bounds %v: exit status %d, stderr %q", b, code, errb.String())
			}
			return
		}
		var o Output
		if err := json.Unmarshal(out.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		if o.MaxViolation == nil || !(*o.MaxViolation >= 0) || len(o.Grad.XLower) != 3 || len(o.Grad.XUpper) != 3 {
			t.Fatalf("bounds %v: max_violation %v, grad.x_lower %v, grad.x_upper %v", b, o.MaxViolation, o.Grad.XLower, o.Grad.XUpper)
		}
		for i, g := range slices.Concat(o.Grad.XLower, o.Grad.XUpper) {
			if b[i] == nil && g != 0 {
				t.Fatalf("bounds %v: gradient %g at null entry %d", b, g, i)
			}
		}
	})
}
