// Command imitation-grid runs the imitation experiments of the paper's
// sec. 4.2 over a grid of methods × training-set sizes × seeds and writes
// a results table.
//
//	go run ./examples/imitation-grid [-out results] [-full] [-envs pendulum,cartpole]
//	    [-methods all] [-ntrain 10,50,100] [-seeds 3] [-epochs 120] [-ranges reference]
//	    [-shard I/N | -shards N]
//	go run ./examples/imitation-grid merge [-out results] [-readme README.md]
//
// The default grid (pendulum and cart-pole; nn, sysid, diffmpc.dx,
// diffmpc.cost, dilqr.dx, dilqr.cost; n_train 10, 50, 100; 3 seeds; 120
// epochs: 108 runs) is sized for about 30 minutes on 2 cores (measured:
// 150 epochs took 36 minutes on a 2-core machine shared with other jobs;
// nn takes a third of it, the cart-pole two thirds). -full adds the double
// pendulum and runs 5 seeds of 500 epochs (the reference runs 1000
// epochs): several hours on 2 cores.
//
// Seed s generates its own demonstrations (train.GenerateDataset with seed
// s and, by default, the reference experiments' initial-state ranges
// (train.ReferenceRanges; -ranges envs for envs' own): 100 training, 50
// validation, 100 test; n_train takes the first n_train) and
// seeds the run (shuffling, nn's weights), so the spread over seeds covers
// both the data and the training. Every run keeps its log and checkpoint
// in OUT/tmp/imitation/ENV-RANGES/METHOD/nN/seedS (the demonstrations in
// OUT/tmp/imitation/ENV-RANGES/data-seedS.npz) and resumes from it, so an
// interrupted grid started again with the same flags continues where it
// stopped, and finished runs are not repeated.
//
// Outputs: OUT/imitation.md (the tables), OUT/imitation.csv (one row per
// run), the summary table in the README (-readme FILE: the lines between
// the markers "<!-- imitation-results:begin -->" and
// "<!-- imitation-results:end -->" are replaced; "" leaves it alone), and
// per env OUT/imitation-ENV-loss.png (test imitation loss
// against epochs, mean over seeds, n_train = the largest, log scale: the
// paper's Figure 3a) and OUT/imitation-ENV-cost-model.png (model loss of
// the cost estimates of DiffMPC and diLQR against epochs: Figure 3b).
//
// # Shards
//
// A grid that outgrows one machine runs in N shards, each on its own
// machine, followed by a merge. With -shard I/N a call runs only the runs
// at positions I, I+N, I+2N, … of the grid's fixed order (env, seed,
// n_train, method) and writes their outcomes (each run's log rows, best
// epoch, counts and times) to OUT/shards/imitation-I-of-N.json instead of
// the tables. Without -shard, the index comes from the environment
// variable JOB_COMPLETION_INDEX (which a Kubernetes Indexed Job sets in
// each pod) and the count from -shards N or the environment variable
// IMITATION_GRID_SHARDS; with neither, the whole grid runs here. Every
// shard is given the same grid flags. "imitation-grid merge -out OUT"
// then reads the N shard files, checks that they are the shards 0…N−1 of
// one grid, each with exactly its runs, and writes the same outputs as an
// unsharded run: OUT/imitation.md is byte for byte that of an unsharded
// run except for the lines that report wall-clock time. The shards may
// share OUT (a shared volume): they write their datasets atomically and
// their runs to separate folders. deploy/ has a Kubernetes Indexed Job.
//
// A run's imitation loss is its test loss at the epoch of its best
// validation loss (model selection by validation, as early stopping
// would), and its model loss MSE(θ − θ_true) at that epoch. Since the
// pendulum's (g, m, l) are not identifiable from trajectories, the tables
// and the CSV (its last four columns) also give train.ModelErrors: the
// largest relative error of the identifiable combinations and the
// next-state prediction error on the test demonstrations.
package main

import (
	"context"
	"errors"
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

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/examples/internal/gridflags"
	"github.com/dilqr/dilqr/train"
)

// grid is the set of runs.
type grid struct {
	envs    []string
	methods []train.Method
	ntrain  []int
	seeds   int
	epochs  int
	hidden  int
	ranges  string
	// data holds the sizes of each seed's training, validation and test
	// splits (100, 50, 100).
	data   [3]int
	out    string
	readme string
	args   []string // the flags that define the grid, for the record
}

// outcome is the summary of one run.
type outcome struct {
	env       string
	method    train.Method
	ntrain    int
	seed      int
	epochs    int
	best      train.Row // the row of the best validation loss
	final     train.Row
	history   []train.Row
	seconds   float64
	skipped   int
	solves    int
	stopEarly bool
	// errs holds the model's errors in terms the data identify
	// (train.ModelErrors) at the best validation epoch and the last one.
	errs modelErrs
}

// modelErrs are train.ModelErrors at the best validation epoch and at
// the last epoch: the largest relative error of the identifiable
// combinations of the dynamics parameters and the next-state prediction
// error on the test demonstrations (NaN where they do not apply).
type modelErrs struct {
	ident, pred, finalIdent, finalPred float64
}

// nanErrs is modelErrs for a run whose errors are unknown.
var nanErrs = modelErrs{math.NaN(), math.NaN(), math.NaN(), math.NaN()}

// modelErrors returns train.ModelErrors of the best and the last row of
// res, a run of method m on ds.
func modelErrors(ds *envs.Dataset, m train.Method, res *train.Result) (modelErrs, error) {
	var e modelErrs
	var err error
	if e.ident, e.pred, err = train.ModelErrors(ds, m, res.History[res.BestEpoch]); err != nil {
		return e, err
	}
	e.finalIdent, e.finalPred, err = train.ModelErrors(ds, m, res.Final())
	return e, err
}

// provenance says how a set of outcomes was made, for the header of the
// tables: on how many CPUs (or shards) and how long the call took.
type provenance struct {
	cpus    string
	elapsed time.Duration
}

// shardFlags are the flags that choose a shard; they do not change the
// results and are left out of the record of the command.
var shardFlags = map[string]bool{"shard": true, "shards": true}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "merge" {
		mainMerge(os.Args[2:])
		return
	}
	var g grid
	var envList, methodList, ntrainList, shardFlag string
	var shards int
	full := flag.Bool("full", false, "the full grid: all three environments, 5 seeds, 500 epochs")
	flag.StringVar(&envList, "envs", "pendulum,cartpole", "comma-separated environments")
	flag.StringVar(&methodList, "methods", "all", "comma-separated methods, or all")
	flag.StringVar(&ntrainList, "ntrain", "10,50,100", "comma-separated training-set sizes (at most 100)")
	flag.IntVar(&g.seeds, "seeds", 3, "number of seeds (1..seeds)")
	flag.IntVar(&g.epochs, "epochs", 120, "epochs per run")
	flag.IntVar(&g.hidden, "hidden", 64, "nn: width of the LSTM policy")
	flag.StringVar(&g.out, "out", "results", "results folder")
	flag.StringVar(&g.ranges, "ranges", "reference", "initial states: reference (train.ReferenceRanges) or envs")
	flag.StringVar(&g.readme, "readme", "README.md", "write the summary table between the imitation-results markers of this file (empty: none)")
	flag.StringVar(&shardFlag, "shard", "", "run only shard I/N of the grid (0 ≤ I < N) and write its outcomes to OUT/shards for merge; default: JOB_COMPLETION_INDEX with -shards")
	flag.IntVar(&shards, "shards", 0, "number of shards when the shard index comes from JOB_COMPLETION_INDEX (default: the environment variable "+shardsEnv+")")
	cmd := cli.Command("imitation-grid")
	cmd.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if !shardFlags[f.Name] && f.Name != "readme" {
			g.args = append(g.args, quoteArg("-"+f.Name+"="+f.Value.String()))
		}
	})
	if *full {
		if !set["envs"] {
			envList = "pendulum,cartpole,double_pendulum"
		}
		if !set["seeds"] {
			g.seeds = 5
		}
		if !set["epochs"] {
			g.epochs = 500
		}
	}
	sh, err := resolveShard(shardFlag, shards, os.Getenv)
	if err == nil {
		err = g.parse(envList, methodList, ntrainList)
	}
	if err != nil {
		cmd.Fail(cli.ExitUsage, err)
	}
	cmd.RunInterruptible(func(ctx context.Context) error {
		if sh.count > 0 {
			return g.runShard(ctx, sh, os.Stdout, os.Stderr)
		}
		return g.run(ctx, os.Stdout, os.Stderr)
	}, cli.Hint{Err: context.Canceled, Text: "interrupted; run the same command again to continue"})
}

// quoteArg quotes a command-line argument that a shell would split.
func quoteArg(a string) string {
	if a == "" || strings.ContainsAny(a, " \t\"'") {
		return strconv.Quote(a)
	}
	return a
}

func (g *grid) parse(envList, methodList, ntrainList string) error {
	if g.data == [3]int{} {
		g.data = [3]int{100, 50, 100}
	}
	var err error
	if g.envs, g.methods, g.ntrain, err = gridflags.All(envList, methodList, ntrainList, g.data[0]); err != nil {
		return err
	}
	if g.ranges != "reference" && g.ranges != "envs" {
		return fmt.Errorf("-ranges %q: want reference or envs", g.ranges)
	}
	return cli.Positive(map[string]int{"-seeds": g.seeds, "-epochs": g.epochs, "-hidden": g.hidden})
}

// dataset returns the demonstrations of env for seed, initial states
// from the named ranges, reloading them from dir when saved there before.
func (g *grid) dataset(dir, env string, seed int) (*envs.Dataset, error) {
	e, err := envs.New(env)
	if err != nil {
		return nil, err
	}
	r := e.InitialRanges()
	if g.ranges == "reference" {
		if r, err = train.ReferenceRanges(env); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("data-seed%d.npz", seed))
	ds, err := envs.Load(path, e)
	if err == nil {
		return ds, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	opts := &envs.DatasetOptions{NTrain: g.data[0], NVal: g.data[1], NTest: g.data[2], Seed: uint64(seed)}
	if ds, err = train.GenerateDataset(e, r, opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return ds, ds.Save(path) // atomic: shards that save the same file concurrently write the same bytes
}

// runKey names one run of the grid.
type runKey struct {
	env    string
	seed   int
	ntrain int
	method train.Method
}

// runs lists the grid's runs in their fixed order: by env, seed, n_train,
// then method. Shards take them by position (see shard).
func (g *grid) runs() []runKey {
	var out []runKey
	for _, env := range g.envs {
		for seed := 1; seed <= g.seeds; seed++ {
			for _, n := range g.ntrain {
				for _, m := range g.methods {
					out = append(out, runKey{env, seed, n, m})
				}
			}
		}
	}
	return out
}

// train runs the runs of shard sh (all of them for the zero shard) and
// returns their outcomes in the grid's order.
func (g *grid) train(ctx context.Context, sh shard, stderr io.Writer) ([]outcome, error) {
	var mine []runKey
	for k, r := range g.runs() {
		if sh.has(k) {
			mine = append(mine, r)
		}
	}
	start := time.Now()
	var outs []outcome
	var ds *envs.Dataset // that of the previous run, kept while the env and seed stay
	for i, r := range mine {
		envDir := filepath.Join(g.out, "tmp", "imitation", r.env+"-"+g.ranges)
		if i == 0 || r.env != mine[i-1].env || r.seed != mine[i-1].seed {
			var err error
			if ds, err = g.dataset(envDir, r.env, r.seed); err != nil {
				return nil, err
			}
		}
		dir := filepath.Join(envDir, string(r.method), fmt.Sprintf("n%d", r.ntrain), fmt.Sprintf("seed%d", r.seed))
		fmt.Fprintf(stderr, "[%d/%d, %v] ", i+1, len(mine), time.Since(start).Round(time.Second))
		res, err := train.Run(ctx, ds, train.Config{Method: r.method, NTrain: r.ntrain, Epochs: g.epochs,
			Seed: uint64(r.seed), Hidden: g.hidden, Dir: dir, Resume: true, Progress: stderr})
		if err != nil {
			return nil, fmt.Errorf("%s %s n=%d seed %d: %w", r.env, r.method, r.ntrain, r.seed, err)
		}
		errs, err := modelErrors(ds, r.method, res)
		if err != nil {
			return nil, fmt.Errorf("%s %s n=%d seed %d: %w", r.env, r.method, r.ntrain, r.seed, err)
		}
		outs = append(outs, outcome{env: r.env, method: r.method, ntrain: r.ntrain, seed: r.seed, epochs: g.epochs,
			best: res.History[res.BestEpoch], final: res.Final(), history: res.History,
			seconds: res.TotalTime.Seconds(), skipped: res.Skipped, solves: res.Solves, stopEarly: res.StoppedEarly,
			errs: errs})
	}
	return outs, nil
}

// run runs the whole grid and writes the results.
func (g *grid) run(ctx context.Context, stdout, stderr io.Writer) error {
	total := len(g.runs())
	fmt.Fprintf(stdout, "imitation grid: %d runs (%v × %v × n_train %v × %d seeds), %d epochs each, %d CPUs\n",
		total, g.envs, g.methods, g.ntrain, g.seeds, g.epochs, runtime.GOMAXPROCS(0))
	start := time.Now()
	outs, err := g.train(ctx, shard{}, stderr)
	if err != nil {
		return err
	}
	return g.report(outs, provenance{cpus: fmt.Sprintf("%d CPUs", runtime.GOMAXPROCS(0)), elapsed: time.Since(start)}, stdout)
}

// report writes the results of outs: the CSV, the tables, the plots and
// the README's summary.
func (g *grid) report(outs []outcome, prov provenance, stdout io.Writer) error {
	if err := os.MkdirAll(g.out, 0o755); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(g.out, "imitation.csv"), outs); err != nil {
		return err
	}
	md := g.markdown(outs, prov)
	if err := os.WriteFile(filepath.Join(g.out, "imitation.md"), []byte(md), 0o644); err != nil {
		return err
	}
	for _, env := range g.envs {
		if err := g.plots(env, outs); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, md)
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(g.out, "imitation.md"), filepath.Join(g.out, "imitation.csv"))
	if g.readme != "" {
		if err := replaceBlock(g.readme, g.summary(outs)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "updated the results table in %s\n", g.readme)
	}
	return nil
}

// The markers around the generated table in the README.
const (
	readmeBegin = "<!-- imitation-results:begin -->"
	readmeEnd   = "<!-- imitation-results:end -->"
)

// summary is the README's table: the test imitation loss of every method
// at the largest n_train, mean over seeds, one column per environment.
func (g *grid) summary(outs []outcome) string {
	n := slices.Max(g.ntrain)
	var b strings.Builder
	fmt.Fprintf(&b, "Imitation learning (`%s`, made by `go run ./examples/imitation-grid`: %d epochs, %d seeds; "+
		"test imitation loss at the best validation epoch, mean over seeds, n_train = %d):\n\n| method |",
		filepath.ToSlash(filepath.Join(g.out, "imitation.md")), g.epochs, g.seeds, n)
	for _, env := range g.envs {
		fmt.Fprintf(&b, " %s |", env)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(g.envs)) + "\n")
	for _, m := range g.methods {
		fmt.Fprintf(&b, "| %s |", m)
		for _, env := range g.envs {
			v := pick(outs, env, m, n, func(o outcome) float64 { return o.best.Test })
			if len(v) == 0 {
				b.WriteString(" – |")
				continue
			}
			mean, _ := stats(v)
			fmt.Fprintf(&b, " %.2g |", mean)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// replaceBlock replaces the lines between readmeBegin and readmeEnd in the
// file at path by block, writing the file atomically. A file without both
// markers, in order, is an error and is left unchanged.
func replaceBlock(path, block string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-readme: %w", err)
	}
	text := string(data)
	i := strings.Index(text, readmeBegin)
	j := strings.Index(text, readmeEnd)
	if i < 0 || j < i {
		return fmt.Errorf("-readme: %s has no %q … %q block (use -readme \"\" to skip it)", path, readmeBegin, readmeEnd)
	}
	text = text[:i+len(readmeBegin)] + "\n" + block + text[j:]
	perm := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	return cli.WriteFile(path, []byte(text), perm)
}

func writeCSV(path string, outs []outcome) error {
	var b strings.Builder
	b.WriteString("env,method,ntrain,seed,epochs,best_epoch,train_loss,val_loss,test_loss,model_loss,final_test_loss,final_model_loss,skipped_gradients,solves,seconds," +
		"ident_rel_err,pred_error,final_ident_rel_err,final_pred_error\n")
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	for _, o := range outs {
		e := o.errs
		fmt.Fprintf(&b, "%s,%s,%d,%d,%d,%d,%s,%s,%s,%s,%s,%s,%d,%d,%.1f,%s,%s,%s,%s\n", o.env, o.method, o.ntrain, o.seed, o.final.Epoch,
			o.best.Epoch, f(o.best.Train), f(o.best.Val), f(o.best.Test), f(o.best.Model), f(o.final.Test), f(o.final.Model),
			o.skipped, o.solves, o.seconds, f(e.ident), f(e.pred), f(e.finalIdent), f(e.finalPred))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// stats returns the mean and sample standard deviation of v.
func stats(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

// pick returns the values of f over the outcomes of one cell.
func pick(outs []outcome, env string, m train.Method, n int, f func(outcome) float64) []float64 {
	var v []float64
	for _, o := range outs {
		if o.env == env && o.method == m && o.ntrain == n {
			v = append(v, f(o))
		}
	}
	return v
}

func cell(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	m, s := stats(v)
	return fmt.Sprintf("%.3g ± %.2g", m, s)
}

func (g *grid) markdown(outs []outcome, prov provenance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Imitation learning results\n\n")
	var total float64
	for _, o := range outs {
		total += o.seconds
	}
	fmt.Fprintf(&b, "Generated by `%s` (%d epochs per run, seeds 1–%d, initial states: %s ranges, %s; "+
		"training time of the runs %v, this call %v).\n",
		strings.Join(append([]string{"go run ./examples/imitation-grid"}, g.args...), " "),
		g.epochs, g.seeds, g.ranges, prov.cpus, (time.Duration(total) * time.Second).Round(time.Second), prov.elapsed.Round(time.Second))
	fmt.Fprintf(&b, "Each cell: mean ± standard deviation over seeds; each seed has its own demonstrations "+
		"(%d train, %d validation, %d test). Imitation loss: MSE of the controls over the horizon on the test "+
		"demonstrations, at the epoch of the best validation loss. Model loss: MSE(θ − θ_true) at that epoch "+
		"(dynamics parameters for sysid and *.dx; cost parameters (w, goal) for *.cost). "+
		"The pendulum's (g, m, l) are not identifiable from trajectories (its step depends on them only through "+
		"3g/(2l) and 3/(ml²)), so for the dynamics learners two more tables say what the data determine: the largest "+
		"relative error of the identifiable combinations (train.IdentifiableCombinations: those two for the pendulum, "+
		"the parameters themselves for the cart-pole and the double pendulum) and the next-state prediction error "+
		"mean ‖f(x, u; θ̂) − f(x, u; θ_true)‖²/N over the test demonstrations' (x_t, u_t) (0 for the cost learners, "+
		"which plan with the true dynamics), both at the epoch of the best validation loss.\n",
		g.data[0], g.data[1], g.data[2])
	testLoss := func(o outcome) float64 { return o.best.Test }
	modelLoss := func(o outcome) float64 { return o.best.Model }
	for _, env := range g.envs {
		fmt.Fprintf(&b, "\n## %s\n\n### Test imitation loss\n\n| method |", env)
		g.ntrainColumns(&b, 1)
		g.methodRows(&b, outs, env, testLoss)
		fmt.Fprintf(&b, "\n### Test imitation loss at the last epoch\n\n"+
			"Without model selection: where the parameters keep moving around the optimum (RMSprop at a fixed rate), "+
			"the best-validation epoch above can sit far below the typical late-training loss.\n\n| method |")
		g.ntrainColumns(&b, 1)
		g.methodRows(&b, outs, env, func(o outcome) float64 { return o.final.Test })
		fmt.Fprintf(&b, "\n### Model loss MSE(θ − θ_true)\n\n| method | parameters |")
		g.ntrainColumns(&b, 2)
		for _, m := range g.methods {
			if m == train.NN {
				continue
			}
			what := "dynamics θ"
			if m.LearnsCost() {
				what = "cost (w, goal)"
			}
			fmt.Fprintf(&b, "| %s | %s |", m, what)
			for _, n := range g.ntrain {
				fmt.Fprintf(&b, " %s |", cell(pick(outs, env, m, n, modelLoss)))
			}
			b.WriteString("\n")
		}
		g.identifiedTables(&b, outs, env)
		// The paper's headline comparisons, per n_train, from the means.
		ratio := func(a, c train.Method, n int, f func(outcome) float64) string {
			va, vc := pick(outs, env, a, n, f), pick(outs, env, c, n, f)
			if len(va) == 0 || len(vc) == 0 {
				return "–"
			}
			ma, _ := stats(va)
			mc, _ := stats(vc)
			return fmt.Sprintf("%.3g", ma/mc)
		}
		fmt.Fprintf(&b, "\n### Ratios of the means (paper: nn/diLQR.dx ≈ 10⁶, sysid/diLQR.dx ≈ 10⁴ in imitation loss; diLQR.cost 18%% lower model loss than DiffMPC)\n\n| ratio |")
		g.ntrainColumns(&b, 1)
		for _, r := range []struct {
			name string
			a, c train.Method
			f    func(outcome) float64
		}{
			{"imitation nn / dilqr.dx", train.NN, train.DiLQRDx, testLoss},
			{"imitation sysid / dilqr.dx", train.SysID, train.DiLQRDx, testLoss},
			{"imitation diffmpc.dx / dilqr.dx", train.DiffMPCDx, train.DiLQRDx, testLoss},
			{"imitation dilqr.cost / sysid", train.DiLQRCost, train.SysID, testLoss},
			{"model loss dilqr.dx / diffmpc.dx", train.DiLQRDx, train.DiffMPCDx, modelLoss},
			{"model loss dilqr.cost / diffmpc.cost", train.DiLQRCost, train.DiffMPCCost, modelLoss},
		} {
			if !slices.Contains(g.methods, r.a) || !slices.Contains(g.methods, r.c) {
				continue
			}
			fmt.Fprintf(&b, "| %s |", r.name)
			for _, n := range g.ntrain {
				fmt.Fprintf(&b, " %s |", ratio(r.a, r.c, n, r.f))
			}
			b.WriteString("\n")
		}
		var skipped, solves int
		var secs float64
		for _, o := range outs {
			if o.env == env {
				skipped, solves, secs = skipped+o.skipped, solves+o.solves, secs+o.seconds
			}
		}
		fmt.Fprintf(&b, "\nPlanner solves in training: %d, of which %d did not converge and gave no gradient.\n"+
			"Training time of the runs: %.0f s.\n", solves, skipped, secs)
	}
	return b.String()
}

// identifiedTables writes, for env, the tables of the model errors in
// terms the data identify: the largest relative error of the
// identifiable combinations (dynamics learners) and the next-state
// prediction error (every method with a dynamics model), at the best
// validation epoch.
func (g *grid) identifiedTables(b *strings.Builder, outs []outcome, env string) {
	names := "the parameters"
	if cs, err := train.IdentifiableCombinations(env); err == nil && env == "pendulum" {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		names = strings.Join(n, ", ")
	}
	fmt.Fprintf(b, "\n### Identifiable combinations (%s): largest relative error\n\n| method |", names)
	g.ntrainColumns(b, 1)
	for _, m := range g.methods {
		if m.LearnsDynamics() {
			g.methodRow(b, outs, env, m, func(o outcome) float64 { return o.errs.ident })
		}
	}
	fmt.Fprintf(b, "\n### Next-state prediction error on the test demonstrations\n\n| method |")
	g.ntrainColumns(b, 1)
	for _, m := range g.methods {
		if m != train.NN {
			g.methodRow(b, outs, env, m, func(o outcome) float64 { return o.errs.pred })
		}
	}
}

// ntrainColumns ends a table's header row with one column per n_train
// and writes the separator row; lead is the number of columns before them.
func (g *grid) ntrainColumns(b *strings.Builder, lead int) {
	for _, n := range g.ntrain {
		fmt.Fprintf(b, " n_train=%d |", n)
	}
	b.WriteString("\n|" + strings.Repeat("---|", lead+len(g.ntrain)) + "\n")
}

// methodRows writes one row per method: f over the seeds, per n_train.
func (g *grid) methodRows(b *strings.Builder, outs []outcome, env string, f func(outcome) float64) {
	for _, m := range g.methods {
		g.methodRow(b, outs, env, m, f)
	}
}

// methodRow writes the row of method m: f over the seeds, per n_train.
func (g *grid) methodRow(b *strings.Builder, outs []outcome, env string, m train.Method, f func(outcome) float64) {
	fmt.Fprintf(b, "| %s |", m)
	for _, n := range g.ntrain {
		fmt.Fprintf(b, " %s |", cell(pick(outs, env, m, n, f)))
	}
	b.WriteString("\n")
}

// plots draws, for env, the test loss of each method against epochs at the
// largest n_train (mean over seeds), and the model loss of the two cost
// methods.
func (g *grid) plots(env string, outs []outcome) error {
	n := g.ntrain[len(g.ntrain)-1]
	mean := func(m train.Method, f func(train.Row) float64) train.Series {
		s := train.Series{Name: string(m)}
		var runs [][]train.Row
		for _, o := range outs {
			if o.env == env && o.method == m && o.ntrain == n {
				runs = append(runs, o.history)
			}
		}
		if len(runs) == 0 {
			return s
		}
		for e := 0; ; e++ {
			var sum float64
			for _, r := range runs {
				if e >= len(r) {
					return s // early stopping may end runs at different epochs
				}
				sum += f(r[e])
			}
			s.X = append(s.X, float64(e))
			s.Y = append(s.Y, sum/float64(len(runs)))
		}
	}
	var loss []train.Series
	for _, m := range g.methods {
		loss = append(loss, mean(m, func(r train.Row) float64 { return r.Test }))
	}
	title := fmt.Sprintf("%s, n_train=%d, mean over %d seeds", env, n, g.seeds)
	if err := train.PlotSeries(filepath.Join(g.out, fmt.Sprintf("imitation-%s-loss.png", env)), title,
		"epoch", "test imitation loss", true, loss); err != nil {
		return err
	}
	var cost []train.Series
	for _, m := range []train.Method{train.DiffMPCCost, train.DiLQRCost} {
		if slices.Contains(g.methods, m) {
			cost = append(cost, mean(m, func(r train.Row) float64 { return r.Model }))
		}
	}
	if len(cost) == 0 {
		return nil
	}
	return train.PlotSeries(filepath.Join(g.out, fmt.Sprintf("imitation-%s-cost-model.png", env)), title,
		"epoch", "cost model loss MSE(θ − θ_true)", true, cost)
}
