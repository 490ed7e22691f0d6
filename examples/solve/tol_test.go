package main

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// tightCase is a problem with active control bounds, solved to "tol":
// 1e-12, whose reported gradient must match central finite differences of
// the re-solved problem to 1e-8 relative (a Converged status means the
// projected gradient is within the tolerance asked for).
type tightCase struct {
	name string
	in   map[string]any
}

func tightCases() []tightCase {
	return []tightCase{
		{"pendulum", map[string]any{
			"model": "pendulum", "T": 12, "x0": fdtest.AngleState(1.2, 0.3),
			"q": []float64{1, 1, 0.1, 0.3}, "p": []float64{-1, 0, 0, 0},
			"u_lower": -1, "u_upper": 1, "loss": linearLoss(12, 3, 1, 5),
			"tol": 1e-12, "max_iter": 5000}},
		{"cartpole", map[string]any{
			"model": "cartpole", "T": 10, "x0": []float64{0.1, -0.2, math.Cos(0.5), math.Sin(0.5), 0.3},
			"q": []float64{0.1, 0.1, 1, 1, 0.1, 0.01}, "p": []float64{0, 0, -1, 0, 0, 0},
			"u_lower": -4, "u_upper": 4, "loss": linearLoss(10, 5, 1, 6),
			"tol": 1e-12, "max_iter": 5000}},
	}
}

// solveMap runs the command on the problem in and fails the test on error.
func solveMap(t *testing.T, in map[string]any) *Output {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	o, err := runJSON(t, string(b))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// solveConverged is solveMap for a problem that must converge with its
// gradient: it fails t otherwise.
func solveConverged(t *testing.T, in map[string]any) *Output {
	t.Helper()
	o := solveMap(t, in)
	if o.Status != "converged" || o.GradStatus != "ok" {
		t.Fatalf("status %q, gradient %q", o.Status, o.GradStatus)
	}
	return o
}

func TestTightToleranceGradients(t *testing.T) {
	for _, c := range tightCases() {
		t.Run(c.name, func(t *testing.T) {
			o := solveConverged(t, c.in)
			lo := float64(c.in["u_lower"].(int))
			onBound := 0
			for s, u := range o.U {
				d := math.Min(u[0]-lo, -lo-u[0])
				switch {
				case d == 0:
					onBound++
				case d < 1e-3:
					t.Fatalf("u_%d = %g is within 1e-3 of a bound: the active set may change under a perturbation", s, u[0])
				}
			}
			if onBound == 0 {
				t.Fatal("no control on a bound: the case does not test active bounds")
			}
			params := []float64{10, 1, 1}
			if c.name == "cartpole" {
				params = []float64{9.8, 1, 0.1, 0.5}
			}
			c.in["params"] = params
			o = solveMap(t, c.in) // the same problem with explicit params
			for _, g := range []struct {
				name string
				v    []float64
				got  []float64
			}{
				{"x0", c.in["x0"].([]float64), o.Grad.X0},
				{"params", params, o.Grad.Params},
				{"q", c.in["q"].([]float64), o.Grad.Q},
				{"p", c.in["p"].([]float64), o.Grad.P},
			} {
				fd := fdtest.CentralDiff(g.v, fdtest.Rel, fdtest.Floor, func() float64 {
					return solveMap(t, c.in).Loss
				})
				e, at := fdtest.RelErr(g.got, fd)
				t.Logf("%s: %d of %d controls on a bound; dL/d%s worst relative error %.2e", c.name, onBound, len(o.U), g.name, e)
				if !(e <= 1e-8) {
					t.Errorf("dL/d%s[%d] = %.12g, finite differences %.12g (relative error %.2e > 1e-8)",
						g.name, at, g.got[at], fd[at], e)
				}
			}
		})
	}
}
