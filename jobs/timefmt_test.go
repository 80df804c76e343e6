package jobs

import (
	"strings"
	"testing"
	"time"
)

func TestCheckLayout(t *testing.T) {
	for _, layout := range []string{
		"2006-01-02", "20060102", "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04",
		"02.01.2006", "2006", "060102", "Jan 2 2006", "2006-002",
	} {
		if err := checkLayout(layout); err != nil {
			t.Errorf("checkLayout(%q): %v", layout, err)
		}
	}
	for _, layout := range []string{
		"", "01/02", "15:04", "x", "unix_seconds", "Monday", "2006 Mon", "200612",
	} {
		err := checkLayout(layout)
		want := `want unix, unix_ms, rfc3339 or a Go time layout with a year, such as 2006-01-02, got "` + layout + `"`
		if err == nil || err.Error() != want {
			t.Errorf("checkLayout(%q) = %v, want %q", layout, err, want)
		}
	}
}

func TestTimeSource_Parse(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ts   TimeSource
		in   string
		want time.Time
	}{
		{TimeSource{Format: FormatUnix}, "1700000000", time.Unix(1700000000, 0)},
		{TimeSource{Format: FormatUnix}, "0", time.Unix(0, 0)},
		{TimeSource{Format: FormatUnix}, "253402300799", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{TimeSource{Format: FormatUnixMS}, "1700000000123", time.UnixMilli(1700000000123)},
		{TimeSource{Format: FormatRFC3339}, "2026-03-14T15:04:05Z", time.Date(2026, 3, 14, 15, 4, 5, 0, time.UTC)},
		{TimeSource{Format: FormatRFC3339}, "2026-03-14T15:04:05.5+01:00", time.Date(2026, 3, 14, 14, 4, 5, 5e8, time.UTC)},
		{TimeSource{Format: "2006-01-02"}, "2026-03-14", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
		{TimeSource{Format: "2006-01-02", Location: berlin}, "2026-03-14", time.Date(2026, 3, 13, 23, 0, 0, 0, time.UTC)},
		{TimeSource{Format: "2006-01-02", Location: berlin}, "2026-07-14", time.Date(2026, 7, 13, 22, 0, 0, 0, time.UTC)},
		{TimeSource{Format: "20060102"}, "20260314", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
		// A layout with a zone reads the zone from the text, not the Location.
		{TimeSource{Format: "2006-01-02T15:04Z07:00", Location: berlin}, "2026-03-14T10:00+00:00", time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)},
	} {
		got, err := tc.ts.Parse(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s.Parse(%q) = %v, %v; want %v", tc.ts.Format, tc.in, got, err, tc.want)
		}
	}
}

func TestTimeSource_Parse_Bad(t *testing.T) {
	for _, tc := range []struct {
		format, in, want string
	}{
		{FormatUnix, "17x", `not unix seconds up to year 9999: "17x"`},
		{FormatUnix, "", `not unix seconds up to year 9999: ""`},
		{FormatUnix, "-5", `not unix seconds up to year 9999: "-5"`},
		{FormatUnix, "1.5", `not unix seconds up to year 9999: "1.5"`},
		{FormatUnix, "253402300800", `not unix seconds up to year 9999: "253402300800"`},
		{FormatUnix, "99999999999999999999", `not unix seconds up to year 9999: "99999999999999999999"`},
		{FormatUnixMS, "253402300800000", `not unix milliseconds up to year 9999: "253402300800000"`},
		{FormatRFC3339, "2026-03-14", `not an RFC 3339 time: "2026-03-14"`},
		{"2006-01-02", "2026-13-01", `not a time in layout "2006-01-02": "2026-13-01"`},
		{"2006-01-02", strings.Repeat("9", 100), `not a time in layout "2006-01-02": "` + strings.Repeat("9", 64) + `"...`},
	} {
		ts := TimeSource{Format: tc.format}
		_, err := ts.Parse(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s.Parse(%q) error %v, want %q", tc.format, tc.in, err, tc.want)
		}
	}
}
