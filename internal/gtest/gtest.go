// Package gtest holds the helpers that the tests of the Gorgonia-linked
// packages (op, layer) share: reading Gorgonia values, and their
// constrained test problem (SpeedLimitTask, SwingStarts). It is imported
// by tests only (package fdtest, which the models tests use, stays free of
// Gorgonia).
package gtest

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Floats returns a copy of a float32 or float64 value's data as float64:
// a scalar as one entry, a tensor (a view materialized) in row-major order.
func Floats(v G.Value) ([]float64, error) {
	switch x := v.(type) {
	case *G.F32:
		return []float64{float64(*x)}, nil
	case *G.F64:
		return []float64{float64(*x)}, nil
	case *tensor.Dense:
		if x.RequiresIterator() {
			m, ok := x.Materialize().(*tensor.Dense)
			if !ok {
				return nil, fmt.Errorf("gtest: cannot materialize a view of %v", x.Shape())
			}
			x = m
		}
		switch d := x.Data().(type) {
		case []float32:
			out := make([]float64, len(d))
			for i, f := range d {
				out[i] = float64(f)
			}
			return out, nil
		case []float64:
			return slices.Clone(d), nil
		}
	}
	return nil, fmt.Errorf("gtest: unexpected value type %T", v)
}
