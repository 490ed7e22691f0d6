package train

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/op"
)

// healthNaN reports whether every share of h is NaN (not measured).
func healthNaN(h op.Health) bool {
	return math.IsNaN(h.Unconverged) && math.IsNaN(h.Indefinite) && math.IsNaN(h.NonFinite) && math.IsNaN(h.OnBound)
}

// TestRunLogsHealth: a planner method logs, for every trained epoch, the
// mean health shares of its steps (shares in [0, 1]) in Result.History and
// in the log's last four columns; row 0 and nn, which trains without the
// planner, log NaN (empty fields).
func TestRunLogsHealth(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	for _, c := range []struct {
		cfg     Config
		planner bool
	}{
		{Config{Method: DiLQRDx, NTrain: 12, BatchSize: 8, Epochs: 2}, true},
		{Config{Method: NN, NTrain: 12, BatchSize: 8, Epochs: 2, Hidden: 8}, false},
	} {
		t.Run(string(c.cfg.Method), func(t *testing.T) {
			cfg := c.cfg
			cfg.Dir = t.TempDir()
			res, err := Run(context.Background(), ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range res.History {
				h := row.Health
				t.Logf("epoch %d: %+v", i, h)
				if i == 0 || !c.planner {
					if !healthNaN(h) {
						t.Errorf("epoch %d: health %+v, want NaN (not measured)", i, h)
					}
					continue
				}
				for _, v := range []float64{h.Unconverged, h.Indefinite, h.NonFinite, h.OnBound} {
					if !(v >= 0 && v <= 1) {
						t.Errorf("epoch %d: health %+v, want shares in [0, 1]", i, h)
						break
					}
				}
			}
			raw, err := os.ReadFile(filepath.Join(cfg.Dir, LogFile))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
			if !strings.HasPrefix(lines[0], "epoch,train_loss,val_loss,test_loss,model_loss,unconverged,indefinite,nonfinite,on_bound") {
				t.Errorf("header %q", lines[0])
			}
			if want := res.History[1].String() + ","; !strings.HasPrefix(lines[2], want) {
				t.Errorf("log row 1 %q does not start with the losses %q", lines[2], want)
			}
			if empty := strings.HasSuffix(lines[2], ",,,,"); empty == c.planner {
				t.Errorf("log row 1 %q: health fields empty %v, want %v", lines[2], empty, !c.planner)
			}
		})
	}
}

// TestResumeLogWithoutHealth: a run whose log and checkpoint were written
// before the health columns existed (five columns; no health in the
// checkpoint's rows) resumes; the rewritten log has the nine columns, NaN
// health for the old rows and the shares for the new epoch.
func TestResumeLogWithoutHealth(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	cfg := Config{Method: DiLQRDx, NTrain: 12, BatchSize: 8, Epochs: 1, Dir: t.TempDir()}
	if _, err := Run(context.Background(), ds, cfg); err != nil {
		t.Fatal(err)
	}
	// Rewrite both files as the earlier format had them.
	ckPath, logPath := filepath.Join(cfg.Dir, CheckpointFile), filepath.Join(cfg.Dir, LogFile)
	c, err := readCheckpoint(ckPath)
	if err != nil {
		t.Fatal(err)
	}
	var old bytes.Buffer
	old.WriteString(logHeaderLosses + "\n")
	for i := range c.History {
		c.History[i].Health, c.History[i].Identified = nil, nil
		row := Row{Epoch: c.History[i].Epoch, Train: float64(c.History[i].Train), Val: float64(c.History[i].Val),
			Test: float64(c.History[i].Test), Model: float64(c.History[i].Model)}
		old.WriteString(row.String() + "\n")
	}
	raw, err := encodeCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"health"`)) {
		t.Fatal("the rewritten checkpoint still has health")
	}
	if err := writeAtomic(ckPath, raw); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(logPath, old.Bytes()); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadLog(logPath)
	if err != nil || len(rows) != 2 || !healthNaN(rows[1].Health) {
		t.Fatalf("reading the five-column log: %v, rows %v", err, rows)
	}

	cfg.Resume, cfg.Epochs = true, 2
	res, err := Run(context.Background(), ds, cfg)
	if err != nil {
		t.Fatalf("resuming: %v", err)
	}
	rows, err = ReadLog(logPath)
	if err != nil || len(rows) != 3 {
		t.Fatalf("the resumed log: %v, %d rows", err, len(rows))
	}
	for i, row := range rows {
		if !sameRow(row, res.History[i]) {
			t.Errorf("log row %d %v, result %v", i, row, res.History[i])
		}
	}
	if !healthNaN(rows[1].Health) || healthNaN(rows[2].Health) {
		t.Errorf("health: old epoch 1 %+v (want NaN), new epoch 2 %+v (want measured)", rows[1].Health, rows[2].Health)
	}
}
