package layer_test

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// pendulumStates returns B pendulum states (cos θ, sin θ, ω) at the angles.
func pendulumStates(angles ...float64) *tensor.Dense {
	var v []float64
	for _, a := range angles {
		v = append(v, math.Cos(a), math.Sin(a), 0)
	}
	return tensor.New(tensor.WithShape(len(angles), 3), tensor.WithBacking(v))
}

// The training loop with a held-out evaluation after every epoch and the
// planner's health averaged over the epoch's steps: a planner with a wrong
// θ learns to reproduce recorded expert controls (the true pendulum's
// planned first controls, to 10 digits). The starts and the targets are
// input nodes; the Evaluator runs the loss on the validation batch without
// touching the gradients the next Adam step uses.
func ExampleEvaluator() {
	g := G.NewGraph()
	learner, err := layer.NewILQR(g, models.PendulumTask(), layer.ILQRConfig{T: 10, Batch: 2,
		Theta: layer.ParamSpec{Source: layer.Learned, Transform: layer.Softplus, Init: []float64{7, 1.5, 1}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	controls := func(u ...float64) *tensor.Dense { return tensor.New(tensor.WithShape(2, 1), tensor.WithBacking(u)) }
	trainX, trainU := pendulumStates(0.05, -0.1), controls(-0.9012348519, 1.801364461)
	valX, valU := pendulumStates(0.08, -0.12), controls(-1.44151596, 2)
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"), G.WithValue(trainX))
	target := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 1), G.WithName("target"), G.WithValue(trainU))
	u, err := learner.Policy(x0)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(u, target))))))
	learn := learner.Learnables()
	if _, err := G.Grad(loss, learn...); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	defer vm.Close()
	eval, err := layer.NewEvaluator(loss)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer eval.Close()
	adam := G.NewAdamSolver(G.WithLearnRate(0.05))
	var health layer.HealthMean
	for epoch := 1; epoch <= 3; epoch++ {
		health.Reset()
		var trainLoss float64
		for range 20 { // one batch per step here
			vm.Reset()
			if err := vm.RunAll(); err != nil {
				fmt.Println(err)
				return
			}
			trainLoss = loss.Value().Data().(float64)
			health.Add(learner.Health())
			if err := adam.Step(G.NodesToValueGrads(learn)); err != nil {
				fmt.Println(err)
				return
			}
		}
		out, err := eval.Run(map[*G.Node]G.Value{x0: valX, target: valU})
		if err != nil {
			fmt.Println(err)
			return
		}
		h := health.Mean()
		fmt.Printf("epoch %d: train %.1e, validation %.1e, unconverged %.0f%%, on a bound %.0f%%\n",
			epoch, trainLoss, out[0].Data().(float64), 100*h.Unconverged, 100*h.OnBound)
	}
	// Output:
	// epoch 1: train 2.5e-03, validation 1.6e-03, unconverged 0%, on a bound 0%
	// epoch 2: train 4.9e-05, validation 1.1e-04, unconverged 0%, on a bound 0%
	// epoch 3: train 2.0e-05, validation 2.4e-05, unconverged 0%, on a bound 0%
}
