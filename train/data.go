package train

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/envs"
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
// through envs' own sampler (envs.Env.Uniform: the env stores angles as
// their cosine and sine), one PCG stream (Seed, k) per split k, rejected
// draws replaced as in envs.Expert.Collect. With env's own ranges it
// returns the same dataset as envs.Generate. The dataset records ranges
// in its Initial field, so its file says how it was made. A non-nil
// opts.Initial is replaced by ranges.
func GenerateDataset(env *envs.Env, ranges []envs.Range, opts *envs.DatasetOptions) (*envs.Dataset, error) {
	if env == nil {
		return nil, fmt.Errorf("train: generate: nil Env")
	}
	if ranges == nil {
		return nil, fmt.Errorf("train: generate: nil ranges (want one per entry of %v)", env.InitialRanges())
	}
	var o envs.DatasetOptions
	if opts != nil {
		o = *opts
	}
	o.Initial = ranges
	ds, err := envs.Generate(env, &o)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return ds, nil
}
