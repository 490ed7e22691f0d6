package main

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// tinyConfig is a configuration small enough for the tests: 10 training
// demonstrations, 2 epochs, hidden 8.
func tinyConfig(t *testing.T, methods ...string) *config {
	t.Helper()
	c, err := configFor(options{quick: true, seeds: "1", methods: strings.Join(methods, ","),
		epochs: 2, ntrain: 10, batch: 5, hid: 8, wx: 1, lrPlanner: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	c.nval, c.ntest, c.npairs, c.valEvery = 5, 5, 50, 1
	return c
}

// randomStates returns k states (cos θ, sin θ, ω), θ on the circle, |ω| ≤ 3,
// and k controls in (−2.5, 2.5) (some beyond the clamp).
func randomStates(k int, seed uint64) (x, u []float64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	for range k {
		a := math.Pi - 2*math.Pi*rng.Float64()
		x = append(x, math.Cos(a), math.Sin(a), 3-6*rng.Float64())
		u = append(u, 2.5-5*rng.Float64())
	}
	return x, u
}

// TestFrictionStep checks the true system: with b = c = 0 it is the
// pendulum bit for bit; the friction changes ω′ by −3 dt (b ω + c tanh(ω/ε))
// (m = l = 1) and nothing else before the angle; and the automatic Jacobian
// ∂f/∂x matches central differences (step 1e-6, agreement to 1e-7: the
// truncation error of h² times the third derivatives, whose size the steep
// tanh(ω/0.25) sets, plus round-off 1e-16/h).
func TestFrictionStep(t *testing.T) {
	x, u := randomStates(50, 1)
	pend := models.NewPendulum().NewEvaluator()
	sys, err := newTrueSystem()
	if err != nil {
		t.Fatal(err)
	}
	ev := sys.NewEvaluator()
	noFriction := []float64{10, 1, 1, 0, 0}
	a, b := make([]float64, n), make([]float64, n)
	fx := make([]float64, n*n)
	fu := make([]float64, n*m)
	for i := range 50 {
		xi, ui := x[i*n:(i+1)*n], u[i*m:(i+1)*m]
		pend.Step(a, xi, ui, []float64{10, 1, 1})
		ev.Step(b, xi, ui, noFriction)
		if !slices.Equal(a, b) {
			t.Fatalf("b = c = 0 at x %v u %v: %v, the pendulum %v", xi, ui, b, a)
		}
		ev.Step(b, xi, ui, trueParams)
		w := xi[2]
		want := a[2] - 3*models.PendulumDt*(trueParams[3]*w+trueParams[4]*math.Tanh(w/frictionEps))
		if math.Abs(b[2]-want) > 1e-12 {
			t.Errorf("ω′ = %v, want %v", b[2], want)
		}
		ev.Linearize(b, fx, fu, xi, ui, trueParams)
		const h = 1e-6
		for j := range n {
			xp, xm := slices.Clone(xi), slices.Clone(xi)
			xp[j] += h
			xm[j] -= h
			ev.Step(a, xp, ui, trueParams)
			ev.Step(b, xm, ui, trueParams)
			for k := range n {
				fd := (a[k] - b[k]) / (2 * h)
				if math.Abs(fd-fx[k*n+j]) > 1e-7*math.Max(1, math.Abs(fd)) {
					t.Errorf("∂f_%d/∂x_%d = %v, central difference %v", k, j, fx[k*n+j], fd)
				}
			}
		}
	}
}

// TestDemonstrations checks the expert's data: every kept solve stationary
// (the collection keeps no other), every state sequence the true system's
// rollout of its controls, the controls within the bounds, the starts
// within the reference ranges, and the same seed giving the same data.
func TestDemonstrations(t *testing.T) {
	task, err := trueTask()
	if err != nil {
		t.Fatal(err)
	}
	d, err := collect(task, 20, 12, rand.New(rand.NewPCG(5, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d.b != 12 || len(d.x) != 12*20*n || len(d.u) != 12*20*m {
		t.Fatalf("sizes: b %d, %d states, %d controls", d.b, len(d.x), len(d.u))
	}
	ev := task.Dynamics.NewEvaluator()
	next := make([]float64, n)
	for b := range d.b {
		x0 := d.x0[b*n : (b+1)*n]
		if a := math.Atan2(x0[1], x0[0]); math.Abs(a) > math.Pi/2+1e-12 || math.Abs(x0[2]) > 1 {
			t.Errorf("start %d: θ = %v, ω = %v outside the reference ranges", b, a, x0[2])
		}
		for k := range 19 {
			i := b*20 + k
			ev.Step(next, d.x[i*n:(i+1)*n], d.u[i*m:(i+1)*m], trueParams)
			for j := range n {
				if math.Abs(next[j]-d.x[(i+1)*n+j]) > 1e-12 {
					t.Fatalf("demonstration %d step %d: state %v, rollout %v", b, k, d.x[(i+1)*n:(i+2)*n], next)
				}
			}
		}
	}
	for _, v := range d.u {
		if v < -2 || v > 2 {
			t.Fatalf("control %v outside [−2, 2]", v)
		}
	}
	// The plans are the solver's, stationary to the expert's tolerance.
	res, err := ilqr.Solve(ilqr.Problem{Task: task, T: 20}, ilqr.Inputs{X0: d.x0, U0: d.u}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for b, s := range res.Status {
		if !s.Stationary() {
			t.Errorf("demonstration %d: warm-started solve %v", b, s)
		}
	}
	again, err := collect(task, 20, 12, rand.New(rand.NewPCG(5, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.u, d.u) || !slices.Equal(again.x0, d.x0) {
		t.Error("the same seed gave other demonstrations")
	}
}

// TestSysidGradient checks the gradient of the next-state loss with
// respect to the weights, which system identification takes from the
// model's reverse pass, against central differences (step 1e-6 on a loss
// of order 1e-3: agreement to 1e-6 relative to the largest entry).
func TestSysidGradient(t *testing.T) {
	c := tinyConfig(t, mHybridSysID)
	for _, kind := range []string{netHybrid, netMLP} {
		t.Run(kind, func(t *testing.T) {
			nt, err := newNet(kind, []int{6}, 3)
			if err != nil {
				t.Fatal(err)
			}
			task, err := trueTask()
			if err != nil {
				t.Fatal(err)
			}
			d, err := collect(task, 6, 3, rand.New(rand.NewPCG(2, 1)))
			if err != nil {
				t.Fatal(err)
			}
			s, err := newSysidLearner(nt, d, c)
			if err != nil {
				t.Fatal(err)
			}
			// Away from the initial weights: the hybrid's output layer
			// starts at zero, where the hidden layer's gradient vanishes.
			rng := rand.New(rand.NewPCG(4, 4))
			for j := range s.w {
				s.w[j] += 0.2 * rng.NormFloat64()
			}
			idx := seq(s.pairs.k)
			grad := make([]float64, len(s.w))
			s.predLoss(s.pairs, idx, grad)
			if fdtest.MaxAbs(grad) == 0 {
				t.Fatal("zero gradient: the case tests nothing")
			}
			fd := fdtest.Central(s.w, 1e-6, func() float64 { return s.predLoss(s.pairs, idx, nil) })
			if e, j := fdtest.RelErr(grad, fd); e > 1e-6 {
				t.Errorf("weight %d: gradient %v, central difference %v (error %.2g relative to the largest)", j, grad[j], fd[j], e)
			}
		})
	}
}

// TestPercentile checks the interpolated quantile on known data.
func TestPercentile(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		q    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{0, 10}, 0.9, 9},
		{[]float64{5}, 0.9, 5},
		{[]float64{4, 3, 2, 1, 0, 9, 8, 7, 6, 5}, 0.9, 8.1},
	} {
		if got := percentile(slices.Clone(c.v), c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.v, c.q, got, c.want)
		}
	}
}

// TestRunWritesFiles runs every method for two epochs on tiny data and
// checks the table, the CSV files and the plot; then reruns one method to
// check that the same seed gives the same numbers.
func TestRunWritesFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("trains every method (about 10 s)")
	}
	c := tinyConfig(t, allMethods...)
	dir := t.TempDir()
	o := options{md: filepath.Join(dir, "t.md"), csv: filepath.Join(dir, "r.csv"),
		curves: filepath.Join(dir, "c.csv"), png: filepath.Join(dir, "p.png")}
	var out bytes.Buffer
	if err := run(c, o, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(o.md)
	if err != nil {
		t.Fatal(err)
	}
	for _, meth := range allMethods {
		if !strings.Contains(string(md), "| "+meth+" |") {
			t.Errorf("table lacks %s:\n%s", meth, md)
		}
	}
	rows, err := os.ReadFile(o.csv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	if lines[0] != csvHeader || len(lines) != 1+len(allMethods) {
		t.Errorf("results CSV: %d lines, header %q", len(lines), lines[0])
	}
	curves, err := os.ReadFile(o.curves)
	if err != nil {
		t.Fatal(err)
	}
	// Epochs 0, 1, 2 of every method but nominal (epoch 0 only).
	if got, want := strings.Count(string(curves), "\n"), 1+3*(len(allMethods)-1)+1; got != want {
		t.Errorf("curves CSV: %d lines, want %d", got, want)
	}
	png, err := os.ReadFile(o.png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Error("the plot is not a PNG")
	}

	// Determinism.
	d, err := makeData(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	var first *outcome
	for range 2 {
		r, err := runOne(mHybridDiLQR, c, d, 1, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = r
			continue
		}
		if r.test != first.test || r.predDemo != first.predDemo || !slices.Equal(curveVals(r), curveVals(first)) {
			t.Errorf("rerun differs: test %v vs %v", r.test, first.test)
		}
	}
}

// curveVals returns the curve's finite values (epoch 0 has no training
// loss), for comparing runs.
func curveVals(o *outcome) []float64 {
	var v []float64
	for _, r := range o.curve {
		for _, x := range []float64{r.train, r.val} {
			if !math.IsNaN(x) {
				v = append(v, x)
			}
		}
	}
	return v
}

// TestConfigRejects checks that bad flags are refused.
func TestConfigRejects(t *testing.T) {
	for _, o := range []options{
		{methods: "nope", hid: 8, batch: 5, wx: 1},
		{methods: mNominal, seeds: "x", hid: 8, batch: 5, wx: 1},
		{methods: mNominal, hid: 0, batch: 5, wx: 1},
		{methods: mNominal, hid: 8, batch: 0, wx: 1},
		{methods: mNominal, hid: 8, batch: 500, wx: 1},
		{methods: mHybridDiLQRX, hid: 8, batch: 5, wx: 0},
	} {
		if _, err := configFor(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
