package envs

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/dilqr/dilqr/op/ilqr"
)

// Default split sizes of a Dataset.
const (
	DefaultNTrain = 100
	DefaultNVal   = 50
	DefaultNTest  = 100
)

// DatasetOptions configure Generate. A nil *DatasetOptions means all
// defaults; a zero field means that field's default.
type DatasetOptions struct {
	// NTrain, NVal and NTest are the numbers of demonstrations in the
	// training, validation and test splits. Defaults DefaultNTrain (100),
	// DefaultNVal (50) and DefaultNTest (100); the paper's and mpc.pytorch's
	// imitation experiments train on 10, 50 or 100.
	NTrain, NVal, NTest int
	// Seed selects the initial states. Split k (0 train, 1 validation,
	// 2 test) draws from rand.New(rand.NewPCG(Seed, k)), so each split
	// depends only on (env, Seed, T, its own size, Expert settings). Zero is
	// a valid seed (there is no default to replace it).
	Seed uint64
	// T is the horizon. Default the env's Horizon().
	T int
	// Expert holds the expert's solver settings. Default (nil)
	// DefaultExpertSettings().
	Expert *ilqr.Settings
	// Initial holds the ranges the initial states are drawn from (see
	// Env.Uniform): one per entry of the env's InitialRanges(), same names
	// and order. Default (nil) the env's own ranges. The dataset records
	// them in Dataset.Initial.
	Initial []Range
	// MaxRejected is the largest number of non-converged expert solves
	// tolerated per split before Generate gives up. Default (0)
	// max(16, split size); negative means none is tolerated.
	MaxRejected int
}

// Dataset holds expert demonstrations for one environment in three splits,
// with what is needed to reproduce and check them.
type Dataset struct {
	// Env is the environment's name (see New); T the horizon; N and M the
	// state and control sizes.
	Env     string
	T, N, M int
	// Dynamics and Cost are the models' names, which identify their fixed
	// constants (time step, clamp).
	Dynamics, Cost string
	// Theta and Phi are the true dynamics and cost parameters; Lower and
	// Upper the control bounds (length M).
	Theta, Phi   []float64
	Lower, Upper []float64
	// Seed is DatasetOptions.Seed.
	Seed uint64
	// Initial lists the ranges the initial states were drawn from.
	Initial []Range
	// Expert is the expert's solver settings (Trace and Workers, which do
	// not change the result, are not recorded).
	Expert ExpertInfo
	// Train, Val and Test are the splits.
	Train, Val, Test Demos
}

// ExpertInfo records the solver settings that determine the expert's
// demonstrations.
type ExpertInfo struct {
	MaxIter      int     `json:"max_iter"`
	Newton       bool    `json:"newton"`
	TolGrad      float64 `json:"tol_grad"`
	TolCost      float64 `json:"tol_cost"`
	TolGradLoose float64 `json:"tol_grad_loose"`
}

// Settings returns the solver settings e records, the others at their
// defaults: a planner with them and the true parameters reproduces the
// demonstrations.
func (e ExpertInfo) Settings() ilqr.Settings {
	return ilqr.Settings{MaxIter: e.MaxIter, Newton: e.Newton, TolGrad: e.TolGrad,
		TolCost: e.TolCost, TolGradLoose: e.TolGradLoose}
}

// Splits returns pointers to the three splits with their names, in file
// order: "train", "val", "test".
func (d *Dataset) Splits() []NamedSplit {
	return []NamedSplit{{"train", &d.Train}, {"val", &d.Val}, {"test", &d.Test}}
}

// NamedSplit is one split of a Dataset with its name.
type NamedSplit struct {
	Name  string
	Demos *Demos
}

// Generate builds a dataset for env: each split is collected by an expert
// with Expert.Collect from its own seeded stream (see DatasetOptions.Seed),
// initial states drawn uniformly from the env's ranges or from
// DatasetOptions.Initial.
// The result depends only on env, opts and the op solver's arithmetic, not
// on the number of CPUs: the same inputs give the same bytes from
// Dataset.WriteTo.
func Generate(env *Env, opts *DatasetOptions) (*Dataset, error) {
	if env == nil {
		return nil, fmt.Errorf("envs: generate: nil Env")
	}
	o := deref(opts)
	sizes := []*int{&o.NTrain, &o.NVal, &o.NTest}
	for i, def := range []int{DefaultNTrain, DefaultNVal, DefaultNTest} {
		switch {
		case *sizes[i] < 0:
			return nil, fmt.Errorf("envs: generate: split size %d < 0", *sizes[i])
		case *sizes[i] == 0:
			*sizes[i] = def
		}
	}
	if o.T < 0 {
		return nil, fmt.Errorf("envs: generate: horizon T=%d < 0", o.T)
	}
	if o.T != 0 {
		var err error
		if env, err = env.WithHorizon(o.T); err != nil {
			return nil, err
		}
	}
	ex, err := NewExpert(env, o.Expert)
	if err != nil {
		return nil, err
	}
	var sampler Sampler // nil: the env's own
	initial := env.InitialRanges()
	if o.Initial != nil {
		u, err := env.Uniform(o.Initial)
		if err != nil {
			return nil, fmt.Errorf("envs: generate: %w", err)
		}
		sampler, initial = u, u.Ranges()
	}
	set := ex.Settings()
	task := env.task
	d := env.Dims()
	ds := &Dataset{
		Env: env.name, T: env.t, N: d.N, M: d.M,
		Dynamics: task.Dynamics.Name(), Cost: task.Cost.Name(),
		Theta: env.Params(), Phi: env.CostParams(),
		Lower: slices.Clone(task.Lower), Upper: slices.Clone(task.Upper),
		Seed: o.Seed, Initial: initial,
		Expert: ExpertInfo{MaxIter: set.MaxIter, Newton: set.Newton, TolGrad: set.TolGrad,
			TolCost: set.TolCost, TolGradLoose: set.TolGradLoose},
	}
	for k, sp := range ds.Splits() {
		n := *sizes[k]
		maxRej := o.MaxRejected
		switch {
		case maxRej == 0:
			maxRej = max(16, n)
		case maxRej < 0:
			maxRej = 0
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(k)))
		demos, err := ex.Collect(n, sampler, rng, maxRej)
		if err != nil {
			return nil, fmt.Errorf("envs: generate %s split: %w", sp.Name, err)
		}
		*sp.Demos = demos
	}
	return ds, nil
}
