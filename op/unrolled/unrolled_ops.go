package unrolled

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"slices"
	"sync/atomic"

	"github.com/chewxy/hm"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Small elementwise Gorgonia Ops used by Build. Gorgonia has no clamp,
// no atan2 and no broadcast-free "scale each row by a per-row factor", so
// they are written here, each with a symbolic derivative (SymDiff, for Grad
// and the TapeMachine) built from these same Ops or standard ones, and a
// numeric one (DoDiff, for the LispMachine). All take and return float64
// tensors, never panic, and return errors for bad input. "Rows" are all
// leading axes and "columns" the last axis; a column shape is the shape of
// the other operand with last axis 1, e.g. (R,1) beside (R,K) or (B,1,1)
// beside (B,1,N).
//
//	newClampOp(lo,hi)(x)       clamp(x, lo, hi); derivative 1 on [lo, hi], 0 outside
//	newMaskMulOp(lo,hi)(x, g)  g ⊙ 1[lo ≤ x ≤ hi], x a column broadcast over g's
//	                           columns, or shaped like g; not differentiable in x
//	newAtan2Op()(y, x)         atan2(y, x), same shapes
//	newRowScaleOp()(s, d)      s_i·d_ij for a column s and d
//	newRowDotOp()(a, b)        Σ_j a_ij b_ij for equal shapes, a column
//
// Every Op embeds opBase, which implements the methods that follow from
// its identity, arity and type; each Op is made by its constructor.
//
// The clamp's derivative convention is the one of models.Scalar.Clamp (and
// torch.clamp): 1 inside the closed interval, 0 outside.

// opErr is an error about an Op's inputs, wrapping ilqr.ErrBadInput.
func opErr(op fmt.Stringer, format string, args ...any) error {
	return fmt.Errorf("unrolled: %v: %w: "+format, append([]any{op, ilqr.ErrBadInput}, args...)...)
}

// denseData returns the float64 data of v in row-major order (copied when v
// is a view) and its shape. Only float64 *tensor.Dense values are accepted.
func denseData(op fmt.Stringer, v G.Value, what string) ([]float64, tensor.Shape, error) {
	d, ok := v.(*tensor.Dense)
	if !ok || d == nil {
		return nil, nil, opErr(op, "%s must be a float64 *tensor.Dense, is %T", what, v)
	}
	if d.Dtype() != tensor.Float64 {
		return nil, nil, opErr(op, "%s has dtype %v, want float64", what, d.Dtype())
	}
	if d.RequiresIterator() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return nil, nil, opErr(op, "%s: cannot materialize view", what)
		}
		d = m
	}
	data, ok := d.Data().([]float64)
	if !ok {
		return nil, nil, opErr(op, "%s has no float64 data", what)
	}
	if len(data) != d.Shape().TotalSize() {
		return nil, nil, opErr(op, "%s has %d values for shape %v", what, len(data), d.Shape())
	}
	return data, d.Shape(), nil
}

// gradData returns the writable gradient storage of node n for DoDiff.
func gradData(op fmt.Stringer, n *G.Node, what string) ([]float64, error) {
	g, err := n.Grad()
	if err != nil {
		return nil, fmt.Errorf("unrolled: %v: %s has no gradient value: %w", op, what, err)
	}
	d, ok := g.(*tensor.Dense)
	if !ok || d == nil || d.Dtype() != tensor.Float64 {
		return nil, opErr(op, "%s gradient must be a float64 *tensor.Dense, is %T", what, g)
	}
	if d.RequiresIterator() {
		return nil, opErr(op, "%s gradient is a view", what)
	}
	data, ok := d.Data().([]float64)
	if !ok || len(data) != n.Shape().TotalSize() {
		return nil, opErr(op, "%s gradient has the wrong size", what)
	}
	return data, nil
}

// checkSame is the error of an elementwise binary Op whose operands'
// shapes a and b differ, or nil.
func checkSame(op fmt.Stringer, a, b tensor.Shape) error {
	if !sameShape(a, b) {
		return opErr(op, "shapes %v and %v differ", a, b)
	}
	return nil
}

// diffGrads returns, for a DoDiff, the gradient storage of output and of
// each input named in names ("" for an input that gets no gradient).
func diffGrads(op fmt.Stringer, inputs G.Nodes, output *G.Node, names ...string) (og []float64, gs [][]float64, err error) {
	if og, err = gradData(op, output, "output"); err != nil {
		return nil, nil, err
	}
	gs = make([][]float64, len(names))
	for i, name := range names {
		if name == "" {
			continue
		}
		if gs[i], err = gradData(op, inputs[i], name); err != nil {
			return nil, nil, err
		}
	}
	return og, gs, nil
}

// inputShapes converts DimSizers to shapes of one rank ≥ 1.
func inputShapes(op fmt.Stringer, want int, ds []G.DimSizer) ([]tensor.Shape, error) {
	if len(ds) != want {
		return nil, opErr(op, "want %d inputs, have %d", want, len(ds))
	}
	out := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, opErr(op, "input %d: shape unknown (%T)", i, d)
		}
		if len(s) < 1 || i > 0 && len(s) != len(out[0]) {
			return nil, opErr(op, "input %d has shape %v: want rank ≥ 1, equal ranks", i, s)
		}
		out[i] = s
	}
	return out, nil
}

// inputValues checks the arity and fetches the data of every input.
func inputValues(op fmt.Stringer, want int, vals []G.Value) ([][]float64, []tensor.Shape, error) {
	if len(vals) != want {
		return nil, nil, opErr(op, "want %d inputs, have %d", want, len(vals))
	}
	data := make([][]float64, want)
	shapes := make([]tensor.Shape, want)
	for i, v := range vals {
		d, s, err := denseData(op, v, fmt.Sprintf("input %d", i))
		if err != nil {
			return nil, nil, err
		}
		if len(s) < 1 || i > 0 && len(s) != len(shapes[0]) {
			return nil, nil, opErr(op, "input %d has shape %v: want rank ≥ 1, equal ranks", i, s)
		}
		data[i], shapes[i] = d, s
	}
	return data, shapes, nil
}

// nodeValues collects the values of nodes for DoDiff.
func nodeValues(nodes G.Nodes) []G.Value {
	vals := make([]G.Value, len(nodes))
	for i, n := range nodes {
		if n != nil {
			vals[i] = n.Value()
		}
	}
	return vals
}

func newDense(shape tensor.Shape, data []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(data))
}

// isColumn reports whether s is the column shape of d: equal ranks,
// equal leading axes, last axis 1.
func isColumn(s, d tensor.Shape) bool {
	if len(s) != len(d) || len(s) == 0 || s[len(s)-1] != 1 {
		return false
	}
	for i := range len(s) - 1 {
		if s[i] != d[i] {
			return false
		}
	}
	return true
}

// rowsCols splits a shape into rows (all leading axes) and columns.
func rowsCols(s tensor.Shape) (rows, cols int) {
	cols = s[len(s)-1]
	return s.TotalSize() / max(cols, 1), cols
}

// columnOf returns the column shape of s.
func columnOf(s tensor.Shape) tensor.Shape {
	c := s.Clone()
	c[len(c)-1] = 1
	return c
}

// rowBroadcast reports whether x (shape xs) is compatible with g (shape
// gs) for the mask: equal shapes, or x the column shape of g.
func rowBroadcast(xs, gs tensor.Shape) bool {
	return sameShape(xs, gs) || isColumn(xs, gs)
}

// recoverErr turns a panic in code called by an Op method into an error: a
// panic inside an Op would kill the user's process.
func recoverErr(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("unrolled: internal error: %v", r)
	}
}

// opBase is embedded in every Op of this file and implements what
// gorgonia.Op asks beyond the computation, from fields that the Op's
// constructor (newClampOp, newSliceOp, ...) sets once:
//
//   - the identity: String returns id, and WriteHash and Hashcode hash it
//     (FNV-1a), so id must name the Op and every field that changes its
//     result (Gorgonia merges nodes whose Ops hash equal; Build further
//     salts every Op it applies, see saltedOp);
//   - Arity, and Type: arity inputs and one output, all of one type
//     variable (elementwise Ops, any shape) or tensors of ranks in → out;
//   - DiffWRT: every input is differentiable except input 0 where
//     constFirst is set (a mask that is piecewise constant in it);
//   - Gorgonia's defaults: a new value (ReturnsPtr), computed in Go
//     (CallsExtern), never in place (OverwritesInput);
//   - the argument checks of SymDiff and DoDiff, and diffNode, which
//     applies a salted derivative Op in a SymDiff.
//
// A zero opBase (an Op made without its constructor) has arity 0, which
// Gorgonia's ApplyOp rejects with an error.
type opBase struct {
	id         string
	arity      int
	in, out    int  // tensor ranks of the inputs and the output; 0: a type variable
	constFirst bool // input 0 gets no derivative
}

func (b opBase) String() string        { return b.id }
func (b opBase) WriteHash(h hash.Hash) { fmt.Fprint(h, b.id) }
func (b opBase) Arity() int            { return b.arity }
func (opBase) ReturnsPtr() bool        { return false }
func (opBase) CallsExtern() bool       { return false }
func (opBase) OverwritesInput() int    { return -1 }

// Hashcode implements gorgonia.Op: the 32-bit FNV-1a hash of String.
func (b opBase) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

// Type implements gorgonia.Op.
func (b opBase) Type() hm.Type {
	ts := make([]hm.Type, max(b.arity, 1)+1) // hm panics on fewer than two
	for i := range ts {
		switch {
		case b.in == 0:
			ts[i] = hm.TypeVariable('a')
		case i < len(ts)-1:
			ts[i] = tensorType(b.in)
		default:
			ts[i] = tensorType(b.out)
		}
	}
	return hm.NewFnType(ts...)
}

// DiffWRT implements gorgonia.SDOp.
func (b opBase) DiffWRT(n int) []bool {
	d := make([]bool, max(n, 0))
	for i := range d {
		d[i] = i > 0 || !b.constFirst
	}
	return d
}

// checkSymDiff is the error of a SymDiff call without arity inputs and a
// gradient, or nil.
func (b opBase) checkSymDiff(inputs G.Nodes, grad *G.Node) error {
	if len(inputs) != b.arity || grad == nil || slices.Contains(inputs, nil) {
		return opErr(b, "SymDiff wants %d inputs and a gradient", b.arity)
	}
	return nil
}

// checkDoDiff is the error of a DoDiff call without arity inputs and the
// output, or nil.
func (b opBase) checkDoDiff(inputs G.Nodes, output *G.Node) error {
	if len(inputs) != b.arity || output == nil || slices.Contains(inputs, nil) {
		return opErr(b, "DoDiff wants %d inputs and the output", b.arity)
	}
	return nil
}

// diffNode applies op, salted, to xs: one node of a symbolic derivative.
func (b opBase) diffNode(op G.Op, xs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(salt(op), xs...)
	if err != nil {
		return nil, fmt.Errorf("unrolled: %v: SymDiff: %w", b, err)
	}
	return n, nil
}

// inRange is the clamp's derivative: 1 on the closed interval [lo, hi].
func inRange(v, lo, hi float64) bool { return v >= lo && v <= hi }

func boundsString(name string, lo, hi float64) string {
	return fmt.Sprintf("%s[%x,%x](%g,%g)", name, math.Float64bits(lo), math.Float64bits(hi), lo, hi)
}

// ---------------------------------------------------------------------------

// clampOp is clamp(x, lo, hi), elementwise. Every control passes
// through it, so it also rejects NaN and ±Inf: a non-finite control means a
// non-finite input or diverging iterations, and is reported as an error
// rather than propagated.
type clampOp struct {
	opBase
	lo, hi float64
}

func newClampOp(lo, hi float64) clampOp {
	return clampOp{opBase{id: boundsString("unrolled.clamp", lo, hi), arity: 1}, lo, hi}
}

func (op clampOp) checkBounds() error {
	if math.IsNaN(op.lo) || math.IsNaN(op.hi) || op.lo > op.hi {
		return opErr(op, "invalid bounds [%g, %g]", op.lo, op.hi)
	}
	return nil
}

func (op clampOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, err := inputShapes(op, 1, ds)
	if err != nil {
		return nil, err
	}
	return s[0].Clone(), op.checkBounds()
}

func (op clampOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	if err := op.checkBounds(); err != nil {
		return nil, err
	}
	in, sh, err := inputValues(op, 1, vals)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(in[0]))
	for i, x := range in[0] {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("unrolled: %v: input %d is not finite (%g): a NaN or Inf input, or diverging iterations", op, i, x)
		}
		out[i] = clamp(x, op.lo, op.hi)
	}
	return newDense(sh[0], out), nil
}

func (op clampOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	d, err := op.diffNode(newMaskMulOp(op.lo, op.hi), inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

func (op clampOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	x, _, err := inputValues(op, 1, nodeValues(inputs))
	if err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "input")
	if err != nil {
		return err
	}
	xg := gs[0]
	if len(og) != len(x[0]) || len(xg) != len(x[0]) {
		return opErr(op, "DoDiff: size mismatch")
	}
	for i, v := range x[0] {
		if inRange(v, op.lo, op.hi) {
			xg[i] += og[i]
		}
	}
	return nil
}

// ---------------------------------------------------------------------------

// maskMulOp is g ⊙ 1[lo ≤ x ≤ hi]: the clamp's derivative applied to g.
// x is g's column shape, broadcast over its columns, or shaped like g.
type maskMulOp struct {
	opBase
	lo, hi float64
}

// newMaskMulOp returns the mask of [lo, hi]; it is not differentiable in x
// (piecewise constant).
func newMaskMulOp(lo, hi float64) maskMulOp {
	return maskMulOp{opBase{id: boundsString("unrolled.maskmul", lo, hi), arity: 2, constFirst: true}, lo, hi}
}

func (op maskMulOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, err := inputShapes(op, 2, ds)
	if err != nil {
		return nil, err
	}
	if !rowBroadcast(s[0], s[1]) {
		return nil, opErr(op, "mask shape %v does not fit %v", s[0], s[1])
	}
	return s[1].Clone(), nil
}

// apply adds (or writes) g ⊙ mask(x) into dst.
func (op maskMulOp) apply(dst, x, g []float64, xs, gs tensor.Shape) {
	rows, cols := rowsCols(gs)
	col := !sameShape(xs, gs)
	for i := range rows {
		for j := range cols {
			xv := x[i]
			if !col {
				xv = x[i*cols+j]
			}
			if inRange(xv, op.lo, op.hi) {
				dst[i*cols+j] += g[i*cols+j]
			}
		}
	}
}

func (op maskMulOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := inputValues(op, 2, vals)
	if err != nil {
		return nil, err
	}
	if !rowBroadcast(sh[0], sh[1]) {
		return nil, opErr(op, "mask shape %v does not fit %v", sh[0], sh[1])
	}
	out := make([]float64, len(in[1]))
	op.apply(out, in[0], in[1], sh[0], sh[1])
	return newDense(sh[1], out), nil
}

func (op maskMulOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	d, err := op.diffNode(op, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{nil, d}, nil
}

func (op maskMulOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	in, sh, err := inputValues(op, 2, nodeValues(inputs))
	if err != nil {
		return err
	}
	if !rowBroadcast(sh[0], sh[1]) {
		return opErr(op, "mask shape %v does not fit %v", sh[0], sh[1])
	}
	og, gs, err := diffGrads(op, inputs, output, "", "input 1")
	if err != nil {
		return err
	}
	gg := gs[1]
	if len(og) != len(in[1]) || len(gg) != len(in[1]) {
		return opErr(op, "DoDiff: size mismatch")
	}
	op.apply(gg, in[0], og, sh[0], sh[1])
	return nil
}

// ---------------------------------------------------------------------------

// atan2Op is atan2(y, x) elementwise, the angle of the point (x, y).
type atan2Op struct {
	opBase
}

func newAtan2Op() atan2Op { return atan2Op{opBase{id: "unrolled.atan2", arity: 2}} }

func (op atan2Op) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, err := inputShapes(op, 2, ds)
	if err != nil {
		return nil, err
	}
	if err := checkSame(op, s[0], s[1]); err != nil {
		return nil, err
	}
	return s[0].Clone(), nil
}

func (op atan2Op) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := inputValues(op, 2, vals)
	if err != nil {
		return nil, err
	}
	if err := checkSame(op, sh[0], sh[1]); err != nil {
		return nil, err
	}
	out := make([]float64, len(in[0]))
	for i, y := range in[0] {
		out[i] = math.Atan2(y, in[1][i])
	}
	return newDense(sh[0], out), nil
}

// SymDiff implements gorgonia.SDOp: ∂/∂y = x/r², ∂/∂x = −y/r² with
// r² = x² + y², built from standard Ops.
func (op atan2Op) SymDiff(inputs G.Nodes, output, grad *G.Node) (retVal G.Nodes, err error) {
	defer recoverErr(&err)
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	y, x := inputs[0], inputs[1]
	wrap := func(err error) error { return fmt.Errorf("unrolled: %v: SymDiff: %w", op, err) }
	x2, err := G.Square(x)
	if err != nil {
		return nil, wrap(err)
	}
	y2, err := G.Square(y)
	if err != nil {
		return nil, wrap(err)
	}
	r2, err := G.Add(x2, y2)
	if err != nil {
		return nil, wrap(err)
	}
	fy, err := G.HadamardDiv(x, r2)
	if err != nil {
		return nil, wrap(err)
	}
	fx, err := G.HadamardDiv(y, r2)
	if err != nil {
		return nil, wrap(err)
	}
	dy, err := G.HadamardProd(grad, fy)
	if err != nil {
		return nil, wrap(err)
	}
	gx, err := G.HadamardProd(grad, fx)
	if err != nil {
		return nil, wrap(err)
	}
	dx, err := G.Neg(gx)
	if err != nil {
		return nil, wrap(err)
	}
	return G.Nodes{dy, dx}, nil
}

func (op atan2Op) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	in, sh, err := inputValues(op, 2, nodeValues(inputs))
	if err != nil {
		return err
	}
	if err := checkSame(op, sh[0], sh[1]); err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "y", "x")
	if err != nil {
		return err
	}
	yg, xg := gs[0], gs[1]
	if len(og) != len(in[0]) || len(yg) != len(in[0]) || len(xg) != len(in[0]) {
		return opErr(op, "DoDiff: size mismatch")
	}
	for i, y := range in[0] {
		x := in[1][i]
		r2 := x*x + y*y
		yg[i] += og[i] * (x / r2)
		xg[i] -= og[i] * (y / r2)
	}
	return nil
}

// ---------------------------------------------------------------------------

// rowScaleOp is s_i·d_ij for d and its column s: each row of d scaled by
// its own factor, without Gorgonia's broadcast nodes.
type rowScaleOp struct {
	opBase
}

func newRowScaleOp() rowScaleOp { return rowScaleOp{opBase{id: "unrolled.rowscale", arity: 2}} }

func rowScaleShapes(op fmt.Stringer, s, d tensor.Shape) error {
	if !isColumn(s, d) {
		return opErr(op, "factor shape %v does not fit %v (want %v)", s, d, columnOf(d))
	}
	return nil
}

func (op rowScaleOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, err := inputShapes(op, 2, ds)
	if err != nil {
		return nil, err
	}
	if err := rowScaleShapes(op, s[0], s[1]); err != nil {
		return nil, err
	}
	return s[1].Clone(), nil
}

func (op rowScaleOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := inputValues(op, 2, vals)
	if err != nil {
		return nil, err
	}
	if err := rowScaleShapes(op, sh[0], sh[1]); err != nil {
		return nil, err
	}
	_, k := rowsCols(sh[1])
	out := make([]float64, len(in[1]))
	for i, s := range in[0] {
		for j := range k {
			out[i*k+j] = s * in[1][i*k+j]
		}
	}
	return newDense(sh[1], out), nil
}

// SymDiff implements gorgonia.SDOp: ∂/∂s = rowdot(grad, d),
// ∂/∂d = rowscale(s, grad).
func (op rowScaleOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	ds, err := op.diffNode(newRowDotOp(), grad, inputs[1])
	if err != nil {
		return nil, err
	}
	dd, err := op.diffNode(op, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{ds, dd}, nil
}

func (op rowScaleOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	in, sh, err := inputValues(op, 2, nodeValues(inputs))
	if err != nil {
		return err
	}
	if err := rowScaleShapes(op, sh[0], sh[1]); err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "factor", "rows")
	if err != nil {
		return err
	}
	sg, dg := gs[0], gs[1]
	if len(og) != len(in[1]) || len(dg) != len(in[1]) || len(sg) != len(in[0]) {
		return opErr(op, "DoDiff: size mismatch")
	}
	_, k := rowsCols(sh[1])
	for i, s := range in[0] {
		var acc float64
		for j := range k {
			acc += og[i*k+j] * in[1][i*k+j]
			dg[i*k+j] += s * og[i*k+j]
		}
		sg[i] += acc
	}
	return nil
}

// ---------------------------------------------------------------------------

// rowDotOp is Σ_j a_ij b_ij for a, b of one shape: the row-wise inner
// product, shaped as their column.
type rowDotOp struct {
	opBase
}

func newRowDotOp() rowDotOp { return rowDotOp{opBase{id: "unrolled.rowdot", arity: 2}} }

func (op rowDotOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, err := inputShapes(op, 2, ds)
	if err != nil {
		return nil, err
	}
	if err := checkSame(op, s[0], s[1]); err != nil {
		return nil, err
	}
	return columnOf(s[0]), nil
}

func (op rowDotOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := inputValues(op, 2, vals)
	if err != nil {
		return nil, err
	}
	if err := checkSame(op, sh[0], sh[1]); err != nil {
		return nil, err
	}
	r, k := rowsCols(sh[0])
	out := make([]float64, r)
	for i := range r {
		var acc float64
		for j := range k {
			acc += in[0][i*k+j] * in[1][i*k+j]
		}
		out[i] = acc
	}
	return newDense(columnOf(sh[0]), out), nil
}

// SymDiff implements gorgonia.SDOp: ∂/∂a = rowscale(grad, b),
// ∂/∂b = rowscale(grad, a).
func (op rowDotOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	da, err := op.diffNode(newRowScaleOp(), grad, inputs[1])
	if err != nil {
		return nil, err
	}
	db, err := op.diffNode(newRowScaleOp(), grad, inputs[0])
	if err != nil {
		return nil, err
	}
	return G.Nodes{da, db}, nil
}

func (op rowDotOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	in, sh, err := inputValues(op, 2, nodeValues(inputs))
	if err != nil {
		return err
	}
	if err := checkSame(op, sh[0], sh[1]); err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "a", "b")
	if err != nil {
		return err
	}
	ag, bg := gs[0], gs[1]
	r, k := rowsCols(sh[0])
	if len(og) != r || len(ag) != r*k || len(bg) != r*k {
		return opErr(op, "DoDiff: size mismatch")
	}
	for i := range r {
		for j := range k {
			ag[i*k+j] += og[i] * in[1][i*k+j]
			bg[i*k+j] += og[i] * in[0][i*k+j]
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Structural Ops. Gorgonia's own Reshape and Concat have DoDiffs that are
// wrong under the LispMachine (its reshapeOp.DoDiff replaces the input's
// gradient instead of adding to it, so a reshaped node with another
// consumer loses that consumer's gradient; its concatOp.DoDiff always slices
// axis 0), and its Slice adds a node per leading axis and drops axes of
// length 1. These replacements work on row-major float64 tensors of any
// rank, keep every axis, and are closed under differentiation: reshape's
// derivative is a reshape, concat's are slices, slice's is an embedding
// into zeros, and the embedding's is a slice.

func tensorType(rank int) G.TensorType { return G.TensorType{Dims: rank, Of: tensor.Float64} }

// axisBlocks returns Π s[:axis] and Π s[axis+1:].
func axisBlocks(s tensor.Shape, axis int) (outer, inner int) {
	outer, inner = 1, 1
	for i, d := range s {
		switch {
		case i < axis:
			outer *= d
		case i > axis:
			inner *= d
		}
	}
	return outer, inner
}

// anyShape converts a DimSizer to a shape of any rank.
func anyShape(op fmt.Stringer, d G.DimSizer, i int) (tensor.Shape, error) {
	s, ok := d.(tensor.Shape)
	if !ok {
		return nil, opErr(op, "input %d: shape unknown (%T)", i, d)
	}
	return s, nil
}

// anyValues fetches the data of every input, checking their ranks.
func anyValues(op fmt.Stringer, want, rank int, vals []G.Value) ([][]float64, []tensor.Shape, error) {
	if len(vals) != want {
		return nil, nil, opErr(op, "want %d inputs, have %d", want, len(vals))
	}
	data := make([][]float64, want)
	shapes := make([]tensor.Shape, want)
	for i, v := range vals {
		d, s, err := denseData(op, v, fmt.Sprintf("input %d", i))
		if err != nil {
			return nil, nil, err
		}
		if len(s) != rank {
			return nil, nil, opErr(op, "input %d has shape %v, want rank %d", i, s, rank)
		}
		data[i], shapes[i] = d, s
	}
	return data, shapes, nil
}

// reshapeOp reinterprets a tensor of shape from as shape to.
type reshapeOp struct {
	opBase
	from, to tensor.Shape
}

func newReshapeOp(from, to tensor.Shape) reshapeOp {
	from, to = from.Clone(), to.Clone()
	return reshapeOp{opBase{id: fmt.Sprintf("unrolled.reshape%v→%v", from, to), arity: 1, in: len(from), out: len(to)}, from, to}
}

func (op reshapeOp) check(s tensor.Shape) error {
	if !sameShape(s, op.from) || op.from.TotalSize() != op.to.TotalSize() {
		return opErr(op, "input shape %v cannot be reshaped from %v to %v", s, op.from, op.to)
	}
	return nil
}

func (op reshapeOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != 1 {
		return nil, opErr(op, "want 1 input, have %d", len(ds))
	}
	s, err := anyShape(op, ds[0], 0)
	if err != nil {
		return nil, err
	}
	return op.to.Clone(), op.check(s)
}

func (op reshapeOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := anyValues(op, 1, len(op.from), vals)
	if err != nil {
		return nil, err
	}
	if err := op.check(sh[0]); err != nil {
		return nil, err
	}
	return newDense(op.to, append([]float64(nil), in[0]...)), nil
}

func (op reshapeOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	d, err := op.diffNode(newReshapeOp(op.to, op.from), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

func (op reshapeOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "input")
	if err != nil {
		return err
	}
	ig := gs[0]
	if len(og) != len(ig) {
		return opErr(op, "DoDiff: size mismatch")
	}
	for i, g := range og {
		ig[i] += g
	}
	return nil
}

// concatOp concatenates n tensors of one rank along an axis.
type concatOp struct {
	opBase
	axis, rank, n int
}

func newConcatOp(axis, rank, n int) concatOp {
	id := fmt.Sprintf("unrolled.concat(axis=%d,rank=%d,n=%d)", axis, rank, n)
	return concatOp{opBase{id: id, arity: n, in: rank, out: rank}, axis, rank, n}
}

// outShape checks the input shapes and returns the output shape.
func (op concatOp) outShape(shapes []tensor.Shape) (tensor.Shape, error) {
	if op.n < 1 || len(shapes) != op.n || op.axis < 0 || op.axis >= op.rank {
		return nil, opErr(op, "want %d inputs of rank > %d, have %d", op.n, op.axis, len(shapes))
	}
	out := shapes[0].Clone()
	if len(out) != op.rank {
		return nil, opErr(op, "input 0 has shape %v, want rank %d", out, op.rank)
	}
	for i, s := range shapes[1:] {
		if len(s) != op.rank {
			return nil, opErr(op, "input %d has shape %v, want rank %d", i+1, s, op.rank)
		}
		for a := range s {
			if a != op.axis && s[a] != out[a] {
				return nil, opErr(op, "input %d has shape %v, incompatible with %v", i+1, s, shapes[0])
			}
		}
		out[op.axis] += s[op.axis]
	}
	return out, nil
}

func (op concatOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, err := anyShape(op, d, i)
		if err != nil {
			return nil, err
		}
		shapes[i] = s
	}
	return op.outShape(shapes)
}

// blocks calls f(o, i, inOff, outOff, size) for each contiguous block of
// input i in row block o.
func (op concatOp) blocks(shapes []tensor.Shape, out tensor.Shape, f func(i, inOff, outOff, size int)) {
	outer, inner := axisBlocks(out, op.axis)
	rowOut := out[op.axis] * inner
	for o := range outer {
		off := 0
		for i, s := range shapes {
			size := s[op.axis] * inner
			f(i, o*size, o*rowOut+off, size)
			off += size
		}
	}
}

func (op concatOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, shapes, err := anyValues(op, op.n, op.rank, vals)
	if err != nil {
		return nil, err
	}
	out, err := op.outShape(shapes)
	if err != nil {
		return nil, err
	}
	data := make([]float64, out.TotalSize())
	op.blocks(shapes, out, func(i, inOff, outOff, size int) {
		copy(data[outOff:outOff+size], in[i][inOff:inOff+size])
	})
	return newDense(out, data), nil
}

func (op concatOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	res := make(G.Nodes, op.n)
	lo := 0
	for i, in := range inputs {
		hi := lo + in.Shape()[op.axis]
		d, err := op.diffNode(newSliceOp(axisRange{op.axis, lo, hi, grad.Shape()}), grad)
		if err != nil {
			return nil, err
		}
		res[i] = d
		lo = hi
	}
	return res, nil
}

func (op concatOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	shapes := make([]tensor.Shape, op.n)
	grads := make([][]float64, op.n)
	for i, in := range inputs {
		shapes[i] = in.Shape()
		if grads[i], err = gradData(op, in, fmt.Sprintf("input %d", i)); err != nil {
			return err
		}
	}
	out, err := op.outShape(shapes)
	if err != nil {
		return err
	}
	og, err := gradData(op, output, "output")
	if err != nil {
		return err
	}
	if len(og) != out.TotalSize() {
		return opErr(op, "DoDiff: size mismatch")
	}
	op.blocks(shapes, out, func(i, inOff, outOff, size int) {
		for j := range size {
			grads[i][inOff+j] += og[outOff+j]
		}
	})
	return nil
}

// axisRange is the indices [lo, hi) of one axis of a tensor of shape from:
// the fields of sliceOp and of its adjoint embedOp.
type axisRange struct {
	axis, lo, hi int
	from         tensor.Shape
}

// sliceOp takes indices [lo, hi) of one axis of a tensor of shape from,
// keeping the axis.
type sliceOp struct {
	opBase
	axisRange
}

func newSliceOp(r axisRange) sliceOp {
	r.from = r.from.Clone()
	id := fmt.Sprintf("unrolled.slice(axis=%d,%d:%d,of %v)", r.axis, r.lo, r.hi, r.from)
	return sliceOp{opBase{id: id, arity: 1}, r}
}

func (op sliceOp) outShape(s tensor.Shape) (tensor.Shape, error) {
	if !sameShape(s, op.from) || op.axis < 0 || op.axis >= len(s) || op.lo < 0 || op.hi > s[op.axis] || op.lo >= op.hi {
		return nil, opErr(op, "cannot slice shape %v", s)
	}
	out := s.Clone()
	out[op.axis] = op.hi - op.lo
	return out, nil
}

func (op sliceOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != 1 {
		return nil, opErr(op, "want 1 input, have %d", len(ds))
	}
	s, err := anyShape(op, ds[0], 0)
	if err != nil {
		return nil, err
	}
	return op.outShape(s)
}

// sliceBlocks calls f(bigOff, smallOff, size) for each contiguous block
// that [lo, hi) of axis selects in a tensor of shape big.
func sliceBlocks(big tensor.Shape, axis, lo, hi int, f func(bigOff, smallOff, size int)) {
	outer, inner := axisBlocks(big, axis)
	size := (hi - lo) * inner
	for o := range outer {
		f(o*big[axis]*inner+lo*inner, o*size, size)
	}
}

func (op sliceOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := anyValues(op, 1, len(op.from), vals)
	if err != nil {
		return nil, err
	}
	out, err := op.outShape(sh[0])
	if err != nil {
		return nil, err
	}
	data := make([]float64, out.TotalSize())
	sliceBlocks(op.from, op.axis, op.lo, op.hi, func(bigOff, smallOff, size int) {
		copy(data[smallOff:smallOff+size], in[0][bigOff:bigOff+size])
	})
	return newDense(out, data), nil
}

func (op sliceOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	d, err := op.diffNode(newEmbedOp(op.axisRange), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

func (op sliceOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	out, err := op.outShape(inputs[0].Shape())
	if err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "input")
	if err != nil {
		return err
	}
	ig := gs[0]
	if len(og) != out.TotalSize() {
		return opErr(op, "DoDiff: size mismatch")
	}
	sliceBlocks(op.from, op.axis, op.lo, op.hi, func(bigOff, smallOff, size int) {
		for j := range size {
			ig[bigOff+j] += og[smallOff+j]
		}
	})
	return nil
}

// embedOp is the adjoint of sliceOp with the same fields: it places its
// input at indices [lo, hi) of axis in zeros of shape from.
type embedOp struct {
	opBase
	axisRange
}

func newEmbedOp(r axisRange) embedOp {
	r.from = r.from.Clone()
	id := fmt.Sprintf("unrolled.embed(axis=%d,%d:%d,in %v)", r.axis, r.lo, r.hi, r.from)
	return embedOp{opBase{id: id, arity: 1}, r}
}

// check verifies that s is the shape of the slice op describes.
func (op embedOp) check(s tensor.Shape) error {
	want, err := newSliceOp(op.axisRange).outShape(op.from)
	if err != nil {
		return err
	}
	if !sameShape(s, want) {
		return opErr(op, "input shape %v, want %v", s, want)
	}
	return nil
}

func (op embedOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != 1 {
		return nil, opErr(op, "want 1 input, have %d", len(ds))
	}
	s, err := anyShape(op, ds[0], 0)
	if err != nil {
		return nil, err
	}
	return op.from.Clone(), op.check(s)
}

func (op embedOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	in, sh, err := anyValues(op, 1, len(op.from), vals)
	if err != nil {
		return nil, err
	}
	if err := op.check(sh[0]); err != nil {
		return nil, err
	}
	data := make([]float64, op.from.TotalSize())
	sliceBlocks(op.from, op.axis, op.lo, op.hi, func(bigOff, smallOff, size int) {
		copy(data[bigOff:bigOff+size], in[0][smallOff:smallOff+size])
	})
	return newDense(op.from, data), nil
}

func (op embedOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	d, err := op.diffNode(newSliceOp(op.axisRange), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

func (op embedOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	if err := op.check(inputs[0].Shape()); err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "input")
	if err != nil {
		return err
	}
	ig := gs[0]
	if len(og) != op.from.TotalSize() {
		return opErr(op, "DoDiff: size mismatch")
	}
	sliceBlocks(op.from, op.axis, op.lo, op.hi, func(bigOff, smallOff, size int) {
		for j := range size {
			ig[smallOff+j] += og[bigOff+j]
		}
	})
	return nil
}

// ---------------------------------------------------------------------------
// Ties. The LispMachine takes every node without consumers for a cost to
// differentiate, which must be a scalar, so an input that nothing consumes
// (θ at T = 1, φ without iterations) makes it fail. Build ties such inputs
// into its output with tieOp, whose derivative with respect to them is
// zero (zerosLikeOp), as the output does not depend on them.

// tieOp returns a copy of its input 0 and ignores the values of its other
// inputs.
type tieOp struct {
	opBase
}

func newTieOp(n int) tieOp { return tieOp{opBase{id: fmt.Sprintf("unrolled.tie(n=%d)", n), arity: n}} }

// Type implements gorgonia.Op: input 0 and the output have one type, the
// other inputs any (type variables from 'c' on: Gorgonia's inference
// names the result 'b', typeSystem.go inferNodeType).
func (op tieOp) Type() hm.Type {
	ts := make([]hm.Type, max(op.arity, 1)+1)
	for i := range ts {
		ts[i] = hm.TypeVariable('b' + rune(i))
	}
	ts[0], ts[len(ts)-1] = hm.TypeVariable('a'), hm.TypeVariable('a')
	return hm.NewFnType(ts...)
}

func (op tieOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != op.arity || op.arity < 1 {
		return nil, opErr(op, "want %d inputs, have %d", op.arity, len(ds))
	}
	s, err := anyShape(op, ds[0], 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op tieOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	if len(vals) != op.arity || op.arity < 1 {
		return nil, opErr(op, "want %d inputs, have %d", op.arity, len(vals))
	}
	in, sh, err := denseData(op, vals[0], "input 0")
	if err != nil {
		return nil, err
	}
	return newDense(sh, append([]float64(nil), in...)), nil
}

// SymDiff implements gorgonia.SDOp: the gradient itself (a copy) for
// input 0, zeros for the others.
func (op tieOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	res := make(G.Nodes, len(inputs))
	var err error
	if res[0], err = op.diffNode(newTieOp(1), grad); err != nil {
		return nil, err
	}
	for i := 1; i < len(inputs); i++ {
		if res[i], err = op.diffNode(newZerosLikeOp(), inputs[i]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (op tieOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	og, gs, err := diffGrads(op, inputs, output, "input 0")
	if err != nil {
		return err
	}
	ig := gs[0]
	if len(og) != len(ig) {
		return opErr(op, "DoDiff: size mismatch")
	}
	for i, g := range og {
		ig[i] += g
	}
	return nil
}

// zerosLikeOp returns zeros shaped like its input, whatever its values.
type zerosLikeOp struct {
	opBase
}

func newZerosLikeOp() zerosLikeOp { return zerosLikeOp{opBase{id: "unrolled.zeroslike", arity: 1}} }

func (op zerosLikeOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != 1 {
		return nil, opErr(op, "want 1 input, have %d", len(ds))
	}
	s, err := anyShape(op, ds[0], 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op zerosLikeOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	if len(vals) != 1 || vals[0] == nil {
		return nil, opErr(op, "want 1 input, have %d", len(vals))
	}
	if d, ok := vals[0].(*tensor.Dense); !ok || d.Dtype() != tensor.Float64 {
		return nil, opErr(op, "input must be a float64 *tensor.Dense, is %T", vals[0])
	}
	sh := vals[0].Shape()
	return newDense(sh, make([]float64, sh.TotalSize())), nil
}

// SymDiff implements gorgonia.SDOp: the derivative of a constant is zero.
func (op zerosLikeOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkSymDiff(inputs, grad); err != nil {
		return nil, err
	}
	d, err := op.diffNode(op, inputs[0])
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// DoDiff implements gorgonia.ADOp: it adds nothing (after checking that
// the output has a gradient, as a DoDiff that adds would).
func (op zerosLikeOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if err := op.checkDoDiff(inputs, output); err != nil {
		return err
	}
	_, err = gradData(op, output, "output")
	return err
}

// ---------------------------------------------------------------------------
// Salted nodes. Gorgonia merges a new node into an existing one when their
// 32-bit structural hashes are equal and their ops' hashes, child counts,
// types and shapes agree, without comparing children (graph.go AddNode,
// equalities.go nodeEq). Among n nodes of one op and shape that happens
// about n²/2³³ times: likely in graphs of a few hundred thousand nodes,
// and the merged node then computes something else, silently. saltedOp
// wraps any Op, Gorgonia's own included, delegating everything but the
// hash, which gets a process-wide unique number: two salted nodes never
// have equal op hashes, so they are never merged (nor deduplicated).

// saltSeq numbers salted Ops.
var saltSeq atomic.Uint64

// salt wraps op with a fresh salt: the next sequence number, mixed by
// SplitMix64 so that all its bytes vary (FNV-1a, Gorgonia's hash, diffuses
// a few varying low bytes poorly).
func salt(op G.Op) G.Op {
	z := saltSeq.Add(1) * 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return saltedOp{Op: op, salt: z ^ z>>31}
}

// saltedOp is op with a unique salt in its hash.
type saltedOp struct {
	G.Op
	salt uint64
}

// WriteHash implements gorgonia.Op: the inner Op's hash and the salt.
func (s saltedOp) WriteHash(h hash.Hash) {
	s.Op.WriteHash(h)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], s.salt)
	h.Write(b[:])
}

// Hashcode implements gorgonia.Op.
func (s saltedOp) Hashcode() uint32 {
	h := fnv.New32a()
	s.WriteHash(h)
	return h.Sum32()
}

// OverwritesInput implements gorgonia.Op: never in place (the wrapper does
// not forward Gorgonia's in-place execution interfaces).
func (s saltedOp) OverwritesInput() int { return -1 }

// DiffWRT implements gorgonia.SDOp by delegation.
func (s saltedOp) DiffWRT(n int) []bool {
	if sd, ok := s.Op.(G.SDOp); ok {
		return sd.DiffWRT(n)
	}
	return make([]bool, n)
}

// SymDiff implements gorgonia.SDOp by delegation.
func (s saltedOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (retVal G.Nodes, err error) {
	defer recoverErr(&err)
	sd, ok := s.Op.(G.SDOp)
	if !ok {
		return nil, fmt.Errorf("unrolled: %v has no symbolic derivative", s.Op)
	}
	return sd.SymDiff(inputs, output, grad)
}

// DoDiff implements gorgonia.ADOp by delegation.
func (s saltedOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	ad, ok := s.Op.(G.ADOp)
	if !ok {
		return fmt.Errorf("unrolled: %v has no automatic derivative", s.Op)
	}
	return ad.DoDiff(ctx, inputs, output)
}

// HashCollisions returns the nodes of g whose 32-bit hash equals that of an
// earlier node of g.
//
// Gorgonia's TapeMachine compiles a graph with a common-subexpression
// elimination that identifies nodes by their 32-bit hash alone (gorgonia
// v0.9.18 analysis.go:36, dataflow.vn): of two distinct nodes with equal
// hashes it computes only one and gives its value to the consumers of
// both, silently. Among n nodes that happens with probability about n²/2³³
// (1% at 9,000 nodes, 50% at 77,000). Build never adds a node whose hash
// is already in the graph, but the gradient nodes that G.Grad adds are
// Gorgonia's own: check a graph before running it on a TapeMachine, and
// rebuild it if this returns any node (a rebuilt unrolled graph has fresh
// salts, so all its hashes change). The LispMachine does no such
// elimination.
func HashCollisions(g *G.ExprGraph) G.Nodes {
	if g == nil {
		return nil
	}
	seen := make(map[uint32]struct{}, len(g.AllNodes()))
	var dup G.Nodes
	for _, n := range g.AllNodes() {
		h := n.Hashcode()
		if _, ok := seen[h]; ok {
			dup = append(dup, n)
			continue
		}
		seen[h] = struct{}{}
	}
	return dup
}

// badInput formats an error about the caller's data: "unrolled: bad
// input: …", wrapping ilqr.ErrBadInput.
func badInput(format string, args ...any) error {
	return fmt.Errorf("unrolled: %w: "+format, append([]any{ilqr.ErrBadInput}, args...)...)
}

// clamp returns v limited to [lo, hi].
func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
