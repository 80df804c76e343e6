package planner

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/words"
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
	st := words.TextStyle{}

	fmt.Fprintf(&b, "keyjob plan %s → %s: %s\n", oneLine(p.Job.Name), oneLine(p.Target.String()), reportHeadline(p, st))
	if d := strings.TrimSpace(oneLine(p.Job.Description)); d != "" {
		b.WriteString(d + "\n")
	}
	var about [][]string
	if p.Job.Path != "" {
		file := words.Printable(p.Job.Path)
		if p.Job.SHA256 != "" {
			file += " (sha256 " + reportSHA(p.Job.SHA256) + ")"
		}
		about = append(about, []string{"job file", file})
	}
	about = append(about, []string{"target", oneLine(p.Target.String()) + ": " + targetWords(p.Target)})
	words.TextTable(&b, "", nil, about, "")
	if head, rest := sampleWords(p); head != "" {
		b.WriteString(words.Wrap("estimate: ", strings.TrimPrefix(head, "Estimate ")+" "+rest, textWidth))
	}

	if len(p.Errors)+len(p.Warnings) > 0 {
		b.WriteString("\n")
		for _, m := range p.Errors {
			b.WriteString(words.Wrap("error: ", words.Plain(m.Message, m.Code), textWidth))
		}
		for _, m := range p.Warnings {
			b.WriteString(words.Wrap("warning: ", words.Plain(m.Message, m.Code), textWidth))
		}
	}

	b.WriteString("\n")
	var rows [][]string
	for _, r := range outcomeRows(p, st) {
		rows = append(rows, []string{r.label, r.value, words.Plain(r.note, "")})
	}
	rows = append(rows, []string{"scanned " + scannedSelect(p, st), words.Commas(p.Scanned), scannedWords(p)})
	words.TextTable(&b, "", []string{"OUTCOME", "KEYS", ""}, rows, "-:-")

	if p.Outcomes.Change > 0 {
		textFigures(&b, p, st)
	}

	if len(p.Guards) > 0 {
		b.WriteString("\n")
		rows = nil
		for _, g := range p.Guards {
			rows = append(rows, []string{oneLine(g.Name), words.Plain(g.Figure, ""), words.Plain(g.Levels, ""), words.Plain(guardState(g, st), "")})
		}
		words.TextTable(&b, "", []string{"GUARD", "NOW", "LEVELS", "STATE"}, rows, "----")
		if len(p.Job.GuardsSet) > 0 {
			b.WriteString("levels the job file sets: " + oneLine(strings.Join(p.Job.GuardsSet, ", ")) + "\n")
		}
	}

	if lines := commandLines(p); len(lines) > 0 {
		b.WriteString("\n")
		for i, l := range lines {
			b.WriteString(words.Wrap(map[bool]string{true: "commands: ", false: "  "}[i == 0], l, textWidth))
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
	return words.Flush(w, &b)
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
		fmt.Fprintf(b, "%s (%s of %s)\n", g.label, words.Commas(int64(len(keys))), words.Commas(max(g.total, int64(len(g.keys)))))
		header := []string{"KEY", "TTL NOW", "AFTER THE RUN"}
		if !g.isChange() {
			header[2] = "WHY LEFT ALONE"
		}
		if !g.isChange() && !g.hasWhy() {
			header = header[:2]
		}
		var rows [][]string
		for _, k := range keys {
			rows = append(rows, []string{words.Printable(k.Name), beforeWords(p, k), oneLine(afterWords(p, g, k))}[:len(header)])
		}
		words.TextTable(b, "  ", header, rows, "---")
	}
}

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
		rows = append(rows, []string{"total", words.Commas(keys), memoryWords(p, mem)})
		words.TextTable(b, "", []string{"NEW EXPIRIES AFTER THE RUN", strings.ToUpper(expiringWhat(p)), "MEMORY FREED (EST.)"}, rows, "-::")
		if s := peakWords(p, st); s != "" {
			b.WriteString(s + "\n")
		}
	}

	b.WriteString("\n")
	var rows [][]string
	for _, r := range projectionRows(p, st) {
		rows = append(rows, []string{r.label, words.Plain(r.value, ""), words.Plain(r.note, "")})
	}
	words.TextTable(b, "", []string{"PROJECTION", "VALUE", ""}, rows, "---")
}
