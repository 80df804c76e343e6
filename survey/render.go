package survey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/words"
)

// Formats are the report formats Render accepts.
var Formats = words.Formats()

// maxRows is how many patterns the text and markdown reports list; the
// JSON has them all.
const maxRows = 100

var errRenderNil = errors.New("render: no survey")

// Render writes s to w in format: "text" (a terminal), "markdown" (a
// pull-request comment or a wiki page) or "json" (the versioned contract).
// The report is built in memory and written in one call, so a failing
// writer leaves no half report behind a success.
func Render(w io.Writer, s *Survey, format string) error {
	return words.Render(w, s, format, RenderText, RenderMarkdown, RenderJSON)
}

// RenderJSON writes s as the JSON contract (docs/cli.md), indented by two
// spaces. Lists and maps left nil appear as [] and {}, so a consumer never
// has to tell null from empty; ttl_seconds, idle_seconds and other are
// null when there is nothing to say.
func RenderJSON(w io.Writer, s *Survey) error {
	if s == nil {
		return errRenderNil
	}
	c := *s
	if c.FormatVersion == 0 {
		c.FormatVersion = FormatVersion
	}
	c.Patterns = make([]Pattern, len(s.Patterns))
	for i, p := range s.Patterns {
		p.Types = nonNilMap(p.Types)
		p.TimestampParts = nonNil(p.TimestampParts)
		p.Examples = nonNil(p.Examples)
		p.BigKeys = nonNil(p.BigKeys)
		p.Inside = p.Inside.nonNil()
		c.Patterns[i] = p
	}
	if s.Other != nil {
		o := *s.Other
		o.Types = nonNilMap(o.Types)
		o.Examples = nonNil(o.Examples)
		c.Other = &o
	}
	c.Warnings = nonNil(c.Warnings)
	c.Notes = nonNil(c.Notes)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // key names are data: a<b stays readable
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("encode survey: %w", err)
	}
	return words.Flush(w, &b)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// nonNil is a copy of in whose lists are [] rather than null.
func (in *Inside) nonNil() *Inside {
	if in == nil || in.Hashes == nil {
		return in
	}
	c, h := *in, *in.Hashes
	h.FieldPatterns = make([]FieldPattern, len(in.Hashes.FieldPatterns))
	for i, fp := range in.Hashes.FieldPatterns {
		fp.TimestampParts = nonNil(fp.TimestampParts)
		fp.Examples = nonNil(fp.Examples)
		h.FieldPatterns[i] = fp
	}
	c.Hashes = &h
	return &c
}

func nonNilMap(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// style is what differs between the text and markdown wording
// (words.TextStyle, words.MarkdownStyle).
type style = words.Style

// headline is the survey in one line: how many keys, patterns, and the
// share without a TTL.
func headline(s *Survey, st style) string {
	keys := words.Commas(s.Keys)
	if s.Sampled {
		keys = "~" + keys
	}
	n := len(s.Patterns)
	h := fmt.Sprintf("%s %s in %d %s", keys, words.Plural(s.Keys, "key", "keys"), n, words.Plural(n, "pattern", "patterns"))
	if s.Other != nil {
		h += " and " + st.Code("other")
	}
	if s.Keys > 0 {
		noTTL := s.Keys - s.WithTTL
		h += ", " + st.Strong(words.ShareCapped(noTTL, s.Keys, "—")+" without a TTL")
	}
	return h
}

// targetWords: "standalone, Redis 7.0.15, primary; used memory 3 MiB of
// maxmemory 1 GiB (volatile-lru)".
func targetWords(t Target, st style) string {
	var parts []string
	switch {
	case t.Mode == "cluster":
		parts = append(parts, fmt.Sprintf("cluster of %d %s", t.Nodes, words.Plural(t.Nodes, "primary", "primaries")))
	case t.Mode != "":
		parts = append(parts, t.Mode)
	}
	parts = words.Server(parts, t.Mode, t.RedisVersion, t.Role)
	s := strings.Join(parts, ", ")
	mem := "used memory " + words.Size(t.UsedMemory)
	if t.MaxMemory > 0 {
		mem += " of maxmemory " + words.Size(t.MaxMemory) + " (" + words.ShareCapped(t.UsedMemory, t.MaxMemory, "—") + ")"
	} else {
		mem += ", no maxmemory"
	}
	if t.MaxMemoryPolicy != "" {
		mem += ", policy " + st.Code(t.MaxMemoryPolicy)
	}
	return s + "; " + mem
}

// scannedWords: "6,602 keys matching * (all 6,602 keys of db0)".
func scannedWords(s *Survey, st style) string {
	w := words.Commas(s.Scanned) + " " + words.Plural(s.Scanned, "key", "keys") + " matching " + st.Code(s.Match)
	if s.DBSize > 0 {
		w += fmt.Sprintf(" of %s in db%d", words.Commas(s.DBSize), s.Target.DB)
	}
	return w
}

// sampleWords says how good an estimate is, "" for an exact survey.
func sampleWords(s *Survey) string {
	sm := s.Sample
	if sm == nil {
		return ""
	}
	w := fmt.Sprintf("Estimate from the first %s keys SCAN returned, about %s of those matching; counts and sizes are projected from them",
		words.Commas(s.Scanned), words.PercentCapped(sm.Fraction))
	if sm.Margin > 0 {
		w += fmt.Sprintf(" (total ±%s", words.PercentCapped(sm.Margin))
	} else {
		w += " (total from the database's size"
	}
	return w + "; each pattern's margin, 95% confidence, is beside its count). Survey without --sample for exact figures."
}

// row is one pattern's cells, shared by text and markdown.
type row struct {
	pattern, keys, withTTL, ttl, types, memory, idle, times, example string
}

func patternRow(s *Survey, p Pattern) row {
	r := row{pattern: p.Pattern, keys: words.Commas(p.Keys), withTTL: words.ShareCapped(p.WithTTL, p.Keys, "—"),
		ttl: "—", types: typeWords(p.Types), memory: words.Size(p.MemoryBytes), idle: "—"}
	if s.Sampled {
		r.keys = "~" + r.keys
		if p.Margin > 0 {
			r.keys += " ±" + words.PercentCapped(p.Margin)
		}
	}
	if t := p.TTLSeconds; t != nil {
		r.ttl = secondsWords(t.P50) + " / " + secondsWords(t.P90)
	}
	if p.IdleSeconds != nil {
		r.idle = secondsWords(p.IdleSeconds.P50)
	}
	var times []string
	for _, tp := range p.TimestampParts {
		times = append(times, fmt.Sprintf("%d: %s", tp.Position, tp.Format))
	}
	r.times = strings.Join(times, ", ")
	if len(p.Examples) > 0 {
		r.example = p.Examples[0]
	}
	return r
}

func otherRow(s *Survey) row {
	o := s.Other
	n := "~" + words.Commas(o.Patterns)
	if o.AtLeast {
		n = "over " + words.Commas(o.Patterns)
	}
	r := row{pattern: "other (" + n + " rare patterns)", keys: words.Commas(o.Keys), withTTL: words.ShareCapped(o.WithTTL, o.Keys, "—"),
		ttl: "", types: typeWords(o.Types), memory: words.Size(o.MemoryBytes)}
	if s.Sampled {
		r.keys = "~" + r.keys
	}
	if len(o.Examples) > 0 {
		r.example = o.Examples[0]
	}
	return r
}

// moreWords sums the patterns past maxRows.
func moreWords(ps []Pattern) string {
	var keys, mem int64
	for _, p := range ps {
		keys += p.Keys
		mem += p.MemoryBytes
	}
	return fmt.Sprintf("%d more %s with %s keys and %s (all of them in --format json)",
		len(ps), words.Plural(len(ps), "pattern", "patterns"), words.Commas(keys), words.Size(mem))
}

// footer: the server clock, the scan's duration and how memory was
// measured.
func footer(s *Survey) []string {
	var f []string
	if !s.GeneratedAt.IsZero() {
		f = append(f, "server clock at the scan: "+s.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if s.ScanDuration > 0 {
		f = append(f, "scan took "+words.DurationUncarried(time.Duration(s.ScanDuration)))
	}
	f = append(f, fmt.Sprintf("memory: mean MEMORY USAGE of up to %d keys a pattern, times its keys", detailSample))
	return f
}
