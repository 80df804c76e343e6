package survey

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is what a piece of a key name is: literal text, or one of the
// placeholders a pattern shows in braces.
type Kind uint8

const (
	Literal   Kind = iota // text kept as is: namespaces, separators, words
	Mixed                 // letters with digit runs, e.g. user42: shown user{n}
	Number                // {n}: a run of digits
	Timestamp             // {ts}: unix seconds (10 digits) or milliseconds (13), 2001–2100
	Date                  // {date}: 2026-03-14, 20260314, 2026-03-14T15:04:05Z, …
	Hex                   // {hex}: 8+ hex digits of one case, with a digit and a letter
	UUID                  // {uuid}
	ID                    // {id}: a random-looking token of letters and digits
	Str                   // {str}: a segment too long or not printable to read
	Rest                  // {rest}: whatever follows the first MaxSegments segments
)

var placeholders = [...]string{
	Number: "{n}", Timestamp: "{ts}", Date: "{date}", Hex: "{hex}",
	UUID: "{uuid}", ID: "{id}", Str: "{str}", Rest: "{rest}",
}

// Placeholder is how a pattern shows the kind ("{ts}"); "" for Literal and
// Mixed, which show their own text.
func (k Kind) Placeholder() string {
	if int(k) < len(placeholders) {
		return placeholders[k]
	}
	return ""
}

// Time formats a Timestamp or Date piece carries: the names and layouts
// of jobs' action.expire.from.format.
const (
	FormatUnix    = "unix"
	FormatUnixMS  = "unix_ms"
	FormatRFC3339 = "rfc3339"
)

// Bounds of folding. A key name can be megabytes long; its pattern cannot.
const (
	// MaxSegments is how many separated segments a pattern keeps; the
	// rest of the name becomes {rest}.
	MaxSegments = 32
	// MaxPieces bounds the pieces of one pattern, the separators and the
	// words inside segments included.
	MaxPieces = 96
	// maxWord is the longest word kept as literal text; a longer one that
	// is not a token is {str}.
	maxWord = 64
)

// Plausible embedded times: 10-digit unix seconds and 13-digit unix
// milliseconds up to 2100 (10 digits start in September 2001), and dates
// in 2000–2099 for the digits-only layouts, which ids can imitate.
const (
	maxUnix       = 4102444800 // 2100-01-01
	minUnix       = 1000000000
	minCompactDay = 2000
	maxCompactDay = 2099
)

// Piece is one part of a folded key name.
type Piece struct {
	Kind Kind
	// Text is the piece's text in the key it was folded from: what a
	// Literal shows, what a Mixed shows with its digits folded (user42
	// shows user{n}), not part of the pattern for a placeholder.
	Text string
	// Format is the time format of a Timestamp or Date: unix, unix_ms,
	// rfc3339 or a Go layout such as 2006-01-02.
	Format string
	// Segment is the 0-based index of the separated segment the piece is
	// in: ticket:{ts} has {ts} in segment 1.
	Segment int
	// Sep marks a separator between segments (one of : / . | -).
	Sep bool
}

// String is how the piece shows in a pattern.
func (p Piece) String() string {
	switch p.Kind {
	case Literal:
		return p.Text
	case Mixed:
		return foldDigits(p.Text)
	}
	return p.Kind.Placeholder()
}

// isSep reports whether b separates segments.
func isSep(b byte) bool {
	return b == ':' || b == '/' || b == '.' || b == '|' || b == '-'
}

// Fold splits a key name into pieces: segments between the separators
// : / . | and -, each segment read as one token (a UUID, a date or a time
// that spans separators is recognised first) or as words between other
// punctuation, each word a literal or a placeholder.
func Fold(name string) []Piece {
	var ps []Piece
	seg, i := 0, 0
	for {
		if seg >= MaxSegments || len(ps) >= MaxPieces {
			ps = append(ps, Piece{Kind: Rest, Text: name[i:], Segment: seg})
			return ps
		}
		if n, p := composite(name[i:]); n > 0 {
			p.Segment = seg
			ps = append(ps, p)
			i += n
		} else {
			j := i
			for j < len(name) && !isSep(name[j]) {
				j++
			}
			ps = segment(ps, name[i:j], seg)
			i = j
		}
		if i >= len(name) {
			return ps
		}
		ps = append(ps, Piece{Kind: Literal, Text: name[i : i+1], Segment: seg, Sep: true})
		i++
		seg++
	}
}

// PatternOf is the pattern of one key name.
func PatternOf(name string) string { return patternString(Fold(name)) }

func patternString(ps []Piece) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String())
	}
	return b.String()
}

// segment appends the pieces of one segment (no separator inside).
func segment(ps []Piece, s string, seg int) []Piece {
	if s == "" {
		return ps
	}
	if !printable(s) {
		return append(ps, Piece{Kind: Str, Text: s, Segment: seg})
	}
	if k, f := classify(s); k != Literal && k != Mixed {
		return append(ps, Piece{Kind: k, Text: s, Format: f, Segment: seg})
	}
	// Words between punctuation (user_profile, order#123), each read on
	// its own. A segment that splits into too many is one {str}.
	start := len(ps)
	for i := 0; i < len(s); {
		j := i + 1
		w := isWordByte(s[i])
		for j < len(s) && isWordByte(s[j]) == w {
			j++
		}
		if len(ps)-start > 16 {
			return append(ps[:start], Piece{Kind: Str, Text: s, Segment: seg})
		}
		ps = append(ps, word(s[i:j], w, seg))
		i = j
	}
	return ps
}

// word folds one run of word characters (or one run of punctuation).
func word(w string, isWord bool, seg int) Piece {
	if !isWord {
		return Piece{Kind: Literal, Text: w, Segment: seg}
	}
	k, f := classify(w)
	switch {
	case k == Mixed:
		return Piece{Kind: Mixed, Text: w, Segment: seg}
	case k == Literal && len(w) > maxWord:
		return Piece{Kind: Str, Text: w, Segment: seg}
	case k == Literal:
		return Piece{Kind: Literal, Text: w, Segment: seg}
	}
	return Piece{Kind: k, Text: w, Format: f, Segment: seg}
}

// isWordByte: ASCII letters and digits, and any byte of a multi-byte
// UTF-8 character (a word in another script is a word).
func isWordByte(b byte) bool { return isAlnum(b) || b >= 0x80 }

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// printable: valid UTF-8 without control characters. Anything else is
// binary, shown as {str} rather than risk a terminal or a report.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// classify reads one token without separators.
func classify(w string) (Kind, string) {
	var digits, lower, upper, other int
	for i := 0; i < len(w); i++ {
		switch b := w[i]; {
		case b >= '0' && b <= '9':
			digits++
		case b >= 'a' && b <= 'z':
			lower++
		case b >= 'A' && b <= 'Z':
			upper++
		default:
			other++
		}
	}
	switch {
	case other > 0 || len(w) == 0:
		return Literal, ""
	case digits == len(w):
		return number(w)
	case isHex(w, digits, lower, upper):
		return Hex, ""
	case isToken(w, digits, lower, upper):
		return ID, ""
	case digits > 0:
		return Mixed, ""
	}
	return Literal, ""
}

// number reads a run of digits: an embedded time when it is one in a
// plausible range, else {n}.
func number(w string) (Kind, string) {
	switch len(w) {
	case 10, 13:
		v, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			break
		}
		if len(w) == 10 && v >= minUnix && v < maxUnix {
			return Timestamp, FormatUnix
		}
		if len(w) == 13 && v >= minUnix*1000 && v < maxUnix*1000 {
			return Timestamp, FormatUnixMS
		}
	case 8:
		if compactTime(w, "20060102") {
			return Date, "20060102"
		}
	case 14:
		if compactTime(w, "20060102150405") {
			return Date, "20060102150405"
		}
	}
	return Number, ""
}

func compactTime(w, layout string) bool {
	t, err := time.Parse(layout, w)
	return err == nil && t.Year() >= minCompactDay && t.Year() <= maxCompactDay
}

// isHex: 8 or more hex digits in one case, at least one of them a digit
// and one a letter (all digits is a number; all letters is likelier a
// word such as deadbeef than a hash).
func isHex(w string, digits, lower, upper int) bool {
	if len(w) < 8 || digits == 0 || (lower > 0) == (upper > 0) {
		return false
	}
	for i := 0; i < len(w); i++ {
		b := w[i] | 0x20
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f') {
			return false
		}
	}
	return true
}

// isToken: a random-looking token of at least 6 letters and digits. Random
// text changes between lower case, upper case and digits often; names do
// not (user42 changes once). With digits it takes three changes. Letters
// alone, 8 or more, must change case at least every other letter and have
// two capitals in a row past the first letter, which camelCase words
// (getUserById) do not. A token that misses these rules is caught later,
// when its siblings are seen (see table.go).
func isToken(w string, digits, lower, upper int) bool {
	if len(w) < 6 {
		return false
	}
	changes := classChanges(w)
	if digits > 0 {
		return lower+upper > 0 && changes >= 3
	}
	return lower > 0 && upper > 0 && len(w) >= 8 && 2*changes >= len(w) && capitalPair(w[1:])
}

func capitalPair(w string) bool {
	for i := 1; i < len(w); i++ {
		if w[i] >= 'A' && w[i] <= 'Z' && w[i-1] >= 'A' && w[i-1] <= 'Z' {
			return true
		}
	}
	return false
}

func classChanges(w string) int {
	class := func(b byte) int {
		switch {
		case b >= '0' && b <= '9':
			return 0
		case b >= 'a' && b <= 'z':
			return 1
		}
		return 2
	}
	n := 0
	for i := 1; i < len(w); i++ {
		if class(w[i]) != class(w[i-1]) {
			n++
		}
	}
	return n
}

// foldDigits replaces each run of digits with {n}: user42 → user{n}.
func foldDigits(w string) string {
	var b strings.Builder
	for i := 0; i < len(w); {
		if w[i] >= '0' && w[i] <= '9' {
			for i < len(w) && w[i] >= '0' && w[i] <= '9' {
				i++
			}
			b.WriteString("{n}")
			continue
		}
		b.WriteByte(w[i])
		i++
	}
	return b.String()
}

// composite recognises, at the start of a segment, a token that spans
// separators: a UUID, an RFC 3339 time, a date with dashes or slashes. It
// must end the segment. It returns the bytes consumed, 0 when none.
func composite(s string) (int, Piece) {
	if len(s) < 10 || !isDigit(s[0]) && !isHexByte(s[0]) {
		return 0, Piece{}
	}
	if n := uuidLen(s); n > 0 && ends(s, n) {
		return n, Piece{Kind: UUID, Text: s[:n]}
	}
	if n, f := timeLen(s); n > 0 && ends(s, n) {
		return n, Piece{Kind: Date, Text: s[:n], Format: f}
	}
	return 0, Piece{}
}

func ends(s string, n int) bool { return n == len(s) || isSep(s[n]) }

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isHexByte(b byte) bool {
	b |= 0x20
	return isDigit(b) || b >= 'a' && b <= 'f'
}

// uuidLen is 36 when s starts with a UUID (8-4-4-4-12 hex digits).
func uuidLen(s string) int {
	if len(s) < 36 {
		return 0
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return 0
			}
		default:
			if !isHexByte(s[i]) {
				return 0
			}
		}
	}
	return 36
}

// timeLen recognises 2006-01-02 or 2006/01/02, optionally followed by
// T15:04:05 with fractions and a zone (Z or ±07:00). It returns the
// length and the format: a Go layout, or rfc3339 for a full time with a
// zone.
func timeLen(s string) (int, string) {
	if len(s) < 10 || !digitsAt(s, 0, 4) || !digitsAt(s, 5, 2) || !digitsAt(s, 8, 2) ||
		s[4] != s[7] || (s[4] != '-' && s[4] != '/') {
		return 0, ""
	}
	sep := s[4:5]
	layout := "2006" + sep + "01" + sep + "02"
	if _, err := time.Parse(layout, s[:10]); err != nil {
		return 0, ""
	}
	n := 10
	if sep != "-" || len(s) < 19 || s[10] != 'T' || !digitsAt(s, 11, 2) || s[13] != ':' ||
		!digitsAt(s, 14, 2) || s[16] != ':' || !digitsAt(s, 17, 2) {
		return n, layout
	}
	n = 19
	if n < len(s) && s[n] == '.' {
		j := n + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j > n+1 {
			n = j
		}
	}
	switch {
	case n < len(s) && s[n] == 'Z':
		n++
	case n+6 <= len(s) && (s[n] == '+' || s[n] == '-') && digitsAt(s, n+1, 2) && s[n+3] == ':' && digitsAt(s, n+4, 2):
		n += 6
	default:
		// No zone: a Go layout; time.Parse accepts fractions after the
		// seconds even when the layout does not show them.
		if _, err := time.Parse("2006-01-02T15:04:05", s[:19]); err != nil {
			return 10, layout
		}
		return n, "2006-01-02T15:04:05"
	}
	if _, err := time.Parse(time.RFC3339Nano, s[:n]); err != nil {
		return 10, layout
	}
	return n, FormatRFC3339
}

func digitsAt(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for _, b := range []byte(s[i : i+n]) {
		if !isDigit(b) {
			return false
		}
	}
	return true
}
