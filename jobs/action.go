package jobs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Bounds on expire's durations. Nothing lives a century in a cache, and
// the bounds keep every sum Decide makes (ttl or after plus jitter, grace
// plus jitter plus spread) well inside a time.Duration.
const (
	maxLifetime = 36500 * day // ttl, after
	maxGrace    = 3650 * day  // grace, grace_spread
)

var actionNames = []string{"expire", "delete", "persist"}

var whenNames = map[string]When{
	"no_ttl": WhenNoTTL, "always": WhenAlways, "shorter": WhenShorter, "longer": WhenLonger,
}

// String is the job file's name for w.
func (w When) String() string {
	for name, x := range whenNames {
		if x == w {
			return name
		}
	}
	return fmt.Sprintf("When(%d)", int(w))
}

// presentActions lists the actions the file names, in the file's order so
// an error about a second one points at it; those the structure check
// refused (and removed from the tree) come last.
func (v *validator) presentActions() []string {
	var present []string
	if m, ok := v.t.vals["action"].(*ast.MappingNode); ok {
		for _, mv := range m.Values {
			if name, _ := keyName(mv.Key); slices.Contains(actionNames, name) {
				present = append(present, name)
			}
		}
	}
	for _, name := range actionNames {
		if _, ok := v.t.vals["action."+name]; ok && !slices.Contains(present, name) {
			present = append(present, name)
		}
	}
	return present
}

func (v *validator) action(r *rawAction, sel *Select) Action {
	present := v.presentActions()
	switch {
	case r == nil || len(present) == 0:
		v.fail("action", "want exactly one of expire, delete, persist, got nothing")
		return Action{}
	case len(present) > 1:
		v.failAt("action."+present[1], "action", "want exactly one of expire, delete, persist, got %s",
			strings.Join(present, " and "))
		return Action{}
	}
	switch {
	case r.Expire != nil:
		return Action{Kind: ActionExpire, Expire: v.expire(r.Expire, sel)}
	case r.Delete != nil:
		return Action{Kind: ActionDelete}
	case r.Persist != nil:
		v.persistCanChange(sel)
		return Action{Kind: ActionPersist}
	}
	// Present but not decoded: refused by the structure check, or null
	// ("expire:" with nothing under it).
	if v.ok("action." + present[0]) {
		v.fail("action."+present[0], "want %s, got null", map[string]string{
			"expire": "a mapping such as {ttl: 7d}", "delete": "{}", "persist": "{}"}[present[0]])
	}
	return Action{}
}

// persistCanChange refuses persist on keys selected for having no TTL.
func (v *validator) persistCanChange(sel *Select) {
	if sel.TTL.Kind == TTLNone {
		v.fail("action.persist", "want a selection of keys with a TTL, got select.ttl: none: persist removes a TTL and select.ttl: none selects only keys without one, so no key could change").Hint =
			"leave select.ttl out or make it a comparison"
	}
}

func (v *validator) expire(r *rawExpire, sel *Select) *Expire {
	e := &Expire{Grace: DefaultGrace}
	switch {
	case r.TTL != nil && r.From != nil:
		v.fail("action.expire.from", "want exactly one of ttl and from, got both")
	case r.TTL == nil && r.From == nil && v.ok("action.expire.ttl") && v.ok("action.expire.from"):
		v.fail("action.expire", "want ttl (a fixed TTL) or from (a time in the key name), got neither")
	case r.TTL != nil:
		e.TTL = v.positive("action.expire.ttl", r.TTL, maxLifetime)
		v.onlyWithFrom(r)
	case r.From != nil:
		e.From = v.from(r.From, sel)
		v.afterGrace(e, r)
	}
	e.When = v.when(r.When)
	e.Jitter = v.jitter(r.Jitter)
	v.whenCanChange(e.When, r.When != nil, sel)
	return e
}

// onlyWithFrom refuses the fields that mean something only with from.
func (v *validator) onlyWithFrom(r *rawExpire) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"after", r.After != nil}, {"grace", r.Grace != nil}, {"grace_spread", r.GraceSpread != nil}} {
		if f.set {
			v.fail("action.expire."+f.name, "want %s only with from, got it with ttl", f.name).Hint =
				"ttl counts from the run's start and is never in the past"
		}
	}
}

func (v *validator) afterGrace(e *Expire, r *rawExpire) {
	if r.After == nil {
		v.fail("action.expire.after", "want %s, got nothing", wantDuration).Hint =
			"with from, after says how long after that time the key expires"
	} else {
		e.After = v.positive("action.expire.after", r.After, maxLifetime)
	}
	e.Grace = v.duration("action.expire.grace", r.Grace, DefaultGrace, maxGrace)
	e.GraceSpread = v.duration("action.expire.grace_spread", r.GraceSpread, 0, maxGrace)
}

// duration parses an optional duration of at most max (zero allowed).
func (v *validator) duration(field string, s *durationText, def, max time.Duration) time.Duration {
	if s == nil {
		return def
	}
	d, err := ParseDuration(string(*s))
	if err != nil {
		v.fail(field, "%s", err)
		return def
	}
	if d > max {
		v.fail(field, "want at most %s, got %q", FormatDuration(max), *s)
		return def
	}
	return d
}

// positive parses a duration above zero and at most max.
func (v *validator) positive(field string, s *durationText, max time.Duration) time.Duration {
	d := v.duration(field, s, 0, max)
	if d == 0 && v.ok(field) {
		v.fail(field, "want a duration above zero, got %q", *s)
	}
	return d
}

func (v *validator) when(s *string) When {
	if s == nil {
		return WhenNoTTL
	}
	w, ok := whenNames[*s]
	if !ok {
		v.fail("action.expire.when", "want one of no_ttl, always, shorter, longer, got %q", *s)
	}
	return w
}

func (v *validator) jitter(s *percentText) float64 {
	if s == nil {
		return 0
	}
	p, err := ParsePercent(string(*s))
	if err != nil {
		v.fail("action.expire.jitter", "%s", err)
		return 0
	}
	if p > 1 {
		v.fail("action.expire.jitter", "want a percentage from 0%% to 100%%, got %q", *s)
		return 0
	}
	return p
}

// whenCanChange refuses a when that no selected key can pass.
func (v *validator) whenCanChange(w When, written bool, sel *Select) {
	if !v.ok("action.expire.when") || !v.ok("select.ttl") {
		return
	}
	got := w.String()
	if !written {
		got += " (the default)"
	}
	switch {
	case w == WhenNoTTL && sel.TTL.Kind == TTLCompare:
		v.fail("action.expire.when", "want shorter, longer or always, got %s: select.ttl %q selects only keys with a TTL and no_ttl changes only keys without one, so no key could change",
			got, sel.TTL.Cmp.String()).Hint = "set action.expire.when, or leave select.ttl out"
	case w == WhenLonger && sel.TTL.Kind == TTLNone:
		v.fail("action.expire.when", "want no_ttl, shorter or always, got longer: select.ttl: none selects only keys without a TTL and longer changes only keys with one, so no key could change")
	}
}

func (v *validator) from(r *rawFrom, sel *Select) *TimeSource {
	ts := &TimeSource{Location: time.UTC}
	if r.Capture == nil {
		v.fail("action.expire.from.capture", "want the name of a named group of %s, got nothing", v.regexField)
	} else {
		ts.Capture = *r.Capture
		v.capture(ts.Capture, sel)
	}
	if r.Format == nil {
		v.fail("action.expire.from.format", "want %s, got nothing", wantLayout)
	} else {
		ts.Format = *r.Format
		if !namedFormat(ts.Format) {
			if err := checkLayout(ts.Format); err != nil {
				v.fail("action.expire.from.format", "%s", err)
			}
		}
	}
	if r.TimeZone != nil {
		ts.Location = v.timeZone(*r.TimeZone, ts.Format)
	}
	return ts
}

// capture checks that name is a named group of the regex the captures
// come from (select.regex, or fields.regex for a fields job).
func (v *validator) capture(name string, sel *Select) {
	const field = "action.expire.from.capture"
	rf := v.regexField
	if !v.ok(rf) {
		return
	}
	if sel.Regex == nil {
		v.fail(field, "want a named group of %s, got %q with no %s", rf, name, rf).Hint =
			fmt.Sprintf(`add a regex with a group such as (?P<%s>\d{10})`, name)
		return
	}
	groups := namedGroups(sel.Regex.SubexpNames())
	switch {
	case len(groups) == 0:
		v.fail(field, "want a named group of %s, got %q and the regex names none", rf, name).Hint =
			fmt.Sprintf("name the group in the regex: (?P<%s>...)", name)
	case sel.Regex.SubexpIndex(name) < 0:
		v.fail(field, "want one of %s's named groups (%s), got %q", rf, strings.Join(groups, ", "), name)
	}
}

func namedGroups(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

func (v *validator) timeZone(zone, format string) *time.Location {
	const field = "action.expire.from.time_zone"
	if namedFormat(format) {
		v.fail(field, "want time_zone only with a Go layout, got it with format %s", format).Hint =
			"a unix or RFC 3339 time names one instant whatever the zone"
		return time.UTC
	}
	// "Local" and "" are the machine's zone and UTC: the first would make a
	// plan on a laptop differ from the run on a server.
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" || zone == "" {
		v.fail(field, "want an IANA time zone such as Europe/Berlin, got %q", zone)
		return time.UTC
	}
	return loc
}
