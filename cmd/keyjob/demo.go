package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "start a throwaway Redis, load the ticket story's keyspace, and show keyjob at work",
		Action: func(c *cli.Context) error {
			return errors.New("not yet")
		},
	}
}
