package envs

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"
)

// File format constants (see the package documentation, "Dataset files").
const (
	// FormatName is the "format" field of a dataset file's metadata.
	FormatName = "dilqr-envs-demos"
	// FormatVersion is the version this package writes and reads.
	FormatVersion = 1
	// MaxArrayBytes bounds the size of one array a file may declare, so a
	// corrupted or hostile file cannot make Read allocate without limit.
	MaxArrayBytes = 1 << 30
)

// metaEntry is the name of the metadata array inside the archive.
const metaEntry = "meta.npy"

// fileMeta is the JSON metadata stored in meta.npy. Field order is fixed,
// so encoding is deterministic.
type fileMeta struct {
	Format   string      `json:"format"`
	Version  int         `json:"version"`
	Env      string      `json:"env"`
	Dynamics string      `json:"dynamics"`
	Cost     string      `json:"cost"`
	T        int         `json:"T"`
	N        int         `json:"N"`
	M        int         `json:"M"`
	Theta    []float64   `json:"theta"`
	Phi      []float64   `json:"phi"`
	Lower    []float64   `json:"lower"`
	Upper    []float64   `json:"upper"`
	Seed     uint64      `json:"seed"`
	Sizes    splitCounts `json:"sizes"`
	Rejected splitCounts `json:"rejected"`
	Initial  []metaRange `json:"initial_state"`
	Expert   ExpertInfo  `json:"expert"`
}

type splitCounts struct {
	Train int `json:"train"`
	Val   int `json:"val"`
	Test  int `json:"test"`
}

func (c *splitCounts) at(k int) *int { return []*int{&c.Train, &c.Val, &c.Test}[k] }

type metaRange struct {
	Name string  `json:"name"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
}

// fileArray is one float64 array of the file.
type fileArray struct {
	name  string // without ".npy"
	shape []int
	data  []float64
}

// meta returns the metadata of d.
func (d *Dataset) meta() fileMeta {
	m := fileMeta{
		Format: FormatName, Version: FormatVersion,
		Env: d.Env, Dynamics: d.Dynamics, Cost: d.Cost,
		T: d.T, N: d.N, M: d.M,
		Theta: d.Theta, Phi: d.Phi, Lower: d.Lower, Upper: d.Upper,
		Seed: d.Seed, Expert: d.Expert,
	}
	for k, sp := range d.Splits() {
		*m.Sizes.at(k) = sp.Demos.B
		*m.Rejected.at(k) = sp.Demos.Rejected
	}
	for _, r := range d.Initial {
		m.Initial = append(m.Initial, metaRange{r.Name, r.Lo, r.Hi})
	}
	return m
}

// arrays returns the arrays of d in file order, sharing d's storage.
func (d *Dataset) arrays() []fileArray {
	var out []fileArray
	for _, sp := range d.Splits() {
		s := sp.Demos
		out = append(out,
			fileArray{sp.Name + "_x0", []int{s.B, d.N}, s.X0},
			fileArray{sp.Name + "_X", []int{s.B, d.T, d.N}, s.X},
			fileArray{sp.Name + "_U", []int{s.B, d.T, d.M}, s.U},
			fileArray{sp.Name + "_cost", []int{s.B}, s.Cost})
	}
	return out
}

// WriteTo writes d to w in the .npz format described in the package
// documentation. The same dataset always gives the same bytes. It
// implements io.WriterTo.
func (d *Dataset) WriteTo(w io.Writer) (int64, error) {
	if err := d.validate(); err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	if err := encode(cw, d.meta(), d.arrays()); err != nil {
		return cw.n, fmt.Errorf("envs: write dataset: %w", err)
	}
	return cw.n, nil
}

// encode writes the metadata and arrays as an npz archive.
func encode(w io.Writer, meta fileMeta, arrays []fileArray) error {
	js, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	zw := npz.NewWriter(w)
	if err := zw.Write(metaEntry, string(js)); err != nil {
		return err
	}
	for _, a := range arrays {
		if err := zw.Write(a.name+".npy", nested(a.data, a.shape)); err != nil {
			return err
		}
	}
	return zw.Close()
}

// nested returns a row-major flat slice as nested slices of the given
// shape (1 to 3 axes), sharing its storage, for npy's shape discovery.
func nested(flat []float64, shape []int) any {
	switch len(shape) {
	case 1:
		return flat
	case 2:
		rows := make([][]float64, shape[0])
		for i := range rows {
			rows[i] = flat[i*shape[1] : (i+1)*shape[1]]
		}
		return rows
	default:
		k := shape[1] * shape[2]
		out := make([][][]float64, shape[0])
		for i := range out {
			out[i] = nested(flat[i*k:(i+1)*k], shape[1:]).([][]float64)
		}
		return out
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Save writes d to the file at path atomically: it writes a temporary file
// in the same directory, syncs it and renames it over path, so a reader
// sees either the old file or the complete new one. The file is created
// with mode 0644.
func (d *Dataset) Save(path string) (err error) {
	if err := d.validate(); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("envs: save dataset: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = d.WriteTo(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("envs: save dataset: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("envs: save dataset: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("envs: save dataset: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("envs: save dataset: %w", err)
	}
	return nil
}

// validate checks that d is consistent before it is written.
func (d *Dataset) validate() error {
	if d.T < 1 || d.N < 1 || d.M < 1 {
		return fmt.Errorf("envs: dataset: invalid sizes T=%d N=%d M=%d", d.T, d.N, d.M)
	}
	for _, sp := range d.Splits() {
		s := sp.Demos
		switch {
		case s.B < 1:
			return fmt.Errorf("envs: dataset: %s split is empty", sp.Name)
		case s.T != d.T || s.N != d.N || s.M != d.M:
			return fmt.Errorf("envs: dataset: %s split has T=%d N=%d M=%d, the dataset T=%d N=%d M=%d",
				sp.Name, s.T, s.N, s.M, d.T, d.N, d.M)
		case len(s.X0) != s.B*d.N || len(s.X) != s.B*d.T*d.N || len(s.U) != s.B*d.T*d.M || len(s.Cost) != s.B:
			return fmt.Errorf("envs: dataset: %s split: slice lengths do not match B=%d", sp.Name, s.B)
		}
	}
	return nil
}

// Load reads the dataset file at path (see Read).
func Load(path string, want *Env) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("envs: load dataset: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("envs: load dataset: %w", err)
	}
	ds, err := Read(f, st.Size(), want)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return ds, nil
}

// ErrBadFile is wrapped by every error Read returns about the file's
// content: not an npz archive, truncated, corrupted (checksum), missing or
// misshapen arrays, an unknown format or version, or a mismatch with the
// expected environment.
var ErrBadFile = errors.New("bad dataset file")

func badFile(format string, args ...any) error {
	return fmt.Errorf("envs: %w: "+format, append([]any{ErrBadFile}, args...)...)
}

// Read reads a dataset written by WriteTo from r (size bytes long) and
// checks it: the archive and every entry's checksum, the format name and
// version, that the env is known and its model's name and sizes match,
// every array's dtype ('<f8', C order) and shape, that all values are
// finite, that each X starts at its x0, that the controls respect the
// bounds and that each X is the rollout of its U under the file's dynamics
// parameters (to a relative 1e-9). Files re-saved from Python with
// numpy.savez or numpy.savez_compressed under the same names, dtypes and
// shapes are read as well. If want is not nil the file must also be for
// want: same name, model, true parameters and bounds. Errors wrap
// ErrBadFile and name the problem; Read does not panic on any input.
func Read(r io.ReaderAt, size int64, want *Env) (ds *Dataset, err error) {
	defer func() {
		// npyio is not written against hostile input; turn any panic of its
		// parsers into an error rather than killing the caller.
		if p := recover(); p != nil {
			ds, err = nil, badFile("malformed npy data (%v)", p)
		}
	}()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, badFile("not a valid npz (zip) archive, or truncated: %v", err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if files[f.Name] != nil {
			return nil, badFile("duplicate entry %q", f.Name)
		}
		files[f.Name] = f
	}
	meta, err := readMeta(files)
	if err != nil {
		return nil, err
	}
	env, err := checkMeta(meta, want)
	if err != nil {
		return nil, err
	}
	ds = &Dataset{
		Env: meta.Env, T: meta.T, N: meta.N, M: meta.M,
		Dynamics: meta.Dynamics, Cost: meta.Cost,
		Theta: meta.Theta, Phi: meta.Phi, Lower: meta.Lower, Upper: meta.Upper,
		Seed: meta.Seed, Expert: meta.Expert,
	}
	for _, r := range meta.Initial {
		ds.Initial = append(ds.Initial, Range(r))
	}
	for k, sp := range ds.Splits() {
		*sp.Demos = Demos{B: *meta.Sizes.at(k), T: meta.T, N: meta.N, M: meta.M, Rejected: *meta.Rejected.at(k)}
	}
	for _, a := range ds.arrays() {
		data, err := readArray(files, a.name, a.shape)
		if err != nil {
			return nil, err
		}
		setArray(ds, a.name, data)
	}
	if err := checkData(ds, env); err != nil {
		return nil, err
	}
	return ds, nil
}

// setArray stores data as the named array of ds.
func setArray(ds *Dataset, name string, data []float64) {
	for _, sp := range ds.Splits() {
		s := sp.Demos
		switch name {
		case sp.Name + "_x0":
			s.X0 = data
		case sp.Name + "_X":
			s.X = data
		case sp.Name + "_U":
			s.U = data
		case sp.Name + "_cost":
			s.Cost = data
		}
	}
}

// readEntry returns the uncompressed content of the named entry, reading it
// to the end so that its checksum is verified; it refuses entries longer
// than limit bytes.
func readEntry(files map[string]*zip.File, name string, limit int64) ([]byte, error) {
	f := files[name]
	if f == nil {
		return nil, badFile("missing array %q", strings.TrimSuffix(name, ".npy"))
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, badFile("entry %q declares %d bytes, more than the %d its shape allows", name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, badFile("entry %q: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, badFile("entry %q is corrupted: %v", name, err)
	}
	if int64(len(b)) > limit {
		return nil, badFile("entry %q is longer than its shape allows", name)
	}
	return b, nil
}

// npyHeaderMax bounds the header of one .npy entry (format 1.0 allows up to
// 65535 bytes of header text).
const npyHeaderMax = 1 << 17

// readMeta reads and decodes meta.npy.
func readMeta(files map[string]*zip.File) (fileMeta, error) {
	var m fileMeta
	b, err := readEntry(files, metaEntry, npyHeaderMax+1<<20)
	if err != nil {
		return m, err
	}
	br := bytes.NewReader(b)
	nr, err := npy.NewReader(br)
	if err != nil {
		return m, badFile("metadata: %v", err)
	}
	if typ := dtype(nr.Header); !strings.HasPrefix(typ, "<U") || len(nr.Header.Descr.Shape) != 0 {
		return m, badFile("metadata has dtype %s and shape %v, want a unicode string scalar",
			typ, nr.Header.Descr.Shape)
	}
	var js string
	if err := nr.Read(&js); err != nil {
		return m, badFile("metadata: %v", err)
	}
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return m, badFile("metadata is not valid JSON: %v", err)
	}
	if m.Format != FormatName {
		return m, badFile("format %q, want %q: not a demonstration file of this package", m.Format, FormatName)
	}
	if m.Version != FormatVersion {
		return m, badFile("unsupported format version %d (this package reads version %d)", m.Version, FormatVersion)
	}
	return m, nil
}

// checkMeta checks the metadata against the registered env and want, and
// returns the env.
func checkMeta(m fileMeta, want *Env) (*Env, error) {
	if want != nil && m.Env != want.name {
		return nil, badFile("file is for env %q, want %q", m.Env, want.name)
	}
	env, err := New(m.Env)
	if err != nil {
		return nil, badFile("unknown env %q (known: %v)", m.Env, Names())
	}
	d := env.Dims()
	task := env.task
	switch {
	case m.N != d.N || m.M != d.M:
		return nil, badFile("env %s has N=%d M=%d, the file says N=%d M=%d", m.Env, d.N, d.M, m.N, m.M)
	case m.T < 1:
		return nil, badFile("horizon T=%d < 1", m.T)
	case m.Dynamics != task.Dynamics.Name():
		return nil, badFile("dynamics %q, env %s has %q", m.Dynamics, m.Env, task.Dynamics.Name())
	case m.Cost != task.Cost.Name():
		return nil, badFile("cost %q, env %s has %q", m.Cost, m.Env, task.Cost.Name())
	case len(m.Theta) != d.P || len(m.Phi) != task.Cost.Dims().Q:
		return nil, badFile("%d dynamics and %d cost parameters, env %s has %d and %d",
			len(m.Theta), len(m.Phi), m.Env, d.P, task.Cost.Dims().Q)
	case len(m.Lower) != d.M || len(m.Upper) != d.M:
		return nil, badFile("bounds of length %d and %d, want M=%d", len(m.Lower), len(m.Upper), d.M)
	}
	for k := range 3 {
		if b := *m.Sizes.at(k); b < 1 {
			return nil, badFile("split %d has size %d < 1", k, b)
		}
		if r := *m.Rejected.at(k); r < 0 {
			return nil, badFile("negative rejection count %d", r)
		}
	}
	for i := range m.Lower {
		if !(m.Lower[i] <= m.Upper[i]) {
			return nil, badFile("bounds: lower %g > upper %g", m.Lower[i], m.Upper[i])
		}
	}
	if want != nil {
		switch {
		case !slices.Equal(m.Theta, want.theta):
			return nil, badFile("file has dynamics parameters %v, env %s has %v", m.Theta, want.name, want.theta)
		case !slices.Equal(m.Phi, want.phi):
			return nil, badFile("file has cost parameters %v, env %s has %v", m.Phi, want.name, want.phi)
		case !slices.Equal(m.Lower, want.task.Lower) || !slices.Equal(m.Upper, want.task.Upper):
			return nil, badFile("file has bounds [%v, %v], env %s has [%v, %v]",
				m.Lower, m.Upper, want.name, want.task.Lower, want.task.Upper)
		}
	}
	return env, nil
}

// dtype returns the header's dtype string without the quotes of its
// Python literal, e.g. "<f8".
func dtype(h npy.Header) string { return strings.Trim(h.Descr.Type, `'"`) }

// readArray reads the named float64 array, checking dtype, order and shape.
func readArray(files map[string]*zip.File, name string, shape []int) ([]float64, error) {
	n := 1
	for _, s := range shape {
		if s < 1 || n > MaxArrayBytes/8/s {
			return nil, badFile("array %q: shape %v exceeds %d bytes", name, shape, MaxArrayBytes)
		}
		n *= s
	}
	b, err := readEntry(files, name+".npy", int64(8*n+npyHeaderMax))
	if err != nil {
		return nil, err
	}
	br := bytes.NewReader(b)
	nr, err := npy.NewReader(br)
	if err != nil {
		return nil, badFile("array %q: %v", name, err)
	}
	h := nr.Header.Descr
	switch {
	case dtype(nr.Header) != "<f8":
		return nil, badFile("array %q has dtype %s, want <f8", name, dtype(nr.Header))
	case h.Fortran:
		return nil, badFile("array %q is in Fortran order, want C order", name)
	case !slices.Equal(h.Shape, shape):
		return nil, badFile("array %q has shape %v, want %v", name, h.Shape, shape)
	}
	if br.Len() != 8*n {
		return nil, badFile("array %q holds %d bytes of data, its shape %v needs %d", name, br.Len(), shape, 8*n)
	}
	var data []float64
	if err := nr.Read(&data); err != nil {
		return nil, badFile("array %q: %v", name, err)
	}
	if len(data) != n || br.Len() != 0 {
		return nil, badFile("array %q: %d values and %d trailing bytes, want %d values", name, len(data), br.Len(), n)
	}
	return data, nil
}

// rolloutTol is the relative tolerance of Read's check that each X is the
// true dynamics' rollout under U. The expert's states come from the same
// model evaluator, so they agree to round-off; 1e-9 leaves room for a
// file written on another architecture (fused multiply-adds).
const rolloutTol = 1e-9

// checkData checks the values of a read dataset.
func checkData(ds *Dataset, env *Env) error {
	n, m := ds.N, ds.M
	next := make([]float64, n)
	ev := env.task.Dynamics.NewEvaluator()
	for _, sp := range ds.Splits() {
		s := sp.Demos
		for _, a := range [][]float64{s.X0, s.X, s.U, s.Cost} {
			for _, v := range a {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return badFile("%s split contains NaN or Inf", sp.Name)
				}
			}
		}
		for b := 0; b < s.B; b++ {
			x0, X, U := s.Example(b)
			if !slices.Equal(x0, X[:n]) {
				return badFile("%s demonstration %d: X does not start at x0", sp.Name, b)
			}
			for i, u := range U {
				if u < ds.Lower[i%m] || u > ds.Upper[i%m] {
					return badFile("%s demonstration %d: control %g at step %d outside [%g, %g]",
						sp.Name, b, u, i/m, ds.Lower[i%m], ds.Upper[i%m])
				}
			}
			for k := 0; k+1 < ds.T; k++ {
				ev.Step(next, X[k*n:(k+1)*n], U[k*m:(k+1)*m], ds.Theta)
				for i, v := range next {
					// Negated so that a NaN from odd parameters fails too.
					if w := X[(k+1)*n+i]; !(math.Abs(v-w) <= rolloutTol*(1+math.Abs(v))) {
						return badFile("%s demonstration %d: state %d at step %d is %g, the dynamics give %g",
							sp.Name, b, i, k+1, w, v)
					}
				}
			}
		}
	}
	return nil
}
