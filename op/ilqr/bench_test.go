package ilqr

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/models"
)

// benchBatch is the batch size of the peers' measurements in DESIGN.md.
const benchBatch = 20

// benchSolve runs sub-benchmarks of Solve for every horizon in horizons
// and exactly 10, 50, 100 and 300 iterations per example (ExactIter), from
// seeded random starts, with one Solver and one reused Result per
// sub-benchmark. iters/op is the mean number of iterations per example.
func benchSolve(b *testing.B, task models.Task, starts func(*rand.Rand, int) []float64, horizons []int) {
	for _, T := range horizons {
		for _, k := range []int{10, 50, 100, 300} {
			b.Run(fmt.Sprintf("B=%d/T=%d/iters=%d", benchBatch, T, k), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(uint64(T), 11))
				in := Inputs{X0: starts(rng, benchBatch),
					Theta: task.Dynamics.DefaultParams(), Phi: task.Cost.DefaultParams()}
				benchSolveLoop(b, benchSolver(b, task, T, k), in)
			})
		}
	}
}

// benchSolver returns a solver of task over T steps that runs exactly
// iters iterations per example.
func benchSolver(b *testing.B, task models.Task, T, iters int) *Solver {
	sv, err := NewSolver(taskProblem(task, T), &Settings{MaxIter: iters, ExactIter: true})
	if err != nil {
		b.Fatal(err)
	}
	return sv
}

// benchSolveLoop times sv.Solve on in with one reused Result; iters/op is
// the mean number of iterations per example.
func benchSolveLoop(b *testing.B, sv *Solver, in Inputs) {
	var r Result
	b.ReportAllocs()
	var iters, solves int
	for b.Loop() {
		if err := sv.Solve(&r, in); err != nil {
			b.Fatal(err)
		}
		for _, it := range r.Iterations {
			iters += it
		}
		solves++
	}
	b.ReportMetric(float64(iters)/float64(solves*len(r.Iterations)), "iters/op")
}

// benchGradient times Gradient with opt on the solution of in after
// exactly iters iterations, for an incoming gradient drawn from rng.
func benchGradient(b *testing.B, task models.Task, T, iters int, in Inputs, rng *rand.Rand, opt GradOptions) {
	sv := benchSolver(b, task, T, iters)
	var r Result
	if err := sv.Solve(&r, in); err != nil {
		b.Fatal(err)
	}
	d := task.Dynamics.Dims()
	dX := uniform(rng, r.B*T*d.N, -1, 1)
	dU := uniform(rng, r.B*T*d.M, -1, 1)
	var g Grads
	b.ReportAllocs()
	for b.Loop() {
		if err := sv.Gradient(&g, &r, in, dX, dU, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSolvePendulum times the forward solve of the pendulum swing-up
// (DESIGN.md's peer: mpc.pytorch, 0.131 s for 10 iterations and 3.3 s for
// 300 at B=20, T=10).
func BenchmarkSolvePendulum(b *testing.B) {
	benchSolve(b, models.PendulumTask(), pendulumStarts, []int{10, 20, 50})
}

// BenchmarkSolveCartpole times the forward solve of the cart-pole swing-up.
func BenchmarkSolveCartpole(b *testing.B) {
	benchSolve(b, models.CartpoleTask(), cartpoleStarts, []int{10, 20})
}

// BenchmarkGradient times the backward pass (one vector-Jacobian product
// through the solution) of the pendulum swing-up for both gradient modes,
// on the solution after exactly 10 and 300 solver iterations: the sweep's
// cost must not depend on the count (DESIGN.md's peers: mpc.pytorch 6.4 ms
// at T=10, 14 ms at T=20, 35 ms at T=50, B=20).
func BenchmarkGradient(b *testing.B) {
	task := models.PendulumTask()
	for _, T := range []int{10, 20, 50} {
		for _, iters := range []int{10, 300} {
			for _, mode := range []GradMode{Implicit, FixedPoint} {
				b.Run(fmt.Sprintf("B=%d/T=%d/iters=%d/%v", benchBatch, T, iters, mode), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(uint64(T), 12))
					in := Inputs{X0: pendulumStarts(rng, benchBatch),
						Theta: task.Dynamics.DefaultParams(), Phi: task.Cost.DefaultParams()}
					// Unconverged examples are differentiated anyway, so
					// every example costs one sweep.
					benchGradient(b, task, T, iters, in, rng, GradOptions{Mode: mode, Unconverged: GradientAnyway})
				})
			}
		}
	}
}

// fullCostInputs returns inputs for the task whose cost is the full
// quadratic equal to task's diagonal one, with φ per example and step
// (B·T·(K²+K)): the most general cost layout.
func fullCostInputs(task models.Task, T int, x0 []float64) (models.Task, Inputs) {
	qc := task.Cost.(*models.QuadCost)
	full := models.FullFromQuad(qc)
	row := full.DefaultParams()
	b := len(x0) / task.Dynamics.Dims().N
	phi := make([]float64, 0, b*T*len(row))
	for range b * T {
		phi = append(phi, row...)
	}
	task.Cost = full
	return task, Inputs{X0: x0, Theta: task.Dynamics.DefaultParams(), Phi: phi, PhiPerStep: true}
}

// BenchmarkFullCost compares the diagonal time-invariant cost with the
// full quadratic cost given per example and step (the same values), for
// the forward solve (exactly 10 iterations) and the gradient after 10 and
// 300 iterations, B = 20.
func BenchmarkFullCost(b *testing.B) {
	for _, tc := range []struct {
		name   string
		task   models.Task
		starts func(*rand.Rand, int) []float64
	}{{"pendulum", models.PendulumTask(), pendulumStarts}, {"cartpole", models.CartpoleTask(), cartpoleStarts}} {
		for _, T := range []int{10, 20} {
			for _, cost := range []string{"diag", "full"} {
				rng := rand.New(rand.NewPCG(uint64(T), 14))
				x0 := tc.starts(rng, benchBatch)
				task, in := tc.task, Inputs{X0: x0}
				if cost == "full" {
					task, in = fullCostInputs(tc.task, T, x0)
				}
				prefix := fmt.Sprintf("%s/B=%d/T=%d/cost=%s", tc.name, benchBatch, T, cost)
				b.Run(prefix+"/solve", func(b *testing.B) {
					benchSolveLoop(b, benchSolver(b, task, T, 10), in)
				})
				for _, iters := range []int{10, 300} {
					b.Run(fmt.Sprintf("%s/gradient/iters=%d", prefix, iters), func(b *testing.B) {
						benchGradient(b, task, T, iters, in, rng, GradOptions{Unconverged: GradientAnyway})
					})
				}
			}
		}
	}
}

// BenchmarkNeural times the forward solve (exactly 10 and 50 iterations)
// and the gradient of passthrough MLP dynamics with sigmoid hidden layers
// on the pendulum's state and cost, B = 20 (mpc.pytorch's NNDynamics,
// DESIGN.md's peer: hidden [64] forward 0.10 s at T=10, 10 iterations,
// backward 8–10 ms; hidden [128, 128] 0.43–0.63 s and 11–66 ms). The
// hidden widths give P ≈ 100, 515, 1k, 10k and 17.5k weights, for the
// backward's growth in P.
func BenchmarkNeural(b *testing.B) {
	task := models.PendulumTask()
	for _, hidden := range [][]int{{12}, {64}, {128}, {64, 128}, {128, 128}} {
		dyn, err := models.NewMLPDynamics(3, 1, hidden, models.Sigmoid, true, 1)
		if err != nil {
			b.Fatal(err)
		}
		task.Dynamics = dyn
		p := dyn.Dims().P
		for _, T := range []int{10, 20} {
			name := fmt.Sprintf("hidden=%v/P=%d/B=%d/T=%d", hidden, p, benchBatch, T)
			rng := rand.New(rand.NewPCG(uint64(T), 15))
			in := Inputs{X0: pendulumStarts(rng, benchBatch)}
			for _, k := range []int{10, 50} {
				b.Run(fmt.Sprintf("%s/solve/iters=%d", name, k), func(b *testing.B) {
					benchSolveLoop(b, benchSolver(b, task, T, k), in)
				})
			}
			b.Run(name+"/gradient", func(b *testing.B) {
				benchGradient(b, task, T, 10, in, rng, GradOptions{Unconverged: GradientAnyway})
			})
		}
	}
}
