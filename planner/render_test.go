package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/golden"
	"github.com/keyjob/keyjob/internal/words"
)

// TestRender_Golden pins every format of every fixture byte for byte. After
// an intended change: go test ./planner -run Render -update, then read the
// diff of testdata/ as a reviewer would.
func TestRender_Golden(t *testing.T) {
	for _, f := range renderFixtures() {
		for _, format := range Formats {
			t.Run(f.name+"/"+format, func(t *testing.T) {
				var got bytes.Buffer
				if err := Render(&got, f.plan, format); err != nil {
					t.Fatalf("Render(%s): %v", format, err)
				}
				golden.Check(t, filepath.Join("testdata", f.name+"."+format+".golden"), got.Bytes())
			})
		}
	}
}

func TestRender_UnknownFormat(t *testing.T) {
	var out bytes.Buffer
	err := Render(&out, renderFixtures()[0].plan, "yaml")
	if err == nil {
		t.Fatal("Render(yaml): no error")
	}
	for _, f := range []string{"text", "markdown", "json"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not list %q", err, f)
		}
	}
	if out.Len() != 0 {
		t.Errorf("wrote %d bytes for an unknown format", out.Len())
	}
}

func TestRender_NilPlan(t *testing.T) {
	for _, format := range Formats {
		if err := Render(&bytes.Buffer{}, nil, format); err == nil {
			t.Errorf("Render(nil, %s): no error", format)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRender_WriteError(t *testing.T) {
	for _, format := range Formats {
		err := Render(failingWriter{}, renderFixtures()[0].plan, format)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("Render(%s) to a failing writer: %v, want the write error", format, err)
		}
	}
}

// TestRenderJSON_RoundTrip: what a consumer decodes is the plan rendered.
func TestRenderJSON_RoundTrip(t *testing.T) {
	for _, f := range renderFixtures() {
		t.Run(f.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := RenderJSON(&out, f.plan); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(out.Bytes(), []byte("}\n")) {
				t.Errorf("JSON does not end with a newline")
			}
			var got Plan
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			want := forJSON(f.plan)
			if !reflect.DeepEqual(&got, want) {
				g, _ := json.Marshal(&got)
				w, _ := json.Marshal(want)
				t.Errorf("round trip differs:\n got: %s\nwant: %s", g, w)
			}
		})
	}
}

// TestRenderJSON_Contract checks the fields docs/cli.md promises, by path, in
// every fixture, including the one whose lists and maps are nil.
func TestRenderJSON_Contract(t *testing.T) {
	paths := []string{
		"format_version", "job.name", "job.sha256",
		"target.address", "target.db", "target.mode", "target.redis_version",
		"dbsize", "scanned", "outcomes.change",
		"estimates.aof_bytes", "estimates.memory_freed_bytes", "estimates.duration_seconds",
	}
	for _, b := range SkipOrder {
		paths = append(paths, "outcomes.skip."+b)
	}
	for _, f := range renderFixtures() {
		t.Run(f.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := RenderJSON(&out, f.plan); err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				v, ok := jsonPath(doc, p)
				if !ok {
					t.Errorf("%s: missing", p)
					continue
				}
				if v == nil {
					t.Errorf("%s: null", p)
				}
			}
			if v, _ := jsonPath(doc, "format_version"); v != float64(FormatVersion) {
				t.Errorf("format_version = %v, want %d", v, FormatVersion)
			}
			for _, p := range []string{"warnings", "errors", "expiries", "guards", "estimates.forks", "target.keyspace"} {
				if v, _ := jsonPath(doc, p); reflect.TypeOf(v) != reflect.TypeOf([]any{}) {
					t.Errorf("%s = %#v, want a list", p, v)
				}
			}
			for _, p := range []string{"samples", "outcomes.skip"} {
				if v, _ := jsonPath(doc, p); reflect.TypeOf(v) != reflect.TypeOf(map[string]any{}) {
					t.Errorf("%s = %#v, want an object", p, v)
				}
			}
			for _, m := range append(f.plan.Warnings, f.plan.Errors...) {
				if !strings.Contains(out.String(), `"code": "`+m.Code+`"`) {
					t.Errorf("message code %q missing", m.Code)
				}
			}
		})
	}
}

func jsonPath(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// TestRenderJSON_DoesNotMutate: normalising for the contract works on a
// copy; the caller's plan keeps its nils and its own skip map.
func TestRenderJSON_DoesNotMutate(t *testing.T) {
	p := fxNothingPlan()
	before := fxNothingPlan()
	if err := RenderJSON(&bytes.Buffer{}, p); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, before) {
		t.Errorf("RenderJSON changed the plan:\n got: %+v\nwant: %+v", p, before)
	}
	if len(p.Outcomes.Skip) != 1 {
		t.Errorf("skip map grew to %v", p.Outcomes.Skip)
	}
}

func TestRender_Headline(t *testing.T) {
	tests := []struct {
		action string
		change int64
		errs   int
		sample bool
		want   string
	}{
		{"expire", 980214, 0, false, "980,214 keys will get a TTL"},
		{"expire", 1, 0, false, "1 key will get a TTL"},
		{"delete", 48211, 0, false, "48,211 keys will be deleted"},
		{"persist", 2, 0, false, "2 keys will lose their TTL"},
		{"persist", 1, 0, false, "1 key will lose its TTL"},
		{"expire", 0, 0, false, "nothing to change"},
		{"persist", 318400, 0, true, "~318,400 keys will lose their TTL"},
		{"expire", 10, 1, false, "1 error, apply will refuse to run (10 keys would get a TTL)"},
		{"delete", 0, 2, false, "2 errors, apply will refuse to run"},
	}
	for _, tt := range tests {
		p := &Plan{Job: JobInfo{Action: tt.action}, Outcomes: Outcomes{Change: tt.change}}
		for range tt.errs {
			p.Errors = append(p.Errors, Message{Code: "x"})
		}
		if tt.sample {
			p.Sample = &Sample{Requested: 10}
		}
		if got := reportHeadline(p, words.TextStyle{}); got != tt.want {
			t.Errorf("%s %d errors=%d: got %q, want %q", tt.action, tt.change, tt.errs, got, tt.want)
		}
	}
}

func TestRender_SpokenDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"},
		{300 * time.Millisecond, "under 1 s"},
		{59600 * time.Millisecond, "1 min"},
		{196 * time.Second, "3 min 16 s"},
		{90 * time.Second, "1 min 30 s"},
		{time.Hour, "1 h"},
		{time.Hour + 30*time.Minute, "1 h 30 min"},
		{2*24*time.Hour + 3*time.Hour, "2 d 3 h"},
		{266*24*time.Hour + 5*time.Hour, "266 d"},
	}
	for _, tt := range tests {
		if got := spokenDuration(tt.d); got != tt.want {
			t.Errorf("spokenDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestRenderMarkdown_KeyEscaping: a key can hold backticks, pipes and
// control bytes; none of them may break out of its code span or cell.
func TestRenderMarkdown_KeyEscaping(t *testing.T) {
	tests := []struct{ key, want string }{
		{"ticket:1:2:ab", "`ticket:1:2:ab`"},
		{"a|b", "`a|b`"},               // the cell escapes the pipe
		{"deal:`x`", "`` deal:`x` ``"}, // both sides padded: CommonMark strips one space each side
		{"a``b", "```a``b```"},
		{"`edge", "`` `edge ``"},
		{"bell\a", "`\"bell\\a\"`"},
		{"bad\xffutf8", "`\"bad\\xffutf8\"`"},
		{"", "`\"\"`"},
	}
	for _, tt := range tests {
		if got := mdCode(tt.key); got != tt.want {
			t.Errorf("mdCode(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got, want := mdCell("`a|b`"), "`a\\|b`"; got != want {
		t.Errorf("mdCell = %q, want %q", got, want)
	}

	var out bytes.Buffer
	if err := RenderMarkdown(&out, fxDeletePlan()); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		if n := unescapedPipes(line); n != 4 {
			t.Errorf("sample row has %d cell borders, want 4: %s", n, line)
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Error("an escape byte from a key name reached the markdown")
	}
}

// unescapedPipes counts the pipes GFM splits a row at: those not directly
// after a backslash (cmark-gfm's cell scanner takes `\|` as a literal).
func unescapedPipes(line string) int {
	n := 0
	for i := range len(line) {
		if line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			n++
		}
	}
	return n
}

func TestRenderText_NoMarkup(t *testing.T) {
	for _, f := range renderFixtures() {
		var out bytes.Buffer
		if err := RenderText(&out, f.plan); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		for _, mark := range []string{"**", "###", "<details>", "| ", "\x1b"} {
			if strings.Contains(s, mark) {
				t.Errorf("%s: text report contains %q", f.name, mark)
			}
		}
		first, _, _ := strings.Cut(s, "\n")
		if want := "keyjob plan " + f.plan.Job.Name + " → " + f.plan.Target.String() + ": "; !strings.HasPrefix(first, want) {
			t.Errorf("%s: first line %q, want it to start with %q", f.name, first, want)
		}
		for i, line := range strings.Split(s, "\n") {
			if strings.TrimRight(line, " ") != line {
				t.Errorf("%s: line %d has trailing blanks: %q", f.name, i+1, line)
			}
		}
	}
}

// TestRenderMarkdown_DescriptionIsText: a job file's description comes
// from whoever wrote the pull request; it must not turn into markup that
// hides or fakes parts of the report.
func TestRenderMarkdown_DescriptionIsText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Every ticket lives one year.", "Every ticket lives one year."},
		{"**all clear** </details> [ok](x)", `\*\*all clear\*\* \</details\> \[ok\](x)`},
		{"# Approved", `\# Approved`},
		{"- item", `\- item`},
		{"1. first", `1\. first`},
		{"a | b `c`", "a \\| b \\`c\\`"},
	}
	for _, tt := range tests {
		if got := mdText(oneLine(tt.in)); got != tt.want {
			t.Errorf("mdText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	p := fxTicketPlan()
	p.Job.Description = "line one\n### line two"
	var out bytes.Buffer
	if err := RenderMarkdown(&out, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nline one \\#\\#\\# line two\n") {
		t.Errorf("a description with a newline and a heading mark was not kept on one escaped line:\n%s", out.String())
	}
}

// TestRender_SampleGroups: grace keys kept apart get their own table;
// grace keys mixed into "change" share one table labelled "change".
func TestRender_SampleGroups(t *testing.T) {
	labels := func(p *Plan) []string {
		var out []string
		for _, g := range sampleGroups(p, words.TextStyle{}) {
			out = append(out, fmt.Sprintf("%s %d/%d", g.label, len(g.keys), g.total))
		}
		return out
	}
	p := fxTicketPlan()
	want := []string{"change: TTL from issued 6/498310", "change: grace TTL (already past) 4/481904", "skip: already has a TTL 3/19786"}
	if got := labels(p); !reflect.DeepEqual(got, want) {
		t.Errorf("apart: got %q, want %q", got, want)
	}
	p.Samples["change"] = append(p.Samples["change"], p.Samples["change_grace"]...)
	delete(p.Samples, "change_grace")
	want = []string{"change 10/980214", "skip: already has a TTL 3/19786"}
	if got := labels(p); !reflect.DeepEqual(got, want) {
		t.Errorf("mixed: got %q, want %q", got, want)
	}
}
