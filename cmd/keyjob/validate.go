package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/jobs"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check job files offline (no server needed): for CI lint",
		ArgsUsage: "JOB...",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(fmt.Errorf("validate needs at least one job file: keyjob validate jobs/*.yaml"))
			}
			return validate(c.Context, c.App.Writer, c.App.ErrWriter, c.Args().Slice())
		},
	}
}

func validate(ctx context.Context, stdout, stderr io.Writer, paths []string) error {
	bad := 0
	for _, p := range paths {
		j, err := jobs.LoadContext(ctx, p)
		if ctx.Err() != nil {
			return err // interrupted: the exit code says by which signal
		}
		if err != nil {
			bad++
			fmt.Fprintln(stderr, err)
			continue
		}
		fmt.Fprintf(stdout, "ok %s (%s)\n", p, j.Name)
	}
	if bad > 0 {
		return usageError(fmt.Errorf("%d of %d job files are invalid", bad, len(paths)))
	}
	return nil
}
