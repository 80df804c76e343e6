package jobs

import (
	"testing"
	"time"
)

func TestParse_Header(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "missing everything",
		src: `description: nothing else
`,
		want: `job.yaml:1:1: version: want 1, got nothing (start the file with version: 1)
job.yaml:1:1: name: want a name of lowercase letters, digits and dashes such as ticket-ttl-backfill, got nothing
job.yaml:1:1: select: want a mapping with a match glob such as match: "ticket:*", got nothing
job.yaml:1:1: action: want exactly one of expire, delete, persist, got nothing`,
	}, {
		name: "version, name, db",
		src: `version: 2
name: Ticket TTL
db: -1
select:
  match: "k:*"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:1:10: version: want 1, got 2 (this keyjob reads job file format version 1)
job.yaml:2:7: name: want a name of lowercase letters, digits and dashes such as ticket-ttl-backfill, got "Ticket TTL"
job.yaml:3:5: db: want an integer >= 0, got -1`,
	}, {
		name: "name too long",
		src: `version: 1
name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
select:
  match: "k:*"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:2:7: name: want at most 100 characters, got 101`,
	}, {
		name: "name starting with a dash",
		src: `version: 1
name: -x
select:
  match: "k:*"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:2:7: name: want a name of lowercase letters, digits and dashes such as ticket-ttl-backfill, got "-x"`,
	}})
}

func TestParse_Select(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "bare star without allow_all",
		src: `version: 1
name: x
select:
  match: "*"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:4:10: select.match: want a glob narrower than the whole keyspace, got "*" (set select.allow_all: true to scan the whole keyspace)`,
	}, {
		name: "stars only, allow_all false",
		src: `version: 1
name: x
select:
  match: "**"
  allow_all: false
action:
  delete: {}
backup: none
`,
		want: `job.yaml:4:10: select.match: want a glob narrower than the whole keyspace, got "**" (set select.allow_all: true to scan the whole keyspace)`,
	}, {
		name: "no match",
		src: `version: 1
name: x
select:
  type: hash
action:
  delete: {}
backup: none
`,
		want: `job.yaml:3:1: select.match: want a SCAN MATCH glob such as "ticket:*", got nothing`,
	}, {
		name: "empty match",
		src: `version: 1
name: x
select:
  match: ""
action:
  delete: {}
backup: none
`,
		want: `job.yaml:4:10: select.match: want a SCAN MATCH glob such as "ticket:*", got ""`,
	}, {
		name: "bad type",
		src: `version: 1
name: x
select:
  match: "k:*"
  type: strings
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:9: select.type: want one of string, hash, list, set, zset, stream, got "strings"`,
	}, {
		name: "bad regex",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(\d+'
action:
  delete: {}
backup: none
`,
		want: "job.yaml:5:10: select.regex: want an RE2 regular expression, got `^k:(\\d+`: missing closing )",
	}, {
		name: "regex with lookahead",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?=\d)'
action:
  delete: {}
backup: none
`,
		want: "job.yaml:5:10: select.regex: want an RE2 regular expression, got `^k:(?=\\d)`: invalid or unsupported Perl syntax at `(?=` (RE2 has no lookaround and no backreferences)",
	}, {
		name: "bad ttl",
		src: `version: 1
name: x
select:
  match: "k:*"
  ttl: "<= 1h"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:8: select.ttl: want none, any, or a comparison such as "< 1h" or "> 30d", got "<= 1h"`,
	}, {
		name: "ttl nobody meets",
		src: `version: 1
name: x
select:
  match: "k:*"
  ttl: "< 0s"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:8: select.ttl: want a comparison some key can meet, got "< 0s"`,
	}, {
		name: "bad idle",
		src: `version: 1
name: x
select:
  match: "k:*"
  idle: 30d
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:9: select.idle: want a comparison such as "< 1h" or "> 30d", got "30d"`,
	}, {
		name: "idle past the LRU clock",
		src: `version: 1
name: x
select:
  match: "k:*"
  idle: "> 181d"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:9: select.idle: want at most 180d, got "> 181d" (the server's LRU clock wraps at about 194 days, so longer idle times cannot be told apart)`,
	}})
}

func TestParse_Backup(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "delete without a backup choice",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
`,
		want: `job.yaml:6:11: backup: want dump or none with a delete job, got nothing (journal, the default, cannot undo a delete: add backup: dump to keep each key's payload for undo, or backup: none for no undo)`,
	}, {
		name: "delete with journal",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: journal
`,
		want: `job.yaml:7:9: backup: want dump or none with a delete job, got journal (journal, the default, cannot undo a delete: add backup: dump to keep each key's payload for undo, or backup: none for no undo)`,
	}, {
		name: "delete with journal, mapping form",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup:
  mode: journal
`,
		want: `job.yaml:8:9: backup.mode: want dump or none with a delete job, got journal (journal, the default, cannot undo a delete: add backup: dump to keep each key's payload for undo, or backup: none for no undo)`,
	}, {
		name: "unknown mode",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  persist: {}
backup: full
`,
		want: `job.yaml:7:9: backup: want journal, dump or none, or {mode: dump, max_dump_size: 16MiB}, got "full"`,
	}, {
		name: "mapping without mode, bad size",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  persist: {}
backup:
  max_dump_size: 16 megs
`,
		want: `job.yaml:7:1: backup.mode: want journal, dump or none, got nothing
job.yaml:8:18: backup.max_dump_size: want a size such as 16MiB, 1GB or 1048576 (bytes), got "16 megs"`,
	}, {
		name: "max_dump_size without dump",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  persist: {}
backup: {mode: none, max_dump_size: 1MiB}
`,
		want: `job.yaml:7:37: backup.max_dump_size: want max_dump_size only with mode: dump, got it with mode: none`,
	}, {
		name: "max_dump_size zero",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: {mode: dump, max_dump_size: 0}
`,
		want: `job.yaml:7:37: backup.max_dump_size: want a size above zero, got "0"`,
	}, {
		name: "unknown field",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: {mode: dump, max_size: 1MiB}
`,
		want: `job.yaml:7:22: backup.max_size: unknown field, want one of mode, max_dump_size`,
	}})
}

func TestParse_Limits(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "every limit wrong",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
limits:
  rate: fast
  scan_rate: 0
  scan_count: 0
  max_changes: 0
`,
		want: `job.yaml:9:9: limits.rate: want a positive number (per second) or unlimited, got "fast"
job.yaml:10:14: limits.scan_rate: want a positive number (per second) or unlimited, got "0"
job.yaml:11:15: limits.scan_count: want an integer from 1 to 100000, got 0
job.yaml:12:16: limits.max_changes: want a positive integer, got 0 (leave max_changes out for no limit)`,
	}, {
		name: "scan_count too large, negative rate",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
limits:
  rate: -5
  scan_count: 1000000
`,
		want: `job.yaml:9:9: limits.rate: want a positive number (per second) or unlimited, got "-5"
job.yaml:10:15: limits.scan_count: want an integer from 1 to 100000, got 1000000`,
	}})
}

func TestParse_AllFields(t *testing.T) {
	j := mustParse(t, `version: 1
name: all-fields
description: every field set
db: 3
select:
  match: "report:*"
  allow_all: true
  type: hash
  regex: '^report:(?P<day>\d{8}):(?P<id>\d+)$'
  ttl: "> 30d"
  idle: "> 7d"
action:
  expire:
    from: {capture: day, format: "20060102", time_zone: Europe/Berlin}
    after: 90d
    grace: 2h
    grace_spread: 1d12h
    when: longer
    jitter: 2.5%
backup: {mode: dump, max_dump_size: 1GiB}
limits:
  rate: 250.5
  scan_rate: unlimited
  scan_count: 500
  max_changes: 1000000
`)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	checks := []struct {
		field     string
		got, want any
	}{
		{"version", j.Version, 1},
		{"name", j.Name, "all-fields"},
		{"description", j.Description, "every field set"},
		{"db", *j.DB, 3},
		{"select.match", j.Select.Match, "report:*"},
		{"select.allow_all", j.Select.AllowAll, true},
		{"select.type", j.Select.Type, "hash"},
		{"select.regex", j.Select.Regex.String(), `^report:(?P<day>\d{8}):(?P<id>\d+)$`},
		{"select.ttl", j.Select.TTL, TTLCond{Kind: TTLCompare, Cmp: Comparison{Greater, 30 * day}}},
		{"select.idle", *j.Select.Idle, Comparison{Greater, 7 * day}},
		{"action", j.Action.Kind, ActionExpire},
		{"from.capture", j.Action.Expire.From.Capture, "day"},
		{"from.format", j.Action.Expire.From.Format, "20060102"},
		{"from.time_zone", j.Action.Expire.From.Location.String(), berlin.String()},
		{"after", j.Action.Expire.After, 90 * day},
		{"grace", j.Action.Expire.Grace, 2 * time.Hour},
		{"grace_spread", j.Action.Expire.GraceSpread, 36 * time.Hour},
		{"when", j.Action.Expire.When, WhenLonger},
		{"jitter", j.Action.Expire.Jitter, 0.025},
		{"ttl", j.Action.Expire.TTL, time.Duration(0)},
		{"backup.mode", j.Backup.Mode, BackupDump},
		{"backup.max_dump_size", j.Backup.MaxDumpSize, int64(1 << 30)},
		{"limits.rate", j.Limits.Rate, Rate(250.5)},
		{"limits.scan_rate", j.Limits.ScanRate, Unlimited},
		{"limits.scan_count", j.Limits.ScanCount, 500},
		{"limits.max_changes", j.Limits.MaxChanges, int64(1000000)},
		{"captures", len(j.Captures()), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestParse_Defaults(t *testing.T) {
	j := mustParse(t, `version: 1
name: defaults
select:
  match: "ticket:*"
  regex: '^ticket:(?P<ts>\d+)$'
action:
  expire:
    from: {capture: ts, format: unix}
    after: 1d
`)
	e := j.Action.Expire
	checks := []struct {
		field     string
		got, want any
	}{
		{"db", j.DB == nil, true},
		{"select.type", j.Select.Type, ""},
		{"select.ttl", j.Select.TTL.Kind, TTLAny},
		{"select.idle", j.Select.Idle == nil, true},
		{"select.allow_all", j.Select.AllowAll, false},
		{"grace", e.Grace, time.Hour},
		{"grace_spread", e.GraceSpread, time.Duration(0)},
		{"when", e.When, WhenNoTTL},
		{"jitter", e.Jitter, 0.0},
		{"time_zone", e.From.Location, time.UTC},
		{"backup.mode", j.Backup.Mode, BackupJournal},
		{"backup.max_dump_size", j.Backup.MaxDumpSize, int64(16 << 20)},
		{"limits.rate", j.Limits.Rate, Rate(5000)},
		{"limits.scan_rate", j.Limits.ScanRate, Rate(100000)},
		{"limits.scan_count", j.Limits.ScanCount, 1000},
		{"limits.max_changes", j.Limits.MaxChanges, int64(0)},
		{"guards", len(j.Guards.Set()), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestParse_SelectForms(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		want TTLCond
	}{
		{"any", TTLCond{Kind: TTLAny}},
		{"none", TTLCond{Kind: TTLNone}},
		{`"< 1h"`, TTLCond{Kind: TTLCompare, Cmp: Comparison{Less, time.Hour}}},
		{`">30d"`, TTLCond{Kind: TTLCompare, Cmp: Comparison{Greater, 30 * day}}},
		{"null", TTLCond{Kind: TTLAny}},
	} {
		j := mustParse(t, "version: 1\nname: x\nselect: {match: \"k:*\", ttl: "+tc.ttl+"}\naction: {delete: {}}\nbackup: none\n")
		if j.Select.TTL != tc.want {
			t.Errorf("ttl: %s gave %+v, want %+v", tc.ttl, j.Select.TTL, tc.want)
		}
	}
	for _, typ := range keyTypes {
		j := mustParse(t, "version: 1\nname: x\nselect: {match: \"k:*\", type: "+typ+"}\naction: {delete: {}}\nbackup: none\n")
		if j.Select.Type != typ {
			t.Errorf("type: %s gave %q", typ, j.Select.Type)
		}
	}
	j := mustParse(t, "version: 1\nname: x\nselect: {match: \"*\", allow_all: true}\naction: {delete: {}}\nbackup: none\n")
	if j.Select.Match != "*" || !j.Select.AllowAll {
		t.Errorf("allow_all: got %+v", j.Select)
	}
}

func TestParse_BackupForms(t *testing.T) {
	for _, tc := range []struct {
		backup string
		want   Backup
	}{
		{"journal", Backup{BackupJournal, 16 << 20}},
		{"dump", Backup{BackupDump, 16 << 20}},
		{"none", Backup{BackupNone, 16 << 20}},
		{"{mode: dump}", Backup{BackupDump, 16 << 20}},
		{"{mode: dump, max_dump_size: 64MiB}", Backup{BackupDump, 64 << 20}},
		{"{mode: dump, max_dump_size: 1048576}", Backup{BackupDump, 1 << 20}},
	} {
		j := mustParse(t, "version: 1\nname: x\nselect: {match: \"k:*\"}\naction: {persist: {}}\nbackup: "+tc.backup+"\n")
		if j.Backup != tc.want {
			t.Errorf("backup: %s gave %+v, want %+v", tc.backup, j.Backup, tc.want)
		}
	}
}

// mustParse parses src as job.yaml and fails the test on any error.
func mustParse(t *testing.T, src string) *Job {
	t.Helper()
	j, err := Parse("job.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return j
}
