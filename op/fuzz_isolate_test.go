package op

// FuzzOpIsolate checks the promise of ilqr.Settings.IsolateNonFinite at
// the Op: whatever values x0, θ and φ hold (NaN, ±Inf, 1e300, raw bit
// patterns), with shapes as the Op wants them and any batch size from 1
// to 5, Do and the backward Op return without an error, their outputs are
// finite, an example with a non-finite input is held at x0 (non-finite
// entries as 0) with zero controls, status NonFinite and zero gradients,
// and every other example gets, bit for bit, the trajectory, status and
// gradients it gets when solved alone.
//
//	go test -run XXX -fuzz FuzzOpIsolate -fuzztime 60s ./op/

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fuzzin"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// isolateConfig is fuzzOpConfig(sel) with IsolateNonFinite set.
func isolateConfig(sel uint8) OpConfig {
	cfg := fuzzOpConfig(sel)
	set := *cfg.Solver.Settings
	set.IsolateNonFinite = true
	cfg.Solver.Settings = &set
	return cfg
}

// isolateRun is one forward and backward pass of a fresh Op.
type isolateRun struct {
	out, grad []float64
	status    []ilqr.Status
	gradStat  []ilqr.GradStatus
}

// runIsolated runs a fresh Op for the batch b on the inputs (x0, θ, φ)
// forward, then backward with the output gradient dout. A fresh Op each
// time: a warm-started Op's first run is cold, like the run alone.
func runIsolated(cfg OpConfig, b Batch, x0, theta, phi, dout []float64) (*isolateRun, error) {
	op, err := NewILQROp(cfg, b)
	if err != nil {
		return nil, fmt.Errorf("valid configuration refused: %w", err)
	}
	sh := op.inputShapes()
	vals := []G.Value{denseOf(x0, sh[0]), denseOf(theta, sh[1]), denseOf(phi, sh[2])}
	out, err := op.Do(vals...)
	if err != nil {
		return nil, fmt.Errorf("Do: %w", err)
	}
	outData := slices.Clone(out.Data().([]float64))
	d := tensor.New(tensor.WithShape(out.Shape()...), tensor.WithBacking(slices.Clone(dout)))
	g, err := (&ilqrGradOp{op}).Do(append(vals, out, d)...)
	if err != nil {
		return nil, fmt.Errorf("backward Do: %w", err)
	}
	st := op.Stats()
	return &isolateRun{out: outData, grad: slices.Clone(g.Data().([]float64)), status: st.Status, gradStat: st.GradStatus}, nil
}

func denseOf(v []float64, shape tensor.Shape) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(slices.Clone(v)))
}

// row returns row e of a (B, k) input, or the input itself when shared.
func row(v []float64, e, k int, shared bool) []float64 {
	if shared {
		return v
	}
	return v[e*k : (e+1)*k]
}

func FuzzOpIsolate(f *testing.F) {
	// The seeds are spliced value by value (Encode's lengths vary: an
	// inexact value takes nine bytes).
	x0 := []float64{0.955, 0.295, 0.1, 0.878, -0.479, 0, 1, 0, -0.5}
	th := []float64{10, 1, 1}
	phi := []float64{1, 1, 0.1, 0.001, -1, 0, 0, 0}
	enc := func(v ...[]float64) []byte { return fuzzin.Encode(slices.Concat(v...)...) }
	nan, inf := math.NaN(), math.Inf(1)
	// Pendulum, B=3, shared θ and φ: clean, then NaN, +Inf, 1e300 and a
	// NaN bit pattern (raw bytes) in example 1's first entry of x0.
	raw := []byte{0xf9, 0x7f, 0xf0, 0, 0, 0, 0, 0, 1}
	f.Add(uint8(0), uint8(2), uint8(3), enc(x0, th, phi))
	for _, bad := range [][]byte{fuzzin.Encode(nan), fuzzin.Encode(inf), fuzzin.Encode(1e300), raw} {
		f.Add(uint8(0), uint8(2), uint8(3), slices.Concat(enc(x0[:3]), bad, enc(x0[4:], th, phi)))
	}
	// Per-example θ and φ, B=2: −Inf in example 0's θ, NaN in example 1's φ.
	f.Add(uint8(0), uint8(1), uint8(0), enc(x0[:6], []float64{-inf}, th[1:], th, phi, phi[:3], []float64{nan}, phi[4:]))
	// A shared non-finite θ: every example is isolated.
	f.Add(uint8(0), uint8(4), uint8(3), enc(x0, x0[:6], []float64{nan}, th[1:], phi)) // B=5
	// θ outside the model's domain (a zero mass), per example, B=2.
	f.Add(uint8(0), uint8(1), uint8(0), enc(x0[:6], th, []float64{10, 0, 1}, phi, phi))
	// Warm-started pendulum, linear model, cart-pole with a huge state.
	f.Add(uint8(1), uint8(0), uint8(3), enc(x0[:3], th, phi))
	f.Add(uint8(2), uint8(2), uint8(3), enc([]float64{1, 0, -1, 0.5, inf, 2}, []float64{1, 0.1, 0, 1, 0, 0.1}, []float64{1, 0.5, 0.1, 0, 0, 0}))
	f.Add(uint8(3), uint8(1), uint8(3), enc([]float64{0, 0, 0.98, 0.2, 0, 1e300, 0, 1, 0, 0},
		[]float64{9.8, 1, 0.1, 0.5}, []float64{0.1, 0.1, 1, 1, 0.1, 0.001, 0, 0, -1, 0, 0, 0}))
	f.Add(uint8(0), uint8(0), uint8(0), []byte{})
	// A NaN among the inputs once made the backward pass rebuild the
	// solution (NaN ≠ NaN) and report another status for a healthy example.
	f.Add(uint8(6), uint8(3), uint8('J'), []byte("000000000\xff000000000000\xfc"))

	f.Fuzz(func(t *testing.T, sel, b, flags uint8, data []byte) {
		cfg := isolateConfig(sel)
		batch := Batch{B: 1 + int(b%5), ThetaShared: flags&1 != 0, PhiShared: flags&2 != 0}
		probe, err := NewILQROp(cfg, batch)
		if err != nil {
			t.Fatalf("valid configuration refused: %v", err)
		}
		sh := probe.inputShapes()
		dims, horizon := probe.solver.Dims(), probe.solver.Horizon()
		n, k, p, q := dims.N, dims.N+dims.M, dims.P, probe.solver.CostParams()
		r := fuzzin.NewReader(data)
		x0, theta, phi := r.Floats(sh[0].TotalSize()), r.Floats(sh[1].TotalSize()), r.Floats(sh[2].TotalSize())
		dout := make([]float64, batch.B*horizon*k)
		for i := range dout {
			dout[i] = float64(i%7)/3 - 1
		}
		got, err := runIsolated(cfg, batch, x0, theta, phi, dout)
		if err != nil {
			t.Fatalf("batch of %d with isolation: %v", batch.B, err)
		}
		if !allFinite(got.out) || !allFinite(got.grad) {
			t.Fatalf("non-finite output or gradient: out %v, grad %v", got.out, got.grad)
		}
		// Offsets of the gradient blocks in the packed (dx0, dθ, dφ).
		offTheta, offPhi := batch.B*n, batch.B*n+sh[1].TotalSize()
		tk := horizon * k
		for e := range batch.B {
			xe := x0[e*n : (e+1)*n]
			te, pe := row(theta, e, p, batch.ThetaShared), row(phi, e, q, batch.PhiShared)
			outE := got.out[e*tk : (e+1)*tk]
			gradX := got.grad[e*n : (e+1)*n]
			if !allFinite(xe) || !allFinite(te) || !allFinite(pe) {
				if got.status[e] != ilqr.NonFinite || got.gradStat[e] != ilqr.GradNonFinite {
					t.Fatalf("example %d has a non-finite input: status %v, gradient %v", e, got.status[e], got.gradStat[e])
				}
				for s := range horizon {
					for j := range k {
						want := 0.0
						if j < n && !math.IsNaN(xe[j]) && !math.IsInf(xe[j], 0) {
							want = xe[j]
						}
						if v := outE[s*k+j]; v != want {
							t.Fatalf("example %d (non-finite input), step %d entry %d: %v, want %v (x0 held, u = 0)", e, s, j, v, want)
						}
					}
				}
				if slices.ContainsFunc(gradX, func(v float64) bool { return v != 0 }) {
					t.Fatalf("example %d (non-finite input): dL/dx0 %v, want zeros", e, gradX)
				}
				continue
			}
			alone, err := runIsolated(cfg, Batch{B: 1, ThetaShared: batch.ThetaShared, PhiShared: batch.PhiShared},
				xe, te, pe, dout[e*tk:(e+1)*tk])
			if err != nil {
				t.Fatalf("example %d alone: %v", e, err)
			}
			if got.status[e] != alone.status[0] || got.gradStat[e] != alone.gradStat[0] {
				t.Fatalf("example %d: status %v/%v in the batch, %v/%v alone", e, got.status[e], got.gradStat[e], alone.status[0], alone.gradStat[0])
			}
			if !sameFloats(outE, alone.out) {
				t.Fatalf("example %d: trajectory in the batch %v, alone %v", e, outE, alone.out)
			}
			same := sameFloats(gradX, alone.grad[:n])
			if !batch.ThetaShared {
				same = same && sameFloats(got.grad[offTheta+e*p:offTheta+(e+1)*p], alone.grad[n:n+p])
			}
			if !batch.PhiShared {
				same = same && sameFloats(got.grad[offPhi+e*q:offPhi+(e+1)*q], alone.grad[n+p:])
			}
			if !same {
				t.Fatalf("example %d: gradients in the batch differ from alone", e)
			}
		}
	})
}

// sameFloats reports whether a and b hold the same bit patterns.
func sameFloats(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}
