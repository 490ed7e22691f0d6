package op

// FuzzOpDo feeds the ILQR Op and its backward Op arbitrary values: odd
// shapes and ranks, NaN and Inf, views, scalars, nil, the wrong dtype and
// the wrong number of inputs. Errors are fine; a panic, a hang, a recovered
// panic (an "internal error", which Do's recover turns into an error but
// which is still a bug) or a NaN entering the graph unreported are not.
//
// It lives in package op to reach the unexported backward Op directly;
// DoDiff, the LispMachine path, is reached with hand-made nodes that carry
// values and gradients.
//
//	go test -run XXX -fuzz FuzzOpDo -fuzztime 60s ./op/

import (
	"math"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fuzzin"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// fuzzOpConfig returns one of a few small configurations (short horizons,
// few iterations, so one execution stays fast).
func fuzzOpConfig(sel uint8) OpConfig {
	set := &ilqr.Settings{MaxIter: 20}
	switch sel % 4 {
	case 0:
		task := models.PendulumTask()
		return OpConfig{Problem: ilqr.Problem{Task: task, T: 4}, Solver: SolverConfig{Settings: set}}
	case 1:
		task := models.PendulumTask()
		return OpConfig{Problem: ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: []float64{-1}, Upper: []float64{1.5}}, T: 3}, Solver: SolverConfig{Settings: set, WarmStart: true, Grad: ilqr.GradOptions{Unconverged: ilqr.GradientAnyway}}}
	case 2:
		dyn, err := models.NewLinear(2, 1, []float64{1, 0.1, 0, 1}, []float64{0, 0.1})
		if err != nil {
			panic(err)
		}
		cost, err := models.NewGoalCost(2, 1, []float64{1, 0.5, 0.1}, []float64{0, 0, 0})
		if err != nil {
			panic(err)
		}
		return OpConfig{Problem: ilqr.Problem{Task: models.Task{Dynamics: dyn, Cost: cost, Lower: []float64{-1}, Upper: []float64{math.Inf(1)}}, T: 3}, Solver: SolverConfig{Settings: set, Grad: ilqr.GradOptions{Mode: ilqr.FixedPoint}}}
	default:
		task := models.CartpoleTask()
		return OpConfig{Problem: ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: []float64{-5}, Upper: []float64{5}}, T: 3}, Solver: SolverConfig{Settings: set}}
	}
}

// fuzzReader reads fuzz bytes as numbers (fuzzin) and as Gorgonia values.
type fuzzReader struct{ *fuzzin.Reader }

// fuzzInput encodes one input for fuzzReader.value: shape selector sel
// (0: as wanted), then the values.
func fuzzInput(sel byte, v ...float64) []byte { return append([]byte{sel}, fuzzin.Encode(v...)...) }

// value makes one input value of roughly the wanted shape: the fuzz bytes
// may change its rank or sizes, make it a view, or replace it with a
// scalar, nil or a float32 tensor.
func (r fuzzReader) value(want tensor.Shape) G.Value {
	shape := want.Clone()
	switch k := r.Byte(); {
	case k < 160: // the wanted shape
	case k < 190: // one size off (possibly to zero)
		if len(shape) > 0 {
			i := int(r.Byte()) % len(shape)
			shape[i] = max(0, shape[i]+int(r.Byte()%3)-1)
		}
	case k < 210: // another rank
		shape = tensor.Shape{1 + int(r.Byte()%4), 1 + int(r.Byte()%4), 1 + int(r.Byte()%3)}[:1+int(k%3)]
	case k < 225:
		return G.NewF64(r.Float())
	case k < 235:
		return nil
	case k < 245:
		n := max(shape.TotalSize(), 1)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, n)))
	default: // a view: a column slice of a wider matrix, needing an iterator
		if len(shape) == 2 && shape[0] > 0 && shape[1] > 0 {
			big := tensor.New(tensor.WithShape(shape[0], shape[1]+2), tensor.WithBacking(r.Floats(shape[0]*(shape[1]+2))))
			v, err := big.Slice(nil, G.S(1, shape[1]+1))
			if err == nil {
				return v.(*tensor.Dense)
			}
		}
	}
	for _, s := range shape {
		if s == 0 {
			// tensor.New cannot make an empty tensor with a shape; an
			// empty backing of the right rank is the closest.
			return tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(shape...))
		}
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(r.Floats(shape.TotalSize())))
}

// fuzzCheckErr fails on errors that stand for a recovered panic.
func fuzzCheckErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "internal error") {
		t.Fatalf("%s: recovered panic: %v", what, err)
	}
}

func FuzzOpDo(f *testing.F) {
	// Seeds: well-formed inputs of every configuration, then NaN, Inf,
	// views, odd shapes and a non-float tensor.
	up := func(th, om float64) []float64 { return []float64{math.Cos(th), math.Sin(th), om} }
	pth := []float64{10, 1, 1}
	pphi := []float64{1, 1, 0.1, 0.001, -1, 0, 0, 0}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	x0 := append(up(0.3, 0.1), up(-0.5, 0)...)
	dout := make([]float64, 2*4*4)
	for i := range dout {
		dout[i] = float64(i%5) - 2
	}
	// Pendulum, B=2, shared θ and φ (flags 3), then per-example (flags 0).
	f.Add(uint8(0), uint8(1), uint8(3), cat(fuzzInput(0, x0...), fuzzInput(0, pth...), fuzzInput(0, pphi...), fuzzin.Encode(dout...)))
	f.Add(uint8(0), uint8(1), uint8(0), cat(fuzzInput(0, x0...), fuzzInput(0, append(pth, 9, 1.2, 0.8)...),
		fuzzInput(0, append(pphi, pphi...)...), fuzzin.Encode(dout...)))
	// The same with NaN in x0, Inf in θ, a view for θ, a float32 φ.
	f.Add(uint8(0), uint8(1), uint8(3), cat([]byte{0, 0xff}, fuzzin.Encode(x0[1:]...), fuzzInput(0, pth...), fuzzInput(0, pphi...)))
	f.Add(uint8(0), uint8(1), uint8(3), cat(fuzzInput(0, x0...), []byte{0, 0xfe}, fuzzin.Encode(1, 1), fuzzInput(0, pphi...)))
	f.Add(uint8(0), uint8(1), uint8(0), cat(fuzzInput(0, x0...), fuzzInput(250, 0, 10, 1, 1, 0, 0, 0, 9, 1, 1, 0), fuzzInput(240)))
	// A wrong size and a wrong rank.
	f.Add(uint8(0), uint8(1), uint8(3), cat([]byte{170, 1, 1}, fuzzin.Encode(x0...), fuzzInput(200, pth...), fuzzInput(0, pphi...)))
	// Warm-started pendulum, linear model, cart-pole.
	f.Add(uint8(1), uint8(0), uint8(3), cat(fuzzInput(0, up(1, 0)...), fuzzInput(0, pth...), fuzzInput(0, pphi...), fuzzin.Encode(dout...)))
	f.Add(uint8(2), uint8(2), uint8(3), cat(fuzzInput(0, 1, 0, -1, 0.5, 0, 2), fuzzInput(0, 1, 0.1, 0, 1, 0, 0.1),
		fuzzInput(0, 1, 0.5, 0.1, 0, 0, 0), fuzzin.Encode(dout...)))
	f.Add(uint8(3), uint8(0), uint8(3), cat(fuzzInput(0, 0, 0, math.Cos(0.2), math.Sin(0.2), 0), fuzzInput(0, 9.8, 1, 0.1, 0.5),
		fuzzInput(0, 0.1, 0.1, 1, 1, 0.1, 0.001, 0, 0, -1, 0, 0, 0), fuzzin.Encode(dout...)))
	// Zero parameters (division by zero in the model) and an empty input.
	f.Add(uint8(0), uint8(2), uint8(0), []byte{})
	// A θ of size zero (found by the fuzzer: the test's own snapshot of the
	// inputs panicked on it).
	f.Add(uint8(0x3d), uint8(0x60), uint8(1), []byte{0xb2})

	f.Fuzz(func(t *testing.T, sel, b, flags uint8, data []byte) {
		cfg := fuzzOpConfig(sel)
		bb := 1 + int(b%3)
		thetaShared, phiShared := flags&1 != 0, flags&2 != 0
		op, err := NewILQROp(cfg, Batch{B: bb, ThetaShared: thetaShared, PhiShared: phiShared})
		if err != nil {
			t.Fatalf("valid config rejected: %v", err)
		}
		_ = op.Type()
		_ = op.String()
		r := fuzzReader{fuzzin.NewReader(data)}
		want := op.inputShapes()
		vals := []G.Value{r.value(want[0]), r.value(want[1]), r.value(want[2])}

		// Shape inference on the (possibly wrong) shapes.
		var ds []G.DimSizer
		for _, v := range vals {
			if v != nil {
				ds = append(ds, v.Shape())
			}
		}
		_, err = op.InferShape(ds...)
		fuzzCheckErr(t, "InferShape", err)

		// The wrong number of inputs.
		_, err = op.Do(vals[:2]...)
		fuzzCheckErr(t, "Do with 2 inputs", err)
		if err == nil {
			t.Fatal("Do accepted 2 inputs")
		}

		// Snapshots of the float64 inputs: no Op method may modify them.
		snap := func() [][]float64 {
			var s [][]float64
			for _, v := range vals {
				// (Data panics on an empty tensor: skip those.)
				if d, ok := v.(*tensor.Dense); ok && d.Dtype() == tensor.Float64 && d.DataSize() > 0 {
					s = append(s, append([]float64(nil), d.Data().([]float64)...))
				}
			}
			return s
		}
		before := snap()
		defer func() {
			after := snap()
			for i := range before {
				for j := range before[i] {
					if math.Float64bits(before[i][j]) != math.Float64bits(after[i][j]) {
						t.Fatalf("input %d modified at %d", i, j)
					}
				}
			}
		}()

		// Two forward runs (the second exercises WarmStart).
		var out G.Value
		for run := 0; run < 2; run++ {
			out, err = op.Do(vals...)
			fuzzCheckErr(t, "Do", err)
			if err != nil {
				return
			}
		}
		d, tt := op.solver.Dims(), op.solver.Horizon()
		k := d.N + d.M
		if !out.Shape().Eq(tensor.Shape{bb, tt, k}) {
			t.Fatalf("output shape %v, want (%d, %d, %d)", out.Shape(), bb, tt, k)
		}
		od := out.Data().([]float64)
		st := op.Stats()
		for i := 0; i < bb; i++ {
			if st.Status[i] == ilqr.Converged && !allFinite(od[i*tt*k:(i+1)*tt*k]) {
				t.Fatalf("example %d converged with a non-finite trajectory", i)
			}
		}

		// Backward on the output just produced and on a perturbed one (which
		// takes the KKT-residual path), with a fuzzed incoming gradient.
		dout := tensor.New(tensor.WithShape(bb, tt, k), tensor.WithBacking(r.Floats(bb*tt*k)))
		other := tensor.New(tensor.WithShape(bb, tt, k), tensor.WithBacking(append([]float64(nil), od...)))
		od2 := other.Data().([]float64)
		for i := range od2 {
			od2[i] += r.Float() * 1e-3
		}
		back := &ilqrGradOp{op}
		_ = back.Type()
		_, err = back.InferShape(tensor.Shape{bb, d.N}, tensor.Shape{1}, tensor.Shape{1}, out.Shape(), out.Shape())
		fuzzCheckErr(t, "backward InferShape", err)
		for _, o := range []G.Value{out, other} {
			g, err := back.Do(vals[0], vals[1], vals[2], o, dout)
			fuzzCheckErr(t, "backward Do", err)
			if err == nil {
				if g.Shape().TotalSize() != back.size() {
					t.Fatalf("backward result size %d, want %d", g.Shape().TotalSize(), back.size())
				}
				if !allFinite(g.Data().([]float64)) {
					t.Fatal("backward returned NaN or Inf without an error")
				}
			}
		}
		_, err = back.Do(vals[0], vals[1], vals[2], out)
		fuzzCheckErr(t, "backward Do with 4 inputs", err)
		if err == nil {
			t.Fatal("backward Do accepted 4 inputs")
		}

		// DoDiff, as the LispMachine calls it, on nodes holding the values
		// and zero gradients.
		graph := G.NewGraph()
		nodes := make(G.Nodes, 3)
		for i, v := range vals {
			dv, ok := v.(*tensor.Dense)
			if !ok || dv.Dtype() != tensor.Float64 || dv.Shape().TotalSize() == 0 {
				return
			}
			if dv.RequiresIterator() {
				dv = dv.Materialize().(*tensor.Dense)
			}
			nodes[i] = G.NewTensor(graph, tensor.Float64, dv.Dims(), G.WithShape(dv.Shape()...),
				G.WithValue(dv), G.WithGrad(tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(dv.Shape()...))))
		}
		outNode := G.NewTensor(graph, tensor.Float64, 3, G.WithShape(bb, tt, k), G.WithValue(out), G.WithGrad(dout))
		err = op.DoDiff(G.ExecutionContext{}, nodes, outNode)
		fuzzCheckErr(t, "DoDiff", err)
		if err == nil {
			for _, n := range nodes {
				gv, err := n.Grad()
				if err != nil {
					t.Fatalf("%s: %v", n.Name(), err)
				}
				if !allFinite(gv.Data().([]float64)) {
					t.Fatal("DoDiff wrote NaN or Inf without an error")
				}
			}
		}
		fuzzCheckErr(t, "DoDiff with 2 inputs", op.DoDiff(G.ExecutionContext{}, nodes[:2], outNode))
	})
}
