package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	got, err := List(" a, b ,c", "method")
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("List = %v, %v", got, err)
	}
	for s, says := range map[string]string{"a,,b": "empty method", "a,b,a": `method "a" listed twice`, "": "empty method"} {
		if _, err := List(s, "method"); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("List(%q): %v, want %q", s, err, says)
		}
	}
}

func TestPositive(t *testing.T) {
	if err := Positive(map[string]int{"-a": 1, "-b": 5}); err != nil {
		t.Error(err)
	}
	if err := Positive(map[string]int{"-z": 0, "-b": -1, "-a": 3}); err == nil || err.Error() != "-b -1: want at least 1" {
		t.Errorf("Positive: %v", err)
	}
}
