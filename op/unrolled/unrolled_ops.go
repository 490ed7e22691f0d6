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
// its identity, arity and type; each Op is made by its constructor. All but
// the tie are a kernelOp: a kernel, the Op's shape rule, values and
// derivatives, inside the plumbing of argument checks that every Op shares.
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

// recoverErr turns a panic in code called by an Op method into an error: a
// panic inside an Op would kill the user's process.
func recoverErr(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("unrolled: internal error: %v", r)
	}
}

// opBase is embedded in every Op of this file and implements what
// gorgonia.Op asks beyond the computation and its plumbing (kernelOp), from
// fields that the Op's constructor (newClampOp, newSliceOp, ...) sets once:
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

// inRange is the clamp's derivative: 1 on the closed interval [lo, hi].
func inRange(v, lo, hi float64) bool { return v >= lo && v <= hi }

func boundsString(name string, lo, hi float64) string {
	return fmt.Sprintf("%s[%x,%x](%g,%g)", name, math.Float64bits(lo), math.Float64bits(hi), lo, hi)
}

// ---------------------------------------------------------------------------
// The plumbing. Each Op of this file but the tie is a kernelOp: a kernel,
// the computation, inside the methods that check arguments, fetch values
// and gradient storage, and apply the derivative's nodes.

// kernel is the computation of an Op. Its methods see inputs that the
// kernelOp has checked against outShape.
type kernel interface {
	// outShape checks the shapes of the inputs and returns the output's;
	// op names the Op in errors.
	outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error)
	// forward writes the output into dst (zeros, of the output's size).
	forward(op fmt.Stringer, dst []float64, a *args) error
	// derivs returns the symbolic derivative with respect to each input x
	// (nil for none), given the gradient grad with respect to the output.
	derivs(x G.Nodes, grad *G.Node) (G.Nodes, error)
	// backward adds to a.gs the derivative with respect to each
	// differentiable input, given the output's gradient a.og.
	backward(a *args)
}

// args are the checked arguments of a Do or DoDiff: the data and shapes of
// the inputs and the output's shape; in a DoDiff also the gradient storage
// of the output (og) and of each differentiable input (gs, nil for the
// others).
type args struct {
	in  [][]float64
	sh  []tensor.Shape
	out tensor.Shape
	og  []float64
	gs  [][]float64
}

// kernelOp is the gorgonia.Op (with SDOp and ADOp) of a kernel k; opBase
// gives its identity, arity and type.
type kernelOp[K kernel] struct {
	opBase
	k K
}

// dimShapes checks the arity of an InferShape call and converts its
// DimSizers to shapes.
func dimShapes(op G.Op, ds []G.DimSizer) ([]tensor.Shape, error) {
	if op.Arity() < 1 || len(ds) != op.Arity() {
		return nil, opErr(op, "want %d inputs, have %d", op.Arity(), len(ds))
	}
	in := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, opErr(op, "input %d: shape unknown (%T)", i, d)
		}
		in[i] = s
	}
	return in, nil
}

// InferShape implements gorgonia.Op.
func (op kernelOp[K]) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	in, err := dimShapes(op, ds)
	if err != nil {
		return nil, err
	}
	return op.k.outShape(op, in)
}

// args checks the arity and fetches the data and shapes of vals.
func (op kernelOp[K]) args(vals []G.Value) (a args, err error) {
	if op.arity < 1 || len(vals) != op.arity {
		return a, opErr(op, "want %d inputs, have %d", op.arity, len(vals))
	}
	a.in, a.sh = make([][]float64, len(vals)), make([]tensor.Shape, len(vals))
	for i, v := range vals {
		if a.in[i], a.sh[i], err = denseData(op, v, fmt.Sprintf("input %d", i)); err != nil {
			return a, err
		}
	}
	a.out, err = op.k.outShape(op, a.sh)
	return a, err
}

// Do implements gorgonia.Op.
func (op kernelOp[K]) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverErr(&err)
	a, err := op.args(vals)
	if err != nil {
		return nil, err
	}
	out := make([]float64, a.out.TotalSize())
	if err := op.k.forward(op, out, &a); err != nil {
		return nil, err
	}
	return newDense(a.out, out), nil
}

// SymDiff implements gorgonia.SDOp.
func (op kernelOp[K]) SymDiff(inputs G.Nodes, output, grad *G.Node) (retVal G.Nodes, err error) {
	defer recoverErr(&err)
	if len(inputs) != op.arity || grad == nil || slices.Contains(inputs, nil) {
		return nil, opErr(op, "SymDiff wants %d inputs and a gradient", op.arity)
	}
	d, err := op.k.derivs(inputs, grad)
	if err != nil {
		return nil, fmt.Errorf("unrolled: %v: SymDiff: %w", op, err)
	}
	return d, nil
}

// DoDiff implements gorgonia.ADOp: it adds the derivatives to the inputs'
// gradients.
func (op kernelOp[K]) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if len(inputs) != op.arity || output == nil || slices.Contains(inputs, nil) {
		return opErr(op, "DoDiff wants %d inputs and the output", op.arity)
	}
	a, err := op.args(nodeValues(inputs))
	if err != nil {
		return err
	}
	if a.og, err = gradData(op, output, "output"); err != nil {
		return err
	}
	if len(a.og) != a.out.TotalSize() {
		return opErr(op, "DoDiff: output gradient size mismatch")
	}
	a.gs = make([][]float64, len(inputs))
	for i, diff := range op.DiffWRT(len(inputs)) {
		if !diff {
			continue
		}
		if a.gs[i], err = gradData(op, inputs[i], fmt.Sprintf("input %d", i)); err != nil {
			return err
		}
		if len(a.gs[i]) != len(a.in[i]) {
			return opErr(op, "DoDiff: input %d gradient size mismatch", i)
		}
	}
	op.k.backward(&a)
	return nil
}

// nodeValues collects the values of nodes for DoDiff.
func nodeValues(nodes G.Nodes) []G.Value {
	vals := make([]G.Value, len(nodes))
	for i, n := range nodes {
		vals[i] = n.Value()
	}
	return vals
}

// applySalted applies op, salted, to xs: one node of a symbolic derivative.
func applySalted(op G.Op, xs ...*G.Node) (*G.Node, error) { return G.ApplyOp(salt(op), xs...) }

// sameRanks is the error of input shapes of rank 0 or of unequal ranks, or
// nil.
func sameRanks(op fmt.Stringer, in []tensor.Shape) error {
	for i, s := range in {
		if len(s) < 1 || len(s) != len(in[0]) {
			return opErr(op, "input %d has shape %v: want rank ≥ 1, equal ranks", i, s)
		}
	}
	return nil
}

// sameShapes is the error of two input shapes that are not one shape of
// rank ≥ 1, or nil.
func sameShapes(op fmt.Stringer, in []tensor.Shape) error {
	if err := sameRanks(op, in); err != nil {
		return err
	}
	if !sameShape(in[0], in[1]) {
		return opErr(op, "shapes %v and %v differ", in[0], in[1])
	}
	return nil
}

// addTo adds src to dst elementwise.
func addTo(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}

// ---------------------------------------------------------------------------
// Elementwise Ops. "Rows" are all leading axes and "columns" the last
// axis; a column shape is the shape of the other operand with last axis 1.

// clampOp is clamp(x, lo, hi), elementwise. Every control passes
// through it, so it also rejects NaN and ±Inf: a non-finite control means a
// non-finite input or diverging iterations, and is reported as an error
// rather than propagated.
type clampOp = kernelOp[clampK]

type clampK struct{ lo, hi float64 }

func newClampOp(lo, hi float64) clampOp {
	return clampOp{opBase{id: boundsString("unrolled.clamp", lo, hi), arity: 1}, clampK{lo, hi}}
}

func (k clampK) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	if math.IsNaN(k.lo) || math.IsNaN(k.hi) || k.lo > k.hi {
		return nil, opErr(op, "invalid bounds [%g, %g]", k.lo, k.hi)
	}
	return in[0].Clone(), sameRanks(op, in)
}

func (k clampK) forward(op fmt.Stringer, dst []float64, a *args) error {
	for i, x := range a.in[0] {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("unrolled: %v: input %d is not finite (%g): a NaN or Inf input, or diverging iterations", op, i, x)
		}
		dst[i] = clamp(x, k.lo, k.hi)
	}
	return nil
}

func (k clampK) derivs(x G.Nodes, grad *G.Node) (G.Nodes, error) {
	d, err := applySalted(newMaskMulOp(k.lo, k.hi), x[0], grad)
	return G.Nodes{d}, err
}

func (k clampK) backward(a *args) {
	for i, v := range a.in[0] {
		if inRange(v, k.lo, k.hi) {
			a.gs[0][i] += a.og[i]
		}
	}
}

// maskMulOp is g ⊙ 1[lo ≤ x ≤ hi]: the clamp's derivative applied to g.
// x is g's column shape, broadcast over its columns, or shaped like g.
type maskMulOp = kernelOp[maskMulK]

type maskMulK struct{ lo, hi float64 }

// newMaskMulOp returns the mask of [lo, hi]; it is not differentiable in x
// (piecewise constant).
func newMaskMulOp(lo, hi float64) maskMulOp {
	return maskMulOp{opBase{id: boundsString("unrolled.maskmul", lo, hi), arity: 2, constFirst: true}, maskMulK{lo, hi}}
}

func (k maskMulK) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	if err := sameRanks(op, in); err != nil {
		return nil, err
	}
	if !sameShape(in[0], in[1]) && !isColumn(in[0], in[1]) {
		return nil, opErr(op, "mask shape %v does not fit %v", in[0], in[1])
	}
	return in[1].Clone(), nil
}

// apply adds g ⊙ mask(x) into dst.
func (k maskMulK) apply(dst, x, g []float64, xs, gs tensor.Shape) {
	rows, cols := rowsCols(gs)
	col := !sameShape(xs, gs)
	for i := range rows {
		for j := range cols {
			xv := x[i]
			if !col {
				xv = x[i*cols+j]
			}
			if inRange(xv, k.lo, k.hi) {
				dst[i*cols+j] += g[i*cols+j]
			}
		}
	}
}

func (k maskMulK) forward(_ fmt.Stringer, dst []float64, a *args) error {
	k.apply(dst, a.in[0], a.in[1], a.sh[0], a.sh[1])
	return nil
}

func (k maskMulK) derivs(x G.Nodes, grad *G.Node) (G.Nodes, error) {
	d, err := applySalted(newMaskMulOp(k.lo, k.hi), x[0], grad)
	return G.Nodes{nil, d}, err
}

func (k maskMulK) backward(a *args) { k.apply(a.gs[1], a.in[0], a.og, a.sh[0], a.sh[1]) }

// atan2Op is atan2(y, x) elementwise, the angle of the point (x, y).
type atan2Op = kernelOp[atan2K]

type atan2K struct{}

func newAtan2Op() atan2Op { return atan2Op{opBase{id: "unrolled.atan2", arity: 2}, atan2K{}} }

func (atan2K) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), sameShapes(op, in)
}

func (atan2K) forward(_ fmt.Stringer, dst []float64, a *args) error {
	for i, y := range a.in[0] {
		dst[i] = math.Atan2(y, a.in[1][i])
	}
	return nil
}

// derivs: ∂/∂y = x/r², ∂/∂x = −y/r² with r² = x² + y², built from
// standard Ops.
func (atan2K) derivs(in G.Nodes, grad *G.Node) (G.Nodes, error) {
	y, x := in[0], in[1]
	r2, err := G.Add(G.Must(G.Square(x)), G.Must(G.Square(y)))
	if err != nil {
		return nil, err
	}
	dy, err := G.HadamardProd(grad, G.Must(G.HadamardDiv(x, r2)))
	if err != nil {
		return nil, err
	}
	dx, err := G.Neg(G.Must(G.HadamardProd(grad, G.Must(G.HadamardDiv(y, r2)))))
	return G.Nodes{dy, dx}, err
}

func (atan2K) backward(a *args) {
	yg, xg := a.gs[0], a.gs[1]
	for i, y := range a.in[0] {
		x := a.in[1][i]
		r2 := x*x + y*y
		yg[i] += a.og[i] * (x / r2)
		xg[i] -= a.og[i] * (y / r2)
	}
}

// rowScaleOp is s_i·d_ij for d and its column s: each row of d scaled by
// its own factor, without Gorgonia's broadcast nodes.
type rowScaleOp = kernelOp[rowScaleK]

type rowScaleK struct{}

func newRowScaleOp() rowScaleOp {
	return rowScaleOp{opBase{id: "unrolled.rowscale", arity: 2}, rowScaleK{}}
}

func (rowScaleK) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	if err := sameRanks(op, in); err != nil {
		return nil, err
	}
	if !isColumn(in[0], in[1]) {
		return nil, opErr(op, "factor shape %v does not fit %v (want %v)", in[0], in[1], columnOf(in[1]))
	}
	return in[1].Clone(), nil
}

func (rowScaleK) forward(_ fmt.Stringer, dst []float64, a *args) error {
	_, k := rowsCols(a.sh[1])
	for i, s := range a.in[0] {
		for j := range k {
			dst[i*k+j] = s * a.in[1][i*k+j]
		}
	}
	return nil
}

// derivs: ∂/∂s = rowdot(grad, d), ∂/∂d = rowscale(s, grad).
func (rowScaleK) derivs(x G.Nodes, grad *G.Node) (G.Nodes, error) {
	ds, err := applySalted(newRowDotOp(), grad, x[1])
	if err != nil {
		return nil, err
	}
	dd, err := applySalted(newRowScaleOp(), x[0], grad)
	return G.Nodes{ds, dd}, err
}

func (rowScaleK) backward(a *args) {
	sg, dg, d := a.gs[0], a.gs[1], a.in[1]
	_, k := rowsCols(a.sh[1])
	for i, s := range a.in[0] {
		var acc float64
		for j := range k {
			acc += a.og[i*k+j] * d[i*k+j]
			dg[i*k+j] += s * a.og[i*k+j]
		}
		sg[i] += acc
	}
}

// rowDotOp is Σ_j a_ij b_ij for a, b of one shape: the row-wise inner
// product, shaped as their column.
type rowDotOp = kernelOp[rowDotK]

type rowDotK struct{}

func newRowDotOp() rowDotOp { return rowDotOp{opBase{id: "unrolled.rowdot", arity: 2}, rowDotK{}} }

func (rowDotK) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	if err := sameShapes(op, in); err != nil {
		return nil, err
	}
	return columnOf(in[0]), nil
}

func (rowDotK) forward(_ fmt.Stringer, dst []float64, a *args) error {
	_, k := rowsCols(a.sh[0])
	for i := range dst {
		var acc float64
		for j := range k {
			acc += a.in[0][i*k+j] * a.in[1][i*k+j]
		}
		dst[i] = acc
	}
	return nil
}

// derivs: ∂/∂a = rowscale(grad, b), ∂/∂b = rowscale(grad, a).
func (rowDotK) derivs(x G.Nodes, grad *G.Node) (G.Nodes, error) {
	da, err := applySalted(newRowScaleOp(), grad, x[1])
	if err != nil {
		return nil, err
	}
	db, err := applySalted(newRowScaleOp(), grad, x[0])
	return G.Nodes{da, db}, err
}

func (rowDotK) backward(a *args) {
	_, k := rowsCols(a.sh[0])
	for i, g := range a.og {
		for j := range k {
			a.gs[0][i*k+j] += g * a.in[1][i*k+j]
			a.gs[1][i*k+j] += g * a.in[0][i*k+j]
		}
	}
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

// reshapeOp reinterprets a tensor of shape from as shape to.
type reshapeOp = kernelOp[reshapeK]

type reshapeK struct{ from, to tensor.Shape }

func newReshapeOp(from, to tensor.Shape) reshapeOp {
	from, to = from.Clone(), to.Clone()
	return reshapeOp{opBase{id: fmt.Sprintf("unrolled.reshape%v→%v", from, to), arity: 1, in: len(from), out: len(to)}, reshapeK{from, to}}
}

func (k reshapeK) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	if !sameShape(in[0], k.from) || k.from.TotalSize() != k.to.TotalSize() {
		return nil, opErr(op, "input shape %v cannot be reshaped from %v to %v", in[0], k.from, k.to)
	}
	return k.to.Clone(), nil
}

func (reshapeK) forward(_ fmt.Stringer, dst []float64, a *args) error {
	copy(dst, a.in[0])
	return nil
}

func (k reshapeK) derivs(_ G.Nodes, grad *G.Node) (G.Nodes, error) {
	d, err := applySalted(newReshapeOp(k.to, k.from), grad)
	return G.Nodes{d}, err
}

func (reshapeK) backward(a *args) { addTo(a.gs[0], a.og) }

// concatOp concatenates n tensors of one rank along an axis.
type concatOp = kernelOp[concatK]

type concatK struct{ axis, rank, n int }

func newConcatOp(axis, rank, n int) concatOp {
	id := fmt.Sprintf("unrolled.concat(axis=%d,rank=%d,n=%d)", axis, rank, n)
	return concatOp{opBase{id: id, arity: n, in: rank, out: rank}, concatK{axis, rank, n}}
}

func (k concatK) outShape(op fmt.Stringer, shapes []tensor.Shape) (tensor.Shape, error) {
	if k.n < 1 || len(shapes) != k.n || k.axis < 0 || k.axis >= k.rank {
		return nil, opErr(op, "want %d inputs of rank > %d, have %d", k.n, k.axis, len(shapes))
	}
	out := shapes[0].Clone()
	if len(out) != k.rank {
		return nil, opErr(op, "input 0 has shape %v, want rank %d", out, k.rank)
	}
	for i, s := range shapes[1:] {
		if len(s) != k.rank {
			return nil, opErr(op, "input %d has shape %v, want rank %d", i+1, s, k.rank)
		}
		for a := range s {
			if a != k.axis && s[a] != out[a] {
				return nil, opErr(op, "input %d has shape %v, incompatible with %v", i+1, s, shapes[0])
			}
		}
		out[k.axis] += s[k.axis]
	}
	return out, nil
}

// blocks calls f(i, inOff, outOff, size) for each contiguous block of
// input i in each row block of the output.
func (k concatK) blocks(a *args, f func(i, inOff, outOff, size int)) {
	outer, inner := axisBlocks(a.out, k.axis)
	rowOut := a.out[k.axis] * inner
	for o := range outer {
		off := 0
		for i, s := range a.sh {
			size := s[k.axis] * inner
			f(i, o*size, o*rowOut+off, size)
			off += size
		}
	}
}

func (k concatK) forward(_ fmt.Stringer, dst []float64, a *args) error {
	k.blocks(a, func(i, inOff, outOff, size int) {
		copy(dst[outOff:outOff+size], a.in[i][inOff:inOff+size])
	})
	return nil
}

func (k concatK) derivs(x G.Nodes, grad *G.Node) (G.Nodes, error) {
	res := make(G.Nodes, k.n)
	lo := 0
	for i, in := range x {
		hi := lo + in.Shape()[k.axis]
		d, err := applySalted(newSliceOp(axisRange{k.axis, lo, hi, grad.Shape()}), grad)
		if err != nil {
			return nil, err
		}
		res[i] = d
		lo = hi
	}
	return res, nil
}

func (k concatK) backward(a *args) {
	k.blocks(a, func(i, inOff, outOff, size int) {
		addTo(a.gs[i][inOff:inOff+size], a.og[outOff:outOff+size])
	})
}

// axisRange is the indices [lo, hi) of one axis of a tensor of shape from:
// the kernels of sliceOp and of its adjoint embedOp.
type axisRange struct {
	axis, lo, hi int
	from         tensor.Shape
}

// sliced checks that s is from, that the range fits it, and returns the
// shape of the slice.
func (r axisRange) sliced(op fmt.Stringer, s tensor.Shape) (tensor.Shape, error) {
	if !sameShape(s, r.from) || r.axis < 0 || r.axis >= len(s) || r.lo < 0 || r.hi > s[r.axis] || r.lo >= r.hi {
		return nil, opErr(op, "cannot slice shape %v", s)
	}
	out := s.Clone()
	out[r.axis] = r.hi - r.lo
	return out, nil
}

// blocks calls f(bigOff, smallOff, size) for each contiguous block that
// the range selects in a tensor of shape from.
func (r axisRange) blocks(f func(bigOff, smallOff, size int)) {
	outer, inner := axisBlocks(r.from, r.axis)
	size := (r.hi - r.lo) * inner
	for o := range outer {
		f(o*r.from[r.axis]*inner+r.lo*inner, o*size, size)
	}
}

// toSlice copies the range of big (shape from) into small, or adds it with
// add.
func (r axisRange) toSlice(small, big []float64, add bool) {
	r.blocks(func(bigOff, smallOff, size int) {
		move(small[smallOff:smallOff+size], big[bigOff:bigOff+size], add)
	})
}

// fromSlice copies small into the range of big (shape from), or adds it
// with add.
func (r axisRange) fromSlice(big, small []float64, add bool) {
	r.blocks(func(bigOff, smallOff, size int) {
		move(big[bigOff:bigOff+size], small[smallOff:smallOff+size], add)
	})
}

// move copies src to dst, or adds it with add.
func move(dst, src []float64, add bool) {
	if add {
		addTo(dst, src)
	} else {
		copy(dst, src)
	}
}

// sliceOp takes indices [lo, hi) of one axis of a tensor of shape from,
// keeping the axis; embedOp, its adjoint, places its input at those
// indices in zeros of shape from. Their kernel is one, rangeK, each Op
// differentiating to the other.
type (
	sliceOp = kernelOp[rangeK]
	embedOp = kernelOp[rangeK]
)

// rangeK is the kernel of sliceOp, and of embedOp where embed is set.
type rangeK struct {
	axisRange
	embed bool
}

func newSliceOp(r axisRange) sliceOp {
	r.from = r.from.Clone()
	id := fmt.Sprintf("unrolled.slice(axis=%d,%d:%d,of %v)", r.axis, r.lo, r.hi, r.from)
	return sliceOp{opBase{id: id, arity: 1}, rangeK{r, false}}
}

func newEmbedOp(r axisRange) embedOp {
	r.from = r.from.Clone()
	id := fmt.Sprintf("unrolled.embed(axis=%d,%d:%d,in %v)", r.axis, r.lo, r.hi, r.from)
	return embedOp{opBase{id: id, arity: 1}, rangeK{r, true}}
}

// outShape: a slice takes a tensor of shape from; an embedding takes one
// of the slice's shape and returns shape from.
func (k rangeK) outShape(op fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	if !k.embed {
		return k.sliced(op, in[0])
	}
	want, err := k.sliced(op, k.from)
	if err != nil {
		return nil, err
	}
	if !sameShape(in[0], want) {
		return nil, opErr(op, "input shape %v, want %v", in[0], want)
	}
	return k.from.Clone(), nil
}

func (k rangeK) forward(_ fmt.Stringer, dst []float64, a *args) error {
	if k.embed {
		k.fromSlice(dst, a.in[0], false)
	} else {
		k.toSlice(dst, a.in[0], false)
	}
	return nil
}

func (k rangeK) derivs(_ G.Nodes, grad *G.Node) (G.Nodes, error) {
	adjoint := newEmbedOp(k.axisRange)
	if k.embed {
		adjoint = newSliceOp(k.axisRange)
	}
	d, err := applySalted(adjoint, grad)
	return G.Nodes{d}, err
}

func (k rangeK) backward(a *args) {
	if k.embed {
		k.toSlice(a.gs[0], a.og, true)
	} else {
		k.fromSlice(a.gs[0], a.og, true)
	}
}

// ---------------------------------------------------------------------------
// Ties. The LispMachine takes every node without consumers for a cost to
// differentiate, which must be a scalar, so an input that nothing consumes
// (θ at T = 1, φ without iterations) makes it fail. Build ties such inputs
// into its output with tieOp, whose derivative with respect to them is
// zero (zerosLikeOp), as the output does not depend on them.

// tieOp returns a copy of its input 0 and ignores the values of its other
// inputs, which are not read and may be of any type.
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

// InferShape implements gorgonia.Op.
func (op tieOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	in, err := dimShapes(op, ds)
	if err != nil {
		return nil, err
	}
	return in[0].Clone(), nil
}

// Do implements gorgonia.Op.
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
	if len(inputs) != op.arity || grad == nil || slices.Contains(inputs, nil) {
		return nil, opErr(op, "SymDiff wants %d inputs and a gradient", op.arity)
	}
	res := make(G.Nodes, len(inputs))
	var err error
	for i, x := range inputs {
		if i == 0 {
			res[i], err = applySalted(newTieOp(1), grad)
		} else {
			res[i], err = applySalted(newZerosLikeOp(), x)
		}
		if err != nil {
			return nil, fmt.Errorf("unrolled: %v: SymDiff: %w", op, err)
		}
	}
	return res, nil
}

// DoDiff implements gorgonia.ADOp: it adds the output's gradient to input
// 0's.
func (op tieOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverErr(&err)
	if len(inputs) != op.arity || output == nil || slices.Contains(inputs, nil) {
		return opErr(op, "DoDiff wants %d inputs and the output", op.arity)
	}
	og, err := gradData(op, output, "output")
	if err != nil {
		return err
	}
	ig, err := gradData(op, inputs[0], "input 0")
	if err != nil {
		return err
	}
	if len(og) != len(ig) {
		return opErr(op, "DoDiff: size mismatch")
	}
	addTo(ig, og)
	return nil
}

// zerosLikeOp returns zeros shaped like its input, whatever its values.
type zerosLikeOp = kernelOp[zerosLikeK]

type zerosLikeK struct{}

func newZerosLikeOp() zerosLikeOp {
	return zerosLikeOp{opBase{id: "unrolled.zeroslike", arity: 1}, zerosLikeK{}}
}

func (zerosLikeK) outShape(_ fmt.Stringer, in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}

func (zerosLikeK) forward(fmt.Stringer, []float64, *args) error { return nil }

// derivs: the derivative of a constant is zero.
func (zerosLikeK) derivs(x G.Nodes, _ *G.Node) (G.Nodes, error) {
	d, err := applySalted(newZerosLikeOp(), x[0])
	return G.Nodes{d}, err
}

func (zerosLikeK) backward(*args) {}

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
