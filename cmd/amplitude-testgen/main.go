// Command amplitude-testgen generates the standard Amplitude test dataset,
// sends and exports it, predicts the $identify events PostHog's batch import
// must produce, and verifies what PostHog produced.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the work failed (a mismatch, a rejected event, a server error)
	exitUsage = 2 // bad usage or bad input
)

// env is what a command may touch of the outside world, injected so tests
// run the real code in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
}

// command is one subcommand.
type command struct {
	summary string
	run     func(e *env, args []string) error
}

// commands is the table of subcommands; each lives in its own file.
var commands = map[string]command{
	"generate":     {"generate the standard dataset (and send it when AMPLITUDE_API_KEY is set)", runGenerate},
	"expect":       {"predict the $identify events PostHog must produce for Amplitude events", runExpect},
	"send":         {"send a dataset file to Amplitude", runSend},
	"fetch-export": {"download an Amplitude export and predict its $identify events", runFetchExport},
	"verify":       {"compare what PostHog produced with the prediction", runVerify},
}

// exitError carries an exit code with an error message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports bad usage or bad input: exit 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// failErrorf reports work that failed: exit 1.
func failErrorf(format string, args ...any) error {
	return &exitError{exitFail, fmt.Errorf(format, args...)}
}

// errSilent is returned by a command that already printed why it failed.
var errSilent = errors.New("")

func main() {
	os.Exit(run(os.Args[1:], realEnv()))
}

// run executes one command line and returns the exit code.
func run(args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage(e.stdout)
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "amplitude-testgen: unknown command %q; run 'amplitude-testgen --help' for the list\n", name)
		return exitUsage
	}
	err := cmd.run(e, args[1:])
	if err == nil {
		return exitOK
	}
	code := exitFail
	var xe *exitError
	if errors.As(err, &xe) {
		code = xe.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(e.stderr, "amplitude-testgen %s: %s\n", name, msg)
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: amplitude-testgen <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'amplitude-testgen <command> --help' for a command's flags.")
}
