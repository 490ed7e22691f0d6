package main

import (
	"context"
	"encoding/csv"
	"image/gif"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/train"
)

// tinyDataset returns a small pendulum dataset from the reference ranges.
func tinyDataset(t *testing.T) *envs.Dataset {
	t.Helper()
	env, err := envs.New("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	r, err := train.ReferenceRanges("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := train.GenerateDataset(env, r, &envs.DatasetOptions{NTrain: 8, NVal: 4, NTest: 6, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestNNPolicyMatchesTraining: the nn policy rebuilt here from a train
// checkpoint predicts the controls train evaluated: its test imitation
// loss at the best epoch equals the one logged, and the one-step policy
// gives the first control of the whole sequence.
func TestNNPolicyMatchesTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a network")
	}
	ds := tinyDataset(t)
	dir := t.TempDir()
	if _, err := train.Run(context.Background(), ds, train.Config{Method: train.NN, Epochs: 2, Seed: 4, Hidden: 8, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	c, err := train.ReadCheckpoint(filepath.Join(dir, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	te := ds.Test
	full, err := newNNPolicy(ds.N, ds.M, ds.T, c.Hidden, te.B, c.BestParams)
	if err != nil {
		t.Fatal(err)
	}
	u, err := full.run(te.X0)
	if err != nil {
		t.Fatal(err)
	}
	var mse float64
	for i, v := range u {
		mse += (v - te.U[i]) * (v - te.U[i])
	}
	mse /= float64(len(u))
	if want := c.History[c.BestEpoch].Test; math.Abs(mse-want) > 1e-12*want {
		t.Errorf("test loss %.17g, train logged %.17g", mse, want)
	}
	env, err := envs.New("pendulum")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy(c, env, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, ds.M)
	for b := 0; b < te.B; b++ {
		if _, err := p.Control(got, te.X0[b*ds.N:(b+1)*ds.N], 0); err != nil {
			t.Fatal(err)
		}
		if want := u[b*ds.T*ds.M : b*ds.T*ds.M+ds.M]; !slices.Equal(got, want) {
			t.Errorf("example %d: policy gives %v, the sequence starts with %v", b, got, want)
		}
	}
	if _, err := newNNPolicy(ds.N, ds.M, 1, c.Hidden+1, 1, c.BestParams); err == nil {
		t.Error("a checkpoint of another width loaded")
	}
}

// TestGoalToQuad: the true cost's goal form (w, goal) = (√(q/2), −p/q),
// as train reports it, maps back to the true (q, p).
func TestGoalToQuad(t *testing.T) {
	env, err := envs.New("cartpole")
	if err != nil {
		t.Fatal(err)
	}
	phi := env.CostParams()
	k := len(phi) / 2
	goal := make([]float64, 2*k)
	for j := 0; j < k; j++ {
		goal[j], goal[k+j] = math.Sqrt(phi[j]/2), -phi[k+j]/phi[j]
	}
	for j, v := range goalToQuad(goal) {
		if math.Abs(v-phi[j]) > 1e-15 {
			t.Errorf("entry %d: %g, want %g", j, v, phi[j])
		}
	}
}

// TestRun trains two methods briefly, evaluates them in closed loop and
// checks the outputs: the CSV's columns and rows, the expert's success
// and cost ratio, the GIF and the plot.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains and evaluates")
	}
	dir := t.TempDir()
	o := options{out: filepath.Join(dir, "runs"), envs: []string{"pendulum"},
		methods: []train.Method{train.SysID, train.NN}, ntrain: []int{8}, epochs: 2, seed: 1,
		episodes: 3, steps: 60, hor: 30, evalSeed: 2,
		csv: filepath.Join(dir, "r.csv"), md: filepath.Join(dir, "r.md"), plot: filepath.Join(dir, "s.png"),
		gifDir: filepath.Join(dir, "gif")}
	var out strings.Builder
	if err := run(context.Background(), o, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(o.csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], []string{"env", "method", "split", "episodes", "success_rate", "cost_ratio", "solve_ms_p50", "solve_ms_p99"}) {
		t.Errorf("header %v", recs[0])
	}
	var got []string
	for _, r := range recs[1:] {
		got = append(got, r[1]+" "+r[2])
		if r[1] == "expert" && (r[5] != "1" || r[3] != "3") {
			t.Errorf("expert row %v: want cost ratio 1 and 3 episodes", r)
		}
	}
	want := []string{"expert in", "zero in", "nn/n8 in", "sysid/n8 in", "expert out", "zero out", "nn/n8 out", "sysid/n8 out"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	g, err := os.Open(filepath.Join(o.gifDir, "pendulum.gif"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	anim, err := gif.DecodeAll(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(anim.Image) != o.steps+1 {
		t.Errorf("GIF has %d frames, want %d", len(anim.Image), o.steps+1)
	}
	if st, err := os.Stat(o.plot); err != nil || st.Size() == 0 {
		t.Errorf("plot: %v", err)
	}
	// Evaluating the saved runs gives the same table.
	o2 := o
	o2.models, o2.csv, o2.md, o2.plot, o2.gifDir = o.out, "", "", "", ""
	var again strings.Builder
	if err := run(context.Background(), o2, &again, io.Discard); err != nil {
		t.Fatal(err)
	}
	table := func(s string) string { return s[:strings.Index(s, "\ntraining")] }
	strip := func(s string) string { // the times differ from run to run
		var b strings.Builder
		for _, l := range strings.Split(table(s), "\n") {
			if f := strings.Fields(l); len(f) >= 6 {
				l = strings.Join(f[:6], " ")
			}
			b.WriteString(l + "\n")
		}
		return b.String()
	}
	if strip(out.String()) != strip(again.String()) {
		t.Errorf("-models gave another table:\n%s\nvs\n%s", out.String(), again.String())
	}
}

// TestGIFPicks: the episodes reaching upright latest, never-reached ones
// first, returned in episode order.
func TestGIFPicks(t *testing.T) {
	ev := &envs.Evaluation{}
	for _, r := range []int{3, -1, 40, 0, 40, 12} {
		ev.Episodes = append(ev.Episodes, envs.Episode{Reached: r})
	}
	if got := gifPicks(ev, 3); !slices.Equal(got, []int{1, 2, 4}) {
		t.Errorf("picks %v, want [1 2 4]", got)
	}
	if got := gifPicks(ev, 10); len(got) != 6 {
		t.Errorf("picks %v, want all six", got)
	}
}
