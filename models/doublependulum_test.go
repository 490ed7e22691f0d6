package models

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDoublePendulumPowerBalance checks the equations of motion
// independently of how they were transcribed: for the Lagrangian system
// with energy E = ½q̇ᵀD(q)q̇ + f₁cos θ₁ + f₂cos θ₂, the rate of change of E
// equals the power of the force on the cart, u ẋ:
//
//	q̇ᵀD q̈ + ½q̇ᵀḊq̇ − f₁ sin θ₁ ω₁ − f₂ sin θ₂ ω₂ = u ẋ,
//
// with Ḋ₀₁ = −d₂ sin θ₁ ω₁, Ḋ₀₂ = −d₃ sin θ₂ ω₂,
// Ḋ₁₂ = −d₅ sin(θ₁ − θ₂)(ω₁ − ω₂). The accelerations are read back from
// one step, q̈ = (velocity′ − velocity)/dt, at states on the unit circle.
// A wrong sign or coefficient in C or G breaks the balance.
func TestDoublePendulumPowerBalance(t *testing.T) {
	const dt = DoublePendulumDt
	dyn := NewDoublePendulum()
	ev := dyn.NewEvaluator()
	rng := rand.New(rand.NewPCG(seed, 30))
	next := make([]float64, 8)
	for pt := 0; pt < 200; pt++ {
		a1, a2 := uniform(rng, -math.Pi, math.Pi), uniform(rng, -math.Pi, math.Pi)
		s1, c1 := math.Sincos(a1)
		s2, c2 := math.Sincos(a2)
		v, w1, w2 := uniform(rng, -3, 3), uniform(rng, -4, 4), uniform(rng, -4, 4)
		u := uniform(rng, -90, 90)
		th := scaled(rng, dyn.DefaultParams())
		x := []float64{uniform(rng, -1, 1), v, c1, s1, w1, c2, s2, w2}
		ev.Step(next, x, []float64{u}, th)
		xdd, t1dd, t2dd := (next[1]-v)/dt, (next[4]-w1)/dt, (next[7]-w2)/dt

		g, m0, m1, m2, len1, len2 := th[0], th[1], th[2], th[3], th[4], th[5]
		l1, l2 := len1/2, len2/2
		i1, i2 := m1*len1*len1/12, m2*len2*len2/12
		d1 := m0 + m1 + m2
		d2 := m1*l1 + m2*len1
		d3 := m2 * l2
		d4 := m1*l1*l1 + m2*len1*len1 + i1
		d5 := m2 * len1 * l2
		d6 := m2*l2*l2 + i2
		f1, f2 := d2*g, d3*g
		c12, s12 := math.Cos(a1-a2), math.Sin(a1-a2)

		qd := [3]float64{v, w1, w2}
		qdd := [3]float64{xdd, t1dd, t2dd}
		D := [3][3]float64{
			{d1, d2 * c1, d3 * c2},
			{d2 * c1, d4, d5 * c12},
			{d3 * c2, d5 * c12, d6},
		}
		var kin float64 // q̇ᵀD q̈
		for i := range 3 {
			for j := range 3 {
				kin += qd[i] * D[i][j] * qdd[j]
			}
		}
		dD01, dD02, dD12 := -d2*s1*w1, -d3*s2*w2, -d5*s12*(w1-w2)
		half := dD01*v*w1 + dD02*v*w2 + dD12*w1*w2 // ½q̇ᵀḊq̇
		dE := kin + half - f1*s1*w1 - f2*s2*w2
		// The scale of the terms bounds the round-off, amplified by 1/dt
		// when reading q̈ back.
		scale := math.Abs(kin) + math.Abs(half) + f1*math.Abs(w1) + f2*math.Abs(w2) + math.Abs(u*v)
		if e := math.Abs(dE - u*v); e > 1e-12*scale/dt {
			t.Errorf("point %d: dE/dt = %.15g, u ẋ = %.15g (difference %.2g)", pt, dE, u*v, e)
		}
	}
}

// TestDoublePendulumEquilibria checks that with no force the configurations
// hanging down, upright and folded are at rest, and that a small tilt of
// the upright pendulum grows (it is unstable) while the hanging one swings
// back.
func TestDoublePendulumEquilibria(t *testing.T) {
	dyn := NewDoublePendulum()
	ev := dyn.NewEvaluator()
	th := dyn.DefaultParams()
	next := make([]float64, 8)
	zero := []float64{0}
	for _, tc := range []struct {
		name     string
		c1, c2   float64
		s1, s2   float64
		moveSign float64 // expected sign of θ̈₁ after tilting θ₁ by +0.01; 0: no tilt
	}{
		{"upright", 1, 1, 0, 0, 0},
		{"down", -1, -1, 0, 0, 0},
		{"folded", 1, -1, 0, 0, 0},
		{"upright tilted", math.Cos(0.01), 1, math.Sin(0.01), 0, +1},
		{"down tilted", math.Cos(math.Pi + 0.01), -1, math.Sin(math.Pi + 0.01), 0, -1},
	} {
		x := []float64{0, 0, tc.c1, tc.s1, 0, tc.c2, tc.s2, 0}
		ev.Step(next, x, zero, th)
		t1dd := next[4] / DoublePendulumDt
		switch {
		case tc.moveSign == 0:
			for i, want := range x {
				if math.Abs(next[i]-want) > 1e-15 {
					t.Errorf("%s: entry %d moved from %g to %g", tc.name, i, want, next[i])
				}
			}
		case math.Signbit(t1dd) != math.Signbit(tc.moveSign) || t1dd == 0:
			t.Errorf("%s: θ̈₁ = %g, want sign %+g", tc.name, t1dd, tc.moveSign)
		}
	}
}
