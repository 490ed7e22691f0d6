// Command swingup swings a batch of pendulums up in closed loop and says,
// per example, whether each reached upright and held it.
//
//	go run ./examples/swingup [-b 20] [-T 40] [-steps 100] [-seed 1] [-iters 100]
//
// Each pendulum starts from a state drawn from the whole circle (θ ∈
// (−π, π], ω ∈ (−1, 1], envs' pendulum starts) and is controlled by
// receding-horizon MPC on the true simulator: at every step of 0.05 s the
// box-constrained iLQR planner plans -T steps ahead from the current
// state with the true model, the first control is applied, and the rest
// of the plan, shifted by one step, warm-starts the next plan. An episode
// lasts -steps steps (5 s by default). A pendulum succeeds when it is
// within 0.1 rad of upright with |ω| < 0.5 rad/s over the whole last
// second (envs.Success).
//
// For contrast, the table also gives where a single plan of the same
// horizon, run once from the start, ends: the torque limit (|u| ≤ 2
// against gravity's 15 rad/s² at the horizontal) makes a swing-up take
// several back-and-forth swings, more than one short plan holds.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/op/ilqr"
)

func main() {
	b := flag.Int("b", 20, "number of pendulums (episodes)")
	horizon := flag.Int("T", envs.DefaultMPCHorizon, "planning horizon (time steps of 0.05 s)")
	steps := flag.Int("steps", 100, "episode length (time steps of 0.05 s)")
	seed := flag.Uint64("seed", 1, "random seed of the initial states")
	iters := flag.Int("iters", 100, "maximum iLQR iterations per step")
	cmd := cli.Command("swingup")
	cmd.Parse()
	cmd.Check(run(os.Stdout, *b, *horizon, *steps, *iters, *seed))
}

// run evaluates the closed loop and writes the table to w.
func run(w io.Writer, b, horizon, steps, iters int, seed uint64) error {
	if b < 1 || horizon < 1 || steps < 1 || iters < 1 {
		return fmt.Errorf("-b %d, -T %d, -steps %d, -iters %d: all must be at least 1", b, horizon, steps, iters)
	}
	env, err := envs.New("pendulum")
	if err != nil {
		return err
	}
	set := envs.DefaultMPCSettings()
	set.MaxIter = iters
	mpc, err := envs.NewMPC(env, &envs.MPCConfig{Horizon: horizon, Settings: &set})
	if err != nil {
		return err
	}
	start := time.Now()
	ev, err := envs.Evaluate(env, mpc, &envs.EvalConfig{Episodes: b, Steps: steps, Seed: seed})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	once, err := singlePlan(env, ev, horizon, &set)
	if err != nil {
		return err
	}

	dt := 0.05
	fmt.Fprintf(w, "Pendulum swing-up in closed loop: MPC with the true model, horizon %d steps (%.2g s), %d steps (%.3g s) per episode, |u| ≤ %g\n\n",
		horizon, float64(horizon)*dt, steps, float64(steps)*dt, env.Task().Upper[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "example\tθ0 (rad)\tω0\tupright from (s)\theld\tfinal θ (rad)\tfinal ω\tconverged steps\tone plan ends at θ\t")
	held := 0
	for i, ep := range ev.Episodes {
		reached := "-"
		if ep.Reached >= 0 {
			reached = fmt.Sprintf("%.2f", float64(ep.Reached)*dt)
		}
		verdict := "no"
		if ep.Success {
			verdict = "yes"
			held++
		}
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%s\t%s\t%.4f\t%.4f\t%d/%d\t%.3f\t\n", i,
			math.Atan2(ep.X0[1], ep.X0[0]), ep.X0[2], reached, verdict, ep.FinalAngle, ep.FinalRate,
			ep.Converged, ep.Solves, once[i])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	onceUp := 0
	for _, th := range once {
		if math.Abs(th) < ev.Success.AngleTol {
			onceUp++
		}
	}
	over := fmt.Sprintf("the last %.3g s", float64(ev.Success.HoldSteps)*dt)
	if ev.Success.HoldSteps > steps { // envs.Success: all states of a shorter episode
		over = "the whole episode"
	}
	fmt.Fprintf(w, "\n%d of %d reached upright and held it over %s (|θ| < %g rad, |ω| < %g rad/s).\n",
		held, b, over, ev.Success.AngleTol, ev.Success.RateTol)
	fmt.Fprintf(w, "A single %d-step plan from the start ends within %g rad of upright in %d of %d.\n",
		horizon, ev.Success.AngleTol, onceUp, b)
	fmt.Fprintf(w, "Solve time per step: median %v, 99th percentile %v; %.1f%% of the solves converged. Total %v.\n",
		ev.StepP50.Round(time.Microsecond), ev.StepP99.Round(time.Microsecond), 100*ev.ConvergedShare,
		elapsed.Round(time.Millisecond))
	return nil
}

// singlePlan solves one plan of the given horizon from every start of ev
// (a batch, with the same settings) and returns the angle of each plan's
// last state.
func singlePlan(env *envs.Env, ev *envs.Evaluation, horizon int, set *ilqr.Settings) ([]float64, error) {
	n := env.Dims().N
	var x0 []float64
	for _, ep := range ev.Episodes {
		x0 = append(x0, ep.X0...)
	}
	s := *set
	s.Workers = 0 // a batch: spread it over the cores
	res, err := ilqr.Solve(ilqr.Problem{Task: env.Task(), T: horizon}, ilqr.Inputs{X0: x0}, &s)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(ev.Episodes))
	for i := range out {
		last := res.X[(i*horizon+horizon-1)*n:]
		out[i] = math.Atan2(last[1], last[0])
	}
	return out, nil
}
