package train

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Why our own optimizers: Gorgonia's RMSPropSolver and AdamSolver keep
// their running averages (and Adam's step count) in unexported fields, so a
// checkpoint cannot save them and a resumed run would restart the averages
// from zero: the first steps after a resume would differ from those of an
// uninterrupted run. RMSprop and Adam below implement gorgonia.Solver with
// the same update formulas, evaluated in the same floating-point order (so
// a fresh RMSprop or Adam takes bit-for-bit the steps of Gorgonia's solver,
// checked in optim_test.go), and keep their state in exported fields that
// the checkpoint file records.

// RMSprop is the RMSprop optimizer with exportable state. For each
// parameter w with gradient g it keeps the running mean square c and takes
//
//	c ← ρ c + (1 − ρ) g²
//	w ← w − η g / √(c + ε)
//
// (Gorgonia's RMSPropSolver's formula, with ε inside the square root;
// PyTorch adds ε outside, which differs only when √c is of order ε). ρ is
// the "decay" of the reference setup: PyTorch's alpha, the smoothing
// constant of the mean square. Step zeroes the gradients it used, as
// Gorgonia's solvers do.
type RMSprop struct {
	// LR is the learning rate η.
	LR float64
	// Rho is the decay ρ of the running mean square, in [0, 1).
	Rho float64
	// Eps is ε. Zero means 1e-8 (Gorgonia's default).
	Eps float64
	// Cache holds c, one slice per parameter in the order of the Step
	// calls; nil before the first step.
	Cache [][]float64
}

var _ G.Solver = (*RMSprop)(nil)

// Step implements gorgonia.Solver: it updates every parameter in place and
// zeroes its gradient. The parameters must be float64 tensors, given in the
// same order at every call.
func (o *RMSprop) Step(model []G.ValueGrad) error {
	if o.Rho < 0 || o.Rho >= 1 || !(o.LR > 0) {
		return fmt.Errorf("train: rmsprop: need LR > 0 and 0 ≤ Rho < 1, have %g and %g", o.LR, o.Rho)
	}
	eps := o.Eps
	setDefault(&eps, 1e-8)
	ws, gs, err := weightsGrads(model)
	if err != nil {
		return fmt.Errorf("train: rmsprop: %w", err)
	}
	if o.Cache == nil {
		o.Cache = make([][]float64, len(ws))
		for i, w := range ws {
			o.Cache[i] = make([]float64, len(w))
		}
	}
	if err := checkState("rmsprop cache", o.Cache, ws); err != nil {
		return err
	}
	decay, omdecay, negEta := o.Rho, 1-o.Rho, -o.LR
	for i, w := range ws {
		c, g := o.Cache[i], gs[i]
		for j := range w {
			// The operations of Gorgonia's RMSPropSolver, in its order.
			c[j] = c[j]*decay + (g[j]*g[j])*omdecay
			w[j] += (1 / math.Sqrt(c[j]+eps)) * (g[j] * negEta)
			g[j] = 0
		}
	}
	return nil
}

// Adam is the Adam optimizer (Kingma & Ba 2015) with exportable state. With
// step count k (after incrementing) and gradient g:
//
//	m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
//	w ← w − η m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵏ), v̂ = v/(1 − β₂ᵏ)
//
// exactly as Gorgonia's AdamSolver (batch 1, no clipping or
// regularization). Step zeroes the gradients it used.
type Adam struct {
	// LR is the learning rate η.
	LR float64
	// Beta1 and Beta2 are the decays of the moment estimates. Zero means
	// 0.9 and 0.999.
	Beta1, Beta2 float64
	// Eps is ε. Zero means 1e-8.
	Eps float64
	// Iter is the number of steps taken.
	Iter int
	// M and V hold the first and second moment estimates, one slice per
	// parameter; nil before the first step.
	M, V [][]float64
}

var _ G.Solver = (*Adam)(nil)

// Step implements gorgonia.Solver (see RMSprop.Step).
func (o *Adam) Step(model []G.ValueGrad) error {
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	setDefault(&b1, 0.9)
	setDefault(&b2, 0.999)
	setDefault(&eps, 1e-8)
	if !(o.LR > 0) || b1 < 0 || b1 >= 1 || b2 < 0 || b2 >= 1 {
		return fmt.Errorf("train: adam: need LR > 0 and betas in [0, 1), have %g, %g, %g", o.LR, b1, b2)
	}
	ws, gs, err := weightsGrads(model)
	if err != nil {
		return fmt.Errorf("train: adam: %w", err)
	}
	if o.M == nil {
		o.M = make([][]float64, len(ws))
		o.V = make([][]float64, len(ws))
		for i, w := range ws {
			o.M[i] = make([]float64, len(w))
			o.V[i] = make([]float64, len(w))
		}
	}
	if err := checkState("adam first moments", o.M, ws); err != nil {
		return err
	}
	if err := checkState("adam second moments", o.V, ws); err != nil {
		return err
	}
	o.Iter++
	// Gorgonia's AdamSolver: the corrections, their reciprocals, then
	// m̂ = m·(1/c₁), v̂ = √(v·(1/c₂)) + ε, w += (m̂·(−η))/v̂.
	c1 := 1 / (1 - math.Pow(b1, float64(o.Iter)))
	c2 := 1 / (1 - math.Pow(b2, float64(o.Iter)))
	omb1, omb2, negEta := 1-b1, 1-b2, -o.LR
	for i, w := range ws {
		m, v, g := o.M[i], o.V[i], gs[i]
		for j := range w {
			m[j] = g[j]*omb1 + m[j]*b1
			v[j] = (g[j]*g[j])*omb2 + v[j]*b2
			mh := m[j] * c1
			vh := math.Sqrt(v[j]*c2) + eps
			w[j] += (mh * negEta) / vh
			g[j] = 0
		}
	}
	return nil
}

// weightsGrads returns the backing slices of the values and gradients of
// model, which must be float64 tensors of equal shapes.
func weightsGrads(model []G.ValueGrad) (ws, gs [][]float64, err error) {
	for i, vg := range model {
		g, err := vg.Grad()
		if err != nil {
			return nil, nil, fmt.Errorf("parameter %d has no gradient: %w", i, err)
		}
		wd, ok1 := vg.Value().(*tensor.Dense)
		gd, ok2 := g.(*tensor.Dense)
		if !ok1 || !ok2 || wd.Dtype() != tensor.Float64 || gd.Dtype() != tensor.Float64 {
			return nil, nil, fmt.Errorf("parameter %d: value and gradient must be float64 tensors", i)
		}
		if !wd.Shape().Eq(gd.Shape()) || wd.RequiresIterator() || gd.RequiresIterator() {
			return nil, nil, fmt.Errorf("parameter %d: value %v and gradient %v differ in shape or are views", i, wd.Shape(), gd.Shape())
		}
		ws = append(ws, wd.Float64s())
		gs = append(gs, gd.Float64s())
	}
	return ws, gs, nil
}

// checkState checks that optimizer state st has one slice per parameter of
// the parameter's size (it may come from a checkpoint).
func checkState(what string, st, ws [][]float64) error {
	if len(st) != len(ws) {
		return fmt.Errorf("train: %s: state for %d parameters, model has %d", what, len(st), len(ws))
	}
	for i := range st {
		if len(st[i]) != len(ws[i]) {
			return fmt.Errorf("train: %s: parameter %d has %d entries, state %d", what, i, len(ws[i]), len(st[i]))
		}
	}
	return nil
}

// clone2 deep-copies a slice of slices.
func clone2(s [][]float64) [][]float64 { return mapSlice(s, slices.Clone[[]float64]) }

// CosineDecay returns the learning-rate multiplier of epoch (1-based) of
// epochs: half a cosine from 1 at the first epoch to final at the last
// (SGDR's annealing without restarts: Loshchilov and Hutter 2017, eq. 5,
// with η_max = 1, η_min = final); 1 when epochs is 1.
func CosineDecay(epoch, epochs int, final float64) float64 {
	if epochs == 1 {
		return 1
	}
	x := float64(epoch-1) / float64(epochs-1)
	return final + (1-final)*0.5*(1+math.Cos(math.Pi*x))
}
