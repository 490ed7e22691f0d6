package layer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ErrConfig is wrapped by every error about a layer's configuration or the
// nodes handed to it (sizes, shapes, names, initial values).
var ErrConfig = errors.New("bad layer configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("layer: %w: "+format, append([]any{ErrConfig}, args...)...)
}

// Param is one learnable parameter of a layer: its name within the layer
// (as written to parameter files, independent of the layer's node-name
// prefix) and its node.
type Param struct {
	Name string
	Node *G.Node
}

// Layer is implemented by every layer of this package. SaveLayers and
// LoadLayers work on any Layer.
type Layer interface {
	// Kind names the layer type: "mlp", "lstm", "conv" or "ilqr".
	Kind() string
	// Describe returns the layer's architecture in one line, without its
	// node-name prefix; parameter files record it and Load checks it.
	Describe() string
	// Params returns the learnable parameters in a fixed order.
	Params() []Param
	// Learnables returns the learnable nodes in the order of Params, for
	// G.Grad, G.BindDualValues and Gorgonia's solvers.
	Learnables() G.Nodes
}

// params is the learnable state shared by the layers: their parameters and
// the graph, name prefix and dtype the nodes live under.
type params struct {
	g      *G.ExprGraph
	prefix string
	dtype  tensor.Dtype // Float64 or Float32
	list   []Param
}

// newParams returns the parameters of a layer named prefix (def when
// empty) whose nodes have dtype dt: Float32 or Float64, Float64 for the
// zero value; any other dtype is an error naming the layer (what).
func newParams(g *G.ExprGraph, prefix, def string, dt tensor.Dtype, what string) (params, error) {
	if g == nil {
		return params{}, configErr("a graph is required")
	}
	if prefix == "" {
		prefix = def
	}
	d, err := layerDtype(dt, what)
	if err != nil {
		return params{}, err
	}
	return params{g: g, prefix: prefix, dtype: d}, nil
}

// layerDtype returns the dtype a layer builds its nodes in: dt when it is
// Float32 or Float64, Float64 for the zero value (the default).
func layerDtype(dt tensor.Dtype, what string) (tensor.Dtype, error) {
	switch dt {
	case tensor.Dtype{}:
		return tensor.Float64, nil
	case tensor.Float32, tensor.Float64:
		return dt, nil
	}
	return tensor.Dtype{}, configErr("%s: Dtype %v: want tensor.Float64 (the default) or tensor.Float32", what, dt)
}

// Dtype returns the dtype of the layer's nodes: tensor.Float64 (the
// default) or tensor.Float32. Inputs to Forward must have it.
func (p *params) Dtype() tensor.Dtype { return p.dtype }

// add creates the learnable input node prefix.name of the layer's dtype
// holding data (not copied for Float64; rounded to nearest for Float32)
// with the given shape. Gorgonia merges input nodes by name, so a name
// already in the graph is an error: two layers would silently share their
// weights.
func (p *params) add(name string, data []float64, shape ...int) (*G.Node, error) {
	full := p.prefix + "." + name
	n, err := inputNodeOf(p.g, full, p.dtype, data, shape...)
	if err != nil {
		return nil, err
	}
	p.list = append(p.list, Param{Name: name, Node: n})
	return n, nil
}

// inputNode makes a float64 input node named name with value data (not
// copied), refusing a name already used in g.
func inputNode(g *G.ExprGraph, name string, data []float64, shape ...int) (*G.Node, error) {
	return inputNodeOf(g, name, tensor.Float64, data, shape...)
}

// inputNodeOf makes an input node of dtype dt (Float64 or Float32) named
// name with value data: not copied for Float64, rounded to nearest for
// Float32. A name already used in g is refused, and for Float32 a finite
// value beyond float32's range (it would become ±Inf).
func inputNodeOf(g *G.ExprGraph, name string, dt tensor.Dtype, data []float64, shape ...int) (*G.Node, error) {
	if len(g.ByName(name)) > 0 {
		return nil, configErr("a node named %q is already in the graph: give the layer a distinct Name", name)
	}
	if dt == tensor.Float32 {
		for i, v := range data {
			if math.Abs(v) > math.MaxFloat32 && !math.IsInf(v, 0) {
				return nil, configErr("node %q: value %g at %d is beyond float32's range", name, v, i)
			}
		}
	}
	var v *tensor.Dense
	switch dt {
	case tensor.Float64:
		v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	case tensor.Float32:
		v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(float32s(data)))
	default:
		return nil, configErr("node %q: dtype %v: want float64 or float32", name, dt)
	}
	return G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v)), nil
}

// float32s returns v rounded to nearest float32 values.
func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// checkDtype checks that x has the layer's dtype dt.
func checkDtype(x *G.Node, dt tensor.Dtype, what string) error {
	if x != nil && x.Dtype() != dt {
		return configErr("%s: input %s is %v, the layer is %v (op.Cast converts a node)", what, x.Name(), x.Dtype(), dt)
	}
	return nil
}

// Params returns the parameters (a copy of the list; the nodes are shared).
func (p *params) Params() []Param { return slices.Clone(p.list) }

// Learnables returns the parameter nodes.
func (p *params) Learnables() G.Nodes {
	out := make(G.Nodes, len(p.list))
	for i, q := range p.list {
		out[i] = q.Node
	}
	return out
}

// initRNG returns the generator of a layer's initial values: PCG seeded
// with (seed, stream), stream a constant per layer kind, so equal
// configurations and seeds give equal weights, on every platform.
func initRNG(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// Streams of initRNG, one per layer kind ("mlp", "lstm", "conv" in ASCII).
const (
	streamMLP  = 0x6d6c70
	streamLSTM = 0x6c73746d
	streamConv = 0x636f6e76
)

// uniform returns k values drawn uniformly from [−a, a).
func uniform(rng *rand.Rand, k int, a float64) []float64 {
	v := make([]float64, k)
	for i := range v {
		v[i] = a * (2*rng.Float64() - 1)
	}
	return v
}

// Activation is the nonlinearity between layers. The zero value is Tanh.
type Activation uint8

const (
	// Tanh is the hyperbolic tangent.
	Tanh Activation = iota
	// ReLU is max(0, x) (Gorgonia's Rectify).
	ReLU
)

// String returns "tanh" or "relu".
func (a Activation) String() string {
	return enumName("Activation", a, "tanh", "relu")
}

func (a Activation) valid() bool { return a <= ReLU }

// apply adds the activation of x to the graph.
func (a Activation) apply(x *G.Node) (*G.Node, error) {
	if a == ReLU {
		return G.Rectify(x)
	}
	return G.Tanh(x)
}

// gain returns the bound of the uniform initialisation of a weight matrix
// with fanIn inputs and fanOut outputs followed by activation a: Glorot
// (Xavier) uniform √(6/(fanIn+fanOut)) for tanh and for a linear output,
// He uniform √(6/fanIn) for ReLU.
func (a Activation) gain(fanIn, fanOut int, linear bool) float64 {
	if a == ReLU && !linear {
		return math.Sqrt(6 / float64(fanIn))
	}
	return math.Sqrt(6 / float64(fanIn+fanOut))
}

// checkBatchMatrix checks that x is (B, k) for some B ≥ 1 and returns B.
func checkBatchMatrix(x *G.Node, k int, what string) (int, error) {
	if x == nil {
		return 0, configErr("%s: input node is nil", what)
	}
	s := x.Shape()
	if len(s) != 2 || s[1] != k || s[0] < 1 {
		return 0, configErr("%s: input has shape %v, want (B, %d)", what, s, k)
	}
	return s[0], nil
}
