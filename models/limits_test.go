package models

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestStateLimits checks PendulumSpeedLimit and CartpoleTrackLimit: their
// sizes match the models', the one bounded entry gives two finite rows
// (the others are −Inf), the constraint is met inside the limit and not
// beyond it, and a non-positive or NaN limit is refused.
func TestStateLimits(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name  string
		make  func(float64) (*StateBounds, error)
		dims  Dims
		entry int   // the bounded state entry
		rows  []int // its rows, lower then upper
		want  string
	}{
		{"pendulum", PendulumSpeedLimit, NewPendulum().Dims(), 2, []int{2, 5}, "models: pendulum speed limit: wmax"},
		{"cartpole", CartpoleTrackLimit, NewCartpole().Dims(), 0, []int{0, 5}, "models: cart-pole track limit: xmax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.make(1.5)
			if err != nil {
				t.Fatal(err)
			}
			n := tc.dims.N
			if d := b.Dims(); d.N != n || d.M != tc.dims.M || d.C != 2*n {
				t.Fatalf("Dims() = %+v for the model's %+v", d, tc.dims)
			}
			psi := b.DefaultParams()
			if psi[tc.entry] != -1.5 || psi[n+tc.entry] != 1.5 {
				t.Errorf("ψ = %v", psi)
			}
			ev := b.NewEvaluator()
			c := make([]float64, 2*n)
			for _, s := range []struct {
				v       float64
				violate bool
			}{{0, false}, {1.4, false}, {-1.4, false}, {1.6, true}, {-1.6, true}} {
				x := make([]float64, n)
				for i := range x {
					x[i] = 100 // far off on every other entry
				}
				x[tc.entry] = s.v
				ev.Value(c, x, make([]float64, tc.dims.M), psi)
				for i, v := range c {
					if !slices.Contains(tc.rows, i) && !math.IsInf(v, -1) {
						t.Errorf("state entry %d = %g: row %d = %g, want -Inf", tc.entry, s.v, i, v)
					}
				}
				lo, hi := c[tc.rows[0]], c[tc.rows[1]]
				if lo != -1.5-s.v || hi != s.v-1.5 {
					t.Errorf("state entry %d = %g: rows %g, %g", tc.entry, s.v, lo, hi)
				}
				if got := math.Max(lo, hi) > 0; got != s.violate {
					t.Errorf("state entry %d = %g: violated %v, want %v", tc.entry, s.v, got, s.violate)
				}
			}
			if _, err := tc.make(inf); err != nil {
				t.Errorf("no limit (+Inf): %v", err)
			}
			for _, bad := range []float64{0, -1, math.NaN(), -inf} {
				if _, err := tc.make(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("limit %g: error %v, want %q", bad, err, tc.want)
				}
			}
		})
	}
}
