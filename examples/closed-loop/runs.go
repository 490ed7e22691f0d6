package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/train"
)

// trainedRun is one trained model: its checkpoint and the demonstrations
// it was trained on.
type trainedRun struct {
	dir     string
	dataset string // path of dataset.npz
	ckpt    *train.Checkpoint
}

// label names the run in the tables: "dilqr.dx/n100".
func (r trainedRun) label() string {
	return fmt.Sprintf("%s/n%d", r.ckpt.Method, r.ckpt.NTrain)
}

// findRuns returns the trained runs under root: each folder with a
// train.CheckpointFile, with the dataset.npz of that folder or its parent.
func findRuns(root string) ([]trainedRun, error) {
	var runs []trainedRun
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != train.CheckpointFile {
			return err
		}
		dir := filepath.Dir(path)
		ds := ""
		for _, p := range []string{filepath.Join(dir, "dataset.npz"), filepath.Join(filepath.Dir(dir), "dataset.npz")} {
			if _, err := os.Stat(p); err == nil {
				ds = p
				break
			}
		}
		if ds == "" {
			return fmt.Errorf("%s: no dataset.npz next to it or one folder up", path)
		}
		c, err := train.ReadCheckpoint(path)
		if err != nil {
			return err
		}
		runs = append(runs, trainedRun{dir: dir, dataset: ds, ckpt: c})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("no %s under %s", train.CheckpointFile, root)
	}
	sortRuns(runs)
	return runs, nil
}

// sortRuns orders runs by env, then method (train.Methods order), then
// n_train.
func sortRuns(runs []trainedRun) {
	order := func(m train.Method) int { return slices.Index(train.Methods(), m) }
	slices.SortStableFunc(runs, func(a, b trainedRun) int {
		ra, rb := a.ckpt, b.ckpt
		switch {
		case ra.Env != rb.Env:
			return envRank(ra.Env) - envRank(rb.Env)
		case ra.Method != rb.Method:
			return order(ra.Method) - order(rb.Method)
		}
		return ra.NTrain - rb.NTrain
	})
}

// envRank orders the envs as envs.Names does, the pendulum first.
func envRank(name string) int {
	switch name {
	case "pendulum":
		return 0
	case "cartpole":
		return 1
	}
	return 2 + slices.Index(envs.Names(), name)
}

// envOrder returns the envs of runs, in order of appearance.
func envOrder(runs []trainedRun) []string {
	var out []string
	for _, r := range runs {
		if !slices.Contains(out, r.ckpt.Env) {
			out = append(out, r.ckpt.Env)
		}
	}
	return out
}

// runsOf returns the runs of env.
func runsOf(runs []trainedRun, env string) []trainedRun {
	var out []trainedRun
	for _, r := range runs {
		if r.ckpt.Env == env {
			out = append(out, r)
		}
	}
	return out
}

// trainGrid trains (or reuses) every env × method × n_train of o under
// o.out and returns the runs.
func trainGrid(ctx context.Context, o options, log io.Writer) ([]trainedRun, error) {
	var runs []trainedRun
	for _, name := range o.envs {
		dsPath := filepath.Join(o.out, name, "dataset.npz")
		ds, err := dataset(name, dsPath, o.seed, log)
		if err != nil {
			return nil, err
		}
		for _, n := range o.ntrain {
			for _, m := range o.methods {
				dir := filepath.Join(o.out, name, fmt.Sprintf("%s-n%d", m, n))
				c, err := trainRun(ctx, ds, m, n, dir, o, log)
				if err != nil {
					return nil, fmt.Errorf("%s %s n=%d: %w", name, m, n, err)
				}
				runs = append(runs, trainedRun{dir: dir, dataset: dsPath, ckpt: c})
			}
		}
	}
	sortRuns(runs)
	return runs, nil
}

// dataset loads the demonstrations at path or, if there are none,
// generates them as examples/imitation does (100 training, 50 validation,
// 100 test; the reference initial ranges) and saves them there.
func dataset(name, path string, seed uint64, log io.Writer) (*envs.Dataset, error) {
	env, err := envs.New(name)
	if err != nil {
		return nil, err
	}
	ds, err := envs.Load(path, env)
	if err == nil {
		return ds, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ranges, err := train.ReferenceRanges(name)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: generating demonstrations (seed %d) into %s\n", name, seed, path)
	ds, err = train.GenerateDataset(env, ranges, &envs.DatasetOptions{NTrain: 100, NVal: 50, NTest: 100, Seed: seed})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return ds, ds.Save(path)
}

// trainRun returns the checkpoint of method m on the first n training
// demonstrations of ds in dir, training (or resuming) it to o.epochs
// epochs unless it already has at least that many.
func trainRun(ctx context.Context, ds *envs.Dataset, m train.Method, n int, dir string, o options, log io.Writer) (*train.Checkpoint, error) {
	path := filepath.Join(dir, train.CheckpointFile)
	if c, err := train.ReadCheckpoint(path); err == nil && c.Epoch >= o.epochs {
		if c.Env != ds.Env || c.Method != m || c.NTrain != n || c.Seed != o.seed {
			return nil, fmt.Errorf("%s holds %s %s n=%d seed %d, not this run", path, c.Env, c.Method, c.NTrain, c.Seed)
		}
		return c, nil
	}
	cfg := train.Config{Method: m, NTrain: n, Epochs: o.epochs, Seed: o.seed, Dir: dir, Resume: true, Progress: log}
	if _, err := train.Run(ctx, ds, cfg); err != nil {
		return nil, err
	}
	return train.ReadCheckpoint(path)
}
