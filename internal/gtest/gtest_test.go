package gtest

import (
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestFloats(t *testing.T) {
	f32 := G.F32(1.5)
	for _, c := range []struct {
		v    G.Value
		want []float64
	}{
		{&f32, []float64{1.5}},
		{tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, -2})), []float64{1, -2}},
		{tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{3, 4, 5})), []float64{3, 4, 5}},
	} {
		got, err := Floats(c.v)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Floats(%v) = %v, %v; want %v", c.v, got, err, c.want)
		}
	}
	if _, err := Floats(tensor.New(tensor.WithShape(1), tensor.WithBacking([]int{1}))); err == nil {
		t.Error("an int tensor was accepted")
	}
}
