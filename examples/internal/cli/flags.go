package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// List reads a comma-separated list of names (spaces around each allowed),
// refusing an empty entry or one listed twice; what names the kind of
// entry in the errors ("method").
func List(s, what string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			return nil, fmt.Errorf("%q: an empty %s in the list", s, what)
		case slices.Contains(out, f):
			return nil, fmt.Errorf("%s %q listed twice", what, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// Positive refuses, naming the first flag in sorted order, any of the
// given flag values below 1: a count of zero would otherwise reach a
// library that reads zero as "the default".
func Positive(flags map[string]int) error {
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if v := flags[name]; v < 1 {
			return fmt.Errorf("%s %d: want at least 1", name, v)
		}
	}
	return nil
}
