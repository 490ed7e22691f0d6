package layer

// Evaluation between training steps that cannot change the training.
//
// A TapeMachine made with G.BindDualValues adds the gradients of every run
// into the dual values of its nodes, and only a solver's Step zeroes them
// (Gorgonia v0.9.18, vm_tape_nocuda.go): running the training machine on
// held-out data between steps adds the held-out gradient into the next
// step. ZeroGrads clears such leftovers; Evaluator runs the forward pass
// on a machine of its own, which binds no dual values at all.

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/dilqr/dilqr/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ZeroGrads sets to zero, in place, the gradient a Gorgonia solver's Step
// would read for each node (what n.Grad() returns): the dual value a
// TapeMachine with G.BindDualValues accumulates into over runs, or the
// value of the node's gradient node. Call it before a training run that
// must not see gradients of earlier runs whose Step was not taken, e.g.
// after running the training machine on held-out data.
//
// Use it with a machine made with G.BindDualValues(nodes...): without,
// the value of a gradient node may be storage Gorgonia shares with other
// nodes (the gradients of w and x in sum(w + x) are one value; in
// sum((w − x)²) it is the forward value of w − x), which zeroing would
// change too.
//
// A node without a gradient value yet (G.Grad was called, nothing has run)
// is left alone. A node that was never differentiated, or whose gradient
// is not a float or tensor value, is an error, and then no gradient is
// changed.
func ZeroGrads(nodes ...*G.Node) error {
	grads := make([]G.Value, len(nodes))
	for i, n := range nodes {
		if n == nil {
			return errors.New("layer: ZeroGrads: nil node")
		}
		gv, err := n.Grad()
		if err != nil {
			return fmt.Errorf("layer: ZeroGrads: node %s has no gradient (it was not given to G.Grad): %w", n.Name(), err)
		}
		switch gv.(type) {
		case nil, *G.F64, *G.F32, tensor.Tensor:
		default:
			return fmt.Errorf("layer: ZeroGrads: node %s: gradient of type %T", n.Name(), gv)
		}
		grads[i] = gv
	}
	for _, gv := range grads {
		switch v := gv.(type) {
		case *G.F64:
			*v = 0
		case *G.F32:
			*v = 0
		case tensor.Tensor:
			v.Zero()
		}
	}
	return nil
}

// Evaluator computes outputs of a graph on a forward-only TapeMachine of
// its own, so that evaluating on held-out data between training steps
// leaves the training run exactly as it would have been without the
// evaluation: its machine holds the forward part of the graph up to the
// outputs (no gradient nodes, so no backward pass), binds no dual values
// (the learnables' accumulated gradients are not touched), and puts the
// inputs it is fed back as they were. Each output is copied when it is
// computed, so an output that a later op consumes reads right (a plain
// TapeMachine may reuse its register in place: gorgonia issue 576).
//
// What an evaluation run does change: the values of the nodes it computes
// (read a training run's values, and the planner's Stats, before
// evaluating). Two kinds of node carry state from run to run, and a graph
// holding one is refused; give the evaluation a graph of its own:
//   - a warm-started planner (op.SolverConfig.WarmStart): every run, an
//     evaluation included, moves the start of the next;
//   - an op with a training mode (G.Dropout, G.BatchNorm): in training mode
//     an evaluation draws from Dropout's random stream or moves BatchNorm's
//     running statistics, and in evaluation mode Gorgonia's Dropout returns
//     its input tensor itself, which a later op of the tape may then
//     overwrite in place (measured: the input node's value changed;
//     TestEvaluatorRefusesTrainingModeOps).
//
// An Evaluator is not safe for concurrent use, nor for use while another
// machine runs the same graph.
type Evaluator struct {
	vm      G.VM
	outputs G.Nodes
	g       *G.ExprGraph // the outputs' graph
}

// NewEvaluator compiles the forward pass of the graph of outputs (all in
// one graph) up to them. The graph may hold G.Grad's gradient nodes and a
// training machine; neither is run.
func NewEvaluator(outputs ...*G.Node) (e *Evaluator, err error) {
	if len(outputs) == 0 || outputs[0] == nil {
		return nil, configErr("Evaluator: no outputs, or a nil one")
	}
	g := outputs[0].Graph()
	for _, n := range outputs {
		if n == nil || n.Graph() != g {
			return nil, configErr("Evaluator: the outputs must be nodes of one graph")
		}
	}
	// ExactSubgraphRoots, unlike SubgraphRoots, leaves out statements
	// such as G.Read on the way: an evaluation must not write into the
	// training loop's variables.
	sub := g.ExactSubgraphRoots(outputs...)
	e = &Evaluator{outputs: append(G.Nodes(nil), outputs...), g: g}
	for _, n := range sub.AllNodes() {
		switch o := n.Op().(type) {
		case *op.ILQROp:
			if warmStarted(o) {
				return nil, configErr("Evaluator: node %s is a warm-started planner: evaluation runs would move the warm start of training runs; evaluate on a graph of its own", n.Name())
			}
		case G.TrainModeOp:
			return nil, configErr("Evaluator: node %s (%v) has a training mode: evaluation runs would change its state; evaluate on a graph of its own", n.Name(), o)
		}
	}
	defer func() {
		if r := recover(); r != nil { // NewTapeMachine panics when compiling fails
			e, err = nil, fmt.Errorf("layer: Evaluator: compiling the graph: %v", r)
		}
	}()
	// TraceExec with a watch list makes the machine copy each output's
	// value into the node when it is computed: a later op of the tape may
	// reuse the output's register in place (gorgonia issue 576; measured:
	// an output consumed by G.Sub read back as the difference).
	watch := make([]interface{}, len(outputs))
	for i, n := range outputs {
		watch[i] = n
	}
	e.vm = G.NewTapeMachine(sub, G.TraceExec(), G.WithWatchlist(watch...))
	return e, nil
}

// warmStarted reports whether o starts each run from the previous one.
// The Op's identity (WriteHash) names a warm start with its address, as
// "warm@0x…"; TestEvaluatorRefusesWarmStart fails if that changes.
func warmStarted(o *op.ILQROp) bool {
	var b bytes.Buffer
	o.WriteHash(&hashBuffer{&b})
	return bytes.Contains(b.Bytes(), []byte(",warm@"))
}

// hashBuffer is a hash.Hash that only collects what is written to it.
type hashBuffer struct{ *bytes.Buffer }

func (h *hashBuffer) Sum(b []byte) []byte { return append(b, h.Bytes()...) }
func (h *hashBuffer) Size() int           { return h.Len() }
func (h *hashBuffer) BlockSize() int      { return 1 }

// Run binds feed's values to their input nodes (G.Let), runs the forward
// pass and returns copies of the outputs' values, in the order given to
// NewEvaluator; then it binds the fed nodes' previous values back. feed
// may be nil: the inputs' current values are used. A run's error is the
// cause the VM wrapped (see op.Cause), so errors.Is(err, op.ErrBadInput)
// works on it.
func (e *Evaluator) Run(feed map[*G.Node]G.Value) (out []G.Value, err error) {
	old := make(map[*G.Node]G.Value, len(feed))
	defer func() {
		for n, v := range old {
			if lerr := G.Let(n, v); lerr != nil && err == nil {
				err = fmt.Errorf("layer: Evaluator: restoring input %s: %w", n.Name(), lerr)
			}
		}
	}()
	for n := range feed {
		if n == nil || n.Graph() != e.g {
			return nil, configErr("Evaluator: feed: a nil node or one of another graph")
		}
	}
	for n, v := range feed {
		prev := n.Value()
		if err := G.Let(n, v); err != nil {
			return nil, fmt.Errorf("layer: Evaluator: input %s: %w", n.Name(), err)
		}
		if prev != nil {
			old[n] = prev
		}
	}
	// The copies go into the value a node holds, which an earlier run
	// bound from its machine's registers: give each computed output a
	// value of its own first.
	for _, n := range e.outputs {
		if v := n.Value(); n.Op() != nil && v != nil {
			own, err := G.CloneValue(v)
			if err == nil {
				err = G.UnsafeLet(n, own)
			}
			if err != nil {
				return nil, fmt.Errorf("layer: Evaluator: output %s: %w", n.Name(), err)
			}
		}
	}
	e.vm.Reset() // a TapeMachine runs only once without it
	if err := e.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("layer: Evaluator: %w", op.Cause(err))
	}
	// Copies: the values the outputs hold are written again by the next run.
	out = make([]G.Value, len(e.outputs))
	for i, n := range e.outputs {
		if out[i], err = G.CloneValue(n.Value()); err != nil {
			return nil, fmt.Errorf("layer: Evaluator: output %s: %w", n.Name(), err)
		}
	}
	return out, nil
}

// Close releases the Evaluator's machine.
func (e *Evaluator) Close() error { return e.vm.Close() }
