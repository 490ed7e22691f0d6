package layer_test

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The planner as an MPC policy: the first control of the optimal plan from
// a pendulum tilted 0.05 rad from upright.
func ExampleILQR_Policy() {
	g := G.NewGraph()
	pl, err := layer.NewILQR(g, models.PendulumTask(), layer.ILQRConfig{T: 10, Batch: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 3), G.WithName("x0"),
		G.WithValue(tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float64{math.Cos(0.05), math.Sin(0.05), 0}))))
	u0, err := pl.Policy(x0)
	if err != nil {
		fmt.Println(err)
		return
	}
	var v G.Value
	G.Read(u0, &v)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("u0 = %.3f, %v\n", v.Data().([]float64)[0], pl.Stats().Status[0])
	// Output:
	// u0 = -0.901, converged
}

// Imitation: a planner with a wrong initial guess of the pendulum's θ
// learns to reproduce the first controls of an expert planner (the true θ,
// a Fixed block) from two starts, through the implicit gradient and the
// softplus reparameterisation, with Adam.
func ExampleILQR_imitation() {
	g := G.NewGraph()
	task := models.PendulumTask()
	expert, err := layer.NewILQR(g, task, layer.ILQRConfig{T: 10, Batch: 2, Name: "expert"})
	if err != nil {
		fmt.Println(err)
		return
	}
	learner, err := layer.NewILQR(g, task, layer.ILQRConfig{T: 10, Batch: 2, Name: "learner",
		Theta: layer.ParamSpec{Source: layer.Learned, Transform: layer.Softplus, Init: []float64{7, 1.5, 1}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{
			math.Cos(0.05), math.Sin(0.05), 0, math.Cos(-0.1), math.Sin(-0.1), 0.1}))))
	uE, err := expert.Policy(x0)
	if err != nil {
		fmt.Println(err)
		return
	}
	uL, err := learner.Policy(x0)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(uL, uE))))))
	var lv G.Value
	G.Read(loss, &lv)
	learn := learner.Learnables()
	if _, err := G.Grad(loss, learn...); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	defer vm.Close()
	adam := G.NewAdamSolver(G.WithLearnRate(0.05))
	for step := 0; step <= 100; step++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			fmt.Println(err)
			return
		}
		if step%50 == 0 {
			fmt.Printf("step %3d: loss %.1e\n", step, lv.Data().(float64))
		}
		if err := adam.Step(G.NodesToValueGrads(learn)); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Output:
	// step   0: loss 5.4e-02
	// step  50: loss 5.8e-04
	// step 100: loss 3.4e-04
}
