package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
)

// Config configures a training run. A zero field means its default.
type Config struct {
	// Method to train. Required.
	Method Method
	// NTrain is the number of training demonstrations used: the first
	// NTrain of the dataset's training split. Default all of them.
	NTrain int
	// Epochs is the number of passes over the training demonstrations.
	// Default 100. A resumed run may be given more epochs than it started
	// with.
	Epochs int
	// Seed seeds the shuffling of the training demonstrations (PCG stream
	// seeded with (Seed, 0x7472)) and the initial weights of nn. Zero is a
	// valid seed.
	Seed uint64
	// BatchSize is the number of demonstrations per gradient step; the last
	// batch of an epoch holds the remainder (it gets a graph of its own
	// size). Default 32 (the reference setup), or NTrain when smaller.
	BatchSize int
	// LR is the learning rate. Default 1e-2 (RMSprop) for the model-based
	// methods, 1e-4 (Adam) for nn.
	LR float64
	// Rho is RMSprop's decay ρ, the smoothing constant of the running mean
	// square of the gradient (PyTorch's alpha). Default 0.5, the reference
	// setup's "decay 0.5" (mpc.pytorch's imitation_nonconvex/il_exp.py
	// passes alpha=0.5 to torch.optim.RMSprop). Not used by nn.
	Rho float64
	// AlternateEvery is the period, in epochs, of the alternation of the
	// cost-learning methods: the goal is learned (weights held) during the
	// first AlternateEvery epochs, the weights (goal held) during the next,
	// and so on, as in the reference. Default 10.
	AlternateEvery int
	// Patience stops the run early when the validation loss has not
	// improved for Patience epochs. Default 0: no early stopping.
	Patience int
	// InitTheta is the initial dynamics parameter guess of the
	// dynamics-learning methods. Default InitialGuess(env).
	InitTheta []float64
	// Hidden is the width of the nn policy's layers. Default 64.
	Hidden int
	// Settings are the planner's solver settings. Default the settings the
	// dataset's expert used, so that the true parameters reproduce the
	// demonstrations exactly.
	Settings *ilqr.Settings
	// Dir is the folder for the log (LogFile) and the checkpoint
	// (CheckpointFile), created if needed. Empty: no files.
	Dir string
	// Resume continues from the checkpoint in Dir if there is one (a fresh
	// run starts otherwise); without it a run starts afresh and overwrites
	// both files.
	Resume bool
	// CheckpointEvery is the checkpoint period in epochs; the last epoch is
	// always checkpointed. Default 1.
	CheckpointEvery int
	// Progress receives a progress bar with ETA; nil for none.
	Progress io.Writer
	// OnEpoch, if set, is called after every epoch's row is logged and
	// checkpointed.
	OnEpoch func(Row)

	// afterStep, if set, is called after every optimizer step with the
	// epoch and the batch index (tests use it to stop a run mid-epoch).
	afterStep func(epoch, batch int)
}

// Result is the outcome of a run.
type Result struct {
	Env    string
	Method Method
	// History holds one row per completed epoch, from row 0 (the initial
	// parameters), including the epochs of a resumed run's earlier part.
	History []Row
	// BestEpoch is the epoch with the lowest validation loss BestVal.
	BestEpoch int
	BestVal   float64
	// StoppedEarly is set when early stopping ended the run.
	StoppedEarly bool
	// StartEpoch is the epoch the run started from (nonzero when resumed).
	StartEpoch int
	// Names label the model parameters; Initial, Learned (at the last
	// epoch), Best (at BestEpoch) and True are their values. All nil for
	// nn. Dynamics parameters are θ; cost parameters are the goal form
	// (w, goal) of the cost ‖w ⊙ (τ − goal)‖².
	Names                        []string
	Initial, Learned, Best, True []float64
	// Solves counts the planner solves of training steps (all epochs) and
	// Skipped those whose gradient was skipped because the solve did not
	// converge (ilqr.SkipUnconverged).
	Solves, Skipped int
	// Elapsed is the wall time of this call; TotalTime that of all the
	// calls that made the run (a resumed run adds the time recorded in its
	// checkpoint: the epochs lost to an interruption are not counted).
	Elapsed, TotalTime time.Duration
}

// Final returns the last row of the history.
func (r *Result) Final() Row { return r.History[len(r.History)-1] }

// WriteParams writes a table of the model parameters, initial, learned,
// best and true, to w (nothing for nn).
func (r *Result) WriteParams(w io.Writer) error {
	if r.Names == nil {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "parameter\tinitial\tlearned (epoch %d)\tbest val (epoch %d)\ttrue\t\n", r.Final().Epoch, r.BestEpoch)
	for i, n := range r.Names {
		fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%.6g\t%.6g\t\n", n, r.Initial[i], r.Learned[i], r.Best[i], r.True[i])
	}
	fmt.Fprintf(tw, "MSE vs true\t%.3g\t%.3g\t%.3g\t\t\n", mse(r.Initial, r.True), mse(r.Learned, r.True), mse(r.Best, r.True))
	return tw.Flush()
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults(ds *envs.Dataset) (Config, error) {
	if _, err := ParseMethod(string(c.Method)); err != nil {
		return c, err
	}
	switch {
	case c.NTrain < 0 || c.Epochs < 0 || c.BatchSize < 0 || c.Patience < 0 || c.AlternateEvery < 0 ||
		c.Hidden < 0 || c.CheckpointEvery < 0:
		return c, fmt.Errorf("train: negative NTrain, Epochs, BatchSize, Patience, AlternateEvery, Hidden or CheckpointEvery")
	case c.LR < 0 || math.IsNaN(c.LR) || math.IsInf(c.LR, 0) || c.Rho < 0 || c.Rho >= 1 || math.IsNaN(c.Rho):
		return c, fmt.Errorf("train: need a finite LR ≥ 0 and 0 ≤ Rho < 1, have %g and %g", c.LR, c.Rho)
	}
	if c.NTrain == 0 {
		c.NTrain = ds.Train.B
	}
	if c.NTrain > ds.Train.B {
		return c, fmt.Errorf("train: NTrain %d exceeds the dataset's %d training demonstrations", c.NTrain, ds.Train.B)
	}
	if c.Epochs == 0 {
		c.Epochs = 100
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	c.BatchSize = min(c.BatchSize, c.NTrain)
	if c.LR == 0 {
		c.LR = 1e-2
		if c.Method == NN {
			c.LR = 1e-4
		}
	}
	if c.Rho == 0 {
		c.Rho = 0.5
	}
	if c.AlternateEvery == 0 {
		c.AlternateEvery = 10
	}
	if c.Hidden == 0 {
		c.Hidden = 64
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 1
	}
	if c.Settings == nil {
		e := ds.Expert
		c.Settings = &ilqr.Settings{MaxIter: e.MaxIter, Newton: e.Newton, TolGrad: e.TolGrad,
			TolCost: e.TolCost, TolGradLoose: e.TolGradLoose}
	} else {
		s := *c.Settings
		s.Trace = nil // called from the workers: a training run has no use for it
		c.Settings = &s
	}
	if c.InitTheta != nil {
		c.InitTheta = slices.Clone(c.InitTheta)
	}
	return c, nil
}

// settingsID describes the solver settings that change results.
func settingsID(s *ilqr.Settings) string {
	return fmt.Sprintf("max_iter=%d exact=%v newton=%v tol=%g/%g/%g reg=%g/%g/%g/%g ls=%d/%g",
		s.MaxIter, s.ExactIter, s.Newton, s.TolGrad, s.TolCost, s.TolGradLoose,
		s.RegInit, s.RegMin, s.RegMax, s.RegFactor, s.LineSearchSteps, s.LineSearchMin)
}

// checkDataset checks that ds is usable: a known env whose model matches,
// consistent sizes, non-empty splits.
func checkDataset(ds *envs.Dataset) (models.Task, error) {
	if ds == nil {
		return models.Task{}, errors.New("train: nil dataset")
	}
	task, err := models.TaskByName(ds.Env)
	if err != nil {
		return task, fmt.Errorf("train: dataset: %w", err)
	}
	d := task.Dynamics.Dims()
	if ds.Dynamics != task.Dynamics.Name() || ds.N != d.N || ds.M != d.M || len(ds.Theta) != d.P {
		return task, fmt.Errorf("train: the dataset's model %s (N=%d, M=%d, P=%d) is not the %s model %s",
			ds.Dynamics, ds.N, ds.M, len(ds.Theta), ds.Env, task.Dynamics.Name())
	}
	if ds.T < 1 {
		return task, fmt.Errorf("train: dataset horizon T=%d", ds.T)
	}
	for _, sp := range ds.Splits() {
		dm := sp.Demos
		if dm.B < 1 || dm.T != ds.T || dm.N != ds.N || dm.M != ds.M || len(dm.X0) != dm.B*dm.N ||
			len(dm.X) != dm.B*dm.T*dm.N || len(dm.U) != dm.B*dm.T*dm.M {
			return task, fmt.Errorf("train: the dataset's %s split is empty or misshapen (B=%d, T=%d, N=%d, M=%d)",
				sp.Name, dm.B, dm.T, dm.N, dm.M)
		}
	}
	return task, nil
}

// prefix returns the first n demonstrations of d (sharing storage).
func prefix(d *envs.Demos, n int) *envs.Demos {
	out := *d
	out.B = n
	out.X0 = d.X0[:n*d.N]
	out.X = d.X[:n*d.T*d.N]
	out.U = d.U[:n*d.T*d.M]
	if len(d.Cost) >= n {
		out.Cost = d.Cost[:n]
	}
	return &out
}

// dataHash returns the SHA-256 of the demonstrations a run uses.
func dataHash(ds *envs.Dataset, splits ...*envs.Demos) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s T=%d N=%d M=%d\n", ds.Env, ds.T, ds.N, ds.M)
	var buf [8]byte
	for _, d := range splits {
		fmt.Fprintf(h, "B=%d\n", d.B)
		for _, s := range [][]float64{d.X0, d.X, d.U} {
			for _, v := range s {
				binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
				h.Write(buf[:])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// runState is the state a checkpoint saves.
type runState struct {
	epoch      int
	history    []Row
	bestVal    float64
	bestEpoch  int
	bestParams [][]float64
	bad        int
	stopped    bool
	// before is the training time of earlier calls, from the checkpoint;
	// start the start of this call.
	before time.Duration
	start  time.Time
}

// rngStream is the PCG stream of the shuffling generator ("tr").
const rngStream = 0x7472

// Run trains cfg.Method on the demonstrations of ds and returns the
// losses per epoch and the estimated parameters. Each epoch shuffles the
// first cfg.NTrain training demonstrations, takes one optimizer step per
// batch, then evaluates the imitation losses on them and on the validation
// and test splits, and the model loss; with cfg.Dir set it rewrites the
// log and the checkpoint atomically after every epoch, so that a run
// killed at any point resumes (cfg.Resume) from its last checkpoint and
// continues exactly as if it had not stopped.
//
// Cancelling ctx stops the run between two batches; it returns ctx's error
// with the result so far (the last checkpoint stays valid).
func Run(ctx context.Context, ds *envs.Dataset, cfg Config) (*Result, error) {
	start := time.Now()
	task, err := checkDataset(ds)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.withDefaults(ds); err != nil {
		return nil, err
	}
	trainD := prefix(&ds.Train, cfg.NTrain)
	l, err := newLearner(ds, task, &cfg)
	if err != nil {
		return nil, err
	}
	id := runID{Env: ds.Env, Method: string(cfg.Method), NTrain: cfg.NTrain, Seed: cfg.Seed,
		BatchSize: cfg.BatchSize, LR: jf(cfg.LR), Rho: jf(cfg.Rho), AlternateEvery: cfg.AlternateEvery,
		Hidden: cfg.Hidden, InitTheta: toJF(cfg.InitTheta), Settings: settingsID(cfg.Settings),
		Data: dataHash(ds, trainD, &ds.Val, &ds.Test)}
	if cfg.Method != NN {
		id.Hidden = 0
	}
	if !cfg.Method.LearnsCost() {
		id.AlternateEvery = 0
	}
	var opt G.Solver
	var rms *RMSprop
	var adam *Adam
	if cfg.Method == NN {
		adam = &Adam{LR: cfg.LR}
		opt = adam
	} else {
		rms = &RMSprop{LR: cfg.LR, Rho: cfg.Rho}
		opt = rms
	}
	pcg := rand.NewPCG(cfg.Seed, rngStream)
	rng := rand.New(pcg)
	res := &Result{Env: ds.Env, Method: cfg.Method, Names: l.names, True: slices.Clone(l.truth)}
	if l.natural != nil {
		res.Initial = l.natural()
	}

	var ckPath, logPath string
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		ckPath, logPath = filepath.Join(cfg.Dir, CheckpointFile), filepath.Join(cfg.Dir, LogFile)
	}
	st := runState{bestVal: math.Inf(1), start: start}
	resumed := false
	if cfg.Resume && ckPath != "" {
		c, err := readCheckpoint(ckPath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if err := restore(c, id, l, rms, adam, pcg, &st, logPath); err != nil {
				return nil, fmt.Errorf("train: resuming from %s: %w", ckPath, err)
			}
			resumed = true
		}
	}
	res.StartEpoch = st.epoch

	save := func() error {
		if ckPath == "" {
			return nil
		}
		if err := writeAtomic(logPath, encodeLog(st.history)); err != nil {
			return err
		}
		if st.epoch%cfg.CheckpointEvery != 0 && st.epoch != cfg.Epochs && !st.stopped {
			return nil
		}
		c, err := snapshot(id, l, rms, adam, pcg, &st)
		if err != nil {
			return err
		}
		raw, err := encodeCheckpoint(c)
		if err != nil {
			return err
		}
		return writeAtomic(ckPath, raw)
	}
	evaluate := func(epoch int) (Row, error) {
		row := Row{Epoch: epoch, Model: l.modelLoss()}
		if l.natural != nil {
			row.Params = l.natural()
		}
		for i, d := range []*envs.Demos{trainD, &ds.Val, &ds.Test} {
			v, err := l.imitationLoss(d)
			if err != nil {
				return row, fmt.Errorf("train: epoch %d: evaluating: %w", epoch, err)
			}
			*[]*float64{&row.Train, &row.Val, &row.Test}[i] = v
		}
		if row.Val < st.bestVal || st.bestParams == nil {
			st.bestVal, st.bestEpoch, st.bestParams, st.bad = row.Val, epoch, l.params.snapshot(), 0
		} else {
			st.bad++
		}
		st.history = append(st.history, row)
		if cfg.Patience > 0 && st.bad >= cfg.Patience {
			st.stopped = true
		}
		return row, nil
	}
	var bar *progressbar.ProgressBar
	finish := func(err error) (*Result, error) {
		if bar != nil && !bar.IsFinished() {
			if err == nil {
				bar.Finish()
			} else {
				fmt.Fprintln(cfg.Progress) // leave the bar's line
			}
		}
		res.History = slices.Clone(st.history)
		res.BestEpoch, res.BestVal, res.StoppedEarly = st.bestEpoch, st.bestVal, st.stopped
		res.Solves, res.Skipped = l.solves, l.skipped
		if l.natural != nil {
			res.Learned = l.natural()
			if st.bestParams != nil {
				cur := l.params.snapshot()
				if rerr := l.params.restore(st.bestParams); rerr == nil {
					res.Best = l.natural()
				}
				_ = l.params.restore(cur)
			}
		}
		res.Elapsed = time.Since(start)
		res.TotalTime = st.before + res.Elapsed
		return res, err
	}

	if !resumed {
		if _, err := evaluate(0); err != nil {
			return nil, err
		}
		if err := save(); err != nil {
			return nil, err
		}
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(st.history[0])
		}
	}

	n := cfg.NTrain
	bs := cfg.BatchSize
	perEpoch := (n + bs - 1) / bs
	if cfg.Progress != nil && st.epoch < cfg.Epochs && !st.stopped {
		bar = progressbar.NewOptions(perEpoch*(cfg.Epochs-st.epoch),
			progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("%s %s n=%d", ds.Env, cfg.Method, n)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(250*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(cfg.Progress) }),
		)
	}
	k := ds.N + ds.M
	x0 := make([]float64, bs*ds.N)
	xs := make([]float64, bs*ds.T*ds.N)
	us := make([]float64, bs*ds.T*ds.M)
	for st.epoch < cfg.Epochs && !st.stopped {
		epoch := st.epoch + 1
		if bar != nil {
			last := st.history[len(st.history)-1]
			bar.Describe(fmt.Sprintf("%s %s n=%d epoch %d/%d (val %.3g)", ds.Env, cfg.Method, n, epoch, cfg.Epochs, last.Val))
		}
		perm := rng.Perm(n)
		for s := 0; s < n; s += bs {
			if err := ctx.Err(); err != nil {
				return finish(err)
			}
			idx := perm[s:min(s+bs, n)]
			b := len(idx)
			for i, j := range idx {
				copy(x0[i*ds.N:(i+1)*ds.N], trainD.X0[j*ds.N:(j+1)*ds.N])
				tn, tm := ds.T*ds.N, ds.T*ds.M
				copy(xs[i*tn:(i+1)*tn], trainD.X[j*tn:(j+1)*tn])
				copy(us[i*tm:(i+1)*tm], trainD.U[j*tm:(j+1)*tm])
			}
			if _, err := l.grad(b, x0[:b*ds.N], xs[:b*ds.T*ds.N], us[:b*ds.T*ds.M]); err != nil {
				return finish(fmt.Errorf("train: epoch %d: %w", epoch, err))
			}
			if cfg.Method.LearnsCost() {
				// Alternate as the reference: goal first, then weights.
				g := l.params[0].grads()
				if ((epoch-1)/cfg.AlternateEvery)%2 == 0 {
					clear(g[:k]) // learning the goal: hold the weights
				} else {
					clear(g[k:]) // learning the weights: hold the goal
				}
			}
			if err := opt.Step(l.params.valueGrads()); err != nil {
				return finish(fmt.Errorf("train: epoch %d: %w", epoch, err))
			}
			if bar != nil {
				bar.Add(1)
			}
			if cfg.afterStep != nil {
				cfg.afterStep(epoch, s/bs)
			}
		}
		st.epoch = epoch
		row, err := evaluate(epoch)
		if err != nil {
			return finish(err)
		}
		if err := save(); err != nil {
			return finish(err)
		}
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(row)
		}
	}
	return finish(nil)
}

// snapshot gathers the checkpoint of the current state.
func snapshot(id runID, l *learner, rms *RMSprop, adam *Adam, pcg *rand.PCG, st *runState) (*checkpointData, error) {
	rs, err := pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("train: saving the generator: %w", err)
	}
	c := &checkpointData{Run: id, Epoch: st.epoch, Params: toJF2(l.params.snapshot()), RNG: rs,
		Seconds: jf((st.before + time.Since(st.start)).Seconds()),
		BestVal: jf(st.bestVal), BestEpoch: st.bestEpoch, BestParams: toJF2(st.bestParams), Bad: st.bad,
		Stopped: st.stopped, Solves: l.solves, Skipped: l.skipped, Names: l.names}
	if rms != nil {
		c.Opt = optState{Kind: "rmsprop", Cache: toJF2(rms.Cache)}
	} else {
		c.Opt = optState{Kind: "adam", Iter: adam.Iter, M: toJF2(adam.M), V: toJF2(adam.V)}
	}
	for _, r := range st.history {
		c.History = append(c.History, jrow{Epoch: r.Epoch, Train: jf(r.Train), Val: jf(r.Val), Test: jf(r.Test), Model: jf(r.Model), Params: toJF(r.Params)})
	}
	return c, nil
}

// restore loads a checkpoint into the run after checking that it belongs
// to this run and agrees with the log.
func restore(c *checkpointData, id runID, l *learner, rms *RMSprop, adam *Adam, pcg *rand.PCG, st *runState, logPath string) error {
	if diff := c.Run.mismatch(id); len(diff) > 0 {
		return fmt.Errorf("%w: %s", ErrMismatch, strings.Join(diff, "; "))
	}
	if err := l.params.restore(fromJF2(c.Params)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	switch {
	case rms != nil && c.Opt.Kind == "rmsprop":
		rms.Cache = fromJF2(c.Opt.Cache)
		if rms.Cache != nil {
			if err := checkState("rmsprop cache", rms.Cache, l.params.snapshot()); err != nil {
				return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
			}
		}
	case adam != nil && c.Opt.Kind == "adam":
		adam.Iter, adam.M, adam.V = c.Opt.Iter, fromJF2(c.Opt.M), fromJF2(c.Opt.V)
		if adam.M != nil {
			for _, s := range [][][]float64{adam.M, adam.V} {
				if err := checkState("adam moments", s, l.params.snapshot()); err != nil {
					return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
				}
			}
		}
	default:
		return fmt.Errorf("%w: optimizer %q does not suit method %s", ErrBadCheckpoint, c.Opt.Kind, id.Method)
	}
	if err := pcg.UnmarshalBinary(c.RNG); err != nil {
		return fmt.Errorf("%w: generator state: %v", ErrBadCheckpoint, err)
	}
	st.epoch, st.bestVal, st.bestEpoch, st.bad, st.stopped = c.Epoch, float64(c.BestVal), c.BestEpoch, c.Bad, c.Stopped
	st.bestParams = fromJF2(c.BestParams)
	st.before = time.Duration(float64(c.Seconds) * float64(time.Second))
	st.history = nil
	for _, r := range c.History {
		st.history = append(st.history, Row{Epoch: r.Epoch, Train: float64(r.Train), Val: float64(r.Val),
			Test: float64(r.Test), Model: float64(r.Model), Params: fromJF(r.Params)})
	}
	l.solves, l.skipped = c.Solves, c.Skipped
	// The log may hold rows the checkpoint does not (written after it); the
	// rows both hold must agree, or the folder mixes two runs.
	rows, err := ReadLog(logPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%w (remove it to rebuild it from the checkpoint)", err)
	default:
		for i := 0; i < min(len(rows), len(st.history)); i++ {
			if !sameRow(rows[i], st.history[i]) {
				return fmt.Errorf("%w: %s row %d is %q, the checkpoint has %q", ErrMismatch, logPath, i, rows[i], st.history[i])
			}
		}
	}
	return nil
}
