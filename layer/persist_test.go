package layer

// Save and Load: round trips and every kind of bad file.

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	G "gorgonia.org/gorgonia"
)

// savable is a layer with the Save and Load methods.
type savable interface {
	Layer
	Save(path string) error
	Load(path string) error
}

// kindCase builds one layer in g from seed and an output node that depends
// on all its parameters.
type kindCase struct {
	name  string
	build func(t testing.TB, g *G.ExprGraph, seed uint64) (savable, *G.Node)
}

func kindCases() []kindCase {
	return []kindCase{
		{"mlp", func(t testing.TB, g *G.ExprGraph, seed uint64) (savable, *G.Node) {
			l, err := NewMLP(g, MLPConfig{Sizes: []int{4, 5, 3}, Activation: ReLU, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			return l, must(t)(l.Forward(input(t, g, "in", normals(5, 8), 2, 4)))
		}},
		{"lstm", func(t testing.TB, g *G.ExprGraph, seed uint64) (savable, *G.Node) {
			l, err := NewLSTM(g, LSTMConfig{Input: 3, Hidden: 4, Layers: 2, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			hs, err := l.ForwardSeq(input(t, g, "in", normals(5, 2*3*3), 2, 3, 3))
			if err != nil {
				t.Fatal(err)
			}
			return l, hs[2]
		}},
		{"conv", func(t testing.TB, g *G.ExprGraph, seed uint64) (savable, *G.Node) {
			l, err := NewConvEncoder(g, ConvConfig{Channels: 2, Height: 8, Width: 8, Activation: ReLU,
				Convs: []ConvSpec{{Filters: 3, Kernel: 3, Pool: 2}}, Head: []int{5, 2}, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			return l, must(t)(l.Forward(input(t, g, "in", normals(5, 2*2*64), 2, 2, 8, 8)))
		}},
		{"ilqr", func(t testing.TB, g *G.ExprGraph, seed uint64) (savable, *G.Node) {
			// seed picks the initial guesses, so two seeds give two layers.
			s := float64(seed)
			l := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2,
				Theta:    ParamSpec{Source: Learned, Transform: Softplus, Init: []float64{9 + s, 1, 1}},
				Cost:     ParamSpec{Source: Learned, Transform: Sigmoid, Init: []float64{0.7, 0.7, 0.2, 0.1 * s, 1, 0, 0, 0}},
				CostForm: GoalWeights,
			})
			_, u := plan(t, l, input(t, g, "x0", pendulumStarts(5, 2), 2, 3))
			return l, u
		}},
	}
}

// forward runs a graph once and returns the value of out.
func forward(t testing.TB, g *G.ExprGraph, out *G.Node) []float64 {
	t.Helper()
	var v G.Value
	G.Read(out, &v)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return floats(t, v)
}

func paramValues(t testing.TB, l Layer) [][]float64 {
	t.Helper()
	var out [][]float64
	for _, p := range l.Params() {
		v, err := nodeData(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(v))
	}
	return out
}

func equalValues(a, b [][]float64) bool {
	return slices.EqualFunc(a, b, func(x, y []float64) bool { return slices.Equal(x, y) })
}

// TestSaveLoadRoundTrip: for every layer kind, a layer with other weights
// (another seed) that loads a saved file has bit-identical parameters and
// gives bit-identical outputs; the file's size is what the format says; no
// temporary file is left behind, and saving again replaces the file.
func TestSaveLoadRoundTrip(t *testing.T) {
	for _, kc := range kindCases() {
		t.Run(kc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, kc.name+".params")
			ga := G.NewGraph()
			a, outA := kc.build(t, ga, 1)
			wantOut := forward(t, ga, outA)
			if err := a.Save(path); err != nil {
				t.Fatal(err)
			}
			gb := G.NewGraph()
			b, outB := kc.build(t, gb, 2)
			if equalValues(paramValues(t, a), paramValues(t, b)) {
				t.Fatal("seeds 1 and 2 gave the same parameters")
			}
			if err := b.Load(path); err != nil {
				t.Fatal(err)
			}
			if !equalValues(paramValues(t, a), paramValues(t, b)) {
				t.Error("loaded parameters differ from the saved ones")
			}
			if got := forward(t, gb, outB); !slices.Equal(got, wantOut) {
				t.Errorf("outputs after Load %v, saved layer's %v", got, wantOut)
			}
			// Size: 16 + header + 8 per value + 4.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			hl := int(binary.LittleEndian.Uint32(raw[12:16]))
			if want := 16 + hl + 8*countValues(a.Learnables()) + 4; len(raw) != want {
				t.Errorf("file has %d bytes, format says %d", len(raw), want)
			}
			if err := b.Save(path); err != nil { // over the existing file
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries after two saves, want 1", len(entries))
			}
		})
	}
}

// TestSaveLoadSeveral saves an MLP and an ILQR layer in one file and
// loads them into another pair; loading the pair's file into one layer, or
// in the other order, is a mismatch.
func TestSaveLoadSeveral(t *testing.T) {
	cases := kindCases()
	path := filepath.Join(t.TempDir(), "pair.params")
	g := G.NewGraph()
	mlp, _ := cases[0].build(t, g, 1)
	pl, _ := cases[3].build(t, g, 1)
	if err := SaveLayers(path, mlp, pl); err != nil {
		t.Fatal(err)
	}
	g2 := G.NewGraph()
	mlp2, _ := cases[0].build(t, g2, 2)
	pl2, _ := cases[3].build(t, g2, 2)
	if err := LoadLayers(path, mlp2, pl2); err != nil {
		t.Fatal(err)
	}
	if !equalValues(paramValues(t, mlp), paramValues(t, mlp2)) || !equalValues(paramValues(t, pl), paramValues(t, pl2)) {
		t.Error("loaded parameters differ")
	}
	for _, ls := range [][]Layer{{mlp2}, {pl2, mlp2}} {
		err := LoadLayers(path, ls...)
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("loading into %d layers: %v, want ErrMismatch", len(ls), err)
		}
	}
}

// TestLoadBadFiles: truncated, corrupted, foreign, other-version and
// mismatched files give errors that say so, and leave the layer unchanged.
func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mlp.params")
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{4, 5, 3}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := mlp.Save(good); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint32(raw[12:16]))
	header := string(raw[16 : 16+hl])
	other := func(name string, l savable) string {
		p := filepath.Join(dir, name)
		if err := l.Save(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	g2 := G.NewGraph()
	wide, _ := NewMLP(g2, MLPConfig{Sizes: []int{4, 8, 3}, Seed: 1, Name: "wide"})
	relu, _ := NewMLP(g2, MLPConfig{Sizes: []int{4, 5, 3}, Activation: ReLU, Seed: 1, Name: "relu"})
	lstm, _ := NewLSTM(g2, LSTMConfig{Input: 4, Hidden: 3, Seed: 1})
	deep, _ := NewMLP(g2, MLPConfig{Sizes: []int{4, 5, 5, 3}, Seed: 1, Name: "deep"})

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	patched := func(off int, b ...byte) []byte {
		c := slices.Clone(raw)
		copy(c[off:], b)
		return c
	}
	flip := func(off int) []byte {
		c := slices.Clone(raw)
		c[off] ^= 0x10
		return c
	}
	renamed := slices.Clone(raw) // a valid header naming W0 "X0"
	i := strings.Index(header, `"W0"`)
	renamed[16+i+1] = 'X'

	for _, tc := range []struct {
		name string
		path string
		is   error
		says string
	}{
		{"missing file", filepath.Join(dir, "none"), fs.ErrNotExist, "no such file"},
		{"empty", write("empty", nil), ErrFormat, "truncated"},
		{"truncated in magic", write("t5", raw[:5]), ErrFormat, "truncated"},
		{"truncated in version", write("t10", raw[:10]), ErrFormat, "truncated"},
		{"truncated in header", write("th", raw[:16+hl/2]), ErrFormat, "truncated"},
		{"truncated in data", write("td", raw[:16+hl+40]), ErrFormat, "truncated"},
		{"checksum cut", write("tc", raw[:len(raw)-1]), ErrFormat, "truncated"},
		{"trailing bytes", write("long", append(slices.Clone(raw), 0)), ErrFormat, "trailing"},
		{"foreign file", write("foreign", []byte("PK\x03\x04 this is a zip file, not parameters")), ErrFormat, "magic"},
		{"wrong version", write("v2", patched(8, 2, 0, 0, 0)), ErrVersion, "version 2"},
		{"huge header length", write("hl", patched(12, 0xff, 0xff, 0xff, 0x7f)), ErrFormat, "header length"},
		{"corrupted data", write("cd", flip(len(raw)-12)), ErrFormat, "checksum"},
		{"corrupted checksum", write("cc", flip(len(raw)-1)), ErrFormat, "checksum"},
		{"corrupted header name", write("ch", renamed), ErrFormat, "checksum"},
		{"corrupted header syntax", write("cj", patched(16, '[')), ErrFormat, "header"},
		{"wrong shape", other("wide", wide), ErrMismatch, "shape [4 8] in the file, [4 5] in the layer"},
		{"wrong kind", other("lstm", lstm), ErrMismatch, `"lstm" layer`},
		{"wrong architecture", other("relu", relu), ErrMismatch, "act=relu"},
		{"wrong parameter count", other("deep", deep), ErrMismatch, "6 parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := paramValues(t, mlp)
			checkErr(t, mlp.Load(tc.path), tc.is, tc.says)
			if !equalValues(before, paramValues(t, mlp)) {
				t.Error("a failed Load changed the layer")
			}
		})
	}
}

// TestSaveRefusesNonFinite: a parameter holding NaN is not saved, and the
// file already at the path is left as it was.
func TestSaveRefusesNonFinite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mlp.params")
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{2, 2}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := mlp.Save(path); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)
	v, _ := nodeData(mlp.Params()[0])
	v[1] = math.NaN()
	if err := mlp.Save(path); err == nil || !strings.Contains(err.Error(), "W0[1] is NaN") {
		t.Errorf("Save of a NaN weight: %v", err)
	}
	if now, _ := os.ReadFile(path); !slices.Equal(now, old) {
		t.Error("the failed Save changed the file")
	}
	if err := mlp.Save(filepath.Join(t.TempDir(), "no", "such", "dir", "f")); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
	for _, l := range []Layer{nil, (*MLP)(nil), (*ILQR)(nil)} {
		if err := SaveLayers(path, mlp, l); err == nil || !strings.Contains(err.Error(), "layer 1 is nil") {
			t.Errorf("SaveLayers with a nil %T: %v", l, err)
		}
		if err := LoadLayers(path, l); err == nil {
			t.Errorf("LoadLayers into a nil %T succeeded", l)
		}
	}
}

// FuzzDecode: no byte string makes decoding panic, and whatever decodes
// holds only finite values of the layer's sizes.
func FuzzDecode(f *testing.F) {
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{2, 3}, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "p")
	if err := mlp.Save(path); err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	f.Add(raw)
	f.Add(raw[:20])
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := decode(b, []Layer{mlp})
		if err != nil {
			return
		}
		if len(vals) != 2 || len(vals[0]) != 6 || len(vals[1]) != 3 {
			t.Fatalf("decoded sizes %d", len(vals))
		}
	})
}
