package jobs

import (
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"1h30m", 90 * time.Minute},
		{"500ms", 500 * time.Millisecond},
		{"1.5s", 1500 * time.Millisecond},
		{"10us", 10 * time.Microsecond},
		{"10µs", 10 * time.Microsecond},
		{"365d", 365 * day},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2w", 14 * day},
		{"2w3d", 17 * day},
		{"1w1d1h1m1s", 8*day + time.Hour + time.Minute + time.Second},
		{".5h", 30 * time.Minute},
		{"1000w", 7000 * day},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDuration_Bad(t *testing.T) {
	for _, in := range []string{
		"", "1", "1 year", "-1h", "+1h", "1y", "d", "1dd", "1hd", "1.2.3h", "1h 30m", " 1h",
		"100000000w", "200000d", "2562047h1h", "1e3s", "unlimited",
	} {
		got, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
			continue
		}
		if want := `want a duration such as 365d or 1h30m, got "` + in + `"`; err.Error() != want {
			t.Errorf("ParseDuration(%q) error %q, want %q", in, err, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{365 * day, "365d"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour, "1h"},
		{1500 * time.Millisecond, "1.5s"},
		{day + time.Second, "1d1s"},
		{500 * time.Millisecond, "500ms"},
		{-time.Hour, "-1h"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.in < 0 {
			continue
		}
		if back, err := ParseDuration(FormatDuration(tc.in)); err != nil || back != tc.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tc.in, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"512B", 512},
		{"16MiB", 16 << 20},
		{"16 MiB", 16 << 20},
		{"1KiB", 1024},
		{"1.5GiB", 3 << 29},
		{"2TiB", 2 << 40},
		{"1KB", 1000},
		{"256MB", 256e6},
		{"1GB", 1e9},
		{"3TB", 3e12},
		{"9223372036854775807", math.MaxInt64},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSize_Bad(t *testing.T) {
	for _, in := range []string{
		"", "16 megs", "16M", "16mb", "16mib", "-1", "1.5", "1.5B", "1e6", "MiB", "16  MiB",
		"9223372036854775808", "9000000TiB", "16MiB ", "0x10",
	} {
		got, err := ParseSize(in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %v, want an error", in, got)
			continue
		}
		if want := `want a size such as 16MiB, 1GB or 1048576 (bytes), got "` + in + `"`; err.Error() != want {
			t.Errorf("ParseSize(%q) error %q, want %q", in, err, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
	}{
		{"5000", 5000},
		{"0.5", 0.5},
		{"100000", 100000},
		{"unlimited", Unlimited},
	} {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, _ := ParseRate(got.String()); back != got {
			t.Errorf("ParseRate(%q.String()) = %v", got, back)
		}
	}
	for _, in := range []string{"", "0", "0.0", "-5", "fast", "Inf", "+Inf", "NaN", "1e3", "5k", "Unlimited"} {
		_, err := ParseRate(in)
		if want := `want a positive number (per second) or unlimited, got "` + in + `"`; err == nil || err.Error() != want {
			t.Errorf("ParseRate(%q) error %v, want %q", in, err, want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"90%", 0.9},
		{"0%", 0},
		{"2.5%", 0.025},
		{"100%", 1},
		{"150%", 1.5},
		{"5 %", 0.05},
	} {
		got, err := ParsePercent(tc.in)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0.05", "5", "%", "-5%", "five%", "5%%", "1e2%", "Inf%"} {
		_, err := ParsePercent(in)
		if want := `want a percentage such as 5%, got "` + in + `"`; err == nil || err.Error() != want {
			t.Errorf("ParsePercent(%q) error %v, want %q", in, err, want)
		}
	}
}

func TestParseComparison(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Comparison
		text string
	}{
		{"< 1h", Comparison{Less, time.Hour}, "< 1h"},
		{"> 30d", Comparison{Greater, 30 * day}, "> 30d"},
		{">30d", Comparison{Greater, 30 * day}, "> 30d"},
		{"  <  90m ", Comparison{Less, 90 * time.Minute}, "< 1h30m"},
	} {
		got, err := parseComparison(tc.in)
		if err != nil || got != tc.want || got.String() != tc.text {
			t.Errorf("parseComparison(%q) = %v (%q), %v; want %v (%q)", tc.in, got, got, err, tc.want, tc.text)
		}
	}
	for _, in := range []string{"", "1h", "<", "<= 1h", "= 1h", "> -1h", "> 1 year", "<>1h"} {
		if _, err := parseComparison(in); err == nil {
			t.Errorf("parseComparison(%q): want an error", in)
		}
	}
}

func TestComparison_Match(t *testing.T) {
	lt, gt := Comparison{Less, time.Hour}, Comparison{Greater, time.Hour}
	for _, tc := range []struct {
		c    Comparison
		d    time.Duration
		want bool
	}{
		{lt, 59 * time.Minute, true}, {lt, time.Hour, false}, {lt, 2 * time.Hour, false},
		{gt, 59 * time.Minute, false}, {gt, time.Hour, false}, {gt, 2 * time.Hour, true},
	} {
		if got := tc.c.Match(tc.d); got != tc.want {
			t.Errorf("%v.Match(%v) = %v, want %v", tc.c, tc.d, got, tc.want)
		}
	}
}

func TestLimits_With(t *testing.T) {
	file := Limits{Rate: 5000, ScanRate: 100000, ScanCount: 1000}
	for _, tt := range []struct {
		rate, scan Rate
		want       Limits
	}{
		{0, 0, file},
		{50, 0, Limits{Rate: 50, ScanRate: 100000, ScanCount: 1000}},
		{0, Unlimited, Limits{Rate: 5000, ScanRate: Unlimited, ScanCount: 1000}},
		{Unlimited, 7, Limits{Rate: Unlimited, ScanRate: 7, ScanCount: 1000}},
	} {
		if got := file.With(tt.rate, tt.scan); got != tt.want {
			t.Errorf("With(%v, %v) = %+v, want %+v", tt.rate, tt.scan, got, tt.want)
		}
	}
}
