package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Defaults the job file does not have to spell out (docs/job-file.md).
const (
	DefaultRate        = Rate(5000)
	DefaultScanRate    = Rate(100000)
	DefaultScanCount   = 1000
	DefaultGrace       = time.Hour
	DefaultMaxDumpSize = 16 << 20

	// maxScanCount bounds the SCAN COUNT hint: one SCAN call walks about
	// that many buckets while the server does nothing else.
	maxScanCount = 100000
	// maxIdle is the longest idle time a condition may name: the server's
	// LRU clock wraps at about 194 days.
	maxIdle = 180 * day
	// maxNameLen keeps names usable as file names.
	maxNameLen = 100
)

const deleteBackupHint = "journal, the default, cannot undo a delete: add backup: dump to keep each key's payload for undo, or backup: none for no undo"

// streamBackupHint says why a stream trim needs a DUMP: an entry cannot be
// added back below the stream's last ID, so undo restores the whole key.
const streamBackupHint = "a removed stream entry cannot be added back (XADD refuses an ID below the stream's last one): add backup: dump to keep each stream's DUMP for undo, or backup: none for no undo"

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// keyTypes are the values select.type accepts (SCAN TYPE).
var keyTypes = []string{"string", "hash", "list", "set", "zset", "stream"}

// validator turns the decoded raw job into a Job, recording every problem
// in the tree's errors.
type validator struct {
	t *tree
	// regexField is the regex whose groups action.expire.from.capture
	// names: select.regex, or fields.regex for a fields job.
	regexField string
}

// fail records a problem with field, pointing at field.
func (v *validator) fail(field, format string, args ...any) *Error {
	return v.failAt(field, field, format, args...)
}

// failAt records a problem with field, pointing at where (a combination
// of fields is reported at the one to change). A field the structure check
// already refused gets no second error.
func (v *validator) failAt(where, field, format string, args ...any) *Error {
	if v.t.refused(field) || v.t.refused(where) {
		return &Error{} // dropped
	}
	line, col := v.t.pos(where)
	e := &Error{File: v.t.file, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)}
	v.t.errs = append(v.t.errs, e)
	v.t.bad[field] = true
	return e
}

// ok reports whether field (and what it sits in) passed so far, for checks
// that combine fields.
func (v *validator) ok(field string) bool { return !v.t.refused(field) }

func (v *validator) job(r *rawJob) *Job {
	j := &Job{Version: v.version(r.Version), Name: v.name(r.Name), DB: v.db(r.DB)}
	if r.Description != nil {
		j.Description = *r.Description
	}
	j.Select = v.selection(r.Select)
	v.regexField = "select.regex"
	capSel := &j.Select
	if r.Fields != nil {
		j.Fields = v.fields(r.Fields, &j.Select)
		v.regexField = "fields.regex"
		capSel = &Select{Regex: j.Fields.Regex}
	}
	j.Action = v.action(r.Action, capSel)
	j.Members = v.members(r.Members, &j.Select, j.Action.Kind)
	v.fieldsAction(r, j)
	j.Backup = v.backup(r.Backup, j.Action.Kind, j.Members)
	j.Limits = v.limits(r.Limits)
	j.Guards = v.guards(r.Guards)
	j.Select.matcher = newNameMatcher(j)
	if j.Fields != nil {
		j.Fields.job = j.Fields.decider(j)
	}
	return j
}

func (v *validator) version(n *int) int {
	switch {
	case n == nil:
		v.fail("version", "want %d, got nothing", FormatVersion).Hint = "start the file with version: 1"
		return 0
	case *n != FormatVersion:
		v.fail("version", "want %d, got %d", FormatVersion, *n).Hint = "this keyjob reads job file format version 1"
	}
	return *n
}

func (v *validator) name(s *string) string {
	const want = "a name of lowercase letters, digits and dashes such as ticket-ttl-backfill"
	switch {
	case s == nil:
		v.fail("name", "want %s, got nothing", want)
		return ""
	case !nameRE.MatchString(*s):
		v.fail("name", "want %s, got %q", want, *s)
	case len(*s) > maxNameLen:
		v.fail("name", "want at most %d characters, got %d", maxNameLen, len(*s))
	}
	return *s
}

func (v *validator) db(n *int) *int {
	if n != nil && *n < 0 {
		v.fail("db", "want an integer >= 0, got %d", *n)
	}
	return n
}

func (v *validator) selection(r *rawSelect) Select {
	var s Select
	if r == nil {
		v.fail("select", `want a mapping with a match glob such as match: "ticket:*", got nothing`)
		return s
	}
	if r.AllowAll != nil {
		s.AllowAll = *r.AllowAll
	}
	s.Match = v.match(r.Match, s.AllowAll)
	if r.Type != nil {
		s.Type = *r.Type
		if !slices.Contains(keyTypes, s.Type) {
			v.fail("select.type", "want one of %s, got %q", strings.Join(keyTypes, ", "), s.Type)
		}
	}
	s.Regex = v.regex(r.Regex)
	s.TTL = v.ttlCond(r.TTL)
	s.Idle = v.idle(r.Idle)
	return s
}

func (v *validator) match(s *string, allowAll bool) string {
	switch {
	case s == nil:
		v.fail("select.match", `want a SCAN MATCH glob such as "ticket:*", got nothing`)
		return ""
	case *s == "":
		v.fail("select.match", `want a SCAN MATCH glob such as "ticket:*", got ""`)
	case strings.Trim(*s, "*") == "" && !allowAll:
		v.fail("select.match", "want a glob narrower than the whole keyspace, got %q", *s).Hint =
			"set select.allow_all: true to scan the whole keyspace"
	}
	return *s
}

func (v *validator) regex(s *string) *regexp.Regexp { return v.regexAt("select.regex", s) }

func (v *validator) regexAt(field string, s *string) *regexp.Regexp {
	if s == nil {
		return nil
	}
	re, err := regexp.Compile(*s)
	if err != nil {
		e := v.fail(field, "want an RE2 regular expression, got `%s`: %s", *s, regexProblem(err, *s))
		if strings.Contains(err.Error(), "Perl syntax") {
			e.Hint = "RE2 has no lookaround and no backreferences"
		}
		return nil
	}
	return re
}

// regexProblem gives the parser's complaint without its "error parsing
// regexp: " prefix, and the part it complains about when that is not the
// whole expression. Regexes are shown in backquotes, as written: %q would
// double every backslash.
func regexProblem(err error, expr string) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.Expr == expr {
		return string(se.Code)
	}
	return fmt.Sprintf("%s at `%s`", se.Code, se.Expr)
}

func (v *validator) ttlCond(s *ttlText) TTLCond {
	if s == nil {
		return TTLCond{}
	}
	switch *s {
	case "any":
		return TTLCond{Kind: TTLAny}
	case "none":
		return TTLCond{Kind: TTLNone}
	}
	c, err := parseComparison(string(*s))
	if err != nil {
		v.fail("select.ttl", "want %s, got %q", wantTTL, *s)
		return TTLCond{}
	}
	if !v.satisfiable("select.ttl", c, string(*s)) {
		return TTLCond{}
	}
	return TTLCond{Kind: TTLCompare, Cmp: c}
}

func (v *validator) idle(s *comparisonText) *Comparison {
	if s == nil {
		return nil
	}
	c, err := parseComparison(string(*s))
	if err != nil {
		v.fail("select.idle", "%s", err)
		return nil
	}
	if c.D > maxIdle {
		v.fail("select.idle", "want at most %s, got %q", FormatDuration(maxIdle), *s).Hint =
			"the server's LRU clock wraps at about 194 days, so longer idle times cannot be told apart"
		return nil
	}
	if !v.satisfiable("select.idle", c, string(*s)) {
		return nil
	}
	return &c
}

// satisfiable refuses "< 0s", which no key meets.
func (v *validator) satisfiable(field string, c Comparison, text string) bool {
	if c.Op == Less && c.D == 0 {
		v.fail(field, "want a comparison some key can meet, got %q", text)
		return false
	}
	return true
}

func (v *validator) limits(r *rawLimits) Limits {
	l := Limits{Rate: DefaultRate, ScanRate: DefaultScanRate, ScanCount: DefaultScanCount}
	if r == nil {
		return l
	}
	l.Rate = v.rate("limits.rate", r.Rate, l.Rate)
	l.ScanRate = v.rate("limits.scan_rate", r.ScanRate, l.ScanRate)
	if n := r.ScanCount; n != nil {
		l.ScanCount = *n
		if *n < 1 || *n > maxScanCount {
			v.fail("limits.scan_count", "want an integer from 1 to %d, got %d", maxScanCount, *n)
		}
	}
	if n := r.MaxChanges; n != nil {
		l.MaxChanges = *n
		if *n < 1 {
			v.fail("limits.max_changes", "want a positive integer, got %d", *n).Hint =
				"leave max_changes out for no limit"
		}
	}
	return l
}

func (v *validator) rate(field string, s *rateText, def Rate) Rate {
	if s == nil {
		return def
	}
	r, err := ParseRate(string(*s))
	if err != nil {
		v.fail(field, "%s", err)
		return def
	}
	return r
}

func (v *validator) backup(r *rawBackup, kind ActionKind, members *Members) Backup {
	b := Backup{Mode: BackupJournal, MaxDumpSize: DefaultMaxDumpSize}
	if members != nil && !members.Stream {
		// The journal keeps each removed member with its score: undo
		// needs no DUMP, so a members delete takes journal too.
		kind = 0
	}
	if r == nil {
		if members != nil && members.Stream {
			v.failAt("members", "backup", "want dump or none with stream members, got nothing").Hint = streamBackupHint
		} else if kind == ActionDelete {
			v.failAt("action.delete", "backup", "want dump or none with a delete job, got nothing").Hint = deleteBackupHint
		}
		return b
	}
	field := "backup"
	if _, isMap := v.t.vals["backup"].(*ast.MappingNode); isMap {
		field = "backup.mode"
	}
	b.Mode = v.backupMode(field, r.Mode, kind, members != nil && members.Stream)
	if r.MaxDumpSize != nil {
		b.MaxDumpSize = v.size("backup.max_dump_size", r.MaxDumpSize, b.MaxDumpSize, true)
		if b.Mode != BackupDump && v.ok(field) {
			v.fail("backup.max_dump_size", "want max_dump_size only with mode: dump, got it with mode: %s", *r.Mode)
		}
	}
	return b
}

func (v *validator) backupMode(field string, s *string, kind ActionKind, stream bool) BackupMode {
	modes := map[string]BackupMode{"journal": BackupJournal, "dump": BackupDump, "none": BackupNone}
	if s == nil {
		v.fail(field, "want journal, dump or none, got nothing")
		return BackupJournal
	}
	m, ok := modes[*s]
	if !ok {
		want := "journal, dump or none"
		if field == "backup" {
			want = wantBackup
		}
		v.fail(field, "want %s, got %q", want, *s)
		return BackupJournal
	}
	switch {
	case stream && m == BackupJournal:
		v.fail(field, "want dump or none with stream members, got journal").Hint = streamBackupHint
	case kind == ActionDelete && m == BackupJournal:
		v.fail(field, "want dump or none with a delete job, got journal").Hint = deleteBackupHint
	}
	return m
}

// size parses an optional size; positive refuses zero.
func (v *validator) size(field string, s *sizeText, def int64, positive bool) int64 {
	if s == nil {
		return def
	}
	n, err := ParseSize(string(*s))
	if err != nil {
		v.fail(field, "%s", err)
		return def
	}
	if positive && n == 0 {
		v.fail(field, "want a size above zero, got %q", *s)
	}
	return n
}
