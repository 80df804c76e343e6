package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/jobs"
)

// resumeIfCheckpointFlag is for what reruns the same command line after a
// crash or a reschedule (a Kubernetes Job, a systemd unit): --resume when
// the state dir holds the job's checkpoint, a fresh start when it does
// not, and nothing to do (exit 0) when that checkpoint says the run
// completed.
func resumeIfCheckpointFlag() cli.Flag {
	return &cli.BoolFlag{Name: "resume-if-checkpoint", Usage: "continue from the checkpoint when the state dir has one, else start; exit 0 if it says the run completed (for a Job that a restart reruns)"}
}

// resumeIfCheckpoint resolves --resume-if-checkpoint: whether to resume,
// and whether the run already completed (then it says so and there is
// nothing to do).
func resumeIfCheckpoint(c *cli.Context, job *jobs.Job) (resume, completed bool, err error) {
	if !c.Bool("resume-if-checkpoint") {
		return c.Bool("resume"), false, nil
	}
	if c.Bool("restart") || c.Bool("resume") {
		return false, false, usageError(errors.New("--resume-if-checkpoint decides itself: give it without --resume or --restart"))
	}
	cp, err := checkpoint.Load(checkpoint.Path(c.String("state-dir"), job.Name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, false, nil
	case err != nil:
		return false, false, err
	}
	if cp.Completed {
		fmt.Fprintf(c.App.Writer, "%s: run %s in %s completed; nothing to do (--restart runs the job again)\n",
			job.Name, cp.RunID, checkpoint.Path(c.String("state-dir"), job.Name))
	}
	return true, cp.Completed, nil
}
