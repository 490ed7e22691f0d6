package envs

import (
	"math"
)

// RocketHorizon is the rocket's demonstration horizon: 20 steps of 0.05 s,
// as the pendulum's and the cart-pole's. A demonstration is the first
// second of the expert's plan towards the pad, not a whole landing (which
// takes 3 to 6 s from the starts of RocketRanges); whole landings are the
// closed loop's job (EvaluateLanding).
const RocketHorizon = 20

// RocketRanges returns the ranges the rocket's initial states are drawn
// from, in the order of its state (x, z, ẋ, ż, φ, ω) (see models.NewRocket):
//
//	x ∈ (−5, 5] m, z ∈ (5, 15] m, ẋ ∈ (−1, 1] m/s, ż ∈ (−2, 0] m/s,
//	φ ∈ (−0.1, 0.1] rad, ω ∈ (−0.1, 0.1] rad/s
//
// a rocket descending over the pad, up to 5 m to either side, nearly
// upright. The attitude is named "phi", not "theta…": it is stored as the
// angle itself (StateFromCoords copies every coordinate as it is).
func RocketRanges() []Range {
	return []Range{{"x", -5, 5}, {"z", 5, 15}, {"xdot", -1, 1}, {"zdot", -2, 0},
		{"phi", -0.1, 0.1}, {"omega", -0.1, 0.1}}
}

// Rendering of the rocket: the view, the ground and the drawn body.
const (
	// rocketHalfWidth is the rocket's default view: a square of 18 m, the
	// ground 1 m above its lower edge, so that starts up to z = 15 m
	// (drawn up to 3 m higher, see rocketDrawScale) and x = ±5 m show.
	rocketHalfWidth = 9.0
	// rocketGroundMargin is the height of the ground line above the lower
	// edge of the view, metres.
	rocketGroundMargin = 1.0
	// rocketDrawScale is how many times its length ℓ the body is drawn:
	// at 96 pixels over 18 m a 1 m rocket would be 5 pixels long.
	rocketDrawScale = 3.0
	// RocketPadHalfWidth is the half width of the landing pad, metres: the
	// default Landing.PadHalfWidth, and the pad drawn by Render.
	RocketPadHalfWidth = 1.0
)

// drawRocket draws the rocket state (x, z, ẋ, ż, φ, ω) with
// θ_dyn = (g, m, ℓ): the ground (gray 0.5) at z = 0, rocketGroundMargin
// above the view's lower edge, the pad (gray 0.75, RocketPadHalfWidth to
// either side of x = 0) on it, and the body as a pole of rocketDrawScale·ℓ
// from its base, at the attitude φ. The base of an upright rocket at
// z = 0 stands on the ground (z is the centre of mass above its resting
// height).
func drawRocket(theta []float64) func(*canvas, []float64) {
	l := theta[2]
	drawn := rocketDrawScale * l
	return func(c *canvas, x []float64) {
		ground := rocketGroundMargin - c.half // world z = 0 in view coordinates
		c.segment(-c.half, ground, c.half, ground, cartLevel)
		c.box(0, ground, RocketPadHalfWidth, 0.1*c.half/rocketHalfWidth+0.05, link2Level)
		s, co := math.Sincos(x[4])
		// Base: the centre of mass (x, z + ℓ/2 above the ground) minus
		// half the true length along the body axis; the body drawn longer
		// from there.
		bx, bz := x[0]-0.5*l*s, ground+x[1]+0.5*l-0.5*l*co
		c.pole(bx, bz, x[4], drawn, poleLevel)
	}
}

// rocketHover returns the control that holds the rocket at rest at the
// pad, (m g, 0) for θ_dyn = (g, m, ℓ).
func rocketHover(theta []float64) []float64 { return []float64{theta[1] * theta[0], 0} }
