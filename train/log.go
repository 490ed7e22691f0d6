package train

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/dilqr/dilqr/op"
)

// Row is one line of the training log: the losses after an epoch.
type Row struct {
	// Epoch counts the completed epochs; row 0 holds the losses of the
	// initial parameters, before any training.
	Epoch int
	// Train, Val and Test are the imitation losses on the training
	// examples used, the validation split and the test split: the mean
	// squared difference between the predicted and the expert's controls
	// over all examples, steps and control entries, with the parameters at
	// the end of the epoch.
	Train, Val, Test float64
	// Model is the model loss MSE(θ − θ_true) of the estimated parameters
	// (dynamics parameters for sysid and *.dx, cost parameters in goal form
	// (w, goal) for *.cost), NaN for nn.
	Model float64
	// Params holds the estimated model parameters at the end of the epoch
	// (see Result.Names), nil for nn. It is not part of the log file.
	Params []float64
	// Health holds the planner's health shares (op.Health: unconverged,
	// indefinite, non-finite, controls on a bound) averaged over the
	// epoch's training steps (layer.HealthMean); NaN where nothing was
	// measured: row 0, methods that train without the planner (nn,
	// sysid), and rows of logs written before these columns existed.
	Health op.Health
	// Ident and Pred are the model's errors in terms the data identify
	// (ModelErrors): the largest relative error of the identifiable
	// combinations of the dynamics parameters, and the next-state
	// prediction error on the test split. NaN where they do not apply
	// (see ModelErrors) and in rows of logs written before these columns
	// existed.
	Ident, Pred float64
}

// LogHeader is the header line of a training log. Logs with the first
// five columns only (logHeaderLosses, written before the health columns
// existed) or the first nine (logHeaderHealth, before the identifiable
// errors) are read too, with NaN in the missing columns.
const LogHeader = logHeaderHealth + ",ident_rel_err,pred_error"

const (
	logHeaderLosses = "epoch,train_loss,val_loss,test_loss,model_loss"
	logHeaderHealth = logHeaderLosses + ",unconverged,indefinite,nonfinite,on_bound"
)

// ErrBadLog is wrapped by every error ReadLog returns about the content of
// a log file.
var ErrBadLog = errors.New("bad training log")

// formatFloat writes v so that parsing it gives v back exactly; NaN is the
// empty field.
func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// formatLoss writes an imitation loss like formatFloat, but a NaN, the
// loss of a run that diverged, as "NaN": the three loss columns are never
// empty.
func formatLoss(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// String formats r's epoch and four losses, the first five fields of a
// log line. Numbers are written in the shortest form that reads back
// exactly.
func (r Row) String() string {
	return fmt.Sprintf("%d,%s,%s,%s,%s", r.Epoch, formatLoss(r.Train), formatLoss(r.Val),
		formatLoss(r.Test), formatFloat(r.Model))
}

// encodeLog returns the log file content for rows.
func encodeLog(rows []Row) []byte {
	var b bytes.Buffer
	b.WriteString(LogHeader + "\n")
	for _, r := range rows {
		h := r.Health
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s\n", r.String(), formatFloat(h.Unconverged), formatFloat(h.Indefinite),
			formatFloat(h.NonFinite), formatFloat(h.OnBound), formatFloat(r.Ident), formatFloat(r.Pred))
	}
	return b.Bytes()
}

// ReadLog reads a training log written by Run (CSV with the header
// LogHeader, or the five loss columns of older logs, one row per epoch
// from 0, consecutive). Errors about the content wrap ErrBadLog and name
// the line.
func ReadLog(path string) ([]Row, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: reading log: %w", err)
	}
	rows, err := parseLog(bytes.NewReader(data))
	if err == nil && len(data) > 0 && data[len(data)-1] != '\n' {
		// Run ends every line with a newline: the file was cut short, and
		// its last row, though it may parse, is not the one written.
		err = fmt.Errorf("%w: line %d: truncated (the file does not end with a newline)", ErrBadLog, bytes.Count(data, []byte("\n"))+1)
	}
	if err != nil {
		return nil, fmt.Errorf("train: log %s: %w", path, err)
	}
	return rows, nil
}

func parseLog(r io.Reader) ([]Row, error) {
	sc := bufio.NewScanner(r)
	line := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: line %d: "+format, append([]any{ErrBadLog, line}, args...)...)
	}
	var rows []Row
	var names []string // the header's column names
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			if text != LogHeader && text != logHeaderHealth && text != logHeaderLosses {
				return nil, bad("header %q, want %q", text, LogHeader)
			}
			names = strings.Split(text, ",")
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != len(names) {
			return nil, bad("%d fields, want %d", len(f), len(names))
		}
		var row Row
		ep, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, bad("epoch %q is not an integer", f[0])
		}
		if ep != len(rows) {
			return nil, bad("epoch %d, want %d (rows must be consecutive from 0)", ep, len(rows))
		}
		row.Epoch = ep
		h := &row.Health
		h.Unconverged, h.Indefinite, h.NonFinite, h.OnBound = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		row.Ident, row.Pred = math.NaN(), math.NaN()
		dsts := []*float64{&row.Train, &row.Val, &row.Test, &row.Model, &h.Unconverged, &h.Indefinite, &h.NonFinite, &h.OnBound,
			&row.Ident, &row.Pred}
		for i := 1; i < len(f); i++ {
			dst := dsts[i-1]
			if f[i] == "" {
				if i <= 3 {
					return nil, bad("empty %s", names[i])
				}
				*dst = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, bad("%s %q is not a number", names[i], f[i])
			}
			*dst = v
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadLog, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%w: empty file (no header)", ErrBadLog)
	}
	return rows, nil
}

// sameRow reports whether a and b are equal, bit for bit (NaN equal to
// NaN).
func sameRow(a, b Row) bool {
	eq := func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y))
	}
	ha, hb := a.Health, b.Health
	return a.Epoch == b.Epoch && eq(a.Train, b.Train) && eq(a.Val, b.Val) && eq(a.Test, b.Test) && eq(a.Model, b.Model) &&
		eq(ha.Unconverged, hb.Unconverged) && eq(ha.Indefinite, hb.Indefinite) && eq(ha.NonFinite, hb.NonFinite) &&
		eq(ha.OnBound, hb.OnBound) && eq(a.Ident, b.Ident) && eq(a.Pred, b.Pred)
}
