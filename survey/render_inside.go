package survey

import (
	"fmt"
	"strings"

	"github.com/keyjob/keyjob/internal/words"
)

// insideHeader is the header of the "Inside keys" table, text and
// markdown alike (markdown lowers it).
var insideHeader = []string{"PATTERN", "TYPE", "READ", "INSIDE"}

// insideTitle introduces the table.
func insideTitle() string {
	return "Inside keys (the keys each pattern's sample took, read under CLIENT NO-TOUCH)"
}

// insideRows is one row per pattern and type read inside: the pattern,
// the type, how many keys were read, and what they hold, in words;
// code marks values a job file takes.
func insideRows(s *Survey, code func(string) string) [][]string {
	var rows [][]string
	for _, p := range s.Patterns[:min(len(s.Patterns), maxRows)] {
		in := p.Inside
		if in == nil {
			continue
		}
		if h := in.Hashes; h != nil {
			rows = append(rows, []string{p.Pattern, "hash", words.Commas(h.Read), hashWords(h, code)})
		}
		if z := in.ZSets; z != nil {
			rows = append(rows, []string{p.Pattern, "zset", words.Commas(z.Read), zsetWords(z, code)})
		}
		if x := in.Streams; x != nil {
			rows = append(rows, []string{p.Pattern, "stream", words.Commas(x.Read), streamWords(x)})
		}
	}
	return rows
}

// hashWords: "60 with a time in field names (seen:{ts}:{n}, unix; 20 of
// 180 fields with a TTL); 20 with fields that have a TTL (20 of 300
// fields read)".
func hashWords(h *HashInside, code func(string) string) string {
	var parts []string
	if h.WithTimestampFields == 0 {
		parts = append(parts, "no time in field names")
	} else {
		w := fmt.Sprintf("%s with a time in field names", words.Commas(h.WithTimestampFields))
		var fps []string
		for _, fp := range h.FieldPatterns {
			f := code(fp.Pattern)
			if len(fp.TimestampParts) > 0 {
				f += " " + fp.TimestampParts[0].Format
			}
			if fp.WithTTL != nil {
				f += fmt.Sprintf(", %s of %s fields with a TTL", words.Commas(*fp.WithTTL), words.Commas(fp.Fields))
			}
			fps = append(fps, f)
		}
		if len(fps) > 0 {
			w += " (" + strings.Join(fps, "; ") + ")"
		}
		parts = append(parts, w)
	}
	switch {
	case h.WithVolatileFields == nil:
		parts = append(parts, "field TTLs not read")
	case *h.WithVolatileFields == 0:
		parts = append(parts, "no field with a TTL")
	default:
		parts = append(parts, fmt.Sprintf("%s with fields that have a TTL (%s of %s fields read)",
			words.Commas(*h.WithVolatileFields), words.Commas(deref64(h.VolatileFields)), words.Commas(h.FieldsRead)))
	}
	return strings.Join(parts, "; ")
}

// zsetWords: "40 scored by time (unix_ms); members p50 5, max 7; oldest
// member p50 24 d, max 44 d".
func zsetWords(z *ZSetInside, code func(string) string) string {
	var parts []string
	switch {
	case z.ScoreFormat != "":
		parts = append(parts, fmt.Sprintf("%s scored by time (%s)", words.Commas(z.TimeScored), code(z.ScoreFormat)))
	case z.TimeScored > 0:
		parts = append(parts, fmt.Sprintf("%s scored by time, in mixed units", words.Commas(z.TimeScored)))
	default:
		parts = append(parts, "scores are not times")
	}
	parts = append(parts, fmt.Sprintf("members p50 %s, max %s", words.Commas(z.MembersP50), words.Commas(z.MembersMax)))
	if a := z.OldestAgeSeconds; a != nil {
		parts = append(parts, "oldest member p50 "+secondsWords(a.P50)+", max "+secondsWords(a.Max))
	}
	return strings.Join(parts, "; ")
}

// streamWords: "entries p50 4, max 4; oldest entry p50 8 d, max 15 d;
// 1 empty".
func streamWords(x *StreamInside) string {
	parts := []string{fmt.Sprintf("entries p50 %s, max %s", words.Commas(x.EntriesP50), words.Commas(x.EntriesMax))}
	if a := x.OldestAgeSeconds; a != nil {
		parts = append(parts, "oldest entry p50 "+secondsWords(a.P50)+", max "+secondsWords(a.Max))
	}
	if x.Empty > 0 {
		parts = append(parts, words.Commas(x.Empty)+" empty")
	}
	return strings.Join(parts, "; ")
}

func deref64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
