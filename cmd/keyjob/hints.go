package main

// Next steps printed to the operator (resume, undo, --restart, the flag a
// refusal asks for) are whole command lines that run as printed: they
// carry every flag of this invocation that matters, quoted for a POSIX
// shell, and never a password (docs/cli.md, "Next steps").

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// urlEnv is the variable a hint names instead of a URL with a password.
const urlEnv = "REDIS_URL"

// passwordNote is printed under hints that read the URL from $REDIS_URL.
const passwordNote = "(the URL has a password, so these read it from $REDIS_URL: set REDIS_URL to the server's URL first; keyjob never prints a password)"

// hintFlags are the flags of this invocation worth carrying into a next
// step, in the order they were defined; secret says the URL had a
// password and is printed as "$REDIS_URL".
type hintFlags struct {
	args   []string
	secret bool
}

// notCarried are flags a resume, restart or start never repeats: the
// step says its own --resume or --restart, and a --limit canary is not
// what a resume wants.
var notCarried = map[string]bool{"resume": true, "restart": true, "limit": true}

// stateFlags are the flags that say how a run meets its checkpoint.
var stateFlags = map[string]bool{"resume": true, "restart": true}

// invocationFlags reads the flags c was given (on the command line or
// from the environment) among those of the command, only those keep
// accepts when keep is not nil.
func invocationFlags(c *cli.Context, keep func(name string) bool) hintFlags {
	var h hintFlags
	if c == nil || c.Command == nil {
		return h
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if (keep != nil && !keep(name)) || !c.IsSet(name) {
			continue
		}
		switch v := c.Value(name).(type) {
		case bool:
			if v {
				h.args = append(h.args, "--"+name)
			}
		case time.Duration:
			h.args = append(h.args, "--"+name, v.String())
		case string:
			if v == "" {
				continue // $REDIS_URL set but empty: the default
			}
			if name == "redis" {
				if hasPassword(v) {
					h.args = append(h.args, "--redis", `"$`+urlEnv+`"`)
					h.secret = true
					continue
				}
			}
			h.args = append(h.args, "--"+name, shellQuote(v))
		default:
			h.args = append(h.args, "--"+name, shellQuote(fmt.Sprint(v)))
		}
	}
	return h
}

// command is "keyjob CMD FLAGS... MORE... ARGS..." with ARGS quoted; more
// is flags given as they are (already safe).
func (h hintFlags) command(cmd string, more []string, args ...string) string {
	parts := append([]string{"keyjob", cmd}, h.args...)
	parts = append(parts, more...)
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// hasPassword says whether a --redis URL carries a secret: a password in
// its user info or as a query parameter.
func hasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		// Not printable safely: treat it as secret.
		return true
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	return u.Query().Has("password")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// step is a next step: what it does and the command that does it.
type step struct {
	what, command string
	secret        bool
}

// applyStep is the apply command line of this invocation (c; nil when
// the run was not started by apply's flags, as in the demo) with more
// flags and the job file. A step that says how to meet the checkpoint
// (more has --resume or --restart, or is empty: start afresh) drops
// --resume, --restart and --limit; any other (--yes,
// --allow-looser-guards...) repeats the invocation with more added.
func applyStep(c *cli.Context, job, what string, more ...string) step {
	var keep func(string) bool
	if len(more) == 0 || slices.ContainsFunc(more, func(f string) bool { return stateFlags[strings.TrimPrefix(f, "--")] }) {
		keep = func(name string) bool { return !notCarried[name] }
	}
	h := invocationFlags(c, keep)
	return step{what: what, command: h.command("apply", more, job), secret: h.secret}
}

// undoStep is the undo command line of a run's journal: the connection
// and display flags of this invocation that undo also takes.
func undoStep(c *cli.Context, journal string) step {
	undo := map[string]bool{}
	for _, f := range undoCommand().Flags {
		undo[f.Names()[0]] = true
	}
	h := invocationFlags(c, func(name string) bool {
		// apply's --allow-other-target is about a plan, undo's about the
		// journal's server; the state dir is the journal's path.
		return undo[name] && name != "allow-other-target" && name != "state-dir"
	})
	return step{what: "undo", command: h.command("undo", nil, journal), secret: h.secret}
}

// printSteps writes each step as "what: command", aligned, and the note
// on $REDIS_URL when one of them needs it.
func printSteps(w io.Writer, steps ...step) {
	width, secret := 0, false
	for _, s := range steps {
		width = max(width, len(s.what))
		secret = secret || s.secret
	}
	for _, s := range steps {
		fmt.Fprintf(w, "%-*s %s\n", width+1, s.what+":", s.command)
	}
	if secret {
		fmt.Fprintln(w, passwordNote)
	}
}

// hintedError is an error with next steps, printed under it.
type hintedError struct {
	err   error
	steps []step
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

// withSteps adds next steps to err, keeping its exit code.
func withSteps(err error, steps ...step) error {
	if err == nil || len(steps) == 0 {
		return err
	}
	return &hintedError{err: err, steps: steps}
}

// printErrorSteps prints the next steps an error carries.
func printErrorSteps(w io.Writer, err error) {
	var h *hintedError
	if errors.As(err, &h) {
		printSteps(w, h.steps...)
	}
}
