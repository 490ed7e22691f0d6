package unrolled_test

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/op/unrolled"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ExampleBuild differentiates L = Σ u² through 20 unrolled iLQR
// iterations on a LispMachine and compares dL/dθ with the exact implicit
// gradient of the solver's converged solution.
func ExampleBuild() {
	task := models.PendulumTask()
	prob := ilqr.Problem{Task: task, T: 10}
	// Two starts near upright, so the plans stay off the bounds.
	var x0 []float64
	for _, th := range []float64{0.3, -0.2} {
		x0 = append(x0, math.Cos(th), math.Sin(th), 0)
	}
	theta := task.Dynamics.DefaultParams()

	g := G.NewGraph()
	x0n := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(append([]float64(nil), x0...)))))
	thn := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("theta"),
		G.WithValue(tensor.New(tensor.WithBacking(append([]float64(nil), theta...)))))
	phi := task.Cost.DefaultParams()
	phn := G.NewVector(g, tensor.Float64, G.WithShape(len(phi)), G.WithName("phi"),
		G.WithValue(tensor.New(tensor.WithBacking(phi))))
	tr, err := unrolled.BuildTrajectory(x0n, thn, phn, unrolled.Config{
		Problem: prob, Step: models.PendulumStep[unrolled.GraphScalar], Iters: 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := tr.U()
	if err != nil {
		fmt.Println(err)
		return
	}
	loss := G.Must(G.Sum(G.Must(G.Reshape(G.Must(G.Square(u)), tensor.Shape{2 * 10}))))
	// The forward pass in Go first: a LispMachine run that fails leaks a
	// goroutine (see Forward).
	if _, err := unrolled.Forward(loss); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewLispMachine(g) // forward and Gorgonia's reverse pass
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(op.Cause(err))
		return
	}
	gv, _ := thn.Grad()
	unrolledGrad := gv.Data().([]float64)

	// The same gradient from the solver: dL/dU = 2U, summed over the batch
	// for the shared θ.
	res, err := ilqr.Solve(prob, ilqr.Inputs{X0: x0, Theta: theta}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	dU := make([]float64, len(res.U))
	for i, v := range res.U {
		dU[i] = 2 * v
	}
	sv, _ := ilqr.NewSolver(prob, nil)
	var grads ilqr.Grads
	if err := sv.Gradient(&grads, res, ilqr.Inputs{X0: x0, Theta: theta}, make([]float64, len(res.X)), dU, ilqr.GradOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	worst := 0.0
	for j, name := range []string{"g", "m", "l"} {
		implicit := grads.Theta[j] + grads.Theta[3+j]
		fmt.Printf("dL/d%s: unrolled %.4f, implicit %.4f\n", name, unrolledGrad[j], implicit)
		worst = math.Max(worst, math.Abs(unrolledGrad[j]-implicit)/math.Abs(implicit))
	}
	fmt.Println("relative difference below 1e-7:", worst < 1e-7)
	// Output:
	// dL/dg: unrolled 4.7719, implicit 4.7719
	// dL/dm: unrolled 63.9183, implicit 63.9183
	// dL/dl: unrolled 80.1173, implicit 80.1173
	// relative difference below 1e-7: true
}
