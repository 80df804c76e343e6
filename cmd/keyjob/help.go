package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// commandExamples are the examples each command's --help ends with. Each
// parses as written (TestHelp_Examples); "$REDIS_URL" stands for the
// server's URL.
var commandExamples = map[string][]string{
	"validate": {
		"keyjob validate jobs/*.yaml",
	},
	"plan": {
		`keyjob plan --redis "$REDIS_URL" examples/ticket-ttl-backfill.yaml`,
		`keyjob plan --redis "$REDIS_URL" --format json --out plan.json examples/ticket-ttl-backfill.yaml`,
	},
	"apply": {
		`keyjob apply --redis "$REDIS_URL" --limit 100 examples/ticket-ttl-backfill.yaml   # a canary of 100 changes`,
		`keyjob apply --redis "$REDIS_URL" --plan plan.json --disk-path /var/lib/redis --resume examples/ticket-ttl-backfill.yaml`,
	},
	"undo": {
		`keyjob undo --redis "$REDIS_URL" .keyjob/ticket-ttl-backfill/2026-11-22T03-10-04Z.journal`,
	},
	"survey": {
		`keyjob survey --redis "$REDIS_URL" --sample 100000`,
		`keyjob survey --redis "$REDIS_URL" --match 'ticket:*' --suggest jobs/`,
	},
	"status": {
		"keyjob status .keyjob",
		"keyjob status --format json .keyjob orders-ttl",
	},
	"schema": {
		"keyjob schema > keyjob.schema.json",
	},
	"demo": {
		"keyjob demo",
		"keyjob demo --tickets 20000 --keep",
	},
	"version": {
		"keyjob version",
	},
}

// addExamples ends each command's description with its examples.
func addExamples(cmds []*cli.Command) {
	for _, c := range cmds {
		ex := commandExamples[c.Name]
		if len(ex) == 0 {
			continue
		}
		var b strings.Builder
		if c.Description != "" {
			b.WriteString(c.Description + "\n\n")
		}
		b.WriteString("Examples:\n")
		for _, e := range ex {
			b.WriteString("  " + e + "\n")
		}
		c.Description = strings.TrimSuffix(b.String(), "\n")
	}
}
