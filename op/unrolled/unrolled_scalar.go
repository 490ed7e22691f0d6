package unrolled

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dilqr/dilqr/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GraphScalar is the models.Scalar that Unrolled instantiates a model's
// generic step with, so that the step itself builds Gorgonia graph nodes:
//
//	cfg.Step = models.PendulumStep[unrolled.GraphScalar]
//
// A GraphScalar is either a float64 constant (the zero value is the
// constant 0; Const makes others; arithmetic on constants is plain float64
// arithmetic with the results of models.Float) or a batch of R values held
// in a graph as a column node of shape (R, 1), one row per example (and per
// time step during a linearization). A node-valued GraphScalar may also
// carry a forward-mode derivative part, a node of shape (R, K) holding its
// gradient with respect to the K = N+M state and control entries of the
// step's inputs: a "vector dual number", so one evaluation of the step
// yields the whole Jacobian [∂f/∂x ∂f/∂u] row by row.
//
// Operations only record an expression; Unrolled turns the parts it needs
// into nodes afterwards (values for a rollout, derivatives for a
// linearization), so no unused node enters the graph. Value returns the
// constant, or NaN for a node-valued GraphScalar, whose values are not
// known while the graph is built: a step function must not branch on Value
// (models' steps use Clamp for that). GraphScalars from different Unrolled
// graphs must not be mixed.
type GraphScalar struct {
	c float64 // the value when e is nil
	e *urExpr
}

var _ models.Scalar[GraphScalar] = GraphScalar{}

// urKind is the operation of one expression node.
type urKind uint8

const (
	urLeaf   urKind = iota // a given value node and derivative node
	urConst                // the constant c as a node (only as an operand of Atan2)
	urAdd                  // x + y
	urSub                  // x − y
	urMul                  // x·y
	urDiv                  // x/y
	urNeg                  // −x
	urAddC                 // x + c
	urMulC                 // x·c
	urDivC                 // x/c
	urRSubC                // c − x
	urRDivC                // c/x
	urSin                  // sin x
	urCos                  // cos x
	urSqrt                 // √x
	urExp                  // eˣ
	urTanh                 // tanh x
	urAtan2                // atan2(x, y)
	urClampK               // clamp(x, c, c2)
)

// urExpr is one recorded operation. Its value node v and derivative node d
// are built on demand and memoized.
type urExpr struct {
	b     *urBuilder
	kind  urKind
	x, y  *urExpr
	c, c2 float64
	rows  int
	hasD  bool // the derivative part may be nonzero
	v, d  *G.Node
	// A lazy leaf makes its value and derivative nodes on first use.
	lazyV, lazyD func() *G.Node
}

func (a GraphScalar) isConst() bool { return a.e == nil }

// urLeafScalar wraps a value node (rows,1,1) and an optional derivative
// node (rows,1,K) as a GraphScalar.
func urLeafScalar(b *urBuilder, v, d *G.Node, rows int) GraphScalar {
	return GraphScalar{e: &urExpr{b: b, kind: urLeaf, v: v, d: d, rows: rows, hasD: d != nil}}
}

// urLazyLeaf is urLeafScalar with nodes made by v and d (nil: no
// derivative part) when first needed.
func urLazyLeaf(b *urBuilder, v, d func() *G.Node, rows int) GraphScalar {
	return GraphScalar{e: &urExpr{b: b, kind: urLeaf, lazyV: v, lazyD: d, rows: rows, hasD: d != nil}}
}

func urUnary(k urKind, x *urExpr, c float64) GraphScalar {
	return GraphScalar{e: &urExpr{b: x.b, kind: k, x: x, c: c, rows: x.rows, hasD: x.hasD}}
}

func urBinary(k urKind, x, y *urExpr) GraphScalar {
	b := x.b
	if b != y.b || x.rows != y.rows {
		b.fail(fmt.Errorf("op: GraphScalar: operands from different graphs or batches"))
	}
	return GraphScalar{e: &urExpr{b: b, kind: k, x: x, y: y, rows: x.rows, hasD: x.hasD || y.hasD}}
}

// asExpr returns a as an expression with the rows of like, turning a
// constant into a constant node.
func (a GraphScalar) asExpr(like *urExpr) *urExpr {
	if a.e != nil {
		return a.e
	}
	return &urExpr{b: like.b, kind: urConst, c: a.c, rows: like.rows}
}

// Value implements models.Scalar: the constant, or NaN for a node-valued
// GraphScalar (its values exist only when the graph runs).
func (a GraphScalar) Value() float64 {
	if a.isConst() {
		return a.c
	}
	return math.NaN()
}

// Const implements models.Scalar.
func (GraphScalar) Const(v float64) GraphScalar { return GraphScalar{c: v} }

// Add implements models.Scalar.
func (a GraphScalar) Add(b GraphScalar) GraphScalar {
	switch {
	case a.isConst() && b.isConst():
		return GraphScalar{c: a.c + b.c}
	case b.isConst():
		return urUnary(urAddC, a.e, b.c)
	case a.isConst():
		return urUnary(urAddC, b.e, a.c)
	}
	return urBinary(urAdd, a.e, b.e)
}

// Sub implements models.Scalar.
func (a GraphScalar) Sub(b GraphScalar) GraphScalar {
	switch {
	case a.isConst() && b.isConst():
		return GraphScalar{c: a.c - b.c}
	case b.isConst():
		return urUnary(urAddC, a.e, -b.c) // x − c = x + (−c) exactly
	case a.isConst():
		return urUnary(urRSubC, b.e, a.c)
	}
	return urBinary(urSub, a.e, b.e)
}

// Mul implements models.Scalar.
func (a GraphScalar) Mul(b GraphScalar) GraphScalar {
	switch {
	case a.isConst() && b.isConst():
		return GraphScalar{c: a.c * b.c}
	case b.isConst():
		return urUnary(urMulC, a.e, b.c)
	case a.isConst():
		return urUnary(urMulC, b.e, a.c)
	}
	return urBinary(urMul, a.e, b.e)
}

// Div implements models.Scalar.
func (a GraphScalar) Div(b GraphScalar) GraphScalar {
	switch {
	case a.isConst() && b.isConst():
		return GraphScalar{c: a.c / b.c}
	case b.isConst():
		return urUnary(urDivC, a.e, b.c)
	case a.isConst():
		return urUnary(urRDivC, b.e, a.c)
	}
	return urBinary(urDiv, a.e, b.e)
}

// Neg implements models.Scalar.
func (a GraphScalar) Neg() GraphScalar {
	if a.isConst() {
		return GraphScalar{c: -a.c}
	}
	return urUnary(urNeg, a.e, 0)
}

// AddC implements models.Scalar.
func (a GraphScalar) AddC(c float64) GraphScalar { return a.Add(GraphScalar{c: c}) }

// MulC implements models.Scalar.
func (a GraphScalar) MulC(c float64) GraphScalar { return a.Mul(GraphScalar{c: c}) }

func (a GraphScalar) fn(k urKind, f func(float64) float64) GraphScalar {
	if a.isConst() {
		return GraphScalar{c: f(a.c)}
	}
	return urUnary(k, a.e, 0)
}

// Sin implements models.Scalar.
func (a GraphScalar) Sin() GraphScalar { return a.fn(urSin, math.Sin) }

// Cos implements models.Scalar.
func (a GraphScalar) Cos() GraphScalar { return a.fn(urCos, math.Cos) }

// Sqrt implements models.Scalar.
func (a GraphScalar) Sqrt() GraphScalar { return a.fn(urSqrt, math.Sqrt) }

// Exp implements models.Scalar.
func (a GraphScalar) Exp() GraphScalar { return a.fn(urExp, math.Exp) }

// Tanh implements models.Scalar.
func (a GraphScalar) Tanh() GraphScalar { return a.fn(urTanh, math.Tanh) }

// Atan2 implements models.Scalar: atan2(a, x), with the derivative
// (x·da − a·dx)/(x² + a²), exact in every quadrant.
func (a GraphScalar) Atan2(x GraphScalar) GraphScalar {
	switch {
	case a.isConst() && x.isConst():
		return GraphScalar{c: math.Atan2(a.c, x.c)}
	case a.isConst():
		return urBinary(urAtan2, a.asExpr(x.e), x.e)
	case x.isConst():
		return urBinary(urAtan2, a.e, x.asExpr(a.e))
	}
	return urBinary(urAtan2, a.e, x.e)
}

// Clamp implements models.Scalar: the derivative is 1 on the closed
// interval [lo, hi] and 0 outside.
func (a GraphScalar) Clamp(lo, hi float64) GraphScalar {
	if a.isConst() {
		return GraphScalar{c: clamp(a.c, lo, hi)}
	}
	g := urUnary(urClampK, a.e, lo)
	g.e.c2 = hi
	return g
}

// ---------------------------------------------------------------------------
// Materialization: turning expressions into graph nodes.

// value returns the value node (rows,1,1) of a.
func (b *urBuilder) value(a GraphScalar, rows int) *G.Node {
	if a.isConst() {
		return b.filled(b.col(rows), a.c)
	}
	return b.exprValue(a.e)
}

// deriv returns the derivative node (rows,1,K) of a (zeros if it has none).
func (b *urBuilder) deriv(a GraphScalar, rows int) *G.Node {
	if a.isConst() || !a.e.hasD {
		return b.filled(tensor.Shape{rows, 1, b.k}, 0)
	}
	return b.exprDeriv(a.e)
}

func (b *urBuilder) exprValue(e *urExpr) *G.Node {
	if b.err != nil {
		return nil
	}
	if e.v != nil {
		return e.v
	}
	if e.b != b {
		b.fail(fmt.Errorf("op: GraphScalar from another graph"))
		return nil
	}
	var v *G.Node
	switch e.kind {
	case urLeaf:
		if e.lazyV == nil {
			b.fail(fmt.Errorf("op: GraphScalar leaf without a value"))
			break
		}
		v = e.lazyV()
	case urConst:
		v = b.filled(b.col(e.rows), e.c)
	case urAdd:
		v = b.add(b.exprValue(e.x), b.exprValue(e.y))
	case urSub:
		v = b.sub(b.exprValue(e.x), b.exprValue(e.y))
	case urMul:
		v = b.mul(b.exprValue(e.x), b.exprValue(e.y))
	case urDiv:
		v = b.div(b.exprValue(e.x), b.exprValue(e.y))
	case urNeg:
		v = b.neg(b.exprValue(e.x))
	case urAddC:
		v = b.add(b.exprValue(e.x), b.scalar(e.c))
	case urMulC:
		v = b.mul(b.exprValue(e.x), b.scalar(e.c))
	case urDivC:
		v = b.div(b.exprValue(e.x), b.scalar(e.c))
	case urRSubC:
		v = b.sub(b.scalar(e.c), b.exprValue(e.x))
	case urRDivC:
		v = b.div(b.scalar(e.c), b.exprValue(e.x))
	case urSin:
		v = b.unary("sin", G.Sin, b.exprValue(e.x))
	case urCos:
		v = b.unary("cos", G.Cos, b.exprValue(e.x))
	case urSqrt:
		v = b.unary("sqrt", G.Sqrt, b.exprValue(e.x))
	case urExp:
		v = b.unary("exp", G.Exp, b.exprValue(e.x))
	case urTanh:
		v = b.unary("tanh", G.Tanh, b.exprValue(e.x))
	case urAtan2:
		v = b.apply(urAtan2Op{}, b.exprValue(e.x), b.exprValue(e.y))
	case urClampK:
		v = b.apply(urClampOp{lo: e.c, hi: e.c2}, b.exprValue(e.x))
	default:
		b.fail(fmt.Errorf("op: GraphScalar: unknown operation %d", e.kind))
	}
	e.v = v
	return v
}

// exprDeriv returns the derivative node of e, which must have hasD set.
// The rules are those of models.Dual, applied to a row of K directions.
func (b *urBuilder) exprDeriv(e *urExpr) *G.Node {
	if b.err != nil {
		return nil
	}
	if e.d != nil {
		return e.d
	}
	if !e.hasD {
		b.fail(fmt.Errorf("op: GraphScalar: derivative of a constant expression requested"))
		return nil
	}
	dx := func() *G.Node { return b.exprDeriv(e.x) }
	vx := func() *G.Node { return b.exprValue(e.x) }
	var d *G.Node
	switch e.kind {
	case urLeaf:
		if e.lazyD == nil {
			b.fail(fmt.Errorf("op: GraphScalar leaf without a derivative"))
			break
		}
		d = e.lazyD()
	case urAdd, urSub:
		switch {
		case !e.y.hasD:
			d = dx()
		case !e.x.hasD && e.kind == urAdd:
			d = b.exprDeriv(e.y)
		case !e.x.hasD:
			d = b.neg(b.exprDeriv(e.y))
		case e.kind == urAdd:
			d = b.add(dx(), b.exprDeriv(e.y))
		default:
			d = b.sub(dx(), b.exprDeriv(e.y))
		}
	case urMul: // y·dx + x·dy
		var terms []*G.Node
		if e.x.hasD {
			terms = append(terms, b.rowScale(b.exprValue(e.y), dx()))
		}
		if e.y.hasD {
			terms = append(terms, b.rowScale(vx(), b.exprDeriv(e.y)))
		}
		d = b.sum(terms...)
	case urDiv: // (dx − r·dy)/y with r = x/y
		num := (*G.Node)(nil)
		switch {
		case !e.y.hasD:
			num = dx()
		case !e.x.hasD:
			num = b.neg(b.rowScale(b.exprValue(e), b.exprDeriv(e.y)))
		default:
			num = b.sub(dx(), b.rowScale(b.exprValue(e), b.exprDeriv(e.y)))
		}
		d = b.rowScale(b.unary("inverse", G.Inverse, b.exprValue(e.y)), num)
	case urNeg:
		d = b.neg(dx())
	case urAddC:
		d = dx()
	case urMulC:
		d = b.mul(dx(), b.scalar(e.c))
	case urDivC:
		d = b.div(dx(), b.scalar(e.c))
	case urRSubC:
		d = b.neg(dx())
	case urRDivC: // d(c/x) = −(c/x)/x·dx
		d = b.rowScale(b.neg(b.div(b.exprValue(e), vx())), dx())
	case urSin:
		d = b.rowScale(b.unary("cos", G.Cos, vx()), dx())
	case urCos:
		d = b.rowScale(b.neg(b.unary("sin", G.Sin, vx())), dx())
	case urSqrt: // dx/(2√x)
		d = b.rowScale(b.div(b.scalar(0.5), b.exprValue(e)), dx())
	case urExp:
		d = b.rowScale(b.exprValue(e), dx())
	case urTanh: // (1 − tanh²)·dx
		d = b.rowScale(b.sub(b.scalar(1), b.unary("square", G.Square, b.exprValue(e))), dx())
	case urAtan2: // (x·dy − y·dx)/(x² + y²) for atan2(y, x) = atan2(e.x, e.y)
		y, x := e.x, e.y
		r2 := b.add(b.unary("square", G.Square, b.exprValue(x)), b.unary("square", G.Square, b.exprValue(y)))
		var terms []*G.Node
		if y.hasD {
			terms = append(terms, b.rowScale(b.div(b.exprValue(x), r2), b.exprDeriv(y)))
		}
		if x.hasD {
			t := b.rowScale(b.div(b.exprValue(y), r2), b.exprDeriv(x))
			if len(terms) == 0 {
				terms = append(terms, b.neg(t))
			} else {
				terms[0] = b.sub(terms[0], t)
			}
		}
		d = b.sum(terms...)
	case urClampK:
		d = b.apply(urMaskMulOp{lo: e.c, hi: e.c2}, vx(), dx())
	default:
		b.fail(fmt.Errorf("op: GraphScalar: no derivative for operation %d", e.kind))
	}
	e.d = d
	return d
}

// ---------------------------------------------------------------------------
// Constant nodes. Gorgonia merges constants by name and scans all of a
// graph's constants on every node it adds, so they are few, cached, and
// named exactly by their contents.

func urFloatName(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// scalar returns the float64 scalar constant v.
func (b *urBuilder) scalar(v float64) *G.Node {
	name := "unrolled.scalar(" + urFloatName(v) + ")"
	if n, ok := b.consts[name]; ok {
		return n
	}
	return b.addConst(name, G.NewConstant(v, G.WithName(name)))
}

// filled returns the constant tensor of the given shape with every entry v.
func (b *urBuilder) filled(shape tensor.Shape, v float64) *G.Node {
	name := fmt.Sprintf("unrolled.filled(%v,%s)", shape, urFloatName(v))
	return b.constTensor(name, shape, func(i, j int) float64 { return v })
}

// constTensor returns the cached constant named name of the given shape
// whose entry in row i (leading axes flattened) and column j (last axis)
// is f(i, j).
func (b *urBuilder) constTensor(name string, shape tensor.Shape, f func(i, j int) float64) *G.Node {
	if n, ok := b.consts[name]; ok {
		return n
	}
	rows, cols := urRowsCols(shape)
	data := make([]float64, rows*cols)
	for i := range rows {
		for j := range cols {
			data[i*cols+j] = f(i, j)
		}
	}
	return b.addConst(name, G.NewConstant(tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(data)), G.WithName(name)))
}

// addConst adds a constant to the graph and caches the graph's node (the
// graph keeps a copy of a constant, not the node given to it).
func (b *urBuilder) addConst(name string, n *G.Node) *G.Node {
	b.initHashes()
	before := len(b.g.AllNodes())
	n = b.g.AddNode(n)
	if len(b.g.AllNodes()) > before {
		b.useHash(n)
	}
	b.consts[name] = n
	return n
}
