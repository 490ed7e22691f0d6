package envs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Sampler draws initial states for Expert.Collect.
//
// Sample writes one initial state (length N) into dst, drawing all its
// randomness from rng, so that the same rng state gives the same state.
// Collect calls it from one goroutine at a time.
type Sampler interface {
	Sample(dst []float64, rng *rand.Rand)
}

// SamplerFunc adapts a function to the Sampler interface.
type SamplerFunc func(dst []float64, rng *rand.Rand)

// Sample calls f(dst, rng).
func (f SamplerFunc) Sample(dst []float64, rng *rand.Rand) { f(dst, rng) }

// UniformSampler draws each physical coordinate of an initial state
// uniformly from its Range and stores the state as its Env does (angles
// as their cosine and sine; see Env.StateFromCoords). Make one with
// Env.Uniform; Env.SampleInitial is Env.Uniform(Env.InitialRanges()).
type UniformSampler struct {
	env    *Env
	ranges []Range
}

// Uniform returns a sampler for e that draws the physical coordinates from
// ranges: one Range per entry of e.InitialRanges(), with the same names
// in the same order, each with finite Lo ≤ Hi. Each draw takes one
// rng.Float64 per range, in order, and sets the coordinate to
// Hi − (Hi − Lo)·r, uniform on (Lo, Hi], exactly as SampleInitial does.
func (e *Env) Uniform(ranges []Range) (*UniformSampler, error) {
	if len(ranges) != len(e.ranges) {
		return nil, fmt.Errorf("envs: %s: %d initial-state ranges, want %d (%v)", e.name, len(ranges), len(e.ranges), e.ranges)
	}
	for i, r := range ranges {
		if r.Name != e.ranges[i].Name || !(r.Lo <= r.Hi) || math.IsInf(r.Lo, 0) || math.IsInf(r.Hi, 0) {
			return nil, fmt.Errorf("envs: %s: initial-state range %d is %+v, want %q with finite Lo ≤ Hi",
				e.name, i, r, e.ranges[i].Name)
		}
	}
	return &UniformSampler{env: e, ranges: slices.Clone(ranges)}, nil
}

// Ranges returns a copy of the sampler's ranges.
func (s *UniformSampler) Ranges() []Range { return slices.Clone(s.ranges) }

// Sample implements Sampler. It panics if len(dst) is not the env's N.
func (s *UniformSampler) Sample(dst []float64, rng *rand.Rand) {
	var buf [8]float64
	q := buf[:len(s.ranges)]
	for i, r := range s.ranges {
		q[i] = r.Hi - (r.Hi-r.Lo)*rng.Float64()
	}
	s.env.StateFromCoords(dst, q)
}

// StateFromCoords writes into dst (length N) the state whose physical
// coordinates are q (one per InitialRanges entry, in that order: angles
// in radians, positions, velocities). It is where the env says how it
// stores each coordinate: an angle θ becomes the two entries (cos θ,
// sin θ), any other coordinate one entry as it is. It panics if a length
// is wrong.
func (e *Env) StateFromCoords(dst, q []float64) {
	if len(dst) != e.Dims().N || len(q) != len(e.ranges) {
		panic(fmt.Sprintf("envs: %s: StateFromCoords: len(dst)=%d, len(q)=%d, want N=%d and %d",
			e.name, len(dst), len(q), e.Dims().N, len(e.ranges)))
	}
	e.fromCoords(dst, q)
}
