package op_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/internal/gtest"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// denseAs returns v in a new tensor of dtype dt (float32 values rounded to
// nearest).
func denseAs(dt tensor.Dtype, v []float64, shape ...int) *tensor.Dense {
	if dt == tensor.Float32 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(to32(v)))
	}
	return denseOf(v, shape...)
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// round32 returns v rounded to float32 and back: values a float32 node
// holds exactly.
func round32(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(float32(x))
	}
	return out
}

// anyFloats returns a copy of a float32 or float64 value's data as float64.
func anyFloats(t *testing.T, v G.Value) []float64 {
	t.Helper()
	out, err := gtest.Floats(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// anyGrad returns a copy of n's float32 or float64 gradient as float64.
func anyGrad(t *testing.T, n *G.Node) []float64 {
	t.Helper()
	return anyFloats(t, gradValue(t, n))
}

// mustCast returns op.Cast(x, dt).
func mustCast(t *testing.T, x *G.Node, dt tensor.Dtype) *G.Node {
	t.Helper()
	y, err := op.Cast(x, dt)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestCastValuesAndGradients casts x in both directions, at shapes with a
// batch of one (B = 1, including a single element) and at rank 3, takes the
// loss L = Σ w ⊙ Cast(x) and checks on both machines that the output holds
// x converted (exact from float32, rounded to nearest from float64) and
// that dL/dx is w converted back to x's dtype: the derivative of a cast is
// the identity.
func TestCastValuesAndGradients(t *testing.T) {
	dirs := []struct{ from, to tensor.Dtype }{{tensor.Float32, tensor.Float64}, {tensor.Float64, tensor.Float32}}
	shapes := [][]int{{1, 3}, {1, 1}, {1}, {2, 3, 4}}
	for _, d := range dirs {
		for _, sh := range shapes {
			for _, machine := range []string{"tape", "lisp"} {
				t.Run(fmt.Sprintf("%v→%v/%v/%s", d.from, d.to, sh, machine), func(t *testing.T) {
					k := tensor.Shape(sh).TotalSize()
					// 0.1·normal is not a float32 value, so float64 → float32 rounds.
					xv := fdtest.Normals(7, k)
					for i := range xv {
						xv[i] *= 0.1
					}
					wv := fdtest.Normals(8, k)
					g := G.NewGraph()
					x := G.NewTensor(g, d.from, len(sh), G.WithShape(sh...), G.WithName("x"), G.WithValue(denseAs(d.from, xv, sh...)))
					w := G.NewTensor(g, d.to, len(sh), G.WithShape(sh...), G.WithName("w"), G.WithValue(denseAs(d.to, wv, sh...)))
					y := mustCast(t, x, d.to)
					if y.Dtype() != d.to || !slices.Equal(y.Shape(), tensor.Shape(sh)) {
						t.Fatalf("Cast gives %v %v, want %v %v", y.Dtype(), y.Shape(), d.to, sh)
					}
					loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, w))))
					var yv G.Value
					G.Read(y, &yv)
					runMachine(t, machine, g, loss, x)
					if yv.Dtype() != d.to {
						t.Fatalf("output value is %v", yv.Dtype())
					}
					got := anyFloats(t, yv)
					wantY, wantG := xv, wv
					if d.from == tensor.Float32 {
						wantY, wantG = round32(xv), round32(wv) // x is float32 (cast exactly); the gradient w is rounded back
					} else {
						wantY = round32(xv) // the cast rounds; w is float32 already
						wantG = round32(wv)
					}
					if !slices.Equal(got, wantY) {
						t.Errorf("Cast(x) = %v, want %v", got, wantY)
					}
					gv, err := x.Grad()
					if err != nil {
						t.Fatal(err)
					}
					if gv.Dtype() != d.from {
						t.Errorf("dL/dx is %v, want %v", gv.Dtype(), d.from)
					}
					if gx := anyFloats(t, gv); !slices.Equal(gx, wantG) {
						t.Errorf("dL/dx = %v, want %v", gx, wantG)
					}
				})
			}
		}
	}
}

// TestCastRoundTrip: float32 → float64 → float32 is the identity on values
// and gradients, on both machines, with B = 1.
func TestCastRoundTrip(t *testing.T) {
	for _, machine := range []string{"tape", "lisp"} {
		t.Run(machine, func(t *testing.T) {
			xv := round32(fdtest.Normals(3, 4))
			g := G.NewGraph()
			x := G.NewMatrix(g, tensor.Float32, G.WithShape(1, 4), G.WithName("x"), G.WithValue(denseAs(tensor.Float32, xv, 1, 4)))
			y64 := mustCast(t, x, tensor.Float64)
			y := mustCast(t, y64, tensor.Float32)
			loss := G.Must(G.Sum(G.Must(G.Square(y)))) // dL/dx = 2x, exact in float32
			var yv G.Value
			G.Read(y, &yv)
			runMachine(t, machine, g, loss, x)
			if got := anyFloats(t, yv); !slices.Equal(got, xv) {
				t.Errorf("round trip gives %v, want %v", got, xv)
			}
			want := make([]float64, len(xv))
			for i, v := range xv {
				want[i] = 2 * v
			}
			if got := anyGrad(t, x); !slices.Equal(got, want) {
				t.Errorf("dL/dx = %v, want %v", got, want)
			}
		})
	}
}

// TestCastIdentityAndErrors checks that Cast to a node's own dtype returns
// the node, that equal casts are one node and different ones are not (the
// Op's hash and String name both dtypes and the rank), and that bad
// arguments and bad values are errors wrapping ErrBadInput, not panics.
func TestCastIdentityAndErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("x"))
	v := G.NewVector(g, tensor.Float32, G.WithShape(6), G.WithName("v"))
	if c, err := op.Cast(x, tensor.Float32); err != nil || c != x {
		t.Fatalf("Cast to own dtype: %v, %v; want x itself", c, err)
	}
	a := mustCast(t, x, tensor.Float64)
	b := mustCast(t, x, tensor.Float64)
	if a != b {
		t.Error("two equal casts of one node are two nodes")
	}
	c := mustCast(t, v, tensor.Float64)
	back := mustCast(t, a, tensor.Float32)
	ops := []G.Op{a.Op(), c.Op(), back.Op()}
	for i := range ops {
		for j := i + 1; j < len(ops); j++ {
			if ops[i].Hashcode() == ops[j].Hashcode() || ops[i].String() == ops[j].String() {
				t.Errorf("%v and %v share a hash or a name", ops[i], ops[j])
			}
		}
	}
	if s := a.Op().String(); !strings.Contains(s, "float32") || !strings.Contains(s, "float64") || !strings.Contains(s, "2") {
		t.Errorf("String %q does not name both dtypes and the rank", s)
	}

	s := G.NewScalar(g, tensor.Float32, G.WithName("s"))
	n := G.NewMatrix(g, tensor.Int, G.WithShape(2, 3), G.WithName("n"))
	for name, f := range map[string]func() (*G.Node, error){
		"nil":         func() (*G.Node, error) { return op.Cast(nil, tensor.Float64) },
		"to int":      func() (*G.Node, error) { return op.Cast(x, tensor.Int) },
		"from int":    func() (*G.Node, error) { return op.Cast(n, tensor.Float64) },
		"scalar":      func() (*G.Node, error) { return op.Cast(s, tensor.Float64) },
		"zero dtype":  func() (*G.Node, error) { return op.Cast(x, tensor.Dtype{}) },
		"int to same": func() (*G.Node, error) { return op.Cast(n, tensor.Int) },
	} {
		if _, err := f(); !errors.Is(err, op.ErrBadInput) {
			t.Errorf("%s: error %v, want ErrBadInput", name, err)
		}
	}

	cast := a.Op()
	for name, vals := range map[string][]G.Value{
		"no value":    nil,
		"nil value":   {nil},
		"two values":  {denseAs(tensor.Float32, make([]float64, 6), 2, 3), denseAs(tensor.Float32, make([]float64, 6), 2, 3)},
		"wrong dtype": {denseAs(tensor.Float64, make([]float64, 6), 2, 3)},
		"scalar":      {G.NewF32(1)},
	} {
		if _, err := cast.Do(vals...); !errors.Is(err, op.ErrBadInput) {
			t.Errorf("Do with %s: error %v, want ErrBadInput", name, err)
		}
	}
	if _, err := cast.InferShape(tensor.Shape{2, 3, 1}); !errors.Is(err, op.ErrBadInput) {
		t.Errorf("InferShape of a rank-3 shape for a rank-2 cast: %v, want ErrBadInput", err)
	}
	// A view is converted by value.
	base := denseAs(tensor.Float32, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 2, 4)
	view, err := base.Slice(nil, G.S(1, 4))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cast.Do(view)
	if err != nil {
		t.Fatal(err)
	}
	if got := anyFloats(t, out); !slices.Equal(got, []float64{2, 3, 4, 6, 7, 8}) {
		t.Errorf("cast of a view = %v", got)
	}
}

// TestPlanFloat32 runs the same planner graph with float32 and with float64
// inputs holding the same (float32-representable) values and loss weights,
// on both machines, with θ and φ shared and per example, and with B = 1.
// The solver runs in float64 on identical inputs either way, and dL/dX,
// dL/dU are the weights, exact in float32: so each input gradient of the
// float32 graph must be the float64 one rounded once, |g32 − g64| ≤ 2⁻²⁴|g64| (half an ulp). The
// loss, summed in float32 over up to B·T·(N+M) = 160 terms, agrees to 1e-5
// relative (each addition rounds by at most 2⁻²⁴ of the partial sum; the
// worst case 160·2⁻²⁴ ≈ 1e-5 of Σ|terms|, which here is within a factor 2
// of |L|, in practice √160·2⁻²⁴ ≈ 1e-6). X and U must be float32 nodes.
func TestPlanFloat32(t *testing.T) {
	const horizon = 10
	cfg := pendulumOpConfig(horizon, nil)
	for _, c := range []struct {
		b      int
		shared bool
	}{{4, true}, {4, false}, {1, false}} {
		b, shared := c.b, c.shared
		d := pendulumOpData(31, b, horizon, shared, shared)
		d.x0, d.theta, d.phi = round32(d.x0), round32(d.theta), round32(d.phi)
		d.wx, d.wu = round32(d.wx), round32(d.wu)
		for _, machine := range []string{"tape", "lisp"} {
			t.Run(fmt.Sprintf("B=%d/shared=%t/%s", b, shared, machine), func(t *testing.T) {
				var res [2]opGrads
				for i, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
					res[i] = runDtypeGraph(t, cfg, d, dt, machine)
				}
				r64, r32 := res[0], res[1]
				if e := math.Abs(r32.loss-r64.loss) / math.Abs(r64.loss); !(e <= 1e-5) {
					t.Errorf("loss: float32 %.9g, float64 %.9g: relative error %.2g > 1e-5", r32.loss, r64.loss, e)
				}
				worst := 0.0
				for _, p := range []struct {
					name     string
					g32, g64 []float64
				}{{"x0", r32.x0, r64.x0}, {"theta", r32.theta, r64.theta}, {"phi", r32.phi, r64.phi}} {
					for j, g := range p.g64 {
						if p.g32[j] != float64(float32(g)) {
							t.Errorf("dL/d%s[%d]: float32 graph %.9g, float64 graph %.17g rounds to %.9g", p.name, j, p.g32[j], g, float32(g))
						}
						if g != 0 {
							worst = math.Max(worst, math.Abs(p.g32[j]-g)/math.Abs(g))
						}
					}
				}
				t.Logf("largest relative gradient difference %.2g (2⁻²⁴ = %.2g); loss %.9g vs %.9g", worst, math.Pow(2, -24), r32.loss, r64.loss)
			})
		}
	}
}

// runDtypeGraph builds d's planner graph with inputs and loss weights of
// dtype dt, runs it on machine and returns the loss and input gradients
// (as float64).
func runDtypeGraph(t *testing.T, cfg op.OpConfig, d opData, dt tensor.Dtype, machine string) opGrads {
	t.Helper()
	g := G.NewGraph()
	node := func(name string, v []float64, shape ...int) *G.Node {
		return G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(denseAs(dt, v, shape...)))
	}
	rowShape := func(v []float64, k int) []int {
		if len(v) == k {
			return []int{k}
		}
		return []int{d.b, k}
	}
	x0 := node("x0", d.x0, d.b, 3)
	th := node("theta", d.theta, rowShape(d.theta, 3)...)
	ph := node("phi", d.phi, rowShape(d.phi, 8)...)
	tr, err := op.ILQR(x0, th, ph, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, u := trajectoryParts(t, tr)
	if x.Dtype() != dt || u.Dtype() != dt || tr.Packed.Dtype() != tensor.Float64 {
		t.Fatalf("X %v, U %v, Packed %v; want X and U %v, Packed float64", x.Dtype(), u.Dtype(), tr.Packed.Dtype(), dt)
	}
	wx := node("wx", d.wx, x.Shape()...)
	wu := node("wu", d.wu, u.Shape()...)
	loss := G.Must(G.Add(G.Must(G.Sum(G.Must(G.HadamardProd(x, wx)))), G.Must(G.Sum(G.Must(G.HadamardProd(u, wu))))))
	var lv G.Value
	G.Read(loss, &lv)
	runMachine(t, machine, g, loss, x0, th, ph)
	if st := tr.Op.Stats(); slices.ContainsFunc(st.Status, func(s ilqr.Status) bool { return !s.Stationary() }) {
		t.Fatalf("unconverged examples: %v", st.Status)
	}
	for _, n := range []*G.Node{x0, th, ph} {
		if gv, err := n.Grad(); err != nil || gv.Dtype() != dt {
			t.Fatalf("gradient of %s: %v, %v; want dtype %v", n.Name(), gv, err, dt)
		}
	}
	return opGrads{machine: machine, loss: anyFloats(t, lv)[0],
		x0: anyGrad(t, x0), theta: anyGrad(t, th), phi: anyGrad(t, ph)}
}

// TestPlanDtypeErrors: inputs of mixed dtypes, or of a dtype other than
// float32 and float64, are refused with an error naming each input's dtype.
func TestPlanDtypeErrors(t *testing.T) {
	g := G.NewGraph()
	x0, th, ph := pendulumInputs(g, tensor.Float32, tensor.Float64, tensor.Float32)
	_, err := op.ILQR(x0, th, ph, pendulumOpConfig(5, nil))
	if !errors.Is(err, op.ErrBadInput) || !strings.Contains(err.Error(), "x0 float32, theta float64, phi float32") {
		t.Errorf("mixed dtypes: %v", err)
	}
	xi := G.NewMatrix(g, tensor.Int, G.WithShape(2, 3), G.WithName("xi"))
	thi := G.NewVector(g, tensor.Int, G.WithShape(3), G.WithName("thi"))
	phi := G.NewVector(g, tensor.Int, G.WithShape(8), G.WithName("phii"))
	if _, err := op.ILQR(xi, thi, phi, pendulumOpConfig(5, nil)); !errors.Is(err, op.ErrBadInput) || !strings.Contains(err.Error(), "float32 or float64") {
		t.Errorf("int inputs: %v", err)
	}
}

// FuzzCastDo feeds the cast Op's Do values of any dtype, shape and data
// (views included): it must return an error or the converted values, never
// panic.
func FuzzCastDo(f *testing.F) {
	f.Add(uint8(0), uint8(2), uint8(3), false, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(1), uint8(1), uint8(1), true, []byte{0xff, 0xff, 0xff, 0x7f})
	f.Add(uint8(2), uint8(0), uint8(4), false, []byte{})
	f.Fuzz(func(t *testing.T, sel, rows, cols uint8, view bool, data []byte) {
		r, c := int(rows%4), int(cols%5)+1
		dts := []tensor.Dtype{tensor.Float32, tensor.Float64, tensor.Int}
		dt := dts[int(sel)%len(dts)]
		to := tensor.Float64
		if dt == tensor.Float64 {
			to = tensor.Float32
		}
		g := G.NewGraph()
		x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("x"))
		if dt == tensor.Float64 {
			x = G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x"))
		}
		y := mustCast(t, x, to)
		vals := make([]float64, r*c)
		for i := range vals {
			if len(data) > 0 {
				vals[i] = float64(int8(data[i%len(data)])) / 7
			}
		}
		var v G.Value
		switch {
		case r == 0:
			v = G.NewF32(1)
		case dt == tensor.Int:
			v = tensor.New(tensor.WithShape(r, c), tensor.WithBacking(make([]int, r*c)))
		default:
			v = denseAs(dt, vals, r, c)
		}
		want := vals
		if d, ok := v.(*tensor.Dense); ok && view && c > 1 {
			s, err := d.Slice(nil, G.S(1, c))
			if err != nil {
				t.Fatal(err)
			}
			v = s
			want = nil
			for i := 0; i < r; i++ {
				want = append(want, vals[i*c+1:(i+1)*c]...)
			}
		}
		out, err := y.Op().Do(v)
		if err != nil {
			if !errors.Is(err, op.ErrBadInput) {
				t.Fatalf("error %v does not wrap ErrBadInput", err)
			}
			return
		}
		if dt == tensor.Int || r == 0 {
			t.Fatalf("Do accepted a %T of dtype %v", v, v.Dtype())
		}
		if out.Dtype() != to {
			t.Fatalf("output dtype %v, want %v", out.Dtype(), to)
		}
		if got, exp := anyFloats(t, out), round32(want); !slices.Equal(got, exp) {
			t.Fatalf("Do = %v, want %v", got, exp)
		}
	})
}
