package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/train"
)

// tinyGrid returns a grid of 8 short runs (pendulum; sysid and dilqr.dx;
// n_train 4 and 6; 2 seeds; 2 epochs; splits of 6, 4 and 4
// demonstrations) writing to out.
func tinyGrid(out string) *grid {
	return &grid{envs: []string{"pendulum"}, methods: []train.Method{train.SysID, train.DiLQRDx},
		ntrain: []int{4, 6}, seeds: 2, epochs: 2, hidden: 8, ranges: "reference", data: [3]int{6, 4, 4},
		out: out, args: []string{"-epochs=2"}}
}

// withoutWallClock drops the lines of a results table that report
// wall-clock time (the training time of the runs and of the call).
func withoutWallClock(t *testing.T, md string) (string, int) {
	t.Helper()
	var keep []string
	dropped := 0
	for _, line := range strings.Split(md, "\n") {
		if strings.Contains(strings.ToLower(line), "time of the runs") {
			dropped++
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n"), dropped
}

// withoutSeconds drops the seconds column (wall-clock) of the CSV.
func withoutSeconds(csv string) string {
	lines := strings.Split(csv, "\n")
	col := slices.Index(strings.Split(lines[0], ","), "seconds")
	var b strings.Builder
	for _, line := range lines {
		if f := strings.Split(line, ","); col >= 0 && col < len(f) {
			line = strings.Join(slices.Delete(f, col, col+1), ",")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestShardsMergeEqualUnsharded: the grid run as 3 shards (3, 3 and 2
// runs) and merged gives the same results/imitation.md as one unsharded
// run, byte for byte apart from the lines that report wall-clock time,
// and the same CSV apart from its seconds column, and the same plots.
func TestShardsMergeEqualUnsharded(t *testing.T) {
	ctx := context.Background()
	whole := tinyGrid(t.TempDir())
	if err := whole.run(ctx, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for i := range 3 {
		if err := tinyGrid(out).runShard(ctx, shard{i, 3}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	// Merging needs every shard.
	moved := shardPath(out, shard{1, 3}) + ".away"
	if err := os.Rename(shardPath(out, shard{1, 3}), moved); err != nil {
		t.Fatal(err)
	}
	if err := merge(out, "", io.Discard); err == nil || !strings.Contains(err.Error(), "missing [1]") {
		t.Errorf("merging without shard 1: err %v, want one naming it", err)
	}
	if err := os.Rename(moved, shardPath(out, shard{1, 3})); err != nil {
		t.Fatal(err)
	}
	if err := merge(out, "", io.Discard); err != nil {
		t.Fatal(err)
	}

	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want, nw := withoutWallClock(t, read(whole.out, "imitation.md"))
	got, ng := withoutWallClock(t, read(out, "imitation.md"))
	// The header line and one line per env report times; the rest are
	// the tables, which must be there.
	if nw != 2 || ng != 2 {
		t.Errorf("dropped %d and %d wall-clock lines, want 2 each", nw, ng)
	}
	if !strings.Contains(want, "| dilqr.dx |") || !strings.Contains(want, "n_train=6") || strings.Count(want, "±") < 8 ||
		!strings.Contains(want, "### Identifiable combinations (3g/(2l), 3/(ml²))") {
		t.Fatalf("the unsharded table lacks its rows:\n%s", want)
	}
	if got != want {
		t.Errorf("merged imitation.md differs from the unsharded one:\n--- merged\n%s\n--- unsharded\n%s", got, want)
	}
	if g, w := withoutSeconds(read(out, "imitation.csv")), withoutSeconds(read(whole.out, "imitation.csv")); g != w {
		t.Errorf("merged CSV differs:\n%s\nunsharded:\n%s", g, w)
	}
	for _, png := range []string{"imitation-pendulum-loss.png"} {
		if !bytes.Equal([]byte(read(out, png)), []byte(read(whole.out, png))) {
			t.Errorf("%s differs", png)
		}
	}
}

// TestMergeRefusesMixedShards: shard files of two different grids, or of
// two shard counts, are not merged.
func TestMergeRefusesMixedShards(t *testing.T) {
	out := t.TempDir()
	g := tinyGrid(out)
	if err := writeShard(shardPath(out, shard{0, 2}), g, shard{0, 2}, nil, 0); err != nil {
		t.Fatal(err)
	}
	other := tinyGrid(out)
	other.epochs = 3
	if err := writeShard(shardPath(out, shard{1, 2}), other, shard{1, 2}, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := merge(out, "", io.Discard); err == nil || !strings.Contains(err.Error(), "another grid") {
		t.Errorf("two grids: err %v", err)
	}
	if err := os.Remove(shardPath(out, shard{1, 2})); err != nil {
		t.Fatal(err)
	}
	if err := writeShard(shardPath(out, shard{1, 3}), g, shard{1, 3}, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := merge(out, "", io.Discard); err == nil || !strings.Contains(err.Error(), "shards of 2 and of 3") {
		t.Errorf("two shard counts: err %v", err)
	}
	// A complete set whose shards lack their runs.
	out2 := t.TempDir()
	for i := range 2 {
		if err := writeShard(shardPath(out2, shard{i, 2}), tinyGrid(out2), shard{i, 2}, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := merge(out2, "", io.Discard); err == nil || !strings.Contains(err.Error(), "lacks run 0") {
		t.Errorf("empty shards: err %v", err)
	}
}

// TestResolveShard: -shard I/N, or JOB_COMPLETION_INDEX (set by a
// Kubernetes Indexed Job) with -shards or IMITATION_GRID_SHARDS; nothing
// means the whole grid; inconsistent or partial settings are errors.
func TestResolveShard(t *testing.T) {
	cases := []struct {
		name   string
		flag   string
		shards int
		env    map[string]string
		want   shard
		bad    bool
	}{
		{"whole grid", "", 0, nil, shard{}, false},
		{"flag", "2/3", 0, nil, shard{2, 3}, false},
		{"flag and count", "0/3", 3, nil, shard{0, 3}, false},
		{"flag wins over the env", "1/2", 0, map[string]string{jobIndexEnv: "0", shardsEnv: "5"}, shard{1, 2}, false},
		{"index and -shards", "", 4, map[string]string{jobIndexEnv: "3"}, shard{3, 4}, false},
		{"index and env count", "", 0, map[string]string{jobIndexEnv: "0", shardsEnv: "6"}, shard{0, 6}, false},
		{"-shards over env count", "", 2, map[string]string{jobIndexEnv: "1", shardsEnv: "6"}, shard{1, 2}, false},
		{"index past count", "", 3, map[string]string{jobIndexEnv: "3"}, shard{}, true},
		{"index without count", "", 0, map[string]string{jobIndexEnv: "0"}, shard{}, true},
		{"count without index", "", 3, nil, shard{}, true},
		{"bad flag", "3/3", 0, nil, shard{}, true},
		{"flag without slash", "1", 0, nil, shard{}, true},
		{"flag and count disagree", "0/3", 2, nil, shard{}, true},
		{"bad env count", "", 0, map[string]string{jobIndexEnv: "0", shardsEnv: "x"}, shard{}, true},
		{"negative -shards", "", -1, nil, shard{}, true},
	}
	for _, c := range cases {
		got, err := resolveShard(c.flag, c.shards, func(k string) string { return c.env[k] })
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%s: got %+v, err %v; want %+v, error %v", c.name, got, err, c.want, c.bad)
		}
	}
	// Round robin: every run in exactly one shard.
	for k := range 10 {
		n := 0
		for i := range 3 {
			if (shard{i, 3}).has(k) {
				n++
			}
		}
		if n != 1 || !(shard{}).has(k) {
			t.Errorf("run %d is in %d of 3 shards", k, n)
		}
	}
}

// TestClearShard: a shard's old file and the temporary files of its killed
// writes are removed before it runs; other shards' files are not.
func TestClearShard(t *testing.T) {
	out := t.TempDir()
	path := shardPath(out, shard{1, 3})
	other := shardPath(out, shard{2, 3})
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-42")
	otherTmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(other)+".tmp-43")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, other, tmp, otherTmp} {
		if err := os.WriteFile(f, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := clearShard(path); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{path: false, tmp: false, other: true, otherTmp: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
	if err := clearShard(path); err != nil {
		t.Errorf("clearing an absent shard: %v", err)
	}
}
