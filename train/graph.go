package train

import (
	"fmt"

	"github.com/dilqr/dilqr/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// builder adds a model predicting the controls for the initial states x0
// (B, N) to g. It returns the prediction u, of shape (B, T, M) or
// (B, T·M) with the controls in time-major order within a row (the layout
// of a B×T×M array), the learnable nodes in a fixed order, and a function
// returning the planner's statistics of the last run (nil for a model
// without a planner).
type builder func(g *G.ExprGraph, x0 *G.Node, b int) (u *G.Node, learn G.Nodes, stats func() op.Stats, err error)

// netGraph is one compiled graph of a model for a fixed batch size B
// (Gorgonia fixes shapes when the graph is built): an evaluation graph
// computes the predicted controls, a training graph also the imitation
// loss MSE(u, target) and its gradient with respect to the learnable
// nodes. The learnable nodes hold a copy of the canonical parameters
// (paramSet), loaded before every run, so graphs of several batch sizes
// serve one set of parameters.
type netGraph struct {
	b      int
	g      *G.ExprGraph
	x0     *G.Node
	target *G.Node // nil for an evaluation graph
	u      *G.Node
	loss   *G.Node // nil for an evaluation graph
	learn  G.Nodes
	vm     G.VM
	stats  func() op.Stats
}

// newNetGraph builds the graph of build for batch size b, states of size n
// and T×M controls; withGrad adds the loss and its gradient.
func newNetGraph(build builder, b, n, t, m int, withGrad bool) (*netGraph, error) {
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(b, n), G.WithName("x0"),
		G.WithValue(tensor.New(tensor.WithShape(b, n), tensor.WithBacking(make([]float64, b*n)))))
	u, learn, stats, err := build(g, x0, b)
	if err != nil {
		return nil, err
	}
	if got := u.Shape().TotalSize(); got != b*t*m {
		return nil, fmt.Errorf("train: model output has shape %v, want %d×%d×%d controls", u.Shape(), b, t, m)
	}
	ng := &netGraph{b: b, g: g, x0: x0, u: u, learn: learn, stats: stats}
	if !withGrad {
		ng.vm = G.NewTapeMachine(g)
		return ng, nil
	}
	sh := u.Shape().Clone()
	ng.target = G.NewTensor(g, tensor.Float64, len(sh), G.WithShape(sh...), G.WithName("u_expert"),
		G.WithValue(tensor.New(tensor.WithShape(sh...), tensor.WithBacking(make([]float64, b*t*m)))))
	diff, err := G.Sub(u, ng.target)
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	sq, err := G.Square(diff)
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	if ng.loss, err = G.Mean(sq); err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	if _, err = G.Grad(ng.loss, learn...); err != nil {
		return nil, fmt.Errorf("train: gradient: %w", err)
	}
	ng.vm = G.NewTapeMachine(g, G.BindDualValues(learn...))
	return ng, nil
}

// load copies the canonical parameter values into the learnable nodes.
func (ng *netGraph) load(ps paramSet) error {
	if len(ps) != len(ng.learn) {
		return fmt.Errorf("train: %d parameters for %d learnable nodes", len(ps), len(ng.learn))
	}
	for i, n := range ng.learn {
		d, err := Float64s(n.Value())
		if err != nil {
			return fmt.Errorf("train: node %s: %w", n.Name(), err)
		}
		if len(d) != len(ps[i].values()) {
			return fmt.Errorf("train: node %s has %d entries, parameter %d", n.Name(), len(d), len(ps[i].values()))
		}
		copy(d, ps[i].values())
	}
	return nil
}

// run sets the inputs, loads ps and runs the graph. x0 is B×N; target
// (training graphs only) B×T×M.
func (ng *netGraph) run(ps paramSet, x0, target []float64) error {
	if err := ng.load(ps); err != nil {
		return err
	}
	return RunGraph(ng.vm, Input{ng.x0, x0}, Input{ng.target, target})
}

// controls returns a copy of the predicted controls of the last run (B×T×M).
func (ng *netGraph) controls() ([]float64, error) {
	d, err := Float64s(ng.u.Value())
	if err != nil {
		return nil, fmt.Errorf("train: reading the controls: %w", err)
	}
	return append([]float64(nil), d...), nil
}

// lossValue returns the loss of the last run of a training graph.
func (ng *netGraph) lossValue() (float64, error) {
	l, err := Scalar(ng.loss.Value())
	if err != nil {
		return 0, fmt.Errorf("train: the loss: %w", err)
	}
	return l, nil
}

// takeGrads moves the gradients of the last run of a training graph into
// ps (overwriting) and zeroes the nodes' gradients, which Gorgonia would
// otherwise accumulate over runs.
func (ng *netGraph) takeGrads(ps paramSet) error {
	for i, n := range ng.learn {
		gv, err := n.Grad()
		if err != nil {
			return fmt.Errorf("train: node %s has no gradient: %w", n.Name(), err)
		}
		d, err := Float64s(gv)
		if err != nil {
			return fmt.Errorf("train: gradient of %s: %w", n.Name(), err)
		}
		copy(ps[i].grads(), d)
		clear(d)
	}
	return nil
}

// Float64s returns the float64 backing of a node's value, which must be a
// plain (not a view) float64 *tensor.Dense, as Gorgonia's float64 nodes
// hold. The slice aliases the value: writing to it changes the node.
func Float64s(v G.Value) ([]float64, error) {
	d, ok := v.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float64 || d.RequiresIterator() {
		return nil, fmt.Errorf("value %T is not a plain float64 tensor", v)
	}
	s, ok := d.Data().([]float64)
	if !ok {
		return nil, fmt.Errorf("value holds %T, not []float64", d.Data())
	}
	return s, nil
}

// Input is a node of a graph built once and the values a run copies into
// it (SetInput).
type Input struct {
	Node   *G.Node
	Values []float64
}

// RunGraph copies the inputs into their nodes, skipping those whose Node
// is nil (a target that only a training graph has), and runs vm once from
// the start. An error of the run wraps op.Cause of Gorgonia's.
func RunGraph(vm G.VM, inputs ...Input) error {
	for _, in := range inputs {
		if in.Node == nil {
			continue
		}
		if err := SetInput(in.Node, in.Values); err != nil {
			return err
		}
	}
	vm.Reset() // a TapeMachine runs only once without it
	if err := vm.RunAll(); err != nil {
		return fmt.Errorf("train: running the graph: %w", op.Cause(err))
	}
	return nil
}

// Scalar returns the value of a float64 scalar node, which Gorgonia holds
// as a *G.F64 or as a tensor of one entry (a reduction's result).
func Scalar(v G.Value) (float64, error) {
	switch x := v.(type) {
	case *G.F64:
		return float64(*x), nil
	case *tensor.Dense:
		if f, ok := x.Data().(float64); ok {
			return f, nil
		}
		if s, ok := x.Data().([]float64); ok && len(s) == 1 {
			return s[0], nil
		}
	}
	return 0, fmt.Errorf("train: value %T is not a float64 scalar", v)
}

// SetInput copies v into the value of the input node n, which must hold
// exactly len(v) float64 values (a minibatch into a graph built once).
func SetInput(n *G.Node, v []float64) error {
	d, err := Float64s(n.Value())
	if err != nil {
		return fmt.Errorf("train: input %s: %w", n.Name(), err)
	}
	if len(d) != len(v) {
		return fmt.Errorf("train: input %s takes %d values, have %d", n.Name(), len(d), len(v))
	}
	copy(d, v)
	return nil
}
