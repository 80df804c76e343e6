package survey

import (
	"regexp"
	"strconv"
	"strings"
)

// expression is a pattern as a job file selects it.
type expression struct {
	glob  string          // SCAN MATCH: literal prefix and parts, * for placeholders
	regex string          // anchored RE2, a named group per placeholder
	times []TimestampPart // the time pieces with one format, in order
}

// Regular expressions of the placeholders. {id} is letters and digits
// only, as the rules that make one are; a token with other characters is
// split into words first.
const (
	reHex  = `[0-9a-fA-F]`
	reUUID = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
	reID   = `[A-Za-z0-9]`
	reStr  = `[^:/.|-]+`
	reRest = `(?s:.*)`
	reFrac = `(?:\.\d+)?`
	reZone = `(?:Z|[+-]\d{2}:\d{2})`
)

// express builds the glob, the regex and the time parts of a pattern's
// pieces, formats[i] being the time format of piece i ("" when its keys
// do not agree on one) and lens[i] the shortest and longest text seen
// there: {id} and {hex} take those lengths, so that [A-Za-z0-9] does not
// also select every word of the same shape. Captures are named after the placeholder: n1,
// n2, … for numbers (a pattern often has several), and ts, id, hex, …
// then ts2, id2, … for the others.
func express(ps []Piece, formats []string, lens []lenRange) expression {
	var x expression
	var glob []globPart
	var re strings.Builder
	re.WriteString("^")
	seen := map[string]int{}
	name := func(base string) string {
		seen[base]++
		if base == "n" {
			return "n" + strconv.Itoa(seen[base])
		}
		if seen[base] == 1 {
			return base
		}
		return base + strconv.Itoa(seen[base])
	}
	group := func(base, expr string) string {
		n := name(base)
		re.WriteString("(?P<" + n + ">" + expr + ")")
		glob = append(glob, globPart{star: true})
		return n
	}
	for i, p := range ps {
		f := ""
		if i < len(formats) {
			f = formats[i]
		}
		switch p.Kind {
		case Literal:
			re.WriteString(regexp.QuoteMeta(p.Text))
			glob = append(glob, globPart{text: p.Text, sep: p.Sep})
		case Mixed:
			for _, part := range splitDigits(p.Text) {
				if part == "" {
					group("n", `\d+`)
					continue
				}
				re.WriteString(regexp.QuoteMeta(part))
				glob = append(glob, globPart{text: part})
			}
		case Number:
			group("n", `\d+`)
		case Timestamp:
			c := group("ts", timeRegex(f))
			if f != "" {
				x.times = append(x.times, TimestampPart{Position: p.Segment, Format: f, Capture: c})
			}
		case Date:
			c := group("date", timeRegex(f))
			if f != "" {
				x.times = append(x.times, TimestampPart{Position: p.Segment, Format: f, Capture: c})
			}
		case Hex:
			group("hex", reHex+lengths(lens, i))
		case UUID:
			group("uuid", reUUID)
		case ID:
			group("id", reID+lengths(lens, i))
		case Str:
			group("str", reStr)
		case Rest:
			group("rest", reRest)
		}
	}
	re.WriteString("$")
	x.regex = re.String()
	x.glob = globString(glob)
	return x
}

// lengths is the quantifier of piece i: {8}, {8,12}, or + when unknown.
func lengths(lens []lenRange, i int) string {
	if i >= len(lens) || lens[i].lo <= 0 {
		return "+"
	}
	if l := lens[i]; l.lo == l.hi {
		return "{" + strconv.Itoa(l.lo) + "}"
	}
	return "{" + strconv.Itoa(lens[i].lo) + "," + strconv.Itoa(lens[i].hi) + "}"
}

// splitDigits splits a Mixed word into its letters, with "" where each
// run of digits was: user42x → "user", "", "x".
func splitDigits(w string) []string {
	var out []string
	for i := 0; i < len(w); {
		j := i
		digit := isDigit(w[i])
		for j < len(w) && isDigit(w[j]) == digit {
			j++
		}
		if digit {
			out = append(out, "")
		} else {
			out = append(out, w[i:j])
		}
		i = j
	}
	return out
}

// timeRegex is the regex of a time in format f: unix is 10 digits,
// unix_ms 13, a layout its digits and punctuation; "" (formats mixed)
// any digits and time punctuation.
func timeRegex(f string) string {
	switch f {
	case FormatUnix:
		return `\d{10}`
	case FormatUnixMS:
		return `\d{13}`
	case FormatRFC3339:
		return `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}` + reFrac + reZone
	case "":
		return `[0-9][0-9T:.+Z/-]*`
	}
	var b strings.Builder
	digits := 0
	flush := func() {
		switch digits {
		case 0:
		case 1:
			b.WriteString(`\d`)
		default:
			b.WriteString(`\d{` + strconv.Itoa(digits) + `}`)
		}
		digits = 0
	}
	for i := 0; i < len(f); i++ {
		if isDigit(f[i]) {
			digits++
			continue
		}
		flush()
		b.WriteString(regexp.QuoteMeta(f[i : i+1]))
	}
	flush()
	if strings.HasSuffix(f, "05") {
		b.WriteString(reFrac) // time.Parse reads fractions after the seconds
	}
	return b.String()
}

type globPart struct {
	text string
	sep  bool // a separator between segments
	star bool
}

// globString writes the glob, a * for each placeholder, escaping what a
// Redis glob reads as special. Stars with only separators between them
// are one star (ticket:*:*:* is ticket:*): the regex is the precise test.
func globString(parts []globPart) string {
	var out []globPart
	for _, p := range parts {
		if p.star {
			// Drop separators back to the previous star: *:* is *.
			k := len(out)
			for k > 0 && out[k-1].sep {
				k--
			}
			if k > 0 && out[k-1].star {
				out = out[:k]
				continue
			}
		}
		out = append(out, p)
	}
	// A trailing run "*:*" was folded above; a trailing "*:" stays, as
	// the keys end with a separator.
	var b strings.Builder
	for _, p := range out {
		if p.star {
			b.WriteByte('*')
			continue
		}
		for i := 0; i < len(p.text); i++ {
			if c := p.text[i]; c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(p.text[i])
		}
	}
	return b.String()
}
