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
					if st != ilqr.Converged {
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

// TestLogRoundTrip: a log reads back bit for bit, NaN model losses
// included; malformed logs are ErrBadLog naming the line.
func TestLogRoundTrip(t *testing.T) {
	rows := []Row{{0, 1.5, 1e-300, math.Inf(1), math.NaN(), nil}, {1, 0.1 + 0.2, 3, 5e-324, 0.7, nil}}
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
