package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/internal/checkpoint"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:        "status",
		Usage:       "what the runs in a state dir did, from their checkpoint and report (no server needed)",
		ArgsUsage:   "STATE_DIR [JOB]",
		Description: "A live run serves the same with --status-addr: curl http://127.0.0.1:9090/status",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the JSON of /status)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageError(errors.New("status takes a state dir and perhaps a job name: keyjob status .keyjob [JOB]"))
			}
			f := c.String("format")
			if f != "text" && f != "json" {
				return usageError(fmt.Errorf("--format %q: want text or json", f))
			}
			return runStatus(c.App.Writer, c.Args().Get(0), c.Args().Get(1), f)
		},
	}
}

func runStatus(w io.Writer, stateDir, job, format string) error {
	docs, err := stateStatus(stateDir, job)
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if job != "" {
			return enc.Encode(docs[0])
		}
		return enc.Encode(docs)
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printStatus(w, d)
	}
	return nil
}

// stateStatus reads the status of each job's run in stateDir (or of job
// only) from its checkpoint and its latest report.
func stateStatus(stateDir, job string) ([]statusDoc, error) {
	names := []string{job}
	if job == "" {
		entries, err := os.ReadDir(stateDir)
		if err != nil {
			return nil, usageError(fmt.Errorf("state dir: %w", err))
		}
		names = names[:0]
		for _, e := range entries {
			if _, err := os.Stat(checkpoint.Path(stateDir, e.Name())); e.IsDir() && err == nil {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			return nil, usageError(fmt.Errorf("%w %s (no <job>/%s in it)", errNoRuns, stateDir, checkpoint.FileName))
		}
	}
	var docs []statusDoc
	for _, name := range names {
		d, err := jobStatus(stateDir, name)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func jobStatus(stateDir, name string) (statusDoc, error) {
	if d, ok := liveJobStatus(stateDir, name); ok {
		return d, nil
	}
	path := checkpoint.Path(stateDir, name)
	cp, err := checkpoint.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return statusDoc{}, usageError(fmt.Errorf("no run of %s in %s (no %s)", name, stateDir, path))
	}
	if err != nil {
		return statusDoc{}, err
	}
	d := statusDoc{
		Command: "apply", Job: cp.Job.Name, Target: cp.Target.String(), Mode: cp.Target.Mode, RunID: cp.RunID,
		Outcomes: map[string]int64{}, Checkpoint: path, Journal: cp.Journal, Updated: cp.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"),
		State: "stopped",
	}
	for k, v := range cp.Counts {
		d.Outcomes[k] = v
		if k != "change_grace" {
			d.Scanned += v
		}
	}
	for _, n := range cp.Nodes {
		var scanned int64
		for k, v := range n.Counts {
			if k != "change_grace" {
				scanned += v
			}
		}
		d.Shards = append(d.Shards, statusShard{Addr: n.Addr, Slots: n.Slots, Scanned: scanned, Done: n.Done})
	}
	if cp.Completed {
		d.State = "completed"
	}
	rp := filepath.Join(stateDir, name, cp.RunID+".report.json")
	if b, err := os.ReadFile(rp); err == nil {
		var rep apply.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return d, fmt.Errorf("%s: %w", rp, err)
		}
		d.Report, d.Stopped, d.Pauses, d.Warnings = rp, rep.Stopped, len(rep.Pauses), rep.Warnings
		d.ElapsedSeconds = rep.DurationSeconds
		if !cp.Completed && rep.Stopped != "" {
			d.State = "stopped: " + rep.Stopped
		}
	}
	return d, nil
}

// liveJobStatus asks the run of name that is live with --status-addr, if
// any, for its status; false when none answers (none runs, or one was
// killed and left its address behind).
func liveJobStatus(stateDir, name string) (statusDoc, bool) {
	b, err := os.ReadFile(filepath.Join(stateDir, name, statusAddrFile))
	if err != nil {
		return statusDoc{}, false
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + strings.TrimSpace(string(b)) + "/status")
	if err != nil {
		return statusDoc{}, false
	}
	defer resp.Body.Close()
	var d statusDoc
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&d) != nil || d.Job != name {
		return statusDoc{}, false
	}
	return d, true
}

func printStatus(w io.Writer, d statusDoc) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "%s  run %s on %s (%s)\n", d.Job, d.RunID, d.Target, d.Mode)
	line("state", "%s", d.State)
	if d.Live {
		line("live", "served by the running keyjob (--status-addr)")
		if d.Expected > 0 {
			line("expected", "%s", humanize.Comma(d.Expected))
		}
		if d.ETASeconds != nil {
			line("eta", "%s", (time.Duration(*d.ETASeconds) * time.Second).String())
		}
		if d.Paused != nil {
			line("paused", "by %s: %s; %s", d.Paused.By, d.Paused.Reason, d.Paused.Resume)
		}
		if d.GuardLine != "" {
			line("guards", "%s", d.GuardLine)
		}
	}
	line("scanned", "%s", humanize.Comma(d.Scanned))
	var parts []string
	for _, k := range sortedOutcomes(d.Outcomes) {
		parts = append(parts, fmt.Sprintf("%s %s", strings.ReplaceAll(k, "_", " "), humanize.Comma(d.Outcomes[k])))
	}
	line("outcomes", "%s", strings.Join(parts, ", "))
	if len(d.Shards) > 1 {
		for _, s := range d.Shards {
			line("shard", "%s %s  scanned %s  done %t", s.Addr, s.Slots, humanize.Comma(s.Scanned), s.Done)
		}
	}
	if d.Pauses > 0 {
		line("pauses", "%d in the last invocation", d.Pauses)
	}
	for _, wn := range d.Warnings {
		line("warning", "%s", wn)
	}
	line("updated", "%s", d.Updated)
	line("checkpoint", "%s", d.Checkpoint)
	if d.Report != "" {
		line("report", "%s", d.Report)
	}
	if d.Journal != "" {
		line("journal", "%s", d.Journal)
	}
}

// sortedOutcomes puts change first, then the skips by name.
func sortedOutcomes(m map[string]int64) []string {
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool { return keys[i] == "change" && keys[j] != "change" })
	return keys
}
