package jobs

import (
	"testing"
	"time"
)

const trimTimelines = `version: 1
name: trim-timelines
select:
  match: "timeline:*"
  type: zset
members:
  score: { format: unix_ms }
  older_than: 90d
action:
  delete: {}
backup: dump
`

func TestParse_Members(t *testing.T) {
	j, err := Parse("job.yaml", []byte(trimTimelines))
	if err != nil {
		t.Fatal(err)
	}
	if j.Members == nil || j.Members.ScoreFormat != FormatUnixMS || j.Members.OlderThan != 90*day || j.Action.Kind != ActionDelete {
		t.Fatalf("members = %+v, action = %+v", j.Members, j.Action)
	}
	// A members delete keeps the removed members in the journal: journal
	// is enough to undo it.
	src := `version: 1
name: x
select: {match: "t:*", type: zset}
members: {score: {format: unix}, older_than: 7d}
action: {delete: {}}
`
	if j, err := Parse("job.yaml", []byte(src)); err != nil || j.Backup.Mode != BackupJournal {
		t.Fatalf("without backup: %v, %+v", err, j)
	}
	// The members change what a run does: a checkpoint is bound to them.
	other, err := Parse("job.yaml", []byte(trimTimelines[:len(trimTimelines)-len("backup: dump\n")]+"backup: dump\n"))
	if err != nil || other.EffectSHA256 != j.EffectSHA256 {
		t.Fatalf("same job, other effect: %v", err)
	}
	j2, err := Parse("job.yaml", []byte(replaceOnce(trimTimelines, "90d", "30d")))
	if err != nil || j2.EffectSHA256 == j.EffectSHA256 {
		t.Fatalf("older_than does not change the effect digest: %v", err)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

func TestParse_MembersErrors(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "no type",
		src: `version: 1
name: x
select:
  match: "t:*"
members:
  score: {format: unix_ms}
  older_than: 90d
action:
  delete: {}
`,
		want: `job.yaml:6:3: members: want select.type: zset with members, got no select.type (members selects the members of sorted sets whose score is a time)`,
	}, {
		name: "other type",
		src: `version: 1
name: x
select:
  match: "t:*"
  type: hash
members:
  score: {format: unix_ms}
  older_than: 90d
action:
  delete: {}
`,
		want: `job.yaml:5:9: members: want select.type: zset with members, got select.type: hash (members selects the members of sorted sets whose score is a time)`,
	}, {
		name: "expire",
		src: `version: 1
name: x
select:
  match: "t:*"
  type: zset
members:
  score: {format: unix_ms}
  older_than: 90d
action:
  expire: {ttl: 1d}
`,
		want: `job.yaml:10:11: members: want action.delete: {} with members, got expire (members are removed (ZREM); an expiry of its own per member is not something a sorted set has)`,
	}, {
		name: "bad format, no older_than",
		src: `version: 1
name: x
select:
  match: "t:*"
  type: zset
members:
  score: {format: rfc3339}
action:
  delete: {}
`,
		want: `job.yaml:6:1: members.older_than: want a duration such as 365d or 1h30m, got nothing (members whose score is a time longer ago than this at the run's start are selected)
job.yaml:7:19: members.score.format: want unix or unix_ms, got "rfc3339" (a score is a number: seconds (unix) or milliseconds (unix_ms) since 1970)`,
	}, {
		name: "unknown field, zero older_than",
		src: `version: 1
name: x
select:
  match: "t:*"
  type: zset
members:
  score: {format: unix}
  older_than: 0
  newer_than: 1d
action:
  delete: {}
`,
		want: `job.yaml:8:15: members.older_than: want a duration above zero, got "0"
job.yaml:9:3: members.newer_than: unknown field, want one of score, older_than`,
	}})
}

func TestMembersRange(t *testing.T) {
	start := time.Date(2026, 12, 5, 12, 0, 0, 123_000_000, time.UTC)
	ms := (&Members{ScoreFormat: FormatUnixMS, OlderThan: 90 * day}).Range(start)
	if ms.Floor != "946684800000" || ms.Cutoff != "(1788696000123" {
		t.Errorf("unix_ms: %+v", ms)
	}
	s := (&Members{ScoreFormat: FormatUnix, OlderThan: 90 * day}).Range(start)
	if s.Floor != "946684800" || s.Cutoff != "(1788696000.123" || !s.CutoffTime.Equal(start.Add(-90*day)) {
		t.Errorf("unix: %+v", s)
	}
}
