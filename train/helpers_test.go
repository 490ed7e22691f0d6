package train

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/dilqr/dilqr/envs"
)

// datasets caches generated datasets by key: generation is deterministic,
// so tests may share them (they never modify one).
var datasets sync.Map

// smallDataset returns a dataset of env from package envs with the given
// split sizes and seed.
func smallDataset(t *testing.T, env string, ntrain, nval, ntest int, seed uint64) *envs.Dataset {
	t.Helper()
	key := [5]any{env, ntrain, nval, ntest, seed}
	if ds, ok := datasets.Load(key); ok {
		return ds.(*envs.Dataset)
	}
	e, err := envs.New(env)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := envs.Generate(e, &envs.DatasetOptions{NTrain: ntrain, NVal: nval, NTest: ntest, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	datasets.Store(key, ds)
	return ds
}

// nearUprightPendulum returns a pendulum dataset whose initial angles lie
// within ±π/4 of upright (|ω| ≤ 0.5) instead of envs' full circle: the
// expert's controls saturate less (about 63% on the bounds instead of
// 77%) and there are no swing-ups with competing local optima, so that a
// short run shows parameter recovery. The demonstrations come from
// envs' expert with its default settings; each must converge.
func nearUprightPendulum(t *testing.T, ntrain, nval, ntest int, seed uint64) *envs.Dataset {
	t.Helper()
	key := [5]any{"pendulum-upright", ntrain, nval, ntest, seed}
	if ds, ok := datasets.Load(key); ok {
		return ds.(*envs.Dataset)
	}
	env, err := envs.New("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	base, err := envs.Generate(env, &envs.DatasetOptions{NTrain: 1, NVal: 1, NTest: 1, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := envs.NewExpert(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds := *base
	for k, sp := range ds.Splits() {
		n := []int{ntrain, nval, ntest}[k]
		rng := rand.New(rand.NewPCG(seed, uint64(k)))
		x0 := make([]float64, 0, 3*n)
		for range n {
			th := math.Pi/4 - math.Pi/2*rng.Float64()
			x0 = append(x0, math.Cos(th), math.Sin(th), 0.5-rng.Float64())
		}
		res, err := ex.Plan(x0)
		if err != nil {
			t.Fatal(err)
		}
		if !res.AllStationary() {
			t.Fatalf("expert did not converge on a near-upright start: %v", res.Status)
		}
		*sp.Demos = envs.Demos{B: n, T: ds.T, N: 3, M: 1, X0: x0,
			X: append([]float64(nil), res.X...), U: append([]float64(nil), res.U...),
			Cost: append([]float64(nil), res.Cost...)}
	}
	datasets.Store(key, &ds)
	return &ds
}

// pendulumCombos returns the pendulum's identifiable parameter
// combinations α = 3g/(2l) and β = 3/(m l²): its step depends on (g, m, l)
// only through them (see models.NewPendulum), so imitation can recover
// them but not (g, m, l) themselves. Truth (15, 3).
func pendulumCombos(th []float64) (alpha, beta float64) {
	g, m, l := th[0], th[1], th[2]
	return 3 * g / (2 * l), 3 / (m * l * l)
}
