package main

import (
	"bytes"
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/train"
)

// trainedTiny trains both models of tinyConfig once per test binary.
var trainedTiny = func() func(t *testing.T) (config, *result) {
	var c config
	var res *result
	var err error
	return func(t *testing.T) (config, *result) {
		t.Helper()
		if res == nil && err == nil {
			c = tinyConfig()
			res, err = experiment(c, io.Discard, io.Discard)
		}
		if err != nil {
			t.Fatal(err)
		}
		return c, res
	}
}()

// testStates are pendulum states over the circle with various rates.
var testStates = [][]float64{{-3, 0.5}, {-1.2, -0.9}, {0.05, 0.1}, {2.4, 1}}

// stateOf returns the state (cos θ, sin θ, ω).
func stateOf(q []float64) []float64 { return []float64{math.Cos(q[0]), math.Sin(q[0]), q[1]} }

// TestPolicyMatchesGraph checks that the closed-loop policy of each
// trained model (a batch-1 graph with the trained weights) gives the first
// control that the model's evaluation graph (batch 4) computes for the same
// two frames: at step 0 the frames of makeSplit (the unforced past), and
// at step gap the frames of the states passed at steps 0 and gap.
func TestPolicyMatchesGraph(t *testing.T) {
	c, res := trainedTiny(t)
	env, err := envs.New("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	b := len(testStates)
	d := envs.Demos{B: b, T: c.t, N: 3, M: 1, X: make([]float64, b*c.t*3), U: make([]float64, b*c.t)}
	for _, q := range testStates {
		d.X0 = append(d.X0, stateOf(q)...)
	}
	start, err := makeSplit(env, &d, c.size, c.gap)
	if err != nil {
		t.Fatal(err)
	}
	// Frames of step gap: the state passed at step 0 and the current one,
	// a state each policy is given after an arbitrary intermediate step.
	later := make([]float64, len(start.images))
	current := make([][]float64, b)
	k := c.size * c.size
	for i, q := range testStates {
		current[i] = stateOf([]float64{q[0] + 0.3, -q[1]})
		if _, err := env.Render(later[2*k*i:2*k*i+k], stateOf(q), &envs.RenderOptions{Size: c.size}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Render(later[2*k*i+k:2*k*(i+1)], current[i], &envs.RenderOptions{Size: c.size}); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{planModel, mlpModel} {
		ref, err := buildNet(kind, b, &c, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := copyParams(ref, res.trained[kind]); err != nil {
			t.Fatal(err)
		}
		want := func(images []float64) []float64 {
			t.Helper()
			if err := ref.run(images, nil); err != nil {
				t.Fatal(err)
			}
			u, err := train.Float64s(ref.uVal)
			if err != nil {
				t.Fatal(err)
			}
			first := make([]float64, b)
			for i := range first {
				first[i] = u[i*c.t]
			}
			return first
		}
		want0, wantGap := want(start.images), want(later)
		pol, err := closedLoopPolicy(env, kind, &c, c.t, res.trained[kind])
		if err != nil {
			t.Fatal(err)
		}
		u := []float64{math.NaN()}
		for i, q := range testStates {
			x0 := stateOf(q)
			info, err := pol.Control(u, x0, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Batch 1 and batch 4 run the same arithmetic per example; the
			// planner's iterations stop on the same tests, so 1e-9 leaves
			// room only for a different summation order.
			if math.Abs(u[0]-want0[i]) > 1e-9 {
				t.Errorf("%s, state %v, step 0: policy %v, graph %v", kind, q, u[0], want0[i])
			}
			if info.Solved != (kind == planModel) || (info.Solved && (!info.Converged || info.Iterations < 1)) {
				t.Errorf("%s, step 0: step info %+v", kind, info)
			}
			for s := 1; s < c.gap; s++ { // intermediate states, out of the frames at step gap
				if _, err := pol.Control(u, stateOf([]float64{q[0] - 1, 0}), s); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pol.Control(u, current[i], c.gap); err != nil {
				t.Fatal(err)
			}
			if math.Abs(u[0]-wantGap[i]) > 1e-9 {
				t.Errorf("%s, state %v, step %d: policy %v, graph %v", kind, q, c.gap, u[0], wantGap[i])
			}
			if _, err := pol.Control(u, x0, c.gap+2); err == nil {
				t.Errorf("%s: a skipped step is accepted", kind)
			}
		}
		if _, err := pol.Control(make([]float64, 2), stateOf(testStates[0]), 0); err == nil {
			t.Errorf("%s: a control of length 2 is accepted", kind)
		}
	}
}

// TestHeavierPole checks that the heavier-pole wrapper moves the simulated
// pendulum exactly as the pendulum model with mass m = 1.5 under the
// commanded torque, and that heavyCosts charges that torque.
func TestHeavierPole(t *testing.T) {
	env, err := envs.New("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	// A torque beyond the bound: the wrapper clamps it to 2 first, like the
	// heavy pole's own step.
	const cmd, factor = 3.0, 1.5
	push := envs.PolicyFunc(func(u, _ []float64, _ int) (envs.StepInfo, error) {
		u[0] = cmd
		return envs.StepInfo{}, nil
	})
	x0 := stateOf([]float64{2, 0.5})
	starts := envs.SamplerFunc(func(dst []float64, _ *rand.Rand) { copy(dst, x0) })
	v := variant{split: "out", name: "heavy", starts: starts, steps: 30, mass: factor}
	ev, err := evalVariant(env, push, v, clConfig{episodes: 1, seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ep := ev.Episodes[0]
	pend := models.NewPendulum().NewEvaluator()
	theta := env.Params()
	theta[1] *= factor
	x, next := slices.Clone(x0), make([]float64, 3)
	cost := env.Task().Cost.NewEvaluator()
	phi := env.CostParams()
	floor := cost.Value([]float64{1, 0, 0}, []float64{0}, phi)
	var want float64
	for s := range v.steps {
		want += cost.Value(x, []float64{2}, phi) - floor
		pend.Step(next, x, []float64{cmd}, theta)
		copy(x, next)
		got := ep.X[3*(s+1) : 3*(s+2)]
		for i := range x {
			if math.Abs(got[i]-x[i]) > 1e-12 {
				t.Fatalf("step %d: simulated %v, heavy pendulum %v", s+1, got, x)
			}
		}
	}
	if math.Abs(ep.Cost-want) > 1e-9*math.Abs(want) || ev.MeanCost != ep.Cost {
		t.Errorf("cost %v (mean %v), want %v", ep.Cost, ev.MeanCost, want)
	}
}

// TestClosedLoopSmoke runs the closed-loop evaluation of two tiny trained
// models with two short episodes per variant and checks the rows, the
// files and the references.
func TestClosedLoopSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models and runs 160 closed-loop episodes")
	}
	c := tinyConfig()
	cc := clConfig{episodes: 2, steps: 10, seed: 7, heavy: 1.5, long: 2, horizons: []int{20}}
	res, err := closedLoop(c, []uint64{1}, cc, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	methods := clMethods(c.t, cc.horizons)
	names := []string{planModel, "ilqr-T20", mlpModel, stateMethod, "ilqr-state-T20"}
	for i, m := range methods {
		if m.name != names[i] {
			t.Fatalf("methods %v, want names %v", methods, names)
		}
	}
	// 2 references and 5 methods, once for the seed and once as its mean,
	// on 4 variants.
	if want := 4 * (2 + 2*len(methods)); len(res.rows) != want {
		t.Fatalf("%d rows, want %d", len(res.rows), want)
	}
	for _, r := range res.rows {
		if r.episodes != cc.episodes || r.success < 0 || r.success > 1 || !(r.costRatio > 0) || r.p50 < 0 || r.p99 < r.p50 {
			t.Errorf("row %+v", r)
		}
		if r.method == expertMethod && r.costRatio != 1 {
			t.Errorf("expert's cost ratio %v, want 1", r.costRatio)
		}
		if r.v.name == "long" && r.v.steps != 20 {
			t.Errorf("long variant has %d steps, want 20", r.v.steps)
		}
		solves := r.method != mlpModel
		if solves == math.IsNaN(r.converged) {
			t.Errorf("%s: converged share %v", r.method, r.converged)
		}
	}
	var mean, seed1 clRow
	for _, r := range res.rows {
		if r.method == planModel && r.v.name == "heavy" {
			if r.seed == "mean" {
				mean = r
			} else {
				seed1 = r
			}
		}
	}
	if mean.success != seed1.success || mean.costRatio != seed1.costRatio {
		t.Errorf("the mean over one seed %+v differs from the seed's row %+v", mean, seed1)
	}

	recs, err := csv.NewReader(bytes.NewReader(clCSV(res.rows))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0][:8], []string{"env", "method", "split", "episodes", "success_rate", "cost_ratio", "solve_ms_p50", "solve_ms_p99"}) {
		t.Errorf("header %v", recs[0])
	}
	if len(recs) != len(res.rows)+1 {
		t.Errorf("%d CSV rows, want %d", len(recs)-1, len(res.rows))
	}
	env, _ := envs.New("pendulum")
	vs, err := variants(env, cc)
	if err != nil {
		t.Fatal(err)
	}
	md := clMarkdown(res.rows, vs)
	for _, s := range []string{"| expert | - |", `out: \|ω₀\| ∈ (1, 2]`, "out: pole ×1.5 mass", "| ilqr-T20 | **mean** |"} {
		if !strings.Contains(md, s) {
			t.Errorf("the tables lack %q:\n%s", s, md)
		}
	}
	path := filepath.Join(t.TempDir(), "cl.gif")
	if err := writeClosedLoopGIF(path, env, res.gif, 2); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || fi.Size() > 2<<20 {
		t.Errorf("gif: %v, %v", fi, err)
	}
}

// TestQuickClosedLoopRun runs the command's -closed-loop mode with -quick
// and tiny sizes end to end and checks the files it writes.
func TestQuickClosedLoopRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models and runs 20 closed-loop episodes of up to 10 s")
	}
	dir := t.TempDir()
	o := options{quick: true, seed: 1, epochs: 1, ntrain: 32, ntest: 10, batch: 16, t: 10, gap: 2,
		learn: learnCost, lrPlan: 1e-2, lrParams: 5e-2, lrMLP: 3e-3,
		closedLoop: true, seeds: "1", out: dir, episodes: 1, heavy: 1.5, long: 2}
	if err := runClosedLoop(o, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"closed-loop.csv", "closed-loop.md", "closed-loop.gif"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	o.seeds = "1,x"
	if err := runClosedLoop(o, io.Discard, io.Discard); err == nil {
		t.Errorf("a bad seed list is accepted")
	}
}

// TestStateErrors checks the grouping and the angle wrap of stateErrors.
func TestStateErrors(t *testing.T) {
	var e stateErrors
	e.add(stateOf([]float64{3.1, 0.5}), stateOf([]float64{-3.1, 0.5})) // 0.083 rad across ±π
	e.add(stateOf([]float64{0, -1.5}), stateOf([]float64{0.2, -2}))    // |ω| > 1
	e.add(stateOf([]float64{1, 1.5}), stateOf([]float64{1, 0.5}))      // |ω| ≤ 1
	if e.n != [2]int{2, 1} {
		t.Fatalf("counts %v, want [2 1]", e.n)
	}
	if a := 2*math.Pi - 6.2; math.Abs(e.angle[0]-a) > 1e-12 || math.Abs(e.omega[0]-1) > 1e-12 {
		t.Errorf("|ω| ≤ 1: angle sum %v (want %v), rate sum %v (want 1)", e.angle[0], a, e.omega[0])
	}
	if math.Abs(e.angle[1]-0.2) > 1e-12 || math.Abs(e.omega[1]-0.25) > 1e-12 {
		t.Errorf("|ω| > 1: angle sum %v (want 0.2), rate sum %v (want 0.25)", e.angle[1], e.omega[1])
	}
	if s := e.String(); !strings.Contains(s, "|ω| > 1: 1 states") {
		t.Errorf("String: %s", s)
	}
}
