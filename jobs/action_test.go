package jobs

import (
	"testing"
	"time"
)

func TestParse_Action(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "two actions",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  persist: {}
  delete: {}
backup: none
`,
		want: `job.yaml:7:11: action: want exactly one of expire, delete, persist, got persist and delete`,
	}, {
		name: "no action",
		src: `version: 1
name: x
select:
  match: "k:*"
action: {}
`,
		want: `job.yaml:5:9: action: want exactly one of expire, delete, persist, got nothing`,
	}, {
		name: "expire with nothing under it",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
`,
		want: `job.yaml:6:11: action.expire: want a mapping such as {ttl: 7d}, got null`,
	}, {
		name: "ttl and from",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?P<ts>\d+)$'
action:
  expire:
    ttl: 1d
    from: {capture: ts, format: unix}
    after: 1d
`,
		want: `job.yaml:9:11: action.expire.from: want exactly one of ttl and from, got both`,
	}, {
		name: "neither ttl nor from",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
    jitter: 5%
`,
		want: `job.yaml:7:5: action.expire: want ttl (a fixed TTL) or from (a time in the key name), got neither`,
	}, {
		name: "fields that need from, with ttl",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
    ttl: 7d
    after: 365d
    grace: 1h
    grace_spread: 1h
`,
		want: `job.yaml:8:12: action.expire.after: want after only with from, got it with ttl (ttl counts from the run's start and is never in the past)
job.yaml:9:12: action.expire.grace: want grace only with from, got it with ttl (ttl counts from the run's start and is never in the past)
job.yaml:10:19: action.expire.grace_spread: want grace_spread only with from, got it with ttl (ttl counts from the run's start and is never in the past)`,
	}, {
		name: "bad durations",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?P<ts>\d+)$'
action:
  expire:
    from: {capture: ts, format: unix}
    after: 1 year
    grace: 1hour
    grace_spread: -1h
`,
		want: `job.yaml:9:12: action.expire.after: want a duration such as 365d or 1h30m, got "1 year"
job.yaml:10:12: action.expire.grace: want a duration such as 365d or 1h30m, got "1hour"
job.yaml:11:19: action.expire.grace_spread: want a duration such as 365d or 1h30m, got "-1h"`,
	}, {
		name: "zero durations",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?P<ts>\d+)$'
action:
  expire:
    from: {capture: ts, format: unix}
    after: 0s
`,
		want: `job.yaml:9:12: action.expire.after: want a duration above zero, got "0s"`,
	}, {
		name: "zero ttl",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
    ttl: 0
`,
		want: `job.yaml:7:10: action.expire.ttl: want a duration above zero, got "0"`,
	}, {
		name: "durations too long",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?P<ts>\d+)$'
action:
  expire:
    from: {capture: ts, format: unix}
    after: 36501d
    grace: 3651d
    grace_spread: 1000w
`,
		want: `job.yaml:9:12: action.expire.after: want at most 36500d, got "36501d"
job.yaml:10:12: action.expire.grace: want at most 3650d, got "3651d"
job.yaml:11:19: action.expire.grace_spread: want at most 3650d, got "1000w"`,
	}, {
		name: "after missing",
		src: `version: 1
name: x
select:
  match: "k:*"
  regex: '^k:(?P<ts>\d+)$'
action:
  expire:
    from: {capture: ts, format: unix}
`,
		want: `job.yaml:7:3: action.expire.after: want a duration such as 365d or 1h30m, got nothing (with from, after says how long after that time the key expires)`,
	}, {
		name: "bad when",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
    ttl: 1d
    when: sometimes
`,
		want: `job.yaml:8:11: action.expire.when: want one of no_ttl, always, shorter, longer, got "sometimes"`,
	}, {
		name: "bad jitter",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
    ttl: 1d
    jitter: 0.05
`,
		want: `job.yaml:8:13: action.expire.jitter: want a percentage such as 5%, got "0.05"`,
	}, {
		name: "jitter above 100%",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  expire:
    ttl: 1d
    jitter: 150%
`,
		want: `job.yaml:8:13: action.expire.jitter: want a percentage from 0% to 100%, got "150%"`,
	}})
}

func TestParse_From(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "unknown capture",
		src: `version: 1
name: x
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d{10}):(?P<customer>\d+)$'
action:
  expire:
    from: {capture: isued, format: unix}
    after: 365d
`,
		want: `job.yaml:8:21: action.expire.from.capture: want one of select.regex's named groups (issued, customer), got "isued"`,
	}, {
		name: "capture without a regex",
		src: `version: 1
name: x
select:
  match: "ticket:*"
action:
  expire:
    from: {capture: issued, format: unix}
    after: 365d
`,
		want: `job.yaml:7:21: action.expire.from.capture: want a named group of select.regex, got "issued" with no select.regex (add a regex with a group such as (?P<issued>\d{10}))`,
	}, {
		name: "regex without named groups",
		src: `version: 1
name: x
select:
  match: "ticket:*"
  regex: '^ticket:(\d{10})$'
action:
  expire:
    from: {capture: issued, format: unix}
    after: 365d
`,
		want: `job.yaml:8:21: action.expire.from.capture: want a named group of select.regex, got "issued" and the regex names none (name the group in the regex: (?P<issued>...))`,
	}, {
		name: "bad regex hides the capture check",
		src: `version: 1
name: x
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d{10}$'
action:
  expire:
    from: {capture: issued, format: unix}
    after: 365d
`,
		want: "job.yaml:5:10: select.regex: want an RE2 regular expression, got `^ticket:(?P<issued>\\d{10}$`: missing closing )",
	}, {
		name: "capture and format missing",
		src: `version: 1
name: x
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d{10})$'
action:
  expire:
    from: {}
    after: 365d
`,
		want: `job.yaml:8:5: action.expire.from.capture: want the name of a named group of select.regex, got nothing
job.yaml:8:5: action.expire.from.format: want unix, unix_ms, rfc3339 or a Go time layout with a year, such as 2006-01-02, got nothing`,
	}, {
		name: "bad layout",
		src: `version: 1
name: x
select:
  match: "report:*"
  regex: '^report:(?P<day>[0-9-]+)$'
action:
  expire:
    from: {capture: day, format: "01-02"}
    after: 90d
`,
		want: `job.yaml:8:34: action.expire.from.format: want unix, unix_ms, rfc3339 or a Go time layout with a year, such as 2006-01-02, got "01-02"`,
	}, {
		name: "bad time zone",
		src: `version: 1
name: x
select:
  match: "report:*"
  regex: '^report:(?P<day>[0-9-]+)$'
action:
  expire:
    from:
      capture: day
      format: "2006-01-02"
      time_zone: Europe/Berlln
    after: 90d
`,
		want: `job.yaml:11:18: action.expire.from.time_zone: want an IANA time zone such as Europe/Berlin, got "Europe/Berlln"`,
	}, {
		name: "Local time zone",
		src: `version: 1
name: x
select:
  match: "report:*"
  regex: '^report:(?P<day>[0-9-]+)$'
action:
  expire:
    from: {capture: day, format: "2006-01-02", time_zone: Local}
    after: 90d
`,
		want: `job.yaml:8:59: action.expire.from.time_zone: want an IANA time zone such as Europe/Berlin, got "Local"`,
	}, {
		name: "time zone with unix",
		src: `version: 1
name: x
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d{10})$'
action:
  expire:
    from: {capture: issued, format: unix, time_zone: UTC}
    after: 365d
`,
		want: `job.yaml:8:54: action.expire.from.time_zone: want time_zone only with a Go layout, got it with format unix (a unix or RFC 3339 time names one instant whatever the zone)`,
	}})
}

// A combination that can change no key is an error.
func TestParse_NoOpCombinations(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "no_ttl by default, with a ttl comparison",
		src: `version: 1
name: x
select:
  match: "k:*"
  ttl: "< 1h"
action:
  expire:
    ttl: 1d
`,
		want: `job.yaml:7:3: action.expire.when: want shorter, longer or always, got no_ttl (the default): select.ttl "< 1h" selects only keys with a TTL and no_ttl changes only keys without one, so no key could change (set action.expire.when, or leave select.ttl out)`,
	}, {
		name: "no_ttl written, with a ttl comparison",
		src: `version: 1
name: x
select:
  match: "k:*"
  ttl: "> 30d"
action:
  expire:
    ttl: 1d
    when: no_ttl
`,
		want: `job.yaml:9:11: action.expire.when: want shorter, longer or always, got no_ttl: select.ttl "> 30d" selects only keys with a TTL and no_ttl changes only keys without one, so no key could change (set action.expire.when, or leave select.ttl out)`,
	}, {
		name: "longer with ttl none",
		src: `version: 1
name: x
select:
  match: "k:*"
  ttl: none
action:
  expire:
    ttl: 1d
    when: longer
`,
		want: `job.yaml:9:11: action.expire.when: want no_ttl, shorter or always, got longer: select.ttl: none selects only keys without a TTL and longer changes only keys with one, so no key could change`,
	}, {
		name: "persist with ttl none",
		src: `version: 1
name: x
select:
  match: "k:*"
  ttl: none
action:
  persist: {}
`,
		want: `job.yaml:7:12: action.persist: want a selection of keys with a TTL, got select.ttl: none: persist removes a TTL and select.ttl: none selects only keys without one, so no key could change (leave select.ttl out or make it a comparison)`,
	}})
}

// The combinations next to the refused ones are fine.
func TestParse_UsefulCombinations(t *testing.T) {
	for _, tc := range []struct{ ttl, action string }{
		{`"< 1h"`, "{expire: {ttl: 1d, when: longer}}"},
		{`"> 30d"`, "{expire: {ttl: 1d, when: shorter}}"},
		{`"> 30d"`, "{expire: {ttl: 1d, when: always}}"},
		{"none", "{expire: {ttl: 1d, when: shorter}}"},
		{"none", "{expire: {ttl: 1d, when: always}}"},
		{"none", "{expire: {ttl: 1d}}"},
		{"any", "{expire: {ttl: 1d, when: longer}}"},
		{"any", "{persist: {}}"},
		{`"> 1d"`, "{persist: {}}"},
	} {
		src := "version: 1\nname: x\nselect: {match: \"k:*\", ttl: " + tc.ttl + "}\naction: " + tc.action + "\n"
		if _, err := Parse("job.yaml", []byte(src)); err != nil {
			t.Errorf("ttl %s with %s: %v", tc.ttl, tc.action, err)
		}
	}
}

func TestParse_ExpireForms(t *testing.T) {
	j := mustParse(t, `version: 1
name: x
select: {match: "s:*"}
action: {expire: {ttl: 7d, jitter: 5%, when: always}}
`)
	e := j.Action.Expire
	if e.TTL != 7*day || e.From != nil || e.Jitter != 0.05 || e.When != WhenAlways || e.MaxLifetime() != 7*day+7*day/20 {
		t.Errorf("fixed ttl: got %+v, max lifetime %v", e, e.MaxLifetime())
	}
	for name, w := range whenNames {
		j := mustParse(t, "version: 1\nname: x\nselect: {match: \"s:*\"}\naction: {expire: {ttl: 1d, when: "+name+"}}\n")
		if j.Action.Expire.When != w || w.String() != name {
			t.Errorf("when: %s gave %v", name, j.Action.Expire.When)
		}
	}
	for _, format := range []string{"unix", "unix_ms", "rfc3339", "2006-01-02", "20060102T150405Z0700"} {
		j := mustParse(t, "version: 1\nname: x\nselect: {match: \"s:*\", regex: '^s:(?P<t>.+)$'}\naction: {expire: {from: {capture: t, format: \""+format+"\"}, after: 1h}}\n")
		if got := j.Action.Expire.From.Format; got != format {
			t.Errorf("format %q gave %q", format, got)
		}
		if got := j.Action.Expire.MaxLifetime(); got != time.Hour {
			t.Errorf("max lifetime %v, want 1h", got)
		}
	}
}
