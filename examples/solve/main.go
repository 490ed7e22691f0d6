// Command solve reads one box-constrained optimal control problem as JSON,
// solves it with the iLQR solver and writes the solution and the gradient of
// a loss through it as JSON, so a problem can be checked against an
// independent implementation.
//
//	go run ./examples/solve < problem.json
//	go run ./examples/solve -in problem.json
//
// Input fields:
//
//	model       "pendulum", "cartpole" or "double_pendulum"
//	params      dynamics parameters in the model's documented order
//	            (optional: the model's nominal values)
//	T           horizon: T states x_0..x_{T-1} and T controls
//	x0          initial state
//	q, p        cost ½τᵀdiag(q)τ + pᵀτ per step, τ = (x, u)
//	            (optional: the task's default cost)
//	u_lower, u_upper  bounds: a number or one per control component
//	            (optional: the task's default bounds)
//	loss        {"kind": "sum_sq_u"}: L = Σ u²; or
//	            {"kind": "linear", "wx": T×n, "wu": T×m}: L = Σ wx·X + Σ wu·U
//	grad_mode   "implicit" (default), "unrolled" or "fixed_point"
//	max_iter    iteration limit (default 500; for "unrolled" the exact
//	            number of unrolled iterations, default 100)
//	tol         projected-gradient tolerance (default 1e-10)
//
// Output fields: X (T×n), U (T×m), cost, status, iterations, loss and grad
// with params, q, p and x0. Bad JSON or an impossible problem: a message on
// stderr and exit status 2.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// Problem is the JSON input.
type Problem struct {
	Model   string          `json:"model"`
	Params  []float64       `json:"params"`
	T       int             `json:"T"`
	X0      []float64       `json:"x0"`
	Q       []float64       `json:"q"`
	P       []float64       `json:"p"`
	ULower  json.RawMessage `json:"u_lower"`
	UUpper  json.RawMessage `json:"u_upper"`
	Loss    Loss            `json:"loss"`
	Mode    string          `json:"grad_mode"`
	MaxIter int             `json:"max_iter"`
	Tol     float64         `json:"tol"`
}

// Loss is the JSON loss description.
type Loss struct {
	Kind string      `json:"kind"`
	WX   [][]float64 `json:"wx"`
	WU   [][]float64 `json:"wu"`
}

// Output is the JSON output.
type Output struct {
	X          [][]float64 `json:"X"`
	U          [][]float64 `json:"U"`
	Cost       float64     `json:"cost"`
	Status     string      `json:"status"`
	Iterations int         `json:"iterations"`
	Loss       float64     `json:"loss"`
	GradStatus string      `json:"grad_status"`
	Grad       Grad        `json:"grad"`
}

// Grad holds dL with respect to each input.
type Grad struct {
	Params []float64 `json:"params"`
	Q      []float64 `json:"q"`
	P      []float64 `json:"p"`
	X0     []float64 `json:"x0"`
}

func main() {
	in := flag.String("in", "", "read the problem from this file instead of stdin")
	flag.Parse()
	if err := run(*in, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "solve:", err)
		os.Exit(2)
	}
}

func run(path string, stdin io.Reader, stdout io.Writer) error {
	r := stdin
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var pr Problem
	if err := dec.Decode(&pr); err != nil {
		return fmt.Errorf("reading problem JSON: %w", err)
	}
	out, err := solve(&pr)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// bounds decodes a number or a list of m numbers; empty means def.
func bounds(raw json.RawMessage, name string, m int, def []float64) ([]float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err == nil {
		b := make([]float64, m)
		for i := range b {
			b[i] = x
		}
		return b, nil
	}
	var xs []float64
	if err := json.Unmarshal(raw, &xs); err != nil {
		return nil, fmt.Errorf("%s must be a number or a list of %d numbers", name, m)
	}
	if len(xs) != m {
		return nil, fmt.Errorf("%s has %d entries, want %d", name, len(xs), m)
	}
	return xs, nil
}

// matrix flattens a T×k list, checking its shape.
func matrix(v [][]float64, name string, t, k int) ([]float64, error) {
	if len(v) != t {
		return nil, fmt.Errorf("loss: %s has %d rows, want T=%d", name, len(v), t)
	}
	out := make([]float64, 0, t*k)
	for i, r := range v {
		if len(r) != k {
			return nil, fmt.Errorf("loss: %s row %d has %d entries, want %d", name, i, len(r), k)
		}
		out = append(out, r...)
	}
	return out, nil
}

func rows(v []float64, k int) [][]float64 {
	out := make([][]float64, 0, len(v)/k)
	for i := 0; i+k <= len(v); i += k {
		out = append(out, v[i:i+k])
	}
	return out
}

func solve(pr *Problem) (*Output, error) {
	task, err := models.TaskByName(pr.Model)
	if err != nil {
		return nil, err
	}
	d := task.Dynamics.Dims()
	n, m, k := d.N, d.M, d.N+d.M
	if pr.T < 1 {
		return nil, fmt.Errorf("T=%d: the horizon must be at least 1", pr.T)
	}
	if len(pr.X0) != n {
		return nil, fmt.Errorf("x0 has %d entries, model %s has n=%d", len(pr.X0), pr.Model, n)
	}
	theta := pr.Params
	if theta == nil {
		theta = task.Dynamics.DefaultParams()
	}
	if len(theta) != d.P {
		return nil, fmt.Errorf("params has %d entries, model %s has %d", len(theta), pr.Model, d.P)
	}
	phi := task.Cost.DefaultParams()
	if pr.Q != nil {
		if len(pr.Q) != k {
			return nil, fmt.Errorf("q has %d entries, want n+m=%d", len(pr.Q), k)
		}
		copy(phi[:k], pr.Q)
	}
	if pr.P != nil {
		if len(pr.P) != k {
			return nil, fmt.Errorf("p has %d entries, want n+m=%d", len(pr.P), k)
		}
		copy(phi[k:], pr.P)
	}
	cost, err := models.NewQuadCost(n, m, phi[:k], phi[k:])
	if err != nil {
		return nil, err
	}
	lo, err := bounds(pr.ULower, "u_lower", m, task.Lower)
	if err != nil {
		return nil, err
	}
	hi, err := bounds(pr.UUpper, "u_upper", m, task.Upper)
	if err != nil {
		return nil, err
	}
	var mode ilqr.GradMode
	switch pr.Mode {
	case "", "implicit":
		mode = ilqr.Implicit
	case "fixed_point":
		mode = ilqr.FixedPoint
	case "unrolled":
		return solveUnrolled(pr, task, cost, theta, phi, lo, hi)
	default:
		return nil, fmt.Errorf("grad_mode %q: want implicit, unrolled or fixed_point", pr.Mode)
	}
	if pr.MaxIter < 0 || pr.Tol < 0 {
		return nil, errors.New("max_iter and tol must not be negative")
	}
	maxIter := pr.MaxIter
	if maxIter == 0 {
		maxIter = 500
	}
	tol := pr.Tol
	if tol == 0 {
		tol = 1e-10
	}
	prob := ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: cost, Lower: lo, Upper: hi}, T: pr.T}
	sv, err := ilqr.NewSolver(prob, &ilqr.Settings{MaxIter: maxIter, TolGrad: tol})
	if err != nil {
		return nil, err
	}
	in := ilqr.Inputs{X0: pr.X0, Theta: theta, Phi: phi}
	var res ilqr.Result
	if err := sv.Solve(&res, in); err != nil {
		return nil, err
	}
	loss, dX, dU, err := lossAndGrad(&pr.Loss, res.X, res.U, pr.T, n, m)
	if err != nil {
		return nil, err
	}
	var g ilqr.Grads
	if err := sv.Gradient(&g, &res, in, dX, dU, ilqr.GradOptions{Mode: mode, Unconverged: ilqr.GradientAnyway}); err != nil {
		return nil, err
	}
	return &Output{
		X: rows(res.X, n), U: rows(res.U, m), Cost: res.Cost[0],
		Status: res.Status[0].String(), Iterations: res.Iterations[0],
		Loss: loss, GradStatus: g.Status[0].String(),
		Grad: Grad{Params: g.Theta, Q: g.Phi[:k], P: g.Phi[k:], X0: g.X0},
	}, nil
}

// lossAndGrad evaluates the loss and its gradient with respect to X and U.
func lossAndGrad(l *Loss, x, u []float64, t, n, m int) (float64, []float64, []float64, error) {
	dX := make([]float64, len(x))
	dU := make([]float64, len(u))
	var loss float64
	switch l.Kind {
	case "sum_sq_u":
		for i, v := range u {
			loss += v * v
			dU[i] = 2 * v
		}
	case "linear":
		wx, err := matrix(l.WX, "wx", t, n)
		if err != nil {
			return 0, nil, nil, err
		}
		wu, err := matrix(l.WU, "wu", t, m)
		if err != nil {
			return 0, nil, nil, err
		}
		for i, v := range x {
			loss += wx[i] * v
		}
		for i, v := range u {
			loss += wu[i] * v
		}
		copy(dX, wx)
		copy(dU, wu)
	default:
		return 0, nil, nil, fmt.Errorf("loss.kind %q: want sum_sq_u or linear", l.Kind)
	}
	return loss, dX, dU, nil
}
