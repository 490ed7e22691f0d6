package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/op/unrolled"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// timeUnrolled times the unrolled baseline: it iterations of iLQR built
// from Gorgonia operations (unrolled.Build) with the loss Σ dX·X + Σ dU·U,
// run on Gorgonia's LispMachine. forward is the median time of a
// forward-only run; backward is the median time of a forward and reverse
// run minus forward. A LispMachine cannot run a graph twice, so every run
// gets a freshly built graph; building is not timed. Cases with T·it above
// maxUnrolled are skipped (the graph grows like T·it).
//
// The LispMachine, not the TapeMachine: compiling a tape costs time
// quadratic in the node count in Gorgonia v0.9.18 (hours at T = 10 and 300
// iterations, 150,000 nodes), and its common-subexpression elimination
// merges distinct nodes whose 32-bit hashes collide (see
// unrolled.HashCollisions). Per node, both machines run the same Ops.
func timeUnrolled(task models.Task, t, it int, x0, dX, dU []float64, reps, maxUnrolled int) (row, error) {
	r := row{mode: "unrolled", t: t, iters: it}
	if t*it > maxUnrolled {
		r.note = fmt.Sprintf("skipped (T·iterations > %d)", maxUnrolled)
		return r, nil
	}
	fwd := make([]float64, reps)
	total := make([]float64, reps)
	for i := range reps {
		var err error
		if fwd[i], err = runUnrolled(task, t, it, x0, dX, dU, false); err != nil {
			return r, err
		}
		if total[i], err = runUnrolled(task, t, it, x0, dX, dU, true); err != nil {
			return r, err
		}
	}
	r.forward = median(fwd)
	r.backward = max(median(total)-r.forward, 0)
	return r, nil
}

// runUnrolled builds the unrolled graph and returns the duration of one
// LispMachine run over it, forward only or forward and backward.
func runUnrolled(task models.Task, t, it int, x0, dX, dU []float64, backward bool) (float64, error) {
	d := task.Dynamics.Dims()
	g := G.NewGraph()
	dense := func(data []float64, shape ...int) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), data...)))
	}
	x0n := G.NewMatrix(g, tensor.Float64, G.WithShape(batch, d.N), G.WithName("x0"), G.WithValue(dense(x0, batch, d.N)))
	theta := task.Dynamics.DefaultParams()
	th := G.NewVector(g, tensor.Float64, G.WithShape(len(theta)), G.WithName("theta"), G.WithValue(dense(theta, len(theta))))
	phi := task.Cost.DefaultParams()
	ph := G.NewVector(g, tensor.Float64, G.WithShape(len(phi)), G.WithName("phi"), G.WithValue(dense(phi, len(phi))))
	prob := ilqr.Problem{Task: task, T: t}
	out, err := unrolled.Build(x0n, th, ph, unrolled.Config{Problem: prob, Step: models.PendulumStep[unrolled.GraphScalar], Iters: it})
	if err != nil {
		return 0, err
	}
	// The loss weights, packed like the output: row (b, s) is (dX, dU).
	k := d.N + d.M
	w := make([]float64, batch*t*k)
	for i := range batch * t {
		copy(w[i*k:i*k+d.N], dX[i*d.N:(i+1)*d.N])
		copy(w[i*k+d.N:(i+1)*k], dU[i*d.M:(i+1)*d.M])
	}
	wn := G.NewConstant(dense(w, batch, t, k), G.WithName("loss_weights"))
	prod, err := G.HadamardProd(out, wn)
	if err != nil {
		return 0, err
	}
	flat, err := G.Reshape(prod, tensor.Shape{batch * t * k})
	if err != nil {
		return 0, err
	}
	loss, err := G.Sum(flat)
	if err != nil {
		return 0, err
	}
	// The forward pass first, in Go, untimed: a LispMachine run that fails
	// (iterations that diverge to a non-finite control) leaks its worker
	// goroutine (see unrolled.Forward).
	if _, err := unrolled.Forward(loss); err != nil {
		return 0, fmt.Errorf("unrolled T=%d iterations=%d: %w", t, it, err)
	}
	opts := []G.VMOpt{}
	if !backward {
		opts = append(opts, G.ExecuteFwdOnly())
	}
	runtime.GC() // collect the previous graph outside the timing
	vm := G.NewLispMachine(g, opts...)
	defer vm.Close()
	start := time.Now()
	if err := vm.RunAll(); err != nil {
		return 0, fmt.Errorf("unrolled T=%d iterations=%d: %w", t, it, op.Cause(err))
	}
	return time.Since(start).Seconds(), nil
}
