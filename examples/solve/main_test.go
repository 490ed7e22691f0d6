package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
)

const pendulumJSON = `{"model": "pendulum", "T": 8, "x0": [0.9950041652780258, 0.09983341664682815, 0.1],
 "q": [1, 1, 0.1, 0.5], "p": [-1, 0, 0, 0], "u_lower": -2, "u_upper": [2],
 "loss": {"kind": "sum_sq_u"}, "tol": 1e-12, "max_iter": 1000}`

// runJSON runs the command on the problem in with the default limits and
// returns its decoded output or its error.
func runJSON(t *testing.T, in string) (*Output, error) {
	t.Helper()
	var out bytes.Buffer
	if err := runErr(defaultLimits, nil, strings.NewReader(in), &out, io.Discard); err != nil {
		return nil, err
	}
	var o Output
	if err := json.Unmarshal(out.Bytes(), &o); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	return &o, nil
}

// TestSolveJSON checks the output's shape and that its parameter gradient
// agrees with central finite differences of the loss computed by the same
// command on perturbed inputs (an end-to-end check of the JSON path).
func TestSolveJSON(t *testing.T) {
	o, err := runJSON(t, pendulumJSON)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != "converged" || o.GradStatus != "ok" || len(o.X) != 8 || len(o.U) != 8 || len(o.X[0]) != 3 {
		t.Fatalf("status %q/%q, X %d×%d, U %d", o.Status, o.GradStatus, len(o.X), len(o.X[0]), len(o.U))
	}
	lossAt := func(g float64) float64 {
		var pr map[string]any
		if err := json.Unmarshal([]byte(pendulumJSON), &pr); err != nil {
			t.Fatal(err)
		}
		pr["params"] = []float64{g, 1, 1}
		b, _ := json.Marshal(pr)
		r, err := runJSON(t, string(b))
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	const h = 1e-4 // relative to g = 10; truncation O(h²) ≪ 1e-6
	fd := (lossAt(10+h) - lossAt(10-h)) / (2 * h)
	if d := math.Abs(fd - o.Grad.Params[0]); d > 1e-6*math.Max(1, math.Abs(fd)) {
		t.Errorf("dL/dg = %.10g, finite differences %.10g", o.Grad.Params[0], fd)
	}
}

func TestSolveJSONModes(t *testing.T) {
	for _, mode := range []string{"implicit", "fixed_point"} {
		in := strings.Replace(pendulumJSON, `"tol"`, `"grad_mode": "`+mode+`", "tol"`, 1)
		o, err := runJSON(t, in)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		for _, v := range append(append(o.Grad.Params, o.Grad.Q...), o.Grad.X0...) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s: non-finite gradient", mode)
			}
		}
	}
}

func TestSolveJSONBadInput(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"not JSON", `{"model": `, "reading problem JSON"},
		{"unknown field", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "bogus": 1}`, "unknown field"},
		{"unknown model", `{"model": "no_such_model", "T": 3, "x0": [1,0,0], "loss": {"kind": "sum_sq_u"}}`, "unknown model"},
		{"T=0", `{"model": "pendulum", "T": 0, "x0": [1,0,0], "loss": {"kind": "sum_sq_u"}}`, "T=0"},
		{"x0 length", `{"model": "pendulum", "T": 3, "x0": [1,0], "loss": {"kind": "sum_sq_u"}}`, "x0"},
		{"params length", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "params": [1], "loss": {"kind": "sum_sq_u"}}`, "params"},
		{"inverted bounds", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "u_lower": 1, "u_upper": -1, "loss": {"kind": "sum_sq_u"}}`, "Lower"},
		{"bounds wider than clamp", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "u_lower": -5, "u_upper": 5, "loss": {"kind": "sum_sq_u"}}`, "clamp"},
		{"loss kind", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "loss": {"kind": "huber"}}`, "loss.kind"},
		{"wx rows", `{"model": "pendulum", "T": 2, "x0": [1,0,0], "loss": {"kind": "linear", "wx": [[1,2,3]], "wu": [[1],[1]]}}`, "wx"},
		{"grad mode", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "loss": {"kind": "sum_sq_u"}, "grad_mode": "magic"}`, "grad_mode"},
		{"NaN-like x0", `{"model": "pendulum", "T": 3, "x0": [1e400,0,0], "loss": {"kind": "sum_sq_u"}}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runJSON(t, c.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestSolveJSONUnrolled checks the unrolled mode against the implicit one
// on problems where the unrolled iterations reach the solver's solution:
// the gradients must then agree (the exact gradient is the limit of the
// unrolled one).
func TestSolveJSONUnrolled(t *testing.T) {
	cases := []struct{ name, in string }{
		{"pendulum", pendulumJSON},
		{"cartpole", `{"model": "cartpole", "T": 6, "x0": [0.1, 0.2, 0.995004165278, 0.0998334166468, -0.1],
		  "u_lower": -10, "u_upper": 10, "loss": {"kind": "linear",
		  "wx": [[1,0,0,0,1],[0,1,0,0,0],[0,0,1,0,0],[0,0,0,1,0],[1,1,1,1,1],[0,0,0,0,1]],
		  "wu": [[1],[0.5],[-1],[0],[2],[1]]}, "tol": 1e-12, "max_iter": 1000}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := runJSON(t, c.in)
			if err != nil {
				t.Fatal(err)
			}
			in := strings.Replace(c.in, `"tol": 1e-12, "max_iter": 1000`, `"grad_mode": "unrolled", "max_iter": 60`, 1)
			got, err := runJSON(t, in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != "unrolled" || got.Iterations != 60 {
				t.Fatalf("status %q, iterations %d", got.Status, got.Iterations)
			}
			if d := math.Abs(got.Loss - want.Loss); d > 1e-7*math.Max(1, math.Abs(want.Loss)) {
				t.Errorf("loss %.12g, implicit mode %.12g", got.Loss, want.Loss)
			}
			pairs := [][2][]float64{{got.Grad.Params, want.Grad.Params}, {got.Grad.Q, want.Grad.Q},
				{got.Grad.P, want.Grad.P}, {got.Grad.X0, want.Grad.X0}}
			for _, p := range pairs {
				if len(p[0]) != len(p[1]) {
					t.Fatalf("gradient lengths %d and %d", len(p[0]), len(p[1]))
				}
				for i := range p[0] {
					if d := math.Abs(p[0][i] - p[1][i]); d > 1e-6*math.Max(1, math.Abs(p[1][i])) {
						t.Errorf("gradient entry %d: unrolled %.10g, implicit %.10g", i, p[0][i], p[1][i])
					}
				}
			}
		})
	}
	if _, err := runJSON(t, strings.Replace(pendulumJSON, `"tol"`, `"grad_mode": "unrolled", "tol"`, 1)); err == nil ||
		!strings.Contains(err.Error(), "tol") {
		t.Errorf("unrolled with tol: error %v, want one naming tol", err)
	}
}
