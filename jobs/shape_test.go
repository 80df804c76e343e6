package jobs

import "testing"

// Structure errors: what the YAML decoder would refuse (unknown fields,
// repeated fields, values of the wrong kind), each with its field, line and
// column, and all of them at once.

func TestParse_UnknownFields(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "top level",
		src: `version: 1
name: x
selct:
  match: "k:*"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:3:1: selct: unknown field, want one of version, name, description, db, select, members, fields, action, backup, limits, guards (did you mean select?)`,
	}, {
		name: "nested, with a near name",
		src: `version: 1
name: x
select:
  match: "k:*"
  mach: "j:*"
action:
  expire:
    ttl: 1d
    jiter: 5%
`,
		want: `job.yaml:5:3: select.mach: unknown field, want one of match, allow_all, type, regex, ttl, idle (did you mean match?)
job.yaml:9:5: action.expire.jiter: unknown field, want one of ttl, from, after, grace, grace_spread, when, jitter (did you mean jitter?)`,
	}, {
		name: "no near name",
		src: `version: 1
name: x
select:
  match: "k:*"
  color: blue
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:3: select.color: unknown field, want one of match, allow_all, type, regex, ttl, idle`,
	}, {
		name: "delete takes no settings",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {unlink: true}
backup: none
`,
		want: `job.yaml:6:12: action.delete.unlink: unknown field, delete takes no settings (write delete: {})`,
	}, {
		name: "guards section and field",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    pause: 80%
  cpu:
    max: 50%
`,
		want: `job.yaml:10:5: guards.memory.pause: unknown field, want one of pause_above, abort_above, limit, abort_on_evictions
job.yaml:11:3: guards.cpu: unknown field, want one of memory, persistence, aof, disk, replication, latency`,
	}, {
		name: "from",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?P<ts>\d+)$'
action:
  expire:
    from: {capture: ts, format: unix, zone: UTC}
    after: 1d
`,
		want: `job.yaml:8:39: action.expire.from.zone: unknown field, want one of capture, format, time_zone`,
	}})
}

func TestParse_DuplicateKeys(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "nested",
		src: `version: 1
name: x
select:
  match: "a:*"
  match: "b:*"
action:
  delete: {}
backup: none
`,
		want: `job.yaml:5:3: select.match: want each field once, got a second match (the first is at 4:3)`,
	}, {
		name: "top level, and a section twice",
		src: `version: 1
name: x
name: y
select:
  match: "a:*"
action:
  delete: {}
action:
  persist: {}
backup: none
`,
		want: `job.yaml:3:1: name: want each field once, got a second name (the first is at 2:1)
job.yaml:8:1: action: want each field once, got a second action (the first is at 6:1)`,
	}, {
		name: "flow mapping",
		src: `version: 1
name: x
select: {match: "a:*", type: hash, type: set}
action: {delete: {}}
backup: none
`,
		want: `job.yaml:3:36: select.type: want each field once, got a second type (the first is at 3:24)`,
	}})
}

func TestParse_WrongTypes(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "integers, booleans, mappings",
		src: `version: "1"
name: x
db: zero
select:
  match: "*"
  allow_all: yes
action:
  delete: {}
backup: none
limits:
  scan_count: 1.5
  max_changes: [1]
`,
		want: `job.yaml:1:10: version: want an integer, got "1"
job.yaml:3:5: db: want an integer, got "zero"
job.yaml:5:10: select.match: want a glob narrower than the whole keyspace, got "*" (set select.allow_all: true to scan the whole keyspace)
job.yaml:6:14: select.allow_all: want true or false, got "yes"
job.yaml:11:15: limits.scan_count: want an integer, got 1.5
job.yaml:12:16: limits.max_changes: want an integer, got a list`,
	}, {
		name: "section is a scalar",
		src: `version: 1
name: x
select: "k:*"
action: delete
`,
		want: `job.yaml:3:9: select: want a mapping of match, allow_all, type, regex, ttl, idle, got "k:*"
job.yaml:4:9: action: want a mapping of expire, delete, persist, got "delete"`,
	}, {
		name: "string fields given structures",
		src: `version: 1
name: [x]
description: {a: b}
select:
  match: {glob: "k:*"}
  regex:
    - a
action:
  expire:
    ttl: {days: 1}
`,
		want: `job.yaml:2:7: name: want a string, got a list
job.yaml:3:14: description: want a string, got a mapping
job.yaml:5:10: select.match: want a string, got a mapping
job.yaml:7:5: select.regex: want a string, got a list
job.yaml:10:10: action.expire.ttl: want a duration such as 365d or 1h30m, got a mapping`,
	}, {
		name: "guards",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    abort_on_evictions: "true"
  persistence:
    pause_during_fork: 1
    abort_on_write_error: off
  replication:
    abort_on_replica_loss: null
  latency: 10ms
`,
		want: `job.yaml:10:25: guards.memory.abort_on_evictions: want true or false, got "true"
job.yaml:12:24: guards.persistence.pause_during_fork: want true or false, got 1
job.yaml:13:27: guards.persistence.abort_on_write_error: want true or false, got "off"
job.yaml:16:12: guards.latency: want a mapping of pause_above, got "10ms"`,
	}, {
		name: "delete and persist need {}",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  persist:
`,
		want: `job.yaml:6:12: action.persist: want {}, got null (write persist: {})`,
	}, {
		name: "integer too large",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
limits:
  max_changes: 99999999999999999999
`,
		want: `job.yaml:9:16: limits.max_changes: want an integer, got "99999999999999999999"`,
	}, {
		name: "anchors, aliases and tags",
		src: `version: 1
name: &n x
select:
  match: *n
  type: !!str hash
action:
  delete: {}
backup: none
`,
		want: `job.yaml:2:7: name: want a string, got an anchor (job files take no anchors, aliases or tags: write the value out)
job.yaml:4:10: select.match: want a string, got an alias (job files take no anchors, aliases or tags: write the value out)
job.yaml:5:9: select.type: want a string, got a tag (job files take no anchors, aliases or tags: write the value out)`,
	}, {
		name: "field name not a string",
		src: `version: 1
name: x
select:
  match: "k:*"
  ? [a, b]
  : c
action:
  delete: {}
backup: none
`,
		want: `job.yaml:6:3: invalid YAML: found an invalid key for this map`,
	}})
}
