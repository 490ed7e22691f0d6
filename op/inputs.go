package op

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// CostBlock describes one block of the cost parameters φ as an input of the
// Op: Width consecutive entries of each step's φ, one row shared by the
// batch or one per example (PerExample), the same at every step or one row
// per step (PerStep). The blocks of an Op, in order, make up φ.
type CostBlock struct {
	Width               int
	PerExample, PerStep bool
}

// shape returns the block's node shape for B examples and horizon T:
// (k), (B, k), (T, k) or (B, T, k).
func (c CostBlock) shape(b, t int) tensor.Shape {
	s := tensor.Shape{}
	if c.PerExample {
		s = append(s, b)
	}
	if c.PerStep {
		s = append(s, t)
	}
	return append(s, c.Width)
}

// Batch describes the inputs of an ILQROp: x0 (B, N); θ (P) when
// ThetaShared, else (B, P); the cost parameters, one node (Q) when
// PhiShared, else (B, Q), or the blocks of Cost when it is not empty;
// when BoundsRank is 1, 2 or 3, the control bounds lower and upper, each
// (M), (T, M) or (B, T, M) (0: the problem's bounds, no inputs); and, when
// Psi.Given, the path constraint's parameters ψ (see PsiInput), last.
type Batch struct {
	B                      int
	ThetaShared, PhiShared bool
	Cost                   []CostBlock
	BoundsRank             int
	Psi                    PsiInput
}

// PsiInput describes the parameters ψ of the problem's path constraint
// (models.Task.Constraint, R entries per row) as an input of the Op. The
// zero value means no input: the constraint's DefaultParams at every step
// of every example. With Given, ψ is one node: (R) shared by the batch,
// (B, R) with PerExample, and with PerStep one row per step, (T, R) or
// (B, T, R) (row t constrains step t; row 0 is not used, x_0 being
// given). Its gradient is summed over the examples when it is shared, as
// θ's is.
type PsiInput struct {
	Given, PerExample, PerStep bool
}

// shape returns the node shape of ψ for B examples, horizon T and R
// parameters.
func (p PsiInput) shape(b, t, r int) tensor.Shape {
	return CostBlock{Width: r, PerExample: p.PerExample, PerStep: p.PerStep}.shape(b, t)
}

// slot is one input of the Op.
type slot struct {
	name  string
	shape tensor.Shape
}

// layout is the checked input layout of an Op.
type layout struct {
	b, t, m     int
	slots       []slot
	cost        []CostBlock // at least one block
	boundsRank  int
	psi         PsiInput // the constraint parameters' input, if Given
	phiPerEx    bool     // φ has a row per example (some block does)
	phiPerStep  bool     // φ has a row per step (some block does)
	thetaShared bool
}

// newLayout checks b against the solver's sizes and lists the inputs.
func newLayout(b Batch, sv *ilqr.Solver) (layout, error) {
	d, t, q := sv.Dims(), sv.Horizon(), sv.CostParams()
	l := layout{b: b.B, t: t, m: d.M, cost: b.Cost, boundsRank: b.BoundsRank, thetaShared: b.ThetaShared}
	if len(l.cost) == 0 {
		l.cost = []CostBlock{{Width: q, PerExample: !b.PhiShared}}
	}
	if b.BoundsRank < 0 || b.BoundsRank > 3 {
		return l, badInput("bounds rank %d: want 0 (none), 1, 2 or 3", b.BoundsRank)
	}
	theta := tensor.Shape{b.B, d.P}
	if b.ThetaShared {
		theta = tensor.Shape{d.P}
	}
	l.slots = []slot{{"x0", tensor.Shape{b.B, d.N}}, {"theta", theta}}
	width := 0
	for i, c := range l.cost {
		if c.Width < 1 {
			return l, badInput("cost block %d has width %d", i, c.Width)
		}
		width += c.Width
		l.phiPerEx = l.phiPerEx || c.PerExample
		l.phiPerStep = l.phiPerStep || c.PerStep
		name := "phi"
		if len(l.cost) > 1 {
			name = fmt.Sprintf("cost block %d", i)
		}
		l.slots = append(l.slots, slot{name, c.shape(b.B, t)})
	}
	if width != q {
		return l, badInput("cost blocks have %d entries, the cost %d", width, q)
	}
	if b.BoundsRank > 0 {
		sh := []tensor.Shape{{d.M}, {t, d.M}, {b.B, t, d.M}}[b.BoundsRank-1]
		l.slots = append(l.slots, slot{"lower", sh}, slot{"upper", sh.Clone()})
	}
	return l, l.addPsi(b.Psi, sv)
}

// addPsi checks the constraint parameters' input p against the problem
// and lists its slot.
func (l *layout) addPsi(p PsiInput, sv *ilqr.Solver) error {
	l.psi = p
	if !p.Given {
		if p.PerExample || p.PerStep {
			return badInput("constraint parameters: PerExample or PerStep without Given")
		}
		return nil
	}
	con := sv.Problem().Constraint
	if con == nil {
		return badInput("constraint parameters given for a problem without a path constraint")
	}
	r := con.Dims().R
	if r < 1 {
		return badInput("constraint parameters given for %s, which has none", con.Name())
	}
	l.slots = append(l.slots, slot{"psi", p.shape(l.b, l.t, r)})
	return nil
}

// identity describes the layout for the Op's hash.
func (l *layout) identity() string {
	return fmt.Sprintf("B=%d,θshared=%t,cost=%v,bounds=%d,psi=%+v", l.b, l.thetaShared, l.cost, l.boundsRank, l.psi)
}

// inputs converts the Op's input values into solver inputs; φ is
// assembled into buf (reused) when it is made of blocks or per step.
func (l *layout) inputs(vals []G.Value, buf *[]float64) (ilqr.Inputs, error) {
	if len(vals) != len(l.slots) {
		return ilqr.Inputs{}, badInput("want %d inputs, have %d", len(l.slots), len(vals))
	}
	data := make([][]float64, len(vals))
	for i, s := range l.slots {
		d, err := float64s(vals[i], s.name, s.shape)
		if err != nil {
			return ilqr.Inputs{}, err
		}
		data[i] = d
	}
	in := ilqr.Inputs{X0: data[0], Theta: data[1], PhiPerStep: l.phiPerStep}
	blocks := data[2 : 2+len(l.cost)]
	if len(l.cost) == 1 && !l.phiPerStep {
		in.Phi = blocks[0]
	} else {
		in.Phi = l.assemblePhi(blocks, buf)
	}
	end := len(data)
	if l.psi.Given {
		end--
		in.Psi, in.PsiPerStep = data[end], l.psi.PerStep
	}
	if l.boundsRank > 0 {
		in.Lower, in.Upper = data[end-2], data[end-1]
	}
	return in, nil
}

// rows returns the number of examples and steps φ has rows for.
func (l *layout) rows() (nb, nt int) {
	nb, nt = 1, 1
	if l.phiPerEx {
		nb = l.b
	}
	if l.phiPerStep {
		nt = l.t
	}
	return nb, nt
}

// blockRow returns the offset of row (e, s) of block c in its node's data.
func blockRow(c CostBlock, e, s, t int) int {
	r := 0
	if c.PerExample {
		r = e
	}
	if c.PerStep {
		r = r*t + s
	}
	return r * c.Width
}

// assemblePhi lays the blocks out as the solver's φ: one row of Q per
// example (if any block is per example) and step (if any is per step).
func (l *layout) assemblePhi(blocks [][]float64, buf *[]float64) []float64 {
	nb, nt := l.rows()
	q := 0
	for _, c := range l.cost {
		q += c.Width
	}
	phi := grow(*buf, nb*nt*q)
	*buf = phi
	for e := 0; e < nb; e++ {
		for s := 0; s < nt; s++ {
			dst := phi[(e*nt+s)*q:]
			off := 0
			for j, c := range l.cost {
				r := blockRow(c, e, s, l.t)
				copy(dst[off:off+c.Width], blocks[j][r:r+c.Width])
				off += c.Width
			}
		}
	}
	return phi
}

// packGrads appends the gradients of every input, in slot order and each
// in its node's shape, to dst: the solver's per-example (and per-step)
// gradients summed over the axes an input is shared across.
func (l *layout) packGrads(dst []float64, g *ilqr.Grads, n, p int) []float64 {
	dst = append(dst, g.X0...)
	dst = sumRows(dst, g.Theta, l.b, p, l.thetaShared)
	nt := 1
	if l.phiPerStep {
		nt = l.t
	}
	q := len(g.Phi) / (l.b * nt)
	off := 0
	for _, c := range l.cost {
		start := len(dst)
		dst = append(dst, make([]float64, c.shape(l.b, l.t).TotalSize())...)
		blk := dst[start:]
		for e := 0; e < l.b; e++ {
			for s := 0; s < l.t; s++ {
				if !l.phiPerStep && s > 0 {
					break
				}
				src := g.Phi[(e*nt+s)*q:]
				r := blockRow(c, e, s, l.t)
				for j := 0; j < c.Width; j++ {
					blk[r+j] += src[off+j]
				}
			}
		}
		off += c.Width
	}
	if l.boundsRank > 0 {
		tm := l.t * l.m
		for _, gb := range [][]float64{g.Lower, g.Upper} {
			switch l.boundsRank {
			case 3:
				dst = append(dst, gb...)
			case 2:
				dst = sumRows(dst, gb, l.b, tm, true)
			case 1:
				start := len(dst)
				dst = append(dst, make([]float64, l.m)...)
				for i, v := range gb {
					dst[start+i%l.m] += v
				}
			}
		}
	}
	if l.psi.Given { // g.Psi is B×R or B×T×R
		dst = sumRows(dst, g.Psi, l.b, len(g.Psi)/l.b, !l.psi.PerExample)
	}
	return dst
}

// sumRows appends g (B rows of k) to dst, summed over the rows when
// shared.
func sumRows(dst, g []float64, b, k int, shared bool) []float64 {
	if !shared {
		return append(dst, g...)
	}
	start := len(dst)
	dst = append(dst, make([]float64, k)...)
	for i := 0; i < b; i++ {
		for j := 0; j < k; j++ {
			dst[start+j] += g[i*k+j]
		}
	}
	return dst
}

// sameData reports whether in holds the data concatenated in last (see
// concatInputs).
func sameData(last []float64, in ilqr.Inputs) bool {
	parts := [][]float64{in.X0, in.Theta, in.Phi, in.Lower, in.Upper, in.Psi}
	off := 0
	for _, p := range parts {
		if off+len(p) > len(last) || !sameBits(last[off:off+len(p)], p) {
			return false
		}
		off += len(p)
	}
	return off == len(last)
}

// sameBits reports whether a and b hold the same bit patterns (a NaN input
// equals itself, as slices.Equal would not have it).
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i, v := range a {
		if math.Float64bits(v) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// concatInputs appends in's data to dst, in the order sameData reads it.
func concatInputs(dst []float64, in ilqr.Inputs) []float64 {
	for _, p := range [][]float64{in.X0, in.Theta, in.Phi, in.Lower, in.Upper, in.Psi} {
		dst = append(dst, p...)
	}
	return dst // reuses dst's storage (slices.Concat would allocate anew)
}

// inputShapes returns the shapes the Op expects for its inputs, in order.
func (op *ILQROp) inputShapes() []tensor.Shape {
	s := make([]tensor.Shape, len(op.layout.slots))
	for i, sl := range op.layout.slots {
		s[i] = sl.shape
	}
	return s
}
