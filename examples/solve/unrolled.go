package main

import (
	"errors"
	"fmt"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/op/unrolled"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// defaultUnrolledIters is the number of unrolled iterations without
// max_iter.
const defaultUnrolledIters = 100

// graphSteps are the models' step functions for the unrolled graph.
var graphSteps = map[string]models.Step[unrolled.GraphScalar]{
	"pendulum":        models.PendulumStep[unrolled.GraphScalar],
	"cartpole":        models.CartpoleStep[unrolled.GraphScalar],
	"double_pendulum": models.DoublePendulumStep[unrolled.GraphScalar],
}

// solveUnrolled runs max_iter iLQR iterations built from Gorgonia
// operations (unrolled.Build: full steps, fixed regularization, no
// convergence test) and differentiates the loss by Gorgonia's reverse mode
// through all of them on a LispMachine. The status is "unrolled" and
// iterations is the unrolled count; compare X and U with the implicit
// mode's to see whether the iterations reached the solver's solution.
//
// The problem is run as a batch of two identical examples, of which only
// the first enters the loss: Gorgonia's LispMachine differentiates some
// single-element tensors wrongly (see unrolled.Build), which a batch of one
// would produce.
func solveUnrolled(pr *Problem, task models.Task, cost models.Cost, theta, phi, lo, hi []float64) (*Output, error) {
	if pr.MaxIter < 0 {
		return nil, errors.New("max_iter must not be negative")
	}
	if pr.Tol != 0 {
		return nil, errors.New("tol: grad_mode unrolled runs a fixed number of iterations (max_iter) and takes no tolerance")
	}
	iters := pr.MaxIter
	if iters == 0 {
		iters = defaultUnrolledIters
	}
	step, ok := graphSteps[pr.Model]
	if !ok {
		return nil, fmt.Errorf("grad_mode unrolled: no graph step function for model %q", pr.Model)
	}
	d := task.Dynamics.Dims()
	n, m, k, t := d.N, d.M, d.N+d.M, pr.T
	const bs = 2
	twice := func(v []float64) []float64 { return append(append([]float64(nil), v...), v...) }
	g := G.NewGraph()
	input := func(name string, v []float64, cols int) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(bs, cols), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(bs, cols), tensor.WithBacking(twice(v)))))
	}
	x0n, thn, phn := input("x0", pr.X0, n), input("params", theta, d.P), input("phi", phi, len(phi))
	prob := ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: cost, Lower: lo, Upper: hi}, T: t}
	out, err := unrolled.Build(x0n, thn, phn, unrolled.Config{Problem: prob, Step: step, Iters: iters})
	if err != nil {
		return nil, err
	}
	// The loss on the first example: Σ (mask ⊙ out)² or Σ W ⊙ out, with
	// the second example's entries of mask and W zero.
	w := make([]float64, bs*t*k)
	switch pr.Loss.Kind {
	case "sum_sq_u":
		for s := range t {
			for j := n; j < k; j++ {
				w[s*k+j] = 1
			}
		}
	case "linear":
		wx, err := matrix(pr.Loss.WX, "wx", t, n)
		if err != nil {
			return nil, err
		}
		wu, err := matrix(pr.Loss.WU, "wu", t, m)
		if err != nil {
			return nil, err
		}
		for s := range t {
			copy(w[s*k:s*k+n], wx[s*n:(s+1)*n])
			copy(w[s*k+n:(s+1)*k], wu[s*m:(s+1)*m])
		}
	default:
		return nil, fmt.Errorf("loss.kind %q: want sum_sq_u or linear", pr.Loss.Kind)
	}
	wn := G.NewConstant(tensor.New(tensor.WithShape(bs, t, k), tensor.WithBacking(w)), G.WithName("loss_weights"))
	terms := G.Must(G.HadamardProd(out, wn))
	if pr.Loss.Kind == "sum_sq_u" {
		terms = G.Must(G.Square(terms))
	}
	loss := G.Must(G.Sum(G.Must(G.Reshape(terms, tensor.Shape{bs * t * k}))))
	var outVal, lossVal G.Value
	G.Read(out, &outVal)
	G.Read(loss, &lossVal)
	// The forward pass first, in Go: a LispMachine run that fails (for
	// example on iterations that diverge to a non-finite control) leaks
	// its worker goroutine, which races with this one (see
	// unrolled.Forward).
	if _, err := unrolled.Forward(loss); err != nil {
		return nil, fmt.Errorf("grad_mode unrolled: %w", err)
	}
	vm := G.NewLispMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return nil, fmt.Errorf("grad_mode unrolled: %w", op.Cause(err))
	}

	traj := outVal.Data().([]float64)[:t*k] // the first example
	x, u := make([]float64, 0, t*n), make([]float64, 0, t*m)
	ev := cost.NewEvaluator()
	var c float64
	for s := range t {
		xs, us := traj[s*k:s*k+n], traj[s*k+n:(s+1)*k]
		x, u = append(x, xs...), append(u, us...)
		c += ev.Value(xs, us, phi)
	}
	first := func(nd *G.Node, cols int) ([]float64, error) {
		v, err := nd.Grad()
		if err != nil {
			return nil, fmt.Errorf("grad_mode unrolled: gradient of %s: %w", nd.Name(), err)
		}
		return append([]float64(nil), v.Data().([]float64)[:cols]...), nil
	}
	gx0, err := first(x0n, n)
	if err != nil {
		return nil, err
	}
	gth, err := first(thn, d.P)
	if err != nil {
		return nil, err
	}
	gph, err := first(phn, len(phi))
	if err != nil {
		return nil, err
	}
	return &Output{
		X: rows(x, n), U: rows(u, m), Cost: c,
		Status: "unrolled", Iterations: iters,
		Loss: lossVal.Data().(float64), GradStatus: "ok",
		Grad: Grad{Params: gth, Q: gph[:k], P: gph[k:], X0: gx0},
	}, nil
}
