package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"gonum.org/v1/gonum/diff/fd"
)

// centralFD is the setting for scalar finite differences: fd.Central with
// the step of fdStep (see there), on arguments of order one.
var centralFD = &fd.Settings{Formula: fd.Central, Step: fdStep}

// Generic two-argument functions exercising each Scalar operation, for
// checking the Dual and HyperDual arithmetic against finite differences of
// the Float arithmetic.
func opAdd[T Scalar[T]](a, b T) T   { return a.Add(b) }
func opSub[T Scalar[T]](a, b T) T   { return a.Sub(b) }
func opMul[T Scalar[T]](a, b T) T   { return a.Mul(b) }
func opDiv[T Scalar[T]](a, b T) T   { return a.Div(b) }
func opNeg[T Scalar[T]](a, b T) T   { return a.Neg().Mul(b) }
func opAddC[T Scalar[T]](a, b T) T  { return a.AddC(0.7).Mul(b) }
func opMulC[T Scalar[T]](a, b T) T  { return a.MulC(-1.3).Mul(b) }
func opSin[T Scalar[T]](a, b T) T   { return a.Mul(b).Sin() }
func opCos[T Scalar[T]](a, b T) T   { return a.Mul(b).Cos() }
func opSqrt[T Scalar[T]](a, b T) T  { return a.Mul(a).Add(b.Mul(b)).Sqrt() }
func opExp[T Scalar[T]](a, b T) T   { return a.Mul(b).Exp() }
func opTanh[T Scalar[T]](a, b T) T  { return a.Mul(b).Tanh() }
func opAtan2[T Scalar[T]](a, b T) T { return a.Atan2(b) }

type scalarOp struct {
	name string
	f    func(a, b Float) Float
	d    func(a, b Dual) Dual
	h    func(a, b HyperDual) HyperDual
}

func scalarOps() []scalarOp {
	return []scalarOp{
		{"Add", opAdd[Float], opAdd[Dual], opAdd[HyperDual]},
		{"Sub", opSub[Float], opSub[Dual], opSub[HyperDual]},
		{"Mul", opMul[Float], opMul[Dual], opMul[HyperDual]},
		{"Div", opDiv[Float], opDiv[Dual], opDiv[HyperDual]},
		{"Neg", opNeg[Float], opNeg[Dual], opNeg[HyperDual]},
		{"AddC", opAddC[Float], opAddC[Dual], opAddC[HyperDual]},
		{"MulC", opMulC[Float], opMulC[Dual], opMulC[HyperDual]},
		{"Sin", opSin[Float], opSin[Dual], opSin[HyperDual]},
		{"Cos", opCos[Float], opCos[Dual], opCos[HyperDual]},
		{"Sqrt", opSqrt[Float], opSqrt[Dual], opSqrt[HyperDual]},
		{"Exp", opExp[Float], opExp[Dual], opExp[HyperDual]},
		{"Tanh", opTanh[Float], opTanh[Dual], opTanh[HyperDual]},
		{"Atan2", opAtan2[Float], opAtan2[Dual], opAtan2[HyperDual]},
	}
}

// checkScalarOp checks op at the point (a, b) with directions (da, db) and
// (ea, eb) and a second-order input part (a12, b12):
//   - the Dual derivative along (da, db) against central differences of the
//     Float function;
//   - the HyperDual E1 and E2 parts against the Dual derivatives along the
//     two directions;
//   - the HyperDual E1E2 part, the mixed second derivative of
//     f(a + t₁da + t₂ea + t₁t₂a12, b + …), against central differences over
//     t₂ of the Dual derivative along t₁.
func checkScalarOp(t *testing.T, op scalarOp, a, b, da, db, ea, eb, a12, b12 float64) {
	t.Helper()
	dir := func(s float64) (Dual, Dual) { // point moved by s along (ea, eb), tangent along t₁
		return Dual{a + s*ea, da + s*a12}, Dual{b + s*eb, db + s*b12}
	}
	fdD := fd.Derivative(func(s float64) float64 {
		return float64(op.f(Float(a+s*da), Float(b+s*db)))
	}, 0, centralFD)
	x, y := dir(0)
	d := op.d(x, y)
	if float64(op.f(Float(a), Float(b))) != d.Real {
		t.Errorf("%s(%g, %g): Dual value %g differs from Float", op.name, a, b, d.Real)
	}
	if e := fdtest.MixedErr(d.Emag, fdD); e > fdTol {
		t.Errorf("%s(%g, %g): Dual derivative %.12g, finite differences %.12g (err %.2g)", op.name, a, b, d.Emag, fdD, e)
	}
	d2 := op.d(Dual{a, ea}, Dual{b, eb})
	h := op.h(HyperDual{a, da, ea, a12}, HyperDual{b, db, eb, b12})
	if h.Real != d.Real || fdtest.MixedErr(h.E1mag, d.Emag) > exactTol || fdtest.MixedErr(h.E2mag, d2.Emag) > exactTol {
		t.Errorf("%s(%g, %g): HyperDual %+v disagrees with Dual %+v, %+v", op.name, a, b, h, d, d2)
	}
	fdH := fd.Derivative(func(s float64) float64 {
		x, y := dir(s)
		return op.d(x, y).Emag
	}, 0, centralFD)
	if e := fdtest.MixedErr(h.E1E2mag, fdH); e > fdTol {
		t.Errorf("%s(%g, %g): HyperDual mixed part %.12g, finite differences %.12g (err %.2g)", op.name, a, b, h.E1E2mag, fdH, e)
	}
}

// TestScalarOps checks every Scalar operation of Dual and HyperDual
// against finite differences at random points.
func TestScalarOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed, 10))
	for _, op := range scalarOps() {
		t.Run(op.name, func(t *testing.T) {
			for i := 0; i < 50; i++ {
				a, b := uniform(rng, 0.3, 2), uniform(rng, 0.3, 2) // away from Div's and Sqrt's poles
				if rng.IntN(2) == 0 {
					a = -a
				}
				checkScalarOp(t, op, a, b, rng.NormFloat64(), rng.NormFloat64(),
					rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64())
			}
		})
	}
}

// TestAtan2Quadrants checks Atan2 in all four quadrants and on the axes
// except the negative x axis, where atan2 jumps by 2π: the values equal
// math.Atan2 and the Dual and HyperDual derivatives agree with finite
// differences of math.Atan2.
func TestAtan2Quadrants(t *testing.T) {
	op := scalarOp{"Atan2", opAtan2[Float], opAtan2[Dual], opAtan2[HyperDual]}
	rng := rand.New(rand.NewPCG(seed, 11))
	points := [][2]float64{ // (y, x): the receiver is y
		{0.6, 0.8}, {0.6, -0.8}, {-0.6, -0.8}, {-0.6, 0.8}, // one per quadrant
		{0, 1.5}, {2, 0}, {-0.5, 0}, // positive x axis, positive and negative y axes
		{1e-3, -1}, {-1e-3, -1}, // just above and below the cut
		{3, 4e-3}, {-7, -2},
	}
	for i := 0; i < 40; i++ {
		c, s := anglePoint(rng, i, 0.2, 5)
		points = append(points, [2]float64{s, c})
	}
	for _, p := range points {
		y, x := p[0], p[1]
		if v := opAtan2(Dual{Real: y}, Dual{Real: x}).Real; v != math.Atan2(y, x) {
			t.Errorf("Atan2(%g, %g) = %g, want %g", y, x, v, math.Atan2(y, x))
		}
		if v := opAtan2(HyperDual{Real: y}, HyperDual{Real: x}).Real; v != math.Atan2(y, x) {
			t.Errorf("HyperDual Atan2(%g, %g) = %g, want %g", y, x, v, math.Atan2(y, x))
		}
		// Unit directions along each argument, then random ones. The
		// finite-difference steps (fdStep times a direction of order one)
		// are far smaller than the 1e-3 distance of the points nearest the
		// cut, so every stencil stays on one side of it.
		dirs := [][6]float64{{1, 0, 1, 0, 0, 0}, {0, 1, 0, 1, 0, 0}, {1, 0, 0, 1, 0, 0}}
		for k := 0; k < 4; k++ {
			var v [6]float64
			for j := range v {
				v[j] = rng.NormFloat64()
			}
			dirs = append(dirs, v)
		}
		for _, v := range dirs {
			checkScalarOp(t, op, y, x, v[0], v[1], v[2], v[3], v[4], v[5])
		}
	}
}

// TestClamp checks the clamp's value and derivative: passed through inside
// the closed interval [lo, hi], the endpoints included (as torch.clamp),
// and constant outside it.
func TestClamp(t *testing.T) {
	const lo, hi = -2.0, 3.0
	for _, tc := range []struct {
		v, want float64
		inside  bool
	}{
		{0.5, 0.5, true}, {lo, lo, true}, {hi, hi, true},
		{math.Nextafter(lo, -10), lo, false}, {math.Nextafter(hi, 10), hi, false},
		{-50, lo, false}, {50, hi, false},
	} {
		d := Dual{tc.v, 1.5}.Clamp(lo, hi)
		h := HyperDual{tc.v, 1.5, -2, 0.25}.Clamp(lo, hi)
		f := Float(tc.v).Clamp(lo, hi)
		c, k := clampDeriv(tc.v, lo, hi)
		var want Dual
		var wantH HyperDual
		if tc.inside {
			want, wantH = Dual{tc.v, 1.5}, HyperDual{tc.v, 1.5, -2, 0.25}
		} else {
			want, wantH = Dual{Real: tc.want}, HyperDual{Real: tc.want}
		}
		if d != want || h != wantH || float64(f) != tc.want {
			t.Errorf("Clamp(%g): Float %g, Dual %+v, HyperDual %+v; want %g, %+v, %+v", tc.v, f, d, h, tc.want, want, wantH)
		}
		if wantK := map[bool]float64{true: 1, false: 0}[tc.inside]; c != tc.want || k != wantK {
			t.Errorf("clampDeriv(%g) = %g, %g; want %g, %g", tc.v, c, k, tc.want, wantK)
		}
	}
}
