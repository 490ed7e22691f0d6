package ilqr

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/models"
)

// TestNewtonConverges compares Newton's method (Settings.Newton) with the
// default Gauss-Newton iLQR on hard pendulum and cart-pole problems: every
// Newton solution it calls converged must satisfy the box-constrained
// optimality conditions, and Newton must converge on at least as many
// examples. Iteration counts are logged for the report.
func TestNewtonConverges(t *testing.T) {
	cases := []struct {
		name string
		task models.Task
		T    int
	}{
		{"pendulum/T=50", models.PendulumTask(), 50},
		{"cartpole/T=20", models.CartpoleTask(), 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const b = 20
			n := c.task.Dynamics.Dims().N
			rng := rand.New(rand.NewPCG(11, 12))
			x0 := make([]float64, b*n)
			for i := 0; i < b; i++ {
				th := math.Pi * (2*rng.Float64() - 1)
				row := x0[i*n : (i+1)*n]
				if n == 3 { // pendulum (c, s, ω)
					row[0], row[1], row[2] = math.Cos(th), math.Sin(th), 2*rng.Float64()-1
				} else { // cart-pole (x, ẋ, c, s, ω)
					row[0], row[1] = 2*rng.Float64()-1, 2*rng.Float64()-1
					row[2], row[3], row[4] = math.Cos(th), math.Sin(th), 2*rng.Float64()-1
				}
			}
			p := Problem{Task: c.task, T: c.T}
			count := func(newton bool) (int, []int, *Result) {
				r, err := Solve(p, Inputs{X0: x0}, &Settings{MaxIter: 300, Newton: newton})
				if err != nil {
					t.Fatal(err)
				}
				k := 0
				for _, s := range r.Status {
					if s == Converged {
						k++
					}
				}
				return k, r.Iterations, r
			}
			gn, gnIt, _ := count(false)
			nt, ntIt, r := count(true)
			t.Logf("converged: Gauss-Newton %d/%d, Newton %d/%d", gn, b, nt, b)
			t.Logf("iterations: Gauss-Newton %v", gnIt)
			t.Logf("iterations: Newton       %v", ntIt)
			if nt < gn {
				t.Errorf("Newton converged on %d examples, Gauss-Newton on %d", nt, gn)
			}
			for i, s := range r.Status {
				// Converged means a projected gradient ≤ TolGradLoose = 1e-8.
				if s == Converged && !(r.GradNorm[i] <= 1e-8) {
					t.Errorf("example %d: converged with projected gradient %g", i, r.GradNorm[i])
				}
			}
		})
	}
}
