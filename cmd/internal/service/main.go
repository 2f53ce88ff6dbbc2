package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Program is one binary's Main as Main drives it, in the shape every
// OrderFlow binary shares: NewMain takes the process's outputs and
// environment; Run parses the settings (ParseFlags), wires the
// dependencies, runs the command until ctx ends and releases what it
// opened (Close). Tests drive a binary in-process the same way.
type Program interface {
	// Run returns once the command is done, or once ctx ended and the work
	// drained; flag.ErrHelp after --help printed the usage.
	Run(ctx context.Context, args []string) error
}

// NewMainFunc builds a binary's Program; lookupEnv is usually os.LookupEnv.
type NewMainFunc[P Program] func(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) P

// Main runs a binary as its process does and exits with Execute's code:
// SIGINT and SIGTERM end the context Run gets, so the program drains
// before it exits.
func Main[P Program](newMain NewMainFunc[P]) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Execute(ctx, newMain, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// Execute answers `probe URL` itself (every binary can be its own
// container healthcheck), and otherwise runs and closes the program built
// by newMain. It returns the process exit code: 0 on success and for
// --help, 1 after printing the error, 2 for a malformed probe.
func Execute[P Program](ctx context.Context, newMain NewMainFunc[P], args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if code, ok := RunProbe(ctx, args, stderr); ok {
		return code
	}
	return ExitCode(newMain(stdout, stderr, lookupEnv).Run(ctx, args), stderr)
}

// ExitCode maps a command's error to a process exit code and reports it;
// --help is a success.
func ExitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
}
