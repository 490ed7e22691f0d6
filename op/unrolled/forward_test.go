package unrolled

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestForward: Forward computes what the machines compute, for the
// output and for a loss downstream of it, and changes no node.
func TestForward(t *testing.T) {
	c := uprightCase(6)
	bs, n, m, _, _ := c.dims()
	w := lossWeights(bs*c.T*(n+m), 3)
	r := buildGraph(t, c, 3, w)
	x0 := copyValue(r.x0.Value())
	got, err := Forward(r.out)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := Forward(r.loss)
	if err != nil {
		t.Fatal(err)
	}
	if r.out.Value() != nil || r.loss.Value() != nil || !slices.Equal(copyValue(r.x0.Value()), x0) {
		t.Error("Forward changed the values of nodes")
	}
	tape := forward(t, c, 3)
	lisp := forwardLisp(t, c, 3)
	if e := relErr(copyValue(got), tape); e > 1e-14 {
		t.Errorf("Forward and the TapeMachine differ by %.2e", e)
	}
	if e := relErr(copyValue(got), lisp); e > 1e-14 {
		t.Errorf("Forward and the LispMachine differ by %.2e", e)
	}
	var want float64
	for i, v := range tape {
		want += w[i] * v
	}
	if l := loss.Data().(float64); math.Abs(l-want) > 1e-12*math.Abs(want) {
		t.Errorf("loss %v, from the TapeMachine's output %v", l, want)
	}

	if _, err := Forward(nil); !errors.Is(err, ilqr.ErrBadInput) {
		t.Errorf("Forward(nil): %v", err)
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("x"))
	if _, err := Forward(G.Must(G.Neg(x))); !errors.Is(err, ilqr.ErrBadInput) || !strings.Contains(err.Error(), "no value") {
		t.Errorf("Forward without an input value: %v", err)
	}
}

// runLisp is how to run a graph with an unrolled part on a LispMachine:
// Forward first, the machine only when the forward pass succeeds.
func runLisp(loss *G.Node) error {
	if _, err := Forward(loss); err != nil {
		return err
	}
	vm := G.NewLispMachine(loss.Graph())
	defer vm.Close()
	return vm.RunAll()
}

// TestNonFiniteRun: a non-finite input, or iterations that diverge
// (x0 near the largest float64), fail the run with an error, and the
// failed runs leave no goroutine behind (a failed LispMachine run leaks
// one, see Forward).
func TestNonFiniteRun(t *testing.T) {
	nan := pendulumCase(5, []float64{0.3, 0.2}, []float64{0.1, 0})
	nan.x0[2] = math.NaN()
	huge := pendulumCase(5, []float64{0.3, 0.2}, []float64{0.1, 0})
	for i := range huge.x0 {
		huge.x0[i] = 1e308
	}
	before := runtime.NumGoroutine()
	for _, c := range []testCase{nan, huge} {
		bs, n, m, _, _ := c.dims()
		r := buildGraph(t, c, 3, lossWeights(bs*c.T*(n+m), 4))
		err := runLisp(r.loss)
		if err == nil || !strings.Contains(op.Cause(err).Error(), "not finite") {
			t.Errorf("x0 %v: error %v, want one about a value that is not finite", c.x0, err)
		}
	}
	// Let a leaked worker show up.
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before the failed runs, %d after", before, after)
	}
}
