package words

import (
	"bytes"
	"fmt"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// TextTable aligns rows with text/tabwriter. Columns marked ':' in align
// are right-aligned by padding them first (tabwriter aligns a whole table
// one way); trailing blanks are trimmed so empty notes leave none.
func TextTable(b *bytes.Buffer, indent string, header []string, rows [][]string, align string) {
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

// Wrap folds text after prefix at width, continuation lines indented
// under the text.
func Wrap(prefix, text string, width int) string {
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

// Plain is a message keyjob wrote, on one line and without its markdown
// marks, for a terminal; fallback when nothing is left of it.
func Plain(s, fallback string) string {
	s = strings.TrimSpace(OneLine(s))
	if s == "" {
		return fallback
	}
	return strings.NewReplacer("**", "", "`", "").Replace(s)
}
