package planner

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RenderMarkdown writes p as a pull-request comment (GitHub flavoured
// markdown): the verdict in the heading, what must stop a reviewer in
// blockquotes, then the figures as tables and the sample keys folded away.
func RenderMarkdown(w io.Writer, p *Plan) error {
	if p == nil {
		return errRenderNilPlan
	}
	var b bytes.Buffer
	st := mdStyle{}

	fmt.Fprintf(&b, "### keyjob plan: %s — %s\n\n", mdCode(p.Job.Name), reportHeadline(p, st))
	if d := oneLine(p.Job.Description); strings.TrimSpace(d) != "" {
		b.WriteString(mdText(d) + "\n\n")
	}
	var meta []string
	if p.Job.Path != "" {
		meta = append(meta, "Job file "+mdCode(p.Job.Path))
	}
	if p.Job.SHA256 != "" {
		meta = append(meta, "sha256 "+mdCode(reportSHA(p.Job.SHA256)))
	}
	meta = append(meta, "target "+mdCode(p.Target.String())+" ("+targetWords(p.Target)+")")
	b.WriteString(strings.Join(meta, " · ") + "\n\n")

	if head, rest := sampleWords(p); head != "" {
		fmt.Fprintf(&b, "> ℹ️ **%s** %s\n\n", head, strings.Replace(rest, "--sample", mdCode("--sample"), 1))
	}
	for _, m := range p.Errors {
		b.WriteString(mdMessage("❌", m))
	}
	for _, m := range p.Warnings {
		b.WriteString(mdMessage("⚠️", m))
	}

	mdOutcomes(&b, p, st)
	if p.Outcomes.Change > 0 {
		mdSchedule(&b, p, st)
		var rows [][]string
		for _, r := range projectionRows(p, st) {
			rows = append(rows, []string{r.label, r.value, r.note})
		}
		mdTable(&b, []string{"projection", "value", ""}, "---", rows)
	}

	mdGuards(&b, p, st)
	mdSamples(&b, p, st)

	var foot []string
	if !p.GeneratedAt.IsZero() {
		foot = append(foot, "Server clock at the scan: "+p.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if p.ScanDuration > 0 {
		foot = append(foot, "scan took "+spokenDuration(time.Duration(p.ScanDuration)))
	}
	foot = append(foot, fmt.Sprintf("report format %d", max(p.FormatVersion, FormatVersion)))
	fmt.Fprintf(&b, "<sub>%s</sub>\n", strings.Join(foot, " · "))
	return flushReport(w, &b)
}

func mdOutcomes(b *bytes.Buffer, p *Plan, st reportStyle) {
	var rows [][]string
	for _, r := range outcomeRows(p, st) {
		rows = append(rows, []string{r.label, r.value, r.note})
	}
	rows = append(rows, []string{
		"**scanned** " + scannedSelect(p, st),
		"**" + commas(p.Scanned) + "**",
		scannedWords(p),
	})
	mdTable(b, []string{"outcome", "keys", ""}, "-:-", rows)
}

func mdSchedule(b *bytes.Buffer, p *Plan, st reportStyle) {
	if len(p.Expiries) == 0 {
		return
	}
	b.WriteString("New expiries after the run:\n\n")
	var rows [][]string
	for _, r := range expiryRows(p) {
		rows = append(rows, []string{r.label, r.value, r.note})
	}
	keys, mem := expiryTotal(p)
	rows = append(rows, []string{"**total**", "**" + commas(keys) + "**", "**" + sizeWords(mem) + "**"})
	mdTable(b, []string{"expire", "keys", "memory freed (est.)"}, "-::", rows)
	if s := peakWords(p, st); s != "" {
		b.WriteString(s + "\n\n")
	}
}

func mdGuards(b *bytes.Buffer, p *Plan, st reportStyle) {
	if len(p.Guards) == 0 {
		return
	}
	b.WriteString("Guards, checked before the first change and every second of the run:\n\n")
	var rows [][]string
	for _, g := range p.Guards {
		rows = append(rows, []string{g.Name, g.Figure, g.Levels, guardState(g, st)})
	}
	mdTable(b, []string{"guard", "now", "levels", "state"}, "----", rows)
	if len(p.Job.GuardsSet) > 0 {
		var set []string
		for _, g := range p.Job.GuardsSet {
			set = append(set, mdCode(g))
		}
		b.WriteString("Levels the job file sets: " + strings.Join(set, ", ") + ".\n\n")
	}
}

func mdSamples(b *bytes.Buffer, p *Plan, st reportStyle) {
	groups := sampleGroups(p, st)
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(b, "<details><summary>Samples (up to %d per outcome)</summary>\n\n", SamplesPer)
	for _, g := range groups {
		fmt.Fprintf(b, "**%s** — %d of %s\n\n", mdText(g.label), len(g.keys), commas(max(g.total, int64(len(g.keys)))))
		header := []string{"key", "TTL now", "after the run"}
		if !g.isChange() {
			header[2] = "why left alone"
		}
		if !g.isChange() && !g.hasWhy() {
			header = header[:2]
		}
		var rows [][]string
		for _, k := range g.keys {
			rows = append(rows, []string{mdCode(k.Name), beforeWords(p, k), afterWords(p, g, k)}[:len(header)])
		}
		mdTable(b, header, "---", rows)
	}
	b.WriteString("</details>\n\n")
}

// mdMessage is an error or a warning as its own blockquote, its first
// sentence in bold so a skimming reviewer gets the point.
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
// long first sentence is cut at its first clause (": " or "; ") instead,
// so the bold part stays a headline.
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
// ':' right. Every cell is escaped so a pipe in a key or a note cannot
// split it.
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
func mdCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// mdCode is s as a code span that survives backticks in s: the fence is
// one backtick longer than the longest run inside.
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
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") ||
		(strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ")) {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdText escapes what markdown would read as markup in text keyjob did
// not write (a job file's description), so it shows as typed.
func mdText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]<>|~#&!", r):
			b.WriteByte('\\')
		case i == 0 && strings.ContainsRune("-+=", r):
			b.WriteByte('\\')
		case (r == '.' || r == ')') && allDigits(s[:i]):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

type mdStyle struct{}

func (mdStyle) code(s string) string   { return mdCode(s) }
func (mdStyle) strong(s string) string { return "**" + s + "**" }
func (mdStyle) failed() string         { return "❌ " }
