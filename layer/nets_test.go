package layer

// MLP, LSTM and ConvEncoder on their own: seeding, initialisation, shapes,
// known values and bad configurations.

import (
	"errors"
	"math"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestSeededInit: the same configuration and seed give bit-identical
// parameters (in a fresh graph, on any run), another seed other ones; the
// documented initialisation ranges and constants hold.
func TestSeededInit(t *testing.T) {
	for _, kc := range kindCases()[:3] {
		t.Run(kc.name, func(t *testing.T) {
			a, _ := kc.build(t, G.NewGraph(), 11)
			b, _ := kc.build(t, G.NewGraph(), 11)
			c, _ := kc.build(t, G.NewGraph(), 12)
			if !equalValues(paramValues(t, a), paramValues(t, b)) {
				t.Error("seed 11 twice gave different parameters")
			}
			if equalValues(paramValues(t, a), paramValues(t, c)) {
				t.Error("seeds 11 and 12 gave the same parameters")
			}
		})
	}

	// MLP: ReLU hidden layer He-uniform, linear output Glorot, output bias.
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{6, 10, 2}, Activation: ReLU, Seed: 3, OutputBias: []float64{0.5, -1}})
	if err != nil {
		t.Fatal(err)
	}
	v := paramValues(t, mlp)
	checkRange(t, "W0", v[0], math.Sqrt(6.0/6))
	checkRange(t, "W1", v[2], math.Sqrt(6.0/12))
	if !slices.Equal(v[1], make([]float64, 10)) || !slices.Equal(v[3], []float64{0.5, -1}) {
		t.Errorf("biases %v %v", v[1], v[3])
	}

	// LSTM: weights within 1/√H, biases 0 but the forget block 1.
	lstm, err := NewLSTM(g, LSTMConfig{Input: 2, Hidden: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	v = paramValues(t, lstm)
	checkRange(t, "Wx0", v[0], 0.5)
	checkRange(t, "Wh0", v[1], 0.5)
	want := []float64{0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	if !slices.Equal(v[2], want) {
		t.Errorf("b0 = %v, want %v", v[2], want)
	}
}

// checkRange fails unless every value lies in [−a, a] and they spread over
// at least half of it.
func checkRange(t *testing.T, name string, v []float64, a float64) {
	t.Helper()
	var lo, hi float64
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if lo < -a || hi > a || hi-lo < a {
		t.Errorf("%s spans [%g, %g], want within ±%g and spread", name, lo, hi, a)
	}
}

// TestMLPValue checks a 1-2-1 tanh MLP against the formula computed by hand.
func TestMLPValue(t *testing.T) {
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{1, 2, 1}, Seed: 1, OutputBias: []float64{0.25}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := mlp.Forward(input(t, g, "x", []float64{0.5, -2}, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := forward(t, g, out)
	v := paramValues(t, mlp) // W0 (1,2), b0 (2), W1 (2,1), b1 (1)
	for i, x := range []float64{0.5, -2} {
		y := v[3][0]
		for j := 0; j < 2; j++ {
			y += math.Tanh(x*v[0][j]+v[1][j]) * v[2][j]
		}
		if math.Abs(got[i]-y) > 1e-15 {
			t.Errorf("MLP(%g) = %.17g, by hand %.17g", x, got[i], y)
		}
	}
}

// TestLSTMValue checks a one-unit LSTM (H = 1, where Gorgonia's Slice
// drops the gate axes) over two steps against the equations by hand, and
// that Forward on step nodes and ForwardSeq on (B, S, F) agree.
func TestLSTMValue(t *testing.T) {
	g := G.NewGraph()
	l, err := NewLSTM(g, LSTMConfig{Input: 2, Hidden: 1, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// x (B=1, S=2, F=2)
	xs := []float64{0.3, -0.7, 1.1, 0.4}
	seq, err := l.ForwardSeq(input(t, g, "seq", xs, 1, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := l.Forward([]*G.Node{input(t, g, "x0", xs[:2], 1, 2), input(t, g, "x1", xs[2:], 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seq[1].Shape(), []int{1, 1}) {
		t.Fatalf("h shape %v, want (1, 1)", seq[1].Shape())
	}
	sum := must(t)(G.Add(seq[1], steps[1]))
	got := forward(t, g, sum)[0] / 2

	v := paramValues(t, l) // Wx0 (2, 4), Wh0 (1, 4), b0 (4)
	sig := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	var h, c float64
	for s := 0; s < 2; s++ {
		var z [4]float64
		for k := 0; k < 4; k++ {
			z[k] = xs[2*s]*v[0][k] + xs[2*s+1]*v[0][4+k] + h*v[1][k] + v[2][k]
		}
		c = sig(z[1])*c + sig(z[0])*math.Tanh(z[2])
		h = sig(z[3]) * math.Tanh(c)
	}
	if math.Abs(got-h) > 1e-15 {
		t.Errorf("h_1 = %.17g, by hand %.17g", got, h)
	}
}

// TestConvEncoderShapes: outputs (B, Head[last]) for odd sizes and
// pooling remainders; the flattened size follows the documented rule.
func TestConvEncoderShapes(t *testing.T) {
	g := G.NewGraph()
	e, err := NewConvEncoder(g, ConvConfig{Channels: 3, Height: 9, Width: 7, Activation: ReLU,
		Convs: []ConvSpec{{Filters: 2, Kernel: 3, Pool: 2}, {Filters: 5, Kernel: 1, Pool: 3}, {Filters: 2, Kernel: 5}},
		Head:  []int{4}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 9×7 → pool 2 → 4×3 → pool 3 → 1×1: 2 filters · 1 · 1 = 2 inputs to the head.
	if s := e.Params()[6].Node.Shape(); !slices.Equal(s, []int{2, 4}) {
		t.Errorf("head W0 shape %v, want (2, 4)", s)
	}
	out, err := e.Forward(input(t, g, "img", normals(1, 2*3*9*7), 2, 3, 9, 7))
	if err != nil {
		t.Fatal(err)
	}
	if got := forward(t, g, out); len(got) != 8 || !slices.Equal(out.Shape(), []int{2, 4}) {
		t.Errorf("output shape %v, %d values", out.Shape(), len(got))
	}
}

// TestNetConfigErrors: bad sizes, names and inputs are errors wrapping
// ErrConfig.
func TestNetConfigErrors(t *testing.T) {
	g := G.NewGraph()
	if _, err := NewMLP(g, MLPConfig{Sizes: []int{3, 2}}); err != nil {
		t.Fatal(err)
	}
	mlp, _ := NewMLP(g, MLPConfig{Sizes: []int{3, 2}, Name: "other"})
	for _, tc := range []struct {
		name string
		f    func() error
		says string
	}{
		{"mlp one size", func() error { _, err := NewMLP(g, MLPConfig{Sizes: []int{3}, Name: "a"}); return err }, "MLP: 1 sizes given"},
		{"mlp zero width", func() error { _, err := NewMLP(g, MLPConfig{Sizes: []int{3, 0, 2}, Name: "a"}); return err }, "size 1 is 0"},
		{"mlp output bias", func() error {
			_, err := NewMLP(g, MLPConfig{Sizes: []int{3, 2}, OutputBias: []float64{1}, Name: "a"})
			return err
		}, "OutputBias has length 1"},
		{"mlp float32 output bias beyond range", func() error {
			_, err := NewMLP(g, MLPConfig{Sizes: []int{3, 2}, OutputBias: []float64{1e39, 0}, Dtype: tensor.Float32, Name: "f32"})
			return err
		}, "beyond float32's range"},
		{"mlp activation", func() error {
			_, err := NewMLP(g, MLPConfig{Sizes: []int{3, 2}, Activation: 9, Name: "a"})
			return err
		}, "Activation(9)"},
		{"mlp name taken", func() error { _, err := NewMLP(g, MLPConfig{Sizes: []int{3, 2}}); return err }, `"mlp.W0" is already`},
		{"mlp nil graph", func() error { _, err := NewMLP(nil, MLPConfig{Sizes: []int{3, 2}}); return err }, "graph"},
		{"mlp input shape", func() error {
			_, err := mlp.Forward(input(t, g, "in4", make([]float64, 8), 2, 4))
			return err
		}, "want (B, 3)"},
		{"lstm sizes", func() error { _, err := NewLSTM(g, LSTMConfig{Input: 0, Hidden: 2}); return err }, "positive"},
		{"lstm empty sequence", func() error {
			l, _ := NewLSTM(g, LSTMConfig{Input: 1, Hidden: 1, Name: "l1"})
			_, err := l.Forward(nil)
			return err
		}, "empty"},
		{"lstm batch mismatch", func() error {
			l, _ := NewLSTM(g, LSTMConfig{Input: 1, Hidden: 1, Name: "l2"})
			_, err := l.Forward([]*G.Node{input(t, g, "s0", []float64{1, 2}, 2, 1), input(t, g, "s1", []float64{1}, 1, 1)})
			return err
		}, "batch 1"},
		{"lstm seq shape", func() error {
			l, _ := NewLSTM(g, LSTMConfig{Input: 2, Hidden: 1, Name: "l3"})
			_, err := l.ForwardSeq(input(t, g, "sq", make([]float64, 6), 1, 2, 3))
			return err
		}, "want (B, S, 2)"},
		{"conv even kernel", func() error {
			_, err := NewConvEncoder(g, ConvConfig{Channels: 1, Height: 4, Width: 4, Convs: []ConvSpec{{Filters: 1, Kernel: 2}}, Head: []int{1}})
			return err
		}, "odd"},
		{"conv pooled away", func() error {
			_, err := NewConvEncoder(g, ConvConfig{Channels: 1, Height: 4, Width: 4, Convs: []ConvSpec{{Filters: 1, Kernel: 1, Pool: 5}}, Head: []int{1}, Name: "c2"})
			return err
		}, "no pixels"},
		{"conv no head", func() error {
			_, err := NewConvEncoder(g, ConvConfig{Channels: 1, Height: 4, Width: 4, Convs: []ConvSpec{{Filters: 1, Kernel: 1}}})
			return err
		}, "head"},
		{"conv input shape", func() error {
			e, _ := NewConvEncoder(g, ConvConfig{Channels: 1, Height: 4, Width: 4, Convs: []ConvSpec{{Filters: 1, Kernel: 1}}, Head: []int{1}, Name: "c3"})
			_, err := e.Forward(input(t, g, "im", make([]float64, 32), 2, 1, 4, 4))
			if err != nil {
				return errors.New("unexpected: " + err.Error())
			}
			_, err = e.Forward(input(t, g, "im2", make([]float64, 32), 1, 2, 4, 4))
			return err
		}, "want (B, 1, 4, 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.f(), ErrConfig, tc.says)
		})
	}
}

// TestTransformInverse: Inverse undoes Apply across the ranges, to 1e-13
// relative (the round trip through log and exp of values near 1e-300 costs
// |log v| ≈ 690 ulps), and rejects values outside them.
func TestTransformInverse(t *testing.T) {
	for _, tc := range []struct {
		tr  Transform
		v   []float64
		bad []float64
	}{
		{Identity, []float64{-3, 0, 1e300}, []float64{math.NaN(), math.Inf(1)}},
		{Softplus, []float64{1e-300, 1e-8, 0.001, 0.7, 1, 10, 15.9, 16, 17, 1e6}, []float64{0, -1, math.Inf(1)}},
		{Sigmoid, []float64{1e-300, 1e-6, 0.02, 0.5, 0.99, 1 - 1e-8}, []float64{0, 1, 1.5, 1 - 1e-12}},
	} {
		r, err := tc.tr.Inverse(tc.v)
		if err != nil {
			t.Errorf("%v: %v", tc.tr, err)
			continue
		}
		back := tc.tr.Apply(r)
		for i := range back {
			if math.Abs(back[i]-tc.v[i]) > 1e-13*math.Abs(tc.v[i]) {
				t.Errorf("%v: Apply(Inverse(%g)) = %g", tc.tr, tc.v[i], back[i])
			}
		}
		for _, b := range tc.bad {
			if _, err := tc.tr.Inverse([]float64{b}); err == nil {
				t.Errorf("%v: Inverse(%g) accepted", tc.tr, b)
			}
		}
	}
}
