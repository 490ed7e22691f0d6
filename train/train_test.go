package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
)

// TestDiLQRDxRecoversPendulum: a short seeded dilqr.dx run on the pendulum
// moves (g, m, l) from the reference's initial guess (15, 3, 0.5) towards
// the truth (10, 1, 1) and lowers the imitation loss.
//
// Observed (seed 1, 32 near-upright demonstrations, batches of 8, the
// reference RMSprop with lr 1e-2 and decay 0.5, 150 epochs = 600 steps,
// about 1.5 s): MSE(θ − θ*) 9.75 → 1.16 (8.4× closer), θ = (11.86, 0.970,
// 0.894); validation imitation loss 3.82 → 0.0060 (635× lower); the
// identifiable combinations α = 3g/(2l) 45 → 19.9 and β = 3/(ml²) 4 → 3.87
// (truth 15 and 3). The assertions leave a margin of 2× or more.
func TestDiLQRDxRecoversPendulum(t *testing.T) {
	ds := nearUprightPendulum(t, 32, 16, 16, 1)
	res, err := Run(context.Background(), ds, Config{Method: DiLQRDx, Epochs: 150, BatchSize: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.History[0], res.Final()
	t.Logf("model loss %.4g → %.4g; val %.4g → %.4g; train %.4g → %.4g; θ %.4g; skipped %d of %d",
		first.Model, last.Model, first.Val, last.Val, first.Train, last.Train, res.Learned, res.Skipped, res.Solves)
	if !slices.Equal(res.Initial, []float64{15, 3, 0.5}) || !slices.Equal(res.True, []float64{10, 1, 1}) {
		t.Fatalf("initial %v, true %v: want the reference's (15, 3, 0.5) and (10, 1, 1)", res.Initial, res.True)
	}
	if f := first.Model / last.Model; f < 4 {
		t.Errorf("MSE(θ − θ*) fell %.3g× (%.4g → %.4g), want at least 4×", f, first.Model, last.Model)
	}
	if f := first.Val / last.Val; f < 100 {
		t.Errorf("validation imitation loss fell %.3g×, want at least 100×", f)
	}
	if last.Train >= first.Train/10 || last.Test >= first.Test/10 {
		t.Errorf("train or test imitation loss fell less than 10×: train %.4g → %.4g, test %.4g → %.4g",
			first.Train, last.Train, first.Test, last.Test)
	}
	a0, _ := pendulumCombos(res.Initial)
	a1, b1 := pendulumCombos(res.Learned)
	if math.Abs(a1-15) > math.Abs(a0-15)/3 || math.Abs(b1-3) > 1.5 {
		t.Errorf("identifiable combinations: α %.4g → %.4g (truth 15, want 3× closer), β %.4g (truth 3, want within 1.5)", a0, a1, b1)
	}
}

// TestNNImitationLossFalls: the LSTM policy's training loss falls.
func TestNNImitationLossFalls(t *testing.T) {
	ds := smallDataset(t, "pendulum", 16, 8, 8, 2)
	res, err := Run(context.Background(), ds, Config{Method: NN, Epochs: 15, BatchSize: 8, Hidden: 16, LR: 1e-2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.History[0], res.Final()
	t.Logf("train %.4g → %.4g, val %.4g → %.4g", first.Train, last.Train, first.Val, last.Val)
	if !(last.Train < 0.9*first.Train) {
		t.Errorf("nn training loss %.4g → %.4g: want a 10%% drop", first.Train, last.Train)
	}
	if !math.IsNaN(last.Model) || res.Names != nil {
		t.Errorf("nn reports a model loss %v or parameters %v", last.Model, res.Names)
	}
}

// stopIn returns a context cancelled after the first optimizer step of
// epoch k, so that the run stops inside that epoch, with parameters and
// optimizer state already changed since the last checkpoint, as if killed
// there.
func stopIn(k int) (context.Context, func(epoch, batch int)) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(epoch, batch int) {
		if epoch == k && batch == 0 {
			cancel()
		}
	}
}

// TestResumeIsExact: a run interrupted inside an epoch and resumed from
// its checkpoint produces bit-identical rows (and parameters) to an
// uninterrupted run, for RMSprop with a partial last batch, for the cost
// alternation across a phase change, and for Adam (nn).
func TestResumeIsExact(t *testing.T) {
	cases := []struct {
		name string
		env  string
		cfg  Config
	}{
		// 20 demonstrations in batches of 8: graphs of batch 8 and 4.
		{"dilqr.dx", "pendulum", Config{Method: DiLQRDx, NTrain: 20, BatchSize: 8, Epochs: 6}},
		{"diffmpc.cost", "pendulum", Config{Method: DiffMPCCost, NTrain: 12, BatchSize: 8, Epochs: 6, AlternateEvery: 2}},
		{"sysid", "cartpole", Config{Method: SysID, NTrain: 12, BatchSize: 8, Epochs: 5}},
		{"nn", "pendulum", Config{Method: NN, NTrain: 12, BatchSize: 8, Epochs: 5, Hidden: 8}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := smallDataset(t, c.env, 20, 6, 6, 4)
			cfg := c.cfg
			cfg.Seed = 7
			cfg.Dir = t.TempDir()
			want, err := Run(context.Background(), ds, cfg)
			if err != nil {
				t.Fatal(err)
			}

			cfg.Dir = t.TempDir()
			ctx, hook := stopIn(3)
			cfg.afterStep = hook
			part, err := Run(ctx, ds, cfg)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: err %v, want context.Canceled", err)
			}
			if n := len(part.History); n != 3 {
				t.Fatalf("interrupted run logged %d rows, want 3 (epochs 0-2)", n)
			}
			cfg.afterStep = nil
			cfg.Resume = true
			got, err := Run(context.Background(), ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got.StartEpoch != 2 {
				t.Errorf("resumed from epoch %d, want 2", got.StartEpoch)
			}
			if len(got.History) != len(want.History) {
				t.Fatalf("resumed run has %d rows, uninterrupted %d", len(got.History), len(want.History))
			}
			for i := range want.History {
				if !sameRow(got.History[i], want.History[i]) || !slices.Equal(got.History[i].Params, want.History[i].Params) {
					t.Errorf("epoch %d: resumed %v, uninterrupted %v", i, got.History[i], want.History[i])
				}
			}
			if !slices.Equal(got.Learned, want.Learned) {
				t.Errorf("learned parameters differ: resumed %v, uninterrupted %v", got.Learned, want.Learned)
			}
			rows, err := ReadLog(filepath.Join(cfg.Dir, LogFile))
			if err != nil {
				t.Fatal(err)
			}
			for i := range rows {
				if !sameRow(rows[i], want.History[i]) {
					t.Errorf("log row %d: %v, want %v", i, rows[i], want.History[i])
				}
			}
			// Resuming a finished run returns its result without training.
			again, err := Run(context.Background(), ds, cfg)
			if err != nil || again.StartEpoch != cfg.Epochs || !sameRow(again.Final(), want.Final()) {
				t.Errorf("resuming a finished run: err %v, start %d, final %v", err, again.StartEpoch, again.Final())
			}
		})
	}
}

// TestExpertDemonstrationsConverged: every demonstration envs produces is
// a converged solution of the true problem, and the planner used in
// training, at the true parameters, reproduces the expert's controls
// exactly (imitation loss zero).
func TestExpertDemonstrationsConverged(t *testing.T) {
	for _, name := range envs.Names() {
		t.Run(name, func(t *testing.T) {
			ds := smallDataset(t, name, 12, 6, 6, 5)
			e, err := envs.New(name)
			if err != nil {
				t.Fatal(err)
			}
			task := e.Task()
			s := ds.Expert
			prob := ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: ds.Lower, Upper: ds.Upper}, T: ds.T}
			for _, sp := range ds.Splits() {
				res, err := ilqr.Solve(prob, ilqr.Inputs{X0: sp.Demos.X0, Theta: ds.Theta, Phi: ds.Phi},
					&ilqr.Settings{MaxIter: s.MaxIter, Newton: s.Newton, TolGrad: s.TolGrad, TolCost: s.TolCost, TolGradLoose: s.TolGradLoose})
				if err != nil {
					t.Fatal(err)
				}
				for b, st := range res.Status {
					if !st.Stationary() {
						t.Errorf("%s demonstration %d: %v after %d iterations", sp.Name, b, st, res.Iterations[b])
					}
				}
				if !slices.Equal(res.U, sp.Demos.U) {
					t.Errorf("%s: re-solving from the demonstrations' x0 gives other controls", sp.Name)
				}
			}
			// Through train's planner graph: dynamics learning started at
			// the truth reproduces the demonstrations. (Not exactly: θ is
			// stored as softplus⁻¹(θ*), and softplus of it may differ from θ*
			// in the last bit, which moves the plans by ~1e-14.)
			res, err := Run(context.Background(), ds, Config{Method: DiLQRDx, InitTheta: ds.Theta, Epochs: 1, BatchSize: 12})
			if err != nil {
				t.Fatal(err)
			}
			if r := res.History[0]; r.Train > 1e-20 || r.Val > 1e-20 || r.Test > 1e-20 || r.Model > 1e-25 {
				t.Errorf("at the true parameters: %v, want all below 1e-20", r)
			}
		})
	}
}

// TestEveryMethodOnEveryEnv runs each method for one epoch on each env.
func TestEveryMethodOnEveryEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("18 short runs")
	}
	for _, env := range envs.Names() {
		ds := smallDataset(t, env, 12, 6, 6, 5)
		for _, m := range Methods() {
			t.Run(env+"/"+string(m), func(t *testing.T) {
				res, err := Run(context.Background(), ds, Config{Method: m, NTrain: 6, Epochs: 1, BatchSize: 4, Hidden: 8})
				if err != nil {
					t.Fatal(err)
				}
				r := res.Final()
				if r.Epoch != 1 || math.IsNaN(r.Train) || math.IsNaN(r.Val) || math.IsNaN(r.Test) {
					t.Errorf("final row %v", r)
				}
				if (m == NN) != math.IsNaN(r.Model) {
					t.Errorf("model loss %v for %s", r.Model, m)
				}
				if m != NN && (len(res.Learned) != len(res.True) || len(res.Names) != len(res.True)) {
					t.Errorf("learned %v, names %v, true %v", res.Learned, res.Names, res.True)
				}
			})
		}
	}
}

// TestBadFiles: a corrupted, truncated or foreign checkpoint and a
// corrupted or foreign log are clear errors on resume, never reused.
func TestBadFiles(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	cfg := Config{Method: DiLQRDx, NTrain: 8, BatchSize: 8, Epochs: 2, Seed: 1}
	base := t.TempDir()
	cfg.Dir = base
	if _, err := Run(context.Background(), ds, cfg); err != nil {
		t.Fatal(err)
	}
	ck, err := os.ReadFile(filepath.Join(base, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := os.ReadFile(filepath.Join(base, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	flip := slices.Clone(ck)
	flip[len(flip)/2] ^= 1
	cases := []struct {
		name     string
		ck, lg   []byte
		change   func(*Config)
		want     error
		contains string
	}{
		{"corrupted checkpoint", flip, lg, nil, ErrBadCheckpoint, "checksum"},
		{"truncated checkpoint", ck[:len(ck)/3], lg, nil, ErrBadCheckpoint, "checksum"},
		{"no header", []byte("{}"), lg, nil, ErrBadCheckpoint, "header"},
		{"other format", []byte("something else 1 sha256:00\n{}"), lg, nil, ErrBadCheckpoint, "not a checkpoint"},
		{"other seed", ck, lg, func(c *Config) { c.Seed = 2 }, ErrMismatch, "seed"},
		{"other method", ck, lg, func(c *Config) { c.Method = DiffMPCDx }, ErrMismatch, "method"},
		{"other ntrain", ck, lg, func(c *Config) { c.NTrain = 9 }, ErrMismatch, "ntrain"},
		{"corrupted log", ck, append(slices.Clone(lg), []byte("3,x,1,1,1\n")...), nil, ErrBadLog, "line"},
		{"log with another header", ck, []byte("epoch,loss\n"), nil, ErrBadLog, "header"},
		{"log of another run", ck, []byte(strings.Replace(string(lg), "\n0,", "\n0,1", 1)), nil, ErrMismatch, "log"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, CheckpointFile), c.ck, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, LogFile), c.lg, 0o644); err != nil {
				t.Fatal(err)
			}
			cc := cfg
			cc.Dir, cc.Resume, cc.Epochs = dir, true, 3
			if c.change != nil {
				c.change(&cc)
			}
			_, err := Run(context.Background(), ds, cc)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("err = %v, want %v mentioning %q", err, c.want, c.contains)
			}
			t.Log(err)
			// The files are left as they were.
			if got, _ := os.ReadFile(filepath.Join(dir, CheckpointFile)); !slices.Equal(got, c.ck) {
				t.Error("the checkpoint was modified")
			}
		})
	}
	// With the intact files the run continues.
	cfg.Resume, cfg.Epochs = true, 3
	res, err := Run(context.Background(), ds, cfg)
	if err != nil || res.StartEpoch != 2 || res.Final().Epoch != 3 {
		t.Fatalf("resuming the intact run: err %v, result %+v", err, res)
	}
}

// TestLogRoundTrip: a log reads back bit for bit, NaN model losses and the
// NaN losses of a diverged run included; malformed logs are ErrBadLog
// naming the line.
func TestLogRoundTrip(t *testing.T) {
	nan := math.NaN()
	rows := []Row{
		{Epoch: 0, Train: 1.5, Val: 1e-300, Test: math.Inf(1), Model: nan,
			Health: op.Health{Unconverged: nan, Indefinite: nan, NonFinite: nan, OnBound: nan}},
		{Epoch: 1, Train: 0.1 + 0.2, Val: 3, Test: 5e-324, Model: 0.7,
			Health: op.Health{Unconverged: 0.25, Indefinite: 0, NonFinite: 1.0 / 3, OnBound: 0.1 + 0.2}},
		{Epoch: 2, Train: nan, Val: nan, Test: math.Inf(-1), Model: nan,
			Health: op.Health{Unconverged: 0, Indefinite: 0, NonFinite: 1, OnBound: 0}},
	}
	path := filepath.Join(t.TempDir(), "log.csv")
	if err := writeAtomic(path, encodeLog(rows)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if !sameRow(got[i], rows[i]) {
			t.Errorf("row %d: read %v, wrote %v", i, got[i], rows[i])
		}
	}
	for _, bad := range []string{
		"", LogHeader + "\n1,1,1,1,1\n", LogHeader + "\n0,1,1,1\n", LogHeader + "\n0,,1,1,1\n",
		LogHeader + "\n0,1,1,1,1\n0,1,1,1,1\n", "epoch,train_loss\n",
	} {
		if err := writeAtomic(path, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadLog(path); !errors.Is(err, ErrBadLog) {
			t.Errorf("ReadLog(%q): err %v, want ErrBadLog", bad, err)
		}
	}
}

// TestDivergedRun: a run whose losses turn NaN (an absurd learning rate)
// writes a log that reads back, and can be resumed.
func TestDivergedRun(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	cfg := Config{Method: NN, NTrain: 12, BatchSize: 8, Epochs: 2, Seed: 7, Hidden: 8, LR: 1e300, Dir: t.TempDir()}
	res, err := Run(context.Background(), ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(res.Final().Train) {
		t.Fatalf("final training loss %v: the case does not diverge", res.Final().Train)
	}
	rows, err := ReadLog(filepath.Join(cfg.Dir, LogFile))
	if err != nil || len(rows) != 3 {
		t.Fatalf("ReadLog: %d rows, %v", len(rows), err)
	}
	cfg.Epochs, cfg.Resume = 3, true
	if res, err = Run(context.Background(), ds, cfg); err != nil || res.StartEpoch != 2 || res.Final().Epoch != 3 {
		t.Fatalf("resume: %v", err)
	}
}

// TestConfigErrors: bad configurations are errors, not panics.
func TestConfigErrors(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	for i, cfg := range []Config{
		{Method: "mpc"},
		{Method: DiLQRDx, NTrain: 21},
		{Method: DiLQRDx, Epochs: -1},
		{Method: DiLQRDx, Rho: 1},
		{Method: DiLQRDx, LR: math.NaN()},
		{Method: DiLQRDx, InitTheta: []float64{1, 2}},
		{Method: DiLQRCost, InitTheta: []float64{10, 1, 1}},
	} {
		if _, err := Run(context.Background(), ds, cfg); err == nil {
			t.Errorf("config %d (%+v): no error", i, cfg)
		}
	}
	if _, err := Run(context.Background(), nil, Config{Method: NN}); err == nil {
		t.Error("nil dataset: no error")
	}
	if _, err := ParseMethod("dilqr.dx"); err != nil {
		t.Error(err)
	}
	if got := fmt.Sprint(Methods()); got != "[nn sysid diffmpc.dx diffmpc.cost dilqr.dx dilqr.cost]" {
		t.Errorf("Methods() = %s", got)
	}
}

// TestGenerateDatasetMatchesEnvs: with envs' own ranges GenerateDataset
// returns exactly envs.Generate's dataset, for every env; with the
// reference ranges the pendulum's angles stay within ±π/2 and every
// demonstration is converged.
func TestGenerateDatasetMatchesEnvs(t *testing.T) {
	for _, name := range envs.Names() {
		e, err := envs.New(name)
		if err != nil {
			t.Fatal(err)
		}
		opts := &envs.DatasetOptions{NTrain: 9, NVal: 3, NTest: 4, Seed: 11}
		want, err := envs.Generate(e, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := GenerateDataset(e, e.InitialRanges(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for k, sp := range got.Splits() {
			w := want.Splits()[k].Demos
			if !slices.Equal(sp.Demos.X0, w.X0) || !slices.Equal(sp.Demos.U, w.U) || !slices.Equal(sp.Demos.X, w.X) ||
				sp.Demos.Rejected != w.Rejected {
				t.Errorf("%s %s split differs from envs.Generate's", name, sp.Name)
			}
		}
		var wb, gb bytes.Buffer
		if _, err := want.WriteTo(&wb); err != nil {
			t.Fatal(err)
		}
		if _, err := got.WriteTo(&gb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wb.Bytes(), gb.Bytes()) {
			t.Errorf("%s: GenerateDataset's file differs from envs.Generate's", name)
		}
	}
	r, err := ReferenceRanges("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := envs.New("pendulum")
	ds, err := GenerateDataset(e, r, &envs.DatasetOptions{NTrain: 20, NVal: 2, NTest: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < ds.Train.B; b++ {
		if c := ds.Train.X0[3*b]; c < -1e-12 {
			t.Errorf("initial state %d has cos θ = %g < 0: outside ±π/2", b, c)
		}
	}
	if !slices.Equal(ds.Initial, r) {
		t.Errorf("dataset records ranges %v, want %v", ds.Initial, r)
	}
	if _, err := GenerateDataset(e, r[:1], nil); err == nil {
		t.Error("wrong number of ranges accepted")
	}
}

// TestNoPrinting: the package writes only to the io.Writer it is given
// (STYLE.md: only examples print or exit).
func TestNoPrinting(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"os.Stdout", "os.Stderr", "fmt.Print", "log.Print", "log.Fatal", "os.Exit", "panic("} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %s", f, bad)
			}
		}
	}
}

// TestProgressPlainLines: a Progress writer that is not a terminal (here
// a buffer, as when stderr goes to a file or a pipe) gets plain lines, a
// start line, periodic step lines and an end line, and no control
// sequences (no escape, no carriage return).
func TestProgressPlainLines(t *testing.T) {
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	var buf bytes.Buffer
	cfg := Config{Method: SysID, NTrain: 8, BatchSize: 4, Epochs: 3, Progress: &buf, progressEvery: time.Nanosecond}
	if _, err := Run(context.Background(), ds, cfg); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Logf("progress:\n%s", out)
	if i := strings.IndexAny(out, "\x1b\r"); i >= 0 {
		t.Errorf("control character %q at byte %d of the progress output", out[i], i)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// 3 epochs of 2 steps: the start line, a line after each step but the
	// last (the period is 1 ns), the end line.
	if len(lines) != 1+5+1 {
		t.Fatalf("%d progress lines, want 7", len(lines))
	}
	if !strings.Contains(lines[0], "6 steps") || !strings.Contains(lines[3], "step 3/6") ||
		!strings.Contains(lines[6], "done, 6 steps") || !strings.Contains(lines[6], "epoch 3/3") {
		t.Errorf("unexpected progress lines %q", lines)
	}
	// A stopped run says so.
	buf.Reset()
	ctx, hook := stopIn(2)
	cfg.afterStep = hook
	if _, err := Run(ctx, ds, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if out := buf.String(); !strings.Contains(out, "stopped after 3 of 6 steps") || strings.ContainsAny(out, "\x1b\r") {
		t.Errorf("progress of a stopped run:\n%s", out)
	}
	// Files that are not terminals are not terminals.
	f, err := os.Create(filepath.Join(t.TempDir(), "progress.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&buf) {
		t.Error("a regular file or a buffer is taken for a terminal")
	}
}

// TestFunctionsStayShort: no function of the package is longer than 80
// lines, and none of the training loop's holds a function literal (a
// closure over a long function's locals is several ideas in one: see
// STYLE.md, practice 14). Run was once a 224-line function with closures.
func TestFunctionsStayShort(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > 80 {
				t.Errorf("%s: %s has %d lines, want at most 80", f, fd.Name.Name, n)
			}
			if f != "runner.go" && fd.Name.Name != "Run" {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.FuncLit); ok {
					t.Errorf("%s: %s holds a function literal at %v", f, fd.Name.Name, fset.Position(n.Pos()))
				}
				return true
			})
		}
	}
}

// finishedRun runs dilqr.dx on a small pendulum dataset for 3 epochs in a
// new folder and returns the dataset, the configuration and the contents
// of its checkpoint and log.
func finishedRun(t *testing.T) (*envs.Dataset, Config, []byte, []byte) {
	t.Helper()
	ds := smallDataset(t, "pendulum", 20, 6, 6, 4)
	cfg := Config{Method: DiLQRDx, NTrain: 8, BatchSize: 4, Epochs: 3, Seed: 1, Dir: t.TempDir()}
	if _, err := Run(context.Background(), ds, cfg); err != nil {
		t.Fatal(err)
	}
	ck, err := os.ReadFile(filepath.Join(cfg.Dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := os.ReadFile(filepath.Join(cfg.Dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	return ds, cfg, ck, lg
}

// resumeWith writes ck and lg into a new folder and resumes cfg there.
func resumeWith(t *testing.T, ds *envs.Dataset, cfg Config, ck, lg []byte) (*Result, error) {
	t.Helper()
	cfg.Dir, cfg.Resume = t.TempDir(), true
	if err := os.WriteFile(filepath.Join(cfg.Dir, CheckpointFile), ck, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, LogFile), lg, 0o644); err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), ds, cfg)
}

// TestCheckpointContentChecked: a checkpoint with a valid checksum but
// content Run never writes (edited by hand, or by another program) is
// ErrBadCheckpoint on resume, never used: a best epoch out of range once
// made examples/imitation index past the history.
func TestCheckpointContentChecked(t *testing.T) {
	ds, cfg, ck, lg := finishedRun(t)
	cases := []struct {
		name     string
		edit     func(c *checkpointData)
		contains string
	}{
		{"best epoch past the end", func(c *checkpointData) { c.BestEpoch = 99 }, "best epoch 99"},
		{"negative best epoch", func(c *checkpointData) { c.BestEpoch = -1 }, "best epoch -1"},
		{"epoch without its log rows", func(c *checkpointData) { c.Epoch = 5 }, "log rows"},
		{"early-stopping counter", func(c *checkpointData) { c.Bad = c.Epoch - c.BestEpoch + 1 }, "without improvement"},
		{"best loss not in the log", func(c *checkpointData) { c.BestVal *= 2 }, "best validation loss"},
		{"short parameter", func(c *checkpointData) { c.Params[0] = c.Params[0][:1] }, "parameters"},
		{"extra parameter tensor", func(c *checkpointData) {
			c.Params = append(c.Params, []jf{1})
			c.BestParams = append(c.BestParams, []jf{1})
		}, "parameters"},
		{"long best parameter", func(c *checkpointData) { c.BestParams[0] = append(c.BestParams[0], 1) }, "best parameters"},
		{"missing best parameters", func(c *checkpointData) { c.BestParams = nil }, "best parameter"},
		{"row estimates", func(c *checkpointData) { c.History[1].Params = c.History[1].Params[:2] }, "log row 1"},
		{"names", func(c *checkpointData) { c.Names = []string{"a", "b", "c"} }, "names"},
		{"skipped solves", func(c *checkpointData) { c.Skipped = c.Solves + 1 }, "skipped"},
		{"negative time", func(c *checkpointData) { c.Seconds = -1 }, "run time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := reencode(t, ck, tc.edit)
			cc := cfg
			cc.Epochs = 5
			_, err := resumeWith(t, ds, cc, raw, lg)
			if !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err = %v, want ErrBadCheckpoint mentioning %q", err, tc.contains)
			}
			t.Log(err)
		})
	}
	// Re-encoded unchanged, it resumes.
	raw := reencode(t, ck, func(*checkpointData) {})
	cc := cfg
	cc.Epochs = 4
	if res, err := resumeWith(t, ds, cc, raw, lg); err != nil || res.StartEpoch != 3 || res.Final().Epoch != 4 {
		t.Fatalf("the unchanged checkpoint: err %v", err)
	}
}

// TestResumeFewerEpochs: resuming a checkpoint of 3 epochs with Epochs 2
// is ErrPastEpochs saying both numbers, not a silent 3-epoch result
// labelled 2; with Epochs 3 it returns the finished run.
func TestResumeFewerEpochs(t *testing.T) {
	ds, cfg, ck, lg := finishedRun(t)
	cc := cfg
	cc.Epochs = 2
	_, err := resumeWith(t, ds, cc, ck, lg)
	if !errors.Is(err, ErrPastEpochs) || !strings.Contains(err.Error(), "completed 3 epochs") ||
		!strings.Contains(err.Error(), "asks for 2") {
		t.Fatalf("err = %v, want ErrPastEpochs naming 3 and 2 epochs", err)
	}
	t.Log(err)
	res, err := resumeWith(t, ds, cfg, ck, lg)
	if err != nil || res.StartEpoch != 3 || len(res.History) != 4 {
		t.Fatalf("resuming with the same epochs: err %v", err)
	}
}

// TestStaleTempsRemoved: temporary files left by interrupted atomic writes
// of the log and the checkpoint are removed when a run starts (fresh or
// resumed); other files in the folder are left alone.
func TestStaleTempsRemoved(t *testing.T) {
	ds, cfg, _, _ := finishedRun(t)
	for _, resume := range []bool{true, false} {
		stale := []string{"." + CheckpointFile + ".tmp-123", "." + LogFile + ".tmp-4567"}
		keep := []string{".dataset.npz.tmp-89", "notes.tmp-1"}
		for _, f := range append(slices.Clone(stale), keep...) {
			if err := os.WriteFile(filepath.Join(cfg.Dir, f), []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cc := cfg
		cc.Resume = resume
		if _, err := Run(context.Background(), ds, cc); err != nil {
			t.Fatal(err)
		}
		for _, f := range stale {
			if _, err := os.Stat(filepath.Join(cfg.Dir, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("resume %v: stale %s is still there (%v)", resume, f, err)
			}
		}
		for _, f := range keep {
			if _, err := os.Stat(filepath.Join(cfg.Dir, f)); err != nil {
				t.Errorf("resume %v: %s was removed: %v", resume, f, err)
			}
		}
	}
}

// TestTruncatedLog: a log cut anywhere inside its last row is ErrBadLog
// with the hint to remove it (Run then rebuilds it from the checkpoint),
// even where the cut row still parses (a number cut after a digit); a log
// cut at the end of a row is a shorter log and the run resumes.
func TestTruncatedLog(t *testing.T) {
	ds, cfg, ck, lg := finishedRun(t)
	last := bytes.LastIndexByte(lg[:len(lg)-1], '\n') + 1 // start of the last row
	cc := cfg
	cc.Epochs = 4
	for cut := last + 1; cut < len(lg); cut++ {
		_, err := resumeWith(t, ds, cc, ck, lg[:cut])
		if !errors.Is(err, ErrBadLog) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("log cut to %q: err = %v, want ErrBadLog with the hint to remove it", lg[last:cut], err)
		}
	}
	if _, err := resumeWith(t, ds, cc, ck, lg[:last]); err != nil {
		t.Errorf("log without its last row: %v", err)
	}
}

// reencode decodes the checkpoint ck, applies edit and encodes it again.
func reencode(t *testing.T, ck []byte, edit func(*checkpointData)) []byte {
	t.Helper()
	c, err := decodeCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	raw, err := encodeCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
