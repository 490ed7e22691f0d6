package ilqr_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// conBenchBatch is the batch of the constrained benchmarks, as the
// unconstrained ones'.
const conBenchBatch = 20

// conBenchCase is one constrained task with its unconstrained twin and
// seeded starts from which the limit is active.
type conBenchCase struct {
	name  string
	task  models.Task // with the constraint
	start func(*rand.Rand) []float64
}

func conBenchCases(b *testing.B) []conBenchCase {
	pend := models.PendulumTask()
	speed, err := models.PendulumSpeedLimit(0.5)
	if err != nil {
		b.Fatal(err)
	}
	pend.Constraint = speed
	cp := models.CartpoleTask()
	track, err := models.CartpoleTrackLimit(0.4)
	if err != nil {
		b.Fatal(err)
	}
	cp.Constraint = track
	return []conBenchCase{
		{"pendulum/speed0.5", pend, func(r *rand.Rand) []float64 {
			th := 2.8 + 0.4*r.Float64()
			return []float64{math.Cos(th), math.Sin(th), 0.2 + 0.2*r.Float64()}
		}},
		{"cartpole/track0.4", cp, func(r *rand.Rand) []float64 {
			th := 0.4 + 0.4*r.Float64()
			return []float64{0, 0, math.Cos(th), math.Sin(th), 0}
		}},
	}
}

// BenchmarkConstrained times, for each task and horizon, the converged
// solve (default settings) and the gradient of a batch of 20 with and
// without the path constraint, from the same seeded starts. iters/op is
// the mean number of iterations per example, active/op the mean number of
// active constraint rows, stationary/op the fraction of examples that
// ended stationary. Compare the constrained rows with the free ones as
// ratios (benchstat), in one run.
func BenchmarkConstrained(b *testing.B) {
	for _, c := range conBenchCases(b) {
		for _, T := range []int{10, 20} {
			rng := rand.New(rand.NewPCG(uint64(T), 7))
			in := ilqr.Inputs{Theta: c.task.Dynamics.DefaultParams(), Phi: c.task.Cost.DefaultParams()}
			for range conBenchBatch {
				in.X0 = append(in.X0, c.start(rng)...)
			}
			for _, constrained := range []bool{false, true} {
				task := c.task
				kind := "constrained"
				if !constrained {
					task.Constraint = nil
					kind = "free"
				}
				prob := ilqr.Problem{Task: task, T: T}
				b.Run(fmt.Sprintf("%s/T=%d/solve/%s", c.name, T, kind), func(b *testing.B) {
					benchConSolve(b, prob, in)
				})
				b.Run(fmt.Sprintf("%s/T=%d/gradient/%s", c.name, T, kind), func(b *testing.B) {
					benchConGradient(b, prob, in)
				})
			}
		}
	}
}

func benchConSolve(b *testing.B, prob ilqr.Problem, in ilqr.Inputs) {
	sv, err := ilqr.NewSolver(prob, nil)
	if err != nil {
		b.Fatal(err)
	}
	var r ilqr.Result
	b.ReportAllocs()
	for b.Loop() {
		if err := sv.Solve(&r, in); err != nil {
			b.Fatal(err)
		}
	}
	reportSolution(b, &r)
}

func benchConGradient(b *testing.B, prob ilqr.Problem, in ilqr.Inputs) {
	sv, err := ilqr.NewSolver(prob, nil)
	if err != nil {
		b.Fatal(err)
	}
	var r ilqr.Result
	if err := sv.Solve(&r, in); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 5))
	dX := make([]float64, len(r.X))
	dU := make([]float64, len(r.U))
	for i := range dX {
		dX[i] = rng.Float64()*2 - 1
	}
	for i := range dU {
		dU[i] = rng.Float64()*2 - 1
	}
	var g ilqr.Grads
	b.ReportAllocs()
	for b.Loop() {
		if err := sv.Gradient(&g, &r, in, dX, dU, ilqr.GradOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reportSolution(b, &r)
}

func reportSolution(b *testing.B, r *ilqr.Result) {
	var iters, stat int
	for i, s := range r.Status {
		iters += r.Iterations[i]
		if s.Stationary() {
			stat++
		}
	}
	n := float64(len(r.Status))
	b.ReportMetric(float64(iters)/n, "iters/op")
	b.ReportMetric(float64(countActive(r.Mult))/n, "active/op")
	b.ReportMetric(float64(stat)/n, "stationary/op")
}
