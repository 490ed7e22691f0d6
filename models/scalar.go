package models

import (
	"math"

	"gonum.org/v1/gonum/num/dual"
	"gonum.org/v1/gonum/num/hyperdual"
)

// Scalar is the arithmetic a generic step or cost function is written in.
//
// A model's step function is written once, generically over T Scalar[T], and
// instantiated with Float (plain values), Dual (exact first derivatives) and
// HyperDual (exact first and mixed second derivatives). Every method returns a
// new value; none modifies its receiver.
type Scalar[T any] interface {
	// Value returns the real (non-infinitesimal) part.
	Value() float64
	// Const returns v as a constant of type T. The receiver is ignored, so
	// the zero value works: var z T; c := z.Const(2).
	Const(v float64) T

	Add(T) T
	Sub(T) T
	Mul(T) T
	Div(T) T
	Neg() T
	// AddC returns the receiver plus the constant c.
	AddC(c float64) T
	// MulC returns the receiver times the constant c.
	MulC(c float64) T

	Sin() T
	Cos() T
	Sqrt() T
	Exp() T
	Tanh() T
	// Atan2 returns atan2(receiver, x), the angle of the point (x, receiver),
	// with derivatives exact in every quadrant.
	Atan2(x T) T
	// Clamp limits the value to [lo, hi]. Its derivative is 1 inside the
	// closed interval and 0 outside, as in torch.clamp.
	Clamp(lo, hi float64) T
}

// Float is a plain float64 satisfying Scalar.
type Float float64

// Value implements Scalar.
func (a Float) Value() float64 { return float64(a) }

// Const implements Scalar.
func (Float) Const(v float64) Float { return Float(v) }

// Add implements Scalar.
func (a Float) Add(b Float) Float { return a + b }

// Sub implements Scalar.
func (a Float) Sub(b Float) Float { return a - b }

// Mul implements Scalar.
func (a Float) Mul(b Float) Float { return a * b }

// Div implements Scalar.
func (a Float) Div(b Float) Float { return a / b }

// Neg implements Scalar.
func (a Float) Neg() Float { return -a }

// AddC implements Scalar.
func (a Float) AddC(c float64) Float { return a + Float(c) }

// MulC implements Scalar.
func (a Float) MulC(c float64) Float { return a * Float(c) }

// Sin implements Scalar.
func (a Float) Sin() Float { return Float(math.Sin(float64(a))) }

// Cos implements Scalar.
func (a Float) Cos() Float { return Float(math.Cos(float64(a))) }

// Sqrt implements Scalar.
func (a Float) Sqrt() Float { return Float(math.Sqrt(float64(a))) }

// Exp implements Scalar.
func (a Float) Exp() Float { return Float(math.Exp(float64(a))) }

// Tanh implements Scalar.
func (a Float) Tanh() Float { return Float(math.Tanh(float64(a))) }

// Atan2 implements Scalar.
func (a Float) Atan2(x Float) Float { return Float(math.Atan2(float64(a), float64(x))) }

// Clamp implements Scalar.
func (a Float) Clamp(lo, hi float64) Float { return clampScalar(a, lo, hi) }

// clampScalar is Scalar.Clamp: the constant bound outside [lo, hi]
// (derivative 0), a itself inside (derivative 1).
func clampScalar[T Scalar[T]](a T, lo, hi float64) T {
	switch v := a.Value(); {
	case v < lo:
		return a.Const(lo)
	case v > hi:
		return a.Const(hi)
	}
	return a
}

// Dual is a gonum dual number (value and one directional derivative)
// satisfying Scalar.
type Dual dual.Number

// Value implements Scalar.
func (a Dual) Value() float64 { return a.Real }

// Const implements Scalar.
func (Dual) Const(v float64) Dual { return Dual{Real: v} }

// Add implements Scalar.
func (a Dual) Add(b Dual) Dual { return Dual{a.Real + b.Real, a.Emag + b.Emag} }

// Sub implements Scalar.
func (a Dual) Sub(b Dual) Dual { return Dual{a.Real - b.Real, a.Emag - b.Emag} }

// Mul implements Scalar.
func (a Dual) Mul(b Dual) Dual { return Dual{a.Real * b.Real, a.Real*b.Emag + a.Emag*b.Real} }

// Div implements Scalar.
func (a Dual) Div(b Dual) Dual {
	r := a.Real / b.Real
	return Dual{r, (a.Emag - r*b.Emag) / b.Real}
}

// Neg implements Scalar.
func (a Dual) Neg() Dual { return Dual{-a.Real, -a.Emag} }

// AddC implements Scalar.
func (a Dual) AddC(c float64) Dual { return Dual{a.Real + c, a.Emag} }

// MulC implements Scalar.
func (a Dual) MulC(c float64) Dual { return Dual{a.Real * c, a.Emag * c} }

// Sin implements Scalar.
func (a Dual) Sin() Dual { return Dual(dual.Sin(dual.Number(a))) }

// Cos implements Scalar.
func (a Dual) Cos() Dual { return Dual(dual.Cos(dual.Number(a))) }

// Sqrt implements Scalar.
func (a Dual) Sqrt() Dual { return Dual(dual.Sqrt(dual.Number(a))) }

// Exp implements Scalar.
func (a Dual) Exp() Dual { return Dual(dual.Exp(dual.Number(a))) }

// Tanh implements Scalar.
func (a Dual) Tanh() Dual { return Dual(dual.Tanh(dual.Number(a))) }

// Atan2 implements Scalar.
func (a Dual) Atan2(x Dual) Dual {
	r2 := x.Real*x.Real + a.Real*a.Real
	return Dual{
		Real: math.Atan2(a.Real, x.Real),
		Emag: (x.Real*a.Emag - a.Real*x.Emag) / r2,
	}
}

// Clamp implements Scalar.
func (a Dual) Clamp(lo, hi float64) Dual { return clampScalar(a, lo, hi) }

// HyperDual is a gonum hyper-dual number (value, two directional derivatives
// and their mixed second derivative) satisfying Scalar.
type HyperDual hyperdual.Number

func (a HyperDual) h() hyperdual.Number { return hyperdual.Number(a) }

// Value implements Scalar.
func (a HyperDual) Value() float64 { return a.Real }

// Const implements Scalar.
func (HyperDual) Const(v float64) HyperDual { return HyperDual{Real: v} }

// Add implements Scalar.
func (a HyperDual) Add(b HyperDual) HyperDual {
	return HyperDual{a.Real + b.Real, a.E1mag + b.E1mag, a.E2mag + b.E2mag, a.E1E2mag + b.E1E2mag}
}

// Sub implements Scalar.
func (a HyperDual) Sub(b HyperDual) HyperDual {
	return HyperDual{a.Real - b.Real, a.E1mag - b.E1mag, a.E2mag - b.E2mag, a.E1E2mag - b.E1E2mag}
}

// Mul implements Scalar.
func (a HyperDual) Mul(b HyperDual) HyperDual {
	return HyperDual{
		Real:    a.Real * b.Real,
		E1mag:   a.Real*b.E1mag + a.E1mag*b.Real,
		E2mag:   a.Real*b.E2mag + a.E2mag*b.Real,
		E1E2mag: a.Real*b.E1E2mag + a.E1mag*b.E2mag + a.E2mag*b.E1mag + a.E1E2mag*b.Real,
	}
}

// Div implements Scalar. It applies the quotient rule to r = a/b directly,
// r₁ = (a₁ − r b₁)/b, r₂ = (a₂ − r b₂)/b and
// r₁₂ = (a₁₂ − r₁ b₂ − r₂ b₁ − r b₁₂)/b (from differentiating a = r b), so
// that its value is the correctly rounded a/b, as for Float and Dual.
func (a HyperDual) Div(b HyperDual) HyperDual {
	r := a.Real / b.Real
	r1 := (a.E1mag - r*b.E1mag) / b.Real
	r2 := (a.E2mag - r*b.E2mag) / b.Real
	return HyperDual{
		Real:    r,
		E1mag:   r1,
		E2mag:   r2,
		E1E2mag: (a.E1E2mag - r1*b.E2mag - r2*b.E1mag - r*b.E1E2mag) / b.Real,
	}
}

// Neg implements Scalar.
func (a HyperDual) Neg() HyperDual { return HyperDual{-a.Real, -a.E1mag, -a.E2mag, -a.E1E2mag} }

// AddC implements Scalar.
func (a HyperDual) AddC(c float64) HyperDual {
	a.Real += c
	return a
}

// MulC implements Scalar.
func (a HyperDual) MulC(c float64) HyperDual {
	return HyperDual{a.Real * c, a.E1mag * c, a.E2mag * c, a.E1E2mag * c}
}

// Sin implements Scalar.
func (a HyperDual) Sin() HyperDual { return HyperDual(hyperdual.Sin(a.h())) }

// Cos implements Scalar.
func (a HyperDual) Cos() HyperDual { return HyperDual(hyperdual.Cos(a.h())) }

// Sqrt implements Scalar.
func (a HyperDual) Sqrt() HyperDual { return HyperDual(hyperdual.Sqrt(a.h())) }

// Exp implements Scalar.
func (a HyperDual) Exp() HyperDual { return HyperDual(hyperdual.Exp(a.h())) }

// Tanh implements Scalar.
func (a HyperDual) Tanh() HyperDual { return HyperDual(hyperdual.Tanh(a.h())) }

// Atan2 implements Scalar. With y the receiver and r² = x² + y², the partial
// derivatives of atan2(y, x) are f_y = x/r², f_x = −y/r², f_yy = −2xy/r⁴,
// f_xx = 2xy/r⁴ and f_xy = (y² − x²)/r⁴; the chain rule for a function of
// two hyper-dual arguments combines them exactly.
func (a HyperDual) Atan2(x HyperDual) HyperDual {
	y := a
	r2 := x.Real*x.Real + y.Real*y.Real
	r4 := r2 * r2
	fy := x.Real / r2
	fx := -y.Real / r2
	fyy := -2 * x.Real * y.Real / r4
	fxx := -fyy
	fxy := (y.Real*y.Real - x.Real*x.Real) / r4
	return HyperDual{
		Real:  math.Atan2(y.Real, x.Real),
		E1mag: fy*y.E1mag + fx*x.E1mag,
		E2mag: fy*y.E2mag + fx*x.E2mag,
		E1E2mag: fy*y.E1E2mag + fx*x.E1E2mag +
			fyy*y.E1mag*y.E2mag + fxx*x.E1mag*x.E2mag +
			fxy*(y.E1mag*x.E2mag+x.E1mag*y.E2mag),
	}
}

// Clamp implements Scalar.
func (a HyperDual) Clamp(lo, hi float64) HyperDual { return clampScalar(a, lo, hi) }
