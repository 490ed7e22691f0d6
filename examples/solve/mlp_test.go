package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// layerSizes returns the layer widths of a network on n states and m
// controls: n+m, hidden…, n.
func layerSizes(n, m int, hidden []int) []int {
	return slices.Concat([]int{n + m}, hidden, []int{n})
}

// weightCount is the number of weights of the layout the command
// documents: Σ_l H_l(H_{l−1} + 1).
func weightCount(sizes []int) int {
	c := 0
	for l := 1; l < len(sizes); l++ {
		c += sizes[l] * (sizes[l-1] + 1)
	}
	return c
}

// netWeights returns seeded weights for the network of hidden widths on n
// states and m controls, in the command's layout: W_l entries standard
// normal over √H_{l−1} (unit-scale hidden activations), hidden biases
// 0.1·normal, and the output layer (W and b) scaled further by out, so
// that the network changes the solution without dominating the model.
func netWeights(n, m int, hidden []int, out float64, seed uint64) []float64 {
	sizes := layerSizes(n, m, hidden)
	z := fdtest.Normals(seed, weightCount(sizes))
	w := make([]float64, 0, len(z))
	for l := 1; l < len(sizes); l++ {
		in, o := sizes[l-1], sizes[l]
		sw, sb := 1/math.Sqrt(float64(in)), 0.1
		if l == len(sizes)-1 {
			sw, sb = sw*out, sb*out
		}
		for range in * o {
			w = append(w, sw*z[len(w)])
		}
		for range o {
			w = append(w, sb*z[len(w)])
		}
	}
	return w
}

// mlpField is the mlp field of the given hidden widths, whose free values
// are the weights and whose gradient is grad.mlp.
func mlpField(hidden []int, w []float64) fdField {
	hidden = slices.Clip(append([]int{}, hidden...)) // [] rather than null for no hidden layer
	return fdField{name: "mlp", v: slices.Clone(w), dims: []int{len(w)},
		json: func(v []float64) any { return map[string]any{"hidden": hidden, "weights": slices.Clone(v)} },
		grad: func(g *Grad) []float64 { return g.MLP }}
}

// mlpCase is a problem with a network and the fields whose gradients are
// checked against central differences.
type mlpCase struct {
	name   string
	in     map[string]any
	fields []fdField
}

// mlpCases are the pendulum and the cart-pole of tightCases (bounds ±1 and
// ±4, "tol": 1e-12) with networks of hidden [4] and [8, 8], one affine
// network (hidden []), and two with the version-2 fields: the pendulum's q
// and bounds per step, and the cart-pole's Q once, p per step and the
// bounds as a number and a list (v2Cases).
func mlpCases() []mlpCase {
	base, v2 := tightCases(), v2Cases()
	var cases []mlpCase
	add := func(name string, in map[string]any, n, m int, hidden []int, out float64, seed uint64, params []float64, extra ...fdField) {
		in = maps.Clone(in)
		net := mlpField(hidden, netWeights(n, m, hidden, out, seed))
		fields := append([]fdField{net, listField("params", params), listField("x0", in["x0"].([]float64))}, extra...)
		for _, f := range fields {
			in[f.name] = f.json(f.v)
		}
		cases = append(cases, mlpCase{name: name, in: in, fields: fields})
	}
	pend, cart := base[0].in, base[1].in
	pp, cp := []float64{10, 1, 1}, []float64{9.8, 1, 0.1, 0.5}
	add("pendulum/hidden [4]", pend, 3, 1, []int{4}, 0.1, 11, pp)
	add("pendulum/hidden [8, 8]", pend, 3, 1, []int{8, 8}, 0.1, 12, pp)
	add("pendulum/hidden []", pend, 3, 1, []int{}, 0.1, 13, pp)
	add("cartpole/hidden [4]", cart, 5, 1, []int{4}, 0.05, 18, cp)
	add("cartpole/hidden [8, 8]", cart, 5, 1, []int{8, 8}, 0.05, 15, cp)

	// The version-2 shapes: the fields as v2Cases gives them, the bounds
	// per step also differenced.
	pv := v2[0] // pendulum: q per step, bounds per step
	add("pendulum/hidden [4], q and bounds per step", pv.in, 3, 1, []int{4}, 0.1, 16, pp,
		fieldNamed(pv.fields, "u_lower"), fieldNamed(pv.fields, "u_upper"))
	cv := v2[4] // cart-pole: Q once, p per step, bounds a number and a list
	add("cartpole/hidden [8, 8], Q once, p per step", cv.in, 5, 1, []int{8, 8}, 0.05, 17, cp,
		fieldNamed(cv.fields, "u_lower"), fieldNamed(cv.fields, "u_upper"))
	return cases
}

// fieldNamed returns the field called name.
func fieldNamed(fields []fdField, name string) fdField {
	for _, f := range fields {
		if f.name == name {
			return f
		}
	}
	panic("no field " + name)
}

// onBounds counts the controls of o held on a bound of in.
func onBounds(o *Output, in map[string]any) int {
	tt, m := len(o.U), len(o.U[0])
	lo, hi := boundRows(in["u_lower"], tt, m), boundRows(in["u_upper"], tt, m)
	c := 0
	for s, u := range o.U {
		for j, v := range u {
			if v == lo[s*m+j] || v == hi[s*m+j] {
				c++
			}
		}
	}
	return c
}

// diffSubset is fdtest.CentralDiff over the entries idx of v only (all
// when idx is nil), returning their derivatives in the order of idx; v is
// left as it was.
func diffSubset(v []float64, idx []int, loss func() float64) []float64 {
	if idx == nil {
		return fdtest.CentralDiff(v, fdtest.Rel, fdtest.Floor, loss)
	}
	sub := make([]float64, len(idx))
	for k, i := range idx {
		sub[k] = v[i]
	}
	set := func() {
		for k, i := range idx {
			v[i] = sub[k]
		}
	}
	fd := fdtest.CentralDiff(sub, fdtest.Rel, fdtest.Floor, func() float64 {
		set()
		return loss()
	})
	set() // CentralDiff restored sub
	return fd
}

// TestMLPGradients checks grad.mlp, grad.params and grad.x0 (and the
// bounds' gradients in the version-2 cases) against central differences
// of the loss computed by the command on perturbed inputs, to 1e-7
// relative to the largest entry of the same field, with controls held on
// the bounds and none within 1e-3 of a bound without being on it. Under
// -short every fifth weight is differenced.
//
// Measured: within 2e-11 on the pendulum, 4.5e-8 at worst (the cart-pole's
// [8, 8] weights); there the error moves between 4e-9 and 7e-8 with the
// step (Rel 1e-4 to 3e-3), the round-off of the re-solved loss, not a
// trend. A cart-pole network with output scale 0.05 and seed 14 took 338
// iterations and came within 7.5e-8; seed 18, 26 iterations, is used.
func TestMLPGradients(t *testing.T) {
	worst := map[string]float64{}
	for _, c := range mlpCases() {
		t.Run(c.name, func(t *testing.T) {
			o := solveConverged(t, c.in)
			active := checkActiveSet(t, o, c.in, false)
			if onBounds(o, c.in) == 0 {
				t.Fatalf("controls %s: want some on a bound", active)
			}
			for _, f := range c.fields {
				got := f.grad(&o.Grad)
				if len(got) != len(f.v) {
					t.Fatalf("grad.%s has %d entries, want %d", f.name, len(got), len(f.v))
				}
				var idx []int
				if testing.Short() && f.name == "mlp" {
					for i := 0; i < len(f.v); i += 5 {
						idx = append(idx, i)
					}
				}
				e := checkFD(t, c.in, o, f, idx)
				worst[f.name] = math.Max(worst[f.name], e)
				t.Logf("controls %s; dL/d%s worst relative error %.2e", active, f.name, e)
			}
		})
	}
	t.Logf("worst relative errors over the cases: %v", worst)
}

// TestMLPMatters: the network changes the solution (the cases do test it),
// its gradient is not zero, and the output has the documented shapes:
// grad.params the model's θ only, grad.mlp one entry per weight.
func TestMLPMatters(t *testing.T) {
	for _, c := range mlpCases()[:5] {
		without := maps.Clone(c.in)
		delete(without, "mlp")
		o, ref := solveMap(t, c.in), solveMap(t, without)
		w := c.fields[0].v
		if len(o.Grad.Params) != len(ref.Grad.Params) || len(o.Grad.MLP) != len(w) || ref.Grad.MLP != nil {
			t.Errorf("%s: grad.params %d entries (%d without the network), grad.mlp %d for %d weights (%d without)",
				c.name, len(o.Grad.Params), len(ref.Grad.Params), len(o.Grad.MLP), len(w), len(ref.Grad.MLP))
			continue
		}
		if e, _ := fdtest.RelErr(slices.Concat(o.U...), slices.Concat(ref.U...)); e < 1e-3 {
			t.Errorf("%s: the network moves U by %.2e relative: it does not matter", c.name, e)
		}
		if slices.Max(o.Grad.MLP) == 0 && slices.Min(o.Grad.MLP) == 0 {
			t.Errorf("%s: grad.mlp is zero", c.name)
		}
	}
}

// TestMLPZeroWeights: a network whose weights are all zero adds nothing:
// the solution, the loss and the gradients of the other inputs are those
// of the model alone (the solver's Hessians of the network's part are then
// zero, so only round-off may differ).
func TestMLPZeroWeights(t *testing.T) {
	for _, c := range tightCases() {
		for _, hidden := range [][]int{{4}, {8, 8}} {
			in := maps.Clone(c.in)
			n := len(in["x0"].([]float64))
			in["mlp"] = map[string]any{"hidden": hidden, "weights": make([]float64, weightCount(layerSizes(n, 1, hidden)))}
			o, ref := solveMap(t, in), solveMap(t, c.in)
			for _, p := range []struct {
				name      string
				got, want []float64
			}{
				{"U", slices.Concat(o.U...), slices.Concat(ref.U...)},
				{"loss", []float64{o.Loss}, []float64{ref.Loss}},
				{"grad.params", o.Grad.Params, ref.Grad.Params},
				{"grad.x0", o.Grad.X0, ref.Grad.X0},
				{"grad.q", o.Grad.Q, ref.Grad.Q},
				{"grad.p", o.Grad.P, ref.Grad.P},
				{"grad.u_lower", o.Grad.ULower, ref.Grad.ULower},
			} {
				if len(p.got) != len(p.want) {
					t.Fatalf("%s %v: %s has %d entries, want %d", c.name, hidden, p.name, len(p.got), len(p.want))
				}
				if e, at := fdtest.RelErr(p.got, p.want); !(e <= 1e-9) {
					t.Errorf("%s %v: %s[%d] = %.15g, without the network %.15g", c.name, hidden, p.name, at, p.got[at], p.want[at])
				}
			}
		}
	}
}

// TestMLPFixedPoint: grad_mode fixed_point (the Gauss-Newton gradient,
// an approximation that ignores the curvature of the dynamics, so it is
// not compared with the implicit one) takes a network: the same solution,
// grad.mlp of one entry per weight, and grad.params of the model's θ.
func TestMLPFixedPoint(t *testing.T) {
	c := mlpCases()[6]
	in := maps.Clone(c.in)
	in["grad_mode"] = "fixed_point"
	o, ref := solveMap(t, in), solveMap(t, c.in)
	if o.Loss != ref.Loss || o.GradStatus != "ok" || len(o.Grad.MLP) != len(c.fields[0].v) || len(o.Grad.Params) != 4 {
		t.Errorf("fixed_point: loss %.17g (implicit %.17g), gradient %q, %d entries of grad.mlp for %d weights, %d of grad.params",
			o.Loss, ref.Loss, o.GradStatus, len(o.Grad.MLP), len(c.fields[0].v), len(o.Grad.Params))
	}
}

// TestMLPLayout: the documented example, the pendulum (n = 3, m = 1) with
// hidden [2], takes exactly 19 weights, in the documented order: with
// W_1 = 0 the network is the constant b_2, which moves x_1 by b_2 exactly.
func TestMLPLayout(t *testing.T) {
	w := make([]float64, 19)
	copy(w[16:], []float64{0.01, -0.02, 0.03}) // b_2: the last 3 numbers
	w[10] = 5                                  // W_2[0][0]: multiplies a_1 = tanh(b_1) = 0
	in := map[string]any{"model": "pendulum", "T": 2, "x0": []float64{1, 0, 0},
		"loss": map[string]any{"kind": "sum_sq_u"}, "u_lower": 0, "u_upper": 0,
		"mlp": map[string]any{"hidden": []int{2}, "weights": w}}
	o := solveMap(t, in)
	delete(in, "mlp")
	ref := solveMap(t, in)
	for i, b := range []float64{0.01, -0.02, 0.03} {
		if d := o.X[1][i] - ref.X[1][i]; math.Abs(d-b) > 1e-15 {
			t.Errorf("x_1[%d] moves by %.17g, want b_2[%d] = %g", i, d, i, b)
		}
	}
	if len(o.Grad.MLP) != 19 {
		t.Errorf("grad.mlp has %d entries, want 19", len(o.Grad.MLP))
	}
	in["mlp"] = map[string]any{"hidden": []int{2}, "weights": w[:18]}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, runCmd(defaultLimits, nil, bytes.NewReader(b)),
		"mlp.weights is a list of 18 numbers, want 19 numbers", "W_1 2×4, b_1 2, W_2 3×2, b_2 3")
}

// TestMLPBadInput: bad networks are refused with exit status 2 and one
// line naming the field (pendulumJSON: n = 3, m = 1).
func TestMLPBadInput(t *testing.T) {
	ok19 := make([]float64, 19)
	cases := []struct {
		name string
		mlp  any
		more map[string]any
		raw  string // the mlp value as JSON text, for what maps cannot write
		want []string
	}{
		{"weights short", map[string]any{"hidden": []int{2}, "weights": ok19[:18]}, nil, "",
			[]string{"mlp.weights is a list of 18 numbers, want 19 numbers (hidden [2] on n=3, m=1"}},
		{"weights long", map[string]any{"hidden": []int{8, 8}, "weights": ok19}, nil, "",
			[]string{"mlp.weights is a list of 19 numbers, want 139 numbers", "W_1 8×4, b_1 8, W_2 8×8, b_2 8, W_3 3×8, b_3 3"}},
		{"weights missing", map[string]any{"hidden": []int{2}}, nil, "", []string{"mlp.weights is missing: want 19 numbers"}},
		{"weights null", map[string]any{"hidden": []int{2}, "weights": nil}, nil, "", []string{"mlp.weights is missing"}},
		{"weights number", map[string]any{"hidden": []int{2}, "weights": 1}, nil, "", []string{"mlp.weights is a number, want 19 numbers"}},
		{"weights rows", map[string]any{"hidden": []int{2}, "weights": [][]float64{{1}}}, nil, "", []string{"mlp.weights[0] is a list nested 2 deep"}},
		{"weights string", map[string]any{"hidden": []int{2}, "weights": []any{1, "2"}}, nil, "", []string{"mlp.weights[1] is a string"}},
		{"weights overflow", nil, nil, `{"hidden": [2], "weights": [0, 0, 0, 1e999]}`, []string{"mlp.weights[3] = 1e999 is not a finite float64"}},
		{"hidden missing", map[string]any{"weights": ok19}, nil, "", []string{"mlp.hidden is missing"}},
		{"hidden zero", map[string]any{"hidden": []int{4, 0}, "weights": ok19}, nil, "", []string{"mlp.hidden[1] = 0: a width must be a whole number from 1 to 65536"}},
		{"hidden negative", map[string]any{"hidden": []int{-3}, "weights": ok19}, nil, "", []string{"mlp.hidden[0] = -3"}},
		{"hidden fraction", map[string]any{"hidden": []float64{2.5}, "weights": ok19}, nil, "", []string{"mlp.hidden[0] = 2.5"}},
		{"hidden too wide", map[string]any{"hidden": []int{70000}, "weights": ok19}, nil, "", []string{"mlp.hidden[0] = 70000"}},
		{"hidden huge", nil, nil, `{"hidden": [1e300], "weights": []}`, []string{"mlp.hidden[0] = 1e+300"}},
		{"hidden too deep", map[string]any{"hidden": make([]int, 65), "weights": ok19}, nil, "", []string{"mlp.hidden has 65 layers, at most 64"}},
		{"hidden number", map[string]any{"hidden": 2, "weights": ok19}, nil, "", []string{"mlp.hidden is a number, want a list"}},
		{"hidden string", map[string]any{"hidden": []any{"2"}, "weights": ok19}, nil, "", []string{"mlp.hidden[0] is a string"}},
		{"too many weights", map[string]any{"hidden": []int{1000, 1000}, "weights": ok19}, nil, "",
			[]string{"mlp.hidden: hidden [1000, 1000] on n=3, m=1 has 1009003 weights, over the limit of 1000000"}},
		{"unknown field", map[string]any{"hidden": []int{2}, "weights": ok19, "activation": "relu"}, nil, "", []string{`mlp: unknown field "activation"`}},
		{"not an object", []float64{1, 2}, nil, "", []string{"mlp is a JSON array, want an object"}},
		{"string", "tanh", nil, "", []string{"mlp is a JSON string"}},
		{"unrolled", map[string]any{"hidden": []int{2}, "weights": ok19},
			map[string]any{"grad_mode": "unrolled", "tol": 0, "max_iter": 2}, "", []string{"mlp: grad_mode unrolled takes no network"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fields := map[string]any{"mlp": c.mlp}
			maps.Copy(fields, c.more)
			in := problem(t, fields)
			if c.raw != "" {
				in = strings.Replace(in, `"mlp":null`, `"mlp":`+c.raw, 1)
				if !strings.Contains(in, c.raw) {
					t.Fatal("no mlp field to replace")
				}
			}
			wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(in)), c.want...)
		})
	}
	// null is absent: the output is the model's alone, with no grad.mlp.
	want := runCmd(defaultLimits, nil, strings.NewReader(pendulumJSON))
	if got := runCmd(defaultLimits, nil, strings.NewReader(problem(t, map[string]any{"mlp": nil}))); got != want {
		t.Errorf("\"mlp\": null changes the output:\n%s\nwant\n%s", got.stdout, want.stdout)
	}
	if strings.Contains(want.stdout, "mlp") {
		t.Errorf("output without a network mentions mlp:\n%s", want.stdout)
	}
}

// mlpSeeds are fuzz seeds with the mlp field: valid networks (with the
// version-2 fields too) and bad ones.
func mlpSeeds() []string {
	w := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprint(0.01 * float64(i%7-3))
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	pend := `{"model": "pendulum", "T": 4, "x0": [1, 0, 0.1], "loss": {"kind": "sum_sq_u"}, "u_lower": -1, "u_upper": 1, `
	return []string{
		pend + `"mlp": {"hidden": [2], "weights": ` + w(19) + `}}`,
		pend + `"mlp": {"hidden": [], "weights": ` + w(15) + `}, "grad_mode": "fixed_point"}`,
		pend + `"mlp": {"hidden": [2, 3], "weights": ` + w(31) + `}, "q": [[1,1,0.1,0.3],[1,1,0.1,0.3],[1,1,0.2,0.3],[1,1,0.1,0.4]]}`,
		`{"model": "cartpole", "T": 3, "x0": [0, 0, 1, 0, 0], "loss": {"kind": "sum_sq_u"}, "u_lower": [[-4],[-3],[-4]], "u_upper": 4,
		  "mlp": {"hidden": [1], "weights": ` + w(17) + `}}`,
		pend + `"mlp": {"hidden": [2], "weights": ` + w(18) + `}}`,
		pend + `"mlp": {"hidden": [0], "weights": []}}`,
		pend + `"mlp": {"hidden": [2], "weights": ` + w(19) + `}, "grad_mode": "unrolled", "tol": 0, "max_iter": 2}`,
		pend + `"mlp": [1]}`,
	}
}

// TestMLPSeeds: the fuzz seeds with a network are what they say: the
// first four are solved, with one gradient entry per weight, the others
// refused.
func TestMLPSeeds(t *testing.T) {
	for i, s := range mlpSeeds() {
		r := runCmd(fuzzLimits, nil, strings.NewReader(s))
		if i >= 4 {
			wantFailure(t, r, "mlp")
			continue
		}
		o := wantSolution(t, r)
		var pr struct {
			MLP struct {
				Weights []float64 `json:"weights"`
			} `json:"mlp"`
		}
		if err := json.Unmarshal([]byte(s), &pr); err != nil {
			t.Fatal(err)
		}
		if len(o.Grad.MLP) != len(pr.MLP.Weights) {
			t.Errorf("seed %d: %d entries of grad.mlp for %d weights", i, len(o.Grad.MLP), len(pr.MLP.Weights))
		}
	}
}
