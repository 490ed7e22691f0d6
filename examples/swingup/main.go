// Command swingup solves a batch of pendulum swing-up problems with the
// box-constrained iLQR solver and prints, per example, the start, the
// solver's status, its iterations and the optimal cost.
//
//	go run ./examples/swingup [-b 20] [-T 20] [-iters 300] [-seed 1]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

func main() {
	b := flag.Int("b", 20, "batch size")
	horizon := flag.Int("T", 20, "horizon (time steps)")
	iters := flag.Int("iters", 300, "maximum iLQR iterations")
	seed := flag.Uint64("seed", 1, "random seed for the initial states")
	flag.Parse()
	if err := run(*b, *horizon, *iters, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "swingup:", err)
		os.Exit(2)
	}
}

func run(b, horizon, iters int, seed uint64) error {
	if b < 1 {
		return fmt.Errorf("batch size %d < 1", b)
	}
	task := models.PendulumTask()
	rng := rand.New(rand.NewPCG(seed, 0))
	x0 := make([]float64, 3*b)
	for i := 0; i < b; i++ {
		th := math.Pi * (2*rng.Float64() - 1)
		x0[3*i], x0[3*i+1], x0[3*i+2] = math.Cos(th), math.Sin(th), 2*rng.Float64()-1
	}
	prob := ilqr.Problem{Task: task, T: horizon}
	start := time.Now()
	res, err := ilqr.Solve(prob, ilqr.Inputs{X0: x0}, &ilqr.Settings{MaxIter: iters})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	fmt.Printf("Pendulum swing-up: %s, batch %d, T=%d, bounds [%g, %g]\n\n",
		task.Dynamics.Name(), b, horizon, task.Lower[0], task.Upper[0])
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "example\tθ0 (rad)\tω0\tstatus\titerations\tcost\tfinal cos θ\t‖proj. grad‖∞\t")
	converged := 0
	for i := 0; i < b; i++ {
		if res.Status[i] == ilqr.Converged {
			converged++
		}
		last := (i*horizon + horizon - 1) * 3
		fmt.Fprintf(w, "%d\t%.3f\t%.3f\t%v\t%d\t%.4f\t%.4f\t%.1e\t\n", i,
			math.Atan2(x0[3*i+1], x0[3*i]), x0[3*i+2], res.Status[i], res.Iterations[i],
			res.Cost[i], res.X[last], res.GradNorm[i])
	}
	w.Flush()
	fmt.Printf("\n%d of %d converged; the batch took %v on %d worker goroutines\n",
		converged, b, elapsed.Round(time.Microsecond), runtime.GOMAXPROCS(0))
	return nil
}
