package jobs

import (
	"fmt"
	"time"
)

// guessFormats are the formats tried on captures that do not parse, in
// this order: the named ones, then the layouts keys most often carry.
var guessFormats = []string{
	FormatUnix, FormatUnixMS, FormatRFC3339,
	"2006-01-02", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "20060102", "20060102150405",
	"2006/01/02", "02/01/2006", "01/02/2006", "02.01.2006",
}

// FormatGuess is what another format makes of keys whose timestamp the
// job's format could not read (bad_timestamp): the commonest mistake is a
// unit (unix on milliseconds, unix_ms on seconds).
type FormatGuess struct {
	// Format reads Reads of the Tried keys as a timestamp that gives a
	// sensible expiry; "" when no format read more than half of them.
	Format       string
	Reads, Tried int
	// Key is one of the keys, with its capture and both readings:
	// AsJob with the job's format (why it is bad), AsGuess with Format.
	Key, Capture, AsJob, AsGuess string
	jobFormat                    string
}

// GuessFormat tries the other formats on keys that were bad_timestamp
// under the job's format, with the same clock. Nil when the job reads no
// timestamp or names is empty.
func (j *Job) GuessFormat(names []string, c Clock) *FormatGuess {
	e := j.Action.Expire
	if j.Action.Kind != ActionExpire || e == nil || e.From == nil || len(names) == 0 {
		return nil
	}
	type match struct{ name, capture string }
	var keys []match
	for _, n := range names {
		if nm := j.Match(n); nm.ok {
			keys = append(keys, match{n, nm.capture})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	g := &FormatGuess{Tried: len(keys), Key: keys[0].name, Capture: keys[0].capture, jobFormat: e.From.Format}
	g.AsJob = j.newExpiry(keys[0].name, c, keys[0].capture).Why
	for _, f := range guessFormats {
		if f == e.From.Format {
			continue
		}
		alt := j.withFormat(f)
		reads, first := 0, -1
		for i, k := range keys {
			if d := alt.newExpiry(k.name, c, k.capture); d.Outcome == Change {
				reads++
				if first < 0 {
					first = i
				}
			}
		}
		if reads > g.Reads && 2*reads > len(keys) {
			g.Format, g.Reads = f, reads
			k := keys[first]
			g.Key, g.Capture = k.name, k.capture
			g.AsJob = j.newExpiry(k.name, c, k.capture).Why
			g.AsGuess = alt.reading(k.name, c, k.capture)
		}
	}
	return g
}

// withFormat is a copy of the job reading its timestamp in format f.
func (j *Job) withFormat(f string) *Job {
	alt := *j
	e := *j.Action.Expire
	from := *e.From
	from.Format = f
	e.From = &from
	alt.Action.Expire = &e
	return &alt
}

// reading says what the job makes of a capture that parses: the time it
// reads and the expiry it gives.
func (j *Job) reading(name string, c Clock, capture string) string {
	start, err := j.Action.Expire.From.Parse(capture)
	if err != nil {
		return err.Error()
	}
	d := j.newExpiry(name, c, capture)
	at := "expiry " + d.ExpireAt.UTC().Format(time.RFC3339)
	if d.Grace {
		at = "already past its expiry: the grace TTL, " + at
	}
	return fmt.Sprintf("%s is %s: %s", quoteSample(capture), start.UTC().Format(time.RFC3339), at)
}

// Words is the guess as a sentence for an error: the format to use and
// the sample key read both ways.
func (g *FormatGuess) Words() string {
	if g == nil {
		return ""
	}
	if g.Format == "" {
		return fmt.Sprintf("No other format keyjob knows (unix, unix_ms, rfc3339, common layouts) reads them either: fix action.expire.from.format or select.regex. For example %s: with %s, %s.", quoteSample(g.Key), g.jobFormat, g.AsJob)
	}
	all := fmt.Sprintf("%d of the %d", g.Reads, g.Tried)
	if g.Reads == g.Tried {
		all = fmt.Sprintf("all %d", g.Tried)
	}
	return fmt.Sprintf("Set action.expire.from.format to %s: it reads %s sample keys. For example %s: with %s, %s; with %s, %s.",
		g.Format, all, quoteSample(g.Key), g.jobFormat, g.AsJob, g.Format, g.AsGuess)
}
