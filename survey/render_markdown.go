package survey

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/keyjob/keyjob/internal/words"
)

// RenderMarkdown writes s as GitHub-flavoured markdown: the verdict in the
// heading, what must stop a reader in blockquotes, one table row per
// pattern.
func RenderMarkdown(w io.Writer, s *Survey) error {
	if s == nil {
		return errRenderNil
	}
	var b bytes.Buffer
	st := words.MarkdownStyle{}
	fmt.Fprintf(&b, "### keyjob survey: %s — %s\n\n", words.MarkdownCode(s.Target.String()), headline(s, st))
	fmt.Fprintf(&b, "Target %s (%s) · scanned %s\n\n", words.MarkdownCode(s.Target.String()), targetWords(s.Target, st), scannedWords(s, st))
	if sw := sampleWords(s); sw != "" {
		head, rest := words.FirstSentence(strings.Replace(sw, "--sample", words.MarkdownCode("--sample"), 1))
		fmt.Fprintf(&b, "> ℹ️ **%s** %s\n\n", head, rest)
	}
	for _, m := range s.Warnings {
		b.WriteString(words.MarkdownQuote("⚠️", m.Message, m.Code))
	}
	for _, m := range s.Notes {
		b.WriteString(words.MarkdownQuote("ℹ️", m.Message, m.Code))
	}

	shown := s.Patterns[:min(len(s.Patterns), maxRows)]
	var rows [][]string
	for _, p := range shown {
		r := patternRow(s, p)
		rows = append(rows, []string{words.MarkdownCode(r.pattern), r.keys, r.withTTL, r.ttl, r.types, r.memory, r.idle, r.times, mdCodeOrEmpty(r.example)})
	}
	if s.Other != nil {
		r := otherRow(s)
		rows = append(rows, []string{"*" + r.pattern + "*", r.keys, r.withTTL, r.ttl, r.types, r.memory, r.idle, r.times, mdCodeOrEmpty(r.example)})
	}
	if len(rows) == 0 {
		b.WriteString("No keys matched.\n\n")
	} else {
		words.MarkdownTable(&b, []string{"pattern", "keys", "with TTL", "TTL p50 / p90", "types", "memory (est.)", "idle p50", "time in name", "example"},
			"-::--::--", rows)
	}
	if len(s.Patterns) > len(shown) {
		b.WriteString(strings.Replace(moreWords(s.Patterns[len(shown):]), "--format json", words.MarkdownCode("--format json"), 1) + ".\n\n")
	}
	if rows := insideRows(s, words.MarkdownCode); len(rows) > 0 {
		for _, r := range rows {
			r[0] = words.MarkdownCode(r[0])
		}
		fmt.Fprintf(&b, "#### %s\n\n", insideTitle())
		words.MarkdownTable(&b, []string{"pattern", "type", "read", "inside"}, "--:-", rows)
	}
	foot := footer(s)
	foot[0] = strings.ToUpper(foot[0][:1]) + foot[0][1:]
	foot = append(foot, fmt.Sprintf("report format %d", max(s.FormatVersion, FormatVersion)))
	fmt.Fprintf(&b, "<sub>%s</sub>\n", strings.Join(foot, " · "))
	return words.Flush(w, &b)
}

func mdCodeOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return words.MarkdownCode(s)
}
