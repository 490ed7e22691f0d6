package envs

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dilqr/dilqr/models"
)

func TestNew(t *testing.T) {
	// Every registered task has an environment except those with a path
	// constraint (the vehicle), which envs does not simulate yet.
	var want []string
	for _, name := range models.TaskNames() {
		if task, _ := models.TaskByName(name); task.Constraint == nil {
			want = append(want, name)
		}
	}
	if !slices.Equal(Names(), want) {
		t.Errorf("Names() = %v, want the unconstrained tasks of models.TaskNames(): %v", Names(), want)
	}
	horizons := map[string]int{"pendulum": 20, "cartpole": 20, "double_pendulum": 15, "rocket": 20}
	for _, name := range Names() {
		e := mustEnv(t, name)
		task, err := models.TaskByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() != name || e.Horizon() != horizons[name] || e.Dims() != task.Dynamics.Dims() {
			t.Errorf("%s: name %q, horizon %d, dims %+v", name, e.Name(), e.Horizon(), e.Dims())
		}
		if !slices.Equal(e.Params(), task.Dynamics.DefaultParams()) || !slices.Equal(e.CostParams(), task.Cost.DefaultParams()) {
			t.Errorf("%s: parameters are not the models' defaults", name)
		}
		tk := e.Task()
		if !slices.Equal(tk.Lower, task.Lower) || !slices.Equal(tk.Upper, task.Upper) {
			t.Errorf("%s: bounds [%v, %v]", name, tk.Lower, tk.Upper)
		}
		// Copies: changing them leaves the env as it was.
		e.Params()[0] = 99
		tk.Lower[0] = 99
		if e.Params()[0] == 99 || e.Task().Lower[0] == 99 {
			t.Errorf("%s: accessors return the env's own slices", name)
		}
		e7, err := e.WithHorizon(7)
		if err != nil || e7.Horizon() != 7 || e.Horizon() != horizons[name] {
			t.Errorf("%s: WithHorizon(7): %v", name, err)
		}
		if _, err := e.WithHorizon(0); err == nil {
			t.Errorf("%s: WithHorizon(0): no error", name)
		}
	}
	if _, err := New("acrobot"); err == nil || !strings.Contains(err.Error(), `unknown env "acrobot"`) {
		t.Errorf("unknown env: error %v", err)
	}
}

// TestSampleInitial: samples lie in the documented ranges, angles on the
// unit circle, and the same seed gives the same states.
func TestSampleInitial(t *testing.T) {
	for _, name := range Names() {
		e := mustEnv(t, name)
		n := e.Dims().N
		ranges := e.InitialRanges()
		rng := rand.New(rand.NewPCG(11, 0))
		var all []float64
		for range 500 {
			x := make([]float64, n)
			e.SampleInitial(x, rng)
			all = append(all, x...)
			// Recover the physical coordinates: angles from (cos, sin).
			var q []float64
			switch name {
			case "pendulum":
				q = []float64{math.Atan2(x[1], x[0]), x[2]}
			case "cartpole":
				q = []float64{x[0], x[1], math.Atan2(x[3], x[2]), x[4]}
			case "rocket": // the attitude is stored as the angle
				q = slices.Clone(x)
			default:
				q = []float64{x[0], x[1], math.Atan2(x[3], x[2]), x[4], math.Atan2(x[6], x[5]), x[7]}
			}
			for i, r := range ranges {
				// θ = π can come back from atan2 as ±π; 1e-12 allows round-off.
				if q[i] < r.Lo-1e-12 || q[i] > r.Hi+1e-12 {
					t.Fatalf("%s: %s = %g outside (%g, %g]", name, r.Name, q[i], r.Lo, r.Hi)
				}
			}
		}
		again := make([]float64, n)
		e.SampleInitial(again, rand.New(rand.NewPCG(11, 0)))
		if !slices.Equal(again, all[:n]) {
			t.Errorf("%s: the same seed gives another state", name)
		}
	}
}

// TestStepRollout: Rollout applies Step T−1 times from x0; Step is safe
// for concurrent use; bad lengths are reported.
func TestStepRollout(t *testing.T) {
	e := mustEnv(t, "cartpole")
	x0 := []float64{0.1, 0, math.Cos(0.5), math.Sin(0.5), 0}
	U := []float64{1, -2, 3, 0}
	X := make([]float64, 4*5)
	if err := e.Rollout(X, x0, U); err != nil {
		t.Fatal(err)
	}
	x := slices.Clone(x0)
	for s := 0; s < 3; s++ {
		next := make([]float64, 5)
		e.Step(next, x, U[s:s+1])
		x = next
		if !slices.Equal(x, X[(s+1)*5:(s+2)*5]) {
			t.Errorf("step %d: Rollout %v, Step %v", s+1, X[(s+1)*5:(s+2)*5], x)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]float64, 5)
			for range 100 {
				e.Step(next, x0, U[:1])
				if !slices.Equal(next, X[5:10]) {
					t.Errorf("concurrent Step gives %v", next)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := e.Rollout(X[:5], x0, U); err == nil {
		t.Errorf("short X: no error")
	}
	if err := e.Rollout(X, x0[:3], U); err == nil {
		t.Errorf("short x0: no error")
	}
	if _, err := e.TrajectoryCost(X, U[:3]); err == nil {
		t.Errorf("mismatched cost lengths: no error")
	}
	// The cost of the upright rest state with no force is the QuadCost at
	// τ = (0, 0, 1, 0, 0, 0): ½·1·1² − 1 = −0.5 per step.
	j, err := e.TrajectoryCost([]float64{0, 0, 1, 0, 0, 0, 0, 1, 0, 0}, []float64{0, 0})
	if err != nil || math.Abs(j+1) > 1e-15 {
		t.Errorf("cost of two upright steps: %g, %v; want −1", j, err)
	}
}
