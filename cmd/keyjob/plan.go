package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/words"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "the dry run: read the server, change nothing, print the report",
		ArgsUsage: "JOB",
		Flags: append(connFlags(),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text, markdown or json"},
			&cli.StringFlag{Name: "out", Usage: "write the report to `FILE` instead of stdout"},
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when nothing changes, 2 when changes are planned, 1 on error"},
			&cli.Int64Flag{Name: "sample", Usage: "estimate from the first `N` matching keys instead of a full scan"},
			&cli.StringFlag{Name: "scan-rate", Usage: "keys scanned per second, `N` or unlimited (overrides limits.scan_rate)"},
			shardsFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError(errors.New("plan takes one job file: keyjob plan JOB.yaml"))
			}
			job, err := loadJob(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			scanRate, err := rateFlag(c, "scan-rate")
			if err != nil {
				return err
			}
			shards, err := shardsAtOnce(c)
			if err != nil {
				return err
			}
			if n := c.Int64("sample"); n < 0 {
				return usageError(fmt.Errorf("--sample %d: want a number of keys above 0", n))
			}
			o := planOptions{
				Conn: connOptions(c, job), Format: c.String("format"), Out: c.String("out"),
				Detailed: c.Bool("detailed-exitcode"),
				Planner:  planner.Options{Sample: c.Int64("sample"), ScanRate: scanRate, ShardsAtOnce: shards},
			}
			return plan(c.Context, c.App.Writer, job, o)
		},
	}
}

type planOptions struct {
	Conn     redisx.Options
	Format   string
	Out      string
	Detailed bool
	Planner  planner.Options
}

func plan(ctx context.Context, stdout io.Writer, job *jobs.Job, o planOptions) error {
	switch o.Format {
	case "text", "markdown", "json":
	default:
		return usageError(fmt.Errorf("--format %q: want text, markdown or json", o.Format))
	}
	conn, err := redisx.Dial(ctx, o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, err := planner.Build(ctx, conn, job, o.Planner)
	if err != nil {
		return fmt.Errorf("plan %s: %w", job.Name, err)
	}
	if err := writeReport(stdout, o.Out, func(w io.Writer) error { return planner.Render(w, p, o.Format) }); err != nil {
		return err
	}
	if len(p.Errors) > 0 {
		// The messages too, not only their codes: a plan in JSON on
		// stdout is read by a machine, the operator reads stderr.
		msgs := make([]string, len(p.Errors))
		for i, e := range p.Errors {
			msgs[i] = e.Code + ": " + words.Plain(e.Message, "")
		}
		return fmt.Errorf("the plan has errors, apply would refuse this job: %s", strings.Join(msgs, "; "))
	}
	if o.Detailed && p.Outcomes.Change > 0 {
		return withCode(exitChanges, fmt.Errorf("%d changes planned", p.Outcomes.Change))
	}
	return nil
}

// writeReport renders to --out when given, else to stdout. A regular
// file is written to a temporary file beside it and renamed, so a failed
// render leaves no half report behind; anything else (/dev/stdout, a
// pipe, a device) is written in place: renaming over it would replace
// it with a file.
func writeReport(stdout io.Writer, out string, render func(io.Writer) error) error {
	if out == "" || out == "-" {
		return render(stdout)
	}
	if fi, err := os.Stat(out); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if err := render(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	if err := render(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}
