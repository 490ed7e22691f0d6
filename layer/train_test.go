package layer

// Training through the ILQR layer with Gorgonia's own solvers.

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
)

// imitation is a graph that learns θ of the pendulum from expert controls:
// L = mean over (B, T) of (U − U*)², U the layer's plan from fixed starts,
// U* the plan of the solver with the true θ = (10, 1, 1).
type imitation struct {
	*graphRun
	pl *ILQR
}

const (
	trainB = 8
	trainT = 10
)

// expertControls solves the batch with the true θ and the cost phi.
func expertControls(t testing.TB, x0, phi []float64) []float64 {
	t.Helper()
	task := models.PendulumTask()
	res, err := ilqr.Solve(ilqr.Problem{Task: task, T: trainT},
		ilqr.Inputs{X0: x0, Theta: task.Dynamics.DefaultParams(), Phi: phi}, &gradTight)
	if err != nil {
		t.Fatal(err)
	}
	if !res.AllConverged() {
		t.Fatalf("expert: %v", res.Status)
	}
	return res.U
}

// newImitation builds the imitation graph with θ learned from the wrong
// initial guess theta0 through softplus.
func newImitation(t testing.TB, theta0 []float64, settings *ilqr.Settings) *imitation {
	t.Helper()
	m := must(t)
	g := G.NewGraph()
	phi := gradCost()
	x0v := pendulumStarts(7, trainB)
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: trainT, Batch: trainB,
		Theta: ParamSpec{Source: Learned, Transform: Softplus, Init: theta0},
		Cost:  ParamSpec{Init: phi}, Solver: op.SolverConfig{Settings: settings},
	})
	_, u := plan(t, pl, input(t, g, "x0", x0v, trainB, 3))
	ustar := input(t, g, "expert", expertControls(t, x0v, phi), trainB, trainT, 1)
	loss := m(G.Mean(m(G.Square(m(G.Sub(u, ustar))))))
	return &imitation{graphRun: newTapeRun(t, g, loss, pl.Learnables(), pl), pl: pl}
}

// step runs forward and backward and applies one solver step; it returns
// the loss before the step.
func (im *imitation) step(t testing.TB, s G.Solver) float64 {
	t.Helper()
	loss := im.run(t, false)
	if err := s.Step(G.NodesToValueGrads(im.learn)); err != nil {
		t.Fatal(err)
	}
	return loss
}

// TestTrainThetaAdam is the paper's system-identification experiment in
// small: θ starts from the wrong guess (6, 1.6, 0.7) and Adam (learning
// rate 0.05) fits the plans to the expert's. The loss must fall by at least
// 1000× in 400 steps (observed 4.8e4×), and the identifiable combinations
// 3g/2l and 3/ml² must come within 2% of the truth.
//
// The learning rate is checked to have taken effect (Gorgonia's With*
// options are silently ignored by solvers they don't list): Adam's first
// step moves every raw entry by η·g/(|g| + ε), about the learning rate,
// since m̂₁ = g and √v̂₁ = |g|.
func TestTrainThetaAdam(t *testing.T) {
	const eta, steps = 0.05, 400
	im := newImitation(t, []float64{6, 1.6, 0.7}, &gradTight)
	before, err := nodeData(Param{Name: "theta_raw", Node: im.learn[0]})
	if err != nil {
		t.Fatal(err)
	}
	before = append([]float64(nil), before...)
	first, gs := im.grads(t)
	adam := G.NewAdamSolver(G.WithLearnRate(eta))
	if err := adam.Step(G.NodesToValueGrads(im.learn)); err != nil {
		t.Fatal(err)
	}
	after, _ := nodeData(Param{Name: "theta_raw", Node: im.learn[0]})
	for j, g := range gs[0] {
		want := eta * g / (math.Abs(g) + 1e-8) // ε = 1e-8, Adam's default
		if d := before[j] - after[j]; math.Abs(d-want) > 1e-9*eta {
			t.Fatalf("first Adam step moved theta_raw[%d] by %g, want %g (learning rate %g): the option did not take effect", j, d, want, eta)
		}
	}
	for i := 1; i < steps; i++ {
		im.step(t, adam)
	}
	final := im.run(t, true)
	theta, err := im.pl.ThetaValue()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.3e → %.3e after %d Adam steps (factor %.3g); θ = %.4g (true (10, 1, 1); only 3g/2l and 3/ml² are identifiable)",
		first, final, steps, first/final, theta)
	if !(final*1000 <= first) {
		t.Errorf("loss fell by %.3g×, want ≥ 1000×", first/final)
	}
	// The identifiable combinations must be recovered.
	a, b := 3*theta[0]/(2*theta[2]), 3/(theta[1]*theta[2]*theta[2])
	if math.Abs(a-15) > 0.3 || math.Abs(b-3) > 0.06 {
		t.Errorf("3g/2l = %g (want 15), 3/ml² = %g (want 3)", a, b)
	}
}

// TestTrainRMSProp checks that RMSProp's learning rate takes effect too
// (its first step moves an entry by η·g/√((1−ρ)g² + ε)) and that training
// with it lowers the loss.
func TestTrainRMSProp(t *testing.T) {
	const eta, rho, steps = 0.01, 0.9, 40
	im := newImitation(t, []float64{6, 1.6, 0.7}, &gradTight)
	before, _ := nodeData(Param{Node: im.learn[0]})
	before = append([]float64(nil), before...)
	first, gs := im.grads(t)
	rms := G.NewRMSPropSolver(G.WithLearnRate(eta), G.WithRho(rho))
	if err := rms.Step(G.NodesToValueGrads(im.learn)); err != nil {
		t.Fatal(err)
	}
	after, _ := nodeData(Param{Node: im.learn[0]})
	for j, g := range gs[0] {
		want := eta * g / math.Sqrt((1-rho)*g*g+1e-8)
		if d := before[j] - after[j]; math.Abs(d-want) > 1e-9*math.Abs(want) {
			t.Fatalf("first RMSProp step moved theta_raw[%d] by %g, want %g: the options did not take effect", j, d, want)
		}
	}
	for i := 1; i < steps; i++ {
		im.step(t, rms)
	}
	final := im.run(t, true)
	t.Logf("RMSProp: loss %.3e → %.3e after %d steps", first, final, steps)
	if !(final*10 <= first) {
		t.Errorf("loss fell by %.3g×, want ≥ 10×", first/final)
	}
}

// rssBytes returns the resident set size from /proc/self/statm, or 0 where
// it is unavailable.
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// TestTrainMemoryFlat trains a small composite model (MLP → θ → ILQR,
// imitation loss, Adam) for 3000 steps on one TapeMachine and compares the
// memory at step 500 and step 3000, after a GC: the heap in use may grow by
// at most 1 MiB and the RSS by at most 8 MiB (a leak of one solver result
// or one graph value per step would exceed both many times over).
func TestTrainMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("3000 training steps")
	}
	const b, horizon = 4, 10
	m := must(t)
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{4, 8, 3}, Seed: 9, OutputBias: nominalRaw(t)})
	if err != nil {
		t.Fatal(err)
	}
	x0v := pendulumStarts(9, b)
	phi := gradCost()
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: horizon, Batch: b,
		Theta: ParamSpec{Source: External, Transform: Softplus, Node: m(mlp.Forward(input(t, g, "features", normals(9, b*4), b, 4)))},
		Cost:  ParamSpec{Init: phi},
	})
	_, u := plan(t, pl, input(t, g, "x0", x0v, b, 3))
	task := models.PendulumTask()
	res, err := ilqr.Solve(ilqr.Problem{Task: task, T: horizon},
		ilqr.Inputs{X0: x0v, Theta: task.Dynamics.DefaultParams(), Phi: phi}, nil)
	if err != nil {
		t.Fatal(err)
	}
	loss := m(G.Mean(m(G.Square(m(G.Sub(u, input(t, g, "expert", res.U, b, horizon, 1)))))))
	r := newTapeRun(t, g, loss, mlp.Learnables(), pl)
	adam := G.NewAdamSolver(G.WithLearnRate(0.01))
	measure := func() (heap, rss uint64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, rssBytes()
	}
	var heap500, rss500, first, last float64
	for i := 1; i <= 3000; i++ {
		l := r.run(t, false)
		if err := adam.Step(G.NodesToValueGrads(r.learn)); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			first = l
		}
		last = l
		if i == 500 {
			h, s := measure()
			heap500, rss500 = float64(h), float64(s)
		}
	}
	h, s := measure()
	const mib = 1 << 20
	t.Logf("step 500: heap in use %.2f MiB, RSS %.2f MiB; step 3000: heap %.2f MiB, RSS %.2f MiB; loss %.3g → %.3g",
		heap500/mib, rss500/mib, float64(h)/mib, float64(s)/mib, first, last)
	if growth := float64(h) - heap500; growth > 1*mib {
		t.Errorf("heap in use grew by %.2f MiB between steps 500 and 3000", growth/mib)
	}
	if s != 0 && float64(s)-rss500 > 8*mib {
		t.Errorf("RSS grew by %.2f MiB between steps 500 and 3000", (float64(s)-rss500)/mib)
	}
}
