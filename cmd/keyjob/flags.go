package main

import (
	"context"
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/internal/redisx"
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
