package models

import (
	"fmt"
	"math"
)

// PendulumSpeedLimit returns the state bounds |ω| ≤ wmax on the
// pendulum's state (c, s, ω) (NewPendulum), with c and s unbounded: of the
// six rows of StateBounds, rows 2 (−wmax − ω) and 5 (ω − wmax) are finite,
// the others −Inf; ψ = (−Inf, −Inf, −wmax, +Inf, +Inf, wmax). wmax must be
// > 0 (+Inf leaves ω unbounded too).
func PendulumSpeedLimit(wmax float64) (*StateBounds, error) {
	if !(wmax > 0) {
		return nil, fmt.Errorf("models: pendulum speed limit: wmax = %v must be > 0", wmax)
	}
	inf := math.Inf(1)
	return NewStateBounds(3, 1, []float64{-inf, -inf, -wmax}, []float64{inf, inf, wmax})
}

// CartpoleTrackLimit returns the state bounds |x| ≤ xmax on the cart's
// position, the first entry of the cart-pole's state (x, ẋ, c, s, ω)
// (NewCartpole), with the other entries unbounded: of the ten rows of
// StateBounds, rows 0 (−xmax − x) and 5 (x − xmax) are finite, the others
// −Inf; ψ = (−xmax, −Inf, −Inf, −Inf, −Inf, xmax, +Inf, +Inf, +Inf, +Inf).
// xmax must be > 0 (+Inf leaves x unbounded too).
func CartpoleTrackLimit(xmax float64) (*StateBounds, error) {
	if !(xmax > 0) {
		return nil, fmt.Errorf("models: cart-pole track limit: xmax = %v must be > 0", xmax)
	}
	inf := math.Inf(1)
	return NewStateBounds(5, 1, []float64{-xmax, -inf, -inf, -inf, -inf}, []float64{xmax, inf, inf, inf, inf})
}
