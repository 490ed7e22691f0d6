// Command constraints learns an unknown path constraint from
// demonstrations through the planner: the position and size of the
// obstacle a vehicle drives around, and the track limit of a cart-pole.
// It compares learning the constraint with the exact implicit gradient,
// with DiffMPC's fixed-point gradient, and with a planner that learns only
// its cost (which cannot represent a hard limit).
//
//	go run ./examples/constraints [-quick] [-seeds 1,2,3] [-tasks vehicle,cartpole]
//	    [-methods init.psi,no-limit,dilqr.psi,diffmpc.psi,dilqr.cost]
//	    [-epochs 150] [-ntrain 16] [-ntest 40] [-restarts 12] [-vehicle-guess 2.0,0.25,0.5]
//	    [-track-guess 0.8] [-out results/constraints/tmp] [-v]
//
// # The problems
//
// vehicle: the kinematic unicycle of models.VehicleTask (T = 30 steps of
// 0.1 s) driving to (5, 0) around a disc, c(x) = r² − ‖(p_x, p_y) − (c_x,
// c_y)‖² ≤ 0 on steps 1..T−1, true ψ = (2.5, 0.05, 1). Starts near the
// origin, p_y at 0.3–0.7 m above or below the line to the goal (see
// newVehicleSetup), so that half the demonstrations pass above the
// obstacle and half below. The constraint learners start from ψ =
// (2.0, 0.25, 0.5): the centre 0.5 m short and 0.2 m above, half the
// radius.
//
// cartpole: the swing-up of models.CartpoleTask (T = 20 steps of 0.05 s)
// on a track |x| ≤ 0.4 m (models.CartpoleTrackLimit), from starts with the
// pole 0.3–0.9 rad from upright; without the limit these plans take the
// cart 1.2–3.5 m from the centre, so the limit is active in every
// demonstration. The learned entry is the one limit s of the symmetric
// track, ψ = (−s, −∞, −∞, −∞, −∞, s, ∞, …), first guess s = 0.8 m.
//
// The expert is the planner with the true constraint (ilqr.Solver, Newton
// steps, projected gradient and violation within 1e-9, from zero
// controls); only stationary solves are kept as demonstrations (none
// were rejected in the runs below). Per seed, the training and held-out
// starts come from the PCG streams (seed, 1) and (seed, 2).
//
// # The methods
//
//   - init.psi: the constrained planner at the first guess, not trained;
//   - no-limit: the planner without the constraint and with the true cost,
//     not trained (the starting point of dilqr.cost);
//   - dilqr.psi (a): learns the constraint's entries k through the planner
//     with the exact implicit gradient (ilqr.Implicit);
//   - diffmpc.psi (b): the same with the fixed-point gradient
//     (ilqr.FixedPoint, mpc.pytorch's);
//   - dilqr.cost (c): no constraint in the planner; learns the quadratic
//     cost's φ = (q, p) (12 entries, q = exp(ℓ) kept positive) with
//     the exact gradient, from the true cost.
//
// Loss: the imitation loss of the plan against the demonstration, mean
// over the starts of mean (x̂ − x)² + w_u mean (û − u)² (w_u = 1 for the
// vehicle, 1e-3 for the cart-pole's forces of tens of newtons). Training:
// full-batch Adam (β = (0.5, 0.9), see adamBeta1) for 150 epochs, learning
// rate 0.05 falling by a cosine to a tenth; every epoch plans the
// training starts from zero controls (trainSettings: tolerance 1e-7);
// solves that do not end stationary get no gradient (ilqr.SkipUnconverged)
// and are counted. The constraint learners train from -restarts first
// guesses, the given one and guesses drawn from PCG streams (seed, 10+r)
// (the vehicle: a disc of radius 0.5–1.5 centred in (1, 4) × (−1, 1);
// the cart-pole: s in (0.5, 1.5)), each trained in full, and keep the run
// with the lowest final training loss; the held-out starts play no part
// in the choice. The kept run's final parameters are evaluated.
//
// # What is measured
//
// On the held-out starts, planned from zero controls with the expert's
// settings: the imitation loss; the largest violation of the true
// constraint over the steps and starts, and the share of held-out plans
// that violate it by more than 1e-3; the solves that did not end
// stationary. And the distance ‖k − k*‖ of the learned entries from the
// truth (metres). The program prints every run and the table, and writes
// to -out: results.csv (one row per problem, method and seed),
// summary.csv and table.md (the table), curves.csv (training loss, ψ
// error and k per epoch), vehicle.png (the plane: true obstacle, first
// guess, learned obstacles with the path of their centres, and held-out
// plans of the expert and of the learned planners, first seed) and
// curves.png (learning curves). Runs are deterministic. -quick (seed 1,
// 8 training and 8 held-out starts, 15 epochs, 2 restarts) takes about
// 8 s.
//
// # Results
//
// Full run, 3 seeds, 12 first guesses per constraint learner, 150 epochs,
// 400 s on 2 cores (results.csv and vehicle.png beside this file are its
// per-run rows and its picture of seed 1). Mean over seeds of the
// held-out imitation loss (min–max), ψ error (max), and the share of
// held-out plans violating the true constraint by more than 1e-3:
//
//	vehicle   init.psi     0.37 (0.34–0.40)        ψ error 0.73              100%
//	          no-limit     0.39 (0.38–0.40)        –                         100%
//	          dilqr.psi    6.3e-6 (9.0e-9–1.7e-5)   1.3e-3 (2.8e-3)            3%
//	          diffmpc.psi  1.5e-6 (1.1e-9–4.5e-6)   5.4e-4 (1.5e-3)           14%
//	          dilqr.cost   0.28 (0.27–0.29)        –                         100%
//	cartpole  init.psi     1.15 (1.05–1.22)        ψ error 0.4               100%
//	          no-limit     4.59 (4.30–4.95)        –                         100%
//	          dilqr.psi    3.6e-8 (1.1e-9–1.1e-7)   3.6e-5 (8.7e-5)            0%
//	          diffmpc.psi  7.6e-8 (3.7e-8–1.4e-7)   7.1e-5 (1.1e-4)            0%
//	          dilqr.cost   0.51 (0.42–0.59)        –                          53%
//
// Both constraint learners recover the obstacle (to a few millimetres) and
// the track limit (to 0.1 mm) on every seed; their held-out plans keep the
// true constraint (worst violation 3.8e-3 m² of r² − d², 2 mm of depth,
// on the 43% of seed 1's held-out plans that the fixed-point learner's
// kept run, from the given guess, left slightly inside the disc). The
// cost-only learner cannot represent a hard limit: all its held-out
// vehicle plans cross the obstacle and its cart-pole plans leave the track
// in 53% of the held-out starts.
//
// The search over first guesses is what makes the obstacle learnable: from
// the given guess alone (4 guesses with the radius fixed at 0.5, 50
// epochs, in an earlier version) the disc was found on seed 1 only. On
// seeds 2 and 3 it shrinks or drifts off the paths, and once it touches no
// plan the loss is that of the planner without a constraint and its
// gradient is zero; from the truth, or from (2.5, 0.05, 0.9), the learner
// stays at or returns to it, so the basin is small. The kept runs came
// from guesses 7, 11 and 12 (exact gradient) and 1, 11 and 12
// (fixed-point). The imitation loss is not even continuous in ψ where a
// plan changes sides around the disc. Both gradients were checked
// against central differences (TestParamGradient, and op/ilqr's own
// tests).
//
// Exact against fixed-point gradient: the same outcome here. For a state
// bound the two differ only through the dynamics' curvature, for the disc
// also through the constraint's; at this budget neither is consistently
// closer.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dilqr/dilqr/examples/internal/cli"
)

// options are the command's flags.
type options struct {
	quick                 bool
	seeds, tasks, methods string
	epochs, ntrain, ntest int
	restarts              int
	out                   string
	vehicleGuess          string
	trackGuess            float64
	verbose               bool
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "a smoke run of a few seconds: one seed, 8 training and 8 held-out starts, 15 epochs")
	flag.StringVar(&o.seeds, "seeds", "", "comma-separated seeds (default 1,2,3; 1 with -quick)")
	flag.StringVar(&o.tasks, "tasks", strings.Join(allTasks, ","), "comma-separated problems")
	flag.StringVar(&o.methods, "methods", strings.Join(allMethods, ","), "comma-separated methods")
	flag.IntVar(&o.epochs, "epochs", 0, "full-batch Adam steps per run (0: 150, or 15 with -quick)")
	flag.IntVar(&o.ntrain, "ntrain", 0, "training demonstrations per seed (0: 16, or 8 with -quick)")
	flag.IntVar(&o.ntest, "ntest", 0, "held-out demonstrations per seed (0: 40, or 8 with -quick)")
	flag.IntVar(&o.restarts, "restarts", 0, "first guesses per constraint learner, the given one and drawn ones; the run with the lowest training loss is kept (0: 12, or 2 with -quick)")
	flag.StringVar(&o.out, "out", filepath.Join("results", "constraints", "tmp"), "folder of the output files")
	flag.StringVar(&o.vehicleGuess, "vehicle-guess", "2.0,0.25,0.5", "the vehicle's first guess of the obstacle: c_x,c_y,r in metres")
	flag.Float64Var(&o.trackGuess, "track-guess", cartpoleGuess, "the cart-pole's first guess of the track limit, metres")
	flag.BoolVar(&o.verbose, "v", false, "print every epoch")
	cmd := cli.Command("constraints")
	cmd.Parse()
	c, err := configFor(o)
	if err != nil {
		cmd.Fail(cli.ExitUsage, err)
	}
	cmd.RunInterruptible(func(ctx context.Context) error { return run(ctx, c, o, os.Stdout) })
}

// configFor turns the flags into the experiment's configuration.
func configFor(o options) (*config, error) {
	c := &config{ntrain: o.ntrain, ntest: o.ntest, epochs: o.epochs, lrFinal: 0.1}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&c.epochs, 150, 15)
	def(&c.ntrain, 16, 8)
	def(&c.ntest, 40, 8)
	c.restarts = o.restarts
	def(&c.restarts, 12, 2)
	if c.epochs < 1 || c.ntrain < 1 || c.ntest < 1 || c.restarts < 1 {
		return nil, fmt.Errorf("-epochs, -ntrain, -ntest and -restarts must be positive")
	}
	var err error
	if c.seeds, err = cli.SeedsOr(o.seeds, o.quick); err != nil {
		return nil, fmt.Errorf("-seeds: %w", err)
	}
	if o.vehicleGuess == "" {
		o.vehicleGuess = "2.0,0.25,0.5"
	}
	for _, f := range strings.Split(o.vehicleGuess, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("-vehicle-guess: %w", err)
		}
		c.vehicleGuess = append(c.vehicleGuess, v)
	}
	if len(c.vehicleGuess) != 3 || !(c.vehicleGuess[2] > 0) {
		return nil, fmt.Errorf("-vehicle-guess %q: want c_x,c_y,r with r > 0", o.vehicleGuess)
	}
	c.trackGuess = o.trackGuess
	if c.trackGuess == 0 {
		c.trackGuess = cartpoleGuess
	}
	if !(c.trackGuess > 0) || math.IsInf(c.trackGuess, 0) {
		return nil, fmt.Errorf("-track-guess %g: want a positive limit", c.trackGuess)
	}
	if c.tasks, err = pick("-tasks", o.tasks, allTasks); err != nil {
		return nil, err
	}
	if c.methods, err = pick("-methods", o.methods, allMethods); err != nil {
		return nil, err
	}
	return c, nil
}

// pick splits the comma-separated list and checks every name against all.
func pick(flagName, list string, all []string) ([]string, error) {
	out, err := cli.List(list, "name")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	for _, s := range out {
		if !slices.Contains(all, s) {
			return nil, fmt.Errorf("%s: unknown name %q (have %s)", flagName, s, strings.Join(all, ", "))
		}
	}
	return out, nil
}

// Output files, in the -out folder.
const (
	fileResults = "results.csv" // one row per problem, method and seed
	fileSummary = "summary.csv" // the printed table
	fileCurves  = "curves.csv"  // the training curves
	fileTable   = "table.md"    // the printed table in markdown
	fileVehicle = "vehicle.png" // the learned obstacle and the held-out plans
	filePlot    = "curves.png"  // the learning curves
)

// run runs the experiment, prints the table and writes the output files.
func run(ctx context.Context, c *config, o options, stdout io.Writer) error {
	start := time.Now()
	fmt.Fprintf(stdout, "learning a path constraint through the planner: %v; %d training and %d held-out starts; %d epochs; seeds %v; %d CPUs\n",
		c.tasks, c.ntrain, c.ntest, c.epochs, c.seeds, runtime.GOMAXPROCS(0))
	log := io.Discard
	if o.verbose {
		log = stdout
	}
	outs, first, err := runAll(ctx, c, stdout, log)
	if err != nil {
		return err
	}
	trueK := map[string][]float64{}
	for _, name := range c.tasks {
		s, err := c.setup(name)
		if err != nil {
			return err
		}
		trueK[name] = s.trueK
	}
	rows := tableRows(summarize(c.tasks, c.methods, outs), trueK)
	var md strings.Builder
	fmt.Fprintf(&md, "Learning a path constraint from demonstrations: %d training and %d held-out starts per seed, seeds %v, %d full-batch Adam epochs. ψ error ‖k − k*‖ in metres; held-out plans from zero controls; violation of the true constraint, max over steps and held-out starts.\n\n",
		c.ntrain, c.ntest, c.seeds, c.epochs)
	writeTable(&md, rows)
	fmt.Fprintf(stdout, "\n%s\ntotal %.0f s\n", md.String(), time.Since(start).Seconds())
	path := func(f string) string { return filepath.Join(o.out, f) }
	if err := writeCSV(path(fileResults), outs); err != nil {
		return err
	}
	if err := cli.WriteCSV(path(fileSummary), tableHeader, rows); err != nil {
		return err
	}
	if err := writeCurves(path(fileCurves), outs); err != nil {
		return err
	}
	if err := cli.WriteFile(path(fileTable), []byte(md.String()), 0o644); err != nil {
		return err
	}
	written := []string{fileResults, fileSummary, fileCurves, fileTable}
	if d, ok := first[taskVehicle]; ok {
		s, err := c.setup(taskVehicle)
		if err != nil {
			return err
		}
		if err := plotVehicle(path(fileVehicle), s, d.test, c.seeds[0], c.methods, outs); err != nil {
			return err
		}
		written = append(written, fileVehicle)
	}
	if err := plotCurves(path(filePlot), c.tasks, c.methods, outs); err != nil {
		return err
	}
	written = append(written, filePlot)
	for _, f := range written {
		fmt.Fprintf(stdout, "wrote %s\n", path(f))
	}
	return nil
}
