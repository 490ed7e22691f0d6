package ilqr

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fuzzin"
	"github.com/dilqr/dilqr/models"
)

// fuzzParams returns, by sel&3, no parameters (the defaults), one row of
// length row shared by the batch, a row per example of b, or a row too long.
func fuzzParams(d *fuzzin.Reader, sel byte, row, b int) []float64 {
	switch sel & 3 {
	case 1:
		return d.Floats(row)
	case 2:
		return d.Floats(b * row)
	case 3:
		return d.Floats(row + 1)
	}
	return nil
}

// fuzzLen returns the length k when mode is "right", or a wrong one.
func fuzzLen(k int, wrong bool) int {
	if wrong {
		return k + 1
	}
	return k
}

// FuzzSolve drives Solve (and Gradient on its result) with the pendulum or
// a linear model over small horizons, arbitrary initial states, parameters,
// bounds and warm starts, including NaN, ±Inf, huge values, wrong lengths,
// T ≤ 0 and inverted bounds. Solve must not panic or hang (MaxIter ≤ 20), any
// error must wrap ErrBadInput, and a result must keep every control within
// its bounds.
//
// model: bit 0 picks the linear model (n=2, m=2) over the pendulum, bit 1
// gives X0 a wrong length. steps: T = steps mod 9, so −8..8. batch: B =
// 1 + batch mod 3. flags: bits 0–1 θ (nil, shared, per example, wrong
// length), bits 2–3 φ likewise, bits 4–5 bounds (length M, length T·M,
// wrong length, ±Inf), bit 6 a warm start U0, bit 7 ExactIter.
func FuzzSolve(f *testing.F) {
	enc, nan, inf := fuzzin.Encode, math.NaN(), math.Inf(1)
	f.Add(uint8(0), int8(5), uint8(0), uint8(0), enc(1, 0, 0.33))
	f.Add(uint8(0), int8(8), uint8(2), uint8(0x55), enc(-0.67, 2.67, 0, -2, -1, -3.67, 3.33, 0.33, 0.17, 0.03, -0.03))
	f.Add(uint8(1), int8(6), uint8(1), uint8(0x40), enc(-1, 0.67, -0.67, 2, -3.33, -3, -2, 3.67))
	f.Add(uint8(0), int8(3), uint8(0), uint8(0), enc(nan, 0, 0))                                             // NaN in x0
	f.Add(uint8(0), int8(0), uint8(0), uint8(0), enc(0))                                                     // T = 0
	f.Add(uint8(0), int8(-3), uint8(0), uint8(0), enc(0))                                                    // T < 0
	f.Add(uint8(0), int8(4), uint8(0), uint8(0x10), enc(0, 0, 0, 1, -1))                                     // inverted per-step bounds
	f.Add(uint8(1), int8(4), uint8(0), uint8(0x30), slices.Concat(enc(1e300, -1e300), []byte{1}, enc(-inf))) // huge x0, ±Inf bounds
	f.Add(uint8(2), int8(4), uint8(0), uint8(0), enc(0, 0, 0))                                               // X0 of the wrong length
	f.Add(uint8(0), int8(4), uint8(0), uint8(0x05), enc(0, 0, 0, -4, -4, inf))                               // odd θ, φ
	f.Add(uint8(0), int8(7), uint8(1), uint8(0xC1), slices.Concat(enc(0.33, 0.17, 2.67, nan, -4, 0, -2, 0.27, 0.03, 0.07, 0.1), []byte{124}))
	f.Fuzz(func(t *testing.T, model uint8, steps int8, batch uint8, flags uint8, data []byte) {
		d := fuzzin.NewReader(data)
		var dyn models.Dynamics
		var cost models.Cost
		if model&1 == 0 {
			task := models.PendulumTask()
			dyn, cost = task.Dynamics, task.Cost
		} else {
			var err error
			dyn, err = models.NewLinear(2, 2, []float64{1, 0.1, 0, 0.95}, []float64{0, 0.1, 0.1, 0})
			if err != nil {
				t.Fatal(err)
			}
			if cost, err = models.NewQuadCost(2, 2, []float64{1, 1, 0.1, 0.1}, []float64{-1, 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
		}
		dm := dyn.Dims()
		n, m, np, nq := dm.N, dm.M, dm.P, cost.Dims().Q
		T := int(steps) % 9
		b := 1 + int(batch)%3
		tm := max(T, 1) * m

		in := Inputs{X0: d.Floats(fuzzLen(b*n, model&2 != 0))}
		in.Theta = fuzzParams(d, flags, np, b)
		in.Phi = fuzzParams(d, flags>>2, nq, b)
		var lo, hi []float64
		switch flags >> 4 & 3 {
		case 0:
			lo, hi = d.Floats(m), d.Floats(m)
		case 1:
			lo, hi = d.Floats(tm), d.Floats(tm)
		case 2:
			lo, hi = d.Floats(m+1), d.Floats(m)
		case 3:
			lo, hi = make([]float64, m), make([]float64, m)
			for j := range m {
				lo[j], hi[j] = math.Inf(-1), math.Inf(1)
			}
		}
		if flags&0x40 != 0 {
			in.U0 = d.Floats(fuzzLen(b*tm, d.Byte() == 1))
		}
		prob := Problem{Task: models.Task{Dynamics: dyn, Cost: cost, Lower: lo, Upper: hi}, T: T}
		set := &Settings{MaxIter: 1 + int(d.Byte())%20, ExactIter: flags&0x80 != 0, Workers: 1}

		r, err := Solve(prob, in, set)
		if err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error does not wrap ErrBadInput: %v", err)
			}
			if r != nil {
				t.Fatalf("result returned with error %v", err)
			}
			return
		}
		if r.B != b || r.T != T || len(r.U) != b*T*m || len(r.X) != b*T*n || len(r.Status) != b {
			t.Fatalf("result shape B=%d T=%d len(U)=%d len(X)=%d, want B=%d T=%d", r.B, r.T, len(r.U), len(r.X), b, T)
		}
		flo, fhi := fullBounds(lo, T, m), fullBounds(hi, T, m)
		for e := range b {
			for i := range T * m {
				if u := r.U[e*T*m+i]; !(flo[i] <= u && u <= fhi[i]) {
					t.Fatalf("example %d: u[%d] = %v outside [%v, %v]", e, i, u, flo[i], fhi[i])
				}
			}
			if r.Iterations[e] > set.MaxIter {
				t.Fatalf("example %d: %d iterations > MaxIter %d", e, r.Iterations[e], set.MaxIter)
			}
		}
		// The gradient of a loss through the result, for every policy and
		// mode: never a panic, no error for valid input.
		sv, err := NewSolver(prob, set)
		if err != nil {
			t.Fatalf("NewSolver failed after Solve succeeded: %v", err)
		}
		dX, dU := d.Floats(b*T*n), d.Floats(b*T*m)
		for i := range dX {
			if math.IsNaN(dX[i]) || math.IsInf(dX[i], 0) {
				dX[i] = 1
			}
		}
		for i := range dU {
			if math.IsNaN(dU[i]) || math.IsInf(dU[i], 0) {
				dU[i] = -1
			}
		}
		var g Grads
		for _, opt := range []GradOptions{{}, {Mode: FixedPoint, Unconverged: GradientAnyway}, {Unconverged: GradientAnyway}} {
			if err := sv.Gradient(&g, r, in, dX, dU, opt); err != nil {
				t.Fatalf("Gradient(%+v): %v", opt, err)
			}
		}
	})
}
