package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/guard"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

func guardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "disk-path", Usage: "a `DIR` on the disk where Redis keeps its AOF/RDB, for the disk guard (statfs)"},
		&cli.StringFlag{Name: "disk-free-command", Usage: "a shell `CMD` that prints the free bytes of Redis's data disk (KEYJOB_NODE=host:port is set)"},
		&cli.BoolFlag{Name: "from-high-memory", Usage: "run on a server already above the memory pause level, with levels relative to the start"},
		&cli.BoolFlag{Name: "from-high-latency", Usage: "run on a server whose latency is already above the pause level, pausing at twice the start's figure"},
		&cli.DurationFlag{Name: "max-pause", Value: guard.DefaultMaxPause, Usage: "end the run (with its checkpoint, exit 3) when the guards keep it paused longer than `DURATION`; 0 waits as long as it takes"},
		&cli.BoolFlag{Name: "allow-looser-guards", Usage: "accept guard levels in the job file looser than the defaults"},
		&cli.BoolFlag{Name: "unguarded", Usage: "turn the guards off (benchmarks only; refused unless the target is a loopback address)"},
	}
}

type guardOptions struct {
	DiskPath, DiskCommand string
	FromHighMemory        bool
	FromHighLatency       bool
	AllowLooser           bool
	Unguarded             bool
	// MaxDown is --node-down-timeout: the guards wait as long as the walk
	// for a node that does not answer before they abort. 0: the default.
	MaxDown time.Duration
	// MaxPause is --max-pause; 0 waits as long as it takes.
	MaxPause time.Duration
}

func guardOptionsFrom(c *cli.Context) (guardOptions, error) {
	o := guardOptions{
		DiskPath: c.String("disk-path"), DiskCommand: c.String("disk-free-command"),
		FromHighMemory: c.Bool("from-high-memory"), FromHighLatency: c.Bool("from-high-latency"),
		AllowLooser: c.Bool("allow-looser-guards"), Unguarded: c.Bool("unguarded"),
		MaxDown: c.Duration("node-down-timeout"), MaxPause: c.Duration("max-pause"),
	}
	if o.DiskPath != "" && o.DiskCommand != "" {
		return o, usageError(errors.New("--disk-path and --disk-free-command exclude each other"))
	}
	if o.MaxPause < 0 {
		return o, usageError(fmt.Errorf("--max-pause %s: want a duration, or 0 to wait as long as it takes", o.MaxPause))
	}
	return o, nil
}

func (o guardOptions) start(log *slog.Logger) guard.StartOptions {
	s := guard.StartOptions{
		Options: guard.Options{FromHighMemory: o.FromHighMemory, FromHighLatency: o.FromHighLatency, AllowLooserGuards: o.AllowLooser},
		MaxDown: o.MaxDown, MaxPause: o.MaxPause, Log: log,
	}
	if o.MaxPause == 0 {
		s.MaxPause = -1 // the flag's 0: no limit
	}
	s.Probe = o.diskProbe()
	return s
}

// diskProbe is --disk-path or --disk-free-command; nil without either.
func (o guardOptions) diskProbe() guard.DiskProbe {
	switch {
	case o.DiskPath != "":
		return guard.PathProbe(o.DiskPath)
	case o.DiskCommand != "":
		return guard.CommandProbe(o.DiskCommand)
	}
	return nil
}

// startGuards starts the guards (guard.Start) and maps their refusals to
// exit codes; nil with --unguarded.
func startGuards(ctx context.Context, conn *redisx.Conn, job *jobs.Job, o guardOptions, log *slog.Logger) (*guard.Gate, error) {
	if o.Unguarded {
		if err := guard.CheckUnguarded(conn.Addr); err != nil {
			return nil, usageError(err)
		}
		return nil, nil
	}
	g, err := guard.Start(ctx, conn, job, o.start(log))
	return g, guardExit(err)
}

// guardExit maps the guards' refusals to exit codes: a looser level is
// the operator's argument error (4), a server already past a level or a
// disk too small is a guard's refusal (3).
func guardExit(err error) error {
	var looser *guard.ErrLooser
	var high *guard.ErrHighMemory
	var slow *guard.ErrHighLatency
	var disk *guard.ErrDiskShort
	switch {
	case err == nil:
		return nil
	case errors.As(err, &looser):
		return usageError(err)
	case errors.As(err, &high), errors.As(err, &slow), errors.As(err, &disk):
		return withCode(exitGuard, err)
	}
	return err
}

// blindGuards says which guards cannot be evaluated, before the run.
func blindGuards(w io.Writer, g *guard.Gate) {
	if g == nil {
		fmt.Fprintln(w, "guards: OFF (--unguarded)")
		return
	}
	if blind := g.Blind(); len(blind) > 0 {
		fmt.Fprintf(w, "guards that cannot be evaluated: %s\n", strings.Join(blind, ", "))
	}
}

// guardSteps adds to a guard's refusal the command that accepts it, where
// a flag does: --allow-looser-guards, --from-high-memory,
// --from-high-latency.
func guardSteps(err error, o applyOptions, job *jobs.Job) error {
	var looser *guard.ErrLooser
	var high *guard.ErrHighMemory
	var slow *guard.ErrHighLatency
	switch {
	case errors.As(err, &looser) && !o.Guards.AllowLooser:
		return withSteps(err, applyStep(o.Invocation, job.Path, "to accept the looser levels", "--allow-looser-guards"))
	case errors.As(err, &high) && !o.Guards.FromHighMemory:
		return withSteps(err, applyStep(o.Invocation, job.Path, "to run from here", "--from-high-memory"))
	case errors.As(err, &slow) && !o.Guards.FromHighLatency:
		return withSteps(err, applyStep(o.Invocation, job.Path, "to run from here", "--from-high-latency"))
	}
	return err
}
