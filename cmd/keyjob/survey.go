package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/survey"
)

func surveyCommand() *cli.Command {
	return &cli.Command{
		Name:  "survey",
		Usage: "find the key patterns of a server: keys, TTLs, types, memory, idle time, times in names and inside keys (read-only)",
		Description: "Folds every key name into a pattern (ticket:1755302811:18841:Qx7fTz2a is ticket:{ts}:{n}:{id})\n" +
			"and reports what the keys of each pattern look like; under CLIENT NO-TOUCH, also what a sample of\n" +
			"its hashes, sorted sets and streams hold (times in field names, field TTLs, scores that are times,\n" +
			"the oldest member or entry). --suggest DIR writes a job file for each pattern that has keys\n" +
			"without a TTL, and for hash fields, sorted-set members and stream entries with times, for review;\n" +
			"it never suggests deleting a key.",
		Flags: append(connFlags(),
			&cli.StringFlag{Name: "match", Value: "*", Usage: "survey only the keys matching `GLOB` (SCAN MATCH)"},
			&cli.Int64Flag{Name: "sample", Usage: "stop after about `N` keys and estimate the rest (the report says how well)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text, markdown or json"},
			&cli.StringFlag{Name: "out", Usage: "write the report to `FILE` instead of stdout"},
			&cli.StringFlag{Name: "suggest", Usage: "write a job file to `DIR` for each pattern with keys without a TTL, or with timed hash fields, sorted-set members or stream entries"},
			&cli.StringFlag{Name: "scan-rate", Usage: "keys read per second, `N` or unlimited (default 100000)"},
			shardsFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError(fmt.Errorf("survey takes no arguments, got %q: to survey some keys only, use --match 'ticket:*'", c.Args().First()))
			}
			if n := c.Int64("sample"); n < 0 {
				return usageError(fmt.Errorf("--sample %d: want a number of keys above 0, or leave it out for a full scan", n))
			}
			shards, err := shardsAtOnce(c)
			if err != nil {
				return err
			}
			scanRate, err := rateFlag(c, "scan-rate")
			if err != nil {
				return err
			}
			o := surveyOptions{
				Conn: connOptions(c, nil), Format: c.String("format"), Out: c.String("out"), Suggest: c.String("suggest"),
				Survey: survey.Options{Match: c.String("match"), Sample: c.Int64("sample"), ScanRate: scanRate, ShardsAtOnce: shards},
			}
			return surveyKeyspace(c.Context, c.App.Writer, c.App.ErrWriter, o)
		},
	}
}

type surveyOptions struct {
	Conn    redisx.Options
	Format  string
	Out     string
	Suggest string // a folder for job files; "" for none
	Survey  survey.Options
}

// surveyKeyspace runs the survey, writes the report to stdout (or --out)
// and the suggested job files to --suggest, naming them on stderr so the
// report stays clean for a pipe.
func surveyKeyspace(ctx context.Context, stdout, stderr io.Writer, o surveyOptions) error {
	if !slices.Contains(survey.Formats, o.Format) {
		return usageError(fmt.Errorf("--format %q: want %s", o.Format, strings.Join(survey.Formats, ", ")))
	}
	if o.Survey.Match == "" {
		return usageError(errors.New(`--match "": want a SCAN MATCH glob such as 'ticket:*', or leave it out for every key`))
	}
	conn, err := redisx.Dial(ctx, o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := survey.Run(ctx, conn, o.Survey)
	if err != nil {
		return fmt.Errorf("survey %s: %w", conn.Target(), err)
	}
	if err := writeReport(stdout, o.Out, func(w io.Writer) error { return survey.Render(w, s, o.Format) }); err != nil {
		return err
	}
	if o.Suggest == "" {
		return nil
	}
	return suggestJobs(stderr, o.Suggest, s)
}

func suggestJobs(stderr io.Writer, dir string, s *survey.Survey) error {
	ss, skipped, err := survey.Suggest(s)
	if err != nil {
		return err
	}
	reportSkipped(stderr, skipped)
	if len(ss) == 0 {
		if len(skipped) == 0 {
			fmt.Fprintln(stderr, "every key has a TTL and nothing inside keys calls for a job: no job file to suggest")
		}
		return nil
	}
	ws, err := survey.WriteSuggestions(dir, ss)
	wrote := 0
	for _, w := range ws {
		if w.Kept {
			fmt.Fprintf(stderr, "kept %s: it exists (remove it to have it written again)\n", w.Path)
			continue
		}
		what := w.About
		if w.Kind == survey.SuggestKeys {
			how := "a fixed TTL"
			if w.From != "" {
				how = "a TTL from the time in the name"
			}
			what = fmt.Sprintf("%s keys without a TTL, %s", humanize.Comma(w.WithoutTTL), how)
		}
		fmt.Fprintf(stderr, "wrote %s: %s, %s; REVIEW its placeholders\n", w.Path, w.Pattern, what)
		wrote++
	}
	if err != nil {
		return err
	}
	if wrote > 0 {
		fmt.Fprintf(stderr, "next: keyjob validate %s, then keyjob plan each one\n", filepath.Join(dir, "*.yaml"))
	}
	return nil
}

// reportSkipped names the patterns without a job file, grouped by reason
// (there can be hundreds of single key names), a few of each.
func reportSkipped(stderr io.Writer, skipped []survey.Skipped) {
	var reasons []string
	byReason := map[string][]string{}
	for _, sk := range skipped {
		if byReason[sk.Reason] == nil {
			reasons = append(reasons, sk.Reason)
		}
		byReason[sk.Reason] = append(byReason[sk.Reason], sk.Pattern)
	}
	for _, r := range reasons {
		ps := byReason[r]
		names := strings.Join(ps[:min(len(ps), 3)], ", ")
		if len(ps) > 3 {
			names += fmt.Sprintf(" and %d more", len(ps)-3)
		}
		fmt.Fprintf(stderr, "no job file for %s: %s\n", names, r)
	}
}
