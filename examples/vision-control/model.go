package main

import (
	"fmt"

	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Model names, as written to the CSV file.
const (
	planModel = "ilqr"
	mlpModel  = "mlp"
)

// What the planner model learns besides its encoder (config.learn).
const (
	learnCost  = "cost"  // the cost (q, p), dynamics known
	learnTheta = "theta" // the dynamics (g, m, l), cost known
)

// initialCost is where the planner's learned cost starts: the task's
// quadratic cost q = (1, 1, 0.1, 0.001), p = (−1, 0, 0, 0) with the control
// weight q_u 100 times too large. From the true q_u the untrained encoder's
// plans are bang-bang, with every control on a bound, where the implicit
// gradient is exactly zero; training then stalled on two of three seeds
// (README.md). The large q_u starts the plans off the bounds.
var initialCost = []float64{1, 1, 0.1, 0.1, -1, 0, 0, 0}

// net is one compiled graph of a model for a fixed batch size B: images
// (B, 2, S, S) in, predicted controls (B, T) out, and for a training graph
// the imitation loss and its gradient with respect to the learnables.
type net struct {
	kind   string
	b      int
	g      *G.ExprGraph
	images *G.Node
	target *G.Node // the expert's controls (B, T); nil without gradient
	u      *G.Node // the predicted controls (B, T)
	state  *G.Node // the state estimate (B, 3): the planner's, or the MLP's auxiliary one; else nil
	// stateTarget holds the true initial states (B, 3) of a training graph
	// with the auxiliary state loss; nil otherwise.
	stateTarget *G.Node
	loss        *G.Node // nil without gradient
	learn       G.Nodes // the encoder's parameters, then the planner's
	nPlan       int     // how many of learn belong to the planner layer
	planner     *layer.ILQR
	vm          G.VM
	// uVal and stateVal receive u and state in an evaluation graph, read as
	// they are produced (the TapeMachine reuses registers).
	uVal, stateVal G.Value
}

// convSpecs returns the convolution stages of both models' encoders.
func convSpecs() []layer.ConvSpec {
	return []layer.ConvSpec{{Filters: 8, Kernel: 5, Pool: 2}, {Filters: 8, Kernel: 3, Pool: 2}}
}

// inputNode makes a float64 input node of the given shape holding zeros.
func inputNode(g *G.ExprGraph, name string, shape ...int) *G.Node {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float64, n)))
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

// buildNet builds the model kind for batch size b in a new graph; withGrad
// adds the loss MSE(u, target) and its symbolic gradient. Graphs built with
// the same configuration start from the same weights.
func buildNet(kind string, b int, c *config, withGrad bool) (*net, error) {
	g := G.NewGraph()
	nt := &net{kind: kind, b: b, g: g, images: inputNode(g, "images", b, 2, c.size, c.size)}
	var err error
	switch kind {
	case planModel:
		err = nt.buildPlanner(c)
	case mlpModel:
		err = nt.buildMLP(c)
	default:
		err = fmt.Errorf("unknown model %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s model: %w", kind, err)
	}
	if !withGrad {
		G.Read(nt.u, &nt.uVal)
		if nt.state != nil {
			G.Read(nt.state, &nt.stateVal)
		}
		nt.vm = G.NewTapeMachine(g)
		return nt, nil
	}
	nt.target = inputNode(g, "u_expert", b, c.t)
	diff, err := G.Sub(nt.u, nt.target)
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(diff)
	if err != nil {
		return nil, err
	}
	if nt.loss, err = G.Mean(sq); err != nil {
		return nil, err
	}
	if c.stateWeight > 0 {
		if err := nt.addStateLoss(c.stateWeight); err != nil {
			return nil, fmt.Errorf("%s model: %w", kind, err)
		}
	}
	if _, err = G.Grad(nt.loss, nt.learn...); err != nil {
		return nil, fmt.Errorf("%s model: gradient: %w", kind, err)
	}
	nt.vm = G.NewTapeMachine(g, G.BindDualValues(nt.learn...))
	return nt, nil
}

// addStateLoss adds w·MSE(x̂₀, x₀) to the loss: the mean squared error of
// the state estimate (cos θ̂, sin θ̂, ω̂) against the true initial states,
// fed through nt.stateTarget.
func (nt *net) addStateLoss(w float64) error {
	nt.stateTarget = inputNode(nt.g, "x0_true", nt.b, 3)
	diff, err := G.Sub(nt.state, nt.stateTarget)
	if err != nil {
		return err
	}
	sq, err := G.Square(diff)
	if err != nil {
		return err
	}
	mse, err := G.Mean(sq)
	if err != nil {
		return err
	}
	if mse, err = G.Mul(mse, G.NewConstant(w)); err != nil {
		return err
	}
	nt.loss, err = G.Add(nt.loss, mse)
	return err
}

// buildPlanner: images → ConvEncoder → z = (a, b, w) → state estimate
// x̂₀ = (a/r, b/r, w), r = √(a² + b² + 10⁻⁶) → ILQR layer (cost or
// dynamics learned) → U.
func (nt *net) buildPlanner(c *config) error {
	enc, err := layer.NewConvEncoder(nt.g, layer.ConvConfig{Channels: 2, Height: c.size, Width: c.size,
		Convs: convSpecs(), Head: []int{c.hidden, 3}, Activation: layer.Tanh, Seed: c.seed, Name: "enc"})
	if err != nil {
		return err
	}
	z, err := enc.Forward(nt.images)
	if err != nil {
		return err
	}
	if nt.state, err = stateEstimate(z, nt.b); err != nil {
		return err
	}
	cfg := layer.ILQRConfig{T: c.t, Batch: nt.b, Name: "planner", Solver: op.SolverConfig{Settings: &c.solver}}
	switch c.learn {
	case learnCost:
		cfg.Cost = layer.ParamSpec{Source: layer.Learned, Transform: layer.Softplus, Init: initialCost}
	case learnTheta:
		theta0, err := train.InitialGuess("pendulum") // (g, m, l) = (15, 3, 0.5)
		if err != nil {
			return err
		}
		cfg.Theta = layer.ParamSpec{Source: layer.Learned, Transform: layer.Softplus, Init: theta0}
	default:
		return fmt.Errorf("unknown -learn %q (want %s or %s)", c.learn, learnCost, learnTheta)
	}
	pl, err := layer.NewILQR(nt.g, models.PendulumTask(), cfg)
	if err != nil {
		return err
	}
	tr, err := pl.Trajectory(nt.state)
	if err != nil {
		return err
	}
	u, err := tr.U() // (B, T, 1)
	if err != nil {
		return err
	}
	if nt.u, err = G.Reshape(u, tensor.Shape{nt.b, c.t}); err != nil {
		return err
	}
	nt.learn = append(enc.Learnables(), pl.Learnables()...)
	nt.nPlan = len(pl.Learnables())
	nt.planner = pl
	return nil
}

// stateEstimate maps the encoder output z (B, 3) = (a, b, w) to the
// pendulum state (cos θ̂, sin θ̂, ω̂) = (a/r, b/r, w) with
// r = √(a² + b² + 10⁻⁶): the angle as a point on the unit circle, as the
// model's state expects, and the angular velocity.
func stateEstimate(z *G.Node, b int) (*G.Node, error) {
	ab, err := G.Slice(z, nil, G.S(0, 2))
	if err != nil {
		return nil, err
	}
	w, err := G.Slice(z, nil, G.S(2, 3)) // (B): Slice drops the width-one axis
	if err != nil {
		return nil, err
	}
	if w, err = G.Reshape(w, tensor.Shape{b, 1}); err != nil {
		return nil, err
	}
	sq, err := G.Square(ab)
	if err != nil {
		return nil, err
	}
	r2, err := G.Sum(sq, 1) // (B)
	if err != nil {
		return nil, err
	}
	if r2, err = G.Add(r2, G.NewConstant(1e-6)); err != nil {
		return nil, err
	}
	r, err := G.Sqrt(r2)
	if err != nil {
		return nil, err
	}
	if r, err = G.Reshape(r, tensor.Shape{b, 1}); err != nil {
		return nil, err
	}
	cs, err := G.BroadcastHadamardDiv(ab, r, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	return G.Concat(1, cs, w)
}

// buildMLP: images → ConvEncoder with an MLP head of T outputs →
// U = 2·tanh(·), inside the control bounds ±2 like the expert's. With the
// auxiliary state loss the head has 3 more outputs, mapped to a state
// estimate as the planner model's (stateEstimate) and used only by that
// loss.
func (nt *net) buildMLP(c *config) error {
	out := c.t
	if c.stateWeight > 0 {
		out += 3
	}
	enc, err := layer.NewConvEncoder(nt.g, layer.ConvConfig{Channels: 2, Height: c.size, Width: c.size,
		Convs: convSpecs(), Head: []int{c.hidden, out}, Activation: layer.Tanh, Seed: c.seed, Name: "policy"})
	if err != nil {
		return err
	}
	u, err := enc.Forward(nt.images)
	if err != nil {
		return err
	}
	if c.stateWeight > 0 {
		z, err := G.Slice(u, nil, G.S(c.t, out))
		if err != nil {
			return err
		}
		if nt.state, err = stateEstimate(z, nt.b); err != nil {
			return err
		}
		if u, err = G.Slice(u, nil, G.S(0, c.t)); err != nil {
			return err
		}
	}
	if u, err = G.Tanh(u); err != nil {
		return err
	}
	if nt.u, err = G.Mul(u, G.NewConstant(models.PendulumMaxTorque)); err != nil {
		return err
	}
	nt.learn = enc.Learnables()
	return nil
}

// run sets the inputs and runs the graph once; target is ignored by a graph
// without gradient.
func (nt *net) run(images, target []float64) error {
	if err := train.RunGraph(nt.vm, train.Input{Node: nt.images, Values: images}, train.Input{Node: nt.target, Values: target}); err != nil {
		return fmt.Errorf("%s model: %w", nt.kind, err)
	}
	return nil
}

// lossValue returns the loss of the last run of a training graph.
func (nt *net) lossValue() (float64, error) {
	l, err := train.Scalar(nt.loss.Value())
	if err != nil {
		return 0, fmt.Errorf("%s model: loss: %w", nt.kind, err)
	}
	return l, nil
}

// copyParams copies the values of the learnables of src into those of dst,
// a graph of the same model for another batch size.
func copyParams(dst, src *net) error {
	if len(dst.learn) != len(src.learn) {
		return fmt.Errorf("copying %d parameters into %d", len(src.learn), len(dst.learn))
	}
	for i := range src.learn {
		s, err := train.Float64s(src.learn[i].Value())
		if err != nil {
			return err
		}
		d, err := train.Float64s(dst.learn[i].Value())
		if err != nil {
			return err
		}
		if len(s) != len(d) {
			return fmt.Errorf("parameter %s: %d values into %d", src.learn[i].Name(), len(s), len(d))
		}
		copy(d, s)
	}
	return nil
}
