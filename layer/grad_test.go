package layer

// Gradients through composite models ending in the ILQR layer, against
// central finite differences of the whole graph's forward value (see
// helpers_test.go for the steps and the tolerance).

import (
	"math"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
)

const (
	gradB = 3  // batch of the gradient tests
	gradT = 10 // horizon of the gradient tests
)

// gradCost is the pendulum's default cost with a dearer control,
// q_u = 0.5 instead of 0.001, so that the plans from the tests' starts stay
// inside the ±2 bounds (checkOffBounds checks it).
func gradCost() []float64 {
	phi := models.PendulumTask().Cost.DefaultParams()
	phi[3] = 0.5
	return phi
}

// nominalRaw is the inverse softplus of the pendulum's nominal θ = (10, 1, 1):
// an output bias that makes an untrained network predict near it.
func nominalRaw(t testing.TB) []float64 {
	t.Helper()
	r, err := Softplus.Inverse(models.NewPendulum().DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mlpPlanner builds features (B, 4) → MLP 4-5-3 (tanh) → θ = softplus(·)
// per example → ILQR on the pendulum from fixed starts, and returns the
// network, the planner and its plan (X, U). The MLP's output bias starts at
// the inverse softplus of the nominal θ, so θ starts within a factor of
// about 2 of (10, 1, 1).
func mlpPlanner(t testing.TB, g *G.ExprGraph, seed uint64, mode ilqr.GradMode) (mlp *MLP, pl *ILQR, x, u *G.Node) {
	t.Helper()
	m := must(t)
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{4, 5, 3}, Seed: seed, OutputBias: nominalRaw(t)})
	if err != nil {
		t.Fatal(err)
	}
	feat := input(t, g, "features", normals(seed+10, gradB*4), gradB, 4)
	z := m(mlp.Forward(feat))
	pl = newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: gradT, Batch: gradB,
		Theta: ParamSpec{Source: External, Transform: Softplus, Node: z},
		Cost:  ParamSpec{Init: gradCost()}, Solver: op.SolverConfig{Settings: &gradTight, Grad: ilqr.GradOptions{Mode: mode}},
	})
	x, u = plan(t, pl, input(t, g, "x0", pendulumStarts(seed, gradB), gradB, 3))
	return mlp, pl, x, u
}

// TestGradMLPToILQR: the gradients of the loss with respect to every one of
// the MLP's 43 weights match finite differences to 1e-6 relative.
func TestGradMLPToILQR(t *testing.T) {
	g := G.NewGraph()
	mlp, pl, x, u := mlpPlanner(t, g, 1, ilqr.Implicit)
	worst := checkPlanFD(t, g, pl, x, u, mlp.Learnables(), 1, 0)
	t.Logf("MLP→ILQR: largest relative error against finite differences %.2e (43 weights)", worst)
}

// TestGradILQRLearned: the layer's own learnable blocks, θ through softplus
// and the cost in the paper's goal form (w, goal) with sigmoid weights,
// mapped onto the pendulum's quadratic cost, per example.
func TestGradILQRLearned(t *testing.T) {
	g := G.NewGraph()
	// Goal form of gradCost: w = √(q/2), goal = −p/q, so
	// w = (0.707, 0.707, 0.224, 0.5), goal = (1, 0, 0, 0). The sigmoid
	// needs w < 1; these are inside.
	q := gradCost()
	var wg []float64
	for j := 0; j < 4; j++ {
		wg = append(wg, math.Sqrt(q[j]/2))
	}
	wg = append(wg, 1, 0, 0, 0)
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: gradT, Batch: gradB,
		Theta:    ParamSpec{Source: Learned, Transform: Softplus, Init: []float64{9, 1.2, 0.9}},
		Cost:     ParamSpec{Source: Learned, Transform: Sigmoid, PerExample: true, Init: wg},
		CostForm: GoalWeights, Solver: op.SolverConfig{Settings: &gradTight},
	})
	x, u := plan(t, pl, input(t, g, "x0", pendulumStarts(2, gradB), gradB, 3))
	worst := checkPlanFD(t, g, pl, x, u, pl.Learnables(), 2, 0)
	t.Logf("ILQR learned θ (softplus) and goal cost (sigmoid): largest relative error %.2e", worst)
}

// TestGradLSTMToILQR: a 2-layer LSTM reads a sequence of 3 noisy
// observations of the pendulum state (B, 3) and its last hidden state goes
// through a linear head to θ = softplus(·) per example. Every LSTM and head
// weight is checked: 128 + 144 in the two LSTM layers, 15 in the head.
func TestGradLSTMToILQR(t *testing.T) {
	const seq, hidden = 3, 4
	g := G.NewGraph()
	m := must(t)
	lstm, err := NewLSTM(g, LSTMConfig{Input: 3, Hidden: hidden, Layers: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	head, err := NewMLP(g, MLPConfig{Sizes: []int{hidden, 3}, Seed: 3, OutputBias: nominalRaw(t), Name: "head"})
	if err != nil {
		t.Fatal(err)
	}
	x0v := pendulumStarts(3, gradB)
	obs := make([]*G.Node, seq)
	noise := normals(33, seq*gradB*3)
	for s := range obs {
		v := make([]float64, gradB*3)
		for j := range v {
			v[j] = x0v[j] + 0.1*noise[s*gradB*3+j]
		}
		obs[s] = input(t, g, "obs"+string(rune('0'+s)), v, gradB, 3)
	}
	hs, err := lstm.Forward(obs)
	if err != nil {
		t.Fatal(err)
	}
	z := m(head.Forward(hs[seq-1]))
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: gradT, Batch: gradB,
		Theta: ParamSpec{Source: External, Transform: Softplus, Node: z},
		Cost:  ParamSpec{Init: gradCost()}, Solver: op.SolverConfig{Settings: &gradTight},
	})
	x, u := plan(t, pl, input(t, g, "x0", x0v, gradB, 3))
	learn := append(lstm.Learnables(), head.Learnables()...)
	worst := checkPlanFD(t, g, pl, x, u, learn, 3, 0)
	t.Logf("LSTM→MLP→ILQR: largest relative error %.2e (%d weights)", worst, countValues(learn))
}

// TestGradConvToILQR: a ConvEncoder reads a 1×16×16 image per example and
// its two outputs (a, v) become the planner's initial state
// x0 = (cos 0.3a, sin 0.3a, 0.3v) (the 0.3 keeps the start near upright,
// where the controls stay inside the bounds). Every weight is checked.
func TestGradConvToILQR(t *testing.T) {
	const b = 2
	g := G.NewGraph()
	m := must(t)
	enc, err := NewConvEncoder(g, ConvConfig{
		Channels: 1, Height: 16, Width: 16,
		Convs: []ConvSpec{{Filters: 3, Kernel: 3, Pool: 2}, {Filters: 4, Kernel: 3, Pool: 2}},
		Head:  []int{6, 2}, Seed: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	img := input(t, g, "image", normals(44, b*16*16), b, 1, 16, 16)
	z := m(enc.Forward(img))
	x0 := pendulumState(t, g, z, 0.3)
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: gradT, Batch: b,
		Cost: ParamSpec{Init: gradCost()}, Solver: op.SolverConfig{Settings: &gradTight}})
	x, u := plan(t, pl, x0)
	worst := checkPlanFD(t, g, pl, x, u, enc.Learnables(), 4, convFDRel)
	t.Logf("Conv→ILQR: largest relative error %.2e (%d weights)", worst, countValues(enc.Learnables()))
}

// convFDRel replaces fdtest.Rel for the encoder's weights. Max pooling is not
// differentiable where two entries of a window tie, and the 2·16·16·3/4 +
// 2·8·8·4/4 = 448 windows of this encoder hold some pairs within 1e-3 of
// each other: with fdtest.Rel = 1e-3 the quotients of a few first-stage weights
// crossed such a switch (errors up to 7e-2, while the gradient matched
// quotients with steps of 1e-6 to 6e-8 on the encoder alone). Steps of 1e-5
// stay clear of the switches; the re-solved loss's round-off (~1e-13)
// divided by them stays far below fdtest.Tol.
const convFDRel = 1e-5

// pendulumState maps z (B, 2) to pendulum states (cos sa, sin sa, s·v) for
// (a, v) the columns of z.
func pendulumState(t testing.TB, g *G.ExprGraph, z *G.Node, s float64) *G.Node {
	t.Helper()
	m := must(t)
	b := z.Shape()[0]
	sv := make([]float64, b)
	for i := range sv {
		sv[i] = s
	}
	scale := input(t, g, "state.scale", sv, b, 1)
	col := func(j int) *G.Node {
		c := m(reshapeTo(m(G.Slice(z, nil, G.S(j, j+1))), b, 1))
		return m(G.HadamardProd(c, scale))
	}
	a, v := col(0), col(1)
	return m(G.Concat(1, m(G.Cos(a)), m(G.Sin(a)), v))
}

func countValues(ns G.Nodes) int {
	k := 0
	for _, n := range ns {
		k += n.Shape().TotalSize()
	}
	return k
}
