package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/envs"
	"gonum.org/v1/gonum/mat"
)

// paramJacobianSVD stacks the parameter Jacobians ∂f/∂(log θ) of env's
// dynamics at the true θ over 200 random states and controls and returns
// their singular values (largest first) and right singular vectors.
func paramJacobianSVD(t *testing.T, env string) ([]float64, *mat.Dense) {
	t.Helper()
	e, err := envs.New(env)
	if err != nil {
		t.Fatal(err)
	}
	task := e.Task()
	d := e.Dims()
	ev := task.Dynamics.NewEvaluator()
	theta := e.Params()
	rng := rand.New(rand.NewPCG(3, 4))
	const k = 200
	a := mat.NewDense(k*d.N, d.P, nil)
	x, u, ft := make([]float64, d.N), make([]float64, d.M), make([]float64, d.N*d.P)
	for s := range k {
		e.SampleInitial(x, rng)
		for i := range u {
			u[i] = task.Lower[i] + (task.Upper[i]-task.Lower[i])*rng.Float64()
		}
		ev.ParamJacobian(ft, x, u, theta)
		for i := range d.N {
			for j := range d.P {
				a.Set(s*d.N+i, j, ft[i*d.P+j]*theta[j])
			}
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	var v mat.Dense
	svd.VTo(&v)
	return svd.Values(nil), &v
}

// TestIdentifiableCombinations checks the combinations against the
// dynamics: their number is the numerical rank of the stacked parameter
// Jacobians, and they are constant along its null space (the pendulum's
// (1, −2, 1) in log θ), where the dynamics are too.
func TestIdentifiableCombinations(t *testing.T) {
	for _, env := range envs.Names() {
		t.Run(env, func(t *testing.T) {
			cs, err := IdentifiableCombinations(env)
			if _, learnable := paramNames[env]; err != nil && !learnable {
				t.Skipf("%s: not an env train learns (%v)", env, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			sv, v := paramJacobianSVD(t, env)
			rank := 0
			for _, s := range sv {
				if s > 1e-10*sv[0] {
					rank++
				}
			}
			if rank != len(cs) {
				t.Fatalf("parameter Jacobian of rank %d (singular values %.3g), %d combinations", rank, sv, len(cs))
			}
			e, _ := envs.New(env)
			truth := e.Params()
			for i := rank; i < len(sv); i++ {
				// Move far along the null direction: the combinations and
				// the dynamics stay.
				moved := slices.Clone(truth)
				for j := range moved {
					moved[j] *= math.Exp(0.7 * v.At(j, i))
				}
				_, est, tru, rel, err := Identified(env, moved, truth)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Max(rel) > 1e-14 {
					t.Errorf("along the null direction %v the combinations change: %v vs %v", mat.Col(nil, i, v), est, tru)
				}
				ds := lmDataset(t, env, 0)
				pe, err := PredictionError(e.Task().Dynamics, moved, truth, &ds.Test)
				if err != nil {
					t.Fatal(err)
				}
				if pe > 1e-28 {
					t.Errorf("prediction error %g along the null direction", pe)
				}
			}
		})
	}
	if _, err := IdentifiableCombinations("acrobot"); err == nil {
		t.Errorf("unknown env: no error")
	}
}

// TestPredictionError: zero at the truth, the mean over B·T·N entries of
// the squared differences of the predicted next states, bad sizes
// rejected.
func TestPredictionError(t *testing.T) {
	ds := lmDataset(t, "pendulum", 0)
	e, _ := envs.New("pendulum")
	dyn := e.Task().Dynamics
	d := &ds.Test
	if pe, err := PredictionError(dyn, ds.Theta, ds.Theta, d); err != nil || pe != 0 {
		t.Errorf("at the truth: %g, %v", pe, err)
	}
	// A 10% error in g changes ω′ by dt·3Δg/(2l)·s = 0.05·1.5·s and θ′
	// by dt times that: compute the mean directly.
	theta := []float64{11, 1, 1}
	pe, err := PredictionError(dyn, theta, ds.Theta, d)
	if err != nil {
		t.Fatal(err)
	}
	ev := dyn.NewEvaluator()
	a, b := make([]float64, 3), make([]float64, 3)
	var want float64
	for k := range d.B * d.T {
		ev.Step(a, d.X[3*k:3*k+3], d.U[k:k+1], theta)
		ev.Step(b, d.X[3*k:3*k+3], d.U[k:k+1], ds.Theta)
		for i := range a {
			want += (a[i] - b[i]) * (a[i] - b[i])
		}
	}
	want /= float64(d.B * d.T * 3)
	if pe != want || !(pe > 1e-4) {
		t.Errorf("prediction error %g, want %g (> 1e-4)", pe, want)
	}
	if _, err := PredictionError(dyn, []float64{10, 1}, ds.Theta, d); err == nil {
		t.Errorf("short θ: no error")
	}
	bad := *d
	bad.X = bad.X[:len(bad.X)-1]
	if _, err := PredictionError(dyn, theta, ds.Theta, &bad); err == nil {
		t.Errorf("short X: no error")
	}
}

// TestModelErrors: a pendulum estimate on the curve (g k, m/k², l k) of
// the truth has a large MSE(θ − θ*) but no identifiable or prediction
// error; nn and the cost learners get NaN and 0 as documented.
func TestModelErrors(t *testing.T) {
	ds := lmDataset(t, "pendulum", 0)
	const k = 2
	row := Row{Params: []float64{10 * k, 1.0 / (k * k), 1 * k}}
	ident, pred, err := ModelErrors(ds, DiLQRDx, row)
	if err != nil {
		t.Fatal(err)
	}
	if mse(row.Params, ds.Theta) < 30 || ident > 1e-15 || pred > 1e-28 {
		t.Errorf("θ = %v: MSE(θ − θ*) %g, identifiable error %g, prediction error %g; want > 30, 0, 0",
			row.Params, mse(row.Params, ds.Theta), ident, pred)
	}
	row.Params = []float64{11, 1, 1}
	if ident, pred, err = ModelErrors(ds, SysID, row); err != nil || math.Abs(ident-0.1) > 1e-12 || !(pred > 0) {
		t.Errorf("g 10%% high: identifiable error %g (want 0.1), prediction error %g, %v", ident, pred, err)
	}
	if ident, pred, _ := ModelErrors(ds, NN, Row{}); !math.IsNaN(ident) || !math.IsNaN(pred) {
		t.Errorf("nn: %g, %g, want NaN, NaN", ident, pred)
	}
	if ident, pred, _ := ModelErrors(ds, DiLQRCost, Row{}); !math.IsNaN(ident) || pred != 0 {
		t.Errorf("dilqr.cost: %g, %g, want NaN, 0", ident, pred)
	}
	res := &Result{Env: "pendulum", Method: DiLQRDx, History: []Row{{}, {Epoch: 1}}, BestEpoch: 1,
		Initial: []float64{15, 3, 0.5}, Learned: row.Params, Best: row.Params, True: ds.Theta}
	var b strings.Builder
	if err := res.WriteIdentified(&b, ds); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3g/(2l)", "3/(ml²)", "rel. error 3g/(2l)", "next-state MSE (test)", "45", "0.1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRunLogsIdentified: Run logs ModelErrors of every epoch's
// parameters in Row.Ident and Row.Pred and in the last two columns of
// log.csv, which reads back exactly; nn gets NaN.
func TestRunLogsIdentified(t *testing.T) {
	ds := smallDataset(t, "pendulum", 8, 4, 4, 2)
	for _, m := range []Method{DiLQRDx, NN} {
		cfg := Config{Method: m, NTrain: 8, Epochs: 1, Hidden: 4, Dir: t.TempDir()}
		res, err := Run(context.Background(), ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ReadLog(filepath.Join(cfg.Dir, LogFile))
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range res.History {
			ident, pred, err := ModelErrors(ds, m, row)
			if err != nil {
				t.Fatal(err)
			}
			same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
			if !same(row.Ident, ident) || !same(row.Pred, pred) || !same(rows[i].Ident, ident) || !same(rows[i].Pred, pred) {
				t.Errorf("%s epoch %d: logged (%g, %g), read back (%g, %g), want (%g, %g)",
					m, i, row.Ident, row.Pred, rows[i].Ident, rows[i].Pred, ident, pred)
			}
			if (m == NN) != math.IsNaN(row.Ident) || (m == NN) != math.IsNaN(row.Pred) {
				t.Errorf("%s epoch %d: (%g, %g)", m, i, row.Ident, row.Pred)
			}
		}
	}
}
