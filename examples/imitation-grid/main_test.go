package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/train"
)

// TestReadmeBlock: the summary table goes between the markers, the rest of
// the file stays as it was, and a file without markers is refused
// unchanged.
func TestReadmeBlock(t *testing.T) {
	g := &grid{envs: []string{"pendulum"}, methods: []train.Method{train.NN, train.DiLQRDx},
		ntrain: []int{10, 100}, seeds: 2, epochs: 7, out: "results"}
	var outs []outcome
	for seed, v := range []float64{0.2, 0.4} {
		outs = append(outs,
			outcome{env: "pendulum", method: train.NN, ntrain: 100, seed: seed + 1, best: train.Row{Test: v}},
			outcome{env: "pendulum", method: train.NN, ntrain: 10, seed: seed + 1, best: train.Row{Test: 9}},
			outcome{env: "pendulum", method: train.DiLQRDx, ntrain: 100, seed: seed + 1, best: train.Row{Test: v / 1e4}})
	}
	path := filepath.Join(t.TempDir(), "README.md")
	before, after := "# Title\n\ntext\n"+readmeBegin+"\n", readmeEnd+"\nmore text\n"
	if err := os.WriteFile(path, []byte(before+"old table\n"+after), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceBlock(path, g.summary(outs)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasPrefix(got, before) || !strings.HasSuffix(got, after) || strings.Contains(got, "old table") {
		t.Fatalf("README after the update:\n%s", got)
	}
	for _, want := range []string{"7 epochs, 2 seeds", "n_train = 100", "| nn | 0.3 |", "| dilqr.dx | 3e-05 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("README lacks %q:\n%s", want, got)
		}
	}

	plain := filepath.Join(t.TempDir(), "plain.md")
	if err := os.WriteFile(plain, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceBlock(plain, "x"); err == nil {
		t.Error("a file without markers was accepted")
	}
	if b, _ := os.ReadFile(plain); string(b) != "no markers\n" {
		t.Errorf("refused file changed to %q", b)
	}
}
