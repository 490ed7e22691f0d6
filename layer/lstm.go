package layer

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LSTMConfig configures an LSTM.
type LSTMConfig struct {
	// Input is the number of features F per step; Hidden the width H of
	// every layer's state. Both positive.
	Input, Hidden int
	// Layers is the number of stacked LSTM layers; layer k > 0 reads the
	// hidden states of layer k−1. Default 1.
	Layers int
	// Seed seeds the weight initialisation (see NewLSTM).
	Seed uint64
	// Dtype is the dtype of every node the layer makes, tensor.Float64
	// (the default, also for the zero value) or tensor.Float32; inputs to
	// Forward must have it. Initial values are drawn in float64 and rounded.
	Dtype tensor.Dtype
	// Name prefixes the node names; default "lstm".
	Name string
}

// LSTM is a stack of long short-term memory layers (Hochreiter &
// Schmidhuber 1997, with a forget gate as in Gers et al. 2000), built from
// Gorgonia ops. Layer k at step t, with input x_t (B, F_k) and previous
// state (h_{t−1}, c_{t−1}), computes
//
//	z   = x_t Wx_k + h_{t−1} Wh_k + b_k            (B, 4H), blocks (i, f, g, o)
//	c_t = σ(z_f) ⊙ c_{t−1} + σ(z_i) ⊙ tanh(z_g)
//	h_t = σ(z_o) ⊙ tanh(c_t)
//
// from the zero state h_{−1} = c_{−1} = 0. Its parameters are Wx{k}
// (F_k, 4H), Wh{k} (H, 4H) and b{k} (4H), the gate blocks in the order
// input, forget, cell, output (PyTorch's order), F_0 = F and F_k = H.
type LSTM struct {
	params
	cfg       LSTMConfig
	wx, wh, b []*G.Node
}

// NewLSTM adds the parameters of an LSTM to g. Weights are drawn uniformly
// from [−1/√H, 1/√H] (PyTorch's default) by a PCG generator seeded with
// cfg.Seed; the biases are zero except the forget-gate block, which starts
// at 1 so that the cell keeps its state early in training.
func NewLSTM(g *G.ExprGraph, cfg LSTMConfig) (*LSTM, error) {
	if cfg.Layers == 0 {
		cfg.Layers = 1
	}
	if cfg.Input < 1 || cfg.Hidden < 1 || cfg.Layers < 1 {
		return nil, configErr("LSTM: Input %d, Hidden %d and Layers %d must be positive", cfg.Input, cfg.Hidden, cfg.Layers)
	}
	p, err := newParams(g, cfg.Name, "lstm", cfg.Dtype, "LSTM")
	if err != nil {
		return nil, err
	}
	l := &LSTM{params: p, cfg: cfg}
	rng := initRNG(cfg.Seed, streamLSTM)
	h := cfg.Hidden
	a := 1 / math.Sqrt(float64(h))
	for k := 0; k < cfg.Layers; k++ {
		in := cfg.Input
		if k > 0 {
			in = h
		}
		wx, err := l.add(fmt.Sprintf("Wx%d", k), uniform(rng, in*4*h, a), in, 4*h)
		if err != nil {
			return nil, err
		}
		wh, err := l.add(fmt.Sprintf("Wh%d", k), uniform(rng, h*4*h, a), h, 4*h)
		if err != nil {
			return nil, err
		}
		bv := make([]float64, 4*h)
		for j := h; j < 2*h; j++ {
			bv[j] = 1 // forget gate
		}
		b, err := l.add(fmt.Sprintf("b%d", k), bv, 4*h)
		if err != nil {
			return nil, err
		}
		l.wx, l.wh, l.b = append(l.wx, wx), append(l.wh, wh), append(l.b, b)
	}
	return l, nil
}

// Kind implements Layer: "lstm".
func (l *LSTM) Kind() string { return "lstm" }

// Describe implements Layer, e.g. "lstm(in=3,hidden=8,layers=2)".
func (l *LSTM) Describe() string {
	return fmt.Sprintf("lstm(in=%d,hidden=%d,layers=%d)", l.cfg.Input, l.cfg.Hidden, l.cfg.Layers)
}

// Forward runs the LSTM over a sequence given as S ≥ 1 nodes x_0..x_{S−1},
// each (B, F), and returns the top layer's hidden states h_0..h_{S−1}, each
// (B, H), in the layer's Dtype, which the inputs must have. Use the last
// one as a summary of the sequence. With S = 1 the
// recurrent weights Wh do not enter the output (the state starts at zero),
// so G.Grad reports them as not differentiable: leave them out of its list
// or use sequences of two steps or more.
func (l *LSTM) Forward(xs []*G.Node) ([]*G.Node, error) {
	if len(xs) == 0 {
		return nil, configErr("LSTM: empty sequence")
	}
	b := 0
	for t, x := range xs {
		bt, err := checkBatchMatrix(x, l.cfg.Input, fmt.Sprintf("LSTM step %d", t))
		if err != nil {
			return nil, err
		}
		if err := checkDtype(x, l.dtype, fmt.Sprintf("LSTM step %d", t)); err != nil {
			return nil, err
		}
		if t > 0 && bt != b {
			return nil, configErr("LSTM: step %d has batch %d, step 0 has %d", t, bt, b)
		}
		b = bt
	}
	seq := xs
	for k := 0; k < l.cfg.Layers; k++ {
		out := make([]*G.Node, len(seq))
		var h, c *G.Node
		for t, x := range seq {
			var err error
			if h, c, err = l.cell(k, b, x, h, c); err != nil {
				return nil, fmt.Errorf("layer: LSTM layer %d step %d: %w", k, t, err)
			}
			out[t] = h
		}
		seq = out
	}
	return seq, nil
}

// ForwardSeq runs the LSTM over x (B, S, F), sliced into its S steps, and
// returns the top layer's hidden states per step, each (B, H).
func (l *LSTM) ForwardSeq(x *G.Node) ([]*G.Node, error) {
	if x == nil {
		return nil, configErr("LSTM: input node is nil")
	}
	s := x.Shape()
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] != l.cfg.Input {
		return nil, configErr("LSTM: input has shape %v, want (B, S, %d)", s, l.cfg.Input)
	}
	xs := make([]*G.Node, s[1])
	for t := range xs {
		st, err := G.Slice(x, nil, G.S(t))
		if err != nil {
			return nil, fmt.Errorf("layer: LSTM: slicing step %d: %w", t, err)
		}
		if xs[t], err = reshapeTo(st, s[0], s[2]); err != nil {
			return nil, err
		}
	}
	return l.Forward(xs)
}

// cell computes one step of layer k; h and c are nil at the first step.
func (l *LSTM) cell(k, b int, x, h, c *G.Node) (hn, cn *G.Node, err error) {
	z, err := G.Mul(x, l.wx[k])
	if err != nil {
		return nil, nil, err
	}
	if h != nil {
		hw, err := G.Mul(h, l.wh[k])
		if err != nil {
			return nil, nil, err
		}
		if z, err = G.Add(z, hw); err != nil {
			return nil, nil, err
		}
	}
	if z, err = G.BroadcastAdd(z, l.b[k], nil, []byte{0}); err != nil {
		return nil, nil, err
	}
	hd := l.cfg.Hidden
	gate := func(j int, f func(*G.Node) (*G.Node, error)) (*G.Node, error) {
		s, err := G.Slice(z, nil, G.S(j*hd, (j+1)*hd))
		if err != nil {
			return nil, err
		}
		if s, err = reshapeTo(s, b, hd); err != nil {
			return nil, err
		}
		return f(s)
	}
	ig, err := gate(0, G.Sigmoid)
	if err != nil {
		return nil, nil, err
	}
	gg, err := gate(2, G.Tanh)
	if err != nil {
		return nil, nil, err
	}
	og, err := gate(3, G.Sigmoid)
	if err != nil {
		return nil, nil, err
	}
	if cn, err = G.HadamardProd(ig, gg); err != nil {
		return nil, nil, err
	}
	if c != nil {
		fg, err := gate(1, G.Sigmoid)
		if err != nil {
			return nil, nil, err
		}
		fc, err := G.HadamardProd(fg, c)
		if err != nil {
			return nil, nil, err
		}
		if cn, err = G.Add(fc, cn); err != nil {
			return nil, nil, err
		}
	}
	tc, err := G.Tanh(cn)
	if err != nil {
		return nil, nil, err
	}
	if hn, err = G.HadamardProd(og, tc); err != nil {
		return nil, nil, err
	}
	return hn, cn, nil
}

// reshapeTo reshapes n to shape unless it has it already (Gorgonia's Slice
// drops axes of length one). Shapes are compared exactly: tensor.Shape.Eq
// takes (k) and (k, 1) for equal.
func reshapeTo(n *G.Node, shape ...int) (*G.Node, error) {
	if slices.Equal(n.Shape(), shape) {
		return n, nil
	}
	r, err := G.Reshape(n, tensor.Shape(shape))
	if err != nil {
		return nil, fmt.Errorf("layer: reshaping %v to %v: %w", n.Shape(), shape, err)
	}
	return r, nil
}

// Save writes the LSTM's parameters to path (see SaveLayers).
func (l *LSTM) Save(path string) error { return SaveLayers(path, l) }

// Load reads the LSTM's parameters from path (see LoadLayers).
func (l *LSTM) Load(path string) error { return LoadLayers(path, l) }
