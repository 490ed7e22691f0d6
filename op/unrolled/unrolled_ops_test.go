package unrolled

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opCase is one application of an Op of this package to fixed inputs.
type opCase struct {
	name   string
	op     G.Op
	shapes [][]int
	vals   [][]float64
	diff   []bool // inputs to differentiate (the others are not differentiable)
	// extra, when set, adds Σ sin(input 0) to the loss: a second consumer
	// of input 0, which Gorgonia's own reshapeOp.DoDiff gets wrong.
	extra bool
}

// opLoss builds L = Σ w⊙op(inputs) (+ Σ sin(input 0)) and returns the
// input nodes and the loss.
func opLoss(t *testing.T, c opCase, g *G.ExprGraph) (G.Nodes, *G.Node, []float64) {
	t.Helper()
	in := make(G.Nodes, len(c.vals))
	for i, v := range c.vals {
		in[i] = G.NewTensor(g, tensor.Float64, len(c.shapes[i]), G.WithShape(c.shapes[i]...),
			G.WithName(fmt.Sprintf("in%d", i)), G.WithValue(denseOf(c.shapes[i], v)))
	}
	out, err := G.ApplyOp(c.op, in...)
	if err != nil {
		t.Fatalf("%s: ApplyOp: %v", c.name, err)
	}
	w := lossWeights(out.Shape().TotalSize(), 11)
	wn := G.NewConstant(denseOf(out.Shape(), w), G.WithName("w"))
	flat := G.Must(G.Reshape(G.Must(G.HadamardProd(out, wn)), tensor.Shape{len(w)}))
	loss := G.Must(G.Sum(flat))
	if c.extra {
		s := G.Must(G.Sin(in[0]))
		loss = G.Must(G.Add(loss, G.Must(G.Sum(G.Must(G.Reshape(s, tensor.Shape{s.Shape().TotalSize()}))))))
	}
	return in, loss, w
}

// opFD returns central differences of the loss of c in its inputs,
// evaluating the Op's Do directly.
func opFD(t *testing.T, c opCase, w []float64) [][]float64 {
	t.Helper()
	loss := func(vals [][]float64) float64 {
		args := make([]G.Value, len(vals))
		for i, v := range vals {
			args[i] = denseOf(c.shapes[i], v)
		}
		out, err := c.op.Do(args...)
		if err != nil {
			t.Fatalf("%s: Do: %v", c.name, err)
		}
		var l float64
		for i, v := range out.Data().([]float64) {
			l += w[i] * v
		}
		if c.extra {
			for _, v := range vals[0] {
				l += math.Sin(v)
			}
		}
		return l
	}
	res := make([][]float64, len(c.vals))
	for i := range c.vals {
		if !c.diff[i] {
			continue
		}
		res[i] = make([]float64, len(c.vals[i]))
		for j := range c.vals[i] {
			vals := make([][]float64, len(c.vals))
			for k := range vals {
				vals[k] = append([]float64(nil), c.vals[k]...)
			}
			const h = 1e-6
			vals[i][j] = c.vals[i][j] + h
			lp := loss(vals)
			vals[i][j] = c.vals[i][j] - h
			lm := loss(vals)
			res[i][j] = (lp - lm) / (2 * h)
		}
	}
	return res
}

func opCases() []opCase {
	seq := func(n int, a, b float64) []float64 { // n values spread over (a, b)
		v := make([]float64, n)
		for i := range v {
			v[i] = a + (b-a)*(float64(i)+0.5)/float64(n) + 0.01*math.Sin(float64(7*i))
		}
		return v
	}
	return []opCase{
		{name: "clamp", op: newClampOp(-1, 1.5), shapes: [][]int{{3, 4}},
			vals: [][]float64{seq(12, -2, 2.5)}, diff: []bool{true}},
		{name: "maskmul column", op: newMaskMulOp(-1, 1.5), shapes: [][]int{{3, 1}, {3, 4}},
			vals: [][]float64{{-2, 0.5, 2}, seq(12, -1, 1)}, diff: []bool{false, true}},
		{name: "maskmul same shape", op: newMaskMulOp(-1, 1.5), shapes: [][]int{{2, 1, 3}, {2, 1, 3}},
			vals: [][]float64{seq(6, -2, 2.5), seq(6, -1, 1)}, diff: []bool{false, true}},
		{name: "atan2 all quadrants", op: newAtan2Op(), shapes: [][]int{{2, 4}, {2, 4}},
			vals: [][]float64{{1, 1, -1, -1, 0.3, -0.2, 2, -0.5}, {1, -1, 1, -1, -0.9, -0.9, 0.1, 3}}, diff: []bool{true, true}},
		{name: "rowscale", op: newRowScaleOp(), shapes: [][]int{{3, 1}, {3, 4}},
			vals: [][]float64{{0.5, -2, 3}, seq(12, -1, 1)}, diff: []bool{true, true}},
		{name: "rowscale rank 3", op: newRowScaleOp(), shapes: [][]int{{2, 1, 1}, {2, 1, 3}},
			vals: [][]float64{{0.5, -2}, seq(6, -1, 1)}, diff: []bool{true, true}},
		{name: "rowdot", op: newRowDotOp(), shapes: [][]int{{3, 4}, {3, 4}},
			vals: [][]float64{seq(12, -1, 2), seq(12, -2, 1)}, diff: []bool{true, true}},
		{name: "reshape with second consumer", op: newReshapeOp(tensor.Shape{3, 4}, tensor.Shape{2, 1, 6}),
			shapes: [][]int{{3, 4}}, vals: [][]float64{seq(12, -1, 1)}, diff: []bool{true}, extra: true},
		{name: "concat axis 0", op: newConcatOp(0, 2, 2), shapes: [][]int{{1, 3}, {2, 3}},
			vals: [][]float64{seq(3, -1, 1), seq(6, 0, 2)}, diff: []bool{true, true}, extra: true},
		{name: "concat axis 1", op: newConcatOp(1, 2, 3), shapes: [][]int{{2, 1}, {2, 3}, {2, 2}},
			vals: [][]float64{seq(2, -1, 1), seq(6, 0, 2), seq(4, -3, 0)}, diff: []bool{true, true, true}, extra: true},
		{name: "concat axis 2", op: newConcatOp(2, 3, 2), shapes: [][]int{{2, 1, 3}, {2, 1, 1}},
			vals: [][]float64{seq(6, -1, 1), seq(2, 0, 2)}, diff: []bool{true, true}},
		{name: "slice axis 1", op: newSliceOp(axisRange{1, 1, 3, tensor.Shape{2, 4, 2}}), shapes: [][]int{{2, 4, 2}},
			vals: [][]float64{seq(16, -1, 1)}, diff: []bool{true}, extra: true},
		{name: "embed axis 2", op: newEmbedOp(axisRange{2, 1, 2, tensor.Shape{2, 1, 3}}), shapes: [][]int{{2, 1, 1}},
			vals: [][]float64{{0.3, -0.7}}, diff: []bool{true}},
		{name: "tie", op: newTieOp(3), shapes: [][]int{{2, 3}, {4}, {1, 2}},
			vals: [][]float64{seq(6, -1, 1), seq(4, -1, 1), {math.Inf(1), math.NaN()}}, diff: []bool{true, true, true}, extra: true},
		{name: "zeroslike", op: newZerosLikeOp(), shapes: [][]int{{2, 3}},
			vals: [][]float64{seq(6, -1, 1)}, diff: []bool{true}, extra: true},
	}
}

// TestOpsGradients: each Op's SymDiff (TapeMachine) and DoDiff
// (LispMachine) match central differences of its Do.
func TestOpsGradients(t *testing.T) {
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			var grads [2][][]float64
			for lisp := range 2 {
				g := G.NewGraph()
				in, loss, _ := opLoss(t, c, g)
				var wrt G.Nodes
				for i, d := range c.diff {
					if d {
						wrt = append(wrt, in[i])
					}
				}
				var vm G.VM
				if lisp == 1 {
					vm = G.NewLispMachine(g)
				} else {
					if _, err := G.Grad(loss, wrt...); err != nil {
						t.Fatalf("Grad: %v", err)
					}
					vm = G.NewTapeMachine(g)
				}
				if err := vm.RunAll(); err != nil {
					t.Fatalf("lisp=%d: %v", lisp, err)
				}
				vm.Close()
				grads[lisp] = make([][]float64, len(in))
				for i, d := range c.diff {
					if !d {
						continue
					}
					v, err := in[i].Grad()
					if err != nil {
						t.Fatalf("input %d: %v", i, err)
					}
					grads[lisp][i] = copyValue(v)
				}
			}
			_, _, w := opLoss(t, c, G.NewGraph())
			fd := opFD(t, c, w)
			for i, d := range c.diff {
				if !d {
					continue
				}
				if e := relErr(grads[0][i], fd[i]); e > 1e-8 {
					t.Errorf("input %d: SymDiff vs central differences: relative error %.2e\n got  %v\n want %v", i, e, grads[0][i], fd[i])
				}
				if e := relErr(grads[1][i], grads[0][i]); e > 1e-14 {
					t.Errorf("input %d: DoDiff vs SymDiff: relative error %.2e\n lisp %v\n tape %v", i, e, grads[1][i], grads[0][i])
				}
			}
		})
	}
}

// TestClampDerivativeAtBounds: the clamp's derivative is 1 on the
// closed interval, bounds included, and 0 outside, in both machines.
func TestClampDerivativeAtBounds(t *testing.T) {
	x := []float64{-1.5, -1, 0, 1.5, 2}
	want := []float64{0, 1, 1, 1, 0}
	for lisp := range 2 {
		g := G.NewGraph()
		in := G.Nodes{G.NewTensor(g, tensor.Float64, 2, G.WithShape(1, 5), G.WithName("x"), G.WithValue(denseOf([]int{1, 5}, x)))}
		out, err := G.ApplyOp(newClampOp(-1, 1.5), in[0])
		if err != nil {
			t.Fatal(err)
		}
		loss := G.Must(G.Sum(G.Must(G.Reshape(out, tensor.Shape{5}))))
		var vm G.VM = G.NewLispMachine(g)
		if lisp == 0 {
			if _, err := G.Grad(loss, in[0]); err != nil {
				t.Fatal(err)
			}
			vm = G.NewTapeMachine(g)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		v, err := in[0].Grad()
		if err != nil {
			t.Fatal(err)
		}
		for i, gv := range v.Data().([]float64) {
			if gv != want[i] {
				t.Errorf("lisp=%d: d clamp/dx at %g = %g, want %g", lisp, x[i], gv, want[i])
			}
		}
	}
}

// fakeDim is a DimSizer that is not a tensor.Shape.
type fakeDim struct{}

func (fakeDim) DimSize(int) (int, error) { return 1, nil }

// noPanic runs f and fails the test if it panics or returns no error.
func noPanic(t *testing.T, what string, f func() error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	if err := f(); err == nil {
		t.Errorf("%s: no error", what)
	}
}

// TestOpsBadInput: bad values, shapes, arities and gradient
// contexts give errors from every method, never panics.
func TestOpsBadInput(t *testing.T) {
	f32 := tensor.New(tensor.WithShape(2, 1), tensor.WithBacking([]float32{1, 2}))
	scalar := G.NewF64(1)
	d := func(s ...int) *tensor.Dense { return tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float64)) }
	ops := []struct {
		op   G.Op
		good []G.Value
		bad  [][]G.Value
	}{
		{newClampOp(-1, 1), []G.Value{d(2, 1)},
			[][]G.Value{{}, {scalar}, {f32}, {nil}, {d(2, 1), d(2, 1)}}},
		{newMaskMulOp(-1, 1), []G.Value{d(2, 1), d(2, 3)},
			[][]G.Value{{d(2, 1)}, {d(3, 1), d(2, 3)}, {d(2, 2), d(2, 3)}, {scalar, d(2, 3)}, {d(2, 1), f32}}},
		{newAtan2Op(), []G.Value{d(2, 3), d(2, 3)},
			[][]G.Value{{d(2, 3)}, {d(2, 3), d(3, 2)}, {d(2, 3), d(2, 3, 1)}, {nil, d(2, 3)}}},
		{newRowScaleOp(), []G.Value{d(2, 1), d(2, 3)},
			[][]G.Value{{d(2, 3), d(2, 3)}, {d(3, 1), d(2, 3)}, {d(2), d(2, 3)}, {f32, d(2, 3)}}},
		{newRowDotOp(), []G.Value{d(2, 3), d(2, 3)},
			[][]G.Value{{d(2, 3), d(2, 4)}, {d(2, 3)}, {scalar, scalar}}},
		{newReshapeOp(tensor.Shape{2, 3}, tensor.Shape{3, 2}), []G.Value{d(2, 3)},
			[][]G.Value{{d(3, 2)}, {d(6)}, {scalar}, {}}},
		{newConcatOp(1, 2, 2), []G.Value{d(2, 1), d(2, 3)},
			[][]G.Value{{d(2, 1), d(3, 3)}, {d(2, 1)}, {d(2, 1), d(2, 3, 1)}, {d(2, 1), nil}}},
		{newSliceOp(axisRange{1, 1, 3, tensor.Shape{2, 4}}), []G.Value{d(2, 4)},
			[][]G.Value{{d(2, 3)}, {d(4, 2)}, {scalar}}},
		{newEmbedOp(axisRange{1, 1, 3, tensor.Shape{2, 4}}), []G.Value{d(2, 2)},
			[][]G.Value{{d(2, 4)}, {d(2, 3)}, {f32}}},
		{newTieOp(2), []G.Value{d(2, 3), d(4)},
			[][]G.Value{{}, {d(2, 3)}, {scalar, d(4)}, {f32, d(4)}, {nil, d(4)}}},
		{newZerosLikeOp(), []G.Value{d(2, 3)},
			[][]G.Value{{}, {scalar}, {f32}, {nil}, {d(2, 3), d(2, 3)}}},
	}
	for _, o := range ops {
		t.Run(o.op.String(), func(t *testing.T) {
			if _, err := o.op.Do(o.good...); err != nil {
				t.Fatalf("good input: %v", err)
			}
			for i, vals := range o.bad {
				noPanic(t, fmt.Sprintf("Do(bad %d)", i), func() error {
					_, err := o.op.Do(vals...)
					if err != nil && !errors.Is(err, ilqr.ErrBadInput) {
						t.Errorf("Do(bad %d): %v does not wrap ilqr.ErrBadInput", i, err)
					}
					return err
				})
				ds := make([]G.DimSizer, len(vals))
				shapesKnown := true
				for j, v := range vals {
					if v == nil {
						shapesKnown = false
						continue
					}
					ds[j] = v.Shape()
				}
				if shapesKnown && !isScalarCase(vals) && !isDtypeCase(vals) {
					noPanic(t, fmt.Sprintf("InferShape(bad %d)", i), func() error { _, err := o.op.InferShape(ds...); return err })
				}
			}
			fake := make([]G.DimSizer, len(o.good))
			for j := range fake {
				fake[j] = fakeDim{}
			}
			noPanic(t, "InferShape(non-shape)", func() error { _, err := o.op.InferShape(fake...); return err })
			if sd, ok := o.op.(G.SDOp); ok {
				noPanic(t, "SymDiff(no inputs)", func() error { _, err := sd.SymDiff(nil, nil, nil); return err })
			}
			if ad, ok := o.op.(G.ADOp); ok {
				// Nodes with values but no gradients (never run by a VM).
				g := G.NewGraph()
				in := make(G.Nodes, len(o.good))
				for j, v := range o.good {
					in[j] = G.NewTensor(g, tensor.Float64, v.Shape().Dims(), G.WithShape(v.Shape()...),
						G.WithName(fmt.Sprintf("in%d", j)), G.WithValue(v))
				}
				out, err := G.ApplyOp(o.op, in...)
				if err != nil {
					t.Fatal(err)
				}
				noPanic(t, "DoDiff(no gradients)", func() error { return ad.DoDiff(G.ExecutionContext{}, in, out) })
				noPanic(t, "DoDiff(no inputs)", func() error { return ad.DoDiff(G.ExecutionContext{}, nil, nil) })
			}
		})
	}
	noPanic(t, "clamp with NaN bound", func() error { _, err := newClampOp(math.NaN(), 1).Do(d(2, 1)); return err })
	noPanic(t, "clamp with lo > hi", func() error {
		_, err := newClampOp(2, 1).InferShape(tensor.Shape{2, 1})
		return err
	})
	noPanic(t, "clamp of NaN", func() error {
		_, err := newClampOp(-1, 1).Do(tensor.New(tensor.WithShape(1, 1), tensor.WithBacking([]float64{math.NaN()})))
		return err
	})
}

func isScalarCase(vals []G.Value) bool {
	for _, v := range vals {
		if _, ok := v.(*G.F64); ok {
			return true
		}
	}
	return false
}

func isDtypeCase(vals []G.Value) bool {
	for _, v := range vals {
		if v != nil && v.Dtype() != tensor.Float64 {
			return true
		}
	}
	return false
}

// scalarFunc exercises every models.Scalar method, mixing constants
// and variables, on three inputs.
func scalarFunc[T models.Scalar[T]](out, in []T) {
	x, y, z := in[0], in[1], in[2]
	var zero T
	two := zero.Const(2)
	a := x.Mul(y).Add(z.Sub(x)).Div(y.AddC(3))                // node ∘ node
	b := two.Sub(x).Mul(two).Div(two).Add(two)                // const on the left
	c := two.Div(y.AddC(2.5)).Add(x.Neg().MulC(0.5))          // c / x
	d := x.Mul(x).AddC(0.5).Sqrt().Add(y.Exp()).Sub(z.Tanh()) // √, exp, tanh
	e := y.Atan2(x).Add(two.Atan2(z.AddC(3))).Add(x.Atan2(two))
	f := x.MulC(4).Clamp(-1, 1).Add(y.Sin().Mul(z.Cos()))
	g := zero.Const(0.25).Mul(two).Add(x.Sub(zero.Const(two.Value() - 0.5))) // Value of a constant
	out[0], out[1], out[2], out[3], out[4], out[5], out[6] = a, b, c, d, e, f, g
}

// TestGraphScalar: the values and forward-mode derivatives that
// GraphScalar builds into a graph equal models.Dual's, and its constant
// arithmetic equals models.Float's exactly.
func TestGraphScalar(t *testing.T) {
	pts := [][]float64{{0.3, -0.4, 0.2}, {-0.9, 1.2, -0.7}, {0.1, 0.05, 1.5}} // rows; the clamp is off its kinks
	const nin, nout, k = 3, 7, 3
	rows := len(pts)
	b := &builder{g: G.NewGraph(), k: k, consts: make(map[string]*G.Node)}
	in := make([]GraphScalar, nin)
	for j := range nin {
		v := make([]float64, rows)
		for r := range rows {
			v[r] = pts[r][j]
		}
		vn := G.NewTensor(b.g, tensor.Float64, 3, G.WithShape(rows, 1, 1), G.WithName(fmt.Sprintf("x%d", j)),
			G.WithValue(denseOf([]int{rows, 1, 1}, v)))
		seed := b.constTensor(fmt.Sprintf("seed%d", j), tensor.Shape{rows, 1, k}, func(_, c int) float64 { return b01(c == j) })
		in[j] = leafScalar(b, vn, seed, rows)
	}
	out := make([]GraphScalar, nout)
	scalarFunc(out, in)
	vals := make([]G.Value, nout)
	ders := make([]G.Value, nout)
	vn := make([]*G.Node, nout)
	dn := make([]*G.Node, nout)
	for i, s := range out {
		vn[i], dn[i] = b.value(s, rows), b.deriv(s, rows)
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	for i := range out {
		G.Read(vn[i], &vals[i])
		G.Read(dn[i], &ders[i])
	}
	vm := G.NewTapeMachine(b.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for r, p := range pts {
		// Dual numbers, one direction at a time.
		for j := range k {
			din := make([]models.Dual, nin)
			for q := range nin {
				din[q] = models.Dual{Real: p[q], Emag: b01(q == j)}
			}
			dout := make([]models.Dual, nout)
			scalarFunc(dout, din)
			for i := range nout {
				gv := vals[i].Data().([]float64)[r]
				gd := ders[i].Data().([]float64)[r*k+j]
				if math.Abs(gv-dout[i].Real) > 1e-14*(1+math.Abs(gv)) {
					t.Errorf("row %d out %d: value %v, dual %v", r, i, gv, dout[i].Real)
				}
				if math.Abs(gd-dout[i].Emag) > 1e-13*(1+math.Abs(gd)) {
					t.Errorf("row %d out %d d/dx%d: graph %v, dual %v", r, i, j, gd, dout[i].Emag)
				}
			}
		}
		// Constants: plain float64 arithmetic, bitwise equal to Float.
		cin, fin := make([]GraphScalar, nin), make([]models.Float, nin)
		for q := range nin {
			cin[q], fin[q] = GraphScalar{}.Const(p[q]), models.Float(p[q])
		}
		cout, fout := make([]GraphScalar, nout), make([]models.Float, nout)
		scalarFunc(cout, cin)
		scalarFunc(fout, fin)
		for i := range nout {
			if cout[i].Value() != float64(fout[i]) {
				t.Errorf("row %d out %d: constant %v, Float %v", r, i, cout[i].Value(), fout[i])
			}
		}
	}
	if !math.IsNaN(in[0].Value()) {
		t.Errorf("Value of a node-valued GraphScalar = %v, want NaN", in[0].Value())
	}
}

// TestDistinctHashes: every node Build adds has a 32-bit hash
// that no other node of the graph has (so the TapeMachine's hash-keyed
// elimination cannot alias two of them), and nodeHash predicts
// Gorgonia's node hash exactly.
func TestDistinctHashes(t *testing.T) {
	for _, iters := range []int{0, 1, 5} {
		c := uprightCase(10).perExample()
		bs, n, _, p, q := c.dims()
		g := G.NewGraph()
		x0 := G.NewTensor(g, tensor.Float64, 2, G.WithShape(bs, n), G.WithName("x0"))
		th := G.NewTensor(g, tensor.Float64, 2, G.WithShape(bs, p), G.WithName("theta"))
		ph := G.NewTensor(g, tensor.Float64, 2, G.WithShape(bs, q), G.WithName("phi"))
		// Some unrelated nodes already in the graph.
		G.Must(G.Sin(G.Must(G.Add(x0, x0))))
		b, err := newBuilder(x0, th, ph, Config{Problem: c.problem(), Step: c.step, Iters: iters})
		if err != nil {
			t.Fatal(err)
		}
		b.build()
		if b.err != nil {
			t.Fatal(b.err)
		}
		if dup := HashCollisions(g); len(dup) > 0 {
			t.Errorf("iters=%d: %d nodes share a hash, e.g. %v", iters, len(dup), dup[0])
		}
		if b.hashMisses != 0 {
			t.Errorf("iters=%d: nodeHash mispredicted %d node hashes", iters, b.hashMisses)
		}
	}
}

// TestHashCollisionTape documents the hazard HashCollisions
// detects: two different nodes made to share a 32-bit hash (by searching
// salts) are one value to Gorgonia's TapeMachine, while the LispMachine
// computes both.
func TestHashCollisionTape(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 2, G.WithShape(1, 3), G.WithName("x"),
		G.WithValue(denseOf([]int{1, 3}, []float64{-3, 0.5, 3})))
	typ := G.TensorType{Dims: 2, Of: tensor.Float64}
	shape := tensor.Shape{1, 3}
	op1, op2 := newClampOp(-1, 1), newClampOp(-2, 2)
	// Birthday search: salts s1, s2 with equal node hashes.
	// Full 64-bit salts: FNV-1a mixes the few varying bytes of small
	// sequential salts too weakly for the search.
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[uint32]uint64)
	var s1, s2 uint64
	for range 1 << 20 {
		a, b := rng.Uint64(), rng.Uint64()
		seen[nodeHash(saltedOp{Op: op1, salt: a}, typ, shape, []*G.Node{x})] = a
		if prev, ok := seen[nodeHash(saltedOp{Op: op2, salt: b}, typ, shape, []*G.Node{x})]; ok {
			s1, s2 = prev, b
			break
		}
	}
	if s2 == 0 {
		t.Fatal("no colliding salts found")
	}
	y1 := G.Must(G.ApplyOp(saltedOp{Op: op1, salt: s1}, x)) // (−1, 0.5, 1)
	y2 := G.Must(G.ApplyOp(saltedOp{Op: op2, salt: s2}, x)) // (−2, 0.5, 2)
	if y1 == y2 || y1.Hashcode() != y2.Hashcode() {
		t.Fatalf("setup: nodes %p %p, hashes %x %x", y1, y2, y1.Hashcode(), y2.Hashcode())
	}
	if dup := HashCollisions(g); len(dup) != 1 {
		t.Errorf("HashCollisions found %d nodes, want 1", len(dup))
	}
	w := G.NewConstant(denseOf([]int{1, 3}, []float64{1, 2, 4}), G.WithName("w"))
	d := G.Must(G.HadamardProd(G.Must(G.Sub(y2, y1)), w)) // (−1, 0, 1)⊙(1, 2, 4)
	loss := G.Must(G.Sum(G.Must(G.Reshape(d, tensor.Shape{3}))))
	var v G.Value
	G.Read(loss, &v)
	for _, lisp := range []bool{true, false} {
		var vm G.VM = G.NewTapeMachine(g)
		if lisp {
			vm = G.NewLispMachine(g, G.ExecuteFwdOnly())
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		t.Logf("lisp=%t: L = %v (true value 3)", lisp, v)
		if lisp && v.Data().(float64) != 3 {
			t.Errorf("LispMachine: L = %v, want 3", v)
		}
	}
}

// TestOpIdentity pins what the shared opBase gives every Op: the identity
// strings (the hash input, so a change here changes every node hash, and
// Gorgonia's node merging depends on them), FNV-1a hashes of exactly those
// strings, arities, types and differentiable inputs. It also checks that
// Ops differing in any field hash differently, and that an Op made
// without its constructor is rejected by Gorgonia instead of applied.
func TestOpIdentity(t *testing.T) {
	cases := []struct {
		op    G.Op
		id    string
		arity int
		typ   string
		diff  []bool
	}{
		{newClampOp(-1, 1.5), "unrolled.clamp[bff0000000000000,3ff8000000000000](-1,1.5)", 1, "a → a", []bool{true}},
		{newMaskMulOp(-2, 0.25), "unrolled.maskmul[c000000000000000,3fd0000000000000](-2,0.25)", 2, "a → a → a", []bool{false, true}},
		{newAtan2Op(), "unrolled.atan2", 2, "a → a → a", []bool{true, true}},
		{newRowScaleOp(), "unrolled.rowscale", 2, "a → a → a", []bool{true, true}},
		{newRowDotOp(), "unrolled.rowdot", 2, "a → a → a", []bool{true, true}},
		{newReshapeOp(tensor.Shape{3, 4}, tensor.Shape{2, 1, 6}), "unrolled.reshape(3, 4)→(2, 1, 6)", 1,
			"Matrix float64 → Tensor-3 float64", []bool{true}},
		{newConcatOp(1, 2, 3), "unrolled.concat(axis=1,rank=2,n=3)", 3,
			"Matrix float64 → Matrix float64 → Matrix float64 → Matrix float64", []bool{true, true, true}},
		{newSliceOp(axisRange{1, 1, 3, tensor.Shape{2, 4, 2}}), "unrolled.slice(axis=1,1:3,of (2, 4, 2))", 1, "a → a", []bool{true}},
		{newEmbedOp(axisRange{2, 1, 2, tensor.Shape{2, 1, 3}}), "unrolled.embed(axis=2,1:2,in (2, 1, 3))", 1, "a → a", []bool{true}},
		{newTieOp(3), "unrolled.tie(n=3)", 3, "a → c → d → a", []bool{true, true, true}},
		{newZerosLikeOp(), "unrolled.zeroslike", 1, "a → a", []bool{true}},
	}
	for _, c := range cases {
		if got := c.op.String(); got != c.id {
			t.Errorf("String() = %q, want %q", got, c.id)
		}
		h := fnv.New32a()
		h.Write([]byte(c.id))
		var w bytes.Buffer
		c.op.WriteHash(&bufHash{&w})
		if c.op.Hashcode() != h.Sum32() || w.String() != c.id {
			t.Errorf("%s: Hashcode %x, WriteHash %q; want the FNV-1a hash %x of the identity", c.id, c.op.Hashcode(), w.String(), h.Sum32())
		}
		if c.op.Arity() != c.arity || c.op.Type().String() != c.typ {
			t.Errorf("%s: arity %d, type %v; want %d, %s", c.id, c.op.Arity(), c.op.Type(), c.arity, c.typ)
		}
		if d := c.op.(G.SDOp).DiffWRT(c.arity); fmt.Sprint(d) != fmt.Sprint(c.diff) {
			t.Errorf("%s: DiffWRT %v, want %v", c.id, d, c.diff)
		}
		if c.op.ReturnsPtr() || c.op.CallsExtern() || c.op.OverwritesInput() != -1 {
			t.Errorf("%s: ReturnsPtr, CallsExtern, OverwritesInput = %t, %t, %d", c.id,
				c.op.ReturnsPtr(), c.op.CallsExtern(), c.op.OverwritesInput())
		}
	}
	// Every field is part of the identity.
	variants := []G.Op{
		newClampOp(-1, 1), newClampOp(-1, 2), newClampOp(0, 1), newClampOp(math.Copysign(0, -1), 1), newClampOp(0, math.Nextafter(1, 2)),
		newMaskMulOp(-1, 1),
		newReshapeOp(tensor.Shape{2, 3}, tensor.Shape{3, 2}), newReshapeOp(tensor.Shape{2, 3}, tensor.Shape{6, 1}),
		newConcatOp(0, 2, 2), newConcatOp(1, 2, 2), newConcatOp(0, 3, 2), newConcatOp(0, 2, 3),
		newSliceOp(axisRange{0, 0, 1, tensor.Shape{2, 2}}), newSliceOp(axisRange{1, 0, 1, tensor.Shape{2, 2}}),
		newSliceOp(axisRange{0, 1, 2, tensor.Shape{2, 2}}), newSliceOp(axisRange{0, 0, 2, tensor.Shape{2, 2}}),
		newSliceOp(axisRange{0, 0, 1, tensor.Shape{2, 3}}), newEmbedOp(axisRange{0, 0, 1, tensor.Shape{2, 2}}),
	}
	seen := make(map[uint32]string)
	for _, op := range variants {
		if prev, ok := seen[op.Hashcode()]; ok {
			t.Errorf("%v and %s hash equal", op, prev)
		}
		seen[op.Hashcode()] = op.String()
	}
	// A zero Op (no constructor) must not enter a graph.
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("x"))
	noPanic(t, "applying a zero clampOp", func() error {
		_, err := G.ApplyOp(clampOp{}, x)
		return err
	})
}

// bufHash is a hash.Hash that records what is written to it.
type bufHash struct{ *bytes.Buffer }

func (bufHash) Sum([]byte) []byte { return nil }
func (bufHash) Size() int         { return 0 }
func (bufHash) BlockSize() int    { return 1 }
