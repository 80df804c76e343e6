package planner

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/words"
)

// RenderMarkdown writes p as a pull-request comment (GitHub flavoured
// markdown): the verdict in the heading, what must stop a reviewer in
// blockquotes, then the figures as tables and the sample keys folded away.
func RenderMarkdown(w io.Writer, p *Plan) error {
	if p == nil {
		return errRenderNilPlan
	}
	var b bytes.Buffer
	st := words.MarkdownStyle{}

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
		b.WriteString(words.MarkdownQuote("❌", m.Message, m.Code))
	}
	for _, m := range p.Warnings {
		b.WriteString(words.MarkdownQuote("⚠️", m.Message, m.Code))
	}

	mdOutcomes(&b, p, st)
	if p.Outcomes.Change > 0 {
		mdSchedule(&b, p, st)
		var rows [][]string
		for _, r := range projectionRows(p, st) {
			rows = append(rows, []string{r.label, r.value, r.note})
		}
		words.MarkdownTable(&b, []string{"projection", "value", ""}, "---", rows)
	}

	mdGuards(&b, p, st)
	if lines := commandLines(p); len(lines) > 0 {
		for _, l := range lines {
			b.WriteString("- " + l + "\n")
		}
		b.WriteString("\n")
	}
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
	return words.Flush(w, &b)
}

func mdOutcomes(b *bytes.Buffer, p *Plan, st reportStyle) {
	var rows [][]string
	for _, r := range outcomeRows(p, st) {
		rows = append(rows, []string{r.label, r.value, r.note})
	}
	rows = append(rows, []string{
		"**scanned** " + scannedSelect(p, st),
		"**" + words.Commas(p.Scanned) + "**",
		scannedWords(p),
	})
	words.MarkdownTable(b, []string{"outcome", "keys", ""}, "-:-", rows)
}

// expiringWhat names what the schedule counts: the fields of a fields
// job, which get the expiries, else keys.
func expiringWhat(p *Plan) string {
	if p.Fields != nil {
		return "fields"
	}
	return "keys"
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
	rows = append(rows, []string{"**total**", "**" + words.Commas(keys) + "**", "**" + memoryWords(p, mem) + "**"})
	words.MarkdownTable(b, []string{"expire", expiringWhat(p), "memory freed (est.)"}, "-::", rows)
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
	words.MarkdownTable(b, []string{"guard", "now", "levels", "state"}, "----", rows)
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
		fmt.Fprintf(b, "**%s** — %d of %s\n\n", mdText(g.label), len(g.keys), words.Commas(max(g.total, int64(len(g.keys)))))
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
		words.MarkdownTable(b, header, "---", rows)
	}
	b.WriteString("</details>\n\n")
}

// mdCode is words.MarkdownCode under the name the renderers use; mdCell,
// words.MarkdownCell, is kept for render_test.go, which pins the escaping.
func mdCell(s string) string { return words.MarkdownCell(s) }
func mdCode(s string) string { return words.MarkdownCode(s) }

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
