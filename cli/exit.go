package cli

import (
	"errors"
)

// Exit codes, for scripts and CI steps.
const (
	// ExitDone: the command did what it was asked (a purge with --wait:
	// every layer purged and warmed).
	ExitDone = 0
	// ExitFailed: it ran and failed (a batch failed, a server or network
	// error, an invalid config).
	ExitFailed = 1
	// ExitUsage: it was asked wrongly or without the right token: unknown
	// flag or command, missing argument, nothing to purge, a 400, 401 or
	// 403 from the server.
	ExitUsage = 2
)

// exitError carries the exit code an error should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usage marks err as a usage or authorisation error (exit 2).
func usage(err error) error { return &exitError{code: ExitUsage, err: err} }

// exitCode is the exit code for an error returned by a command that ran;
// started says whether the command's own code ran (errors before it, from
// parsing flags and arguments, are usage errors).
func exitCode(err error, started bool) int {
	if err == nil {
		return ExitDone
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if !started {
		return ExitUsage
	}
	return ExitFailed
}
