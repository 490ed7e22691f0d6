package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/train"
)

// TestRun trains dilqr.cost for one epoch with loose planner tolerances
// and lands the rocket twice per split: the table has the expert and the
// method, and a second run reuses the trained model and the data.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 250 demonstrations and trains one epoch")
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "table.md")
	o := options{methods: []train.Method{train.DiLQRCost}, tol: 1e-4, maxIter: 50, ntrain: 8, epochs: 1,
		episodes: 2, steps: 5, seed: 1, out: dir, md: md}
	var out bytes.Buffer
	if err := run(context.Background(), o, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "| expert |") || !strings.HasPrefix(lines[3], "| dilqr.cost | 0.0001 |") {
		t.Fatalf("table:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "dilqr.cost-tol0.0001", train.CheckpointFile)); err != nil {
		t.Errorf("no checkpoint: %v", err)
	}
	var again bytes.Buffer
	if err := run(context.Background(), o, &again, io.Discard); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Errorf("the rerun printed\n%s\nthe first run\n%s", again.String(), out.String())
	}
}
