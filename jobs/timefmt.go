package jobs

import (
	"fmt"
	"strconv"
	"time"

	// The zone database travels with the binary, so a job file that names
	// Europe/Berlin validates the same on a laptop and on a bare server
	// image. The system's database still wins where there is one.
	_ "time/tzdata"
)

// The named formats of action.expire.from.format; anything else is a Go
// time layout.
const (
	FormatUnix    = "unix"    // seconds since 1970, digits only
	FormatUnixMS  = "unix_ms" // milliseconds since 1970, digits only
	FormatRFC3339 = "rfc3339" // 2026-03-14T15:04:05Z, optionally with fractions
)

// lastSecond is 9999-12-31T23:59:59Z. A unix capture past it is refused
// before it reaches time.Unix, whose arithmetic wraps for huge values and
// could turn an absurd future into a past (and a grace TTL).
const lastSecond = 253402300799

const wantLayout = "unix, unix_ms, rfc3339 or a Go time layout with a year, such as 2006-01-02"

// layoutRefs are the moments a layout must read back as it writes them:
// midnight on New Year's Day, a one-digit month and day (which catches
// layouts such as "200612" that cannot tell 3/14 from 31/4) and a late
// time with fractions.
var layoutRefs = []time.Time{
	time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, time.March, 4, 3, 2, 1, 500000000, time.UTC),
	time.Date(2026, time.November, 24, 15, 4, 5, 123456789, time.UTC),
}

// checkLayout accepts a Go time layout that shows a year and parses back
// what it formats. A layout that forgets the year ("01/02") or holds no
// field at all would give every key a time in year 0, and one that cannot
// read back its own output would misread keys.
func checkLayout(layout string) error {
	bad := fmt.Errorf("want %s, got %q", wantLayout, layout)
	ref := layoutRefs[0]
	if ref.Format(layout) == ref.AddDate(5, 0, 0).Format(layout) {
		return bad // the year does not show
	}
	for _, ref := range layoutRefs {
		out := ref.Format(layout)
		back, err := time.Parse(layout, out)
		if err != nil || back.Format(layout) != out {
			return bad
		}
	}
	return nil
}

// namedFormat reports whether f is one of the named formats.
func namedFormat(f string) bool {
	return f == FormatUnix || f == FormatUnixMS || f == FormatRFC3339
}

// Parse reads a capture in the source's format. A layout without a zone is
// read in the source's Location (UTC when the job names none). The error
// is short, for a bad_timestamp's Why: `not unix seconds: "17x"`.
func (ts *TimeSource) Parse(s string) (time.Time, error) {
	switch ts.Format {
	case FormatUnix:
		n, err := parseDigits(s, lastSecond)
		if err != nil {
			return time.Time{}, fmt.Errorf("not unix seconds up to year 9999: %s", quoteSample(s))
		}
		return time.Unix(n, 0).UTC(), nil
	case FormatUnixMS:
		n, err := parseDigits(s, lastSecond*1000+999)
		if err != nil {
			return time.Time{}, fmt.Errorf("not unix milliseconds up to year 9999: %s", quoteSample(s))
		}
		return time.UnixMilli(n).UTC(), nil
	case FormatRFC3339:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("not an RFC 3339 time: %s", quoteSample(s))
		}
		return t, nil
	}
	loc := ts.Location
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(ts.Format, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a time in layout %q: %s", ts.Format, quoteSample(s))
	}
	return t, nil
}

// parseDigits reads a non-negative decimal integer of at most max: no sign,
// no spaces, no fraction.
func parseDigits(s string, max int64) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n > max {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// quoteSample quotes a captured value for a message, cut short: a key name
// can be long and the message is shown once per sample.
func quoteSample(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
