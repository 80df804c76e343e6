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
		want: `job.yaml:6:3: members: want select.type: zset or stream with members, got no select.type (members selects the members of sorted sets whose score is a time, or the entries of streams)`,
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
		want: `job.yaml:5:9: members: want select.type: zset or stream with members, got select.type: hash (members selects the members of sorted sets whose score is a time, or the entries of streams)`,
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
		want: `job.yaml:6:1: members.older_than: want a duration such as 365d or 1h30m, got nothing (members whose time is longer ago than this at the run's start are selected)
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

const trimEventStreams = `version: 1
name: trim-event-streams
select:
  match: "events:*"
  type: stream
members:
  older_than: 7d
action:
  delete: {}
backup: dump
`

func TestParse_MembersStream(t *testing.T) {
	j, err := Parse("job.yaml", []byte(trimEventStreams))
	if err != nil {
		t.Fatal(err)
	}
	if j.Members == nil || !j.Members.Stream || j.Members.ScoreFormat != "" || j.Members.OlderThan != 7*day || j.Backup.Mode != BackupDump {
		t.Fatalf("members = %+v, backup = %+v", j.Members, j.Backup)
	}
	none, err := Parse("job.yaml", []byte(replaceOnce(trimEventStreams, "backup: dump", "backup: none")))
	if err != nil || none.Backup.Mode != BackupNone {
		t.Fatalf("backup: none: %v", err)
	}
	z, err := Parse("job.yaml", []byte(trimTimelines))
	if err != nil || z.Members.Stream {
		t.Fatalf("a zset job is no stream job: %v", err)
	}
}

func TestStreamRange(t *testing.T) {
	start := time.Date(2026, 12, 5, 12, 0, 0, 123_000_000, time.UTC)
	r := (&Members{Stream: true, OlderThan: 7 * day}).StreamRange(start)
	if r.CutoffID != "1795867200123-0" || r.Last != "1795867200122" || r.FloorID != "946684800000-0" || !r.CutoffTime.Equal(start.Add(-7*day)) {
		t.Errorf("stream range: %+v", r)
	}
}

func TestParse_MembersStreamErrors(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "score on a stream",
		src: `version: 1
name: x
select: {match: "e:*", type: stream}
members: {score: {format: unix_ms}, older_than: 7d}
action: {delete: {}}
backup: dump
`,
		want: `job.yaml:4:18: members.score: want no score with select.type: stream, got one (a stream entry's time is its ID (milliseconds since 1970): leave members.score out)`,
	}, {
		name: "journal on a stream",
		src: `version: 1
name: x
select: {match: "e:*", type: stream}
members: {older_than: 7d}
action: {delete: {}}
backup: journal
`,
		want: `job.yaml:6:9: backup: want dump or none with stream members, got journal (a removed stream entry cannot be added back (XADD refuses an ID below the stream's last one): add backup: dump to keep each stream's DUMP for undo, or backup: none for no undo)`,
	}, {
		name: "no backup on a stream",
		src: `version: 1
name: x
select: {match: "e:*", type: stream}
members: {older_than: 7d}
action: {delete: {}}
`,
		want: `job.yaml:4:10: backup: want dump or none with stream members, got nothing (a removed stream entry cannot be added back (XADD refuses an ID below the stream's last one): add backup: dump to keep each stream's DUMP for undo, or backup: none for no undo)`,
	}, {
		name: "persist on a stream",
		src: `version: 1
name: x
select: {match: "e:*", type: stream}
members: {older_than: 7d}
action: {persist: {}}
backup: dump
`,
		want: `job.yaml:5:19: members: want action.delete: {} with members, got persist (entries are removed (XDEL); an expiry of its own per entry is not something a stream has)`,
	}})
}
