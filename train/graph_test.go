package train

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestRunGraph: the inputs are copied in before each run (a nil node is
// skipped), the graph runs again on every call, and Scalar reads the sum;
// an input of the wrong length is an error and the graph does not run.
func TestRunGraph(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("x"), G.WithInit(G.Zeroes()))
	sum, err := G.Sum(x)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	for _, v := range [][]float64{{1, 2, 3}, {4, 5, 6.5}} {
		if err := RunGraph(vm, Input{Node: x, Values: v}, Input{Node: nil, Values: []float64{9}}); err != nil {
			t.Fatal(err)
		}
		s, err := Scalar(sum.Value())
		if err != nil {
			t.Fatal(err)
		}
		if want := v[0] + v[1] + v[2]; s != want {
			t.Errorf("sum of %v: %g, want %g", v, s, want)
		}
	}
	if err := RunGraph(vm, Input{Node: x, Values: []float64{1}}); err == nil {
		t.Error("an input of the wrong length: no error")
	}
	if _, err := Scalar(x.Value()); err == nil {
		t.Error("Scalar of a vector of 3: no error")
	}
}
