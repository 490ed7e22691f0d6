package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestReadCheckpoint: the checkpoint of a finished run reads back as the
// run's result (identity, log, best epoch, best model parameters), and a
// file that is not a checkpoint of a known method is ErrBadCheckpoint.
func TestReadCheckpoint(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	cfg := Config{Method: DiLQRDx, NTrain: 8, BatchSize: 4, Epochs: 3, Seed: 1, Dir: t.TempDir()}
	res, err := Run(context.Background(), ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.Dir, CheckpointFile)
	c, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != "pendulum" || c.Method != DiLQRDx || c.NTrain != 8 || c.Seed != 1 || c.Epoch != 3 || c.BestEpoch != res.BestEpoch {
		t.Errorf("checkpoint %s %s n=%d seed %d epoch %d best %d, want the run's (best %d)",
			c.Env, c.Method, c.NTrain, c.Seed, c.Epoch, c.BestEpoch, res.BestEpoch)
	}
	if len(c.History) != len(res.History) {
		t.Fatalf("%d log rows, the run has %d", len(c.History), len(res.History))
	}
	for i, r := range c.History {
		if !sameRow(r, res.History[i]) || !slices.Equal(r.Params, res.History[i].Params) {
			t.Errorf("row %d: %v, the run has %v", i, r, res.History[i])
		}
	}
	if !slices.Equal(c.BestModelParams(), res.Best) || !slices.Equal(c.Names, res.Names) {
		t.Errorf("best %v %q, the run's %v %q", c.BestModelParams(), c.Names, res.Best, res.Names)
	}
	if len(c.BestParams) == 0 {
		t.Error("no best parameter tensors")
	}

	ck, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"empty":          nil,
		"no header":      []byte(`{"run":{}}`),
		"checksum":       []byte("dilqr-train-checkpoint 1 sha256:00\n{}\n"),
		"version":        []byte("dilqr-train-checkpoint 2 sha256:00\n{}\n"),
		"unknown method": reencode(t, ck, func(c *checkpointData) { c.Run.Method = "dilqr.xyz" }),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCheckpoint(p); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s: err = %v, want ErrBadCheckpoint", name, err)
		}
	}
	if _, err := ReadCheckpoint(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: err = %v, want os.ErrNotExist", err)
	}
}
