package main

import (
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// unrolledInput is pendulumJSON in grad_mode unrolled with iters
// iterations and the initial state x0 (a JSON array).
func unrolledInput(iters, x0 string) string {
	in := strings.Replace(pendulumJSON, `"tol": 1e-12, "max_iter": 1000`, `"grad_mode": "unrolled", "max_iter": `+iters, 1)
	return strings.Replace(in, `[0.9950041652780258, 0.09983341664682815, 0.1]`, x0, 1)
}

// TestUnrolledFailureLeavesNoGoroutine: unrolled iterations that diverge
// from a state near the largest float64 fail with an error, and the failed
// runs leave no goroutine behind (a LispMachine run that fails would leave
// its worker, racing with the caller: go test -race fails then).
func TestUnrolledFailureLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, x0 := range []string{`[1e308, 1e308, 1e308]`, `[0, 1e308, 0]`} {
		_, err := runJSON(t, unrolledInput("3", x0))
		if err == nil || !strings.Contains(err.Error(), "not finite") {
			t.Errorf("x0 %s: error %v, want one about a value that is not finite", x0, err)
		}
	}
	deadline := time.Now().Add(time.Second) // let goroutines that are ending end
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before the failed runs, %d after", before, after)
	}
}

// TestUnrolledOneStep: with T = 1 (no dynamics step, so the output does
// not depend on the model's parameters) the unrolled mode runs, writes no
// file, gives zero parameter gradients, and agrees with the implicit mode.
// The one control's cost is quadratic, so one iteration reaches its
// optimum up to the regularization μ = 1e-6 (u = −p_u/(q_u + μ) against
// −p_u/q_u, a relative difference of μ/q_u = 2e-6), hence the tolerance.
func TestUnrolledOneStep(t *testing.T) {
	t.Chdir(t.TempDir())
	in := `{"model": "pendulum", "T": 1, "x0": [0.8, 0.6, 0.3], "q": [1, 1, 0.1, 0.5], "p": [-1, 0, 0, 0.4],
	  "u_lower": -2, "u_upper": 2, "loss": {"kind": "linear", "wx": [[1, 2, 3]], "wu": [[1.5]]}`
	want, err := runJSON(t, in+`, "tol": 1e-12}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := runJSON(t, in+`, "grad_mode": "unrolled", "max_iter": 2}`)
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob("*"); len(files) > 0 {
		t.Errorf("files written into the current directory: %v", files)
	}
	if got.Status != "unrolled" || len(got.X) != 1 || len(got.U) != 1 {
		t.Fatalf("status %q, X %d rows, U %d rows", got.Status, len(got.X), len(got.U))
	}
	for i, v := range got.Grad.Params {
		if v != 0 {
			t.Errorf("dL/dparams[%d] = %g, want 0 (no dynamics step at T = 1)", i, v)
		}
	}
	const tol = 1e-5
	if d := math.Abs(got.U[0][0] - want.U[0][0]); d > tol*math.Abs(want.U[0][0]) || want.U[0][0] == 0 {
		t.Errorf("u_0 = %.10g, implicit mode %.10g", got.U[0][0], want.U[0][0])
	}
	pairs := [][2][]float64{{got.Grad.Q, want.Grad.Q}, {got.Grad.P, want.Grad.P}, {got.Grad.X0, want.Grad.X0}}
	for _, p := range pairs {
		if len(p[0]) != len(p[1]) {
			t.Fatalf("gradient lengths %d and %d", len(p[0]), len(p[1]))
		}
		for i := range p[0] {
			if d := math.Abs(p[0][i] - p[1][i]); d > tol*math.Max(1, math.Abs(p[1][i])) {
				t.Errorf("gradient entry %d: unrolled %.10g, implicit %.10g", i, p[0][i], p[1][i])
			}
		}
	}
}
