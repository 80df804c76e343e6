package survey

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dustin/go-humanize"
)

// The report's words, as the plan's (planner/render_words.go): the two
// packages share no code, so each reads on its own.

func commas(n int64) string { return humanize.Comma(n) }

// sizeWords is "74 MiB", "1 MiB" (humanize's "1.0 MiB" without its ".0").
func sizeWords(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	return sign + strings.Replace(humanize.IBytes(uint64(n)), ".0 ", " ", 1)
}

// percentWords is a share as "1.8%", "62%", "<0.1%".
func percentWords(f float64) string {
	v := f * 100
	switch {
	case v == 0:
		return "0%"
	case v < 0.1:
		return "<0.1%"
	case v < 10:
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + "%"
	case v > 99 && v < 100:
		return ">99%"
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + "%"
}

func shareWords(part, whole int64) string {
	if whole == 0 {
		return "—"
	}
	return percentWords(float64(part) / float64(whole))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func plural64(n int64, one, many string) string { return plural(int(min(n, 2)), one, many) }

// spokenDuration is "3 min 16 s", "12 h", "266 d": two units at most, one
// past ten days.
func spokenDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	const day = 24 * time.Hour
	two := func(n1 int64, u1 string, n2 int64, u2 string) string {
		if n2 == 0 {
			return fmt.Sprintf("%d %s", n1, u1)
		}
		return fmt.Sprintf("%d %s %d %s", n1, u1, n2, u2)
	}
	switch {
	case d == 0:
		return "0 s"
	case d < time.Second:
		return "under 1 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int64(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		s := int64(d.Round(time.Second) / time.Second)
		return two(s/60, "min", s%60, "s")
	case d < day:
		m := int64(d.Round(time.Minute) / time.Minute)
		return two(m/60, "h", m%60, "min")
	case d < 10*day:
		h := int64(d.Round(time.Hour) / time.Hour)
		return two(h/24, "d", h%24, "h")
	}
	return fmt.Sprintf("%d d", int64(d.Round(day)/day))
}

func secondsWords(s int64) string { return spokenDuration(time.Duration(s) * time.Second) }

// printableKey is a key name safe to print: as is when it is printable
// UTF-8, else Go-quoted, so a key cannot move the cursor of a terminal or
// hide a byte from the reader.
func printableKey(k string) string {
	if k == "" || !utf8.ValidString(k) {
		return strconv.Quote(k)
	}
	for _, r := range k {
		if !unicode.IsPrint(r) {
			return strconv.Quote(k)
		}
	}
	return k
}

// oneLine makes free text one printable line.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}
