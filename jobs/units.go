package jobs

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The texts below are what a user reads after "want": they say what is
// accepted with an example, because the example is what people copy.
const (
	wantDuration   = "a duration such as 365d or 1h30m"
	wantSize       = "a size such as 16MiB, 1GB or 1048576 (bytes)"
	wantRate       = "a positive number (per second) or unlimited"
	wantPercent    = "a percentage such as 5%"
	wantComparison = `a comparison such as "< 1h" or "> 30d"`
)

const (
	day  = 24 * time.Hour
	week = 7 * day
)

// ParseDuration reads a duration in Go syntax ("1h30m", "90s", "500ms")
// extended with d (24h) and w (7d), which combine with the rest ("1d12h",
// "2w3d"). Negative durations are refused: nothing in a job file counts
// backwards.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("want %s, got %q", wantDuration, s)
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, bad
	}
	var total time.Duration
	for rest := s; rest != ""; {
		seg, tail, ok := cutDurationSegment(rest)
		if !ok {
			return 0, bad
		}
		d, err := segmentDuration(seg)
		if err != nil || total > math.MaxInt64-d {
			return 0, bad
		}
		total += d
		rest = tail
	}
	return total, nil
}

// cutDurationSegment splits "1d12h" into "1d" and "12h": a number (digits
// with at most one dot) and the unit letters after it.
func cutDurationSegment(s string) (seg, rest string, ok bool) {
	i, digits, dots := 0, 0, 0
	for ; i < len(s) && (s[i] == '.' || s[i] >= '0' && s[i] <= '9'); i++ {
		if s[i] == '.' {
			dots++
		} else {
			digits++
		}
	}
	if digits == 0 || dots > 1 {
		return "", "", false
	}
	j := i
	for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
		j++
	}
	if j == i {
		return "", "", false
	}
	return s[:j], s[j:], true
}

// segmentDuration converts one number+unit; d and w go through hours so
// fractions ("1.5d") are exact.
func segmentDuration(seg string) (time.Duration, error) {
	mult := time.Duration(1)
	switch {
	case strings.HasSuffix(seg, "d"):
		mult, seg = 24, strings.TrimSuffix(seg, "d")+"h"
	case strings.HasSuffix(seg, "w"):
		mult, seg = 7*24, strings.TrimSuffix(seg, "w")+"h"
	}
	d, err := time.ParseDuration(seg)
	if err != nil {
		return 0, err
	}
	if d > math.MaxInt64/mult {
		return 0, fmt.Errorf("duration %q overflows", seg)
	}
	return d * mult, nil
}

// FormatDuration writes d the way ParseDuration reads it, in days, hours and
// minutes where they fit: 365d, 1d12h, 1h30m, 1.5s. It is the inverse of
// ParseDuration for non-negative durations.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if d > 0 {
		b.WriteString(d.String()) // below a minute: "1.5s", "500ms"
	}
	return b.String()
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)$`)

var sizeUnits = map[string]float64{
	"": 1, "B": 1,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// ParseSize reads a size in bytes: a plain integer is bytes; KiB MiB GiB
// TiB are powers of 2 and KB MB GB TB powers of 10 ("16MiB", "1.5GB").
func ParseSize(s string) (int64, error) {
	bad := fmt.Errorf("want %s, got %q", wantSize, s)
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, bad
	}
	mult, ok := sizeUnits[m[2]]
	if !ok || mult == 1 && strings.Contains(m[1], ".") {
		return 0, bad
	}
	if mult == 1 {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return 0, bad
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f*mult >= math.MaxInt64 {
		return 0, bad
	}
	return int64(f * mult), nil
}

var decimalRE = regexp.MustCompile(`^[0-9]+(?:\.[0-9]+)?$`)

// ParseRate reads a rate per second: a positive number or "unlimited".
func ParseRate(s string) (Rate, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if !decimalRE.MatchString(s) || err != nil || f <= 0 {
		return 0, fmt.Errorf("want %s, got %q", wantRate, s)
	}
	return Rate(f), nil
}

// String writes r the way ParseRate reads it.
func (r Rate) String() string {
	if r.IsUnlimited() {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64)
}

var percentRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?%$`)

// ParsePercent reads a percentage ("90%", "2.5%") and returns it as a share
// (0.9, 0.025). It refuses a bare number: 0.05 and 5 are both plausible
// readings of "5 percent", so the sign is required. Upper bounds are the
// caller's: some shares may pass 100%.
func ParsePercent(s string) (float64, error) {
	m := percentRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("want %s, got %q", wantPercent, s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want %s, got %q", wantPercent, s)
	}
	return f / 100, nil
}

// parseComparison reads "< 1h" or "> 30d" (the space is optional).
func parseComparison(s string) (Comparison, error) {
	bad := fmt.Errorf("want %s, got %q", wantComparison, s)
	t := strings.TrimSpace(s)
	if t == "" {
		return Comparison{}, bad
	}
	op := Less
	switch t[0] {
	case '<':
	case '>':
		op = Greater
	default:
		return Comparison{}, bad
	}
	d, err := ParseDuration(strings.TrimSpace(t[1:]))
	if err != nil {
		return Comparison{}, bad
	}
	return Comparison{Op: op, D: d}, nil
}

// String writes c the way the job file does: "< 1h", "> 30d".
func (c Comparison) String() string {
	op := "<"
	if c.Op == Greater {
		op = ">"
	}
	return op + " " + FormatDuration(c.D)
}

// formatFloat writes f without float noise (90, not 90.00000000000001).
func formatFloat(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64)
}
