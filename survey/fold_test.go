package survey

import (
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"TicketStory", "ticket:1755302811:18841:Qx7fTz2a", "ticket:{ts}:{n}:{id}"},
		{"DealClicks", "deal:clicks:417:20260314", "deal:clicks:{n}:{date}"},
		{"Session", "session:9f86d081884c7d659a2feaa0c55ad015", "session:{hex}"},
		{"SessionUpperHex", "session:9F86D081884C7D65", "session:{hex}"},
		{"UserProfile", "user:18841:profile", "user:{n}:profile"},
		{"UUID", "cart:3f2504e0-4f89-11d3-9a0c-0305e82c3301:items", "cart:{uuid}:items"},
		{"DateDashes", "report:daily:2026-03-14:8812", "report:daily:{date}:{n}"},
		{"DateSlashes", "log/2026/03/14/app", "log/{date}/app"},
		{"RFC3339", "event:2026-03-14T15:04:05Z:click", "event:{date}:click"},
		{"RFC3339Offset", "event:2026-03-14T15:04:05.123+01:00", "event:{date}"},
		{"LocalTime", "event:2026-03-14T15:04:05|x", "event:{date}|x"},
		{"CompactDateTime", "snap:20260314150405", "snap:{date}"},
		{"UnixMillis", "click:1755302811123", "click:{ts}"},
		{"UnixTooEarly", "order:999999999", "order:{n}"},      // 9 digits: 2001 and before, or an id
		{"UnixTooLate", "order:4102444800", "order:{n}"},      // 2100
		{"NotADate", "order:20261399", "order:{n}"},           // month 13
		{"DateTooFar", "order:19990101", "order:{n}"},         // compact dates from 2000 only
		{"ShortNumber", "page:7", "page:{n}"},                 //
		{"Dashes", "cache-v2-user-42", "cache-v{n}-user-{n}"}, // - separates segments
		{"Pipes", "a|b|123", "a|b|{n}"},
		{"Dots", "metrics.host01.cpu", "metrics.host{n}.cpu"},
		{"Underscore", "user_profile:42", "user_profile:{n}"},
		{"UnderscoreToken", "tmp_83be1fQ9", "tmp_{id}"},
		{"Mixed", "shard17:users", "shard{n}:users"},
		{"CamelCase", "cache:getUserById:42", "cache:getUserById:{n}"},
		{"LongToken", "ticket:Ab3dEf7hIj9kLm1nOp3qRs5tUv7wXy9zAb1cDe3f", "ticket:{id}"},
		{"MixedCaseLetters", "invite:QxTZabKeLmW", "invite:{id}"},
		{"CamelLikeToken", "invite:QxTzAbKeLm", "invite:QxTzAbKeLm"}, // left to its siblings (table.go)
		{"Words", "healthcheck", "healthcheck"},
		{"DeadBeefIsAWord", "deadbeef", "deadbeef"},
		{"Empty", "", ""},
		{"TrailingSep", "queue:", "queue:"},
		{"DoubleSep", "a::b", "a::b"},
		{"Binary", "blob:\x00\x01\xff:x", "blob:{str}:x"},
		{"LongWord", "k:" + strings.Repeat("a", 65), "k:{str}"},
		{"NonASCII", "user:josé:cart", "user:josé:cart"},
		{"Email", "user:bob@example.com", "user:bob@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PatternOf(tt.key); got != tt.want {
				t.Errorf("PatternOf(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestFold_Formats(t *testing.T) {
	tests := []struct {
		key     string
		segment int
		kind    Kind
		format  string
	}{
		{"ticket:1755302811:1:Qx7fTz2a", 1, Timestamp, FormatUnix},
		{"ticket:1755302811123", 1, Timestamp, FormatUnixMS},
		{"deal:clicks:1:20260314", 3, Date, "20060102"},
		{"r:2026-03-14", 1, Date, "2006-01-02"},
		{"r:2026/03/14", 1, Date, "2006/01/02"},
		{"e:2026-03-14T15:04:05Z", 1, Date, FormatRFC3339},
		{"e:2026-03-14T15:04:05.5", 1, Date, "2006-01-02T15:04:05"},
		{"s:20260314150405", 1, Date, "20060102150405"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			for _, p := range Fold(tt.key) {
				if p.Segment == tt.segment && p.Kind == tt.kind {
					if p.Format != tt.format {
						t.Errorf("format %q, want %q", p.Format, tt.format)
					}
					return
				}
			}
			t.Errorf("Fold(%q) = %+v: no %s in segment %d", tt.key, Fold(tt.key), tt.kind.Placeholder(), tt.segment)
		})
	}
}

// TestFold_Bounded: a pattern stays small whatever the key.
func TestFold_Bounded(t *testing.T) {
	for _, key := range []string{
		strings.Repeat("a:", 10000),
		strings.Repeat("a_", 10000),
		strings.Repeat("x", 1<<20),
		strings.Repeat("a_b:", 5000),
	} {
		ps := Fold(key)
		if len(ps) > MaxPieces+1 {
			t.Errorf("Fold(%.20q…) has %d pieces, want at most %d", key, len(ps), MaxPieces+1)
		}
		if p := patternString(ps); len(p) > 4096 {
			t.Errorf("PatternOf(%.20q…) is %d bytes", key, len(p))
		}
	}
}

func TestExpress(t *testing.T) {
	tests := []struct {
		key, glob, regex string
		times            []TimestampPart
	}{
		{"ticket:1755302811:18841:Qx7fTz2a", "ticket:*",
			`^ticket:(?P<ts>\d{10}):(?P<n1>\d+):(?P<id>[A-Za-z0-9]{8})$`,
			[]TimestampPart{{1, FormatUnix, "ts"}}},
		{"deal:clicks:417:20260314", "deal:clicks:*",
			`^deal:clicks:(?P<n1>\d+):(?P<date>\d{8})$`,
			[]TimestampPart{{3, "20060102", "date"}}},
		{"user:18841:profile", "user:*:profile", `^user:(?P<n1>\d+):profile$`, nil},
		{"session:9f86d081884c7d65", "session:*", `^session:(?P<hex>[0-9a-fA-F]{16})$`, nil},
		{"shard17:user_42", "shard*:user_*", `^shard(?P<n1>\d+):user_(?P<n2>\d+)$`, nil},
		{"a*b?:[x]:7", `a\*b\?:\[x\]:*`, `^a\*b\?:\[x\]:(?P<n1>\d+)$`, nil},
		{"e:2026-03-14T15:04:05Z:1755302811", "e:*",
			`^e:(?P<date>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})):(?P<ts>\d{10})$`,
			[]TimestampPart{{1, FormatRFC3339, "date"}, {2, FormatUnix, "ts"}}},
		{"Qx7fTz2a", "*", `^(?P<id>[A-Za-z0-9]{8})$`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			ps := Fold(tt.key)
			formats := make([]string, len(ps))
			lens := make([]lenRange, len(ps))
			for i, p := range ps {
				formats[i] = p.Format
				lens[i] = lenRange{len(p.Text), len(p.Text)}
			}
			x := express(ps, formats, lens)
			if x.glob != tt.glob {
				t.Errorf("glob %q, want %q", x.glob, tt.glob)
			}
			if x.regex != tt.regex {
				t.Errorf("regex %s, want %s", x.regex, tt.regex)
			}
			if len(x.times) != len(tt.times) {
				t.Fatalf("times %+v, want %+v", x.times, tt.times)
			}
			for i := range x.times {
				if x.times[i] != tt.times[i] {
					t.Errorf("times[%d] = %+v, want %+v", i, x.times[i], tt.times[i])
				}
			}
			if !globMatch(x.glob, tt.key) {
				t.Errorf("glob %q does not match its own key %q", x.glob, tt.key)
			}
		})
	}
}

// globMatch is Redis's glob for the characters express writes: * and
// backslash escapes.
func globMatch(glob, s string) bool {
	if glob == "" {
		return s == ""
	}
	switch glob[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(glob[1:], s[i:]) {
				return true
			}
		}
		return false
	case '\\':
		glob = glob[1:]
	}
	return s != "" && glob[0] == s[0] && globMatch(glob[1:], s[1:])
}
