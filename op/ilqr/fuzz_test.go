package ilqr

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/dilqr/dilqr/models"
)

// fuzzBytes decodes fuzz input bytes into numbers. Most byte values give a
// moderate number, so the solver does real work; a few give the special
// values that bad input is made of; the last few read 8 raw bytes as a
// float64, reaching every bit pattern.
type fuzzBytes struct{ b []byte }

func (d *fuzzBytes) byte() byte {
	if len(d.b) == 0 {
		return 0
	}
	k := d.b[0]
	d.b = d.b[1:]
	return k
}

func (d *fuzzBytes) float() float64 {
	if len(d.b) == 0 {
		return 0.5
	}
	switch k := d.byte(); {
	case k < 240:
		return (float64(k) - 120) / 30 // in [−4, 4)
	case k == 240:
		return math.NaN()
	case k == 241:
		return math.Inf(1)
	case k == 242:
		return math.Inf(-1)
	case k == 243:
		return 1e300
	case k == 244:
		return -1e300
	case k == 245:
		return 5e-324
	case k == 246:
		return 1e8
	default:
		if len(d.b) < 8 {
			return -0.0
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		return v
	}
}

func (d *fuzzBytes) floats(n int) []float64 {
	v := make([]float64, max(n, 0))
	for i := range v {
		v[i] = d.float()
	}
	return v
}

// params returns, by sel&3, no parameters (the defaults), one row of length
// row shared by the batch, a row per example of b, or a row too long.
func (d *fuzzBytes) params(sel byte, row, b int) []float64 {
	switch sel & 3 {
	case 1:
		return d.floats(row)
	case 2:
		return d.floats(b * row)
	case 3:
		return d.floats(row + 1)
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
	f.Add(uint8(0), int8(5), uint8(0), uint8(0), []byte{150, 120, 130})
	f.Add(uint8(0), int8(8), uint8(2), uint8(0x55), []byte{100, 200, 120, 60, 90, 10, 220, 130, 125, 121, 119})
	f.Add(uint8(1), int8(6), uint8(1), uint8(0x40), []byte{90, 140, 100, 180, 20, 30, 60, 230})
	f.Add(uint8(0), int8(3), uint8(0), uint8(0), []byte{240, 120, 120})               // NaN in x0
	f.Add(uint8(0), int8(0), uint8(0), uint8(0), []byte{120})                         // T = 0
	f.Add(uint8(0), int8(-3), uint8(0), uint8(0), []byte{120})                        // T < 0
	f.Add(uint8(0), int8(4), uint8(0), uint8(0x10), []byte{120, 120, 120, 150, 90})   // inverted per-step bounds
	f.Add(uint8(1), int8(4), uint8(0), uint8(0x30), []byte{243, 244, 241, 242})       // huge x0, ±Inf bounds
	f.Add(uint8(2), int8(4), uint8(0), uint8(0), []byte{120, 120, 120})               // X0 of the wrong length
	f.Add(uint8(0), int8(4), uint8(0), uint8(0x05), []byte{120, 120, 120, 0, 0, 241}) // odd θ, φ
	f.Add(uint8(0), int8(7), uint8(1), uint8(0xC1), []byte{130, 125, 200, 240, 0, 120, 60, 128, 121, 122, 123, 124})
	f.Fuzz(func(t *testing.T, model uint8, steps int8, batch uint8, flags uint8, data []byte) {
		d := &fuzzBytes{data}
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

		in := Inputs{X0: d.floats(fuzzLen(b*n, model&2 != 0))}
		in.Theta = d.params(flags, np, b)
		in.Phi = d.params(flags>>2, nq, b)
		var lo, hi []float64
		switch flags >> 4 & 3 {
		case 0:
			lo, hi = d.floats(m), d.floats(m)
		case 1:
			lo, hi = d.floats(tm), d.floats(tm)
		case 2:
			lo, hi = d.floats(m+1), d.floats(m)
		case 3:
			lo, hi = make([]float64, m), make([]float64, m)
			for j := range m {
				lo[j], hi[j] = math.Inf(-1), math.Inf(1)
			}
		}
		if flags&0x40 != 0 {
			in.U0 = d.floats(fuzzLen(b*tm, d.byte() == 1))
		}
		prob := Problem{Task: models.Task{Dynamics: dyn, Cost: cost, Lower: lo, Upper: hi}, T: T}
		set := &Settings{MaxIter: 1 + int(d.byte())%20, ExactIter: flags&0x80 != 0, Workers: 1}

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
		dX, dU := d.floats(b*T*n), d.floats(b*T*m)
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
