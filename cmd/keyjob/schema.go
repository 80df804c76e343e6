package main

import (
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/jobs"
)

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print the job file's JSON Schema, for editors (# yaml-language-server: $schema=…)",
		Action: func(c *cli.Context) error {
			b, err := jobs.Schema()
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(append(b, '\n'))
			return err
		},
	}
}
