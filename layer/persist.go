package layer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// FormatVersion is the version of the parameter files this package writes
// and the only one it reads. Version 1, all integers little-endian:
//
//	offset 0        magic "DILQRPRM" (8 bytes)
//	offset 8        format version, uint32 (1)
//	offset 12       header length H, uint32
//	offset 16       header: H bytes of JSON:
//	                {"layers":[{"kind":"mlp","desc":"mlp(sizes=[4 16 3],act=tanh)",
//	                            "params":[{"name":"W0","shape":[4,16]},…]},…]}
//	offset 16+H     parameter values, float64 (IEEE 754 bits), layer by
//	                layer and parameter by parameter in header order, each
//	                row-major
//	last 4 bytes    CRC-32C (Castagnoli) of every preceding byte, uint32
//
// "kind" is Layer.Kind, "desc" Layer.Describe, "params" Layer.Params' names
// and the shapes of their nodes. A file is 16 + H + 8·(number of values) + 4
// bytes long.
//
// The file does not record the layers' dtype: Float32 parameters are
// written as float64 (exactly), and values are rounded to nearest when
// loaded into Float32 layers, so a Float32 file loads back bit for bit and
// a file may be loaded into layers of either dtype (LoadLayers refuses a
// value beyond float32's range for a Float32 layer).
const FormatVersion = 1

const (
	fileMagic = "DILQRPRM"
	fixedHead = 16 // magic, version, header length
	// maxHeader bounds the JSON header so a corrupted length cannot make
	// Load allocate without limit.
	maxHeader = 1 << 24
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat is wrapped by Load errors about a file that is not a valid
// parameter file: wrong magic, truncated, failed checksum, bad header.
var ErrFormat = errors.New("not a valid parameter file")

// ErrVersion is wrapped by Load errors about a file of another format
// version.
var ErrVersion = errors.New("unsupported parameter file version")

// ErrMismatch is wrapped by Load errors about a valid file that does not
// fit the layers: another kind, architecture, parameter name or shape.
var ErrMismatch = errors.New("parameter file does not match the layers")

type fileParam struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

type fileLayer struct {
	Kind   string      `json:"kind"`
	Desc   string      `json:"desc"`
	Params []fileParam `json:"params"`
}

type fileHeader struct {
	Layers []fileLayer `json:"layers"`
}

// isNilPointer reports whether l is a nil pointer in a non-nil interface,
// such as a (*MLP)(nil).
func isNilPointer(l Layer) bool {
	v := reflect.ValueOf(l)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// describe returns the header entries of ls.
func describe(ls []Layer) (fileHeader, error) {
	var h fileHeader
	for i, l := range ls {
		if l == nil || isNilPointer(l) {
			return h, fmt.Errorf("layer: layer %d is nil", i)
		}
		fl := fileLayer{Kind: l.Kind(), Desc: l.Describe(), Params: []fileParam{}}
		for _, p := range l.Params() {
			fl.Params = append(fl.Params, fileParam{Name: p.Name, Shape: []int(p.Node.Shape().Clone())})
		}
		h.Layers = append(h.Layers, fl)
	}
	return h, nil
}

// SaveLayers writes the parameters of ls to path in the format above,
// atomically: it writes a temporary file in path's directory, syncs it to
// disk and renames it over path, so that path holds either its old content
// or the complete new file, never a partial one. It refuses parameters with
// NaN or Inf values. Float32 parameters are written as float64, exactly.
func SaveLayers(path string, ls ...Layer) error {
	if len(ls) == 0 {
		return errors.New("layer: save: no layers")
	}
	h, err := describe(ls)
	if err != nil {
		return err
	}
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(fileMagic)
	_ = binary.Write(&buf, binary.LittleEndian, uint32(FormatVersion))
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(js)))
	buf.Write(js)
	var word [8]byte
	for _, l := range ls {
		for _, p := range l.Params() {
			v, err := nodeData(p)
			if err != nil {
				return fmt.Errorf("layer: save %s: %w", l.Kind(), err)
			}
			for j, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return fmt.Errorf("layer: save %s: parameter %s[%d] is %v", l.Kind(), p.Name, j, x)
				}
				binary.LittleEndian.PutUint64(word[:], math.Float64bits(x))
				buf.Write(word[:])
			}
		}
	}
	binary.LittleEndian.PutUint32(word[:4], crc32.Checksum(buf.Bytes(), crcTable))
	buf.Write(word[:4])
	return writeAtomic(path, buf.Bytes())
}

// nodeData returns the values of a parameter node as float64: its own
// data, not copied, when it is a contiguous float64 tensor; a converted
// copy for a float32 one.
func nodeData(p Param) ([]float64, error) {
	v := p.Node.Value()
	d, ok := v.(*tensor.Dense)
	if !ok || (d.Dtype() != tensor.Float64 && d.Dtype() != tensor.Float32) {
		return nil, fmt.Errorf("parameter %s has value %T, want a float64 or float32 *tensor.Dense", p.Name, v)
	}
	if d.RequiresIterator() {
		if d, ok = d.Materialize().(*tensor.Dense); !ok {
			return nil, fmt.Errorf("parameter %s: cannot materialize its view", p.Name)
		}
	}
	size := p.Node.Shape().TotalSize()
	switch data := d.Data().(type) {
	case []float64:
		if len(data) == size {
			return data, nil
		}
	case []float32:
		if len(data) == size {
			out := make([]float64, len(data))
			for i, x := range data {
				out[i] = float64(x)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("parameter %s holds no %v data of its shape", p.Name, d.Dtype())
}

// writeAtomic writes data to a temporary file next to path, syncs it,
// renames it to path and syncs the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("layer: save: %w", err)
	}
	// Make the rename durable; a directory that cannot be synced (some
	// platforms and file systems) is not an error.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadLayers reads the parameters of ls from path, written by SaveLayers
// for layers of the same kinds, architectures (Describe), parameter names
// and shapes, in the same order. It checks, in this order, the magic, the
// format version (ErrVersion), the header and the file's length
// (truncation), the checksum (ErrFormat), then that the file fits ls
// (ErrMismatch) and holds only finite values, within float32's range for
// Float32 layers. The layers are changed only when every check passes: the
// values are copied (rounded to nearest for Float32 layers) into the
// parameter nodes' existing tensors, so machines and solvers bound to them
// see the new values. The file may come from layers of either dtype.
func LoadLayers(path string, ls ...Layer) error {
	if len(ls) == 0 {
		return errors.New("layer: load: no layers")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("layer: load: %w", err)
	}
	vals, err := decode(raw, ls)
	if err != nil {
		return fmt.Errorf("layer: load %s: %w", path, err)
	}
	k := 0
	for _, l := range ls {
		for _, p := range l.Params() {
			if err := checkNode(p, vals[k]); err != nil {
				return fmt.Errorf("layer: load %s: %w", path, err)
			}
			k++
		}
	}
	k = 0
	for _, l := range ls {
		for _, p := range l.Params() {
			if err := setNode(p, vals[k]); err != nil {
				return fmt.Errorf("layer: load %s: %w", path, err)
			}
			k++
		}
	}
	return nil
}

// setNode copies v into the parameter's value tensor, or binds a new
// tensor holding v when the value is not a contiguous tensor of the node's
// dtype. For a float32 node the values are rounded to nearest; one beyond
// float32's range is an error (checked by checkNode before any change).
func setNode(p Param, v []float64) error {
	if p.Node.Dtype() == tensor.Float32 {
		v32 := float32s(v)
		if d, ok := p.Node.Value().(*tensor.Dense); ok && d.Dtype() == tensor.Float32 && !d.RequiresIterator() {
			if dst, ok := d.Data().([]float32); ok && len(dst) == len(v32) {
				copy(dst, v32)
				return nil
			}
		}
		t := tensor.New(tensor.WithShape(p.Node.Shape().Clone()...), tensor.WithBacking(v32))
		if err := G.Let(p.Node, t); err != nil {
			return fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		return nil
	}
	if d, ok := p.Node.Value().(*tensor.Dense); ok && d.Dtype() == tensor.Float64 && !d.RequiresIterator() {
		if dst, ok := d.Data().([]float64); ok && len(dst) == len(v) {
			copy(dst, v)
			return nil
		}
	}
	t := tensor.New(tensor.WithShape(p.Node.Shape().Clone()...), tensor.WithBacking(slices.Clone(v)))
	if err := G.Let(p.Node, t); err != nil {
		return fmt.Errorf("parameter %s: %w", p.Name, err)
	}
	return nil
}

// checkNode checks that v fits the parameter's dtype: for a float32 node,
// no value may overflow to ±Inf when rounded.
func checkNode(p Param, v []float64) error {
	if p.Node.Dtype() != tensor.Float32 {
		return nil
	}
	for j, x := range v {
		if math.IsInf(float64(float32(x)), 0) {
			return fmt.Errorf("%w: parameter %s[%d] = %g is beyond float32's range (the layer is float32)", ErrMismatch, p.Name, j, x)
		}
	}
	return nil
}

// decode checks a file's bytes against ls and returns the values of every
// parameter in order.
func decode(raw []byte, ls []Layer) ([][]float64, error) {
	n := len(raw)
	if n < len(fileMagic) || string(raw[:len(fileMagic)]) != fileMagic {
		if n < len(fileMagic) && string(raw) == fileMagic[:n] {
			return nil, fmt.Errorf("%w: truncated to %d bytes", ErrFormat, n)
		}
		return nil, fmt.Errorf("%w: wrong magic (want %q)", ErrFormat, fileMagic)
	}
	if n < fixedHead {
		return nil, fmt.Errorf("%w: truncated to %d bytes", ErrFormat, n)
	}
	if v := binary.LittleEndian.Uint32(raw[8:12]); v != FormatVersion {
		return nil, fmt.Errorf("%w: file has format version %d, this package reads version %d", ErrVersion, v, FormatVersion)
	}
	hl := int(binary.LittleEndian.Uint32(raw[12:16]))
	if hl > maxHeader {
		return nil, fmt.Errorf("%w: header length %d is implausible (corrupted)", ErrFormat, hl)
	}
	if n < fixedHead+hl+4 {
		return nil, fmt.Errorf("%w: truncated: %d bytes, the header alone needs %d", ErrFormat, n, fixedHead+hl+4)
	}
	var h fileHeader
	dec := json.NewDecoder(bytes.NewReader(raw[fixedHead : fixedHead+hl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %v (corrupted)", ErrFormat, err)
	}
	total := 0
	for _, l := range h.Layers {
		for _, p := range l.Params {
			sz := 1
			for _, d := range p.Shape {
				if d < 1 || d > math.MaxInt32 || sz > math.MaxInt32/d {
					return nil, fmt.Errorf("%w: header: parameter %s has shape %v (corrupted)", ErrFormat, p.Name, p.Shape)
				}
				sz *= d
			}
			total += sz
			if total > n/8 {
				return nil, fmt.Errorf("%w: truncated: %d bytes, the header describes more than %d values", ErrFormat, n, n/8)
			}
		}
	}
	want := fixedHead + hl + 8*total + 4
	switch {
	case n < want:
		return nil, fmt.Errorf("%w: truncated: %d bytes, the header describes %d", ErrFormat, n, want)
	case n > want:
		return nil, fmt.Errorf("%w: %d bytes, the header describes %d (trailing data or corrupted header)", ErrFormat, n, want)
	}
	if got, sum := binary.LittleEndian.Uint32(raw[n-4:]), crc32.Checksum(raw[:n-4], crcTable); got != sum {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x): the file is corrupted", ErrFormat, got, sum)
	}
	have, err := describe(ls)
	if err != nil {
		return nil, err
	}
	if err := match(h, have); err != nil {
		return nil, err
	}
	vals := make([][]float64, 0, total)
	off := fixedHead + hl
	for _, l := range h.Layers {
		for _, p := range l.Params {
			sz := 1
			for _, d := range p.Shape {
				sz *= d
			}
			v := make([]float64, sz)
			for j := range v {
				v[j] = math.Float64frombits(binary.LittleEndian.Uint64(raw[off:]))
				off += 8
				if math.IsNaN(v[j]) || math.IsInf(v[j], 0) {
					return nil, fmt.Errorf("%w: %s parameter %s[%d] is %v", ErrFormat, l.Kind, p.Name, j, v[j])
				}
			}
			vals = append(vals, v)
		}
	}
	return vals, nil
}

// match checks that the file's header describes the layers' parameters.
func match(file, have fileHeader) error {
	if len(file.Layers) != len(have.Layers) {
		return fmt.Errorf("%w: the file holds %d layers (%s), loading into %d (%s)",
			ErrMismatch, len(file.Layers), kinds(file), len(have.Layers), kinds(have))
	}
	for i, f := range file.Layers {
		l := have.Layers[i]
		if f.Kind != l.Kind {
			return fmt.Errorf("%w: layer %d: the file holds a %q layer, loading into a %q layer", ErrMismatch, i, f.Kind, l.Kind)
		}
		if len(f.Params) != len(l.Params) {
			return fmt.Errorf("%w: %s layer %d: the file has %d parameters (%s), the layer %d (%s)",
				ErrMismatch, l.Kind, i, len(f.Params), names(f.Params), len(l.Params), names(l.Params))
		}
		for j, fp := range f.Params {
			lp := l.Params[j]
			if fp.Name != lp.Name {
				return fmt.Errorf("%w: %s layer %d: parameter %d is %s in the file, %s in the layer", ErrMismatch, l.Kind, i, j, fp.Name, lp.Name)
			}
			if !slices.Equal(fp.Shape, lp.Shape) {
				return fmt.Errorf("%w: %s layer %d: parameter %s has shape %v in the file, %v in the layer",
					ErrMismatch, l.Kind, i, fp.Name, fp.Shape, lp.Shape)
			}
		}
		if f.Desc != l.Desc {
			return fmt.Errorf("%w: layer %d: the file holds %s, loading into %s", ErrMismatch, i, f.Desc, l.Desc)
		}
	}
	return nil
}

func kinds(h fileHeader) string {
	var b bytes.Buffer
	for i, l := range h.Layers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Kind)
	}
	return b.String()
}

func names(ps []fileParam) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
	}
	return b.String()
}
