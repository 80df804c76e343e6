package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// connFlags are the flags of every command that talks to Redis.
func connFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis", Usage: "target `URL`: redis://[user:password@]host:port[/db] or rediss:// for TLS", EnvVars: []string{"REDIS_URL"}, Value: redisx.DefaultURL},
		&cli.StringFlag{Name: "tls-ca", Usage: "PEM `FILE` of the CA that signed the server's certificate"},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate PEM `FILE`"},
		&cli.StringFlag{Name: "tls-key", Usage: "client key PEM `FILE`"},
		&cli.BoolFlag{Name: "tls-insecure-skip-verify", Usage: "do not verify the server's certificate (testing only)"},
	}
}

func connOptions(c *cli.Context, job *jobs.Job) redisx.Options {
	o := redisx.Options{
		URL:                   c.String("redis"),
		TLSCA:                 c.String("tls-ca"),
		TLSCert:               c.String("tls-cert"),
		TLSKey:                c.String("tls-key"),
		TLSInsecureSkipVerify: c.Bool("tls-insecure-skip-verify"),
	}
	if job != nil {
		o.DB = job.DB
	}
	return o
}

// shardsFlag is --shards-at-once, for every command that walks a
// cluster's primaries.
func shardsFlag() cli.Flag {
	return &cli.IntFlag{Name: "shards-at-once", Value: scan.DefaultShardsAtOnce, Usage: "on a cluster, how many primaries are walked at once (each costs a connection and its batches in memory)"}
}

// shardsAtOnce reads --shards-at-once.
func shardsAtOnce(c *cli.Context) (int, error) {
	n := c.Int("shards-at-once")
	if n < 1 {
		return 0, usageError(fmt.Errorf("--shards-at-once %d: want 1 or more", n))
	}
	return n, nil
}

// rateFlag parses --rate or --scan-rate; 0 when not given.
func rateFlag(c *cli.Context, name string) (jobs.Rate, error) {
	if !c.IsSet(name) {
		return 0, nil
	}
	r, err := jobs.ParseRate(c.String(name))
	if err != nil {
		return 0, usageError(err)
	}
	return r, nil
}

// loadJob reads and validates a job file; any problem is a usage error
// (exit 4).
func loadJob(ctx context.Context, path string) (*jobs.Job, error) {
	j, err := jobs.LoadContext(ctx, path)
	if err != nil {
		return nil, usageError(err)
	}
	return j, nil
}

// concat joins flag lists.
func concat(lists ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
