package main

import (
	"context"
	"encoding/json"
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

	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/train"
)

// shardsEnv is the environment variable that gives the number of shards
// when the shard index comes from JOB_COMPLETION_INDEX (set by a
// Kubernetes Indexed Job in each pod).
const (
	shardsEnv     = "IMITATION_GRID_SHARDS"
	jobIndexEnv   = "JOB_COMPLETION_INDEX"
	shardFormat   = "dilqr-imitation-grid-shard"
	shardVersion  = 1
	shardsSubdir  = "shards"
	shardFileGlob = "imitation-*-of-*.json"
)

// shard is part index of count of the grid: the runs whose position in
// grid.runs() is index modulo count. The zero shard (count 0) is the
// whole grid, run unsharded.
type shard struct{ index, count int }

// has reports whether the run at position k of the grid belongs to s.
func (s shard) has(k int) bool { return s.count == 0 || k%s.count == s.index }

// resolveShard returns the shard to run: -shard I/N (flag) if given; else
// the index from JOB_COMPLETION_INDEX with the count from -shards (count)
// or IMITATION_GRID_SHARDS; else the whole grid.
func resolveShard(flagShard string, count int, getenv func(string) string) (shard, error) {
	if count < 0 {
		return shard{}, fmt.Errorf("-shards %d < 0", count)
	}
	if flagShard != "" {
		i, n, ok := strings.Cut(flagShard, "/")
		s, err := parseShard(i, n)
		if !ok || err != nil {
			return shard{}, fmt.Errorf("-shard %q: want I/N with 0 ≤ I < N", flagShard)
		}
		if count != 0 && count != s.count {
			return shard{}, fmt.Errorf("-shard %s and -shards %d disagree", flagShard, count)
		}
		return s, nil
	}
	idx := getenv(jobIndexEnv)
	if count == 0 {
		if v := getenv(shardsEnv); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return shard{}, fmt.Errorf("%s=%q: want a number of shards ≥ 1", shardsEnv, v)
			}
			count = n
		}
	}
	switch {
	case idx == "" && count == 0:
		return shard{}, nil
	case idx == "":
		return shard{}, fmt.Errorf("%d shards but no shard index: give -shard I/N or set %s", count, jobIndexEnv)
	case count == 0:
		return shard{}, fmt.Errorf("%s=%s but no number of shards: give -shards N or set %s", jobIndexEnv, idx, shardsEnv)
	}
	s, err := parseShard(idx, strconv.Itoa(count))
	if err != nil {
		return shard{}, fmt.Errorf("%s=%q with %d shards: want 0 ≤ index < %d", jobIndexEnv, idx, count, count)
	}
	return s, nil
}

// parseShard parses an index and a count, 0 ≤ index < count.
func parseShard(index, count string) (shard, error) {
	i, err1 := strconv.Atoi(index)
	n, err2 := strconv.Atoi(count)
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return shard{}, errors.New("bad shard")
	}
	return shard{i, n}, nil
}

// shardPath is the file the outcomes of shard s go to.
func shardPath(out string, s shard) string {
	return filepath.Join(out, shardsSubdir, fmt.Sprintf("imitation-%d-of-%d.json", s.index, s.count))
}

// runShard runs the runs of shard sh and writes their outcomes to
// shardPath for merge.
func (g *grid) runShard(ctx context.Context, sh shard, stdout, stderr io.Writer) error {
	n := 0
	for k := range g.runs() {
		if sh.has(k) {
			n++
		}
	}
	fmt.Fprintf(stdout, "imitation grid, shard %d of %d: %d of %d runs, %d epochs each, %d CPUs\n",
		sh.index, sh.count, n, len(g.runs()), g.epochs, runtime.GOMAXPROCS(0))
	// An older file of this shard must not stand for this call's outcome
	// if the call fails.
	path := shardPath(g.out, sh)
	if err := clearShard(path); err != nil {
		return err
	}
	start := time.Now()
	outs, err := g.train(ctx, sh, stderr)
	if err != nil {
		return err
	}
	if err := writeShard(path, g, sh, outs, time.Since(start)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s; when all %d shards are done, run: imitation-grid merge -out %s\n", path, sh.count, g.out)
	return nil
}

// clearShard removes a shard's file at path, which an earlier call left
// and which must not stand for this call's outcome if this call fails,
// and the temporary files of killed writes of it.
func clearShard(path string) error {
	stale, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	if err != nil {
		return err
	}
	for _, f := range append(stale, path) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// shardFile is the content of a shard's file: the grid, which shard, and
// the outcomes of its runs in the grid's order.
type shardFile struct {
	Format  string       `json:"format"`
	Version int          `json:"version"`
	Index   int          `json:"index"`
	Count   int          `json:"count"`
	Grid    gridSpec     `json:"grid"`
	CPUs    int          `json:"cpus"`
	Seconds float64      `json:"seconds"`
	Runs    []shardOfRun `json:"runs"`
}

// gridSpec is what defines a grid's runs and results.
type gridSpec struct {
	Envs    []string `json:"envs"`
	Methods []string `json:"methods"`
	NTrain  []int    `json:"ntrain"`
	Seeds   int      `json:"seeds"`
	Epochs  int      `json:"epochs"`
	Hidden  int      `json:"hidden"`
	Ranges  string   `json:"ranges"`
	Data    [3]int   `json:"data"`
	Args    []string `json:"args"`
}

// shardOfRun is one outcome in a shard file. The history holds the
// training log's rows (train.Row.String: numbers that read back exactly,
// NaN as an empty field).
type shardOfRun struct {
	Env       string   `json:"env"`
	Method    string   `json:"method"`
	NTrain    int      `json:"ntrain"`
	Seed      int      `json:"seed"`
	Epochs    int      `json:"epochs"`
	BestEpoch int      `json:"best_epoch"`
	History   []string `json:"history"`
	Seconds   float64  `json:"seconds"`
	Skipped   int      `json:"skipped"`
	Solves    int      `json:"solves"`
	StopEarly bool     `json:"stopped_early"`
	// ModelErrors holds the outcome's modelErrs (ident, pred, final
	// ident, final pred) in the form of the history's numbers; absent in
	// shard files written before it existed (the errors are then NaN).
	ModelErrors []string `json:"model_errors,omitempty"`
}

func (g *grid) spec() gridSpec {
	s := gridSpec{Envs: g.envs, NTrain: g.ntrain, Seeds: g.seeds, Epochs: g.epochs, Hidden: g.hidden,
		Ranges: g.ranges, Data: g.data, Args: g.args}
	for _, m := range g.methods {
		s.Methods = append(s.Methods, string(m))
	}
	return s
}

// gridOf returns the grid that spec describes, writing to out.
func gridOf(spec gridSpec, out, readme string) (*grid, error) {
	g := &grid{envs: spec.Envs, ntrain: spec.NTrain, seeds: spec.Seeds, epochs: spec.Epochs, hidden: spec.Hidden,
		ranges: spec.Ranges, data: spec.Data, args: spec.Args, out: out, readme: readme}
	var err error
	if g.methods, err = train.ParseMethods(spec.Methods); err != nil {
		return nil, err
	}
	if len(g.envs) == 0 || len(g.methods) == 0 || len(g.ntrain) == 0 || g.seeds < 1 || g.epochs < 1 {
		return nil, fmt.Errorf("empty grid %+v", spec)
	}
	return g, nil
}

// writeShard writes the outcomes of shard sh to path, atomically.
func writeShard(path string, g *grid, sh shard, outs []outcome, elapsed time.Duration) error {
	f := shardFile{Format: shardFormat, Version: shardVersion, Index: sh.index, Count: sh.count, Grid: g.spec(),
		CPUs: runtime.GOMAXPROCS(0), Seconds: elapsed.Seconds()}
	for _, o := range outs {
		r := shardOfRun{Env: o.env, Method: string(o.method), NTrain: o.ntrain, Seed: o.seed, Epochs: o.epochs,
			BestEpoch: o.best.Epoch, Seconds: o.seconds, Skipped: o.skipped, Solves: o.solves, StopEarly: o.stopEarly}
		for _, row := range o.history {
			r.History = append(r.History, row.String())
		}
		for _, v := range []float64{o.errs.ident, o.errs.pred, o.errs.finalIdent, o.errs.finalPred} {
			r.ModelErrors = append(r.ModelErrors, formatExact(v))
		}
		f.Runs = append(f.Runs, r)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return cli.WriteFile(path, append(data, '\n'), 0o644)
}

// readShard reads a shard file.
func readShard(path string) (*shardFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f shardFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Format != shardFormat || f.Version != shardVersion {
		return nil, fmt.Errorf("%s: format %q version %d, want %q version %d", path, f.Format, f.Version, shardFormat, shardVersion)
	}
	if _, err := parseShard(strconv.Itoa(f.Index), strconv.Itoa(f.Count)); err != nil {
		return nil, fmt.Errorf("%s: shard %d of %d", path, f.Index, f.Count)
	}
	return &f, nil
}

// outcome returns the outcome r records; it checks that its history is
// well formed.
func (r *shardOfRun) outcome() (outcome, error) {
	m, err := train.ParseMethod(r.Method)
	if err != nil {
		return outcome{}, err
	}
	o := outcome{env: r.Env, method: m, ntrain: r.NTrain, seed: r.Seed, epochs: r.Epochs, seconds: r.Seconds,
		skipped: r.Skipped, solves: r.Solves, stopEarly: r.StopEarly}
	for i, line := range r.History {
		row, err := parseRow(line)
		if err != nil || row.Epoch != i {
			return outcome{}, fmt.Errorf("history row %d %q: want the epoch %d and four losses", i, line, i)
		}
		o.history = append(o.history, row)
	}
	if r.BestEpoch < 0 || r.BestEpoch >= len(o.history) {
		return outcome{}, fmt.Errorf("best epoch %d outside the %d rows", r.BestEpoch, len(o.history))
	}
	o.best, o.final = o.history[r.BestEpoch], o.history[len(o.history)-1]
	o.errs = nanErrs
	if r.ModelErrors != nil {
		if len(r.ModelErrors) != 4 {
			return outcome{}, fmt.Errorf("%d model errors, want 4", len(r.ModelErrors))
		}
		for i, dst := range []*float64{&o.errs.ident, &o.errs.pred, &o.errs.finalIdent, &o.errs.finalPred} {
			if *dst, err = parseExact(r.ModelErrors[i]); err != nil {
				return outcome{}, fmt.Errorf("model error %q: %v", r.ModelErrors[i], err)
			}
		}
	}
	return o, nil
}

// formatExact writes v so that parseExact reads it back exactly; NaN is
// the empty string.
func formatExact(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// parseExact reads a number written by formatExact.
func parseExact(s string) (float64, error) {
	if s == "" {
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// parseRow reads a row written by train.Row.String.
func parseRow(line string) (train.Row, error) {
	f := strings.Split(line, ",")
	if len(f) != 5 {
		return train.Row{}, errors.New("want 5 fields")
	}
	var r train.Row
	var err error
	if r.Epoch, err = strconv.Atoi(f[0]); err != nil {
		return r, err
	}
	for i, dst := range []*float64{&r.Train, &r.Val, &r.Test, &r.Model} {
		if f[i+1] == "" {
			*dst = math.NaN()
			continue
		}
		if *dst, err = strconv.ParseFloat(f[i+1], 64); err != nil {
			return r, err
		}
	}
	return r, nil
}

// merge reads the shard files in out/shards, checks that they are the
// shards 0…N−1 of one grid, each with exactly its runs, and writes the
// results of the whole grid as an unsharded run would (readme as -readme).
func merge(out, readme string, stdout io.Writer) error {
	paths, err := filepath.Glob(filepath.Join(out, shardsSubdir, shardFileGlob))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("merge: no shard files %s", filepath.Join(out, shardsSubdir, shardFileGlob))
	}
	var files []*shardFile
	for _, p := range paths {
		f, err := readShard(p)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b *shardFile) int { return a.Index - b.Index })
	count := files[0].Count
	spec, _ := json.Marshal(files[0].Grid)
	for _, f := range files {
		if f.Count != count {
			return fmt.Errorf("merge: %s holds shards of %d and of %d: remove those of the other grid", filepath.Join(out, shardsSubdir), count, f.Count)
		}
		if s, _ := json.Marshal(f.Grid); string(s) != string(spec) {
			return fmt.Errorf("merge: shard %d is of another grid (%s, shard 0: %s)", f.Index, s, spec)
		}
	}
	if len(files) != count {
		var missing []int
		for i := range count {
			if !slices.ContainsFunc(files, func(f *shardFile) bool { return f.Index == i }) {
				missing = append(missing, i)
			}
		}
		return fmt.Errorf("merge: have %d of %d shards, missing %v", len(files), count, missing)
	}
	g, err := gridOf(files[0].Grid, out, readme)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	outs, prov, err := g.collect(files)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return g.report(outs, prov, stdout)
}

// collect puts the shards' outcomes in the grid's order, checking that
// each shard holds exactly its runs.
func (g *grid) collect(files []*shardFile) ([]outcome, provenance, error) {
	count := len(files)
	next := make([]int, count) // the next unread run of each shard
	var outs []outcome
	var longest float64
	for _, f := range files {
		longest = max(longest, f.Seconds)
	}
	for k, key := range g.runs() {
		f := files[k%count]
		if next[f.Index] >= len(f.Runs) {
			return nil, provenance{}, fmt.Errorf("shard %d of %d lacks run %d (%s %s n=%d seed %d)",
				f.Index, count, k, key.env, key.method, key.ntrain, key.seed)
		}
		r := &f.Runs[next[f.Index]]
		next[f.Index]++
		if r.Env != key.env || r.Method != string(key.method) || r.NTrain != key.ntrain || r.Seed != key.seed {
			return nil, provenance{}, fmt.Errorf("shard %d of %d has %s %s n=%d seed %d where the grid has %s %s n=%d seed %d",
				f.Index, count, r.Env, r.Method, r.NTrain, r.Seed, key.env, key.method, key.ntrain, key.seed)
		}
		o, err := r.outcome()
		if err != nil {
			return nil, provenance{}, fmt.Errorf("shard %d, %s %s n=%d seed %d: %w", f.Index, r.Env, r.Method, r.NTrain, r.Seed, err)
		}
		outs = append(outs, o)
	}
	for _, f := range files {
		if next[f.Index] != len(f.Runs) {
			return nil, provenance{}, fmt.Errorf("shard %d of %d has %d runs, more than its %d", f.Index, count, len(f.Runs), next[f.Index])
		}
	}
	var cpus []string
	for _, f := range files {
		cpus = append(cpus, strconv.Itoa(f.CPUs))
	}
	prov := provenance{cpus: fmt.Sprintf("%d shards of %s CPUs", count, strings.Join(cpus, ", ")),
		elapsed: time.Duration(longest * float64(time.Second))}
	return outs, prov, nil
}

// mainMerge is the merge subcommand.
func mainMerge(args []string) {
	fs := flag.NewFlagSet("imitation-grid merge", flag.ExitOnError)
	out := fs.String("out", "results", "results folder: the shards' files are read from OUT/"+shardsSubdir)
	readme := fs.String("readme", "README.md", "write the summary table between the imitation-results markers of this file (empty: none)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "imitation-grid merge: unexpected arguments %v\n", fs.Args())
		os.Exit(2)
	}
	if err := merge(*out, *readme, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "imitation-grid:", err)
		os.Exit(1)
	}
}
