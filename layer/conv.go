package layer

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConvSpec is one convolution stage of a ConvEncoder.
type ConvSpec struct {
	// Filters is the number of output channels; positive.
	Filters int
	// Kernel is the side of the square kernel: odd and positive. The input
	// is zero-padded by Kernel/2 on every side, so the convolution (stride
	// 1) keeps the height and width.
	Kernel int
	// Pool is the side of the max-pooling window, applied with the same
	// stride after the activation; 0 or 1 means no pooling. Rows and columns
	// left over when the size is not a multiple of Pool are dropped.
	Pool int
}

// ConvConfig configures a ConvEncoder.
type ConvConfig struct {
	// Channels, Height and Width are the input sizes (B, C, H, W).
	Channels, Height, Width int
	// Convs are the convolution stages, at least one.
	Convs []ConvSpec
	// Head are the sizes of the fully connected head after flattening:
	// hidden widths then the output width, at least one entry.
	Head []int
	// Activation follows every convolution and every hidden head layer;
	// the output is linear. Default Tanh.
	Activation Activation
	// OutputBias is the initial bias of the output layer; nil means zeros.
	OutputBias []float64
	// Seed seeds the weight initialisation (see NewConvEncoder).
	Seed uint64
	// Dtype is the dtype of every node the layer makes, tensor.Float64
	// (the default, also for the zero value) or tensor.Float32; inputs to
	// Forward must have it. Initial values are drawn in float64 and rounded.
	Dtype tensor.Dtype
	// Name prefixes the node names; default "conv".
	Name string
}

// ConvEncoder maps images (B, C, H, W) to feature vectors (B, Head[last]):
// for each stage, a 2-D convolution with bias, the activation and optional
// max pooling; then flattening to (B, F·H'·W') and a fully connected head
// (an MLP). Flattening replaces global average pooling, whose Gorgonia op
// has no symbolic derivative and whose Mean over middle axes is wrong in
// tensor v0.9.24.
//
// Parameters: K{i} (Filters_i, C_i, Kernel_i, Kernel_i) and c{i}
// (1, Filters_i, 1, 1) per stage, then headW{j} and headb{j} as in MLP.
type ConvEncoder struct {
	params
	cfg   ConvConfig
	k, c  []*G.Node
	shape []int // (F, H', W') after the last stage
	head  linearStack
}

// NewConvEncoder adds the parameters of a ConvEncoder to g, drawn by a PCG
// generator seeded with cfg.Seed: kernels uniform on [−a, a] with
// a = √(6/fan_in) (He) for ReLU and √(6/(fan_in+fan_out)) (Glorot) for tanh,
// where fan_in = C·k² and fan_out = F·k²; convolution biases zero; the head
// initialised as NewMLP does.
func NewConvEncoder(g *G.ExprGraph, cfg ConvConfig) (*ConvEncoder, error) {
	if cfg.Channels < 1 || cfg.Height < 1 || cfg.Width < 1 {
		return nil, configErr("conv: input sizes C=%d H=%d W=%d must be positive", cfg.Channels, cfg.Height, cfg.Width)
	}
	if len(cfg.Convs) == 0 || len(cfg.Head) == 0 {
		return nil, configErr("conv: need at least one convolution stage (have %d) and one head size (have %d)", len(cfg.Convs), len(cfg.Head))
	}
	if !cfg.Activation.valid() {
		return nil, configErr("conv: unknown activation %v", cfg.Activation)
	}
	p, err := newParams(g, cfg.Name, "conv", cfg.Dtype, "conv")
	if err != nil {
		return nil, err
	}
	e := &ConvEncoder{params: p, cfg: cfg}
	e.cfg.Convs = append([]ConvSpec(nil), cfg.Convs...)
	e.cfg.Head = append([]int(nil), cfg.Head...)
	e.cfg.OutputBias = append([]float64(nil), cfg.OutputBias...)
	rng := initRNG(cfg.Seed, streamConv)
	ch, h, w := cfg.Channels, cfg.Height, cfg.Width
	for i, s := range cfg.Convs {
		if s.Filters < 1 || s.Kernel < 1 || s.Kernel%2 == 0 || s.Pool < 0 {
			return nil, configErr("conv: stage %d: Filters %d must be positive, Kernel %d odd and positive, Pool %d non-negative",
				i, s.Filters, s.Kernel, s.Pool)
		}
		kk := s.Kernel * s.Kernel
		a := math.Sqrt(6 / float64(ch*kk+s.Filters*kk))
		if cfg.Activation == ReLU {
			a = math.Sqrt(6 / float64(ch*kk))
		}
		kn, err := e.add(fmt.Sprintf("K%d", i), uniform(rng, s.Filters*ch*kk, a), s.Filters, ch, s.Kernel, s.Kernel)
		if err != nil {
			return nil, err
		}
		cn, err := e.add(fmt.Sprintf("c%d", i), make([]float64, s.Filters), 1, s.Filters, 1, 1)
		if err != nil {
			return nil, err
		}
		e.k, e.c = append(e.k, kn), append(e.c, cn)
		ch = s.Filters
		if s.Pool > 1 {
			h, w = h/s.Pool, w/s.Pool
			if h < 1 || w < 1 {
				return nil, configErr("conv: stage %d: pooling by %d leaves no pixels", i, s.Pool)
			}
		}
	}
	e.shape = []int{ch, h, w}
	sizes := append([]int{ch * h * w}, cfg.Head...)
	if e.head, err = newLinearStack(&e.params, "conv head", "head", sizes, cfg.Activation, cfg.OutputBias, rng); err != nil {
		return nil, err
	}
	return e, nil
}

// Kind implements Layer: "conv".
func (e *ConvEncoder) Kind() string { return "conv" }

// Describe implements Layer, e.g.
// "conv(in=[1 16 16],convs=[{4 3 2}],head=[8 2],act=tanh)".
func (e *ConvEncoder) Describe() string {
	return fmt.Sprintf("conv(in=[%d %d %d],convs=%v,head=%v,act=%v)",
		e.cfg.Channels, e.cfg.Height, e.cfg.Width, e.cfg.Convs, e.cfg.Head, e.cfg.Activation)
}

// Forward adds the encoder applied to x (B, C, H, W) to the graph and
// returns its output (B, Head[last]); x must have the layer's Dtype.
func (e *ConvEncoder) Forward(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, configErr("conv: input node is nil")
	}
	want := tensor.Shape{0, e.cfg.Channels, e.cfg.Height, e.cfg.Width}
	s := x.Shape()
	if len(s) != 4 || s[0] < 1 || s[1] != want[1] || s[2] != want[2] || s[3] != want[3] {
		return nil, configErr("conv: input has shape %v, want (B, %d, %d, %d)", s, want[1], want[2], want[3])
	}
	if err := checkDtype(x, e.dtype, "conv"); err != nil {
		return nil, err
	}
	b := s[0]
	h := x
	for i, sp := range e.cfg.Convs {
		pad := sp.Kernel / 2
		y, err := G.Conv2d(h, e.k[i], tensor.Shape{sp.Kernel, sp.Kernel}, []int{pad, pad}, []int{1, 1}, []int{1, 1})
		if err != nil {
			return nil, fmt.Errorf("layer: conv stage %d: %w", i, err)
		}
		if y, err = G.BroadcastAdd(y, e.c[i], nil, []byte{0, 2, 3}); err != nil {
			return nil, fmt.Errorf("layer: conv stage %d bias: %w", i, err)
		}
		if y, err = e.cfg.Activation.apply(y); err != nil {
			return nil, fmt.Errorf("layer: conv stage %d activation: %w", i, err)
		}
		if sp.Pool > 1 {
			if y, err = G.MaxPool2D(y, tensor.Shape{sp.Pool, sp.Pool}, []int{0, 0}, []int{sp.Pool, sp.Pool}); err != nil {
				return nil, fmt.Errorf("layer: conv stage %d pooling: %w", i, err)
			}
		}
		h = y
	}
	flat := e.shape[0] * e.shape[1] * e.shape[2]
	if got := h.Shape(); got.TotalSize() != b*flat {
		return nil, fmt.Errorf("layer: conv: last stage has shape %v, expected (%d, %v)", got, b, e.shape)
	}
	f, err := G.Reshape(h, tensor.Shape{b, flat})
	if err != nil {
		return nil, fmt.Errorf("layer: conv: flattening: %w", err)
	}
	return e.head.forward(f)
}

// Save writes the encoder's parameters to path (see SaveLayers).
func (e *ConvEncoder) Save(path string) error { return SaveLayers(path, e) }

// Load reads the encoder's parameters from path (see LoadLayers).
func (e *ConvEncoder) Load(path string) error { return LoadLayers(path, e) }
