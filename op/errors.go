package op

import (
	"fmt"
	"math"

	"github.com/dilqr/dilqr/op/ilqr"
)

// ErrBadInput is wrapped by every error about the caller's data, here and
// in package ilqr (it is the same value as ilqr.ErrBadInput).
var ErrBadInput = ilqr.ErrBadInput

// badInput formats an error about the caller's data: "op: bad input: …".
func badInput(format string, args ...any) error {
	return fmt.Errorf("op: %w: "+format, append([]any{ErrBadInput}, args...)...)
}

// recoverInto turns a panic from code called by an Op method into an
// error: a panic inside an Op would kill the user's process.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("op: internal error: %v", r)
	}
}

// Cause returns the error an Op returned from inside a Gorgonia VM, peeling
// off the VM's contextual wrapper (which has no Unwrap) and any
// github.com/pkg/errors layers; an error with neither is returned as is.
func Cause(err error) error {
	for err != nil {
		var next error
		switch c := err.(type) {
		case interface{ Err() error }: // the VMs' contextual errors
			next = c.Err()
		case interface{ Cause() error }: // errors wrapped by github.com/pkg/errors
			next = c.Cause()
		}
		if next == nil || next == err {
			return err
		}
		err = next
	}
	return err
}

// allFinite reports whether no entry of v is NaN or ±Inf.
func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
