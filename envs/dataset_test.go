package envs

import (
	"archive/zip"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/op/ilqr"
)

// smallDataset returns a small generated dataset for the named env.
func smallDataset(t testing.TB, name string, opts *DatasetOptions) (*Env, *Dataset) {
	t.Helper()
	e := mustEnv(t, name)
	if opts == nil {
		opts = &DatasetOptions{NTrain: 4, NVal: 2, NTest: 3, Seed: 5}
	}
	ds, err := Generate(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, ds
}

func encodeBytes(t testing.TB, ds *Dataset) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := ds.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reports %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func readBytes(b []byte, want *Env) (*Dataset, error) {
	return Read(bytes.NewReader(b), int64(len(b)), want)
}

func TestGenerateSizesAndDefaults(t *testing.T) {
	e, ds := smallDataset(t, "pendulum", nil)
	if ds.Env != "pendulum" || ds.T != e.Horizon() || ds.N != 3 || ds.M != 1 {
		t.Errorf("dataset header %s T=%d N=%d M=%d", ds.Env, ds.T, ds.N, ds.M)
	}
	for _, c := range []struct {
		s    *Demos
		want int
	}{{&ds.Train, 4}, {&ds.Val, 2}, {&ds.Test, 3}} {
		if c.s.B != c.want || len(c.s.X0) != c.want*3 || len(c.s.X) != c.want*ds.T*3 || len(c.s.U) != c.want*ds.T || len(c.s.Cost) != c.want {
			t.Errorf("split of size %d: B=%d and lengths %d %d %d %d", c.want, c.s.B, len(c.s.X0), len(c.s.X), len(c.s.U), len(c.s.Cost))
		}
	}
	if !slices.Equal(ds.Theta, []float64{10, 1, 1}) || ds.Expert.MaxIter != 500 {
		t.Errorf("theta %v, expert %+v", ds.Theta, ds.Expert)
	}
	// The splits are drawn from different streams.
	if slices.Equal(ds.Train.X0[:3], ds.Val.X0[:3]) {
		t.Errorf("train and validation start from the same state")
	}
	// A longer horizon through the options.
	_, long := smallDataset(t, "pendulum", &DatasetOptions{NTrain: 1, NVal: 1, NTest: 1, T: 7})
	if long.T != 7 || len(long.Train.U) != 7 {
		t.Errorf("T=7: dataset T=%d, %d controls", long.T, len(long.Train.U))
	}
	for _, o := range []DatasetOptions{{NTrain: -1}, {NVal: -2}, {T: -1}, {NTrain: 1, NVal: 1, NTest: 1, Expert: &ilqr.Settings{MaxIter: -1}}} {
		if _, err := Generate(e, &o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if _, err := Generate(nil, nil); err == nil {
		t.Errorf("nil env: no error")
	}
}

// TestGenerateDeterministic: the same seed gives the same bytes, for any
// number of solver workers; another seed gives other data; a split does not
// depend on the sizes of the others.
func TestGenerateDeterministic(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			_, a := smallDataset(t, name, nil)
			_, b := smallDataset(t, name, &DatasetOptions{NTrain: 4, NVal: 2, NTest: 3, Seed: 5, Expert: &ilqr.Settings{
				MaxIter: 500, TolGrad: 1e-9, TolCost: 1e-14, TolGradLoose: 1e-8, Workers: 1}})
			ba, bb := encodeBytes(t, a), encodeBytes(t, b)
			if !bytes.Equal(ba, bb) {
				t.Errorf("two generations with seed 5 differ")
			}
			_, c := smallDataset(t, name, &DatasetOptions{NTrain: 4, NVal: 2, NTest: 3, Seed: 6})
			if bytes.Equal(ba, encodeBytes(t, c)) {
				t.Errorf("seeds 5 and 6 give the same file")
			}
			_, d := smallDataset(t, name, &DatasetOptions{NTrain: 4, NVal: 5, NTest: 1, Seed: 5})
			if !slices.Equal(a.Train.U, d.Train.U) || !slices.Equal(a.Val.U, d.Val.U[:len(a.Val.U)]) {
				t.Errorf("the training split depends on the other splits' sizes")
			}
		})
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			e, ds := smallDataset(t, name, nil)
			dir := t.TempDir()
			path := filepath.Join(dir, name+".npz")
			if err := ds.Save(path); err != nil {
				t.Fatal(err)
			}
			// Overwriting goes through a rename as well.
			if err := ds.Save(path); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries after Save, want only the file", len(entries))
			}
			for _, want := range []*Env{e, nil} {
				got, err := Load(path, want)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, ds) {
					t.Errorf("loaded dataset differs from the saved one")
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, encodeBytes(t, ds)) {
				t.Errorf("Save and WriteTo give different bytes")
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.npz"), nil); err == nil {
		t.Errorf("missing file: no error")
	}
	if err := (&Dataset{}).Save(filepath.Join(t.TempDir(), "x.npz")); err == nil {
		t.Errorf("empty dataset: saved without error")
	}
}

// rewrite re-encodes ds after letting edit change its metadata and arrays.
func rewrite(t *testing.T, ds *Dataset, edit func(*fileMeta, []fileArray) []fileArray) []byte {
	t.Helper()
	meta := ds.meta()
	arrays := edit(&meta, ds.arrays())
	var buf bytes.Buffer
	if err := encode(&buf, meta, arrays); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadErrors checks that each kind of bad file is refused with an
// error that wraps ErrBadFile and names the problem.
func TestReadErrors(t *testing.T) {
	_, ds := smallDataset(t, "pendulum", nil)
	good := encodeBytes(t, ds)
	cartpole := mustEnv(t, "cartpole")
	pendulum := mustEnv(t, "pendulum")
	otherTheta := *pendulum
	otherTheta.theta = []float64{9.8, 1, 1}
	edited := func(edit func(*fileMeta, []fileArray) []fileArray) []byte { return rewrite(t, ds, edit) }
	cases := []struct {
		name string
		data []byte
		want *Env
		msg  string
	}{
		{"empty", nil, nil, "not a valid npz"},
		{"not zip", []byte("hello, this is not a zip archive"), nil, "not a valid npz"},
		{"truncated half", good[:len(good)/2], nil, "not a valid npz"},
		{"truncated tail", good[:len(good)-1], nil, "not a valid npz"},
		{"wrong env", good, cartpole, `file is for env "pendulum", want "cartpole"`},
		{"other parameters", good, &otherTheta, "dynamics parameters"},
		{"wrong version", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Version = 2; return a }), nil,
			"unsupported format version 2"},
		{"wrong format", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Format = "other"; return a }), nil,
			`format "other"`},
		{"unknown env", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Env = "acrobot"; return a }), nil,
			`unknown env "acrobot"`},
		{"env with other sizes", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Env = "cartpole"; return a }), nil,
			"env cartpole has N=5 M=1"},
		{"wrong shape", edited(func(m *fileMeta, a []fileArray) []fileArray {
			a[1].shape = []int{a[1].shape[0] * 2, a[1].shape[1] / 2, a[1].shape[2]}
			return a
		}), nil, `array "train_X" has shape [8 10 3], want [4 20 3]`},
		{"wrong size in metadata", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Sizes.Test = 4; return a }), nil,
			`array "test_x0" has shape [3 3], want [4 3]`},
		{"missing array", edited(func(m *fileMeta, a []fileArray) []fileArray { return a[:len(a)-1] }), nil,
			`missing array "test_cost"`},
		{"NaN", edited(func(m *fileMeta, a []fileArray) []fileArray {
			a[2].data = slices.Clone(a[2].data)
			a[2].data[3] = math.NaN()
			return a
		}), nil, "train split contains NaN or Inf"},
		{"control outside bounds", edited(func(m *fileMeta, a []fileArray) []fileArray {
			a[2].data = slices.Clone(a[2].data)
			a[2].data[0] = 2.5
			return a
		}), nil, "outside [-2, 2]"},
		{"not a rollout", edited(func(m *fileMeta, a []fileArray) []fileArray {
			a[1].data = slices.Clone(a[1].data)
			a[1].data[5*3+2] += 1e-6
			return a
		}), nil, "the dynamics give"},
		{"parameters giving NaN", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Theta = []float64{10, 0, 1}; return a }), nil,
			"the dynamics give NaN"},
		{"bad bounds", edited(func(m *fileMeta, a []fileArray) []fileArray { m.Lower = []float64{3}; return a }), nil,
			"lower 3 > upper 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readBytes(c.data, c.want)
			if err == nil {
				t.Fatalf("no error (dataset %v)", got != nil)
			}
			if !errors.Is(err, ErrBadFile) {
				t.Errorf("error %q does not wrap ErrBadFile", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not contain %q", err, c.msg)
			}
		})
	}
}

// TestReadCorruptedData flips one byte in the middle of every entry's
// compressed data: each flip is detected (the deflate stream breaks or the
// CRC-32 no longer matches).
func TestReadCorruptedData(t *testing.T) {
	_, ds := smallDataset(t, "pendulum", nil)
	good := encodeBytes(t, ds)
	zr, err := zip.NewReader(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		bad := slices.Clone(good)
		bad[off+int64(f.CompressedSize64)/2] ^= 0x5a
		_, err = readBytes(bad, nil)
		if err == nil {
			t.Errorf("flipped byte in %s: no error", f.Name)
			continue
		}
		name := strings.TrimSuffix(f.Name, ".npy")
		if !strings.Contains(err.Error(), "corrupted") || !strings.Contains(err.Error(), name) {
			t.Errorf("flipped byte in %s: error %q should say the entry is corrupted", f.Name, err)
		}
	}
}

// TestReadFlipEveryByte flips each byte of a small file in turn: Read never
// panics, and whatever it accepts is exactly the original dataset (flips
// in fields such as zip timestamps are harmless).
func TestReadFlipEveryByte(t *testing.T) {
	_, ds := smallDataset(t, "pendulum", &DatasetOptions{NTrain: 1, NVal: 1, NTest: 1, T: 3})
	good := encodeBytes(t, ds)
	bad := slices.Clone(good)
	accepted := 0
	for i := range bad {
		bad[i] ^= 0xff
		got, err := readBytes(bad, nil)
		if err == nil {
			accepted++
			if !reflect.DeepEqual(got, ds) {
				t.Fatalf("flip at byte %d of %d: accepted with different content", i, len(bad))
			}
		}
		bad[i] ^= 0xff
	}
	t.Logf("%d of %d single-byte flips were harmless", accepted, len(bad))
}

// FuzzRead: Read returns a dataset or an error on any input, never panics,
// and what it accepts can be written and read back unchanged.
func FuzzRead(f *testing.F) {
	_, ds := smallDataset(f, "pendulum", &DatasetOptions{NTrain: 1, NVal: 1, NTest: 1, T: 2})
	good := encodeBytes(f, ds)
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readBytes(b, nil)
		if err != nil {
			return
		}
		again, err := readBytes(encodeBytes(t, got), nil)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("an accepted dataset does not round-trip: %v", err)
		}
	})
}
