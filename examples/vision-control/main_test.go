package main

import (
	"encoding/csv"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/train"
)

// tinyConfig is a configuration that trains both models in about a second.
func tinyConfig() config {
	c := configFor(options{seed: 1, ntrain: 32, ntest: 20, epochs: 3, batch: 16, t: 10, gap: 2,
		learn: learnCost, lrPlan: 1e-2, lrParams: 5e-2, lrMLP: 3e-3})
	c.evalBatch = 10
	return c
}

// TestExperimentTiny trains both models briefly and checks that the losses
// are finite and fall, that the planner's solves are counted, that a rerun
// gives the same numbers, and that the CSV file reads back exactly.
func TestExperimentTiny(t *testing.T) {
	c := tinyConfig()
	res, err := experiment(c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (c.epochs + 1); len(res.rows) != want {
		t.Fatalf("%d rows, want %d", len(res.rows), want)
	}
	for _, r := range res.rows {
		for _, v := range []float64{r.train, r.test} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				t.Errorf("epoch %d %s: loss %v is not finite and positive", r.epoch, r.model, v)
			}
		}
	}
	for _, m := range []string{planModel, mlpModel} {
		first, _ := res.at(m, 0)
		last := res.final(m)
		if last.epoch != c.epochs {
			t.Errorf("%s: last row is epoch %d, want %d", m, last.epoch, c.epochs)
		}
		// Epoch 0 is the untrained model; three epochs of six Adam steps
		// must lower both losses.
		if !(last.train < first.train) || !(last.test < first.test) {
			t.Errorf("%s: losses did not fall: train %.4g → %.4g, test %.4g → %.4g",
				m, first.train, last.train, first.test, last.test)
		}
		t.Logf("%s: train %.4g → %.4g, test %.4g → %.4g", m, first.train, last.train, first.test, last.test)
	}
	perEpoch := c.ntrain / c.batch * c.batch
	if s := res.lastEpoch; s.solves != perEpoch || s.gradOK+s.gradSkipped+s.gradOther != perEpoch {
		t.Errorf("last epoch: %d solves and %d gradient statuses, want %d each",
			s.solves, s.gradOK+s.gradSkipped+s.gradOther, perEpoch)
	}
	if s := res.testSolve; s.solves != c.ntest {
		t.Errorf("test evaluation: %d solves, want %d", s.solves, c.ntest)
	}

	again, err := experiment(c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.rows, again.rows) {
		t.Errorf("a second run differs:\n%v\n%v", res.rows, again.rows)
	}

	path := filepath.Join(t.TempDir(), "curves.csv")
	if err := writeCSV(path, res.rows); err != nil {
		t.Fatal(err)
	}
	checkCSV(t, path, res.rows)
}

// checkCSV reads the CSV file at path and checks it holds exactly rows.
func checkCSV(t *testing.T, path string, rows []row) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll() // also checks every record has as many fields as the header
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], []string{"epoch", "model", "train_loss", "test_loss"}) {
		t.Fatalf("header %v", recs[:min(1, len(recs))])
	}
	if len(recs)-1 != len(rows) {
		t.Fatalf("%d data rows, want %d", len(recs)-1, len(rows))
	}
	for i, rec := range recs[1:] {
		epoch, err := strconv.Atoi(rec[0])
		if err != nil {
			t.Fatalf("row %d: epoch %q: %v", i+1, rec[0], err)
		}
		if rec[1] != planModel && rec[1] != mlpModel {
			t.Errorf("row %d: model %q", i+1, rec[1])
		}
		tr, err1 := strconv.ParseFloat(rec[2], 64)
		te, err2 := strconv.ParseFloat(rec[3], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("row %d: losses %q, %q", i+1, rec[2], rec[3])
		}
		if got := (row{epoch: epoch, model: rec[1], train: tr, test: te}); got != rows[i] {
			t.Errorf("row %d reads back as %v, want %v", i+1, got, rows[i])
		}
	}
}

// TestConfigErrors checks that bad settings are refused before any work.
func TestConfigErrors(t *testing.T) {
	for name, edit := range map[string]func(*config){
		"no test data":  func(c *config) { c.ntest = 0 },
		"batch > train": func(c *config) { c.batch = c.ntrain + 1 },
		"zero epochs":   func(c *config) { c.epochs = 0 },
		"zero gap":      func(c *config) { c.gap = 0 },
		"zero rate":     func(c *config) { c.lrMLP = 0 },
	} {
		c := tinyConfig()
		edit(&c)
		if _, err := experiment(c, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c := tinyConfig()
	c.learn = "weights"
	if _, err := experiment(c, io.Discard, io.Discard); err == nil {
		t.Errorf("unknown -learn: no error")
	}
}

// TestPreviousFrame checks the backward step against the simulator over
// the whole circle.
func TestPreviousFrame(t *testing.T) {
	for _, th := range []float64{-3.1, -1, 0, 0.5, 3.1} {
		for _, w := range []float64{-1, 0, 0.7} {
			x := []float64{math.Cos(th), math.Sin(th), w}
			prev := previousState(x, 10, 1)
			// One explicit Euler step with u = 0 from prev.
			wn := prev[2] + 0.05*15*prev[1]
			tn := math.Atan2(prev[1], prev[0]) + 0.05*wn
			got := []float64{math.Cos(tn), math.Sin(tn), wn}
			for i := range x {
				if math.Abs(got[i]-x[i]) > 1e-12 {
					t.Errorf("θ=%g ω=%g: forward step gives %v, want %v", th, w, got, x)
					break
				}
			}
		}
	}
}

// TestStateLoss checks the auxiliary state loss: the training graph's
// loss equals MSE(û, u) + w·MSE(x̂₀, x₀) computed from the evaluation
// graph's controls and state estimate on the same batch with the same
// initial weights, for both models; and that a short training run with it
// lowers both losses.
func TestStateLoss(t *testing.T) {
	c := tinyConfig()
	c.stateWeight = 0.5
	env, err := envs.New("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := envs.Generate(env, &envs.DatasetOptions{NTrain: c.batch, NVal: 1, NTest: 1, Seed: 3, T: c.t})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := makeSplit(env, &ds.Train, c.size, c.gap)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{planModel, mlpModel} {
		tr, err := buildNet(kind, c.batch, &c, true)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := buildNet(kind, c.batch, &c, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := train.SetInput(tr.stateTarget, sp.x0); err != nil {
			t.Fatal(err)
		}
		if err := tr.run(sp.images, sp.u); err != nil {
			t.Fatal(err)
		}
		got, err := tr.lossValue()
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.run(sp.images, nil); err != nil {
			t.Fatal(err)
		}
		u, err1 := train.Float64s(ev.uVal)
		x, err2 := train.Float64s(ev.stateVal)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		var su, sx float64
		for i := range u {
			su += (u[i] - sp.u[i]) * (u[i] - sp.u[i])
		}
		for i := range x {
			sx += (x[i] - sp.x0[i]) * (x[i] - sp.x0[i])
		}
		want := su/float64(len(u)) + c.stateWeight*sx/float64(len(x))
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s: loss %v, want MSE(u) + w·MSE(x) = %v", kind, got, want)
		}
	}
	res, err := experiment(c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{planModel, mlpModel} {
		first, _ := res.at(m, 0)
		if last := res.final(m); !(last.train < first.train) || !(last.test < first.test) {
			t.Errorf("%s with the state loss: losses did not fall: %+v → %+v", m, first, last)
		}
	}
}
