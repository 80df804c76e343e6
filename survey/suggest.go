package survey

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/keyjob/keyjob/internal/words"
	"github.com/keyjob/keyjob/jobs"
)

// Placeholders of the job files Suggest writes: lifetimes nobody has
// decided yet, each marked for review in the file.
const (
	SuggestAfter = "365d" // with a time in the name: life after that time
	SuggestTTL   = "30d"  // without one: a fixed TTL from the run
)

// Suggestion is a job file Suggest proposes for one pattern.
type Suggestion struct {
	Pattern string
	Name    string // the job's name, and its file's without .yaml
	// Kind is what the job changes: SuggestKeys (a TTL on keys without
	// one), SuggestFields (a TTL on hash fields) or SuggestMembers
	// (removing old sorted-set members or stream entries).
	Kind       string
	Keys       int64
	WithoutTTL int64 // SuggestKeys: the keys without a TTL
	// From is the capture the expiry counts from, "" for a fixed TTL.
	From string
	// About says in a few words what the job is for (fields and members).
	About string
	Data  []byte // the job file
}

// Kinds of suggestion.
const (
	SuggestKeys    = "keys"
	SuggestFields  = "fields"
	SuggestMembers = "members"
)

// jobTypes are the types select.type accepts.
var jobTypes = []string{"string", "hash", "list", "set", "zset", "stream"}

// Skipped is a pattern with keys without a TTL that gets no job file,
// and why.
type Skipped struct {
	Pattern string
	Reason  string
}

// Suggest writes a job file for each pattern that has keys without a TTL:
// select those keys (glob, type, regex with a group per placeholder,
// ttl: none) and give them a TTL, counted from the time in their name
// when the survey found one (after: 365d), else fixed (ttl: 30d), both
// placeholders marked REVIEW. It never suggests deleting a key; from what
// the survey read inside keys it suggests a TTL on hash fields and the
// removal of old sorted-set members and stream entries (suggestInside),
// each placeholder marked REVIEW too. Each file is
// checked with jobs.Parse before it is returned.
//
// Two kinds of pattern get none, and are returned as skipped: a single
// fixed name (no placeholder: a job is for a family of keys), and a
// pattern with no fixed part before its first placeholder ({id},
// {uuid}:cart), which only a scan of every key with a loose regex could
// select.
func Suggest(s *Survey) ([]Suggestion, []Skipped, error) {
	var out []Suggestion
	var skipped []Skipped
	used := map[string]bool{}
	for _, p := range s.Patterns {
		in, err := suggestInside(s, p, used)
		out = append(out, in...)
		if err != nil {
			return out, skipped, err
		}
		if p.Keys <= p.WithTTL || p.Regex == "" {
			continue
		}
		switch {
		case !strings.Contains(p.Regex, "(?P<"):
			skipped = append(skipped, Skipped{p.Pattern, "a single key name, not a family of keys"})
			continue
		case strings.HasPrefix(p.Match, "*"):
			skipped = append(skipped, Skipped{p.Pattern, "no fixed prefix to select it by: a job would scan every key"})
			continue
		}
		name := uniqueName(jobName(p.Pattern), used)
		sg := Suggestion{Pattern: p.Pattern, Name: name, Kind: SuggestKeys, Keys: p.Keys, WithoutTTL: p.Keys - p.WithTTL}
		if len(p.TimestampParts) > 0 {
			sg.From = p.TimestampParts[0].Capture
		}
		sg.Data = jobFile(s, p, name)
		if err := checkSuggestion(sg); err != nil {
			return out, skipped, err
		}
		out = append(out, sg)
	}
	return out, skipped, nil
}

// checkSuggestion parses the job file as keyjob validate would.
func checkSuggestion(sg Suggestion) error {
	if _, err := jobs.Parse(sg.Name+".yaml", sg.Data); err != nil {
		return fmt.Errorf("suggestion for %s is not a valid job file (a bug in keyjob survey): %w", sg.Pattern, err)
	}
	return nil
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// jobName is the pattern's literal words, lowercase, joined by dashes,
// with -ttl: ticket:{ts}:{n}:{id} → ticket-ttl, deal:clicks:{n}:{date} →
// deal-clicks-ttl.
func jobName(pattern string) string {
	words := regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(pattern, " ")
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(words), "-"), "-")
	if len(n) > 80 {
		n = strings.TrimRight(n[:80], "-")
	}
	if n == "" {
		n = "keys"
	}
	return n + "-ttl"
}

func uniqueName(n string, used map[string]bool) string {
	name := n
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d", n, i)
	}
	used[name] = true
	return name
}

// jobFile writes the job file by hand rather than through a YAML encoder,
// for its comments; every value that is not a fixed word is quoted.
func jobFile(s *Survey, p Pattern, name string) []byte {
	b := newJobWriter(s, p.Pattern)
	line, comment := b.line, b.comment
	noTTL := p.Keys - p.WithTTL
	about, day := b.about, b.day
	seen := fmt.Sprintf("Seen: %s%s %s, %s (%s) without a TTL", about, words.Commas(p.Keys), words.Plural(p.Keys, "key", "keys"), words.Commas(noTTL), words.ShareCapped(noTTL, p.Keys, "—"))
	if t := typeWords(p.Types); t != "" {
		seen += ", " + t
	}
	if p.MemoryBytes > 0 {
		seen += ", about " + words.Size(p.MemoryBytes)
	}
	comment(seen + ".")
	for _, x := range p.Examples[:min(len(p.Examples), 2)] {
		comment("Example: " + words.Printable(x))
	}
	line("version: 1")
	line("name: %s", name)
	line("description: %s", yamlQuote(fmt.Sprintf("%s: %s%s keys when surveyed on %s, %s of them without a TTL. Give those one.",
		p.Pattern, about, words.Commas(p.Keys), day, words.ShareCapped(noTTL, p.Keys, "—"))))
	line("select:")
	line("  match: %s", yamlQuote(p.Match))
	if t := soleType(p.Types); t != "" {
		line("  type: %s", t)
	} else if len(p.Types) > 1 {
		line("  # Keys of several types (%s): the job selects them all.", words.OneLine(typeWords(p.Types)))
	}
	line("  regex: '%s'", strings.ReplaceAll(p.Regex, "'", "''"))
	line("  ttl: none")
	line("action:")
	line("  expire:")
	if len(p.TimestampParts) > 0 {
		tp := p.TimestampParts[0]
		line("    # The survey read a time in segment %d of every name (%s): each key", tp.Position, tp.Format)
		line("    # lives `after` from that moment. Keys already past it get `grace`.")
		if zoneless(tp.Format) {
			line("    # The time is read as UTC: add time_zone (e.g. Europe/Berlin) if not.")
		}
		line("    from: { capture: %s, format: %s }", tp.Capture, yamlWord(tp.Format))
		line("    # REVIEW: how long should these keys live? %s is a placeholder.", SuggestAfter)
		line("    after: %s", SuggestAfter)
		line("    grace: 1h")
	} else {
		line("    # No time in the names: each key gets a fixed TTL from the run's start.")
		line("    # REVIEW: how long should these keys live? %s is a placeholder.", SuggestTTL)
		line("    ttl: %s", SuggestTTL)
	}
	return []byte(b.String())
}

// jobWriter writes a job file by hand, for its comments.
type jobWriter struct {
	strings.Builder
	about string // "about " when the survey was sampled
	day   string // the survey's day, 2006-01-02
}

// newJobWriter starts a job file with the comment every suggestion
// opens with: where it comes from, that it wants review, and the pattern.
func newJobWriter(s *Survey, pattern string) *jobWriter {
	b := &jobWriter{day: s.GeneratedAt.UTC().Format("2006-01-02")}
	if s.Sampled {
		b.about = "about "
	}
	b.comment(fmt.Sprintf("Generated by keyjob survey on %s against %s. Review before use: it is a starting point, not a decision. Every REVIEW line is a guess; keyjob plan shows what the job would do.",
		b.day, words.OneLine(s.Target.String())))
	b.line("#")
	b.comment("Pattern: " + pattern)
	return b
}

func (b *jobWriter) line(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }

func (b *jobWriter) comment(text string) {
	for _, l := range wrap(text, 74) {
		b.line("# %s", l)
	}
}

// zoneless: a Go layout without a zone, read in the job's time_zone.
func zoneless(format string) bool {
	switch format {
	case FormatUnix, FormatUnixMS, FormatRFC3339:
		return false
	}
	return !strings.ContainsAny(format, "Z") && !strings.Contains(format, "-07")
}

func soleType(types map[string]int64) string {
	if len(types) != 1 {
		return ""
	}
	for t := range types {
		if slices.Contains(jobTypes, t) {
			return t
		}
	}
	return ""
}

// typeWords is "string" or "hash 67%, string 33%".
func typeWords(types map[string]int64) string {
	var total int64
	names := make([]string, 0, len(types))
	for t, n := range types {
		names = append(names, t)
		total += n
	}
	slices.SortFunc(names, func(a, b string) int {
		if types[a] != types[b] {
			return int(types[b] - types[a])
		}
		return strings.Compare(a, b)
	})
	if len(names) == 1 {
		return names[0]
	}
	parts := make([]string, len(names))
	for i, t := range names {
		parts[i] = t + " " + words.ShareCapped(types[t], total, "—")
	}
	return strings.Join(parts, ", ")
}

// yamlQuote is s as a YAML double-quoted scalar. JSON's escapes are
// YAML's; Go's %q adds \a \v \x.. which YAML reads as well, but s is one
// printable line here anyway.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range words.OneLine(s) {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

var plainWord = regexp.MustCompile(`^[a-z_]+$`)

// yamlWord leaves a format name bare (unix) and quotes a layout.
func yamlWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return yamlQuote(s)
}

// wrap folds text into lines of at most width (longer words stay whole).
func wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(words.OneLine(text)) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	return append(lines, cur)
}

// ErrSuggestDir is returned when the suggestion folder cannot be used.
var ErrSuggestDir = errors.New("cannot write job files")

// Written is where a suggestion went.
type Written struct {
	Suggestion
	Path string
	// Kept is true when the file existed and was left alone: it may hold
	// a reviewed edit. Remove it to have it written again.
	Kept bool
}

// WriteSuggestions writes each suggestion to dir/NAME.yaml, making dir
// when needed, and never over a file that exists.
func WriteSuggestions(dir string, ss []Suggestion) ([]Written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w in %s: %w", ErrSuggestDir, dir, err)
	}
	var out []Written
	for _, sg := range ss {
		w := Written{Suggestion: sg, Path: filepath.Join(dir, sg.Name+".yaml")}
		f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			w.Kept = true
			out = append(out, w)
			continue
		}
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrSuggestDir, err)
		}
		_, werr := f.Write(sg.Data)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(w.Path)
			return out, fmt.Errorf("%w: %s: %w", ErrSuggestDir, w.Path, werr)
		}
		out = append(out, w)
	}
	return out, nil
}
