package words

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// same fails the test when got, the result of call, is not want.
func same(t *testing.T, call, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", call, got, want)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1 << 20: "1 MiB", 74 << 20: "74 MiB", 1536: "1.5 KiB", -2 << 30: "-2 GiB"} {
		same(t, fmt.Sprintf("Size(%d)", n), Size(n), want)
	}
	same(t, "Commas(1149760)", Commas(1149760), "1,149,760")
}

// TestPercent: the plan rounds 99.6% to "100%"; the survey never says
// "100%" of a part, and says "—" where the plan says "n/a".
func TestPercent(t *testing.T) {
	tests := []struct {
		f            float64
		plan, survey string
	}{
		{0, "0%", "0%"},
		{0.0004, "<0.1%", "<0.1%"},
		{0.018, "1.8%", "1.8%"},
		{0.62, "62%", "62%"},
		{0.996, "100%", ">99%"},
		{1, "100%", "100%"},
	}
	for _, tt := range tests {
		same(t, fmt.Sprintf("Percent(%v)", tt.f), Percent(tt.f), tt.plan)
		same(t, fmt.Sprintf("PercentCapped(%v)", tt.f), PercentCapped(tt.f), tt.survey)
	}
	same(t, "Share(1, 0)", Share(1, 0, "n/a"), "n/a")
	same(t, "ShareCapped(1, 0)", ShareCapped(1, 0, "—"), "—")
	same(t, "Share(999, 1000)", Share(999, 1000, "n/a"), "100%")
	same(t, "ShareCapped(999, 1000)", ShareCapped(999, 1000, "—"), ">99%")
	same(t, "Share(1, 4)", Share(1, 4, "n/a"), "25%")
}

func TestPlural(t *testing.T) {
	same(t, "Plural(1)", Plural(1, "key", "keys"), "key")
	same(t, "Plural(0)", Plural(int64(0), "key", "keys"), "keys")
	same(t, "Plural(2^40+1)", Plural(int64(1)<<40+1, "key", "keys"), "keys")
}

// TestDuration: the plan's and the survey's durations differ only where a
// figure rounds up to the next unit.
func TestDuration(t *testing.T) {
	tests := []struct {
		d            time.Duration
		plan, survey string
	}{
		{0, "0 s", "0 s"},
		{300 * time.Millisecond, "under 1 s", "under 1 s"},
		{-196 * time.Second, "3 min 16 s", "3 min 16 s"},
		{time.Hour + 30*time.Minute, "1 h 30 min", "1 h 30 min"},
		{2*24*time.Hour + 3*time.Hour, "2 d 3 h", "2 d 3 h"},
		{266*24*time.Hour + 5*time.Hour, "266 d", "266 d"},
		{59600 * time.Millisecond, "1 min", "60 s"},
		{time.Hour - 400*time.Millisecond, "1 h", "60 min"},
		{24*time.Hour - 15*time.Second, "1 d", "24 h"},
	}
	for _, tt := range tests {
		same(t, fmt.Sprintf("Duration(%v)", tt.d), Duration(tt.d), tt.plan)
		same(t, fmt.Sprintf("DurationUncarried(%v)", tt.d), DurationUncarried(tt.d), tt.survey)
	}
}

// TestKeys: a key that could move a terminal's cursor or hide a byte is
// quoted, and a code span outlasts the backticks in it.
func TestKeys(t *testing.T) {
	tests := []struct{ key, printable, code string }{
		{"ticket:1", "ticket:1", "`ticket:1`"},
		{"", `""`, "`\"\"`"},
		{"\x1b[2J", `"\x1b[2J"`, "`\"\\x1b[2J\"`"},
		{"bad\xff", `"bad\xff"`, "`\"bad\\xff\"`"},
		{"café `x`", "café `x`", "`` café `x` ``"},
		{"a``b", "a``b", "```a``b```"},
	}
	for _, tt := range tests {
		same(t, fmt.Sprintf("Printable(%q)", tt.key), Printable(tt.key), tt.printable)
		same(t, fmt.Sprintf("MarkdownCode(%q)", tt.key), MarkdownCode(tt.key), tt.code)
	}
	same(t, "OneLine", OneLine("a\nb\tc\x1bd\xff"), "a b c\uFFFDd\uFFFD")
	same(t, "MarkdownCell", MarkdownCell("`a|b`\n"), "`a\\|b` ")
}

func TestFirstSentence(t *testing.T) {
	long := "The keyspace has more patterns than a survey tracks (10000): keys of rarer patterns are counted together as other"
	tests := []struct{ in, head, rest string }{
		{"One. Two.", "One.", "Two."},
		{"Version 7.2 is fine. `x` next", "Version 7.2 is fine.", "`x` next"},
		{"no stop. here", "no stop. here", ""},
		{long + ". Next.", "The keyspace has more patterns than a survey tracks (10000):",
			"keys of rarer patterns are counted together as other. Next."},
	}
	for _, tt := range tests {
		head, rest := FirstSentence(tt.in)
		same(t, fmt.Sprintf("FirstSentence(%q)", tt.in), head+" | "+rest, tt.head+" | "+tt.rest)
	}
	same(t, "MarkdownQuote of nothing", MarkdownQuote("⚠️", "  ", "code_x"), "> ⚠️ **code_x**\n\n")
}

func TestTables(t *testing.T) {
	rows := [][]string{{"a|b", "1,000", ""}, {"c", "2", "note"}}
	var md, txt bytes.Buffer
	MarkdownTable(&md, []string{"key", "n", ""}, "-:-", rows)
	same(t, "MarkdownTable", md.String(), "| key | n |  |\n|---|---:|---|\n| a\\|b | 1,000 | |\n| c | 2 | note |\n\n")
	TextTable(&txt, "  ", []string{"KEY", "N", ""}, rows, "-:-")
	same(t, "TextTable", txt.String(), "  KEY      N\n  a|b  1,000\n  c        2  note\n")
	same(t, "Wrap", Wrap("warning: ", "one two three four", 20), "warning: one two\n         three four\n")
	same(t, "Plain", Plain(" **Stop** at `x`\n", "-"), "Stop at x")
	same(t, "Plain of nothing", Plain(" \n", "-"), "-")
}

func TestRender(t *testing.T) {
	writer := func(name string) func(io.Writer, int) error {
		return func(w io.Writer, _ int) error {
			_, err := io.WriteString(w, name)
			return err
		}
	}
	for _, format := range Formats() {
		var b bytes.Buffer
		if err := Render(&b, 1, format, writer("text"), writer("markdown"), writer("json")); err != nil {
			t.Fatal(err)
		}
		same(t, fmt.Sprintf("Render(%q)", format), b.String(), format)
	}
	err := Render(io.Discard, 1, "html", writer("text"), writer("markdown"), writer("json"))
	if err == nil || !strings.Contains(err.Error(), "use one of text, markdown, json") {
		t.Errorf("Render(html) = %v, want the formats named", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFlush(t *testing.T) {
	if err := Flush(failWriter{}, bytes.NewBufferString("report")); err == nil || err.Error() != "write report: disk full" {
		t.Errorf("Flush = %v, want write report: disk full", err)
	}
}

func TestServer(t *testing.T) {
	tests := []struct{ mode, version, role, want string }{
		{"standalone", "7.0.15", "master", "standalone, Redis 7.0.15, primary"},
		{"cluster", "7.2.4", "master", "cluster, Redis 7.2.4"},
		{"standalone", "", "replica", "standalone, replica"},
		{"standalone", "7.0.15", "", "standalone, Redis 7.0.15"},
	}
	for _, tt := range tests {
		got := strings.Join(Server([]string{tt.mode}, tt.mode, tt.version, tt.role), ", ")
		same(t, fmt.Sprintf("Server(%q, %q, %q)", tt.mode, tt.version, tt.role), got, tt.want)
	}
}
