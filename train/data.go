package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/op/ilqr"
)

// ReferenceRanges returns the initial-state ranges of the reference
// imitation experiments (mpc.pytorch's experiments/il_env.py) for env:
// the pendulum draws θ from (−π/2, π/2] (within 90° of upright) and ω
// from (−1, 1]; the cart-pole's ranges are envs' own (the same as the
// reference's); the double pendulum, which the reference does not have,
// keeps envs' ranges.
//
// The difference matters for the pendulum. envs draws θ from the whole
// circle, so most demonstrations are swing-ups whose controls sit on the
// bounds (77% of them) and whose plans flip between competing local
// optima as the parameters change. There, learning through the planner
// stalls: the gradient of a control on a bound is zero (the planner holds
// it fixed). In our runs (examples/imitation, seed 1, 100 demonstrations,
// 150 epochs) dilqr.dx on the full circle drove (g, m, l) to a degenerate
// (11.2, 0.32, 0.037) and stalled at an imitation loss of 3.1; on the
// reference's range the validation imitation loss fell from 6.7 to 6e-7,
// with 3g/(2l) and 3/(ml²), the two combinations the pendulum's dynamics
// depend on, within 0.1% of the truth.
func ReferenceRanges(env string) ([]envs.Range, error) {
	e, err := envs.New(env)
	if err != nil {
		return nil, err
	}
	r := e.InitialRanges()
	if env == "pendulum" {
		for i := range r {
			if r[i].Name == "theta" {
				r[i].Lo, r[i].Hi = -math.Pi/2, math.Pi/2
			}
		}
	}
	return r, nil
}

// GenerateDataset is envs.Generate with other initial-state ranges: it
// draws each physical coordinate of x₀ uniformly from its range in
// ranges (one per entry of env.InitialRanges(), same names and order),
// exactly as envs does (Hi − (Hi − Lo)·r per coordinate, angles, named
// theta…, stored as their cosine and sine, one PCG stream (Seed, k) per
// split k, rejected draws replaced as in envs.Expert.Collect). With env's
// own ranges it returns the same dataset as envs.Generate. The dataset
// records ranges in its Initial field, so its file says how it was made.
//
// (envs.DatasetOptions has no field for the ranges; this adapter belongs
// there.)
func GenerateDataset(env *envs.Env, ranges []envs.Range, opts *envs.DatasetOptions) (*envs.Dataset, error) {
	if env == nil {
		return nil, fmt.Errorf("train: generate: nil Env")
	}
	own := env.InitialRanges()
	if len(ranges) != len(own) {
		return nil, fmt.Errorf("train: generate: %d ranges for %s, want %d (%v)", len(ranges), env.Name(), len(own), own)
	}
	for i, r := range ranges {
		if r.Name != own[i].Name || !(r.Lo <= r.Hi) || math.IsInf(r.Lo, 0) || math.IsInf(r.Hi, 0) {
			return nil, fmt.Errorf("train: generate: range %d is %+v, want %q with finite Lo ≤ Hi", i, r, own[i].Name)
		}
	}
	var o envs.DatasetOptions
	if opts != nil {
		o = *opts
	}
	sizes := []int{o.NTrain, o.NVal, o.NTest}
	for k, def := range []int{envs.DefaultNTrain, envs.DefaultNVal, envs.DefaultNTest} {
		if sizes[k] == 0 {
			sizes[k] = def
		}
	}
	// The metadata (env, models, true parameters, bounds, expert settings)
	// from envs itself, with one-example splits that are then replaced.
	meta := o
	meta.NTrain, meta.NVal, meta.NTest = 1, 1, 1
	ds, err := envs.Generate(env, &meta)
	if err != nil {
		return nil, err
	}
	if o.T != 0 {
		if env, err = env.WithHorizon(o.T); err != nil {
			return nil, err
		}
	}
	ex, err := envs.NewExpert(env, o.Expert)
	if err != nil {
		return nil, err
	}
	ds.Initial = slices.Clone(ranges)
	for k, sp := range ds.Splits() {
		maxRej := o.MaxRejected
		switch {
		case maxRej == 0:
			maxRej = max(16, sizes[k])
		case maxRej < 0:
			maxRej = 0
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(k)))
		d, err := collect(ex, ranges, sizes[k], rng, maxRej)
		if err != nil {
			return nil, fmt.Errorf("train: generate %s split: %w", sp.Name, err)
		}
		*sp.Demos = d
	}
	return ds, nil
}

// collect is envs.Expert.Collect drawing x₀ from ranges.
func collect(ex *envs.Expert, ranges []envs.Range, n int, rng *rand.Rand, maxRejected int) (envs.Demos, error) {
	env := ex.Env()
	d := env.Dims()
	t := env.Horizon()
	if n < 1 {
		return envs.Demos{}, fmt.Errorf("n=%d < 1", n)
	}
	out := envs.Demos{B: n, T: t, N: d.N, M: d.M}
	kept := 0
	var x0 []float64
	for kept < n {
		need := n - kept
		b := need + need/8 + 1
		x0 = x0[:0]
		for range b {
			for _, r := range ranges {
				q := r.Hi - (r.Hi-r.Lo)*rng.Float64()
				if strings.HasPrefix(r.Name, "theta") {
					x0 = append(x0, math.Cos(q), math.Sin(q))
				} else {
					x0 = append(x0, q)
				}
			}
		}
		if len(x0) != b*d.N {
			return envs.Demos{}, fmt.Errorf("%s: the ranges give states of length %d, want N=%d", env.Name(), len(x0)/b, d.N)
		}
		res, err := ex.Plan(x0)
		if err != nil {
			return envs.Demos{}, err
		}
		for i := 0; i < b && kept < n; i++ {
			if res.Status[i] != ilqr.Converged {
				out.Rejected++
				if out.Rejected > maxRejected {
					return envs.Demos{}, fmt.Errorf("%s: %d expert solves did not converge, with %d of %d demonstrations kept",
						env.Name(), out.Rejected, kept, n)
				}
				continue
			}
			out.X0 = append(out.X0, x0[i*d.N:(i+1)*d.N]...)
			out.X = append(out.X, res.X[i*t*d.N:(i+1)*t*d.N]...)
			out.U = append(out.U, res.U[i*t*d.M:(i+1)*t*d.M]...)
			out.Cost = append(out.Cost, res.Cost[i])
			kept++
		}
	}
	return out, nil
}
