package planner

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/words"
)

// Formats are the report formats Render accepts, in the order help texts
// list them.
var Formats = words.Formats()

// Render writes p to w in format: "text" (a terminal), "markdown" (a
// pull-request comment) or "json" (the versioned contract).
func Render(w io.Writer, p *Plan, format string) error {
	return words.Render(w, p, format, RenderText, RenderMarkdown, RenderJSON)
}

var errRenderNilPlan = errors.New("render: no plan")

// reportStyle is what differs between the text and markdown wording of
// the same figures (words.TextStyle, words.MarkdownStyle).
type reportStyle = words.Style

// reportRow is one line of a report table: what, how much, and a note.
type reportRow struct {
	label, value, note string
}

// --- the first line ---------------------------------------------------------

// outcomeVerb is what happens to n keys, as "will" (or "would", when
// errors stop the run).
//
// verbAction is the job's action for outcomeVerb: "trim" for a members
// job, whose keys lose members rather than go.
func verbAction(p *Plan) string {
	if p.Members != nil && p.Members.Type == "stream" {
		return "trim-stream"
	}
	if p.Members != nil {
		return "trim"
	}
	if p.Fields != nil {
		return "fields"
	}
	return p.Job.Action
}

func outcomeVerb(action string, n int64, would bool) string {
	aux := "will"
	if would {
		aux = "would"
	}
	one := n == 1
	switch action {
	case "expire":
		return aux + " get a TTL"
	case "delete":
		return aux + " be deleted"
	case "trim":
		return aux + " lose members"
	case "trim-stream":
		return aux + " lose entries"
	case "fields":
		if one {
			return aux + " have fields changed"
		}
		return aux + " have fields changed"
	case "persist":
		if one {
			return aux + " lose its TTL"
		}
		return aux + " lose their TTL"
	}
	return aux + " change"
}

func keysWord(n int64) string {
	if n == 1 {
		return "key"
	}
	return "keys"
}

// reportHeadline is the report's verdict in one line: what the run does,
// or why it will not run.
func reportHeadline(p *Plan, st reportStyle) string {
	n := words.Commas(p.Outcomes.Change)
	if p.Sample != nil {
		n = "~" + n
	}
	var s string
	switch {
	case len(p.Errors) > 0:
		s = st.Failed() + fmt.Sprintf("%d %s, apply will refuse to run", len(p.Errors), words.Plural(len(p.Errors), "error", "errors"))
		if p.Outcomes.Change > 0 {
			s += fmt.Sprintf(" (%s %s %s)", n, keysWord(p.Outcomes.Change), outcomeVerb(verbAction(p), p.Outcomes.Change, true))
		}
	case p.Outcomes.Change == 0:
		s = "nothing to change"
	default:
		s = fmt.Sprintf("%s %s %s", n, keysWord(p.Outcomes.Change), outcomeVerb(verbAction(p), p.Outcomes.Change, false))
	}
	// docs/safety.md: a server already above a memory level says so in the
	// first line. Deletes free memory, so memory levels never hold them.
	if memoryAbovePause(p) && p.Job.Action != "delete" {
		s += " · " + st.Strong("memory is already above the pause level") + " (apply needs " + st.Code("--from-high-memory") + ")"
	}
	return s
}

// memoryAbovePause is said by the planner's warning or by the memory guard.
func memoryAbovePause(p *Plan) bool {
	for _, m := range p.Warnings {
		if m.Code == WarnMemoryAbovePause {
			return true
		}
	}
	g := guardNamed(p, "memory")
	return g != nil && (g.State == "pause" || g.State == "abort")
}

func guardNamed(p *Plan, name string) *GuardLine {
	for i := range p.Guards {
		if p.Guards[i].Name == name {
			return &p.Guards[i]
		}
	}
	return nil
}

// targetWords describes the server: "standalone, Redis 7.0.15, primary, 2 replicas".
func targetWords(t Target) string {
	var parts []string
	switch t.Mode {
	case "cluster":
		if t.Nodes > 0 {
			parts = append(parts, fmt.Sprintf("cluster of %d %s", t.Nodes, words.Plural(t.Nodes, "primary", "primaries")))
		} else {
			parts = append(parts, "cluster")
		}
	case "":
	default:
		parts = append(parts, t.Mode)
	}
	parts = words.Server(parts, t.Mode, t.RedisVersion, t.Role)
	switch t.Replicas {
	case 0:
		parts = append(parts, "no replicas")
	default:
		parts = append(parts, fmt.Sprintf("%d %s", t.Replicas, words.Plural(t.Replicas, "replica", "replicas")))
	}
	return strings.Join(parts, ", ")
}

// reportSHA is the first 4 and last 4 hex digits, enough to tell two job
// file versions apart in a review.
func reportSHA(s string) string {
	if len(s) <= 10 {
		return s
	}
	return s[:4] + "…" + s[len(s)-4:]
}

// sampleWords says how good an estimate is, or "" for a full scan.
func sampleWords(p *Plan) (head, rest string) {
	s := p.Sample
	if s == nil {
		return "", ""
	}
	head = fmt.Sprintf("Estimate from a sample of %s keys, ±%s", words.Commas(s.Requested), words.Percent(s.Margin))
	rest = "(95% confidence). The sample is the first matching keys SCAN returned"
	if s.Fraction > 0 {
		rest += ", about " + words.Percent(s.Fraction) + " of them"
	}
	rest += "; counts and sizes are projected from it. Plan without --sample for exact figures."
	return head, rest
}

// --- outcomes ----------------------------------------------------------------

// changeWords names the change row and what the change is, from
// Job.Summary ("TTL from issued: 365 d after the capture issued (unix)",
// "UNLINK", "remove the TTL").
func changeWords(p *Plan) (name, detail string) {
	sum := strings.TrimSpace(p.Job.Summary)
	if p.Fields != nil {
		return "hashes with fields to change", sum // the keys stay: their fields change
	}
	switch p.Job.Action {
	case "delete", "persist":
		name = map[string]string{"delete": "delete", "persist": "remove the TTL"}[p.Job.Action]
		if p.Members != nil && p.Members.Type == "stream" {
			return "trim entries", sum
		}
		if p.Members != nil {
			return "trim members", sum
		}
		if !strings.EqualFold(sum, name) {
			detail = sum
		}
		return name, detail
	}
	if i := strings.Index(sum, ": "); i > 0 {
		return sum[:i], sum[i+2:]
	}
	if sum == "" {
		return "set a TTL", ""
	}
	return sum, ""
}

func whenNoTTL(j JobInfo) bool { return j.When == "" || j.When == "no_ttl" }

// skipWords names a skip bucket in plain words, with a note.
func skipWords(p *Plan, bucket string, st reportStyle) (label, note string) {
	switch bucket {
	case "regex":
		return "name does not match the regex", ""
	case "ttl":
		if p.Job.Action == "expire" && whenNoTTL(p.Job) {
			return "already has a TTL", "left alone (" + st.Code("when: no_ttl") + ")"
		}
		return "TTL condition not met", ""
	case "idle":
		return "idle time condition not met", ""
	case "bad_timestamp":
		if p.Members != nil && p.Members.Type == "stream" {
			return "IDs are no times", "entries with an ID before 2000: written by hand?"
		}
		if p.Members != nil {
			return "scores are no times", "members scored before 2000: seconds read as milliseconds?"
		}
		return "bad timestamp in the name", "unreadable, or the expiry would be too far ahead"
	case "too_big_to_backup":
		return "too big to back up", "over " + st.Code("backup.max_dump_size") + ": not dumped, so not changed"
	case "gone":
		return "gone before the change", ""
	case "no_members":
		if p.Members != nil && p.Members.Type == "stream" {
			return "no entry older than the cutoff", ""
		}
		return "no member older than the cutoff", ""
	case "no_fields":
		return "no field to change", ""
	case "changed_since_scan":
		return "changed since the scan", ""
	}
	return strings.ReplaceAll(bucket, "_", " "), ""
}

// skipBuckets is SkipOrder, then any other bucket the plan has, sorted.
func skipBuckets(p *Plan) []string {
	out := append([]string(nil), SkipOrder...)
	var extra []string
	for k := range p.Outcomes.Skip {
		if !inSkipOrder(k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

func inSkipOrder(bucket string) bool {
	for _, b := range SkipOrder {
		if b == bucket {
			return true
		}
	}
	return false
}

// outcomeRows are the change rows then every skip bucket. The scanned
// total is left to the renderer: it stands out differently in each format.
func outcomeRows(p *Plan, st reportStyle) []reportRow {
	o := p.Outcomes
	name, detail := changeWords(p)
	var rows []reportRow
	if o.ChangeGrace > 0 {
		// The grace row says what grace does; keep the first row to the
		// keys that get their own expiry.
		if i := strings.Index(detail, ", grace "); i >= 0 {
			detail = detail[:i]
		}
		rows = append(rows,
			reportRow{"change: " + name, words.Commas(o.Change - o.ChangeGrace), detail},
			reportRow{"change: grace TTL (already past)", words.Commas(o.ChangeGrace), graceNote(p)})
	} else {
		rows = append(rows, reportRow{"change: " + name, words.Commas(o.Change), detail})
	}
	if m := p.Members; m != nil && m.Type == "stream" {
		rows = append(rows, reportRow{"  entries selected", words.Commas(m.Selected), fmt.Sprintf(
			"of %s they hold: ID below %s (%s)", words.Commas(m.Held), m.CutoffID, m.Cutoff.UTC().Format(time.RFC3339))})
	} else if m != nil {
		rows = append(rows, reportRow{"  members selected", words.Commas(m.Selected), fmt.Sprintf(
			"of %s they hold: score below %s (%s)", words.Commas(m.Held), strings.TrimPrefix(m.CutoffScore, "("), m.Cutoff.UTC().Format(time.RFC3339))})
	}
	rows = append(rows, fieldRows(p, st)...)
	for _, b := range skipBuckets(p) {
		label, note := skipWords(p, b, st)
		if o.Skip[b] == 0 {
			note = "" // an empty bucket needs no explaining
		}
		rows = append(rows, reportRow{"skip: " + label, words.Commas(o.Skip[b]), note})
	}
	return rows
}

// scannedWords is the note of the scanned row: "of 1,149,760 keys in db0".
func scannedWords(p *Plan) string {
	t := p.Target
	if t.Mode == "cluster" {
		return fmt.Sprintf("of %s keys on %d %s", words.Commas(p.DBSize), t.Nodes, words.Plural(t.Nodes, "primary", "primaries"))
	}
	return fmt.Sprintf("of %s keys in db%d", words.Commas(p.DBSize), t.DB)
}

// scannedSelect is what was scanned: "(`ticket:*`, string)".
func scannedSelect(p *Plan, st reportStyle) string {
	parts := []string{st.Code(p.Job.Match)}
	if p.Job.Type != "" {
		parts = append(parts, p.Job.Type)
	}
	if p.Sample != nil {
		parts = append(parts, "estimate")
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// graceRange is how long after the run the grace keys expire, read from
// the grace samples (the plan's clock stands for the run's start).
func graceRange(p *Plan) (lo, hi time.Duration, ok bool) {
	for _, keys := range p.Samples {
		for _, k := range keys {
			if !k.Grace || k.NewExpire == nil {
				continue
			}
			d := k.NewExpire.Sub(p.GeneratedAt)
			if !ok || d < lo {
				lo = d
			}
			if !ok || d > hi {
				hi = d
			}
			ok = true
		}
	}
	return lo, hi, ok
}

func graceNote(p *Plan) string {
	lo, hi, ok := graceRange(p)
	if !ok {
		return "their lifetime is over: they get the grace TTL from the run's start"
	}
	after := spokenDuration(lo)
	if h := spokenDuration(hi); h != after {
		after += " – " + h
	}
	return "their lifetime is over: they expire " + after + " after the run"
}

// --- the expiry schedule -----------------------------------------------------

// expiryRows turn the buckets, each counting (previous, Within], into
// ranges a reader cannot take for running totals.
func expiryRows(p *Plan) []reportRow {
	lo, hi, graceOK := graceRange(p)
	graceOK = graceOK && p.Outcomes.ChangeGrace > 0
	var rows []reportRow
	var prev time.Duration
	prevLabel := ""
	for i, b := range p.Expiries {
		w := time.Duration(b.Within)
		var label string
		switch {
		case w <= 0 || b.Label == "later":
			label = "later"
			if prevLabel != "" {
				label = "after " + prevLabel
			}
		case i == 0:
			label = "within " + spokenDuration(w)
		default:
			label = prevLabel + " – " + spokenDuration(w)
		}
		if graceOK && w > 0 && lo > prev && hi <= w {
			label += ", incl. grace"
		}
		rows = append(rows, reportRow{label, words.Commas(b.Keys), memoryWords(p, b.MemoryBytes)})
		if w > 0 {
			prev, prevLabel = w, spokenDuration(w)
		}
	}
	return rows
}

// memoryWords is a memory figure of the plan, "unknown" when MEMORY
// USAGE could not be sent (the reason is in the warnings and the
// projection's notes).
func memoryWords(p *Plan, n int64) string {
	if p.Estimates.MemoryUnknown != "" {
		return "unknown"
	}
	return words.Size(n)
}

func expiryTotal(p *Plan) (keys, bytes int64) {
	for _, b := range p.Expiries {
		keys += b.Keys
		bytes += b.MemoryBytes
	}
	return keys, bytes
}

// peakWords is the busiest minute of the schedule.
func peakWords(p *Plan, st reportStyle) string {
	pm := p.PeakMinute
	if pm == nil || pm.Keys == 0 {
		return ""
	}
	verb := " expire"
	if pm.Keys == 1 {
		verb = " expires"
	}
	what := keysWord(pm.Keys)
	if p.Fields != nil {
		what = words.Plural(pm.Keys, "field", "fields") // a fields job's schedule counts fields
	}
	s := "Busiest minute: " + st.Strong(words.Commas(pm.Keys)+" "+what) + verb + " in the same minute, "
	d := pm.At.Sub(p.GeneratedAt)
	// Grace expiries are counted from the run's start, not from this
	// plan: name the wave by its delay, not by a clock time that moves.
	if lo, hi, ok := graceRange(p); ok && graceCount(p) > 0 && d >= lo-time.Minute && d <= hi+time.Minute {
		return s + spokenDuration(d) + " after the run starts: the grace wave."
	}
	s += pm.At.UTC().Format("2006-01-02 15:04 UTC")
	if d > 0 {
		s += " (in " + spokenDuration(d) + ")"
	}
	return s + "."
}

// --- projections -------------------------------------------------------------

func reportAOFCommand(action string) string {
	switch action {
	case "expire":
		return "PEXPIREAT"
	case "delete":
		return "UNLINK"
	case "persist":
		return "PERSIST"
	}
	return ""
}

// projectionRows are the figures a reviewer checks against disk, memory
// and replicas before approving.
func projectionRows(p *Plan, st reportStyle) []reportRow {
	e, t, o := p.Estimates, p.Target, p.Outcomes
	var rows []reportRow

	if t.AOF {
		note := reportAOFCommand(p.Job.Action)
		if m := p.Members; m != nil {
			note = map[string]string{"stream": "XDEL", "zset": "ZREM"}[m.Type] + fmt.Sprintf(" of up to %d a call", batch.MembersChunk)
		}
		if e.AOFBytesPerKey > 0 {
			note += fmt.Sprintf(", ~%s a key", words.Size(e.AOFBytesPerKey))
		}
		rows = append(rows, reportRow{"AOF appended by the run", words.Size(e.AOFBytes), strings.TrimPrefix(note, ", ")})
		if o.ChangeGrace > 0 || e.AOFGraceBytes > 0 {
			rows = append(rows, reportRow{"AOF appended by the grace wave", words.Size(e.AOFGraceBytes),
				fmt.Sprintf("a DEL for each of the %s grace keys when they expire", words.Commas(o.ChangeGrace))})
		}
	} else {
		rows = append(rows, reportRow{"AOF appended by the run", "none", "AOF is off"})
	}
	if t.Replicas > 0 {
		note := fmt.Sprintf("%d %s", t.Replicas, words.Plural(t.Replicas, "replica", "replicas"))
		if t.ReplBacklogSize > 0 {
			note += ", " + st.Code("repl-backlog-size") + " " + words.Size(t.ReplBacklogSize)
		}
		rows = append(rows, reportRow{"sent to each replica", words.Size(e.ReplicationBytes), note})
	}
	if t.AOF || e.RewriteDiskBytes > 0 {
		var notes []string
		if t.AOFSize > 0 {
			notes = append(notes, "the AOF is "+words.Size(t.AOFSize)+" now")
		}
		if t.AOF {
			notes = append(notes, "apply refuses to start with less than "+words.Size(e.RewriteDiskBytes+e.AOFBytes)+" free (this plus the run's AOF)")
		}
		rows = append(rows, reportRow{"disk an AOF rewrite needs", words.Size(e.RewriteDiskBytes), strings.Join(notes, "; ")})
	}

	if t.UsedMemory > 0 {
		note := "no maxmemory"
		if t.MaxMemory > 0 {
			note = words.Share(t.UsedMemory, t.MaxMemory, "n/a") + " of maxmemory " + words.Size(t.MaxMemory)
		}
		if t.MaxMemoryPolicy != "" {
			note += ", " + t.MaxMemoryPolicy
		}
		rows = append(rows, reportRow{"memory now", words.Size(t.UsedMemory), note})
	}
	if p.Job.Action == "delete" || e.MemoryFreedBytes > 0 {
		note := ""
		if t.MaxMemory > 0 && t.UsedMemory > 0 {
			note = "→ " + words.Share(t.UsedMemory-e.MemoryFreedBytes, t.MaxMemory, "n/a") + " of maxmemory"
		}
		freed := words.Size(e.MemoryFreedBytes)
		if e.MemoryUnknown != "" {
			freed, note = "unknown", e.MemoryUnknown
		}
		rows = append(rows, reportRow{"memory freed by the run", freed, note})
	}
	if p.Job.Action == "expire" || e.MemoryAddedBytes > 0 {
		note := "a new entry in the expires table for each key"
		if p.Fields != nil {
			note = "a TTL of its own for each field"
		}
		if t.MaxMemory > 0 && t.UsedMemory > 0 {
			note = "→ " + words.Share(t.UsedMemory+e.MemoryAddedBytes, t.MaxMemory, "n/a") + " of maxmemory"
		}
		rows = append(rows, reportRow{"memory added (expires entries)", words.Size(e.MemoryAddedBytes), note})
	}
	if p.Job.Action == "expire" || e.MemoryExpiringBytes > 0 {
		freed, note := words.Size(e.MemoryExpiringBytes), "over time, see the schedule"
		if e.MemoryUnknown != "" {
			freed, note = "unknown", e.MemoryUnknown
		}
		rows = append(rows, reportRow{"memory freed as keys expire", freed, note})
	}

	rows = append(rows, forkRows(p, st)...)

	runFor := spokenDuration(secondsDuration(e.DurationSeconds))
	if e.DurationSeconds == 0 && p.Outcomes.Change > 0 {
		runFor = "as fast as the server answers" // both rates unlimited: no rate to divide by
	}
	rows = append(rows, reportRow{"duration of the run", runFor, rateWords(p.Job)})
	if p.Job.MaxChanges > 0 {
		rows = append(rows, reportRow{"limit " + st.Code("limits.max_changes"), words.Commas(p.Job.MaxChanges),
			"this plan: " + words.Commas(o.Change) + " (" + words.Share(o.Change, p.Job.MaxChanges, "n/a") + ")"})
	}

	switch p.Job.Backup {
	case "none":
		rows = append(rows, reportRow{"journal", st.Strong("none — undo impossible"), "the job says " + st.Code("backup: none")})
	case "dump":
		if p.Members != nil && p.Members.Type == "stream" {
			rows = append(rows, reportRow{"journal", words.Size(e.JournalBytes), "each stream's DUMP before its first trim and the IDs removed: undo restores it unless written since"})
			break
		}
		if p.Members != nil {
			rows = append(rows, reportRow{"journal", words.Size(e.JournalBytes), "the removed members with their scores: undo adds them back"})
			break
		}
		rows = append(rows, reportRow{"journal", words.Size(e.JournalBytes), "previous TTLs and DUMP payloads: undo can restore deleted keys"})
	default:
		rows = append(rows, reportRow{"journal", words.Size(e.JournalBytes), "previous TTLs: undo possible"})
	}
	return rows
}

// forkRows are one row a fork: "1 BGSAVE (save 60 10000)" becomes the
// value "1 BGSAVE" and the note "save 60 10000", so a long list does not
// stretch the value column.
func forkRows(p *Plan, st reportStyle) []reportRow {
	var rows []reportRow
	for _, f := range p.Estimates.Forks {
		value, note := f, ""
		if i := strings.Index(f, " ("); i > 0 && strings.HasSuffix(f, ")") {
			value, note = f[:i], f[i+2:len(f)-1]
		}
		rows = append(rows, reportRow{"", value, note})
	}
	if len(rows) == 0 && slices.ContainsFunc(p.Warnings, func(m Message) bool { return m.Code == WarnConfigRefused }) {
		rows = append(rows, reportRow{"", "unknown", "CONFIG GET refused: save points and AOF rewrite settings unknown"})
	}
	if len(rows) == 0 {
		rows = append(rows, reportRow{"", "none expected", ""})
	}
	rows[0].label = "forks the run triggers"
	if f := p.Target.ForkInProgress; f != "" {
		rows = append(rows, reportRow{"", st.Strong("a " + f + " is running now"), ""})
	}
	return rows
}

// rateWords are the rates the duration follows: the run is as slow as
// the slower of writing and scanning.
func rateWords(j JobInfo) string {
	num := func(rate string) (string, bool) {
		if rate == "" || rate == "unlimited" {
			return "", false
		}
		if n, err := strconv.ParseFloat(rate, 64); err == nil {
			return words.Commas(int64(math.Round(n))), true
		}
		return rate, true
	}
	s := "changes unlimited"
	if n, ok := num(j.Rate); ok {
		s = "at " + n + " changes/s"
	}
	if n, ok := num(j.ScanRate); ok {
		s += ", " + n + " keys scanned/s"
	} else if j.ScanRate != "" {
		s += ", scanning unlimited"
	}
	return s
}

// guardState is a guard's state in plain words.
func guardState(g GuardLine, st reportStyle) string {
	var s string
	switch g.State {
	case "ok", "":
		s = "ok"
	case "blind":
		s = st.Strong("cannot check")
	default:
		s = st.Strong(g.State)
	}
	if g.Note != "" {
		s += " — " + g.Note
	}
	return s
}
