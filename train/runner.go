package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dilqr/dilqr/envs"
	G "gorgonia.org/gorgonia"
)

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
	r, err := newRunner(ds, cfg)
	if err != nil {
		return nil, err
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	for !r.done() {
		if err := r.epoch(ctx); err != nil {
			return r.finish(err)
		}
	}
	return r.finish(nil)
}

// runner is one call of Run: the run's fixed setup, the learner and its
// optimizer, and the state a checkpoint saves. Each method is one step of
// the training loop.
type runner struct {
	ds     *envs.Dataset
	cfg    Config
	trainD *envs.Demos // the first cfg.NTrain training demonstrations
	l      *learner
	id     runID
	opt    G.Solver
	rms    *RMSprop // the optimizer of the model-based methods, or
	adam   *Adam    // that of nn
	pcg    *rand.PCG
	rng    *rand.Rand // shuffles the training demonstrations; draws from pcg
	res    *Result
	st     runState
	// ckPath and logPath are the checkpoint and log files, empty without
	// Config.Dir.
	ckPath, logPath string
	prog            progress
	// x0, xs and us hold one batch of initial states, states and controls.
	x0, xs, us []float64
}

// newRunner checks the dataset and the configuration and sets up the
// learner, the optimizer and the generator of a fresh run.
func newRunner(ds *envs.Dataset, cfg Config) (*runner, error) {
	start := time.Now()
	task, cfg, err := checkInputs(ds, cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{ds: ds, cfg: cfg, trainD: prefix(&ds.Train, cfg.NTrain),
		st: runState{bestVal: math.Inf(1), start: start}}
	if r.l, err = newLearner(ds, task, &r.cfg); err != nil {
		return nil, err
	}
	r.id = runID{Env: ds.Env, Method: string(cfg.Method), NTrain: cfg.NTrain, Seed: cfg.Seed,
		BatchSize: cfg.BatchSize, LR: jf(cfg.LR), Rho: jf(cfg.Rho), AlternateEvery: cfg.AlternateEvery,
		Hidden: cfg.Hidden, InitTheta: toJF(cfg.InitTheta), Settings: settingsID(cfg.Settings),
		Data: dataHash(ds, r.trainD, &ds.Val, &ds.Test)}
	if cfg.Method != NN {
		r.id.Hidden = 0
	}
	if !cfg.Method.LearnsCost() {
		r.id.AlternateEvery = 0
	}
	if cfg.Method == NN {
		r.adam = &Adam{LR: cfg.LR}
		r.opt = r.adam
	} else {
		r.rms = &RMSprop{LR: cfg.LR, Rho: cfg.Rho}
		r.opt = r.rms
	}
	r.pcg = rand.NewPCG(cfg.Seed, rngStream)
	r.rng = rand.New(r.pcg)
	r.res = &Result{Env: ds.Env, Method: cfg.Method, Names: r.l.names, True: slices.Clone(r.l.truth)}
	if r.l.natural != nil {
		r.res.Initial = r.l.natural()
	}
	if cfg.Dir != "" {
		r.ckPath, r.logPath = filepath.Join(cfg.Dir, CheckpointFile), filepath.Join(cfg.Dir, LogFile)
	}
	bs := cfg.BatchSize
	r.x0, r.xs, r.us = make([]float64, bs*ds.N), make([]float64, bs*ds.T*ds.N), make([]float64, bs*ds.T*ds.M)
	return r, nil
}

// start prepares the folder, resumes from its checkpoint when asked to
// and there is one, or else evaluates, logs and checkpoints the initial
// parameters (epoch 0); then it starts the progress report.
func (r *runner) start() error {
	if r.cfg.Dir != "" {
		if err := os.MkdirAll(r.cfg.Dir, 0o755); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		for _, p := range []string{r.ckPath, r.logPath} {
			if err := removeStaleTemps(p); err != nil {
				return err
			}
		}
	}
	resumed, err := r.resume()
	if err != nil {
		return err
	}
	r.res.StartEpoch = r.st.epoch
	if !resumed {
		if err := r.endEpoch(0); err != nil {
			return err
		}
	}
	if r.cfg.Progress != nil && !r.done() {
		perEpoch := (r.cfg.NTrain + r.cfg.BatchSize - 1) / r.cfg.BatchSize
		r.prog = newProgress(r.cfg.Progress, perEpoch*(r.cfg.Epochs-r.st.epoch),
			fmt.Sprintf("%s %s n=%d", r.ds.Env, r.cfg.Method, r.cfg.NTrain), r.cfg.progressEvery)
	}
	return nil
}

// resume loads the checkpoint in Config.Dir into the run when Config.Resume
// is set and there is one; it reports whether it did.
func (r *runner) resume() (bool, error) {
	if !r.cfg.Resume || r.ckPath == "" {
		return false, nil
	}
	c, err := readCheckpoint(r.ckPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	if err := r.restore(c); err != nil {
		return false, fmt.Errorf("train: resuming from %s: %w", r.ckPath, err)
	}
	return true, nil
}

// done reports whether the run has no epoch left to train: all
// Config.Epochs are done or early stopping ended it.
func (r *runner) done() bool { return r.st.epoch >= r.cfg.Epochs || r.st.stopped }

// epoch trains one epoch, then validates, logs and checkpoints it.
func (r *runner) epoch(ctx context.Context) error {
	epoch := r.st.epoch + 1
	if r.prog != nil {
		last := r.st.history[len(r.st.history)-1]
		r.prog.describe(fmt.Sprintf("%s %s n=%d epoch %d/%d (val %.3g after epoch %d)", r.ds.Env, r.cfg.Method, r.cfg.NTrain, epoch, r.cfg.Epochs, last.Val, last.Epoch))
	}
	if err := r.trainEpoch(ctx, epoch); err != nil {
		return err
	}
	r.st.epoch = epoch
	return r.endEpoch(epoch)
}

// trainEpoch takes one optimizer step per batch of a new shuffle of the
// training demonstrations; ctx is checked before every batch.
func (r *runner) trainEpoch(ctx context.Context, epoch int) error {
	n, bs := r.cfg.NTrain, r.cfg.BatchSize
	perm := r.rng.Perm(n)
	r.l.health.Reset()
	for s := 0; s < n; s += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.step(epoch, perm[s:min(s+bs, n)]); err != nil {
			return fmt.Errorf("train: epoch %d: %w", epoch, err)
		}
		if r.prog != nil {
			r.prog.add(1)
		}
		if r.cfg.afterStep != nil {
			r.cfg.afterStep(epoch, s/bs)
		}
	}
	return nil
}

// step takes one optimizer step on the training demonstrations idx.
func (r *runner) step(epoch int, idx []int) error {
	ds := r.ds
	tn, tm := ds.T*ds.N, ds.T*ds.M
	for i, j := range idx {
		copy(r.x0[i*ds.N:(i+1)*ds.N], r.trainD.X0[j*ds.N:(j+1)*ds.N])
		copy(r.xs[i*tn:(i+1)*tn], r.trainD.X[j*tn:(j+1)*tn])
		copy(r.us[i*tm:(i+1)*tm], r.trainD.U[j*tm:(j+1)*tm])
	}
	b := len(idx)
	if _, err := r.l.grad(b, r.x0[:b*ds.N], r.xs[:b*tn], r.us[:b*tm]); err != nil {
		return err
	}
	if r.cfg.Method.LearnsCost() {
		// Alternate as the reference: goal first, then weights.
		k := ds.N + ds.M
		g := r.l.params[0].grads()
		if ((epoch-1)/r.cfg.AlternateEvery)%2 == 0 {
			clear(g[:k]) // learning the goal: hold the weights
		} else {
			clear(g[k:]) // learning the weights: hold the goal
		}
	}
	return r.opt.Step(r.l.params.valueGrads())
}

// endEpoch validates the parameters after epoch, records the row, writes
// the log and the checkpoint, and calls Config.OnEpoch.
func (r *runner) endEpoch(epoch int) error {
	row, err := r.validate(epoch)
	if err != nil {
		return err
	}
	r.record(row)
	if err := r.checkpoint(); err != nil {
		return err
	}
	if r.cfg.OnEpoch != nil {
		r.cfg.OnEpoch(row)
	}
	return nil
}

// validate evaluates the current parameters: the imitation losses on the
// training demonstrations used, the validation and the test split, the
// model loss and the model's errors in terms the data identify.
func (r *runner) validate(epoch int) (Row, error) {
	row := Row{Epoch: epoch, Model: r.l.modelLoss(), Health: r.l.health.Mean()}
	if r.l.natural != nil {
		row.Params = r.l.natural()
	}
	var err error
	if row.Ident, row.Pred, err = ModelErrors(r.ds, r.cfg.Method, row); err != nil {
		return row, fmt.Errorf("train: epoch %d: %w", epoch, err)
	}
	for i, d := range []*envs.Demos{r.trainD, &r.ds.Val, &r.ds.Test} {
		v, err := r.l.imitationLoss(d)
		if err != nil {
			return row, fmt.Errorf("train: epoch %d: evaluating: %w", epoch, err)
		}
		*[]*float64{&row.Train, &row.Val, &row.Test}[i] = v
	}
	return row, nil
}

// record appends row to the history and updates the best validation loss
// and early stopping.
func (r *runner) record(row Row) {
	st := &r.st
	if row.Val < st.bestVal || st.bestParams == nil {
		st.bestVal, st.bestEpoch, st.bestParams, st.bad = row.Val, row.Epoch, r.l.params.snapshot(), 0
	} else {
		st.bad++
	}
	st.history = append(st.history, row)
	if r.cfg.Patience > 0 && st.bad >= r.cfg.Patience {
		st.stopped = true
	}
}

// checkpoint rewrites the log and, every Config.CheckpointEvery epochs and
// at the end, the checkpoint (nothing without Config.Dir).
func (r *runner) checkpoint() error {
	if r.ckPath == "" {
		return nil
	}
	if err := writeAtomic(r.logPath, encodeLog(r.st.history)); err != nil {
		return err
	}
	if r.st.epoch%r.cfg.CheckpointEvery != 0 && r.st.epoch != r.cfg.Epochs && !r.st.stopped {
		return nil
	}
	c, err := r.snapshot()
	if err != nil {
		return err
	}
	raw, err := encodeCheckpoint(c)
	if err != nil {
		return err
	}
	return writeAtomic(r.ckPath, raw)
}

// finish ends the progress report and returns the result so far with err.
func (r *runner) finish(err error) (*Result, error) {
	if r.prog != nil {
		r.prog.finish(err == nil)
	}
	res, st, l := r.res, &r.st, r.l
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
	res.Elapsed = time.Since(st.start)
	res.TotalTime = st.before + res.Elapsed
	return res, err
}

// snapshot gathers the checkpoint of the current state.
func (r *runner) snapshot() (*checkpointData, error) {
	rs, err := r.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("train: saving the generator: %w", err)
	}
	st, l := &r.st, r.l
	c := &checkpointData{Run: r.id, Epoch: st.epoch, Params: toJF2(l.params.snapshot()), RNG: rs,
		Seconds: jf((st.before + time.Since(st.start)).Seconds()),
		BestVal: jf(st.bestVal), BestEpoch: st.bestEpoch, BestParams: toJF2(st.bestParams), Bad: st.bad,
		Stopped: st.stopped, Solves: l.solves, Skipped: l.skipped, Names: l.names}
	if r.rms != nil {
		c.Opt = optState{Kind: "rmsprop", Cache: toJF2(r.rms.Cache)}
	} else {
		c.Opt = optState{Kind: "adam", Iter: r.adam.Iter, M: toJF2(r.adam.M), V: toJF2(r.adam.V)}
	}
	for _, row := range st.history {
		c.History = append(c.History, jrow{Epoch: row.Epoch, Train: jf(row.Train), Val: jf(row.Val), Test: jf(row.Test),
			Model: jf(row.Model), Params: toJF(row.Params), Health: healthJF(row.Health),
			Identified: []jf{jf(row.Ident), jf(row.Pred)}})
	}
	return c, nil
}

// restore loads a checkpoint into the run after checking that it belongs
// to this run and agrees with the log.
func (r *runner) restore(c *checkpointData) error {
	l, rms, adam := r.l, r.rms, r.adam
	if diff := c.Run.mismatch(r.id); len(diff) > 0 {
		return fmt.Errorf("%w: %s", ErrMismatch, strings.Join(diff, "; "))
	}
	if c.Epoch > r.cfg.Epochs {
		return fmt.Errorf("%w: it has completed %d epochs and this run asks for %d: ask for %d or more to continue it or to see its result, or use another folder to start afresh",
			ErrPastEpochs, c.Epoch, r.cfg.Epochs, c.Epoch)
	}
	if err := r.checkShapes(c); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
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
		return fmt.Errorf("%w: optimizer %q does not suit method %s", ErrBadCheckpoint, c.Opt.Kind, r.id.Method)
	}
	if err := r.pcg.UnmarshalBinary(c.RNG); err != nil {
		return fmt.Errorf("%w: generator state: %v", ErrBadCheckpoint, err)
	}
	st := &r.st
	st.epoch, st.bestVal, st.bestEpoch, st.bad, st.stopped = c.Epoch, float64(c.BestVal), c.BestEpoch, c.Bad, c.Stopped
	st.bestParams = fromJF2(c.BestParams)
	st.before = time.Duration(float64(c.Seconds) * float64(time.Second))
	st.history = rowsOf(c.History)
	l.solves, l.skipped = c.Solves, c.Skipped
	// The log may hold rows the checkpoint does not (written after it); the
	// rows both hold must agree, or the folder mixes two runs.
	rows, err := ReadLog(r.logPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%w (remove it to rebuild it from the checkpoint)", err)
	default:
		for i := 0; i < min(len(rows), len(st.history)); i++ {
			if !sameRow(rows[i], st.history[i]) {
				return fmt.Errorf("%w: %s row %d is %q, the checkpoint has %q", ErrMismatch, r.logPath, i, rows[i], st.history[i])
			}
		}
	}
	return nil
}

// checkShapes checks that the parameters in c fit the model: the current
// and the best parameters have the model's tensors and lengths, and every
// log row has one estimate per model parameter (none for nn).
func (r *runner) checkShapes(c *checkpointData) error {
	ws := r.l.params.snapshot()
	if err := checkState("parameters", fromJF2(c.Params), ws); err != nil {
		return err
	}
	if err := checkState("best parameters", fromJF2(c.BestParams), ws); err != nil {
		return err
	}
	if !slices.Equal(c.Names, r.l.names) {
		return fmt.Errorf("parameter names %q, the model has %q", c.Names, r.l.names)
	}
	for _, row := range c.History {
		if len(row.Params) != len(r.l.names) {
			return fmt.Errorf("log row %d has %d parameter estimates, the model has %d", row.Epoch, len(row.Params), len(r.l.names))
		}
	}
	return nil
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
