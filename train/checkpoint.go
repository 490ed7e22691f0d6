package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dilqr/dilqr/op"
)

// Checkpoint file format, version 1: one header line
//
//	dilqr-train-checkpoint 1 sha256:<64 hex digits>
//
// followed by a JSON document (checkpointData) whose SHA-256 the header
// gives. Floats are JSON numbers in the shortest form that reads back
// exactly, or the strings "NaN", "+Inf", "-Inf"; so a checkpoint restores
// parameters and optimizer state bit for bit.
const (
	checkpointMagic   = "dilqr-train-checkpoint"
	checkpointVersion = 1
	// CheckpointFile and LogFile are the names Run uses inside Config.Dir.
	CheckpointFile = "checkpoint.json"
	LogFile        = "log.csv"
)

// ErrBadCheckpoint is wrapped by errors about a checkpoint file that is
// not a valid checkpoint: truncated, corrupted (checksum), of another
// format or version, or with inconsistent content.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// ErrPastEpochs is wrapped by the error of a resumed run whose checkpoint
// has completed more epochs than Config.Epochs asks for.
var ErrPastEpochs = errors.New("the checkpoint is past the epochs asked for")

// ErrMismatch is wrapped by errors about a valid checkpoint or log that
// belongs to another run: another env, method, seed, data, settings, or a
// log that disagrees with the checkpoint.
var ErrMismatch = errors.New("checkpoint or log does not match this run")

// jf is a float64 that survives JSON exactly, NaN and infinities included.
type jf float64

func (f jf) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jf) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jf(math.NaN())
		return nil
	case `"+Inf"`:
		*f = jf(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = jf(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = jf(v)
	return nil
}

// mapSlice returns f applied to each element of v; nil for a nil v.
func mapSlice[S, D any](v []S, f func(S) D) []D {
	if v == nil {
		return nil
	}
	out := make([]D, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

func toJF(v []float64) []jf        { return mapSlice(v, func(x float64) jf { return jf(x) }) }
func fromJF(v []jf) []float64      { return mapSlice(v, func(x jf) float64 { return float64(x) }) }
func toJF2(v [][]float64) [][]jf   { return mapSlice(v, toJF) }
func fromJF2(v [][]jf) [][]float64 { return mapSlice(v, fromJF) }

// runID identifies a run: everything that changes its results except the
// number of epochs (which a resumed run may extend) and the patience.
type runID struct {
	Env            string `json:"env"`
	Method         string `json:"method"`
	NTrain         int    `json:"ntrain"`
	Seed           uint64 `json:"seed"`
	BatchSize      int    `json:"batch_size"`
	LR             jf     `json:"lr"`
	Rho            jf     `json:"rho"`
	AlternateEvery int    `json:"alternate_every"`
	Hidden         int    `json:"hidden"`
	InitTheta      []jf   `json:"init_theta"`
	Settings       string `json:"settings"`
	// Data is the SHA-256 of the demonstrations used (training subset,
	// validation and test splits) and their sizes.
	Data string `json:"data"`
}

// mismatch lists the fields in which a and b differ.
func (a runID) mismatch(b runID) []string {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var out []string
	for _, k := range []string{"env", "method", "ntrain", "seed", "batch_size", "lr", "rho",
		"alternate_every", "hidden", "init_theta", "settings", "data"} {
		if !bytes.Equal(ma[k], mb[k]) {
			out = append(out, fmt.Sprintf("%s: checkpoint %s, this run %s", k, ma[k], mb[k]))
		}
	}
	return out
}

// optState is the optimizer's state.
type optState struct {
	Kind  string `json:"kind"` // "rmsprop" or "adam"
	Cache [][]jf `json:"cache,omitempty"`
	Iter  int    `json:"iter,omitempty"`
	M     [][]jf `json:"m,omitempty"`
	V     [][]jf `json:"v,omitempty"`
}

// jrow is a Row in a checkpoint.
type jrow struct {
	Epoch int `json:"epoch"`
	Train jf  `json:"train"`
	Val   jf  `json:"val"`
	Test  jf  `json:"test"`
	Model jf  `json:"model"`
	// Params are the estimated model parameters (Row.Params).
	Params []jf `json:"params,omitempty"`
	// Health is Row.Health: unconverged, indefinite, non-finite, on a
	// bound. Absent in checkpoints written before it existed: NaN.
	Health []jf `json:"health,omitempty"`
	// Identified is (Row.Ident, Row.Pred). Absent in checkpoints written
	// before it existed: NaN.
	Identified []jf `json:"identified,omitempty"`
}

// identifiedOf returns Row.Ident and Row.Pred from jrow.Identified.
func identifiedOf(v []jf) (ident, pred float64) {
	if len(v) != 2 {
		return math.NaN(), math.NaN()
	}
	return float64(v[0]), float64(v[1])
}

// healthJF and healthOf convert Row.Health to and from jrow.Health.
func healthJF(h op.Health) []jf {
	return []jf{jf(h.Unconverged), jf(h.Indefinite), jf(h.NonFinite), jf(h.OnBound)}
}

func healthOf(v []jf) op.Health {
	if len(v) != 4 {
		nan := math.NaN()
		return op.Health{Unconverged: nan, Indefinite: nan, NonFinite: nan, OnBound: nan}
	}
	return op.Health{Unconverged: float64(v[0]), Indefinite: float64(v[1]), NonFinite: float64(v[2]), OnBound: float64(v[3])}
}

// checkpointData is everything a resumed run needs to continue exactly as
// an uninterrupted one: the parameters, the optimizer state, the state of
// the shuffling generator and of early stopping, and the log so far.
type checkpointData struct {
	Run runID `json:"run"`
	// Epoch is the number of completed epochs.
	Epoch  int      `json:"epoch"`
	Params [][]jf   `json:"params"`
	Opt    optState `json:"optimizer"`
	// RNG is the PCG state (math/rand/v2 PCG.MarshalBinary).
	RNG []byte `json:"rng"`
	// BestVal is the best validation loss so far, at epoch BestEpoch, with
	// parameters BestParams; Bad counts the epochs since.
	BestVal    jf       `json:"best_val"`
	BestEpoch  int      `json:"best_epoch"`
	BestParams [][]jf   `json:"best_params"`
	Bad        int      `json:"bad"`
	Stopped    bool     `json:"stopped"`
	History    []jrow   `json:"history"`
	Solves     int      `json:"solves"`
	Skipped    int      `json:"skipped"`
	Names      []string `json:"names,omitempty"`
	// Seconds is the wall time spent on the run up to this checkpoint.
	Seconds jf `json:"seconds"`
}

// encodeCheckpoint returns the file content for c.
func encodeCheckpoint(c *checkpointData) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("train: encoding checkpoint: %w", err)
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	head := fmt.Sprintf("%s %d sha256:%s\n", checkpointMagic, checkpointVersion, hex.EncodeToString(sum[:]))
	return append([]byte(head), body...), nil
}

// decodeCheckpoint parses and checks a checkpoint file's content.
func decodeCheckpoint(raw []byte) (*checkpointData, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadCheckpoint}, args...)...)
	}
	head, body, ok := bytes.Cut(raw, []byte("\n"))
	if !ok {
		return nil, bad("no header line (truncated or not a checkpoint)")
	}
	f := strings.Fields(string(head))
	if len(f) != 3 || f[0] != checkpointMagic {
		return nil, bad("not a checkpoint: header %.60q", head)
	}
	if f[1] != strconv.Itoa(checkpointVersion) {
		return nil, bad("format version %s, this program reads %d", f[1], checkpointVersion)
	}
	want, ok := strings.CutPrefix(f[2], "sha256:")
	if !ok {
		return nil, bad("header has no checksum")
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != want {
		return nil, bad("checksum mismatch: the file is corrupted or truncated")
	}
	var c checkpointData
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, bad("content: %v", err)
	}
	if err := c.check(); err != nil {
		return nil, bad("%v", err)
	}
	return &c, nil
}

// check checks that c is consistent in itself, as Run writes it: the
// epochs, the log rows, the best epoch and the early-stopping counter
// agree, the counts are not negative. (Whether its parameters fit the
// model is checked on resuming, against the model.)
func (c *checkpointData) check() error {
	switch {
	case c.Epoch < 0 || len(c.History) != c.Epoch+1:
		return fmt.Errorf("%d log rows for %d epochs", len(c.History), c.Epoch)
	case c.Opt.Kind != "rmsprop" && c.Opt.Kind != "adam":
		return fmt.Errorf("unknown optimizer %q", c.Opt.Kind)
	case c.BestEpoch < 0 || c.BestEpoch > c.Epoch:
		return fmt.Errorf("best epoch %d outside the %d completed epochs", c.BestEpoch, c.Epoch)
	case c.Bad != c.Epoch-c.BestEpoch:
		return fmt.Errorf("%d epochs without improvement since the best epoch %d, at epoch %d", c.Bad, c.BestEpoch, c.Epoch)
	case len(c.BestParams) != len(c.Params):
		return fmt.Errorf("%d best parameter tensors for %d parameters", len(c.BestParams), len(c.Params))
	case c.Solves < 0 || c.Skipped < 0 || c.Skipped > c.Solves:
		return fmt.Errorf("%d of %d solves skipped", c.Skipped, c.Solves)
	case c.Opt.Iter < 0:
		return fmt.Errorf("optimizer step count %d", c.Opt.Iter)
	case !(c.Seconds >= 0) || math.IsInf(float64(c.Seconds), 0):
		return fmt.Errorf("run time %v s", float64(c.Seconds))
	}
	for i, r := range c.History {
		if r.Epoch != i {
			return fmt.Errorf("log row %d has epoch %d", i, r.Epoch)
		}
		if len(r.Health) != 0 && len(r.Health) != 4 {
			return fmt.Errorf("log row %d has %d health shares, want 4", i, len(r.Health))
		}
		if len(r.Identified) != 0 && len(r.Identified) != 2 {
			return fmt.Errorf("log row %d has %d identifiable errors, want 2", i, len(r.Identified))
		}
	}
	if b, v := c.History[c.BestEpoch].Val, c.BestVal; math.Float64bits(float64(b)) != math.Float64bits(float64(v)) {
		return fmt.Errorf("best validation loss %v, but log row %d has %v", float64(v), c.BestEpoch, float64(b))
	}
	return nil
}

// readCheckpoint reads the checkpoint at path; os.ErrNotExist if none.
func readCheckpoint(path string) (*checkpointData, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := decodeCheckpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	return c, nil
}

// Checkpoint is a run as its checkpoint file (CheckpointFile in
// Config.Dir) records it after its last completed epoch: the run's
// identity, the log and the parameters at the epoch of best validation
// loss. It is what a program needs to use a trained model without
// rebuilding the run (Result is what Run returns).
type Checkpoint struct {
	// Env, Method, NTrain and Seed are the run's Dataset.Env and Config
	// fields of the same names; Hidden is Config.Hidden (nn's width).
	Env    string
	Method Method
	NTrain int
	Seed   uint64
	Hidden int
	// Epoch is the number of completed epochs.
	Epoch int
	// BestEpoch is the epoch with the lowest validation loss; BestParams
	// holds the learnable tensors at that epoch, flattened, in the order
	// of the method's learnable nodes (for nn: the policy's layers, as
	// train builds them).
	BestEpoch  int
	BestParams [][]float64
	// Names label the model parameters of each row's Params (Result.Names);
	// nil for nn.
	Names []string
	// History holds one row per completed epoch, from row 0, Params
	// included.
	History []Row
}

// BestModelParams returns the model parameters at the best epoch: θ for
// a method that learns the dynamics, the goal form (w, goal) of the cost
// for one that learns the cost, nil for nn.
func (c *Checkpoint) BestModelParams() []float64 { return c.History[c.BestEpoch].Params }

// ReadCheckpoint reads and checks the checkpoint file at path, as Run
// writes it. The error wraps os.ErrNotExist if there is none, and
// ErrBadCheckpoint if the file is not a valid checkpoint (its method
// unknown included).
func ReadCheckpoint(path string) (*Checkpoint, error) {
	c, err := readCheckpoint(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseMethod(c.Run.Method)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: %w: %v", path, ErrBadCheckpoint, err)
	}
	return &Checkpoint{Env: c.Run.Env, Method: m, NTrain: c.Run.NTrain, Seed: c.Run.Seed, Hidden: c.Run.Hidden,
		Epoch: c.Epoch, BestEpoch: c.BestEpoch, BestParams: fromJF2(c.BestParams), Names: c.Names,
		History: rowsOf(c.History)}, nil
}

// rowsOf converts a checkpoint's log rows to Rows.
func rowsOf(jr []jrow) []Row {
	rows := make([]Row, len(jr))
	for i, r := range jr {
		rows[i] = Row{Epoch: r.Epoch, Train: float64(r.Train), Val: float64(r.Val), Test: float64(r.Test),
			Model: float64(r.Model), Params: fromJF(r.Params), Health: healthOf(r.Health)}
		rows[i].Ident, rows[i].Pred = identifiedOf(r.Identified)
	}
	return rows
}

// removeStaleTemps removes the temporary files that writeAtomic leaves
// next to path when it is interrupted (killed between creating and
// renaming one). Only one writer may use path at a time.
func removeStaleTemps(path string) error {
	stale, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPrefix(path)+"*"))
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("train: removing a stale temporary file: %w", err)
		}
	}
	return nil
}

// tempPrefix is the name writeAtomic's temporary files for path start
// with.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// writeAtomic writes data to path so that a reader (or a run resumed after
// a crash) sees either the old file or the complete new one: it writes a
// temporary file in the same directory, syncs it, renames it over path and
// syncs the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}
