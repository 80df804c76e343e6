package apply

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/keyjob/keyjob/jobs"
)

// ReportFormatVersion is the version of the run report's JSON contract.
//
// Version 2 added outcomes.members_removed and the no_members skip bucket
// for a job with members: (sorted-set members by score-as-time).
//
// Version 3 added outcomes.fields_changed and fields_grace and the
// no_fields skip bucket for a job with fields: (hash fields), and members
// for streams (members_removed counts the stream entries removed).
const ReportFormatVersion = 3

// Report is the run report: what a run (across its resumes) did and why
// it stopped. It is written to the state dir as JSON and markdown.
type Report struct {
	FormatVersion int          `json:"format_version"`
	Job           ReportJob    `json:"job"`
	Target        ReportTarget `json:"target"`
	RunID         string       `json:"run_id"`
	Started       time.Time    `json:"started"`
	Finished      time.Time    `json:"finished"`
	// DurationSeconds is this invocation's wall time.
	DurationSeconds float64        `json:"duration_seconds"`
	Scanned         int64          `json:"scanned"`
	Outcomes        ReportOutcomes `json:"outcomes"`
	// Changes is this invocation's share of Outcomes.Change.
	Changes     int64        `json:"changes_this_invocation"`
	Completed   bool         `json:"completed"`
	Stopped     string       `json:"stopped"`
	Resumed     bool         `json:"resumed"`
	Pauses      []Pause      `json:"pauses"`
	GuardEvents []GuardEvent `json:"guard_events"`
	Backup      string       `json:"backup"`
	Journal     string       `json:"journal,omitempty"`
	Undo        string       `json:"undo,omitempty"` // the command that undoes the run
	// resumeCmd is the command that resumes the run, for the markdown.
	resumeCmd  string
	Checkpoint string       `json:"checkpoint"`
	Nodes      []ReportNode `json:"nodes"`
	// Warnings are what the operator should know of the run in words:
	// the keyspace drifted since the reviewed plan, say.
	Warnings   []string `json:"warnings"`
	pauseStart time.Time
	// streams: a job on stream entries (the summary's words).
	streams bool
}

type ReportJob struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Action string `json:"action"`
}

type ReportTarget struct {
	Address string `json:"address"`
	DB      int    `json:"db"`
	Mode    string `json:"mode"`
}

type ReportOutcomes struct {
	Change      int64            `json:"change"`
	ChangeGrace int64            `json:"change_grace"`
	Skip        map[string]int64 `json:"skip"`
	// MembersRemoved is, for a job with members:, the sorted-set members
	// or stream entries removed (limits.rate counts them).
	MembersRemoved int64 `json:"members_removed,omitempty"`
	// FieldsChanged is, for a job with fields:, the hash fields changed
	// (limits.rate counts them); FieldsGrace the part of them given the
	// grace TTL.
	FieldsChanged int64 `json:"fields_changed,omitempty"`
	FieldsGrace   int64 `json:"fields_grace,omitempty"`
}

type ReportNode struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Done     bool   `json:"done"`
	Restarts int    `json:"restarts"`
}

// Pause is a time the run waited, and why.
type Pause struct {
	Reason  string    `json:"reason"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
}

// GuardEvent is a guard's pause or abort, with its figures.
type GuardEvent struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // pause | resume | abort
	Guard  string    `json:"guard"`
	Reason string    `json:"reason"`
}

// skipBuckets are the run report's skip reasons, in order.
var skipBuckets = []string{"regex", "ttl", "idle", "bad_timestamp", "too_big_to_backup", "gone", "changed_since_scan"}

func newReport(r *Run) *Report {
	action := map[jobs.ActionKind]string{jobs.ActionExpire: "expire", jobs.ActionDelete: "delete", jobs.ActionPersist: "persist"}[r.job.Action.Kind]
	rep := &Report{
		FormatVersion: ReportFormatVersion,
		Job:           ReportJob{Name: r.job.Name, Path: r.job.Path, SHA256: r.job.SHA256, Action: action},
		Target:        ReportTarget{Address: r.conn.Addr, DB: r.conn.DB, Mode: r.conn.Mode()},
		RunID:         r.cp.RunID,
		Started:       time.Now().UTC(),
		Resumed:       r.Resumed,
		Backup:        [...]string{"journal", "dump", "none"}[r.job.Backup.Mode],
		Journal:       r.cp.Journal,
		Checkpoint:    r.cpPath,
		Pauses:        []Pause{},
		GuardEvents:   []GuardEvent{},
		Warnings:      []string{},
	}
	if rep.Journal != "" {
		rep.Undo = "keyjob undo " + rep.Journal
	}
	rep.resumeCmd = r.x.Resume
	if rep.resumeCmd == "" {
		rep.resumeCmd = "keyjob apply --resume " + r.job.Path
	}
	if r.memoryUnknown != "" {
		rep.Warnings = append(rep.Warnings, "memory of a key: unknown ("+r.memoryUnknown+")"+
			map[bool]string{true: "; backup: dump measured each key by its DUMP payload", false: ""}[r.job.Backup.Mode == jobs.BackupDump])
	}
	if r.configUnknown != "" {
		rep.Warnings = append(rep.Warnings, "forks the run triggers: unknown ("+r.configUnknown+"); the fork guard reads INFO and pauses during any fork")
	}
	return rep
}

// fill copies the run's cumulative counts into the report.
func (rep *Report) fill(r *Run) {
	rep.Outcomes = ReportOutcomes{Skip: map[string]int64{}}
	for _, b := range skipBuckets {
		rep.Outcomes.Skip[b] = r.cp.Counts[b]
	}
	rep.Outcomes.Change = r.cp.Counts[string(jobs.Change)]
	rep.Outcomes.ChangeGrace = r.cp.Counts[changeGrace]
	if r.job.Members != nil {
		rep.Outcomes.Skip[string(jobs.SkipNoMembers)] = r.cp.Counts[string(jobs.SkipNoMembers)]
		rep.Outcomes.MembersRemoved = r.cp.Counts[trimMembers]
		rep.streams = r.job.Members.Stream
	}
	if r.job.Fields != nil {
		rep.Outcomes.Skip[string(jobs.SkipNoFields)] = r.cp.Counts[string(jobs.SkipNoFields)]
		rep.Outcomes.FieldsChanged = r.cp.Counts[fieldsChanged]
		rep.Outcomes.FieldsGrace = r.cp.Counts[fieldsGrace]
	}
	rep.Scanned = rep.Outcomes.Change
	for _, v := range rep.Outcomes.Skip {
		rep.Scanned += v
	}
	rep.Changes = r.changes
	rep.DurationSeconds = time.Since(r.began).Seconds()
	rep.Nodes = rep.Nodes[:0]
	for _, n := range r.cp.Nodes {
		rep.Nodes = append(rep.Nodes, ReportNode{ID: n.ID, Addr: n.Addr, Done: n.Done, Restarts: n.Restarts})
	}
}

func (rep *Report) pause(reason string) {
	rep.pauseStart = time.Now()
	rep.Pauses = append(rep.Pauses, Pause{Reason: reason, Started: rep.pauseStart.UTC()})
}

func (rep *Report) resume() {
	if n := len(rep.Pauses); n > 0 && !rep.pauseStart.IsZero() {
		rep.Pauses[n-1].Seconds = time.Since(rep.pauseStart).Seconds()
		rep.pauseStart = time.Time{}
	}
}

func (rep *Report) event(action, guard, reason string) {
	rep.GuardEvents = append(rep.GuardEvents, GuardEvent{At: time.Now().UTC(), Action: action, Guard: guard, Reason: reason})
}

// Event records a guard's pause or abort (the guards call it through the
// executor's gate).
func (r *Run) Event(action, guard, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report.event(action, guard, reason)
}

// Paths are where the report's JSON and markdown are written.
func (rep *Report) Paths(stateDir string) (jsonPath, mdPath string) {
	base := filepath.Join(stateDir, rep.Job.Name, rep.RunID+".report")
	return base + ".json", base + ".md"
}

func (rep *Report) write(stateDir string) error {
	jp, mp := rep.Paths(stateDir)
	if err := os.MkdirAll(filepath.Dir(jp), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("run report: %w", err)
	}
	f, err := os.OpenFile(mp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("run report: %w", err)
	}
	defer f.Close()
	return rep.Markdown(f)
}

// Markdown writes the report for humans.
func (rep *Report) Markdown(w io.Writer) error {
	state := "completed"
	if !rep.Completed {
		state = "not completed: " + rep.Stopped
	}
	fmt.Fprintf(w, "### keyjob apply: `%s` — %s keys changed (%s)\n\n", rep.Job.Name, humanize.Comma(rep.Outcomes.Change), state)
	fmt.Fprintf(w, "Run `%s` on `%s/%d` (%s) · job file `%s` · sha256 `%s`\n\n", rep.RunID, rep.Target.Address, rep.Target.DB, rep.Target.Mode, rep.Job.Path, short(rep.Job.SHA256))
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "> ⚠️ %s\n\n", warning)
	}
	fmt.Fprintf(w, "| outcome | keys |\n|---|---:|\n| change | %s |\n", humanize.Comma(rep.Outcomes.Change))
	if rep.Outcomes.ChangeGrace > 0 {
		fmt.Fprintf(w, "| … of which grace TTL | %s |\n", humanize.Comma(rep.Outcomes.ChangeGrace))
	}
	for _, b := range skipBuckets {
		fmt.Fprintf(w, "| skip: %s | %s |\n", strings.ReplaceAll(b, "_", " "), humanize.Comma(rep.Outcomes.Skip[b]))
	}
	fmt.Fprintf(w, "| **scanned** | **%s** |\n\n", humanize.Comma(rep.Scanned))
	fmt.Fprintf(w, "This invocation: %s changes in %s%s.\n\n", humanize.Comma(rep.Changes), (time.Duration(rep.DurationSeconds * float64(time.Second))).Round(time.Second), resumedNote(rep.Resumed))
	if len(rep.Pauses) > 0 || len(rep.GuardEvents) > 0 {
		fmt.Fprintf(w, "| when | event | reason |\n|---|---|---|\n")
		for _, p := range rep.Pauses {
			fmt.Fprintf(w, "| %s | paused %.0fs | %s |\n", p.Started.Format(time.TimeOnly), p.Seconds, p.Reason)
		}
		for _, e := range rep.GuardEvents {
			fmt.Fprintf(w, "| %s | %s (%s) | %s |\n", e.At.Format(time.TimeOnly), e.Action, e.Guard, e.Reason)
		}
		fmt.Fprintln(w)
	}
	switch {
	case rep.Backup == "none":
		fmt.Fprintf(w, "backup: none — no journal; this run cannot be undone.\n")
	default:
		fmt.Fprintf(w, "Journal `%s` (backup: %s). Undo: `%s`\n", rep.Journal, rep.Backup, rep.Undo)
	}
	if !rep.Completed {
		_, err := fmt.Fprintf(w, "\nCheckpoint `%s`: continue with `%s`.\n", rep.Checkpoint, rep.resumeCmd)
		return err
	}
	return nil
}

func resumedNote(resumed bool) string {
	if resumed {
		return ", resumed from a checkpoint"
	}
	return ""
}

func short(sha string) string {
	if len(sha) < 8 {
		return sha
	}
	return sha[:4] + "…" + sha[len(sha)-4:]
}

// Summary writes the end-of-run summary for the terminal.
func (rep *Report) Summary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "changed\t%s\t", humanize.Comma(rep.Outcomes.Change))
	if rep.Outcomes.ChangeGrace > 0 {
		fmt.Fprintf(tw, "(%s with the grace TTL)", humanize.Comma(rep.Outcomes.ChangeGrace))
	}
	if rep.Outcomes.MembersRemoved > 0 {
		what := "members"
		if rep.streams {
			what = "stream entries"
		}
		fmt.Fprintf(tw, "(%s %s removed)", humanize.Comma(rep.Outcomes.MembersRemoved), what)
	}
	if rep.Outcomes.FieldsChanged > 0 {
		fmt.Fprintf(tw, "(%s fields changed, %s of them with the grace TTL)", humanize.Comma(rep.Outcomes.FieldsChanged), humanize.Comma(rep.Outcomes.FieldsGrace))
	}
	fmt.Fprintln(tw)
	keys := make([]string, 0, len(rep.Outcomes.Skip))
	for k, v := range rep.Outcomes.Skip {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "skipped: %s\t%s\t\n", k, humanize.Comma(rep.Outcomes.Skip[k]))
	}
	fmt.Fprintf(tw, "scanned\t%s\t\n", humanize.Comma(rep.Scanned))
	fmt.Fprintf(tw, "duration\t%s\t\n", (time.Duration(rep.DurationSeconds * float64(time.Second))).Round(100*time.Millisecond))
	for _, e := range rep.GuardEvents {
		fmt.Fprintf(tw, "guard\t%s %s: %s\t\n", e.Guard, e.Action, e.Reason)
	}
	for _, warning := range rep.Warnings {
		fmt.Fprintf(tw, "warning\t%s\t\n", warning)
	}
	tw.Flush()
}
