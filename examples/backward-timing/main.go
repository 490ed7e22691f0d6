// Command backward-timing measures the forward and backward time of the
// three gradient modes on the pendulum (the paper's Figure 2): batch 20,
// horizons T ∈ {10, 20, 50}, exactly {10, 50, 100, 300} solver iterations.
//
//	go run ./examples/backward-timing [-quick] [-csv FILE] [-png FILE] [-reps N] [-unrolled-reps N]
//	go run ./examples/backward-timing -from-csv FILE [-png FILE]
//
// implicit and fixed_point time the solver's forward solve and its gradient
// sweep; unrolled builds the same number of iLQR iterations from Gorgonia
// operations (unrolled.Build) and times the graph's forward pass and
// Gorgonia's reverse pass through it on a LispMachine. Forward times are
// medians of -reps runs; the solver modes' backward times medians of
// 50·-reps gradient sweeps (a sweep takes about 100 µs); the unrolled
// times medians of -unrolled-reps runs (seconds each, a new graph each; 1
// with -quick). Progress goes to stderr, the table to stdout.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

const batch = 20

// row is one measurement.
type row struct {
	mode              string
	t, iters          int
	forward, backward float64 // seconds (medians)
	note              string
}

func main() {
	quick := flag.Bool("quick", false, "only T=10 and iterations {10, 300}")
	csvPath := flag.String("csv", "", "write the table as CSV to this file")
	pngPath := flag.String("png", "backward-timing.png", "write the plot to this PNG file (empty: no plot)")
	reps := flag.Int("reps", 7, "repetitions per measurement (median reported)")
	unrolledReps := flag.Int("unrolled-reps", 3, "repetitions per unrolled measurement (1 with -quick unless set)")
	maxUnrolled := flag.Int("max-unrolled", 15000, "skip unrolled cases with T·iterations above this (graph size, memory)")
	fromCSV := flag.String("from-csv", "", "measure nothing: print and plot the table of this CSV file (as written by -csv)")
	cmd := cli.Command("backward-timing")
	cmd.Parse()
	if *maxUnrolled < 0 {
		cmd.Fail(cli.ExitUsage, fmt.Errorf("-max-unrolled %d: want a size ≥ 0 (0 skips every unrolled case)", *maxUnrolled))
	}
	if *quick && !flagSet("unrolled-reps") {
		*unrolledReps = 1
	}
	var err error
	if *fromCSV != "" {
		err = replot(*fromCSV, *pngPath)
	} else {
		err = run(*quick, *csvPath, *pngPath, *reps, *unrolledReps, *maxUnrolled)
	}
	if err != nil {
		cli.Command("backward-timing").Fail(2, err) // every error, a failed run's too
	}
}

// flagSet reports whether the named flag was given.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func run(quick bool, csvPath, pngPath string, reps, unrolledReps, maxUnrolled int) error {
	if reps < 1 || unrolledReps < 1 {
		return errors.New("-reps and -unrolled-reps must be at least 1")
	}
	horizons := []int{10, 20, 50}
	iterations := []int{10, 50, 100, 300}
	if quick {
		horizons, iterations = []int{10}, []int{10, 300}
	}
	task := models.PendulumTask()
	warmUp(task)
	var rows []row
	for _, t := range horizons {
		x0 := starts(batch, 1)
		rng := rand.New(rand.NewPCG(7, uint64(t)))
		dX := make([]float64, batch*t*3)
		dU := make([]float64, batch*t)
		for i := range dX {
			dX[i] = rng.NormFloat64()
		}
		for i := range dU {
			dU[i] = rng.NormFloat64()
		}
		for _, it := range iterations {
			for _, mode := range []ilqr.GradMode{ilqr.Implicit, ilqr.FixedPoint} {
				r, err := timeSolver(task, t, it, x0, dX, dU, mode, reps)
				if err != nil {
					return err
				}
				rows = append(rows, r)
			}
			r, err := timeUnrolled(task, t, it, x0, dX, dU, unrolledReps, maxUnrolled)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			fmt.Fprintf(os.Stderr, "T=%d iterations=%d: backward %s (implicit), %s (fixed_point), %s (unrolled)\n", t, it,
				dur(rows[len(rows)-3].backward), dur(rows[len(rows)-2].backward), dur(rows[len(rows)-1].backward))
		}
	}
	printTable(rows)
	if csvPath != "" {
		if err := writeCSV(csvPath, rows); err != nil {
			return err
		}
	}
	if pngPath != "" {
		if err := plotRows(pngPath, rows, horizons); err != nil {
			return err
		}
		fmt.Println("plot written to", pngPath)
	}
	return nil
}

// warmUp runs solves and gradients, untimed, for about half a second, so
// that the first measurement does not include the process's start (page
// faults, the runtime sizing its heap, the CPU leaving a low-power state).
func warmUp(task models.Task) {
	x0 := starts(batch, 1)
	dX, dU := make([]float64, batch*10*3), make([]float64, batch*10)
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; {
		timeSolver(task, 10, 10, x0, dX, dU, ilqr.Implicit, 1)
	}
}

// starts returns b seeded pendulum initial states (c, s, ω).
func starts(b int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0))
	x0 := make([]float64, 3*b)
	for i := 0; i < b; i++ {
		th := math.Pi * (2*rng.Float64() - 1)
		x0[3*i], x0[3*i+1], x0[3*i+2] = math.Cos(th), math.Sin(th), 2*rng.Float64()-1
	}
	return x0
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// timeSolver times Solve (exactly it iterations) and Gradient in mode.
// The forward time is the median of reps solves. The backward time is the
// median of gradientReps(reps) gradient sweeps over the last solution, run
// back to back: a sweep takes about 100 µs, so single runs right after a
// multi-millisecond solve mostly measure the scheduler waking the workers.
func timeSolver(task models.Task, t, it int, x0, dX, dU []float64, mode ilqr.GradMode, reps int) (row, error) {
	prob := ilqr.Problem{Task: task, T: t}
	sv, err := ilqr.NewSolver(prob, &ilqr.Settings{MaxIter: it, ExactIter: true})
	if err != nil {
		return row{}, err
	}
	in := ilqr.Inputs{X0: x0}
	var res ilqr.Result
	var g ilqr.Grads
	// Examples that have not converged after it iterations still get the
	// formula's value, so every mode does the same work at every count.
	opt := ilqr.GradOptions{Mode: mode, Unconverged: ilqr.GradientAnyway}
	// The unrolled graphs of the previous case leave gigabytes of garbage,
	// which the collector would otherwise sweep during these timings.
	runtime.GC()
	fwd := make([]float64, reps)
	for r := -1; r < reps; r++ { // r = −1 warms up
		start := time.Now()
		if err := sv.Solve(&res, in); err != nil {
			return row{}, err
		}
		if r >= 0 {
			fwd[r] = time.Since(start).Seconds()
		}
	}
	bwd := make([]float64, gradientReps(reps))
	for r := -gradientWarmup; r < len(bwd); r++ {
		start := time.Now()
		if err := sv.Gradient(&g, &res, in, dX, dU, opt); err != nil {
			return row{}, err
		}
		if r >= 0 {
			bwd[r] = time.Since(start).Seconds()
		}
	}
	return row{mode: mode.String(), t: t, iters: it, forward: median(fwd), backward: median(bwd)}, nil
}

// gradientWarmup is the number of untimed gradient sweeps before the timed
// ones.
const gradientWarmup = 20

// gradientReps is the number of timed gradient sweeps per measurement.
func gradientReps(reps int) int { return max(50*reps, 200) }

func printTable(rows []row) {
	fmt.Printf("Pendulum, batch %d: median forward and backward times\n\n", batch)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "mode\tT\titerations\tforward\tbackward\t")
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t\t\n", r.mode, r.t, r.iters, r.note)
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t\n", r.mode, r.t, r.iters, dur(r.forward), dur(r.backward))
	}
	w.Flush()
}

func dur(s float64) string { return time.Duration(s * 1e9).Round(100 * time.Nanosecond).String() }

// writeCSV writes the timed rows (not the notes) to path.
func writeCSV(path string, rows []row) error {
	var recs [][]string
	for _, r := range rows {
		if r.note != "" {
			continue
		}
		recs = append(recs, []string{r.mode, strconv.Itoa(r.t), strconv.Itoa(r.iters), strconv.Itoa(batch),
			strconv.FormatFloat(r.forward, 'g', 6, 64), strconv.FormatFloat(r.backward, 'g', 6, 64)})
	}
	return cli.WriteCSV(path, []string{"mode", "T", "iters", "batch", "forward_s", "backward_s"}, recs)
}

// replot prints and plots the rows of a CSV file written by writeCSV.
func replot(path, pngPath string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	header := []string{"mode", "T", "iters", "batch", "forward_s", "backward_s"}
	if len(recs) == 0 || !slices.Equal(recs[0], header) {
		return fmt.Errorf("%s: want the header %v", path, header)
	}
	var rows []row
	var horizons []int
	for i, rec := range recs[1:] {
		t, err1 := strconv.Atoi(rec[1])
		it, err2 := strconv.Atoi(rec[2])
		fwd, err3 := strconv.ParseFloat(rec[4], 64)
		bwd, err4 := strconv.ParseFloat(rec[5], 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, i+2, err)
		}
		rows = append(rows, row{mode: rec[0], t: t, iters: it, forward: fwd, backward: bwd})
		if !slices.Contains(horizons, t) {
			horizons = append(horizons, t)
		}
	}
	printTable(rows)
	if pngPath == "" {
		return nil
	}
	if err := plotRows(pngPath, rows, horizons); err != nil {
		return err
	}
	fmt.Println("plot written to", pngPath)
	return nil
}
