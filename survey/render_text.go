package survey

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
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
	st := textStyle{}
	fmt.Fprintf(&b, "keyjob survey → %s: %s\n", oneLine(s.Target.String()), headline(s, st))
	textTable(&b, "", nil, [][]string{
		{"target", oneLine(s.Target.String()) + ": " + targetWords(s.Target, st)},
		{"scanned", scannedWords(s, st)},
	}, "")
	if sw := sampleWords(s); sw != "" {
		b.WriteString(wrapWords("estimate: ", strings.TrimPrefix(sw, "Estimate "), textWidth))
	}
	if len(s.Warnings)+len(s.Notes) > 0 {
		b.WriteString("\n")
		for _, m := range s.Warnings {
			b.WriteString(wrapWords("warning: ", textProse(m.Message), textWidth))
		}
		for _, m := range s.Notes {
			b.WriteString(wrapWords("note: ", textProse(m.Message), textWidth))
		}
	}

	b.WriteString("\n")
	var rows [][]string
	cells := func(r row) []string {
		return []string{printableKey(r.pattern), r.keys, r.withTTL, r.ttl, r.types, r.memory, r.idle, r.times,
			cut(printableKey(r.example), textExample)}
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
		textTable(&b, "", []string{"PATTERN", "KEYS", "WITH TTL", "TTL P50 / P90", "TYPES", "MEMORY (EST.)", "IDLE P50", "TIME IN NAME", "EXAMPLE"},
			rows, "-::--::--")
	}
	if len(s.Patterns) > len(shown) {
		b.WriteString(moreWords(s.Patterns[len(shown):]) + "\n")
	}
	b.WriteString("\n" + strings.Join(footer(s), " · ") + "\n")
	return flush(w, &b)
}

type textStyle struct{}

func (textStyle) code(s string) string   { return printableKey(s) }
func (textStyle) strong(s string) string { return s }

// textProse is a message without its markdown marks.
func textProse(s string) string {
	return strings.NewReplacer("**", "", "`", "").Replace(strings.TrimSpace(oneLine(s)))
}

// textTable aligns rows with text/tabwriter. Columns marked ':' in align
// are right-aligned by padding them first; trailing blanks are trimmed.
func textTable(b *bytes.Buffer, indent string, header []string, rows [][]string, align string) {
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	widths := map[int]int{}
	for _, r := range all {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	for _, r := range all {
		cells := make([]string, len(r))
		for i, c := range r {
			if i < len(align) && align[i] == ':' {
				c = strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + c
			}
			cells[i] = c
		}
		fmt.Fprintln(tw, indent+strings.Join(cells, "\t"))
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if line != "" {
			b.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
}

// wrapWords folds text after prefix at width, continuation lines indented
// under the text.
func wrapWords(prefix, text string, width int) string {
	indent := strings.Repeat(" ", utf8.RuneCountInString(prefix))
	var b strings.Builder
	line := prefix
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
			b.WriteString(line + "\n")
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line + "\n")
	return b.String()
}
