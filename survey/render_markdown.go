package survey

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RenderMarkdown writes s as GitHub-flavoured markdown: the verdict in the
// heading, what must stop a reader in blockquotes, one table row per
// pattern.
func RenderMarkdown(w io.Writer, s *Survey) error {
	if s == nil {
		return errRenderNil
	}
	var b bytes.Buffer
	st := mdStyle{}
	fmt.Fprintf(&b, "### keyjob survey: %s — %s\n\n", mdCode(s.Target.String()), headline(s, st))
	fmt.Fprintf(&b, "Target %s (%s) · scanned %s\n\n", mdCode(s.Target.String()), targetWords(s.Target, st), scannedWords(s, st))
	if sw := sampleWords(s); sw != "" {
		head, rest := firstSentence(strings.Replace(sw, "--sample", mdCode("--sample"), 1))
		fmt.Fprintf(&b, "> ℹ️ **%s** %s\n\n", head, rest)
	}
	for _, m := range s.Warnings {
		b.WriteString(mdMessage("⚠️", m))
	}
	for _, m := range s.Notes {
		b.WriteString(mdMessage("ℹ️", m))
	}

	shown := s.Patterns[:min(len(s.Patterns), maxRows)]
	var rows [][]string
	for _, p := range shown {
		r := patternRow(s, p)
		rows = append(rows, []string{mdCode(r.pattern), r.keys, r.withTTL, r.ttl, r.types, r.memory, r.idle, r.times, mdCodeOrEmpty(r.example)})
	}
	if s.Other != nil {
		r := otherRow(s)
		rows = append(rows, []string{"*" + r.pattern + "*", r.keys, r.withTTL, r.ttl, r.types, r.memory, r.idle, r.times, mdCodeOrEmpty(r.example)})
	}
	if len(rows) == 0 {
		b.WriteString("No keys matched.\n\n")
	} else {
		mdTable(&b, []string{"pattern", "keys", "with TTL", "TTL p50 / p90", "types", "memory (est.)", "idle p50", "time in name", "example"},
			"-::--::--", rows)
	}
	if len(s.Patterns) > len(shown) {
		b.WriteString(strings.Replace(moreWords(s.Patterns[len(shown):]), "--format json", mdCode("--format json"), 1) + ".\n\n")
	}
	foot := footer(s)
	foot[0] = strings.ToUpper(foot[0][:1]) + foot[0][1:]
	foot = append(foot, fmt.Sprintf("report format %d", max(s.FormatVersion, FormatVersion)))
	fmt.Fprintf(&b, "<sub>%s</sub>\n", strings.Join(foot, " · "))
	return flush(w, &b)
}

type mdStyle struct{}

func (mdStyle) code(s string) string   { return mdCode(s) }
func (mdStyle) strong(s string) string { return "**" + s + "**" }

func mdCodeOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return mdCode(s)
}

// mdMessage is a warning or a note as its own blockquote, its first
// sentence in bold.
func mdMessage(icon string, m Message) string {
	msg := strings.TrimSpace(oneLine(m.Message))
	if msg == "" {
		msg = m.Code
	}
	head, rest := firstSentence(msg)
	s := "> " + icon + " **" + head + "**"
	if rest != "" {
		s += " " + rest
	}
	return s + "\n\n"
}

// firstSentence cuts after the first ". " that starts a new sentence; a
// long first sentence is cut at its first clause instead, so the bold
// part stays a headline.
func firstSentence(s string) (string, string) {
	head, rest := s, ""
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '.' || s[i+1] != ' ' {
			continue
		}
		r, _ := utf8.DecodeRuneInString(s[i+2:])
		if unicode.IsUpper(r) || unicode.IsDigit(r) || r == '`' {
			head, rest = s[:i+1], s[i+2:]
			break
		}
	}
	const long, short = 100, 20
	if utf8.RuneCountInString(head) <= long {
		return head, rest
	}
	for i := short; i+1 < len(head); i++ {
		if (head[i] == ':' || head[i] == ';') && head[i+1] == ' ' {
			return head[:i+1], strings.TrimSpace(head[i+2:] + " " + rest)
		}
	}
	return head, rest
}

// mdTable writes a GFM table; align has one rune per column: '-' left,
// ':' right. Every cell is escaped so a pipe in a key cannot split it.
func mdTable(b *bytes.Buffer, header []string, align string, rows [][]string) {
	b.WriteString("|")
	for _, h := range header {
		b.WriteString(" " + mdCell(h) + " |")
	}
	b.WriteString("\n|")
	for i := range header {
		if i < len(align) && align[i] == ':' {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for _, c := range r {
			if c == "" {
				b.WriteString(" |")
				continue
			}
			b.WriteString(" " + mdCell(c) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// mdCell escapes pipes; GFM honours `\|` even inside code spans.
func mdCell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }

// mdCode is s as a code span that survives backticks in s.
func mdCode(s string) string {
	s = printableKey(s)
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || (strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ")) {
		s = " " + s + " "
	}
	return fence + s + fence
}
