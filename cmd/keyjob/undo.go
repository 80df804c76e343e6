package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/internal/redisx"
)

func undoCommand() *cli.Command {
	return &cli.Command{
		Name:      "undo",
		Usage:     "put back what a run changed, from its journal (newest first)",
		ArgsUsage: "JOURNAL",
		Flags: append(connFlags(), append(runFlags(),
			&cli.BoolFlag{Name: "replace", Usage: "let RESTORE overwrite a key that exists now"},
			&cli.BoolFlag{Name: "allow-other-target", Usage: "undo against another server than the journal's"},
			&cli.BoolFlag{Name: "partial", Usage: "undo the intact records of a damaged or cut journal, knowingly (the damaged ones' keys stay as they are)"},
		)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError(errors.New("undo takes one journal: keyjob undo .keyjob/JOB/RUN.journal"))
			}
			prog, err := progressMode(c)
			if err != nil {
				return err
			}
			if err := checkStatusAddr(c.String("status-addr")); err != nil {
				return err
			}
			o := undoOptions{
				Conn: connOptions(c, nil), Journal: c.Args().First(), Yes: c.Bool("yes"),
				Progress: prog, LogFormat: c.String("log-format"), StatusAddr: c.String("status-addr"),
				Undo:       apply.UndoOptions{Replace: c.Bool("replace"), AllowOtherTarget: c.Bool("allow-other-target"), Partial: c.Bool("partial")},
				Invocation: c,
			}
			return runUndo(c.Context, c.App.Writer, c.App.ErrWriter, o)
		},
	}
}

type undoOptions struct {
	Conn      redisx.Options
	Journal   string
	Yes       bool
	Progress  string
	LogFormat string
	Undo      apply.UndoOptions
	// Invocation is the command line, for the next steps a refusal
	// prints.
	Invocation *cli.Context
	// StatusAddr is --status-addr.
	StatusAddr string
}

// again is this undo's command line with more flags.
func (o undoOptions) again(what string, more ...string) step {
	h := invocationFlags(o.Invocation, nil)
	return step{what: what, command: h.command("undo", more, o.Journal), secret: h.secret}
}

func runUndo(ctx context.Context, stdout, stderr io.Writer, o undoOptions) error {
	check, err := apply.CheckJournal(o.Journal)
	if err != nil {
		return usageError(err)
	}
	h := check.Header
	fmt.Fprintf(stdout, "Undo run %s of %s: %s.\n", h.RunID, h.Job, check.Describe())
	if len(check.Problems) > 0 && !o.Undo.Partial {
		return withSteps(fmt.Errorf("%w: nothing was changed; --partial undoes the %s intact records knowingly (the keys of the damaged ones stay as they are)",
			apply.ErrJournalNotWhole, humanize.Comma(check.Integrity.Records)), o.again("knowingly", "--partial"))
	}
	conn, err := redisx.Dial(ctx, o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(stdout, "On %s: %s records%s: %s changes to put back newest first (%s with a DUMP payload), %s the server did not make (EXPIRE NX found a TTL; with their %s markers).\n",
		conn.Target(), humanize.Comma(check.Stats.Records), partialNote(check), humanize.Comma(check.ToUndo()), humanize.Comma(check.Stats.Dumps),
		humanize.Comma(check.Unchanged), humanize.Comma(check.Unchanged))
	fmt.Fprintf(stdout, "Each key gets its previous expiry back only where its expiry is still the one keyjob set; dumped keys that do not exist now are RESTOREd%s.\n", map[bool]string{true: " (existing keys replaced: --replace)", false: ""}[o.Undo.Replace])
	if !o.Yes {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return withSteps(usageError(errors.New("no terminal to confirm on: pass --yes to run without confirmation")), o.again("to run without confirmation", "--yes"))
		}
		fmt.Fprintf(stdout, "\nType the job's name (%s) to go ahead: ", h.Job)
		var line string
		fmt.Fscanln(os.Stdin, &line)
		if line != h.Job {
			return usageError(errors.New("not confirmed: nothing was changed"))
		}
	}
	live, err := startStatus(stdout, o.StatusAddr, statusDoc{Command: "undo", Job: h.Job, Target: conn.Target(), Mode: conn.Mode(), RunID: h.RunID})
	if err != nil {
		return err
	}
	defer live.Close()
	ui := newProgress(ctx, o.Progress, stderr, o.LogFormat, "keyjob undo "+o.Journal, nil)
	o.Undo.Logger = ui.log
	observe := live.Observe(ui.Update)
	o.Undo.Observe = func(p apply.UndoProgress) {
		observe(apply.Progress{Scanned: p.Done, Expected: p.Total, Changed: p.Done})
	}
	rep, err := apply.Undo(ctx, conn, o.Journal, o.Undo)
	live.Finish()
	ui.Finish()
	if errors.Is(err, apply.ErrJournalOtherTarget) {
		err = withSteps(err, o.again("if that was on purpose", "--allow-other-target"))
	}
	if rep != nil {
		fmt.Fprintf(stdout, "records %s: %s changes put back or checked: restored expiry %s, recreated %s, left alone (changed since) %s, existing not overwritten %s, gone without a dump %s, expired meanwhile %s; %s the server did not make\n",
			humanize.Comma(rep.Records), humanize.Comma(rep.Undone()), humanize.Comma(rep.Restored), humanize.Comma(rep.Recreated), humanize.Comma(rep.LeftAlone),
			humanize.Comma(rep.Exists), humanize.Comma(rep.Missing), humanize.Comma(rep.Expired), humanize.Comma(rep.Unapplied))
		if rep.Partial {
			fmt.Fprintf(stdout, "PARTIAL UNDO (--partial): only the journal's intact records were undone; the keys of the damaged ones were left as they are (%s)\n", strings.Join(rep.Damage, "; "))
		}
	}
	return err
}

// partialNote says, in the header, that the records are only the intact
// ones.
func partialNote(c *apply.JournalCheck) string {
	if len(c.Problems) == 0 {
		return ""
	}
	return " intact (--partial)"
}
