package survey

import (
	"fmt"
	"strings"

	"github.com/keyjob/keyjob/internal/words"
)

// Placeholders of the job files on what keys hold inside, marked REVIEW.
const (
	SuggestFieldAfter = "30d" // a hash field lives that long after the time in its name
	SuggestOlderThan  = "90d" // members and entries older than that are removed
)

// suggestInside is insideSuggestions, each checked with jobs.Parse.
func suggestInside(s *Survey, p Pattern, used map[string]bool) ([]Suggestion, error) {
	out := insideSuggestions(s, p, used)
	for i, sg := range out {
		if err := checkSuggestion(sg); err != nil {
			return out[:i], err
		}
	}
	return out, nil
}

// insideSuggestions writes the job files for what the survey read inside
// a pattern's keys: a fields job (`<words>-fields-ttl`) when hashes have
// field names holding a time, some of them without a TTL, on a server
// with hash-field expiry; a members job (`trim-<words>`) for sorted sets
// scored by time in one unit, and one for streams with entries. A
// pattern without a fixed prefix gets none (a job would scan every key).
func insideSuggestions(s *Survey, p Pattern, used map[string]bool) []Suggestion {
	in := p.Inside
	if in == nil || p.Regex == "" || strings.HasPrefix(p.Match, "*") {
		return nil
	}
	base := strings.TrimSuffix(jobName(p.Pattern), "-ttl")
	var out []Suggestion
	add := func(sg Suggestion) {
		sg.Pattern, sg.Keys = p.Pattern, p.Keys
		out = append(out, sg)
	}
	if fp, ok := fieldsToExpire(in.Hashes); ok {
		name := uniqueName(base+"-fields-ttl", used)
		add(Suggestion{Name: name, Kind: SuggestFields, From: fp.TimestampParts[0].Capture,
			About: fmt.Sprintf("hash fields %s without a TTL, a TTL from the time in the field name", fp.Pattern),
			Data:  fieldsJob(s, p, fp, name)})
	}
	if z := in.ZSets; z != nil && z.ScoreFormat != "" {
		name := uniqueName("trim-"+base, used)
		add(Suggestion{Name: name, Kind: SuggestMembers,
			About: fmt.Sprintf("sorted-set members older than %s by their %s score", SuggestOlderThan, z.ScoreFormat),
			Data:  trimJob(s, p, name, "zset", z.ScoreFormat, z.Read, z.OldestAgeSeconds)})
	}
	if x := in.Streams; x != nil && x.OldestAgeSeconds != nil {
		name := uniqueName("trim-"+base, used)
		add(Suggestion{Name: name, Kind: SuggestMembers,
			About: fmt.Sprintf("stream entries older than %s by their ID", SuggestOlderThan),
			Data:  trimJob(s, p, name, "stream", "", x.Read, x.OldestAgeSeconds)})
	}
	return out
}

// fieldsToExpire is the field pattern a fields job would give a TTL:
// the most common one holding a time in one format, when field TTLs were
// read (the server has hash-field expiry) and some of its fields have
// none.
func fieldsToExpire(h *HashInside) (FieldPattern, bool) {
	if h == nil || h.WithVolatileFields == nil {
		return FieldPattern{}, false
	}
	for _, fp := range h.FieldPatterns {
		if len(fp.TimestampParts) > 0 && fp.WithTTL != nil && *fp.WithTTL < fp.Fields {
			return fp, true
		}
	}
	return FieldPattern{}, false
}

// selectLines writes the select block of a job on the pattern's keys of
// one type.
func selectLines(b *jobWriter, p Pattern, typ string) {
	b.line("select:")
	b.line("  match: %s", yamlQuote(p.Match))
	b.line("  type: %s", typ)
	b.line("  regex: '%s'", strings.ReplaceAll(p.Regex, "'", "''"))
}

// fieldsJob gives the fields of fp without a TTL one, counted from the
// time in their name.
func fieldsJob(s *Survey, p Pattern, fp FieldPattern, name string) []byte {
	h := p.Inside.Hashes
	b := newJobWriter(s, p.Pattern+", hash fields "+fp.Pattern)
	without := fp.Fields - *fp.WithTTL
	b.comment(fmt.Sprintf("Seen: %s%s %s; in the %s hashes read, %s with a time in field names, %s of %s such fields without a TTL.",
		b.about, words.Commas(p.Keys), words.Plural(p.Keys, "key", "keys"), words.Commas(h.Read),
		words.Commas(h.WithTimestampFields), words.Commas(without), words.Commas(fp.Fields)))
	for _, x := range fp.Examples[:min(len(fp.Examples), 2)] {
		b.comment("Example field: " + words.Printable(x))
	}
	tp := fp.TimestampParts[0]
	b.line("version: 1")
	b.line("name: %s", name)
	b.line("description: %s", yamlQuote(fmt.Sprintf("%s: hash fields %s without a TTL when surveyed on %s. Give each one, from the time in its name.",
		p.Pattern, fp.Pattern, b.day)))
	selectLines(b, p, "hash")
	b.line("fields:")
	b.line("  match: %s", yamlQuote(fp.Match))
	b.line("  regex: '%s'", strings.ReplaceAll(fp.Regex, "'", "''"))
	b.line("  ttl: none")
	b.line("action:")
	b.line("  expire:")
	b.line("    # The survey read a time in segment %d of the field names (%s): each", tp.Position, tp.Format)
	b.line("    # field lives `after` from that moment. Fields already past it get `grace`.")
	if zoneless(tp.Format) {
		b.line("    # The time is read as UTC: add time_zone (e.g. Europe/Berlin) if not.")
	}
	b.line("    from: { capture: %s, format: %s }", tp.Capture, yamlWord(tp.Format))
	b.line("    # REVIEW: how long should these fields live? %s is a placeholder.", SuggestFieldAfter)
	b.line("    after: %s", SuggestFieldAfter)
	b.line("    grace: 1h")
	b.line("backup: journal")
	return []byte(b.String())
}

// trimJob removes the members of sorted sets scored by time (format) or
// the entries of streams (format "") older than SuggestOlderThan.
func trimJob(s *Survey, p Pattern, name, typ, format string, read int64, age *AgeSpread) []byte {
	b := newJobWriter(s, p.Pattern)
	what, unit := "sorted sets", "members"
	if typ == "stream" {
		what, unit = "streams", "entries"
	}
	seen := fmt.Sprintf("Seen: %s%s %s; in the %s %s read", b.about, words.Commas(p.Keys), words.Plural(p.Keys, "key", "keys"), words.Commas(read), what)
	if format != "" {
		seen += fmt.Sprintf(", scores are %s times", format)
	}
	if age != nil {
		seen += fmt.Sprintf(", the oldest of each is %s old at the median, %s at most", secondsWords(age.P50), secondsWords(age.Max))
	}
	b.comment(seen + ".")
	if len(p.Examples) > 0 {
		b.comment("Example: " + words.Printable(p.Examples[0]))
	}
	b.line("version: 1")
	b.line("name: %s", name)
	b.line("description: %s", yamlQuote(fmt.Sprintf("%s: remove the %s older than %s from each of the %s when surveyed on %s.",
		p.Pattern, unit, SuggestOlderThan, what, b.day)))
	selectLines(b, p, typ)
	b.line("members:")
	if format != "" {
		b.line("  score: { format: %s }", format)
	} else {
		b.line("  # An entry's age is the time in its ID (milliseconds).")
	}
	b.line("  # REVIEW: how long should %s be kept? %s is a placeholder.", unit, SuggestOlderThan)
	b.line("  older_than: %s", SuggestOlderThan)
	b.line("action:")
	b.line("  delete: {}")
	b.line("backup: dump")
	return []byte(b.String())
}
