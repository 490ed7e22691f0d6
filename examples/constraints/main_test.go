package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/op/ilqr"
)

// quickConfig is the -quick configuration with the given methods.
func quickConfig(t *testing.T, methods ...string) *config {
	t.Helper()
	c, err := configFor(options{quick: true, tasks: strings.Join(allTasks, ","), methods: strings.Join(methods, ",")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestQuickRunWritesFiles runs the -quick experiment (every problem and
// method) and checks the table and the files it writes.
func TestQuickRunWritesFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("the -quick run takes about 10 s")
	}
	c := quickConfig(t, allMethods...)
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), c, options{out: dir}, &out); err != nil {
		t.Fatal(err)
	}
	for _, task := range allTasks {
		for _, meth := range allMethods {
			if !strings.Contains(out.String(), "| "+task+" | "+meth+" |") {
				t.Errorf("the table lacks %s %s:\n%s", task, meth, out.String())
			}
		}
	}
	rows, err := os.ReadFile(filepath.Join(dir, fileResults))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	if lines[0] != csvHeader || len(lines) != 1+len(allTasks)*len(allMethods) {
		t.Errorf("%s: %d lines, header %q", fileResults, len(lines), lines[0])
	}
	sum, err := os.ReadFile(filepath.Join(dir, fileSummary))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(sum), "\n"); got != 1+len(allTasks)*len(allMethods) {
		t.Errorf("%s: %d lines", fileSummary, got)
	}
	curves, err := os.ReadFile(filepath.Join(dir, fileCurves))
	if err != nil {
		t.Fatal(err)
	}
	// Epochs 0..15 of the three trained methods on both problems.
	if got, want := strings.Count(string(curves), "\n"), 1+2*3*(c.epochs+1); got != want {
		t.Errorf("%s: %d lines, want %d", fileCurves, got, want)
	}
	for _, f := range []string{fileVehicle, filePlot} {
		png, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", f)
		}
	}
}

// TestConstraintLearnerImproves checks, on the -quick data of seed 1, that
// the constraint learner with the exact gradient ends at least 3 times
// closer to the true constraint than its first guess and with a held-out
// imitation loss at most a fifth of the first guess's (the quick run
// reaches 0.16 m from 0.74 m and 0.054 from 0.28 on the vehicle, 0.015 m
// from 0.4 m and 0.012 from 1.1 on the cart-pole); and that a rerun gives
// the same numbers. On the vehicle this holds for seed 1, the seed the
// quick run uses; on seeds 2 and 3 the learner falls into the local
// minimum of a vanishing disc (see the package documentation), so a
// change that breaks seed 1 would show here.
func TestConstraintLearnerImproves(t *testing.T) {
	c := quickConfig(t, mInit, mDiLQRPsi)
	for _, task := range allTasks {
		t.Run(task, func(t *testing.T) {
			s, err := c.setup(task)
			if err != nil {
				t.Fatal(err)
			}
			d, err := makeData(s, c, 1)
			if err != nil {
				t.Fatal(err)
			}
			init, err := runOne(context.Background(), s, mInit, c, d, 1, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			learned, err := runOne(context.Background(), s, mDiLQRPsi, c, d, 1, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ψ error %.3g → %.3g, held-out imitation %.3g → %.3g, k %v", init.psiErr, learned.psiErr, init.test, learned.test, learned.k)
			if !(learned.psiErr <= init.psiErr/3) {
				t.Errorf("ψ error %.3g, first guess %.3g: not reduced 3 times", learned.psiErr, init.psiErr)
			}
			if !(learned.test <= init.test/5) {
				t.Errorf("held-out imitation loss %.3g, first guess %.3g: not reduced 5 times", learned.test, init.test)
			}
			if learned.failures > 0 {
				t.Errorf("%d held-out solves not stationary", learned.failures)
			}
			if task != taskCartpole {
				return
			}
			again, err := runOne(context.Background(), s, mDiLQRPsi, c, d, 1, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if again.test != learned.test || !slices.Equal(again.k, learned.k) {
				t.Errorf("rerun differs: k %v vs %v, held-out %v vs %v", again.k, learned.k, again.test, learned.test)
			}
		})
	}
}

// TestParamGradient checks the command's chain rule from the solver's
// per-example gradients to what Adam updates (the tied track limit
// ψ = (−s, …, s, …), the obstacle's ψ as it is, the cost's log q and p)
// against central differences of the training loss. The solves are tight
// (1e-11) and re-solved from the base solution's controls and multipliers
// so that the active set stays; step 1e-5, agreement to 1e-4 relative to
// the largest entry.
func TestParamGradient(t *testing.T) {
	cases := []struct{ task, method string }{
		{taskCartpole, mDiLQRPsi}, {taskVehicle, mDiLQRPsi}, {taskCartpole, mDiLQRCost}, {taskVehicle, mDiLQRCost},
	}
	tight := ilqr.Settings{MaxIter: 3000, Newton: true, TolGrad: 1e-11, TolGradLoose: 1e-11, TolViolation: 1e-11}
	for _, tc := range cases {
		t.Run(tc.task+"/"+tc.method, func(t *testing.T) {
			s, err := newSetup(tc.task)
			if err != nil {
				t.Fatal(err)
			}
			d, _, err := collect(s, 3, rand.New(rand.NewPCG(7, 1)))
			if err != nil {
				t.Fatal(err)
			}
			l, err := newLearner(s, tc.method)
			if err != nil {
				t.Fatal(err)
			}
			task := s.task
			if !l.psiMethod {
				task.Constraint = nil
				// Away from the true cost, where the loss is flat.
				for i := range l.w {
					l.w[i] += 0.1 * float64(i%3-1)
				}
			}
			if l.sv, err = ilqr.NewSolver(ilqr.Problem{Task: task, T: s.t}, &tight); err != nil {
				t.Fatal(err)
			}
			tr := newTrainer(l, d, 1)
			in := l.inputs(d.x0)
			if err := l.sv.Solve(&tr.res, in); err != nil {
				t.Fatal(err)
			}
			if !tr.res.AllConverged() {
				t.Fatalf("base solves %v", tr.res.Status)
			}
			s.imitation(tr.per, tr.dX, tr.dU, tr.res.X, tr.res.U, d)
			if err := l.sv.Gradient(&tr.grads, &tr.res, in, tr.dX, tr.dU, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			grad := make([]float64, len(l.w))
			l.paramGrad(grad, &tr.grads, d.b)
			base := tr.res
			loss := func() float64 {
				in := l.inputs(d.x0)
				in.U0 = base.U
				if base.Mult != nil && len(base.Mult) > 0 {
					in.Mult0 = base.Mult
				}
				var r ilqr.Result
				if err := l.sv.Solve(&r, in); err != nil {
					t.Fatal(err)
				}
				per := make([]float64, d.b)
				s.imitation(per, nil, nil, r.X, r.U, d)
				var sum float64
				for _, v := range per {
					sum += v / float64(d.b)
				}
				return sum
			}
			if fdtest.MaxAbs(grad) == 0 {
				t.Fatal("zero gradient: the case tests nothing")
			}
			fd := fdtest.Central(l.w, 1e-5, loss)
			if e, j := fdtest.RelErr(grad, fd); e > 1e-4 {
				t.Errorf("parameter %d: gradient %.8g, central difference %.8g (error %.2g relative to the largest)", j, grad[j], fd[j], e)
			}
		})
	}
}

// TestConfigRejects checks that unusable flags are refused.
func TestConfigRejects(t *testing.T) {
	ok := options{tasks: taskVehicle, methods: mDiLQRPsi}
	if _, err := configFor(ok); err != nil {
		t.Fatalf("%+v: %v", ok, err)
	}
	for _, o := range []options{
		{tasks: "boat", methods: mDiLQRPsi},
		{tasks: taskVehicle, methods: "nope"},
		{tasks: taskVehicle, methods: mDiLQRPsi, seeds: "x"},
		{tasks: taskVehicle, methods: mDiLQRPsi, epochs: -1},
		{tasks: taskVehicle, methods: mDiLQRPsi, vehicleGuess: "1,2"},
		{tasks: taskVehicle, methods: mDiLQRPsi, vehicleGuess: "1,2,-1"},
		{tasks: taskVehicle, methods: mDiLQRPsi, trackGuess: -0.5},
	} {
		if _, err := configFor(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
