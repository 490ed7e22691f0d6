package layer

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Transform maps a raw, unconstrained parameter r to the value the planner
// uses, so that constraints hold by construction rather than by clipping.
// It is applied elementwise with Gorgonia's own ops, so gradients flow to r.
type Transform uint8

const (
	// Identity uses r as it is.
	Identity Transform = iota
	// Softplus gives log(1 + eʳ) > 0: for positive physical parameters
	// (masses, lengths, gravity) and cost weights.
	Softplus
	// Sigmoid gives 1/(1 + e⁻ʳ) ∈ (0, 1): for cost weights, as in the
	// paper's cost learning. Gorgonia's sigmoid is exactly 1 (and its
	// derivative 0) for r > 19, so a weight driven there stops learning.
	Sigmoid
)

// String returns "identity", "softplus" or "sigmoid".
func (t Transform) String() string {
	return enumName("Transform", t, "identity", "softplus", "sigmoid")
}

// enumName returns names[v], the name of an enumeration's value v whose
// constants count from 0 in the order of names, or "typ(v)" for a value
// past them.
func enumName[E ~uint8](typ string, v E, names ...string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

func (t Transform) valid() bool { return t <= Sigmoid }

// Apply returns the transformed values of raw, computed exactly as
// Gorgonia's float64 ops compute them (softplus is r above 16 and 0 below
// −708, sigmoid 1 above 19 and 0 below −709). Its float32 ops have other
// cut-offs (softplus 14 and −103, sigmoid 15 and −88); a Float32 ILQR
// layer's ThetaValue and CostValue follow those.
func (t Transform) Apply(raw []float64) []float64 {
	out := make([]float64, len(raw))
	for i, r := range raw {
		out[i] = t.apply(r)
	}
	return out
}

func (t Transform) apply(r float64) float64 {
	switch t {
	case Softplus:
		switch {
		case r < -708:
			return 0
		case r > 16:
			return r
		}
		return math.Log1p(math.Exp(r))
	case Sigmoid:
		switch {
		case r < -709:
			return 0
		case r > 19:
			return 1
		}
		return 1 / (1 + math.Exp(-r))
	}
	return r
}

// Inverse returns the raw values whose transforms are v: v itself for
// Identity, log(eᵛ − 1) for Softplus (v > 0), log(v/(1 − v)) for Sigmoid
// (0 < v < 1). Values outside the range, or too close to its ends for the
// raw value to be represented, are an error naming the entry.
func (t Transform) Inverse(v []float64) ([]float64, error) {
	out := make([]float64, len(v))
	for i, x := range v {
		r, err := t.inverse(x)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out[i] = r
	}
	return out, nil
}

func (t Transform) inverse(v float64) (float64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %v is not finite", v)
	}
	switch t {
	case Softplus:
		if v <= 0 {
			return 0, fmt.Errorf("softplus cannot reach %g: the value must be positive", v)
		}
		if v > 16 {
			return v, nil // Gorgonia's softplus is the identity there
		}
		r := math.Log(math.Expm1(v))
		if r < -708 {
			return 0, fmt.Errorf("softplus value %g is too small to represent", v)
		}
		return r, nil
	case Sigmoid:
		if v <= 0 || v >= 1 {
			return 0, fmt.Errorf("sigmoid cannot reach %g: the value must lie in (0, 1)", v)
		}
		r := math.Log(v) - math.Log1p(-v)
		if r > 19 || r < -709 {
			return 0, fmt.Errorf("sigmoid value %g is too close to 0 or 1 to represent", v)
		}
		return r, nil
	}
	return v, nil
}

// applyAs returns the transform of r as Gorgonia's op of dtype dt
// computes it: apply for Float64; for Float32, on r rounded to float32,
// with the float32 op's own cut-offs (softplus r above 14 and 0 below
// −103, sigmoid 1 above 15 and 0 below −88), the result rounded to float32.
func (t Transform) applyAs(dt tensor.Dtype, r float64) float64 {
	if dt != tensor.Float32 {
		return t.apply(r)
	}
	x := float64(float32(r))
	switch t {
	case Softplus:
		switch {
		case x < -103:
			return 0
		case x > 14:
			return x
		}
		return float64(float32(math.Log1p(math.Exp(x))))
	case Sigmoid:
		switch {
		case x < -88:
			return 0
		case x > 15:
			return 1
		}
		return float64(float32(1 / (1 + math.Exp(-x))))
	}
	return x
}

// inverseAs returns the raw value whose transform, computed in dtype dt,
// is v: inverse for Float64; for Float32, checked against the float32
// op's cut-offs (see applyAs) so that the raw value stays where the
// transform still has a gradient. The raw value is rounded when it is
// stored in a Float32 node.
func (t Transform) inverseAs(dt tensor.Dtype, v float64) (float64, error) {
	r, err := t.inverse(v)
	if err != nil || dt != tensor.Float32 {
		return r, err
	}
	switch t {
	case Softplus:
		if v > 14 {
			r = v // the float32 softplus is the identity there
		} else if r < -88 {
			// Below −88 the float32 softplus still has a value (to −103)
			// but its gradient, float32's sigmoid, is 0.
			return 0, fmt.Errorf("softplus value %g is too small for float32: its raw value would get no gradient", v)
		}
	case Sigmoid:
		if r > 15 || r < -88 {
			return 0, fmt.Errorf("sigmoid value %g is too close to 0 or 1 to represent in float32", v)
		}
	}
	if math.Abs(r) > math.MaxFloat32 {
		return 0, fmt.Errorf("value %g is beyond float32's range", v)
	}
	return r, nil
}

// node adds the transform of x to the graph (x itself for Identity).
func (t Transform) node(x *G.Node) (*G.Node, error) {
	switch t {
	case Softplus:
		return G.Softplus(x)
	case Sigmoid:
		return G.Sigmoid(x)
	}
	return x, nil
}
