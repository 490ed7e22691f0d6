// Package gridflags reads the flags of the commands that train and
// evaluate grids of runs (environments × methods × training-set sizes):
// -envs, -methods and -ntrain, each a comma-separated list without
// repeats.
package gridflags

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/train"
)

// Envs reads -envs, a list of the envs package's environments.
func Envs(s string) ([]string, error) {
	names, err := cli.List(s, "env")
	for _, e := range names {
		if err == nil && !slices.Contains(envs.Names(), e) {
			err = fmt.Errorf("unknown env %q (known: %v)", e, envs.Names())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("-envs: %w", err)
	}
	return names, nil
}

// Methods reads -methods, a list of training methods or "all".
func Methods(s string) ([]train.Method, error) {
	if s == "all" {
		return train.Methods(), nil
	}
	names, err := cli.List(s, "method")
	var ms []train.Method
	if err == nil {
		ms, err = train.ParseMethods(names)
	}
	if err != nil {
		return nil, fmt.Errorf("-methods: %w", err)
	}
	return ms, nil
}

// Sizes reads -ntrain, a list of training-set sizes from 1 to most, and
// returns them sorted.
func Sizes(s string, most int) ([]int, error) {
	fields, err := cli.List(s, "size")
	var out []int
	for _, f := range fields {
		n, aerr := strconv.Atoi(f)
		if err == nil && (aerr != nil || n < 1 || n > most) {
			err = fmt.Errorf("%q is not a size in [1, %d]", f, most)
		}
		out = append(out, n)
	}
	if err != nil {
		return nil, fmt.Errorf("-ntrain: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// All reads the three lists at once, training-set sizes from 1 to most.
func All(envList, methodList, ntrainList string, most int) (envs []string, methods []train.Method, sizes []int, err error) {
	if envs, err = Envs(envList); err != nil {
		return nil, nil, nil, err
	}
	if methods, err = Methods(methodList); err != nil {
		return nil, nil, nil, err
	}
	if sizes, err = Sizes(ntrainList, most); err != nil {
		return nil, nil, nil, err
	}
	return envs, methods, sizes, nil
}
