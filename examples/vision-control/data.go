package main

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
)

// split is one set of demonstrations as network inputs and targets.
type split struct {
	n int
	// images holds n inputs of 2 channels, (n, 2, S, S) row-major: channel
	// 0 the frame gap steps before the initial state, channel 1 the
	// initial state x₀ itself.
	images []float64
	// u holds the expert's controls, (n, T) (the pendulum has M = 1).
	u []float64
	// x0 holds the true initial states (n, 3), used only to report how far
	// the planner's state estimate is from them (never as an input).
	x0 []float64
}

// previousState returns the pendulum state x₋ from which one step with zero
// torque under the true parameters (g, l) leads to x = (cos θ, sin θ, ω):
// the model's explicit Euler step ω′ = ω + dt·(3g/(2l))·s, θ′ = θ + dt·ω′
// run backwards, θ₋ = θ − dt·ω, ω₋ = ω − dt·(3g/(2l))·sin θ₋.
func previousState(x []float64, g, l float64) []float64 {
	th := math.Atan2(x[1], x[0])
	thp := th - models.PendulumDt*x[2]
	wp := x[2] - models.PendulumDt*3*g/(2*l)*math.Sin(thp)
	return []float64{math.Cos(thp), math.Sin(thp), wp}
}

// makeSplit renders the two-frame images of the demonstrations d: for each
// initial state x₀ it steps back gap times with zero torque (previousState),
// checks with the simulator that gap steps forward from there return to x₀,
// and renders x₋gap and x₀ as the two channels.
func makeSplit(env *envs.Env, d *envs.Demos, size, gap int) (split, error) {
	if d.M != 1 || d.N != 3 {
		return split{}, fmt.Errorf("demonstrations have N=%d, M=%d; the pendulum has 3 and 1", d.N, d.M)
	}
	th := env.Params()
	g, l := th[0], th[2]
	k := size * size
	s := split{n: d.B, images: make([]float64, 2*k*d.B), u: make([]float64, 0, d.B*d.T), x0: make([]float64, 0, 3*d.B)}
	opts := &envs.RenderOptions{Size: size}
	zero := []float64{0}
	next := make([]float64, 3)
	for b := 0; b < d.B; b++ {
		x0, _, u := d.Example(b)
		prev := x0
		for range gap {
			prev = previousState(prev, g, l)
		}
		// Check: gap steps of the true simulator from prev give x₀.
		cur := append([]float64(nil), prev...)
		for range gap {
			env.Step(next, cur, zero)
			copy(cur, next)
		}
		for i := range cur {
			if math.Abs(cur[i]-x0[i]) > 1e-9 {
				return split{}, fmt.Errorf("demonstration %d: stepping the previous frame forward gives %v, not x0 = %v", b, cur, x0)
			}
		}
		img := s.images[2*k*b : 2*k*(b+1)]
		if _, err := env.Render(img[:k], prev, opts); err != nil {
			return split{}, err
		}
		if _, err := env.Render(img[k:], x0, opts); err != nil {
			return split{}, err
		}
		s.u = append(s.u, u...)
		s.x0 = append(s.x0, x0...)
	}
	return s, nil
}

// gather copies the examples idx of s into the batch buffers images
// (len(idx)·2·S²), u (len(idx)·T) and, unless nil, x0 (len(idx)·3, the
// true initial states).
func (s *split) gather(images, u, x0 []float64, idx []int) {
	ki, ku := len(s.images)/s.n, len(s.u)/s.n
	for j, i := range idx {
		copy(images[j*ki:(j+1)*ki], s.images[i*ki:(i+1)*ki])
		copy(u[j*ku:(j+1)*ku], s.u[i*ku:(i+1)*ku])
		if x0 != nil {
			copy(x0[3*j:3*j+3], s.x0[3*i:3*i+3])
		}
	}
}
