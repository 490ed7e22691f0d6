package op

import (
	"fmt"
	"hash"
	"strings"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Cast returns x converted to the dtype to, Float32 or Float64: x itself
// when it has that dtype already, else a node of a cast Op with x's shape.
// Its derivative is the identity: the gradient flowing back is converted
// to x's dtype (TapeMachine through G.Grad, LispMachine through DoDiff).
// Float32 → Float64 is exact; Float64 → Float32 rounds to nearest, and so
// does the gradient on its way back from Float64 to Float32.
//
// x must be a tensor of rank at least 1 (Gorgonia's scalars are not
// supported). Plan casts Float32 inputs with it, so Float32 graphs need
// not call it themselves.
func Cast(x *G.Node, to tensor.Dtype) (*G.Node, error) {
	if x == nil {
		return nil, badInput("Cast: node is nil")
	}
	if !castable(to) {
		return nil, badInput("Cast: to %v: only float32 and float64 are supported", to)
	}
	from := x.Dtype()
	if from == to {
		return x, nil
	}
	if !castable(from) {
		return nil, badInput("Cast: %s is %v: only float32 and float64 are supported", x.Name(), from)
	}
	if x.Dims() < 1 {
		return nil, badInput("Cast: %s is a scalar: only tensors of rank ≥ 1 are supported", x.Name())
	}
	out, err := G.ApplyOp(&castOp{from: from, to: to, dims: x.Dims()}, x)
	if err != nil {
		return nil, fmt.Errorf("op: Cast: %w", err)
	}
	return out, nil
}

func castable(dt tensor.Dtype) bool { return dt == tensor.Float32 || dt == tensor.Float64 }

// castInputs checks that the planner's input nodes share one dtype,
// Float32 or Float64, returns it, and replaces Float32 nodes in args by
// Float64 casts of them (the Op computes in float64). slots name the
// inputs in errors.
func castInputs(args G.Nodes, slots []slot) (tensor.Dtype, error) {
	if len(args) == 0 || len(args) != len(slots) {
		return tensor.Dtype{}, badInput("Plan: %d input nodes for %d inputs", len(args), len(slots))
	}
	dt := args[0].Dtype()
	for i, a := range args {
		if d := a.Dtype(); !castable(d) {
			return tensor.Dtype{}, badInput("Plan: %s is %v: inputs must be float32 or float64", slots[i].name, d)
		}
		if a.Dtype() != dt {
			var b strings.Builder
			for j, a := range args {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s %v", slots[j].name, a.Dtype())
			}
			return tensor.Dtype{}, badInput("Plan: inputs mix float32 and float64 (%s): give every input one dtype (Cast converts a node)", b.String())
		}
	}
	if dt == tensor.Float64 {
		return dt, nil
	}
	for i, a := range args {
		c, err := Cast(a, tensor.Float64)
		if err != nil {
			return tensor.Dtype{}, fmt.Errorf("op: Plan: casting %s: %w", slots[i].name, err)
		}
		args[i] = c
	}
	return dt, nil
}

// castOp converts a tensor of rank dims from one float dtype to the other.
// Its gradient is the output's gradient cast back.
type castOp struct {
	goOp
	from, to tensor.Dtype
	dims     int
}

// Arity implements gorgonia.Op.
func (c *castOp) Arity() int { return 1 }

// Type implements gorgonia.Op: Tensor-dims of from → Tensor-dims of to.
func (c *castOp) Type() hm.Type {
	return hm.NewFnType(G.TensorType{Dims: c.dims, Of: c.from}, G.TensorType{Dims: c.dims, Of: c.to})
}

// InferShape implements gorgonia.Op: the input's shape.
func (c *castOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != 1 {
		return nil, badInput("%v: want 1 input, have %d", c, len(ds))
	}
	s, ok := ds[0].(tensor.Shape)
	if !ok {
		return nil, badInput("%v: input shape unknown (%T)", c, ds[0])
	}
	if len(s) != c.dims {
		return nil, badInput("%v: input has shape %v, want rank %d", c, s, c.dims)
	}
	return s.Clone(), nil // Gorgonia may recycle ds after the call
}

// WriteHash implements gorgonia.Op: both dtypes and the rank.
func (c *castOp) WriteHash(h hash.Hash) { fmt.Fprint(h, c.String()) }

// Hashcode implements gorgonia.Op.
func (c *castOp) Hashcode() uint32 { return hash32(c) }

// String implements gorgonia.Op, e.g. "cast(float32→float64,rank=2)".
func (c *castOp) String() string {
	return fmt.Sprintf("cast(%v→%v,rank=%d)", c.from, c.to, c.dims)
}

// Do implements gorgonia.Op: a new tensor of dtype to holding the
// converted values. It never panics.
func (c *castOp) Do(vals ...G.Value) (v G.Value, err error) {
	defer recoverInto(&err)
	if len(vals) != 1 {
		return nil, badInput("%v: want 1 input, have %d", c, len(vals))
	}
	return convertDense(vals[0], c.from, c.to, c.String())
}

// DiffWRT implements gorgonia.SDOp.
func (c *castOp) DiffWRT(inputs int) []bool { return []bool{true} }

// SymDiff implements gorgonia.SDOp: the output gradient cast back to the
// input's dtype.
func (c *castOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (ns G.Nodes, err error) {
	defer recoverInto(&err)
	if len(inputs) != 1 || grad == nil {
		return nil, badInput("%v: SymDiff wants 1 input and a gradient, has %d inputs", c, len(inputs))
	}
	back, err := G.ApplyOp(&castOp{from: c.to, to: c.from, dims: c.dims}, grad)
	if err != nil {
		return nil, fmt.Errorf("op: %v: SymDiff: %w", c, err)
	}
	return G.Nodes{back}, nil
}

// DoDiff implements gorgonia.ADOp for the LispMachine: it adds the output
// gradient, converted, into the input's gradient.
func (c *castOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) (err error) {
	defer recoverInto(&err)
	if len(inputs) != 1 || output == nil {
		return badInput("%v: DoDiff wants 1 input and the output, has %d inputs", c, len(inputs))
	}
	og, err := output.Grad()
	if err != nil {
		return fmt.Errorf("op: %v: DoDiff: output gradient: %w", c, err)
	}
	d, err := convertDense(og, c.to, c.from, c.String()+" gradient")
	if err != nil {
		return err
	}
	ig, err := inputs[0].Grad()
	if err != nil {
		return fmt.Errorf("op: %v: DoDiff: input gradient: %w", c, err)
	}
	dst, ok := ig.(*tensor.Dense)
	if !ok || dst.Dtype() != c.from || !dst.Shape().Eq(d.Shape()) || dst.Shape().TotalSize() != d.Shape().TotalSize() {
		return badInput("%v: DoDiff: input gradient is %T of shape %v, want %v %v", c, ig, ig.Shape(), c.from, d.Shape())
	}
	// UseUnsafe adds into dst, a view or not.
	if _, err := tensor.Add(dst, d, tensor.UseUnsafe()); err != nil {
		return fmt.Errorf("op: %v: DoDiff: %w", c, err)
	}
	return nil
}

// convertDense returns the values of v, a *tensor.Dense of dtype from
// (possibly a view), as a new contiguous tensor of dtype to with v's shape.
func convertDense(v G.Value, from, to tensor.Dtype, what string) (*tensor.Dense, error) {
	if v == nil {
		return nil, badInput("%s: no value", what)
	}
	d, ok := v.(*tensor.Dense)
	if !ok || d.Dtype() != from {
		return nil, badInput("%s: value is %T of dtype %v, want a %v *tensor.Dense", what, v, v.Dtype(), from)
	}
	if d.RequiresIterator() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return nil, badInput("%s: cannot materialize view", what)
		}
		d = m
	}
	shape := d.Shape().Clone()
	if d.DataSize() != shape.TotalSize() {
		return nil, badInput("%s: %d values for shape %v", what, d.DataSize(), shape)
	}
	switch src := d.Data().(type) {
	case []float32:
		if to == tensor.Float64 {
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(convert[float64](src))), nil
		}
	case []float64:
		if to == tensor.Float32 {
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(convert[float32](src))), nil
		}
	}
	return nil, badInput("%s: cannot convert %T data to %v", what, d.Data(), to)
}

// convert returns src converted elementwise (float64 to float32 rounds to
// nearest).
func convert[To, From float32 | float64](src []From) []To {
	out := make([]To, len(src))
	for i, x := range src {
		out[i] = To(x)
	}
	return out
}
