// Command tracking plans a pendulum that follows a time-varying reference:
// a full quadratic cost given per step, ½(τ_t − r_t)ᵀQ(τ_t − r_t), whose
// linear term p_t = −Q r_t changes along the horizon (mpc.pytorch's
// QuadCost(C, c) with c per step). It prints the reference and the
// planned angle at every step, and the gradient of the tracking error at
// the last step with respect to the reference angles, through the planner
// (ilqr.Grads.Phi per step).
//
//	go run ./examples/tracking [-T 40]
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"

	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

func main() {
	horizon := flag.Int("T", 40, "horizon (steps of 0.05 s)")
	cmd := cli.Command("tracking")
	cmd.Parse()
	_, err := run(os.Stdout, *horizon)
	cmd.Check(err)
}

// weights of (cos θ, sin θ, ω, u) in Q.
var weights = [4]float64{10, 10, 0.1, 0.01}

// reference returns the reference angle at step t: a swing of ±0.25 rad (holding the pendulum off upright takes torque, and |u| ≤ 2)
// around upright, one period over the horizon.
func reference(t, horizon int) float64 {
	return 0.25 * math.Sin(2*math.Pi*float64(t)/float64(horizon))
}

// run plans, writes the table to w and returns the RMS tracking error.
func run(w io.Writer, horizon int) (float64, error) {
	if horizon < 2 {
		return 0, fmt.Errorf("-T %d: want at least 2", horizon)
	}
	task := models.PendulumTask()
	const k = 4
	q := make([]float64, k*k)
	for i, w := range weights {
		q[i*k+i] = w
	}
	cost, err := models.NewFullQuadCost(3, 1, q, make([]float64, k))
	if err != nil {
		return 0, err
	}
	task.Cost = cost
	// φ_t = (Q, p_t) with p_t = −Q r_t, r_t = (cos θr, sin θr, 0, 0).
	phi := make([]float64, 0, horizon*(k*k+k))
	for t := range horizon {
		th := reference(t, horizon)
		phi = append(phi, q...)
		phi = append(phi, -weights[0]*math.Cos(th), -weights[1]*math.Sin(th), 0, 0)
	}
	in := ilqr.Inputs{X0: []float64{1, 0, 0}, Phi: phi, PhiPerStep: true}
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: task, T: horizon}, &ilqr.Settings{MaxIter: 500, TolGrad: 1e-10})
	if err != nil {
		return 0, err
	}
	var res ilqr.Result
	if err := sv.Solve(&res, in); err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "status %v after %d iterations, cost %.4f\n\n", res.Status[0], res.Iterations[0], res.Cost[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\treference θ\tplanned θ\tu\t")
	var sq float64
	for t := range horizon {
		th := math.Atan2(res.X[t*3+1], res.X[t*3])
		sq += (th - reference(t, horizon)) * (th - reference(t, horizon))
		if t%4 == 0 || t == horizon-1 {
			fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.3f\t\n", t, reference(t, horizon), th, res.U[t])
		}
	}
	tw.Flush()
	rms := math.Sqrt(sq / float64(horizon))
	fmt.Fprintf(w, "\nRMS tracking error %.4f rad\n", rms)

	// Gradient of the last step's sin θ with respect to every p_t.
	dX := make([]float64, horizon*3)
	dX[(horizon-1)*3+1] = 1
	var g ilqr.Grads
	if err := sv.Gradient(&g, &res, in, dX, make([]float64, horizon), ilqr.GradOptions{}); err != nil {
		return 0, err
	}
	fmt.Fprintln(w, "\nd sin θ_{T-1} / d p_t[sin θ] (how the last angle moves with each step's reference term):")
	for t := max(horizon-8, 0); t < horizon; t++ {
		fmt.Fprintf(w, "  t=%d: %+.4f\n", t, g.Phi[t*(k*k+k)+k*k+1])
	}
	return rms, nil
}
