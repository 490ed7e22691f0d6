package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestSeeds(t *testing.T) {
	got, err := Seeds(" 3, 1 ,2")
	if err != nil || !slices.Equal(got, []uint64{3, 1, 2}) {
		t.Errorf("Seeds = %v, %v", got, err)
	}
	for in, want := range map[string]string{"1,x": `seed "x"`, "1,,2": `seed ""`, "2,2": "listed twice", "-1": `seed "-1"`} {
		if _, err := Seeds(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Seeds(%q): error %v, want one containing %q", in, err, want)
		}
	}
}

func TestSeedsOr(t *testing.T) {
	for _, c := range []struct {
		s     string
		quick bool
		want  []uint64
	}{{"", false, []uint64{1, 2, 3}}, {"", true, []uint64{1}}, {"7", true, []uint64{7}}} {
		if got, err := SeedsOr(c.s, c.quick); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("SeedsOr(%q, %v) = %v, %v; want %v", c.s, c.quick, got, err, c.want)
		}
	}
}
