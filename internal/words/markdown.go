package words

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MarkdownTable writes a GFM table; align has one rune per column: '-'
// left, ':' right. Every cell is escaped so a pipe in a key or a note
// cannot split it.
func MarkdownTable(b *bytes.Buffer, header []string, align string, rows [][]string) {
	b.WriteString("|")
	for _, h := range header {
		b.WriteString(" " + MarkdownCell(h) + " |")
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
			b.WriteString(" " + MarkdownCell(c) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// MarkdownCell is s on one line with its pipes escaped; GFM honours `\|`
// even inside code spans.
func MarkdownCell(s string) string {
	return strings.ReplaceAll(OneLine(s), "|", `\|`)
}

// MarkdownCode is s as a code span that survives backticks in s: the
// fence is one backtick longer than the longest run inside.
func MarkdownCode(s string) string {
	s = Printable(s)
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
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") ||
		(strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ")) {
		s = " " + s + " "
	}
	return fence + s + fence
}

// MarkdownQuote is a message (an error, a warning, a note) as its own
// blockquote after icon, its first sentence in bold so a skimming reader
// gets the point; an empty message shows its code instead.
func MarkdownQuote(icon, message, code string) string {
	msg := strings.TrimSpace(OneLine(message))
	if msg == "" {
		msg = code
	}
	head, rest := FirstSentence(msg)
	s := "> " + icon + " **" + head + "**"
	if rest != "" {
		s += " " + rest
	}
	return s + "\n\n"
}

// FirstSentence cuts after the first ". " that starts a new sentence; a
// long first sentence is cut at its first clause (": " or "; ") instead,
// so the bold part stays a headline.
func FirstSentence(s string) (head, rest string) {
	head, rest = s, ""
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
