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
