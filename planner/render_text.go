package planner

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// textWidth is where long messages wrap; tables are never wrapped.
const textWidth = 100

// textSamples is how many sample keys per outcome a terminal shows; an
// outcome with at most textSamplesAll keeps all of its few.
const (
	textSamples    = 3
	textSamplesAll = 4
)

// RenderText writes p for a terminal: the verdict on the first line,
// errors and warnings next, then aligned tables, samples last.
func RenderText(w io.Writer, p *Plan) error {
	if p == nil {
		return errRenderNilPlan
	}
	var b bytes.Buffer
	st := textStyle{}

	fmt.Fprintf(&b, "keyjob plan %s → %s: %s\n", oneLine(p.Job.Name), oneLine(p.Target.String()), reportHeadline(p, st))
	if d := strings.TrimSpace(oneLine(p.Job.Description)); d != "" {
		b.WriteString(d + "\n")
	}
	var about [][]string
	if p.Job.Path != "" {
		file := printableKey(p.Job.Path)
		if p.Job.SHA256 != "" {
			file += " (sha256 " + reportSHA(p.Job.SHA256) + ")"
		}
		about = append(about, []string{"job file", file})
	}
	about = append(about, []string{"target", oneLine(p.Target.String()) + ": " + targetWords(p.Target)})
	textTable(&b, "", nil, about, "")
	if head, rest := sampleWords(p); head != "" {
		b.WriteString(wrapWords("estimate: ", strings.TrimPrefix(head, "Estimate ")+" "+rest, textWidth))
	}

	if len(p.Errors)+len(p.Warnings) > 0 {
		b.WriteString("\n")
		for _, m := range p.Errors {
			b.WriteString(wrapWords("error: ", textProse(m.Message, m.Code), textWidth))
		}
		for _, m := range p.Warnings {
			b.WriteString(wrapWords("warning: ", textProse(m.Message, m.Code), textWidth))
		}
	}

	b.WriteString("\n")
	var rows [][]string
	for _, r := range outcomeRows(p, st) {
		rows = append(rows, []string{r.label, r.value, textProse(r.note, "")})
	}
	rows = append(rows, []string{"scanned " + scannedSelect(p, st), commas(p.Scanned), scannedWords(p)})
	textTable(&b, "", []string{"OUTCOME", "KEYS", ""}, rows, "-:-")

	if p.Outcomes.Change > 0 {
		textFigures(&b, p, st)
	}

	if len(p.Guards) > 0 {
		b.WriteString("\n")
		rows = nil
		for _, g := range p.Guards {
			rows = append(rows, []string{oneLine(g.Name), textProse(g.Figure, ""), textProse(g.Levels, ""), textProse(guardState(g, st), "")})
		}
		textTable(&b, "", []string{"GUARD", "NOW", "LEVELS", "STATE"}, rows, "----")
		if len(p.Job.GuardsSet) > 0 {
			b.WriteString("levels the job file sets: " + oneLine(strings.Join(p.Job.GuardsSet, ", ")) + "\n")
		}
	}

	textSamplesSection(&b, p, st)

	var foot []string
	if !p.GeneratedAt.IsZero() {
		foot = append(foot, "server clock at the scan: "+p.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if p.ScanDuration > 0 {
		foot = append(foot, "scan took "+spokenDuration(time.Duration(p.ScanDuration)))
	}
	if len(foot) > 0 {
		b.WriteString("\n" + strings.Join(foot, " · ") + "\n")
	}
	return flushReport(w, &b)
}

func textSamplesSection(b *bytes.Buffer, p *Plan, st reportStyle) {
	groups := sampleGroups(p, st)
	if len(groups) == 0 {
		return
	}
	cut := false
	for _, g := range groups {
		cut = cut || len(g.keys) > textSamplesAll
	}
	b.WriteString("\n")
	if cut {
		fmt.Fprintf(b, "SAMPLES (%d per outcome; up to %d in --format markdown or json)\n", textSamples, SamplesPer)
	} else {
		b.WriteString("SAMPLES\n")
	}
	for _, g := range groups {
		keys := g.keys
		if len(keys) > textSamplesAll {
			keys = keys[:textSamples]
		}
		fmt.Fprintf(b, "%s (%s of %s)\n", g.label, commas(int64(len(keys))), commas(max(g.total, int64(len(g.keys)))))
		header := []string{"KEY", "TTL NOW", "AFTER THE RUN"}
		if !g.isChange() {
			header[2] = "WHY LEFT ALONE"
		}
		if !g.isChange() && !g.hasWhy() {
			header = header[:2]
		}
		var rows [][]string
		for _, k := range keys {
			rows = append(rows, []string{printableKey(k.Name), beforeWords(p, k), oneLine(afterWords(p, g, k))}[:len(header)])
		}
		textTable(b, "  ", header, rows, "---")
	}
}

// textTable aligns rows with text/tabwriter. Columns marked ':' in align
// are right-aligned by padding them first (tabwriter aligns a whole table
// one way); trailing blanks are trimmed so empty notes leave none.
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
		if line == "" {
			continue
		}
		b.WriteString(strings.TrimRight(line, " \n") + "\n")
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

// textProse is a message keyjob wrote, without its markdown marks.
func textProse(s, fallback string) string {
	s = strings.TrimSpace(oneLine(s))
	if s == "" {
		return fallback
	}
	return strings.NewReplacer("**", "", "`", "").Replace(s)
}

type textStyle struct{}

func (textStyle) code(s string) string   { return printableKey(s) }
func (textStyle) strong(s string) string { return s }
func (textStyle) failed() string         { return "" }

// textFigures are the expiry schedule and the projections, for a plan
// that changes something.
func textFigures(b *bytes.Buffer, p *Plan, st reportStyle) {
	if len(p.Expiries) > 0 {
		b.WriteString("\n")
		var rows [][]string
		for _, r := range expiryRows(p) {
			rows = append(rows, []string{r.label, r.value, r.note})
		}
		keys, mem := expiryTotal(p)
		rows = append(rows, []string{"total", commas(keys), sizeWords(mem)})
		textTable(b, "", []string{"NEW EXPIRIES AFTER THE RUN", "KEYS", "MEMORY FREED (EST.)"}, rows, "-::")
		if s := peakWords(p, st); s != "" {
			b.WriteString(s + "\n")
		}
	}

	b.WriteString("\n")
	var rows [][]string
	for _, r := range projectionRows(p, st) {
		rows = append(rows, []string{r.label, textProse(r.value, ""), textProse(r.note, "")})
	}
	textTable(b, "", []string{"PROJECTION", "VALUE", ""}, rows, "---")
}
