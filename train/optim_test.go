package train

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// TestOptimizersMatchGorgonia checks that RMSprop and Adam, started fresh,
// take bit for bit the steps of Gorgonia's RMSPropSolver and AdamSolver
// with the same settings, on two parameters over several steps with
// changing gradients, and that they zero the gradients as Gorgonia does.
func TestOptimizersMatchGorgonia(t *testing.T) {
	cases := []struct {
		name       string
		ours, gorg G.Solver
	}{
		{"rmsprop", &RMSprop{LR: 1e-2, Rho: 0.5},
			G.NewRMSPropSolver(G.WithLearnRate(1e-2), G.WithRho(0.5))},
		{"rmsprop-default-rho", &RMSprop{LR: 1e-3, Rho: 0.999},
			G.NewRMSPropSolver()},
		{"adam", &Adam{LR: 1e-4},
			G.NewAdamSolver(G.WithLearnRate(1e-4))},
		{"adam-betas", &Adam{LR: 3e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6},
			G.NewAdamSolver(G.WithLearnRate(3e-2), G.WithBeta1(0.8), G.WithBeta2(0.99), G.WithEps(1e-6))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			init := [][]float64{{1, -2, 0.5}, {3, 0.25}}
			a := paramSet{newTensorParam("a0", init[0]), newTensorParam("a1", init[1])}
			b := paramSet{newTensorParam("b0", init[0]), newTensorParam("b1", init[1])}
			for step := 0; step < 6; step++ {
				for i := range a {
					for j := range a[i].grads() {
						g := rng.NormFloat64() * math.Pow(10, float64(j-1))
						a[i].grads()[j], b[i].grads()[j] = g, g
					}
				}
				if err := c.ours.Step(a.valueGrads()); err != nil {
					t.Fatal(err)
				}
				if err := c.gorg.Step(b.valueGrads()); err != nil {
					t.Fatal(err)
				}
				for i := range a {
					for j, v := range a[i].values() {
						if w := b[i].values()[j]; math.Float64bits(v) != math.Float64bits(w) {
							t.Fatalf("step %d, parameter %d[%d]: ours %v, Gorgonia's %v", step, i, j, v, w)
						}
						if a[i].grads()[j] != 0 || b[i].grads()[j] != 0 {
							t.Fatalf("step %d: gradients not zeroed", step)
						}
					}
				}
			}
		})
	}
}

// TestOptimizerStateResumes checks that an optimizer rebuilt from its
// exported state continues exactly like the original.
func TestOptimizerStateResumes(t *testing.T) {
	run := func(o G.Solver, ps paramSet, steps, seed int) {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		for range steps {
			for _, p := range ps {
				for j := range p.grads() {
					p.grads()[j] = rng.NormFloat64()
				}
			}
			if err := o.Step(ps.valueGrads()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"rmsprop", "adam"} {
		t.Run(name, func(t *testing.T) {
			mk := func() G.Solver {
				if name == "adam" {
					return &Adam{LR: 1e-2}
				}
				return &RMSprop{LR: 1e-2, Rho: 0.5}
			}
			a := paramSet{newTensorParam("a", []float64{1, 2, 3})}
			oa := mk()
			run(oa, a, 4, 1)
			run(oa, a, 4, 2)

			b := paramSet{newTensorParam("b", []float64{1, 2, 3})}
			ob := mk()
			run(ob, b, 4, 1)
			// Rebuild from the exported state, as a resume does.
			var ob2 G.Solver
			switch o := ob.(type) {
			case *RMSprop:
				ob2 = &RMSprop{LR: o.LR, Rho: o.Rho, Cache: clone2(o.Cache)}
			case *Adam:
				ob2 = &Adam{LR: o.LR, Iter: o.Iter, M: clone2(o.M), V: clone2(o.V)}
			}
			b2 := paramSet{newTensorParam("b2", b[0].values())}
			run(ob2, b2, 4, 2)
			for j, v := range a[0].values() {
				if w := b2[0].values()[j]; math.Float64bits(v) != math.Float64bits(w) {
					t.Fatalf("entry %d: uninterrupted %v, resumed %v", j, v, w)
				}
			}
		})
	}
}

// TestOptimizerBadState checks that state of the wrong shape is an error.
func TestOptimizerBadState(t *testing.T) {
	ps := paramSet{newTensorParam("a", []float64{1, 2})}
	ps[0].grads()[0] = 1
	if err := (&RMSprop{LR: 1, Rho: 0.5, Cache: [][]float64{{0}}}).Step(ps.valueGrads()); err == nil {
		t.Error("RMSprop accepted a cache of the wrong size")
	}
	if err := (&Adam{LR: 1, M: [][]float64{{0, 0}, {0}}, V: [][]float64{{0, 0}}}).Step(ps.valueGrads()); err == nil {
		t.Error("Adam accepted moments for the wrong number of parameters")
	}
	if err := (&RMSprop{LR: 1, Rho: 1}).Step(ps.valueGrads()); err == nil {
		t.Error("RMSprop accepted Rho = 1")
	}
}

// TestCosineDecay: 1 at the first epoch, final at the last, the mean of
// the two halfway, falling in between; 1 for a single epoch.
func TestCosineDecay(t *testing.T) {
	const final = 0.1
	if f := CosineDecay(1, 1, final); f != 1 {
		t.Errorf("one epoch: %g, want 1", f)
	}
	if f := CosineDecay(1, 9, final); f != 1 {
		t.Errorf("first epoch: %g, want 1", f)
	}
	if f := CosineDecay(9, 9, final); math.Abs(f-final) > 1e-15 {
		t.Errorf("last epoch: %g, want %g", f, final)
	}
	if f := CosineDecay(5, 9, final); math.Abs(f-(1+final)/2) > 1e-15 {
		t.Errorf("halfway: %g, want %g", f, (1+final)/2)
	}
	for e := 2; e <= 9; e++ {
		if CosineDecay(e, 9, final) >= CosineDecay(e-1, 9, final) {
			t.Errorf("epoch %d: the multiplier does not fall", e)
		}
	}
}
