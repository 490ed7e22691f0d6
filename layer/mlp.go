package layer

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MLPConfig configures an MLP.
type MLPConfig struct {
	// Sizes are the widths: input, hidden layers, output. At least two
	// entries, all positive.
	Sizes []int
	// Activation follows every hidden layer; the output is linear. Default
	// Tanh.
	Activation Activation
	// OutputBias is the initial bias of the output layer (length
	// Sizes[len-1]); nil means zeros. Set it to the preimage of a prior
	// under a downstream transform, e.g. Softplus.Inverse of a nominal θ,
	// so that the untrained network predicts near the prior.
	OutputBias []float64
	// Seed seeds the weight initialisation (see NewMLP).
	Seed uint64
	// Dtype is the dtype of every node the layer makes, tensor.Float64
	// (the default, also for the zero value) or tensor.Float32; inputs to
	// Forward must have it. Initial values are drawn in float64 and rounded.
	Dtype tensor.Dtype
	// Name prefixes the node names (Name.W0, Name.b0, …); default "mlp".
	// Layers in one graph need distinct names.
	Name string
}

// MLP is a fully connected network y = A_L(…act(A_1 x)…) with affine maps
// A_i(h) = h W_i + b_i, the activation after every hidden layer and a
// linear output. Its parameters are W0, b0, W1, b1, …: W_i of shape
// (Sizes[i], Sizes[i+1]), b_i of shape (Sizes[i+1]).
type MLP struct {
	params
	cfg   MLPConfig
	stack linearStack
}

// NewMLP adds the parameters of an MLP to g. The weights are drawn from a
// PCG generator seeded with cfg.Seed: W_i uniform on [−a, a] with
// a = √(6/(fan_in+fan_out)) (Glorot) for tanh layers and the linear output,
// a = √(6/fan_in) (He) for ReLU layers; biases zero, except the output
// bias, set to cfg.OutputBias. The same configuration and seed always give
// the same weights.
func NewMLP(g *G.ExprGraph, cfg MLPConfig) (*MLP, error) {
	p, err := newParams(g, cfg.Name, "mlp", cfg.Dtype, "MLP")
	if err != nil {
		return nil, err
	}
	m := &MLP{params: p, cfg: cfg}
	m.cfg.Sizes = append([]int(nil), cfg.Sizes...)
	m.cfg.OutputBias = append([]float64(nil), cfg.OutputBias...)
	if m.stack, err = newLinearStack(&m.params, "MLP", "", cfg.Sizes, cfg.Activation, cfg.OutputBias, initRNG(cfg.Seed, streamMLP)); err != nil {
		return nil, err
	}
	return m, nil
}

// Kind implements Layer: "mlp".
func (m *MLP) Kind() string { return "mlp" }

// Describe implements Layer, e.g. "mlp(sizes=[4 16 3],act=tanh)".
func (m *MLP) Describe() string {
	return fmt.Sprintf("mlp(sizes=%v,act=%v)", m.cfg.Sizes, m.cfg.Activation)
}

// Forward adds the network applied to x (B, Sizes[0]) to the graph and
// returns its output (B, Sizes[len-1]); x must have the layer's Dtype.
func (m *MLP) Forward(x *G.Node) (*G.Node, error) {
	if _, err := checkBatchMatrix(x, m.cfg.Sizes[0], "MLP"); err != nil {
		return nil, err
	}
	if err := checkDtype(x, m.dtype, "MLP"); err != nil {
		return nil, err
	}
	return m.stack.forward(x)
}

// Save writes the MLP's parameters to path (see SaveLayers).
func (m *MLP) Save(path string) error { return SaveLayers(path, m) }

// Load reads the MLP's parameters from path (see LoadLayers).
func (m *MLP) Load(path string) error { return LoadLayers(path, m) }

// linearStack is a chain of affine maps with an activation between them.
type linearStack struct {
	w, b []*G.Node
	act  Activation
}

// newLinearStack adds the weights of the affine maps sizes[i] → sizes[i+1]
// to p, named {prefix}W{i} and {prefix}b{i}, initialised as NewMLP says;
// what names the layer in errors.
func newLinearStack(p *params, what, prefix string, sizes []int, act Activation, outBias []float64, rng *rand.Rand) (linearStack, error) {
	if len(sizes) < 2 {
		return linearStack{}, configErr("%s: %d sizes given, need at least 2 (input and output)", what, len(sizes))
	}
	for i, s := range sizes {
		if s < 1 {
			return linearStack{}, configErr("%s: size %d is %d", what, i, s)
		}
	}
	if !act.valid() {
		return linearStack{}, configErr("%s: unknown activation %v", what, act)
	}
	out := sizes[len(sizes)-1]
	if outBias != nil && len(outBias) != out {
		return linearStack{}, configErr("%s: OutputBias has length %d, output size is %d", what, len(outBias), out)
	}
	for i, v := range outBias {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return linearStack{}, configErr("%s: OutputBias[%d] is %v", what, i, v)
		}
	}
	st := linearStack{act: act}
	for i := 0; i+1 < len(sizes); i++ {
		in, o := sizes[i], sizes[i+1]
		last := i+2 == len(sizes)
		a := act.gain(in, o, last)
		wv := make([]float64, in*o)
		for j := range wv {
			wv[j] = a * (2*rng.Float64() - 1)
		}
		bv := make([]float64, o)
		if last && outBias != nil {
			copy(bv, outBias)
		}
		w, err := p.add(fmt.Sprintf("%sW%d", prefix, i), wv, in, o)
		if err != nil {
			return linearStack{}, err
		}
		b, err := p.add(fmt.Sprintf("%sb%d", prefix, i), bv, o)
		if err != nil {
			return linearStack{}, err
		}
		st.w, st.b = append(st.w, w), append(st.b, b)
	}
	return st, nil
}

// forward applies the stack to x (B, in).
func (st linearStack) forward(x *G.Node) (*G.Node, error) {
	h := x
	for i := range st.w {
		z, err := affine(h, st.w[i], st.b[i])
		if err != nil {
			return nil, fmt.Errorf("layer: linear %d: %w", i, err)
		}
		if i+1 < len(st.w) {
			if z, err = st.act.apply(z); err != nil {
				return nil, fmt.Errorf("layer: activation %d: %w", i, err)
			}
		}
		h = z
	}
	return h, nil
}

// affine returns x W + b for x (B, in), W (in, out), b (out).
func affine(x, w, b *G.Node) (*G.Node, error) {
	xw, err := G.Mul(x, w)
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(xw, b, nil, []byte{0})
}
