package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// fdField is one input field whose reported gradient is checked against
// central differences: its free values v, the JSON value they make, and
// the reported gradient in the coordinates of v.
type fdField struct {
	name string
	v    []float64
	json func(v []float64) any
	grad func(g *Grad) []float64
	// dims is the shape the gradient must be written in.
	dims []int
}

// gradField returns the flat gradient of the JSON field name.
func gradField(g *Grad, name string) []float64 {
	switch name {
	case "q":
		return g.Q
	case "Q":
		return g.QFull
	case "p":
		return g.P
	case "x0":
		return g.X0
	case "params":
		return g.Params
	case "u_lower":
		return g.ULower
	case "u_upper":
		return g.UUpper
	}
	panic("no gradient field " + name)
}

// listField is a field given as a flat list.
func listField(name string, v []float64) fdField {
	return fdField{name: name, v: slices.Clone(v), dims: []int{len(v)},
		json: func(v []float64) any { return slices.Clone(v) },
		grad: func(g *Grad) []float64 { return gradField(g, name) }}
}

// rowsField is a field given as rows of k.
func rowsField(name string, v []float64, k int) fdField {
	return fdField{name: name, v: slices.Clone(v), dims: []int{len(v) / k, k},
		json: func(v []float64) any { return rows(slices.Clone(v), k) },
		grad: func(g *Grad) []float64 { return gradField(g, name) }}
}

// numberField is a field given as one number.
func numberField(name string, x float64) fdField {
	return fdField{name: name, v: []float64{x}, dims: []int{},
		json: func(v []float64) any { return v[0] },
		grad: func(g *Grad) []float64 { return gradField(g, name) }}
}

// symField is Q given as k×k matrices (steps of them, or one with
// steps = 0), symmetric by construction: its free values are the upper
// triangles, row by row, so that a perturbation keeps Q symmetric. The
// derivative along the upper-triangle entry (i, j), i < j, moves Q_ij and
// Q_ji together: the reported dL/dQ_ij + dL/dQ_ji.
func symField(q []float64, k, steps int) fdField {
	n := max(steps, 1)
	var v []float64
	for s := range n {
		for i := range k {
			for j := i; j < k; j++ {
				v = append(v, q[s*k*k+i*k+j])
			}
		}
	}
	full := func(v []float64) []float64 {
		out := make([]float64, n*k*k)
		at := 0
		for s := range n {
			for i := range k {
				for j := i; j < k; j++ {
					out[s*k*k+i*k+j], out[s*k*k+j*k+i] = v[at], v[at]
					at++
				}
			}
		}
		return out
	}
	dims := []int{k, k}
	if steps > 0 {
		dims = []int{steps, k, k}
	}
	return fdField{name: "Q", v: v, dims: dims,
		json: func(v []float64) any {
			r := rows(full(v), k)
			if steps == 0 {
				return r
			}
			out := make([][][]float64, steps)
			for s := range out {
				out[s] = r[s*k : (s+1)*k]
			}
			return out
		},
		grad: func(g *Grad) []float64 {
			var out []float64
			for s := range n {
				q := g.QFull[s*k*k : (s+1)*k*k]
				for i := range k {
					for j := i; j < k; j++ {
						if i == j {
							out = append(out, q[i*k+i])
						} else {
							out = append(out, q[i*k+j]+q[j*k+i])
						}
					}
				}
			}
			return out
		}}
}

// v2Case is a problem using version-2 fields and the fields whose
// gradients are checked.
type v2Case struct {
	name   string
	in     map[string]any
	fields []fdField
	// bounds: some controls must be on a bound (the lower one and the
	// upper one) and some free.
	bounds bool
}

// scaledRows returns t rows of v scaled by 1 + rate·s in row s, flat.
func scaledRows(v []float64, t int, rate float64) []float64 {
	out := make([]float64, 0, t*len(v))
	for s := range t {
		for _, x := range v {
			out = append(out, x*(1+rate*float64(s)))
		}
	}
	return out
}

// symMatrix returns diag(d) with the symmetric off-diagonal entries off
// ({i, j, value}), flat.
func symMatrix(d []float64, off ...[3]float64) []float64 {
	k := len(d)
	q := make([]float64, k*k)
	for i, x := range d {
		q[i*k+i] = x
	}
	for _, o := range off {
		i, j := int(o[0]), int(o[1])
		q[i*k+j], q[j*k+i] = o[2], o[2]
	}
	return q
}

// v2Cases are, on the pendulum and the cart-pole of tightCases, each new
// input shape: q per step with per-step bounds (controls held on lower
// and upper bounds of different steps), Q once with p per step and the
// bounds as a number and as m numbers (p_u of the last step pushes its
// control onto the bound that no other control reaches), and Q and p per
// step.
func v2Cases() []v2Case {
	base := tightCases()
	pend, cart := base[0].in, base[1].in
	with := func(in map[string]any, fields []fdField) map[string]any {
		out := maps.Clone(in)
		delete(out, "q")
		for _, f := range fields {
			out[f.name] = f.json(f.v)
		}
		return out
	}
	var cases []v2Case
	add := func(name string, in map[string]any, bounds bool, fields ...fdField) {
		cases = append(cases, v2Case{name: name, in: with(in, fields), fields: fields, bounds: bounds})
	}

	// The pendulum: T = 12, K = 4, its controls on the lower bound
	// for t < 8 with bounds ±1 and u_11 = 0 (nothing after it).
	const tp, kp = 12, 4
	pq, pp := []float64{1, 1, 0.1, 0.3}, []float64{-1, 0, 0, 0}
	lo, hi := make([]float64, tp), make([]float64, tp)
	for s := range tp {
		lo[s], hi[s] = -1-0.02*float64(s), 1+0.03*float64(s)
	}
	hi[tp-1] = -0.1 // holds u_11 on its upper bound
	add("pendulum/q per step, bounds per step", pend, true,
		rowsField("q", scaledRows(pq, tp, 0.05), kp), listField("p", pp),
		rowsField("u_lower", lo, 1), rowsField("u_upper", hi, 1),
		listField("x0", pend["x0"].([]float64)), listField("params", []float64{10, 1, 1}))
	pQ := symMatrix(pq, [3]float64{0, 3, 0.05}, [3]float64{1, 2, 0.02}, [3]float64{2, 3, 0.01})
	ppRows := scaledRows(pp, tp, 0)
	ppRows[(tp-1)*kp+3] = -0.5 // u_11 = 0.5/0.3 > 1: on the upper bound
	add("pendulum/Q once, p per step, bounds number and list", pend, true,
		symField(pQ, kp, 0), rowsField("p", ppRows, kp),
		numberField("u_lower", -1), listField("u_upper", []float64{1}))
	add("pendulum/Q and p per step", pend, false,
		symField(scaledRows(pQ, tp, 0.04), kp, tp), rowsField("p", scaledRows(pp, tp, -0.02), kp))

	// The cart-pole: T = 10, K = 6, its controls on the upper bound for
	// t < 5 with bounds ±4 and u_9 = 0.
	const tc, kc = 10, 6
	cq, cp := []float64{0.1, 0.1, 1, 1, 0.1, 0.01}, []float64{0, 0, -1, 0, 0, 0}
	lo, hi = make([]float64, tc), make([]float64, tc)
	for s := range tc {
		lo[s], hi[s] = -4-0.1*float64(s), 4-0.05*float64(s)
	}
	lo[tc-1] = 0.1 // holds u_9 on its lower bound
	add("cartpole/q per step, bounds per step", cart, true,
		rowsField("q", scaledRows(cq, tc, 0.05), kc), listField("p", cp),
		rowsField("u_lower", lo, 1), rowsField("u_upper", hi, 1),
		listField("x0", cart["x0"].([]float64)), listField("params", []float64{9.8, 1, 0.1, 0.5}))
	cQ := symMatrix(cq, [3]float64{0, 1, 0.01}, [3]float64{2, 4, 0.05}, [3]float64{1, 5, 0.002}, [3]float64{3, 5, 0.003})
	cpRows := scaledRows(cp, tc, 0)
	cpRows[(tc-1)*kc+5] = 0.1 // u_9 ≈ −0.1/0.01 < −4: on the lower bound
	add("cartpole/Q once, p per step, bounds number and list", cart, true,
		symField(cQ, kc, 0), rowsField("p", cpRows, kc),
		numberField("u_lower", -4), listField("u_upper", []float64{4}))
	add("cartpole/Q and p per step", cart, false,
		symField(scaledRows(cQ, tc, 0.04), kc, tc), rowsField("p", scaledRows(cp, tc, -0.02), kc))
	return cases
}

// boundRows expands a bound given as a number, m numbers or T rows of m
// (as JSON values built by the fields above) to T·m.
func boundRows(b any, t, m int) []float64 {
	out := make([]float64, 0, t*m)
	for s := range t {
		switch b := b.(type) {
		case int:
			for range m {
				out = append(out, float64(b))
			}
		case float64:
			for range m {
				out = append(out, b)
			}
		case []float64:
			out = append(out, b...)
		case [][]float64:
			out = append(out, b[s]...)
		}
	}
	return out
}

// checkActiveSet counts the controls of o on their bounds, fails the test
// when one is within 1e-3 of a bound without being on it (a perturbation
// could then change the active set), and, with want, when no control is
// on a lower bound, none on an upper bound or none free.
func checkActiveSet(t *testing.T, o *Output, in map[string]any, want bool) string {
	t.Helper()
	tt, m := len(o.U), len(o.U[0])
	lo, hi := boundRows(in["u_lower"], tt, m), boundRows(in["u_upper"], tt, m)
	var onLo, onHi, free int
	for s, u := range o.U {
		for j, v := range u {
			l, h := lo[s*m+j], hi[s*m+j]
			switch d := math.Min(v-l, h-v); {
			case v == l:
				onLo++
			case v == h:
				onHi++
			case d < 1e-3:
				t.Fatalf("u_%d[%d] = %g is within 1e-3 of its bounds [%g, %g]", s, j, v, l, h)
			default:
				free++
			}
		}
	}
	if want && (onLo == 0 || onHi == 0 || free == 0) {
		t.Fatalf("%d controls on a lower bound, %d on an upper bound, %d free: want some of each", onLo, onHi, free)
	}
	return fmt.Sprintf("%d on a lower bound, %d on an upper bound, %d free", onLo, onHi, free)
}

// TestVersion2Gradients checks every version-2 input shape: the gradient
// is written in the shape the input was given, and it agrees with central
// differences of the loss computed by the command on perturbed inputs to
// 1e-7 relative to the largest entry of the same field (the problems are
// solved to "tol": 1e-12; fdtest.CentralDiff's extrapolated differences
// come within about 3.5e-7 of the exact gradient on the solver's own
// tests, within 1e-8 on these).
func TestVersion2Gradients(t *testing.T) {
	for _, c := range v2Cases() {
		t.Run(c.name, func(t *testing.T) {
			o := solveConverged(t, c.in)
			active := checkActiveSet(t, o, c.in, c.bounds)
			for _, f := range c.fields {
				if f.name != "x0" && f.name != "params" && !slices.Equal(o.Grad.dims[f.name], f.dims) {
					t.Errorf("grad.%s written as %v, want %v", f.name, o.Grad.dims[f.name], f.dims)
				}
				got := f.grad(&o.Grad)
				if len(got) != len(f.v) {
					t.Fatalf("grad.%s has %d entries, want %d", f.name, len(got), len(f.v))
				}
				fd := fdtest.CentralDiff(f.v, fdtest.Rel, fdtest.Floor, func() float64 {
					c.in[f.name] = f.json(f.v)
					return solveMap(t, c.in).Loss
				})
				c.in[f.name] = f.json(f.v)
				e, at := fdtest.RelErr(got, fd)
				t.Logf("controls %s; dL/d%s (%d values) worst relative error %.2e", active, f.name, len(f.v), e)
				if !(e <= 1e-7) {
					t.Errorf("dL/d%s[%d] = %.12g, finite differences %.12g (relative error %.2e > 1e-7)",
						f.name, at, got[at], fd[at], e)
				}
			}
		})
	}
}

// TestVersion2GradQSymmetric: the gradient with respect to a symmetric Q
// is symmetric (∂(½τᵀQτ)/∂Q_ij = ½τ_iτ_j), to round-off.
func TestVersion2GradQSymmetric(t *testing.T) {
	for _, c := range v2Cases() {
		if _, ok := c.in["Q"]; !ok {
			continue
		}
		g := solveMap(t, c.in).Grad
		d := g.dims["Q"]
		k := d[len(d)-1]
		for s := 0; s*k*k < len(g.QFull); s++ {
			q := g.QFull[s*k*k : (s+1)*k*k]
			scale := 0.0
			for _, v := range q {
				scale = math.Max(scale, math.Abs(v))
			}
			for i := range k {
				for j := range i {
					if math.Abs(q[i*k+j]-q[j*k+i]) > 1e-13*scale {
						t.Errorf("%s: step %d: dL/dQ[%d][%d] = %.17g, dL/dQ[%d][%d] = %.17g", c.name, s, i, j, q[i*k+j], j, i, q[j*k+i])
					}
				}
			}
		}
	}
}

// TestVersion2Equivalences: the same problem written in different
// version-2 shapes has the same solution, and the gradients relate as the
// command's documentation says: a field given once has the sum over steps
// of the per-step gradient, Q = diag(q) has dL/dQ_ii = dL/dq_i, a bound
// given as a number has the sum of the per-step gradients.
func TestVersion2Equivalences(t *testing.T) {
	c := tightCases()[0] // the pendulum: T = 12, K = 4, bounds ±1
	const tt, k = 12, 4
	q, p := c.in["q"].([]float64), c.in["p"].([]float64)
	ref := solveMap(t, c.in)
	near := func(what string, got, want []float64, tol float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		if e, at := fdtest.RelErr(got, want); !(e <= tol) {
			t.Errorf("%s[%d] = %.15g, want %.15g (relative error %.2e)", what, at, got[at], want[at], e)
		}
	}
	sameSolution := func(what string, o *Output) {
		t.Helper()
		near(what+": U", slices.Concat(o.U...), slices.Concat(ref.U...), 1e-9)
		near(what+": loss", []float64{o.Loss}, []float64{ref.Loss}, 1e-11)
		near(what+": dL/dx0", o.Grad.X0, ref.Grad.X0, 1e-8)
	}
	// sum adds the rows of v of length k.
	sum := func(v []float64, k int) []float64 {
		out := make([]float64, k)
		for i, x := range v {
			out[i%k] += x
		}
		return out
	}

	in := maps.Clone(c.in)
	in["q"], in["p"] = rows(scaledRows(q, tt, 0), k), rows(scaledRows(p, tt, 0), k)
	o := solveMap(t, in)
	sameSolution("q, p per step", o)
	near("q per step: summed dL/dq", sum(o.Grad.Q, k), ref.Grad.Q, 1e-8)
	near("p per step: summed dL/dp", sum(o.Grad.P, k), ref.Grad.P, 1e-8)

	in = maps.Clone(c.in)
	delete(in, "q")
	in["Q"] = rows(symMatrix(q), k)
	o = solveMap(t, in)
	sameSolution("Q = diag(q)", o)
	diag := make([]float64, k)
	for i := range k {
		diag[i] = o.Grad.QFull[i*k+i]
	}
	near("Q = diag(q): diagonal of dL/dQ", diag, ref.Grad.Q, 1e-8)
	near("Q = diag(q): dL/dp", o.Grad.P, ref.Grad.P, 1e-8)

	lo, hi := make([][]float64, tt), make([][]float64, tt)
	for s := range tt {
		lo[s], hi[s] = []float64{-1}, []float64{1}
	}
	in = maps.Clone(c.in)
	in["u_lower"], in["u_upper"] = lo, hi
	perStep := solveMap(t, in)
	sameSolution("bounds per step", perStep)
	in["u_lower"], in["u_upper"] = []float64{-1}, []float64{1}
	list := solveMap(t, in)
	for _, g := range []struct {
		name             string
		steps, one, list []float64
	}{
		{"u_lower", perStep.Grad.ULower, ref.Grad.ULower, list.Grad.ULower},
		{"u_upper", perStep.Grad.UUpper, ref.Grad.UUpper, list.Grad.UUpper},
	} {
		// m = 1: the sum of all and the sums over steps are both sum(·, 1).
		near(g.name+" as a number: dL/d"+g.name, g.one, sum(g.steps, 1), 1e-12)
		near(g.name+" as a list: dL/d"+g.name, g.list, sum(g.steps, 1), 1e-12)
	}
	if ref.Grad.ULower[0] == 0 {
		t.Error("dL/du_lower = 0: the case has no control on its lower bound")
	}
}

// TestVersion1Compatible: the version-1 fields keep their meaning: "Q"
// given as a flat list of K numbers is q (version 1 matched field names
// case-insensitively), and bounds given as a number or m numbers take the
// path they took, adding only their gradients to the output.
func TestVersion1Compatible(t *testing.T) {
	want := runCmd(defaultLimits, nil, strings.NewReader(pendulumJSON))
	legacy := strings.Replace(pendulumJSON, `"q"`, `"Q"`, 1)
	if got := runCmd(defaultLimits, nil, strings.NewReader(legacy)); got != want {
		t.Errorf("\"Q\" as a flat list: output differs from \"q\"'s:\n%s\nwant\n%s", got.stdout, want.stdout)
	}
	o := wantSolution(t, want)
	if o.Grad.QFull != nil || len(o.Grad.Q) != 4 || len(o.Grad.P) != 4 {
		t.Errorf("grad has Q %v, q %v, p %v", o.Grad.QFull, o.Grad.Q, o.Grad.P)
	}
	// pendulumJSON gives "u_lower": -2 and "u_upper": [2].
	if !slices.Equal(o.Grad.dims["u_lower"], []int{}) || !slices.Equal(o.Grad.dims["u_upper"], []int{1}) {
		t.Errorf("bound gradients written as %v and %v, want a number and a list of 1", o.Grad.dims["u_lower"], o.Grad.dims["u_upper"])
	}
	for _, f := range []string{`"q": [`, `"p": [`, `"x0": [`, `"params": [`, `"u_lower": `, `"u_upper": [`} {
		if !strings.Contains(want.stdout, f) {
			t.Errorf("output has no %s", f)
		}
	}
	// Without bounds in the input, none in grad.
	noBounds := problem(t, map[string]any{"u_lower": nil, "u_upper": nil})
	r := runCmd(defaultLimits, nil, strings.NewReader(noBounds))
	wantSolution(t, r)
	if strings.Contains(r.stdout, "u_lower") || strings.Contains(r.stdout, "u_upper") {
		t.Errorf("bound gradients written for bounds not given:\n%s", r.stdout)
	}
}

// TestVersion2Modes: fixed_point takes the version-2 fields and writes the
// same shapes; unrolled refuses them, naming the field.
func TestVersion2Modes(t *testing.T) {
	c := v2Cases()[1] // Q once, p per step, bounds a number and a list
	in := maps.Clone(c.in)
	in["grad_mode"] = "fixed_point"
	o := solveMap(t, in)
	if o.Status != "converged" || !slices.Equal(o.Grad.dims["Q"], []int{4, 4}) || !slices.Equal(o.Grad.dims["p"], []int{12, 4}) {
		t.Errorf("fixed_point: status %q, shapes %v", o.Status, o.Grad.dims)
	}
	unrolled := map[string]any{"grad_mode": "unrolled", "tol": 0, "max_iter": 2}
	for _, f := range []struct {
		name  string
		value any
	}{
		{"Q", rows(symMatrix([]float64{1, 1, 0.1, 0.5}), 4)},
		{"q", rows(scaledRows([]float64{1, 1, 0.1, 0.5}, 8, 0), 4)},
		{"p", rows(scaledRows([]float64{-1, 0, 0, 0}, 8, 0), 4)},
		{"u_lower", rows(scaledRows([]float64{-1}, 8, 0), 1)},
		{"u_upper", rows(scaledRows([]float64{1}, 8, 0), 1)},
	} {
		fields := maps.Clone(unrolled)
		fields[f.name] = f.value
		if f.name == "Q" {
			fields["q"] = nil
		}
		wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(problem(t, fields))), f.name+": grad_mode unrolled")
	}
	// The version-1 shapes still run unrolled.
	wantSolution(t, runCmd(defaultLimits, nil, strings.NewReader(problem(t, unrolled))))
}

// TestVersion2BadInput: bad shapes, an asymmetric Q and numbers beyond the
// float64 range are refused with exit status 2 and a message naming the
// field (pendulumJSON: T = 8, K = 4, m = 1).
func TestVersion2BadInput(t *testing.T) {
	eye := rows(symMatrix([]float64{1, 1, 1, 1}), 4)
	asym := rows(symMatrix([]float64{1, 1, 1, 1}), 4)
	asym[3][2] = 0.5
	steps := make([][][]float64, 8)
	for s := range steps {
		steps[s] = eye
	}
	asymStep := slices.Clone(steps)
	asymStep[5] = asym
	inverted := rows(scaledRows([]float64{-1}, 8, 0), 1)
	inverted[3] = []float64{1.5}
	cases := []struct {
		name   string
		fields map[string]any
		raw    [2]string // a replacement in the JSON text, for what maps cannot write
		want   []string
	}{
		{"q length", map[string]any{"q": []float64{1, 2, 3}}, [2]string{}, []string{"q is a list of 3 numbers", "T=8, n+m=4"}},
		{"q rows", map[string]any{"q": [][]float64{{1, 1, 1, 1}}}, [2]string{}, []string{"q is 1 row of 4 numbers"}},
		{"q ragged", map[string]any{"q": [][]float64{{1, 1, 1, 1}, {1, 1, 1}}}, [2]string{}, []string{"q[1] is a list of 3 numbers but q[0] is a list of 4"}},
		{"q too deep", map[string]any{"q": [][][]float64{{{1}}}}, [2]string{}, []string{"q[0][0]"}},
		{"q number", map[string]any{"q": 1}, [2]string{}, []string{"q is a number"}},
		{"q string", map[string]any{"q": []any{1, "1", 1, 1}}, [2]string{}, []string{"q[1] is a string"}},
		{"q null entry", map[string]any{"q": []any{1, nil, 1, 1}}, [2]string{}, []string{"q[1] is null"}},
		{"q object", map[string]any{"q": map[string]any{"a": 1}}, [2]string{}, []string{"q is an object"}},
		{"q and Q", map[string]any{"Q": eye}, [2]string{}, []string{"q and Q"}},
		{"Q shape", map[string]any{"q": nil, "Q": [][]float64{{1, 0}, {0, 1}}}, [2]string{}, []string{"Q is 2 rows of 2 numbers"}},
		{"Q flat K²", map[string]any{"q": nil, "Q": make([]float64, 16)}, [2]string{}, []string{"Q is a list of 16 numbers"}},
		{"Q steps", map[string]any{"q": nil, "Q": steps[:3]}, [2]string{}, []string{"Q is 3×4×4 numbers", "8×4×4"}},
		{"Q asymmetric", map[string]any{"q": nil, "Q": asym}, [2]string{}, []string{"Q is not symmetric: Q[2][3] = 0 but Q[3][2] = 0.5"}},
		{"Q asymmetric step", map[string]any{"q": nil, "Q": asymStep}, [2]string{}, []string{"Q[5][2][3] = 0 but Q[5][3][2] = 0.5"}},
		{"Q asymmetric by 1 ulp", map[string]any{"q": nil, "Q": [][]float64{{1, 0.1, 0, 0}, {math.Nextafter(0.1, 1), 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}},
			[2]string{}, []string{"Q is not symmetric: Q[0][1] = 0.1 but Q[1][0] = 0.10000000000000002"}},
		{"p rows", map[string]any{"p": [][]float64{{1, 1, 1, 1}, {1, 1, 1, 1}}}, [2]string{}, []string{"p is 2 rows of 4"}},
		{"u_lower rows", map[string]any{"u_lower": [][]float64{{-1}, {-1}}}, [2]string{}, []string{"u_lower is 2 rows of 1 number", "T=8, m=1"}},
		{"u_upper width", map[string]any{"u_upper": []float64{1, 1}}, [2]string{}, []string{"u_upper is a list of 2 numbers"}},
		{"u_upper string", map[string]any{"u_upper": "1"}, [2]string{}, []string{"u_upper is a string"}},
		{"u_lower per step inverted", map[string]any{"u_lower": inverted, "u_upper": rows(scaledRows([]float64{1}, 8, 0), 1)},
			[2]string{}, []string{"Lower 1.5 > Upper 1 at step 3"}},
		{"q overflow", nil, [2]string{`"q": [1, 1, 0.1, 0.5]`, `"q": [1, 1, 1e400, 0.5]`}, []string{"q[2] = 1e400 is not a finite float64"}},
		{"Q overflow", nil, [2]string{`"q": [1, 1, 0.1, 0.5]`, `"Q": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,-1e999]]`}, []string{"Q[3][3] = -1e999 is not a finite float64"}},
		{"p overflow", nil, [2]string{`"p": [-1, 0, 0, 0]`, `"p": [[-1, 0, 0, 0], [1e309, 0, 0, 0]]`}, []string{"p[1][0] = 1e309"}},
		{"u_lower overflow", nil, [2]string{`"u_lower": -2`, `"u_lower": -2e308`}, []string{"u_lower = -2e308 is not a finite float64"}},
		{"u_upper overflow", nil, [2]string{`"u_upper": [2]`, `"u_upper": [[2],[2],[2],[2],[2],[2],[2],[9e999]]`}, []string{"u_upper[7][0] = 9e999"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := pendulumJSON
			if c.fields != nil {
				in = problem(t, c.fields)
			} else if in = strings.Replace(in, c.raw[0], c.raw[1], 1); in == pendulumJSON {
				t.Fatalf("%q is not in the problem", c.raw[0])
			}
			wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(in)), c.want...)
		})
	}
}

// roundTrip writes g as JSON and reads it back.
func roundTrip(t *testing.T, g *Grad) Grad {
	t.Helper()
	b, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Grad
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return back
}

// TestGradJSONRoundTrip: a Grad written and read back has the same numbers
// and shapes, and reading refuses unknown fields.
func TestGradJSONRoundTrip(t *testing.T) {
	o := solveMap(t, v2Cases()[2].in) // Q and p per step
	g := roundTrip(t, &o.Grad)
	if !slices.Equal(g.QFull, o.Grad.QFull) || !slices.Equal(g.P, o.Grad.P) || g.Q != nil ||
		!slices.Equal(g.dims["Q"], []int{12, 4, 4}) || !slices.Equal(g.dims["p"], []int{12, 4}) {
		t.Errorf("read back: Q %v, p %v, q %v, shapes %v", len(g.QFull), len(g.P), g.Q, g.dims)
	}
	if err := g.UnmarshalJSON([]byte(`{"params": [1], "bogus": 1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}
