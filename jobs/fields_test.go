package jobs

import (
	"testing"
	"time"
)

const fieldsHead = `version: 1
name: x
select:
  match: "d:*"
  type: hash
`

func TestParse_Fields(t *testing.T) {
	j, err := Parse("job.yaml", []byte(fieldsHead+`fields:
  regex: '^s:(?P<at>\d{10})$'
action:
  persist: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if f := j.Fields; f == nil || f.Match != "*" || f.TTL != FieldTTLAny || j.Action.Kind != ActionPersist {
		t.Fatalf("fields %+v action %+v", f, j.Action)
	}
	if got := j.FieldCaptures(); len(got) != 1 || got[0] != "at" {
		t.Errorf("captures %v", got)
	}
	// persist: a field without a TTL is a ttl skip, one with is a change.
	if d := j.DecideField(Field{Name: "s:1733000000"}, clock); d.Outcome != SkipTTL {
		t.Errorf("no TTL: %+v", d)
	}
	if d := j.DecideField(Field{Name: "s:1733000000", HasTTL: true, ExpireAt: runStart.Add(time.Hour)}, clock); d.Outcome != Change {
		t.Errorf("with TTL: %+v", d)
	}
	// fields.ttl: has selects only fields with a TTL, for delete.
	del, err := Parse("job.yaml", []byte(fieldsHead+"fields: {ttl: has}\naction: {delete: {}}\nbackup: dump\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := del.DecideField(Field{Name: "a"}, clock); d.Outcome != SkipTTL {
		t.Errorf("delete, no TTL: %+v", d)
	}
	if d := del.DecideField(Field{Name: "a", HasTTL: true, ExpireAt: runStart}, clock); d.Outcome != Change {
		t.Errorf("delete, TTL: %+v", d)
	}
	// The fields change what a run does: a checkpoint is bound to them.
	other, err := Parse("job.yaml", []byte(fieldsHead+"fields: {ttl: any}\naction: {delete: {}}\nbackup: dump\n"))
	if err != nil || other.EffectSHA256 == del.EffectSHA256 {
		t.Fatalf("fields.ttl does not change the effect digest: %v", err)
	}
}

func TestParse_FieldsErrors(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "not a hash",
		src:  "version: 1\nname: x\nselect:\n  match: \"d:*\"\n  type: zset\nfields: {}\naction: {persist: {}}\n",
		want: `job.yaml:5:9: fields: want select.type: hash with fields, got select.type: zset (fields selects the fields of hashes)`,
	}, {
		name: "capture from select.regex",
		src: "version: 1\nname: x\nselect:\n  match: \"d:*\"\n  type: hash\n  regex: '^d:(?P<at>\\d+)$'\nfields: {match: \"s:*\"}\n" +
			"action:\n  expire:\n    from: {capture: at, format: unix}\n    after: 30d\n",
		want: `job.yaml:10:21: action.expire.from.capture: want a named group of fields.regex, got "at" with no fields.regex (add a regex with a group such as (?P<at>\d{10}))`,
	}, {
		name: "when",
		src:  fieldsHead + "fields: {}\naction:\n  expire: {ttl: 1d, when: always}\n",
		want: `job.yaml:8:27: action.expire.when: want no_ttl (the default) with fields, got always (a field's TTL is set with HPEXPIREAT NX only: a field that has one keeps it)`,
	}, {
		name: "expire has",
		src:  fieldsHead + "fields: {ttl: has}\naction:\n  expire: {ttl: 1d}\n",
		want: `job.yaml:6:15: fields.ttl: want none or any with action.expire, got has: expire gives a TTL only to a field without one (NX), so no field could change`,
	}, {
		name: "persist none",
		src:  fieldsHead + "fields: {ttl: none}\naction: {persist: {}}\n",
		want: `job.yaml:6:15: fields.ttl: want has or any with action.persist, got none: persist removes a field's TTL, so no field could change`,
	}, {
		name: "delete journal",
		src:  fieldsHead + "fields: {}\naction: {delete: {}}\n",
		want: `job.yaml:7:18: backup: want dump or none with a delete job, got nothing (journal, the default, cannot undo a delete: add backup: dump to keep each key's payload for undo, or backup: none for no undo)`,
	}, {
		name: "bad ttl",
		src:  fieldsHead + "fields: {ttl: some}\naction: {persist: {}}\n",
		want: `job.yaml:6:15: fields.ttl: want none, has or any, got "some"`,
	}, {
		name: "with members",
		src:  fieldsHead + "fields: {}\nmembers: {score: {format: unix}, older_than: 1d}\naction: {delete: {}}\nbackup: dump\n",
		want: "job.yaml:5:9: members: want select.type: zset or stream with members, got select.type: hash (members selects the members of sorted sets whose score is a time, or the entries of streams)\njob.yaml:6:9: fields: want one of fields and members, got both",
	}})
}
