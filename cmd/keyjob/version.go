package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "keyjob %s (commit %s, %s)\n", version, commit, runtime.Version())
			return err
		},
	}
}
