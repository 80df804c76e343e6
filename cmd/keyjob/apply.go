package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// summarySample is how many matching keys the confirmation summary reads
// when no reviewed plan is given: never a silent full pre-scan.
const summarySample = 10000

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "run the job: SCAN batches, rate-limited, guarded, resumable, journaled",
		ArgsUsage: "JOB",
		Flags: concat(connFlags(), runFlags(), guardFlags(), []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "bind the run to a reviewed plan (`PLAN.json` from plan --format json)"},
			&cli.BoolFlag{Name: "allow-other-target", Usage: "accept a --plan made against another server (a replica, say)"},
			&cli.StringFlag{Name: "rate", Usage: "changes per second, `N` or unlimited (overrides limits.rate)"},
			&cli.StringFlag{Name: "scan-rate", Usage: "keys scanned per second, `N` or unlimited (overrides limits.scan_rate)"},
			&cli.Int64Flag{Name: "limit", Usage: "stop after `N` changes in this invocation (a canary); resumable"},
			&cli.BoolFlag{Name: "resume", Usage: "continue from the checkpoint"},
			&cli.BoolFlag{Name: "restart", Usage: "discard the checkpoint and start again"},
			resumeIfCheckpointFlag(),
			&cli.StringFlag{Name: "pause-file", Usage: "while `PATH` exists the run waits"},
			&cli.DurationFlag{Name: "node-down-timeout", Value: apply.DefaultMaxDown, Usage: "how long a primary may not answer (a restart, a failover) before the run aborts with its checkpoint"},
			shardsFlag(),
		}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError(errors.New("apply takes one job file: keyjob apply JOB.yaml"))
			}
			if c.Bool("resume") && c.Bool("restart") {
				return usageError(errors.New("--resume and --restart exclude each other"))
			}
			job, err := loadJob(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			o, err := applyOptionsFrom(c, job)
			if err != nil {
				return err
			}
			var done bool // --resume-if-checkpoint: the run completed
			if o.Run.Resume, done, err = resumeIfCheckpoint(c, job); err != nil || done {
				return err
			}
			return runApply(c.Context, c.App.Writer, c.App.ErrWriter, job, o)
		},
	}
}

// runFlags are the flags apply and undo share: confirmation, state and
// display.
func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation (needed without a terminal)"},
		&cli.StringFlag{Name: "state-dir", Value: ".keyjob", Usage: "`DIR` for checkpoints, journals and reports"},
		&cli.StringFlag{Name: "progress", Value: "auto", Usage: "auto, bar, log or none"},
		&cli.BoolFlag{Name: "no-progress", Usage: "same as --progress log"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		statusAddrFlag(),
	}
}

type applyOptions struct {
	Conn             redisx.Options
	Run              apply.Options
	PlanFile         string
	AllowOtherTarget bool
	Yes              bool
	Progress         string
	LogFormat        string
	PauseFile        string
	Stdin            *os.File
	Guards           guardOptions
	// Invocation is the command line the run was started with, for the
	// next steps it prints; nil in the demo.
	Invocation *cli.Context
	// QuietSummary skips printing the summary (the demo has just shown
	// the plan); it is still computed and checked.
	QuietSummary bool
	StatusAddr   string // --status-addr
}

func applyOptionsFrom(c *cli.Context, job *jobs.Job) (applyOptions, error) {
	r, err := rateFlag(c, "rate")
	if err != nil {
		return applyOptions{}, err
	}
	sr, err := rateFlag(c, "scan-rate")
	if err != nil {
		return applyOptions{}, err
	}
	prog, err := progressMode(c)
	if err != nil {
		return applyOptions{}, err
	}
	g, err := guardOptionsFrom(c)
	if err != nil {
		return applyOptions{}, err
	}
	shards, err := shardsAtOnce(c)
	if err != nil {
		return applyOptions{}, err
	}
	if f := c.String("log-format"); f != "text" && f != "json" {
		return applyOptions{}, usageError(fmt.Errorf("--log-format %q: want text or json", f))
	}
	if err := checkStatusAddr(c.String("status-addr")); err != nil {
		return applyOptions{}, err
	}
	return applyOptions{
		Conn: connOptions(c, job),
		Run: apply.Options{
			StateDir: c.String("state-dir"), Rate: r, ScanRate: sr, Limit: c.Int64("limit"),
			Resume: c.Bool("resume"), Restart: c.Bool("restart"), MaxDown: c.Duration("node-down-timeout"),
			ShardsAtOnce: shards,
			Control:      apply.NewControl(c.String("pause-file")),
		},
		PlanFile: c.String("plan"), AllowOtherTarget: c.Bool("allow-other-target"),
		Yes: c.Bool("yes"), Progress: prog, LogFormat: c.String("log-format"), Stdin: os.Stdin,
		Guards: g, Invocation: c, StatusAddr: c.String("status-addr"),
	}, nil
}

// progressMode resolves --progress and --no-progress; auto is a bar on a
// terminal and a log line every 10 s elsewhere.
func progressMode(c *cli.Context) (string, error) {
	mode := c.String("progress")
	if c.Bool("no-progress") {
		mode = "log"
	}
	switch mode {
	case "auto":
		if term.IsTerminal(int(os.Stderr.Fd())) {
			return "bar", nil
		}
		return "log", nil
	case "bar", "log", "none":
		return mode, nil
	}
	return "", usageError(fmt.Errorf("--progress %q: want auto, bar, log or none", mode))
}

func runApply(ctx context.Context, stdout, stderr io.Writer, job *jobs.Job, o applyOptions) error {
	conn, err := redisx.Dial(ctx, o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close()
	reviewed, err := bindPlan(o, job, conn, stderr)
	if errors.Is(err, planner.ErrOtherTarget) {
		return withSteps(err, applyStep(o.Invocation, job.Path, "if that was on purpose", "--allow-other-target"))
	}
	if err != nil {
		return err
	}
	run, err := apply.Prepare(ctx, conn, job, o.Run)
	if err != nil {
		return stateError(err, o, job)
	}
	// The guards start polling now, so the eviction rate before the first
	// change is measured while the summary is read and confirmed.
	guardCtx, stopGuards := context.WithCancel(ctx)
	defer stopGuards()
	// The guards log to stderr until the display starts, then above it.
	guardLog := &switchWriter{w: stderr}
	gate, err := startGuards(guardCtx, conn, job, o.Guards, newLogger(guardLog, o.LogFormat))
	if err != nil {
		return guardSteps(err, o, job)
	}
	live, err := startStatus(stdout, o.StatusAddr, statusDoc{Command: "apply", Job: job.Name, Target: conn.Target(), Mode: conn.Mode(),
		Checkpoint: run.CheckpointPath(), resumed: run.Resumed})
	if err != nil {
		return err
	}
	defer live.Close()
	live.SetGate(gate)
	var x apply.Exec // what Execute needs, made once the summary was read
	summary := reviewed
	if summary == nil && !run.Resumed {
		if summary, err = planner.Build(ctx, conn, job, planner.Options{Sample: summarySample, Rate: o.Run.Rate, ScanRate: o.Run.ScanRate, ShardsAtOnce: o.Run.ShardsAtOnce, DiskProbe: o.Guards.diskProbe()}); err != nil {
			return fmt.Errorf("summary: %w", err)
		}
	}
	if summary != nil {
		out := stdout
		if o.QuietSummary {
			out = io.Discard
		}
		if err := showSummary(out, summary, reviewed != nil); err != nil {
			return err
		}
		x.Expected = summary.Scanned
	} else {
		fmt.Fprintf(stdout, "Resuming %s from %s.\n", job.Name, run.CheckpointPath())
	}
	if gate != nil {
		if summary != nil {
			if err := guardExit(gate.CheckDisk(summary.Estimates.AOFBytes, summary.Estimates.RewriteDiskBytes)); err != nil {
				return guardSteps(err, o, job)
			}
		}
		if err := guardExit(gate.CheckLatency(ctx)); err != nil {
			return guardSteps(err, o, job)
		}
	}
	blindGuards(stdout, gate)
	if err := confirm(stdout, o, job.Name); err != nil {
		if !o.Yes && !term.IsTerminal(int(o.Stdin.Fd())) {
			return withSteps(err, applyStep(o.Invocation, job.Path, "to run without confirmation", "--yes"))
		}
		return err
	}
	var status func() string
	if gate != nil {
		if err := gate.Begin(ctx, time.Second); err != nil {
			return err
		}
		x.Gate = gate
		gate.OnEvent = run.Event
		status = gate.Status
	}
	header := fmt.Sprintf("keyjob apply %s → %s   rate %s", job.Name, conn.Target(), rateWords(job, o.Run.Rate))
	ui := newProgress(ctx, o.Progress, stderr, o.LogFormat, header, status)
	guardLog.set(ui.out)
	if gate != nil {
		ui.setGuardPause(gate.Pause)
	}
	x.Observe, x.Logger = live.Observe(ui.Update), ui.log
	restore := func() {}
	if ui.mode == "bar" && term.IsTerminal(int(o.Stdin.Fd())) {
		restore = operatorKeys(ctx, o.Run.Control)
	}
	if reviewed != nil {
		x.Planned = reviewed.Outcomes.Change
	}
	x.Resume = applyStep(o.Invocation, job.Path, "resume", "--resume").command
	rep, err := run.Execute(ctx, x)
	live.Finish()
	restore()
	ui.Finish()
	guardLog.set(stderr)
	if rep != nil {
		rep.Summary(stdout)
		jp, mp := rep.Paths(o.Run.StateDir)
		fmt.Fprintf(stdout, "report: %s, %s\n", mp, jp)
		var steps []step
		if rep.Undo != "" {
			steps = append(steps, undoStep(o.Invocation, rep.Journal))
		}
		if !rep.Completed {
			steps = append(steps, applyStep(o.Invocation, job.Path, "resume", "--resume"))
		}
		printSteps(stdout, steps...)
	}
	return applyExit(err)
}

// applyExit maps a run's end to its exit code.
func applyExit(err error) error {
	var abort *apply.AbortError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &abort):
		return withCode(exitGuard, err)
	}
	return err
}

// stateError maps a refusal of the checkpoint to its exit code and the
// commands it asks for.
func stateError(err error, o applyOptions, job *jobs.Job) error {
	c := o.Invocation
	switch {
	case errors.Is(err, apply.ErrCheckpointExists) && !errors.Is(err, apply.ErrAlreadyCompleted):
		return withSteps(usageError(err),
			applyStep(c, job.Path, "continue", "--resume"),
			applyStep(c, job.Path, "start over", "--restart"))
	case errors.Is(err, apply.ErrCheckpointExists):
		return withSteps(usageError(err), applyStep(c, job.Path, "run it again", "--restart"))
	case errors.Is(err, apply.ErrNothingToResume):
		return withSteps(usageError(err), applyStep(c, job.Path, "start"))
	case errors.Is(err, apply.ErrAlreadyCompleted):
		return withSteps(err, applyStep(c, job.Path, "run it again", "--restart"))
	case errors.Is(err, checkpoint.ErrCorrupt), errors.Is(err, checkpoint.ErrForeign):
		return err
	}
	return err
}

// bindPlan reads --plan and refuses a run that is not the reviewed one.
func bindPlan(o applyOptions, job *jobs.Job, conn *redisx.Conn, stderr io.Writer) (*planner.Plan, error) {
	if o.PlanFile == "" {
		return nil, nil
	}
	p, err := planner.ReadReviewed(o.PlanFile)
	if err != nil {
		return nil, usageError(err)
	}
	n, err := conn.DBSize(context.Background())
	if err != nil {
		n = -1 // no drift warning without a size
	}
	warnings, err := p.Check(job, conn.Addr, conn.DB, n, o.AllowOtherTarget)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	if errors.Is(err, planner.ErrNotReviewed) || errors.Is(err, planner.ErrOtherTarget) {
		return nil, usageError(err)
	}
	if err != nil {
		return nil, err
	}
	return p.Plan, nil
}

// showSummary prints what the run is about to do, before the operator
// confirms.
func showSummary(w io.Writer, p *planner.Plan, reviewed bool) error {
	src := "the reviewed plan"
	if !reviewed {
		src = fmt.Sprintf("a sample of the first %s matching keys", humanize.Comma(summarySample))
		if p.Sample == nil {
			src = "a scan of every matching key (fewer than the sample)"
		}
	}
	fmt.Fprintf(w, "Summary from %s:\n", src)
	if err := planner.RenderText(w, p); err != nil {
		return err
	}
	if len(p.Errors) > 0 {
		return fmt.Errorf("refusing to apply: %s", p.Errors[0].Message)
	}
	return nil
}

// confirm asks the operator to type the job's name; --yes skips it, and
// without a terminal there is no one to ask (exit 4).
func confirm(w io.Writer, o applyOptions, name string) error {
	if o.Yes {
		return nil
	}
	if !term.IsTerminal(int(o.Stdin.Fd())) {
		return usageError(errors.New("no terminal to confirm on: pass --yes to run without confirmation"))
	}
	fmt.Fprintf(w, "\nType the job's name (%s) to go ahead: ", name)
	var line string
	fmt.Fscanln(o.Stdin, &line)
	if strings.TrimSpace(line) != name {
		return usageError(errors.New("not confirmed: nothing was changed"))
	}
	return nil
}

func rateWords(job *jobs.Job, override jobs.Rate) string {
	r := job.Limits.With(override, 0).Rate
	if r.IsUnlimited() {
		return "unlimited"
	}
	return humanize.Comma(int64(r)) + "/s"
}
