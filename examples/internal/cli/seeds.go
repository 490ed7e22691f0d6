package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Seeds reads a comma-separated list of seeds (spaces around each
// allowed), refusing one that is not a whole number or is listed twice.
func Seeds(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seed %q: %w", f, err)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("seed %d listed twice", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// SeedsOr is Seeds with the experiments' default for an empty list: seeds
// 1, 2 and 3, or only 1 for a quick run.
func SeedsOr(s string, quick bool) ([]uint64, error) {
	if s == "" {
		if quick {
			return []uint64{1}, nil
		}
		return []uint64{1, 2, 3}, nil
	}
	return Seeds(s)
}
