package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
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
	// with, not fewer than its checkpoint has completed (ErrPastEpochs).
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
	// dynamics-learning methods (sysid, *.dx; refused for the others,
	// which do not use it). Default InitialGuess(env).
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
	// Progress receives the progress of the run; nil for none. A terminal
	// (an *os.File for which golang.org/x/term.IsTerminal holds) gets a
	// progress bar with ETA; any other writer plain lines without control
	// sequences: one at the start, one every 10 s at most, with the ETA,
	// and one at the end.
	Progress io.Writer
	// OnEpoch, if set, is called after every epoch's row is logged and
	// checkpointed.
	OnEpoch func(Row)

	// afterStep, if set, is called after every optimizer step with the
	// epoch and the batch index (tests use it to stop a run mid-epoch).
	afterStep func(epoch, batch int)
	// progressEvery, if positive, replaces the 10 s period of the plain
	// progress lines (tests set it to get a line per step).
	progressEvery time.Duration
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
	setDefault(&c.NTrain, ds.Train.B)
	if c.NTrain > ds.Train.B {
		return c, fmt.Errorf("train: NTrain %d exceeds the dataset's %d training demonstrations", c.NTrain, ds.Train.B)
	}
	setDefault(&c.Epochs, 100)
	setDefault(&c.BatchSize, 32)
	c.BatchSize = min(c.BatchSize, c.NTrain)
	if c.LR == 0 {
		c.LR = 1e-2
		if c.Method == NN {
			c.LR = 1e-4
		}
	}
	setDefault(&c.Rho, 0.5)
	setDefault(&c.AlternateEvery, 10)
	setDefault(&c.Hidden, 64)
	setDefault(&c.CheckpointEvery, 1)
	if c.Settings == nil {
		s := ds.Expert.Settings()
		c.Settings = &s
	} else {
		s := *c.Settings
		s.Trace = nil // called from the workers: a training run has no use for it
		c.Settings = &s
	}
	if c.InitTheta != nil {
		if !c.Method.LearnsDynamics() {
			return c, fmt.Errorf("train: InitTheta is for the methods that learn the dynamics; %s does not", c.Method)
		}
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

// checkInputs checks the dataset (checkDataset) and returns its task and
// cfg with the defaults filled in.
func checkInputs[C interface {
	withDefaults(*envs.Dataset) (C, error)
}](ds *envs.Dataset, cfg C) (models.Task, C, error) {
	task, err := checkDataset(ds)
	if err != nil {
		return task, cfg, err
	}
	cfg, err = cfg.withDefaults(ds)
	return task, cfg, err
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

// setDefault sets *v to d where it is zero.
func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
