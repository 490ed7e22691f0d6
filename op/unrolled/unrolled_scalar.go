package unrolled

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dilqr/dilqr/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GraphScalar is the models.Scalar that Build instantiates a model's
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
// Operations only record an expression; Build turns the parts it needs
// into nodes afterwards (values for a rollout, derivatives for a
// linearization), so no unused node enters the graph. Value returns the
// constant, or NaN for a node-valued GraphScalar, whose values are not
// known while the graph is built: a step function must not branch on Value
// (models' steps use Clamp for that). GraphScalars from different unrolled
// graphs must not be mixed.
type GraphScalar struct {
	c float64 // the value when e is nil
	e *expr
}

var _ models.Scalar[GraphScalar] = GraphScalar{}

// exprKind is the operation of one expression node.
type exprKind uint8

const (
	kindLeaf  exprKind = iota // a given value node and derivative node
	kindConst                 // the constant c as a node (only as an operand of Atan2)
	kindAdd                   // x + y
	kindSub                   // x − y
	kindMul                   // x·y
	kindDiv                   // x/y
	kindNeg                   // −x
	kindAddC                  // x + c
	kindMulC                  // x·c
	kindDivC                  // x/c
	kindRSubC                 // c − x
	kindRDivC                 // c/x
	kindSin                   // sin x
	kindCos                   // cos x
	kindSqrt                  // √x
	kindExp                   // eˣ
	kindTanh                  // tanh x
	kindAtan2                 // atan2(x, y)
	kindClamp                 // clamp(x, c, c2)
)

// expr is one recorded operation. Its value node v and derivative node d
// are built on demand and memoized.
type expr struct {
	b     *builder
	kind  exprKind
	x, y  *expr
	c, c2 float64
	rows  int
	hasD  bool // the derivative part may be nonzero
	v, d  *G.Node
	// A lazy leaf makes its value and derivative nodes on first use.
	lazyV, lazyD func() *G.Node
}

func (a GraphScalar) isConst() bool { return a.e == nil }

// leafScalar wraps a value node (rows,1,1) and an optional derivative
// node (rows,1,K) as a GraphScalar.
func leafScalar(b *builder, v, d *G.Node, rows int) GraphScalar {
	return GraphScalar{e: &expr{b: b, kind: kindLeaf, v: v, d: d, rows: rows, hasD: d != nil}}
}

// lazyLeaf is leafScalar with nodes made by v and d (nil: no
// derivative part) when first needed.
func lazyLeaf(b *builder, v, d func() *G.Node, rows int) GraphScalar {
	return GraphScalar{e: &expr{b: b, kind: kindLeaf, lazyV: v, lazyD: d, rows: rows, hasD: d != nil}}
}

func unaryExpr(k exprKind, x *expr, c float64) GraphScalar {
	return GraphScalar{e: &expr{b: x.b, kind: k, x: x, c: c, rows: x.rows, hasD: x.hasD}}
}

func binaryExpr(k exprKind, x, y *expr) GraphScalar {
	b := x.b
	if b != y.b || x.rows != y.rows {
		b.fail(fmt.Errorf("unrolled: GraphScalar: operands from different graphs or batches"))
	}
	return GraphScalar{e: &expr{b: b, kind: k, x: x, y: y, rows: x.rows, hasD: x.hasD || y.hasD}}
}

// asExpr returns a as an expression with the rows of like, turning a
// constant into a constant node.
func (a GraphScalar) asExpr(like *expr) *expr {
	if a.e != nil {
		return a.e
	}
	return &expr{b: like.b, kind: kindConst, c: a.c, rows: like.rows}
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
	return a.arith(b, kindAdd, kindAddC, kindAddC, func(x, y float64) float64 { return x + y })
}

// Sub implements models.Scalar.
func (a GraphScalar) Sub(b GraphScalar) GraphScalar {
	if b.isConst() {
		return a.Add(GraphScalar{c: -b.c}) // x − c = x + (−c) exactly
	}
	return a.arith(b, kindSub, kindAddC, kindRSubC, func(x, y float64) float64 { return x - y })
}

// Mul implements models.Scalar.
func (a GraphScalar) Mul(b GraphScalar) GraphScalar {
	return a.arith(b, kindMul, kindMulC, kindMulC, func(x, y float64) float64 { return x * y })
}

// Div implements models.Scalar.
func (a GraphScalar) Div(b GraphScalar) GraphScalar {
	return a.arith(b, kindDiv, kindDivC, kindRDivC, func(x, y float64) float64 { return x / y })
}

// arith records the binary operation k on a and b: f of two constants
// (folded, as models.Float computes it), kc with a constant b, kcx with a
// constant a (c op x: the same as kc for a commutative op).
func (a GraphScalar) arith(b GraphScalar, k, kc, kcx exprKind, f func(x, y float64) float64) GraphScalar {
	switch {
	case a.isConst() && b.isConst():
		return GraphScalar{c: f(a.c, b.c)}
	case b.isConst():
		return unaryExpr(kc, a.e, b.c)
	case a.isConst():
		return unaryExpr(kcx, b.e, a.c)
	}
	return binaryExpr(k, a.e, b.e)
}

// Neg implements models.Scalar.
func (a GraphScalar) Neg() GraphScalar {
	if a.isConst() {
		return GraphScalar{c: -a.c}
	}
	return unaryExpr(kindNeg, a.e, 0)
}

// AddC implements models.Scalar.
func (a GraphScalar) AddC(c float64) GraphScalar { return a.Add(GraphScalar{c: c}) }

// MulC implements models.Scalar.
func (a GraphScalar) MulC(c float64) GraphScalar { return a.Mul(GraphScalar{c: c}) }

func (a GraphScalar) fn(k exprKind, f func(float64) float64) GraphScalar {
	if a.isConst() {
		return GraphScalar{c: f(a.c)}
	}
	return unaryExpr(k, a.e, 0)
}

// Sin implements models.Scalar.
func (a GraphScalar) Sin() GraphScalar { return a.fn(kindSin, math.Sin) }

// Cos implements models.Scalar.
func (a GraphScalar) Cos() GraphScalar { return a.fn(kindCos, math.Cos) }

// Sqrt implements models.Scalar.
func (a GraphScalar) Sqrt() GraphScalar { return a.fn(kindSqrt, math.Sqrt) }

// Exp implements models.Scalar.
func (a GraphScalar) Exp() GraphScalar { return a.fn(kindExp, math.Exp) }

// Tanh implements models.Scalar.
func (a GraphScalar) Tanh() GraphScalar { return a.fn(kindTanh, math.Tanh) }

// Atan2 implements models.Scalar: atan2(a, x), with the derivative
// (x·da − a·dx)/(x² + a²), exact in every quadrant.
func (a GraphScalar) Atan2(x GraphScalar) GraphScalar {
	switch {
	case a.isConst() && x.isConst():
		return GraphScalar{c: math.Atan2(a.c, x.c)}
	case a.isConst():
		return binaryExpr(kindAtan2, a.asExpr(x.e), x.e)
	case x.isConst():
		return binaryExpr(kindAtan2, a.e, x.asExpr(a.e))
	}
	return binaryExpr(kindAtan2, a.e, x.e)
}

// Clamp implements models.Scalar: the derivative is 1 on the closed
// interval [lo, hi] and 0 outside.
func (a GraphScalar) Clamp(lo, hi float64) GraphScalar {
	if a.isConst() {
		return GraphScalar{c: clamp(a.c, lo, hi)}
	}
	g := unaryExpr(kindClamp, a.e, lo)
	g.e.c2 = hi
	return g
}

// ---------------------------------------------------------------------------
// Materialization: turning expressions into graph nodes.

// value returns the value node (rows,1,1) of a.
func (b *builder) value(a GraphScalar, rows int) *G.Node {
	if a.isConst() {
		return b.filled(b.col(rows), a.c)
	}
	return b.exprValue(a.e)
}

// deriv returns the derivative node (rows,1,K) of a (zeros if it has none).
func (b *builder) deriv(a GraphScalar, rows int) *G.Node {
	if a.isConst() || !a.e.hasD {
		return b.filled(tensor.Shape{rows, 1, b.k}, 0)
	}
	return b.exprDeriv(a.e)
}

func (b *builder) exprValue(e *expr) *G.Node {
	if b.err != nil || e.v != nil {
		return e.v // memoized, or nil after an error
	}
	if e.b != b {
		b.fail(fmt.Errorf("unrolled: GraphScalar from another graph"))
		return nil
	}
	var v *G.Node
	switch e.kind {
	case kindLeaf:
		v = b.leaf(e.lazyV, "value")
	case kindConst:
		v = b.filled(b.col(e.rows), e.c)
	case kindAdd, kindSub, kindMul, kindDiv:
		v = b.arith(e.kind, b.exprValue(e.x), b.exprValue(e.y))
	case kindAddC, kindMulC, kindDivC:
		v = b.arith(e.kind, b.exprValue(e.x), b.scalar(e.c))
	case kindRSubC, kindRDivC:
		v = b.arith(e.kind, b.scalar(e.c), b.exprValue(e.x))
	case kindNeg:
		v = b.neg(b.exprValue(e.x))
	case kindSin, kindCos, kindSqrt, kindExp, kindTanh:
		f := elementaryFuncs[e.kind]
		v = b.unary(f.name, f.op, b.exprValue(e.x))
	case kindAtan2:
		v = b.apply(newAtan2Op(), b.exprValue(e.x), b.exprValue(e.y))
	case kindClamp:
		v = b.apply(newClampOp(e.c, e.c2), b.exprValue(e.x))
	default:
		b.fail(fmt.Errorf("unrolled: GraphScalar: unknown operation %d", e.kind))
	}
	e.v = v
	return v
}

// arith applies the arithmetic of k (+, −, ·, / with or without a
// constant operand) to the nodes x and y.
func (b *builder) arith(k exprKind, x, y *G.Node) *G.Node {
	switch k {
	case kindAdd, kindAddC:
		return b.add(x, y)
	case kindSub, kindRSubC:
		return b.sub(x, y)
	case kindMul, kindMulC:
		return b.mul(x, y)
	}
	return b.div(x, y) // kindDiv, kindDivC, kindRDivC
}

// elementaryFuncs are the Gorgonia Ops of the elementary functions.
var elementaryFuncs = map[exprKind]struct {
	name string
	op   func(*G.Node) (*G.Node, error)
}{
	kindSin: {"sin", G.Sin}, kindCos: {"cos", G.Cos}, kindSqrt: {"sqrt", G.Sqrt},
	kindExp: {"exp", G.Exp}, kindTanh: {"tanh", G.Tanh},
}

// leaf returns the node that make makes, or fails for a leaf without the
// named part.
func (b *builder) leaf(make func() *G.Node, part string) *G.Node {
	if make == nil {
		b.fail(fmt.Errorf("unrolled: GraphScalar leaf without a %s", part))
		return nil
	}
	return make()
}

// exprDeriv returns the derivative node of e, which must have hasD set.
// The rules are those of models.Dual, applied to a row of K directions.
func (b *builder) exprDeriv(e *expr) *G.Node {
	if b.err != nil || e.d != nil {
		return e.d // memoized, or nil after an error
	}
	if !e.hasD {
		b.fail(fmt.Errorf("unrolled: GraphScalar: derivative of a constant expression requested"))
		return nil
	}
	dx := func() *G.Node { return b.exprDeriv(e.x) }
	vx := func() *G.Node { return b.exprValue(e.x) }
	var d *G.Node
	switch e.kind {
	case kindLeaf:
		d = b.leaf(e.lazyD, "derivative")
	case kindAdd, kindSub:
		switch {
		case !e.y.hasD:
			d = dx()
		case !e.x.hasD && e.kind == kindAdd:
			d = b.exprDeriv(e.y)
		case !e.x.hasD:
			d = b.neg(b.exprDeriv(e.y))
		case e.kind == kindAdd:
			d = b.add(dx(), b.exprDeriv(e.y))
		default:
			d = b.sub(dx(), b.exprDeriv(e.y))
		}
	case kindMul: // y·dx + x·dy
		var terms []*G.Node
		if e.x.hasD {
			terms = append(terms, b.rowScale(b.exprValue(e.y), dx()))
		}
		if e.y.hasD {
			terms = append(terms, b.rowScale(vx(), b.exprDeriv(e.y)))
		}
		d = b.sum(terms...)
	case kindDiv: // (dx − r·dy)/y with r = x/y
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
	case kindNeg:
		d = b.neg(dx())
	case kindAddC:
		d = dx()
	case kindMulC:
		d = b.mul(dx(), b.scalar(e.c))
	case kindDivC:
		d = b.div(dx(), b.scalar(e.c))
	case kindRSubC:
		d = b.neg(dx())
	case kindRDivC: // d(c/x) = −(c/x)/x·dx
		d = b.rowScale(b.neg(b.div(b.exprValue(e), vx())), dx())
	case kindSin:
		d = b.rowScale(b.unary("cos", G.Cos, vx()), dx())
	case kindCos:
		d = b.rowScale(b.neg(b.unary("sin", G.Sin, vx())), dx())
	case kindSqrt: // dx/(2√x)
		d = b.rowScale(b.div(b.scalar(0.5), b.exprValue(e)), dx())
	case kindExp:
		d = b.rowScale(b.exprValue(e), dx())
	case kindTanh: // (1 − tanh²)·dx
		d = b.rowScale(b.sub(b.scalar(1), b.unary("square", G.Square, b.exprValue(e))), dx())
	case kindAtan2: // (x·dy − y·dx)/(x² + y²) for atan2(y, x) = atan2(e.x, e.y)
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
	case kindClamp:
		d = b.apply(newMaskMulOp(e.c, e.c2), vx(), dx())
	default:
		b.fail(fmt.Errorf("unrolled: GraphScalar: no derivative for operation %d", e.kind))
	}
	e.d = d
	return d
}

// ---------------------------------------------------------------------------
// Constant nodes. Gorgonia merges constants by name and scans all of a
// graph's constants on every node it adds, so they are few, cached, and
// named exactly by their contents.

func floatName(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// scalar returns the float64 scalar constant v.
func (b *builder) scalar(v float64) *G.Node {
	name := "unrolled.scalar(" + floatName(v) + ")"
	if n, ok := b.consts[name]; ok {
		return n
	}
	return b.addConst(name, G.NewConstant(v, G.WithName(name)))
}

// filled returns the constant tensor of the given shape with every entry v.
func (b *builder) filled(shape tensor.Shape, v float64) *G.Node {
	name := fmt.Sprintf("unrolled.filled(%v,%s)", shape, floatName(v))
	return b.constTensor(name, shape, func(i, j int) float64 { return v })
}

// constTensor returns the cached constant named name of the given shape
// whose entry in row i (leading axes flattened) and column j (last axis)
// is f(i, j).
func (b *builder) constTensor(name string, shape tensor.Shape, f func(i, j int) float64) *G.Node {
	if n, ok := b.consts[name]; ok {
		return n
	}
	rows, cols := rowsCols(shape)
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
func (b *builder) addConst(name string, n *G.Node) *G.Node {
	b.initHashes()
	before := len(b.g.AllNodes())
	n = b.g.AddNode(n)
	if len(b.g.AllNodes()) > before {
		b.useHash(n)
	}
	b.consts[name] = n
	return n
}
