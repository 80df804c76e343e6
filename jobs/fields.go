package jobs

import (
	"regexp"
	"time"
)

// Fields jobs act inside a key: on the fields of a hash, each of which can
// carry a TTL of its own on servers with hash-field expiry (Redis 7.4+,
// Valkey 9+). The key is still selected by select; fields says which of
// its fields the action applies to: expire gives each a TTL (HPEXPIREAT
// ... NX, so a field that has one keeps it), persist removes it
// (HPERSIST), delete removes the field (HDEL). The key itself is never
// expired, persisted or deleted (the server deletes a hash left empty).

// FieldTTL is what fields.ttl asks of a field's own TTL.
type FieldTTL int

const (
	FieldTTLAny  FieldTTL = iota // every field the glob and regex select
	FieldTTLNone                 // only fields without a TTL
	FieldTTLHas                  // only fields with a TTL
)

var fieldTTLNames = map[string]FieldTTL{"any": FieldTTLAny, "none": FieldTTLNone, "has": FieldTTLHas}

// String is the job file's name for t.
func (t FieldTTL) String() string {
	for name, x := range fieldTTLNames {
		if x == t {
			return name
		}
	}
	return "any"
}

// Fields is the fields field: which fields of each selected hash the
// action applies to.
type Fields struct {
	Match string // HSCAN MATCH glob on the field name; "*" by default
	// Regex is nil when the job has none. Named groups are captures for
	// action.expire.from.
	Regex *regexp.Regexp
	TTL   FieldTTL

	// job decides a field as Decide decides a key: a copy of the job whose
	// select is the field's regex and TTL condition (Parse sets it).
	job *Job
}

// Field is what the caller read about one field of a hash.
type Field struct {
	Name   string
	HasTTL bool
	// ExpireAt is the field's absolute expiry when HasTTL (HPEXPIRETIME).
	ExpireAt time.Time
}

// DecideField says what happens to one field of a selected hash, with the
// same rules and outcomes as Decide for a key: regex (fields.regex),
// ttl (fields.ttl; a field with a TTL under expire), bad_timestamp (the
// unit-mistake checks on the field name's capture), or change with the
// field's new expiry. Jitter and grace_spread hash the field's name.
func (j *Job) DecideField(f Field, c Clock) Decision {
	fj := j.Fields.job
	if fj == nil {
		fj = j.Fields.decider(j)
	}
	return fj.Decide(Key{Name: f.Name, HasTTL: f.HasTTL, ExpireAt: f.ExpireAt}, c)
}

// decider builds the job that decides fields: select is the field's
// condition, the action is the job's.
func (f *Fields) decider(j *Job) *Job {
	fj := &Job{Version: j.Version, Name: j.Name, Action: j.Action, Backup: j.Backup, Limits: j.Limits}
	fj.Select = Select{Match: f.Match, Regex: f.Regex}
	switch f.TTL {
	case FieldTTLNone:
		fj.Select.TTL = TTLCond{Kind: TTLNone}
	case FieldTTLHas:
		fj.Select.TTL = TTLCond{Kind: TTLHas}
	}
	fj.Select.matcher = newNameMatcher(fj)
	return fj
}

// FieldCaptures lists the names of fields.regex's named groups.
func (j *Job) FieldCaptures() []string {
	if j.Fields == nil || j.Fields.Regex == nil {
		return nil
	}
	return namedGroups(j.Fields.Regex.SubexpNames())
}

// fields validates the fields field against the selection.
func (v *validator) fields(r *rawFields, sel *Select) *Fields {
	f := &Fields{Match: "*"}
	if r.Match != nil {
		f.Match = *r.Match
		if f.Match == "" {
			v.fail("fields.match", `want an HSCAN MATCH glob such as "seen:*", got ""`).Hint = "leave fields.match out for every field"
		}
	}
	f.Regex = v.regexAt("fields.regex", r.Regex)
	if r.TTL != nil {
		t, ok := fieldTTLNames[*r.TTL]
		if !ok {
			v.fail("fields.ttl", "want none, has or any, got %q", *r.TTL)
		}
		f.TTL = t
	}
	if sel.Type != "hash" && v.ok("select.type") {
		got, where := "no select.type", "fields"
		if sel.Type != "" {
			got, where = "select.type: "+sel.Type, "select.type"
		}
		v.failAt(where, "fields", "want select.type: hash with fields, got %s", got).Hint =
			"fields selects the fields of hashes"
	}
	return f
}

// fieldsAction refuses the actions and settings no field could change
// with, once the action is known.
func (v *validator) fieldsAction(r *rawJob, j *Job) {
	f := j.Fields
	if f == nil {
		return
	}
	if r.Members != nil {
		v.fail("fields", "want one of fields and members, got both")
	}
	switch j.Action.Kind {
	case ActionExpire:
		e := j.Action.Expire
		if e != nil && e.When != WhenNoTTL && v.ok("action.expire.when") {
			v.fail("action.expire.when", "want no_ttl (the default) with fields, got %s", e.When).Hint =
				"a field's TTL is set with HPEXPIREAT NX only: a field that has one keeps it"
		}
		if f.TTL == FieldTTLHas && v.ok("fields.ttl") {
			v.fail("fields.ttl", "want none or any with action.expire, got has: expire gives a TTL only to a field without one (NX), so no field could change")
		}
	case ActionPersist:
		if f.TTL == FieldTTLNone && v.ok("fields.ttl") {
			v.fail("fields.ttl", "want has or any with action.persist, got none: persist removes a field's TTL, so no field could change")
		}
	}
}
