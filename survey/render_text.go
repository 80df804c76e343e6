package survey

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/keyjob/keyjob/internal/words"
)

// textWidth is where messages wrap; tables are never wrapped.
const textWidth = 100

// textExample is the longest example key a terminal shows.
const textExample = 48

// RenderText writes s for a terminal: the verdict first, warnings next,
// then one aligned line per pattern.
func RenderText(w io.Writer, s *Survey) error {
	if s == nil {
		return errRenderNil
	}
	var b bytes.Buffer
	st := words.TextStyle{}
	fmt.Fprintf(&b, "keyjob survey → %s: %s\n", words.OneLine(s.Target.String()), headline(s, st))
	words.TextTable(&b, "", nil, [][]string{
		{"target", words.OneLine(s.Target.String()) + ": " + targetWords(s.Target, st)},
		{"scanned", scannedWords(s, st)},
	}, "")
	if sw := sampleWords(s); sw != "" {
		b.WriteString(words.Wrap("estimate: ", strings.TrimPrefix(sw, "Estimate "), textWidth))
	}
	if len(s.Warnings)+len(s.Notes) > 0 {
		b.WriteString("\n")
		for _, m := range s.Warnings {
			b.WriteString(words.Wrap("warning: ", words.Plain(m.Message, ""), textWidth))
		}
		for _, m := range s.Notes {
			b.WriteString(words.Wrap("note: ", words.Plain(m.Message, ""), textWidth))
		}
	}

	b.WriteString("\n")
	var rows [][]string
	cells := func(r row) []string {
		return []string{words.Printable(r.pattern), r.keys, r.withTTL, r.ttl, r.types, r.memory, r.idle, r.times,
			cut(words.Printable(r.example), textExample)}
	}
	shown := s.Patterns[:min(len(s.Patterns), maxRows)]
	for _, p := range shown {
		rows = append(rows, cells(patternRow(s, p)))
	}
	if s.Other != nil {
		rows = append(rows, cells(otherRow(s)))
	}
	if len(rows) == 0 {
		b.WriteString("No keys matched.\n")
	} else {
		words.TextTable(&b, "", []string{"PATTERN", "KEYS", "WITH TTL", "TTL P50 / P90", "TYPES", "MEMORY (EST.)", "IDLE P50", "TIME IN NAME", "EXAMPLE"},
			rows, "-::--::--")
	}
	if len(s.Patterns) > len(shown) {
		b.WriteString(moreWords(s.Patterns[len(shown):]) + "\n")
	}
	if rows := insideRows(s, words.Printable); len(rows) > 0 {
		for _, r := range rows {
			r[0] = words.Printable(r[0])
		}
		b.WriteString("\n" + insideTitle() + ":\n")
		words.TextTable(&b, "", insideHeader, rows, "--:-")
	}
	b.WriteString("\n" + strings.Join(footer(s), " · ") + "\n")
	return words.Flush(w, &b)
}
