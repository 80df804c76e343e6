// Command keyjob runs safe bulk-maintenance jobs on Redis: a declarative
// job file, a read-only plan reviewed in a pull request, and a supervised,
// resumable run.
//
// This package is the command line only: each command's action builds an
// options struct from its flags and calls a function that takes a context
// and an io.Writer. Flags never leak below it; nothing imports it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/internal/redisx"
)

// Set by the linker: -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without os.Exit, so the exit codes are testable.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signals()
	defer stop()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, interspersed(app, args))
	code := exitCode(err, ctx)
	if err != nil {
		fmt.Fprintf(stderr, "keyjob: %v\n", err)
		printErrorSteps(stderr, err)
	}
	return code
}

// signals cancels the context on the first SIGINT or SIGTERM, remembering
// which, so the run can finish its batch and checkpoint; a second signal
// stops at once.
func signals() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		cancel(interrupted{sig})
		if _, ok := <-ch; ok {
			fmt.Fprintln(os.Stderr, "keyjob: second signal: stopping at once")
			os.Exit(exitForSignal(sig))
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel(nil) }
}

type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

func exitForSignal(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return 143
	}
	return 130
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "keyjob",
		Usage:     "safe bulk-maintenance jobs on Redis: plan, apply, undo",
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, by run, with the exit code they carry.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError(err)
		},
		// Without an app action an unknown command falls to the help
		// command, whose "No help topic" error would exit 1, not 4.
		Action: func(c *cli.Context) error {
			switch {
			case c.NArg() == 0:
				return cli.ShowAppHelp(c)
			case c.Args().First() == "help" && c.NArg() > 1:
				return usageError(cli.ShowCommandHelp(c, c.Args().Get(1)))
			case c.Args().First() == "help":
				return cli.ShowAppHelp(c)
			}
			return usageError(fmt.Errorf("unknown command %q: see keyjob --help", c.Args().First()))
		},
		Commands: []*cli.Command{
			validateCommand(),
			planCommand(),
			applyCommand(),
			undoCommand(),
			statusCommand(),
			surveyCommand(),
			schemaCommand(),
			demoCommand(),
			versionCommand(),
		},
	}
	// A command's own flags are parsed by the command, which does not
	// inherit the app's OnUsageError: without this, `plan --colour` or
	// `plan --sample many` would exit 1 instead of 4.
	addExamples(app.Commands)
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = app.OnUsageError
		}
	}
	return app
}

// Exit codes (docs/cli.md).
const (
	exitOK        = 0
	exitError     = 1
	exitChanges   = 2
	exitGuard     = 3
	exitUsage     = 4
	exitInterrupt = 130
)

// codedError carries the exit code of an error.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

func usageError(err error) error { return withCode(exitUsage, err) }

func exitCode(err error, ctx context.Context) int {
	if err == nil {
		return exitOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	// A --redis URL, TLS flag or job db that cannot work is the user's
	// argument, whichever command dialed.
	if errors.Is(err, redisx.ErrBadOptions) {
		return exitUsage
	}
	var sig interrupted
	if errors.As(context.Cause(ctx), &sig) {
		return exitForSignal(sig.sig)
	}
	return exitError
}
