package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/rueidis"
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/sandbox"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "start a throwaway Redis, load the ticket story's keyspace, and run survey, plan and apply on it",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "tickets", Value: 200000, Usage: "tickets to load (the story had eleven million)"},
			&cli.BoolFlag{Name: "keep", Usage: "leave the server running afterwards and print its URL"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "auto, bar, log or none"},
		},
		Action: func(c *cli.Context) error {
			prog, err := progressMode(c)
			if err != nil {
				return err
			}
			return demo(c.Context, c.App.Writer, c.App.ErrWriter, demoOptions{Tickets: c.Int("tickets"), Keep: c.Bool("keep"), Progress: prog})
		},
	}
}

type demoOptions struct {
	Tickets  int
	Keep     bool
	Progress string
}

// demoRate makes the demo's apply take well under a minute.
const demoRate = 20000

func demo(ctx context.Context, stdout, stderr io.Writer, o demoOptions) error {
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "\n"+format+"\n", a...) }
	// As in the story: volatile-lru, and a maxmemory the keyspace fills
	// about halfway, so the survey's warning and the memory guard show.
	maxmemory := fmt.Sprint(max(64<<20, o.Tickets*340))
	srv, err := sandbox.Start(ctx, "--maxmemory", maxmemory, "--maxmemory-policy", "volatile-lru")
	if err != nil {
		return err
	}
	if o.Keep {
		defer fmt.Fprintf(stdout, "\nThe server is still running: %s\nTry: keyjob plan --redis %s examples/drop-deal-clicks.yaml\nStop it with: %s\n", srv.URL, srv.URL, srv.StopHint())
	} else {
		defer srv.Stop()
	}
	say("== keyjob demo ==\nA throwaway Redis: %s at %s.", srv.How, srv.URL)

	if err := loadStory(ctx, srv.URL, o.Tickets, say); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyjob-demo-")
	if err != nil {
		return err
	}
	if o.Keep {
		defer fmt.Fprintf(stdout, "The job file, the journal and the reports are in %s.\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	jobPath, err := writeDemoJob(dir)
	if err != nil {
		return err
	}
	job, err := jobs.Load(jobPath)
	if err != nil {
		return err
	}
	conn := redisx.Options{URL: srv.URL}

	if err := demoSurvey(ctx, stdout, conn, say); err != nil {
		return err
	}

	say("== 2. plan ==\nThe job file says: every ticket lives one year from the issue time in its name;\ngive the ones without a TTL one, and a 1 h grace TTL to those already past it.\n`keyjob plan` reads the server and changes nothing. Its report is what a reviewer approves:")
	if err := plan(ctx, stdout, job, planOptions{Conn: conn, Format: "text", Planner: planner.Options{ScanRate: jobs.Unlimited}}); err != nil {
		return err
	}

	say("== 3. apply ==\n`keyjob apply` makes the change in SCAN batches at %d changes/s, guarded, journaled and resumable\n(Ctrl-C keeps a checkpoint; `--resume` continues). In production it asks you to type the job's name; the demo passes --yes.", demoRate)
	ao := applyOptions{
		Conn: conn, Yes: true, Progress: o.Progress, LogFormat: "text", Stdin: os.Stdin, QuietSummary: true,
		Run: apply.Options{StateDir: filepath.Join(dir, "state"), Rate: demoRate, ScanRate: jobs.Unlimited, Control: apply.NewControl("")},
	}
	if err := runApply(ctx, stdout, stderr, job, ao); err != nil {
		return err
	}

	say("== 4. after ==\nEvery ticket now expires one year after it was issued; the overdue ones in an hour.\nThe same plan again finds nothing left to do:")
	p, err := demoReplan(ctx, conn, job)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plan: %d keys to change, %d already have a TTL.\n", p.Outcomes.Change, p.Outcomes.Skip["ttl"])
	say("That was keyjob: survey finds what needs a job, plan shows what a job will do, apply does it safely.\nThe journal would let `keyjob undo` put every TTL back (`keyjob demo --keep` keeps the server and the\njournal to try it). See README.md for the job file and the guards.")
	return nil
}

func loadStory(ctx context.Context, url string, tickets int, say func(string, ...any)) error {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return err
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	st, err := seed.Story(ctx, c, tickets)
	if err != nil {
		return fmt.Errorf("load the story's keyspace: %w", err)
	}
	say("== 0. the story ==\nA ticket system stored tickets as ticket:{issued unix time}:{customer}:{token}. A unit bug\nin the app inserted them without a TTL; the server filled up. Loaded %d keys in %s:\n%d tickets (%d with a TTL), %d deal:clicks hashes nobody reads, %d sessions with TTLs.",
		st.Keys(), time.Since(start).Round(time.Millisecond), st.Tickets.Total(), st.Tickets.WithTTL, st.DealClicks, st.Sessions)
	return nil
}

func writeDemoJob(dir string) (string, error) {
	b, err := examples.Files.ReadFile("ticket-ttl-backfill.yaml")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "ticket-ttl-backfill.yaml")
	return path, os.WriteFile(path, b, 0o644)
}

func demoReplan(ctx context.Context, o redisx.Options, job *jobs.Job) (*planner.Plan, error) {
	conn, err := redisx.Dial(ctx, o)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return planner.Build(ctx, conn, job, planner.Options{ScanRate: jobs.Unlimited})
}
