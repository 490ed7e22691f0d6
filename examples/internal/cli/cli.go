// Package cli holds what the example commands share around their work:
// reading the command line, stopping on an interrupt, reporting a failure
// with the command's name and exit status, and writing output files whole.
//
// Exit statuses: 2 for a command line the program cannot use (ExitUsage),
// 1 for a run that failed (ExitFailure).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses of the commands.
const (
	ExitFailure = 1
	ExitUsage   = 2
)

// Command is a program's name, as it starts its messages on standard
// error: "imitation: unexpected arguments [x]".
type Command string

// Fail writes "name: err" to standard error and exits with status code.
func (c Command) Fail(code int, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", c, err)
	os.Exit(code)
}

// Parse parses the command line's flags (flag.Parse) and exits with
// ExitUsage if arguments follow them: no example takes any.
func (c Command) Parse() {
	flag.Parse()
	if flag.NArg() > 0 {
		c.Fail(ExitUsage, fmt.Errorf("unexpected arguments %v", flag.Args()))
	}
}

// Check exits with ExitFailure, reporting err, if err is not nil.
func (c Command) Check(err error) {
	if err != nil {
		c.Fail(ExitFailure, err)
	}
}

// A Hint is a line that follows the report of an error wrapping Err: what
// to do about it ("interrupted; run again with the same flags to resume").
type Hint struct {
	Err  error
	Text string
}

// RunInterruptible calls run with a context that an interrupt (Ctrl-C) or
// SIGTERM cancels, so that a long run can stop cleanly (and be resumed).
// If run fails, it reports the error, then the Text of each hint whose
// Err the error wraps, and exits with ExitFailure.
func (c Command) RunInterruptible(run func(ctx context.Context) error, hints ...Hint) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", c, err)
	for _, h := range hints {
		if errors.Is(err, h.Err) {
			fmt.Fprintf(os.Stderr, "%s: %s\n", c, h.Text)
		}
	}
	os.Exit(ExitFailure)
}
