// Package words is the words reports use — counts, sizes, shares,
// durations, and keys made safe for markdown and terminals — with the
// table layouts and the format dispatch that the plan (planner) and the
// survey (survey) reports share, so the two say the same figure the same
// way.
//
// It depends on nothing of keyjob: callers pass plain values, never a Plan
// or a Survey. Where the two reports word a figure differently, both ways
// are here, under two names or a parameter, and each says which report
// uses it.
package words

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Commas is a count as "1,149,760".
func Commas(n int64) string { return humanize.Comma(n) }

// Size is "74 MiB", "1 MiB" (humanize's "1.0 MiB" without its ".0").
func Size(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	return sign + strings.Replace(humanize.IBytes(uint64(n)), ".0 ", " ", 1)
}

// Percent is a share as "1.8%", "2%", "<0.1%"; 99.6% rounds to "100%".
// The plan's reports use it.
func Percent(f float64) string { return percent(f, false) }

// PercentCapped is Percent, except that a share short of the whole never
// reads "100%": 99.6% is ">99%". The survey's reports use it.
func PercentCapped(f float64) string { return percent(f, true) }

func percent(f float64, capped bool) string {
	v := f * 100
	switch {
	case v == 0:
		return "0%"
	case v < 0.1:
		return "<0.1%"
	case v < 10:
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + "%"
	case capped && v > 99 && v < 100:
		return ">99%"
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + "%"
}

// Share is part of whole as Percent, or none when whole is 0 and there is
// no share to give (the plan says "n/a").
func Share(part, whole int64, none string) string {
	if whole == 0 {
		return none
	}
	return Percent(float64(part) / float64(whole))
}

// ShareCapped is Share with PercentCapped (the survey says "—" for none).
func ShareCapped(part, whole int64, none string) string {
	if whole == 0 {
		return none
	}
	return PercentCapped(float64(part) / float64(whole))
}

// Plural is one when n is 1, else many.
func Plural[N ~int | ~int64](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Duration is "3 min 16 s", "1 h", "266 d": two units at most, one past
// ten days, where hours no longer matter to a reviewer. A figure that
// rounds up to the next unit is said in it: 59.6 s is "1 min", not
// "60 s". The plan's reports use it.
func Duration(d time.Duration) string { return duration(d, true) }

// DurationUncarried is Duration, except that a figure that rounds up to
// the next unit stays in its own: 59.6 s is "60 s", 59 min 59.6 s is
// "60 min", 23 h 59 min 45 s is "24 h". The survey's reports use it; they
// always have.
func DurationUncarried(d time.Duration) string { return duration(d, false) }

func duration(d time.Duration, carry bool) string {
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
		s := int64(d.Round(time.Second) / time.Second)
		if carry && s >= 60 {
			return "1 min"
		}
		return fmt.Sprintf("%d s", s)
	case d < time.Hour:
		s := int64(d.Round(time.Second) / time.Second)
		if carry && s >= 3600 {
			return "1 h"
		}
		return two(s/60, "min", s%60, "s")
	case d < day:
		m := int64(d.Round(time.Minute) / time.Minute)
		if carry && m >= 24*60 {
			return "1 d"
		}
		return two(m/60, "h", m%60, "min")
	case d < 10*day:
		h := int64(d.Round(time.Hour) / time.Hour)
		return two(h/24, "d", h%24, "h")
	}
	return fmt.Sprintf("%d d", int64(d.Round(day)/day))
}
