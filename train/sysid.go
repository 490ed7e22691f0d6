package train

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
)

// sysidLoss is the system-identification objective: the one-step
// prediction error of the model on the demonstrations' transitions,
//
//	L(θ) = 1/(B (T−1) N) Σ_b Σ_{t<T−1} ‖f(x_t, u_t; θ) − x_{t+1}‖²,
//
// with θ = softplus(r) for the raw parameter r, as in the planner layer.
// Its gradient comes straight from the model's exact parameter Jacobian
// ∂f/∂θ (no planner is involved, so no graph is needed):
//
//	∂L/∂r = 2/(B (T−1) N) Σ (f − x_{t+1})ᵀ ∂f/∂θ ⊙ softplus′(r).
type sysidLoss struct {
	ev         models.DynamicsEvaluator
	n, m, p, t int
}

// lossGrad computes L for the b trajectories x (b×T×N) and u (b×T×M) and
// writes ∂L/∂r into r's gradient.
func (s *sysidLoss) lossGrad(r *tensorParam, b int, x, u []float64) (float64, error) {
	if s.t < 2 {
		return 0, fmt.Errorf("train: sysid needs transitions: horizon T=%d < 2", s.t)
	}
	n, m, p, t := s.n, s.m, s.p, s.t
	raw := r.values()
	theta := layer.Softplus.Apply(raw)
	next := make([]float64, n)
	ft := make([]float64, n*p)
	gth := make([]float64, p)
	var loss float64
	for i := 0; i < b; i++ {
		for k := 0; k < t-1; k++ {
			xt := x[(i*t+k)*n : (i*t+k+1)*n]
			ut := u[(i*t+k)*m : (i*t+k+1)*m]
			xn := x[(i*t+k+1)*n : (i*t+k+2)*n]
			s.ev.Step(next, xt, ut, theta)
			s.ev.ParamJacobian(ft, xt, ut, theta)
			for a := 0; a < n; a++ {
				e := next[a] - xn[a]
				loss += e * e
				for j := 0; j < p; j++ {
					gth[j] += 2 * e * ft[a*p+j]
				}
			}
		}
	}
	count := float64(b * (t - 1) * n)
	g := r.grads()
	for j := range gth {
		g[j] = gth[j] / count * softplusDeriv(raw[j])
	}
	loss /= count
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train: sysid: the prediction loss is %v at θ = %v", loss, theta)
	}
	return loss, nil
}

// softplusDeriv is the derivative of layer.Softplus's transform: the
// logistic function, 1 above 16 and 0 below −708 where the transform is
// the identity and zero.
func softplusDeriv(r float64) float64 {
	switch {
	case r > 16:
		return 1
	case r < -708:
		return 0
	}
	return 1 / (1 + math.Exp(-r))
}
