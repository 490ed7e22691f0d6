package layer

// Float32 graphs: layers built with Dtype Float32 against the same layers
// in Float64, parameter files across dtypes, and training with Adam.

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/internal/gtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// round32 returns v rounded to float32 and back.
func round32(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(float32(x))
	}
	return out
}

// inputAs adds an input node of dtype dt with value v (rounded for
// Float32).
func inputAs(t testing.TB, g *G.ExprGraph, dt tensor.Dtype, name string, v []float64, shape ...int) *G.Node {
	t.Helper()
	n, err := inputNodeOf(g, name, dt, slices.Clone(v), shape...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// valuesOf returns a node value's data as float64, whatever its dtype.
func valuesOf(t testing.TB, v G.Value) []float64 {
	t.Helper()
	out, err := gtest.Floats(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gradsOf returns the gradient of every node in ns as float64, checking
// that each has the node's dtype.
func gradsOf(t testing.TB, ns G.Nodes) [][]float64 {
	t.Helper()
	out := make([][]float64, len(ns))
	for i, n := range ns {
		v, err := n.Grad()
		if err != nil {
			t.Fatalf("%s: %v", n.Name(), err)
		}
		if v.Dtype() != n.Dtype() {
			t.Fatalf("gradient of %s is %v, the node %v", n.Name(), v.Dtype(), n.Dtype())
		}
		out[i] = valuesOf(t, v)
	}
	return out
}

// copyParams sets the parameters of dst to those of src (layers of the same
// architecture, possibly of other dtypes), rounding for a Float32 dst.
func copyParams(t testing.TB, dst, src Layer) {
	t.Helper()
	ps, pd := src.Params(), dst.Params()
	if len(ps) != len(pd) {
		t.Fatalf("%d parameters into %d", len(ps), len(pd))
	}
	for i := range ps {
		v, err := nodeData(ps[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := setNode(pd[i], slices.Clone(v)); err != nil {
			t.Fatal(err)
		}
	}
}

// dtypeNet is a small model ending in the ILQR layer, in one dtype: noisy
// observations of the starts → (LSTM →) MLP → θ = softplus(·) per example,
// a learned goal-form cost (sigmoid weights), the plan from x0, and the
// loss L = Σ wx⊙X + Σ wu⊙U.
type dtypeNet struct {
	g             *G.ExprGraph
	layers        []Layer
	learn         G.Nodes
	pl            *ILQR
	x, u, loss    *G.Node
	lossVal, uVal G.Value
}

const (
	dtB   = 3 // batch
	dtT   = 10
	dtSeq = 3 // observation steps of the LSTM
)

// newDtypeNet builds the net in dtype dt; lstm puts a 1-layer LSTM (hidden
// 4) before an MLP 4-5-3; without it the MLP 3-5-3 reads the last
// observation. Every input value is float32-representable, so that the two
// dtypes see the same inputs.
func newDtypeNet(t testing.TB, dt tensor.Dtype, lstm bool) *dtypeNet {
	return buildDtypeNet(t, dt, lstm, true)
}

// buildDtypeNet is newDtypeNet; readU also registers a read of U (which a
// LispMachine, wanting every unconsumed node scalar, does not take).
func buildDtypeNet(t testing.TB, dt tensor.Dtype, lstm, readU bool) *dtypeNet {
	t.Helper()
	m := must(t)
	g := G.NewGraph()
	n := &dtypeNet{g: g}
	x0v := round32(pendulumStarts(21, dtB))
	noise := normals(22, dtSeq*dtB*3)
	obs := make([]*G.Node, dtSeq)
	for s := range obs {
		if !lstm && s < dtSeq-1 {
			continue // the MLP reads the last only (unused inputs would be roots)
		}
		v := make([]float64, dtB*3)
		for j := range v {
			v[j] = x0v[j] + 0.1*noise[s*dtB*3+j]
		}
		obs[s] = inputAs(t, g, dt, fmt.Sprintf("obs%d", s), round32(v), dtB, 3)
	}
	feat, width := obs[dtSeq-1], 3
	if lstm {
		l, err := NewLSTM(g, LSTMConfig{Input: 3, Hidden: 4, Seed: 5, Dtype: dt})
		if err != nil {
			t.Fatal(err)
		}
		hs, err := l.Forward(obs)
		if err != nil {
			t.Fatal(err)
		}
		feat, width = hs[dtSeq-1], 4
		n.layers = append(n.layers, l)
	}
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{width, 5, 3}, Seed: 6, OutputBias: nominalRaw(t), Dtype: dt})
	if err != nil {
		t.Fatal(err)
	}
	z := m(mlp.Forward(feat))
	// The goal form of gradCost (see TestGradILQRLearned).
	wg := []float64{math.Sqrt(0.5), math.Sqrt(0.5), math.Sqrt(0.05), math.Sqrt(0.25), 1, 0, 0, 0}
	n.pl = newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: dtT, Batch: dtB, Dtype: dt,
		Theta:    ParamSpec{Source: External, Transform: Softplus, Node: z},
		Cost:     ParamSpec{Source: Learned, Transform: Sigmoid, Init: wg},
		CostForm: GoalWeights, Solver: op.SolverConfig{Settings: &gradTight},
	})
	n.layers = append(n.layers, mlp, n.pl)
	for _, l := range n.layers {
		n.learn = append(n.learn, l.Learnables()...)
	}
	n.x, n.u = plan(t, n.pl, inputAs(t, g, dt, "x0", x0v, dtB, 3))
	if n.x.Dtype() != dt || n.u.Dtype() != dt {
		t.Fatalf("plan is X %v, U %v; want %v", n.x.Dtype(), n.u.Dtype(), dt)
	}
	wx := inputAs(t, g, dt, "loss.wx", round32(normals(23, n.x.Shape().TotalSize())), n.x.Shape()...)
	wu := inputAs(t, g, dt, "loss.wu", round32(normals(24, n.u.Shape().TotalSize())), n.u.Shape()...)
	n.loss = m(G.Add(m(G.Sum(m(G.HadamardProd(n.x, wx)))), m(G.Sum(m(G.HadamardProd(n.u, wu))))))
	G.Read(n.loss, &n.lossVal)
	if readU {
		G.Read(n.u, &n.uVal)
	}
	return n
}

// gradients runs the net once on a TapeMachine and returns the loss and
// the gradients of its learnables.
func (n *dtypeNet) gradients(t *testing.T) (float64, [][]float64) {
	t.Helper()
	if _, err := G.Grad(n.loss, n.learn...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(n.g, G.BindDualValues(n.learn...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(op.Cause(err))
	}
	for i, s := range n.pl.Stats().Status {
		if s != ilqr.Converged {
			t.Fatalf("example %d: %v", i, s)
		}
	}
	checkOffBounds(t, valuesOf(t, n.uVal), 0.05)
	return valuesOf(t, n.lossVal)[0], gradsOf(t, n.learn)
}

// TestFloat32GradientsMatchFloat64 builds MLP → planner and
// LSTM → MLP → planner in Float32 and in Float64 with the same parameters
// (the float32 ones), inputs and loss weights, and compares the gradients
// of every learnable (the LSTM's and MLP's weights and the planner's
// learned cost): they must agree to 1e-5 in fdtest.RelErr.
//
// The tolerance: float32 carries 24 bits, a relative rounding error of
// u = 2⁻²⁴ ≈ 6e-8 per operation. The float32 forward pass (a few dozen
// roundings along each path through the LSTM, the MLP, softplus and the
// goal-to-quadratic map) gives θ and φ relative errors of ~1e-7; the
// planner's solution and gradient, computed in float64 from those, move
// by that times their sensitivity (order 1 to 10 here); the float32
// backward pass adds its own few dozen roundings, and sums of up to B·T·K
// terms in the loss. That predicts ~1e-6; 1e-5 leaves a factor 10 of
// margin, while a wrong gradient (a dropped cast, a gradient of the wrong
// input) is off by O(1).
func TestFloat32GradientsMatchFloat64(t *testing.T) {
	for _, lstm := range []bool{false, true} {
		name := "MLP→planner"
		if lstm {
			name = "LSTM→MLP→planner"
		}
		t.Run(name, func(t *testing.T) {
			n32 := newDtypeNet(t, tensor.Float32, lstm)
			n64 := newDtypeNet(t, tensor.Float64, lstm)
			for i := range n32.layers {
				copyParams(t, n64.layers[i], n32.layers[i])
			}
			for _, n := range n32.learn {
				if n.Dtype() != tensor.Float32 {
					t.Fatalf("%s is %v", n.Name(), n.Dtype())
				}
			}
			l32, g32 := n32.gradients(t)
			l64, g64 := n64.gradients(t)
			if e := math.Abs(l32-l64) / math.Abs(l64); !(e <= 1e-5) {
				t.Errorf("loss: float32 %.9g, float64 %.9g (relative %.2g)", l32, l64, e)
			}
			worst := 0.0
			for i, n := range n64.learn {
				e, at := fdtest.RelErr(g32[i], g64[i])
				worst = math.Max(worst, e)
				if !(e <= 1e-5) {
					t.Errorf("dL/d%s[%d]: float32 %.9g, float64 %.9g: relative error %.2g > 1e-5", n.Name(), at, g32[i][at], g64[i][at], e)
				}
			}
			t.Logf("%s: loss %.9g (float32) vs %.9g (float64); largest relative gradient error %.2g over %d weights",
				name, l32, l64, worst, countValues(n64.learn))

			// The float32 graph on a LispMachine (DoDiff of the casts and
			// the planner) gives the TapeMachine's gradients.
			nl := buildDtypeNet(t, tensor.Float32, lstm, false)
			for i := range nl.layers {
				copyParams(t, nl.layers[i], n32.layers[i])
			}
			vm := G.NewLispMachine(nl.g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(op.Cause(err))
			}
			gl := gradsOf(t, nl.learn)
			for i, n := range nl.learn {
				if e, at := fdtest.RelErr(gl[i], g32[i]); !(e <= 1e-5) {
					t.Errorf("LispMachine dL/d%s[%d] = %.9g, TapeMachine %.9g (relative %.2g)", n.Name(), at, gl[i][at], g32[i][at], e)
				}
			}
		})
	}
}

// TestConvFloat32MatchesFloat64: a ConvEncoder (two stages, pooling, ReLU)
// in Float32 and in Float64 with the same parameters and images; outputs
// and the gradients of L = Σ w⊙out agree to 1e-5 (as above: float32
// roundings over the 9- and 18-term convolution sums and the head, with no
// planner in between, predict a few 1e-7).
func TestConvFloat32MatchesFloat64(t *testing.T) {
	cfg := ConvConfig{Channels: 1, Height: 8, Width: 8, Convs: []ConvSpec{{Filters: 2, Kernel: 3, Pool: 2}, {Filters: 3, Kernel: 3}},
		Head: []int{5, 2}, Activation: ReLU, Seed: 9}
	img := round32(normals(41, 2*64))
	wv := round32(normals(42, 4))
	type result struct {
		out   []float64
		grads [][]float64
	}
	var encs [2]*ConvEncoder
	var res [2]result
	for i, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		m := must(t)
		g := G.NewGraph()
		c := cfg
		c.Dtype = dt
		e, err := NewConvEncoder(g, c)
		if err != nil {
			t.Fatal(err)
		}
		encs[i] = e
		if i == 1 {
			copyParams(t, e, encs[0])
		}
		out := m(e.Forward(inputAs(t, g, dt, "img", img, 2, 1, 8, 8)))
		if out.Dtype() != dt {
			t.Fatalf("output is %v, want %v", out.Dtype(), dt)
		}
		loss := m(G.Sum(m(G.HadamardProd(out, inputAs(t, g, dt, "w", wv, 2, 2)))))
		var ov G.Value
		G.Read(out, &ov)
		if _, err := G.Grad(loss, e.Learnables()...); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g, G.BindDualValues(e.Learnables()...))
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		res[i] = result{valuesOf(t, ov), gradsOf(t, e.Learnables())}
		vm.Close()
	}
	if e, at := fdtest.RelErr(res[0].out, res[1].out); !(e <= 1e-5) {
		t.Errorf("output[%d]: float32 %g, float64 %g (relative %.2g)", at, res[0].out[at], res[1].out[at], e)
	}
	worst := 0.0
	for i, p := range encs[1].Params() {
		e, at := fdtest.RelErr(res[0].grads[i], res[1].grads[i])
		worst = math.Max(worst, e)
		if !(e <= 1e-5) {
			t.Errorf("dL/d%s[%d]: float32 %g, float64 %g (relative %.2g)", p.Name, at, res[0].grads[i][at], res[1].grads[i][at], e)
		}
	}
	t.Logf("conv: largest relative gradient error %.2g", worst)
}

// TestFloat32Layers checks that Float32 layers make every node in float32,
// with the float64 initial values rounded (same seed), refuse inputs of
// the other dtype and unknown dtypes, and that the planner's Policy is
// float32 too.
func TestFloat32Layers(t *testing.T) {
	g := G.NewGraph()
	build := func(dt tensor.Dtype, suffix string) []Layer {
		mlp, err := NewMLP(g, MLPConfig{Sizes: []int{3, 4, 2}, Seed: 1, Dtype: dt, Name: "mlp" + suffix})
		if err != nil {
			t.Fatal(err)
		}
		lstm, err := NewLSTM(g, LSTMConfig{Input: 3, Hidden: 2, Seed: 1, Dtype: dt, Name: "lstm" + suffix})
		if err != nil {
			t.Fatal(err)
		}
		conv, err := NewConvEncoder(g, ConvConfig{Channels: 1, Height: 4, Width: 4, Convs: []ConvSpec{{Filters: 2, Kernel: 3}},
			Head: []int{2}, Seed: 1, Dtype: dt, Name: "conv" + suffix})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := NewILQR(g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2, Dtype: dt, Name: "ilqr" + suffix,
			Theta: ParamSpec{Source: Learned, Transform: Softplus}})
		if err != nil {
			t.Fatal(err)
		}
		return []Layer{mlp, lstm, conv, pl}
	}
	l32, l64 := build(tensor.Float32, "32"), build(tensor.Dtype{}, "64")
	for i, l := range l32 {
		if d := l.(interface{ Dtype() tensor.Dtype }).Dtype(); d != tensor.Float32 {
			t.Errorf("%s: Dtype %v", l.Kind(), d)
		}
		if d := l64[i].(interface{ Dtype() tensor.Dtype }).Dtype(); d != tensor.Float64 {
			t.Errorf("%s: default Dtype %v, want float64", l.Kind(), d)
		}
		p64 := l64[i].Params()
		for j, p := range l.Params() {
			if p.Node.Dtype() != tensor.Float32 {
				t.Errorf("%s %s is %v", l.Kind(), p.Name, p.Node.Dtype())
			}
			v32, _ := nodeData(p)
			v64, _ := nodeData(p64[j])
			if !slices.Equal(v32, round32(v64)) {
				t.Errorf("%s %s: float32 initial values are not the float64 ones rounded", l.Kind(), p.Name)
			}
		}
	}
	// The planner's fixed cost node is float32 too, and so are its outputs.
	pl := l32[3].(*ILQR)
	if pl.Phi().Dtype() != tensor.Float32 || pl.Theta().Dtype() != tensor.Float32 {
		t.Errorf("planner θ %v, φ %v", pl.Theta().Dtype(), pl.Phi().Dtype())
	}
	x32 := inputAs(t, g, tensor.Float32, "x0_32", pendulumStarts(1, 2), 2, 3)
	u0, err := pl.Policy(x32)
	if err != nil {
		t.Fatal(err)
	}
	if u0.Dtype() != tensor.Float32 || !slices.Equal(u0.Shape(), tensor.Shape{2, 1}) {
		t.Errorf("Policy gives %v %v, want float32 (2, 1)", u0.Dtype(), u0.Shape())
	}
	th, err := pl.ThetaValue()
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := fdtest.RelErr(th, models.NewPendulum().DefaultParams()); !(e <= 1e-6) {
		t.Errorf("ThetaValue of the float32 layer %v, want ≈ the nominal θ (relative %.2g)", th, e)
	}

	// Inputs of the other dtype are refused with ErrConfig.
	x64 := inputAs(t, g, tensor.Float64, "x64", make([]float64, 6), 2, 3)
	img64 := inputAs(t, g, tensor.Float64, "img64", make([]float64, 32), 2, 1, 4, 4)
	for name, f := range map[string]func() error{
		"mlp":    func() error { _, err := l32[0].(*MLP).Forward(x64); return err },
		"lstm":   func() error { _, err := l32[1].(*LSTM).Forward([]*G.Node{x64}); return err },
		"conv":   func() error { _, err := l32[2].(*ConvEncoder).Forward(img64); return err },
		"policy": func() error { _, err := pl.Policy(x64); return err },
	} {
		if err := f(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s with a float64 input: %v, want ErrConfig", name, err)
		}
	}
	ext := inputAs(t, g, tensor.Float64, "ext64", make([]float64, 3), 3)
	if _, err := NewILQR(g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2, Dtype: tensor.Float32, Name: "ext",
		Theta: ParamSpec{Source: External, Node: ext}}); !errors.Is(err, ErrConfig) {
		t.Errorf("float64 external node into a float32 planner: %v, want ErrConfig", err)
	}
	for name, f := range map[string]func() error{
		"mlp": func() error {
			_, err := NewMLP(g, MLPConfig{Sizes: []int{1, 1}, Dtype: tensor.Int, Name: "bad1"})
			return err
		},
		"lstm": func() error {
			_, err := NewLSTM(g, LSTMConfig{Input: 1, Hidden: 1, Dtype: tensor.Int, Name: "bad2"})
			return err
		},
		"conv": func() error {
			_, err := NewConvEncoder(g, ConvConfig{Channels: 1, Height: 2, Width: 2, Convs: []ConvSpec{{Filters: 1, Kernel: 1}},
				Head: []int{1}, Dtype: tensor.Complex64, Name: "bad3"})
			return err
		},
		"ilqr": func() error {
			_, err := NewILQR(g, models.PendulumTask(), ILQRConfig{T: 2, Batch: 1, Dtype: tensor.Int, Name: "bad4"})
			return err
		},
		"unrolled float32": func() error {
			_, err := NewILQR(g, models.PendulumTask(), ILQRConfig{T: 2, Batch: 1, Dtype: tensor.Float32, Name: "bad5",
				Unrolled: &UnrolledSpec{Iters: 1}})
			return err
		},
	} {
		if err := f(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// TestTransformFloat32 checks applyAs and inverseAs against Gorgonia's
// float32 ops: the value of a Float32 graph's softplus and sigmoid nodes
// equals applyAs, and inverseAs round-trips through them.
func TestTransformFloat32(t *testing.T) {
	raw := []float64{-120, -90, -20, -1, 0, 0.5, 3, 14.5, 15.5, 40}
	for _, tr := range []Transform{Softplus, Sigmoid} {
		g := G.NewGraph()
		x := inputAs(t, g, tensor.Float32, "r", raw, len(raw))
		y, err := tr.node(x)
		if err != nil {
			t.Fatal(err)
		}
		var yv G.Value
		G.Read(y, &yv)
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		got := valuesOf(t, yv)
		for i, r := range raw {
			if want := tr.applyAs(tensor.Float32, r); got[i] != want {
				t.Errorf("%v(%g): graph %g, applyAs %g", tr, r, got[i], want)
			}
		}
	}
	for _, c := range []struct {
		tr Transform
		v  float64
		ok bool
	}{{Softplus, 2, true}, {Softplus, 15, true}, {Softplus, 1e-50, false}, {Softplus, 1e-37, true},
		{Softplus, 1e-40, false}, // raw −92: a value, but float32's sigmoid (the gradient) is 0 there
		{Softplus, 1e39, false}, {Sigmoid, 0.3, true}, {Sigmoid, 1 - 1e-7, false}, {Sigmoid, 1e-40, false}} {
		r, err := c.tr.inverseAs(tensor.Float32, c.v)
		if (err == nil) != c.ok {
			t.Errorf("inverseAs(%v, %g): error %v, want ok=%t", c.tr, c.v, err, c.ok)
			continue
		}
		if err == nil {
			if back := c.tr.applyAs(tensor.Float32, r); math.Abs(back-c.v) > 1e-6*c.v {
				t.Errorf("%v(inverseAs(%g)) = %g", c.tr, c.v, back)
			}
		}
	}
}

// TestSaveLoadFloat32 saves Float32 layers and loads them back bit for
// bit, into Float64 layers (exactly: float32 values are float64 values)
// and back again; a file written by Float64 layers loads into Float32
// layers rounded to nearest, and one holding a value beyond float32's
// range is refused with the layers unchanged.
func TestSaveLoadFloat32(t *testing.T) {
	dir := t.TempDir()
	build := func(dt tensor.Dtype, seed uint64) []Layer {
		g := G.NewGraph()
		mlp, err := NewMLP(g, MLPConfig{Sizes: []int{3, 4, 2}, Seed: seed, Dtype: dt})
		if err != nil {
			t.Fatal(err)
		}
		lstm, err := NewLSTM(g, LSTMConfig{Input: 2, Hidden: 3, Seed: seed, Dtype: dt})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := NewILQR(g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2, Dtype: dt,
			Theta: ParamSpec{Source: Learned, Transform: Softplus, Init: []float64{9 + float64(seed), 1, 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return []Layer{mlp, lstm, pl}
	}
	values := func(ls []Layer) []float64 {
		var out []float64
		for _, l := range ls {
			for _, p := range l.Params() {
				v, err := nodeData(p)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v...)
			}
		}
		return out
	}
	a := build(tensor.Float32, 1)
	p32 := filepath.Join(dir, "f32.params")
	if err := SaveLayers(p32, a...); err != nil {
		t.Fatal(err)
	}
	b := build(tensor.Float32, 2)
	if slices.Equal(values(a), values(b)) {
		t.Fatal("seeds 1 and 2 gave the same parameters")
	}
	if err := LoadLayers(p32, b...); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(b), values(a)) {
		t.Error("float32 → file → float32 changed the parameters")
	}
	c := build(tensor.Float64, 3)
	if err := LoadLayers(p32, c...); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(c), values(a)) {
		t.Error("a float32 file loaded into float64 layers differs")
	}

	// A float64 file (the format as before) into float32 layers: rounded.
	d := build(tensor.Float64, 4)
	p64 := filepath.Join(dir, "f64.params")
	if err := SaveLayers(p64, d...); err != nil {
		t.Fatal(err)
	}
	if err := LoadLayers(p64, b...); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(b), round32(values(d))) {
		t.Error("a float64 file loaded into float32 layers is not rounded to nearest")
	}
	if slices.Equal(values(d), round32(values(d))) {
		t.Error("the float64 parameters are all float32 values: the rounding is not tested")
	}

	// Beyond float32's range: refused, nothing changed.
	big := d[0].Params()[0]
	bv, _ := nodeData(big)
	bv[0] = 1e39 // float64 layer: nodeData aliases the tensor
	if err := SaveLayers(p64, d...); err != nil {
		t.Fatal(err)
	}
	before := values(b)
	if err := LoadLayers(p64, b...); !errors.Is(err, ErrMismatch) {
		t.Errorf("1e39 into a float32 layer: %v, want ErrMismatch", err)
	}
	if !slices.Equal(values(b), before) {
		t.Error("a refused load changed the layers")
	}
	if err := LoadLayers(p64, c...); err != nil {
		t.Errorf("1e39 into a float64 layer: %v", err)
	}
}

// TestFloat32TrainsWithAdam trains a Float32 LSTM → MLP → planner graph
// with Gorgonia's Adam: an LSTM (hidden 8) reads 3 noisy observations of
// each pendulum start, an MLP 8-8-3 maps its last state to θ =
// softplus(·), whose output bias starts at the wrong guess θ = (6, 1.6,
// 0.7); the loss is the mean squared difference between the planner's
// controls and the expert's (the true θ = (10, 1, 1)). 40 steps at
// learning rate 0.05 must bring the loss below 1/50 of its start (observed:
// 5.5e-3 → 1.4e-5, about 380×; Adam at a fixed rate then wanders around the
// optimum, so the fall is not monotone near the end), with every loss
// finite and every parameter still float32.
func TestFloat32TrainsWithAdam(t *testing.T) {
	const b, steps = 6, 40
	m := must(t)
	g := G.NewGraph()
	dt := tensor.Float32
	x0v := round32(pendulumStarts(51, b))
	phi := gradCost()
	noise := normals(52, dtSeq*b*3)
	obs := make([]*G.Node, dtSeq)
	for s := range obs {
		v := make([]float64, b*3)
		for j := range v {
			v[j] = x0v[j] + 0.05*noise[s*b*3+j]
		}
		obs[s] = inputAs(t, g, dt, fmt.Sprintf("obs%d", s), v, b, 3)
	}
	lstm, err := NewLSTM(g, LSTMConfig{Input: 3, Hidden: 8, Seed: 53, Dtype: dt})
	if err != nil {
		t.Fatal(err)
	}
	bias, err := Softplus.Inverse([]float64{6, 1.6, 0.7})
	if err != nil {
		t.Fatal(err)
	}
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{8, 8, 3}, Seed: 54, OutputBias: bias, Dtype: dt})
	if err != nil {
		t.Fatal(err)
	}
	hs := m1(t)(lstm.Forward(obs))
	z := m(mlp.Forward(hs[dtSeq-1]))
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: trainT, Batch: b, Dtype: dt,
		Theta: ParamSpec{Source: External, Transform: Softplus, Node: z},
		Cost:  ParamSpec{Init: phi}, Solver: op.SolverConfig{Settings: &gradTight}})
	_, u := plan(t, pl, inputAs(t, g, dt, "x0", x0v, b, 3))
	ustar := inputAs(t, g, dt, "expert", expertControls(t, x0v, phi), b, trainT, 1)
	loss := m(G.Mean(m(G.Square(m(G.Sub(u, ustar))))))
	if loss.Dtype() != dt {
		t.Fatalf("loss is %v", loss.Dtype())
	}
	learn := append(lstm.Learnables(), mlp.Learnables()...)
	curve := adamCurve(t, g, loss, learn, 0.05, steps, nil)
	for _, n := range learn {
		if v := n.Value(); v.Dtype() != dt {
			t.Fatalf("%s holds %v after training", n.Name(), v.Dtype())
		}
	}
	t.Logf("loss every 5 steps: %.3g", everyNth(curve, 5))
	if first, last := curve[0], curve[steps]; !(last < first/50) {
		t.Errorf("loss %.4g → %.4g in %d Adam steps: want a fall below 1/50", first, last, steps)
	}
}

// m1 is must for functions returning a slice of nodes.
func m1(t testing.TB) func([]*G.Node, error) []*G.Node {
	return func(ns []*G.Node, err error) []*G.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
}

func everyNth(v []float64, n int) []float64 {
	var out []float64
	for i := 0; i < len(v); i += n {
		out = append(out, v[i])
	}
	return out
}
