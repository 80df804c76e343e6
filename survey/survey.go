package survey

import (
	"time"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/words"
)

// FormatVersion is the version of the JSON contract (docs/cli.md).
const FormatVersion = 2

// Survey is what a survey found. It is data: Render prints it, Suggest
// turns it into job files.
type Survey struct {
	FormatVersion int       `json:"format_version"`
	GeneratedAt   time.Time `json:"generated_at"` // the server's clock when the scan began
	Target        Target    `json:"target"`
	Match         string    `json:"match"` // the SCAN MATCH glob
	// DBSize is the keys in the database (INFO keyspace, all primaries),
	// whatever the glob.
	DBSize int64 `json:"dbsize"`
	// Scanned is the keys the survey read. Without a sample it is every
	// key the glob matches, and every count below is exact.
	Scanned int64 `json:"scanned"`
	Sampled bool  `json:"sampled"`
	// Sample says how the figures were projected when the survey stopped
	// early (--sample): counts, memory and TTL shares are estimates.
	Sample *Sample `json:"sample,omitempty"`
	// Keys is the keys matching the glob (an estimate when sampled), the
	// sum of the patterns' keys and Other's.
	Keys        int64 `json:"keys"`
	WithTTL     int64 `json:"with_ttl"`
	MemoryBytes int64 `json:"memory_bytes"` // estimate, from sampled MEMORY USAGE
	// Patterns are sorted by memory, largest first.
	Patterns []Pattern `json:"patterns"`
	// MaxPatterns is the bound on patterns the survey ran with.
	MaxPatterns int `json:"max_patterns"`
	// Other holds the keys of patterns too rare to track when the
	// keyspace had more than MaxPatterns of them; nil when none did.
	Other *Other `json:"other"`
	// IdleRead is false when the server's LFU policy refuses OBJECT
	// IDLETIME: no idle times then.
	IdleRead bool `json:"idle_read"`
	// InsideRead is true when the survey read inside the hashes, sorted
	// sets and streams it sampled (Pattern.Inside): only under CLIENT
	// NO-TOUCH, so that its reads leave the keys' LRU and LFU alone.
	InsideRead   bool      `json:"inside_read"`
	Warnings     []Message `json:"warnings"`
	Notes        []Message `json:"notes"`
	ScanDuration Duration  `json:"scan_duration"`
}

// Target is the server surveyed, never with a password.
// Its fields are the plan's first ones (redisx.Server, redisx.Memory).
type Target struct {
	redisx.Server
	Nodes int `json:"nodes"` // primaries scanned
	redisx.Memory
}

// Sample describes a survey that stopped after the first keys.
type Sample struct {
	Requested int64 `json:"requested"`
	// Fraction is the share of the matching keys read: scanned over the
	// database's size when the glob is *, else estimated from how far
	// the SCAN cursor got.
	Fraction float64 `json:"fraction"`
	// Margin is the 95% margin of error of Keys, relative (0.02 = ±2%);
	// each pattern has its own.
	Margin float64 `json:"margin"`
}

// Pattern is one key pattern and what its keys look like.
type Pattern struct {
	Pattern string `json:"pattern"` // ticket:{ts}:{n}:{id}
	Keys    int64  `json:"keys"`
	WithTTL int64  `json:"with_ttl"`
	// Types counts the keys by TYPE (string, hash, …).
	Types map[string]int64 `json:"types"`
	// MemoryBytes is the mean MEMORY USAGE of a sample of the keys times
	// their number.
	MemoryBytes int64 `json:"memory_bytes"`
	// TTLSeconds is the spread of the remaining TTL of the keys that have
	// one (a sample of them); nil when none has.
	TTLSeconds *TTLSpread `json:"ttl_seconds"`
	// IdleSeconds is the median OBJECT IDLETIME of a sample; nil when not
	// read (an LFU policy).
	IdleSeconds *IdleSpread `json:"idle_seconds"`
	// TimestampParts are the segments that hold a time, with its format.
	TimestampParts []TimestampPart `json:"timestamp_parts"`
	// Match is a SCAN MATCH glob for the pattern (ticket:*) and Regex an
	// anchored RE2 expression for it with a named group for each
	// placeholder (n1, n2, … for numbers; ts, id, … for the others).
	Match    string   `json:"match"`
	Regex    string   `json:"regex"`
	Examples []string `json:"examples"`
	// BigKeys are keys of the sample whose MEMORY USAGE passed BigKeyBytes.
	BigKeys []BigKey `json:"big_keys"`
	// Inside is what the sampled hashes, sorted sets and streams hold
	// inside; null when none was read.
	Inside *Inside `json:"inside"`
	// Margin is the 95% margin of error of Keys, relative, when sampled.
	Margin float64 `json:"margin,omitempty"`
}

// TTLSpread is the median and 90th percentile of remaining TTLs, seconds.
type TTLSpread struct {
	P50 int64 `json:"p50"`
	P90 int64 `json:"p90"`
}

// IdleSpread is the median idle time, seconds.
type IdleSpread struct {
	P50 int64 `json:"p50"`
}

// TimestampPart is a segment of the pattern that holds a time.
type TimestampPart struct {
	// Position is the segment's 0-based index: ticket:{ts} has it at 1.
	Position int `json:"position"`
	// Format is unix, unix_ms, rfc3339 or a Go layout (2006-01-02): what
	// action.expire.from.format takes.
	Format string `json:"format"`
	// Capture is the name of the regex group that holds it.
	Capture string `json:"capture"`
}

// BigKey is a key whose MEMORY USAGE passed BigKeyBytes.
type BigKey struct {
	Key         string `json:"key"`
	MemoryBytes int64  `json:"memory_bytes"`
}

// Other is the patterns that collapsed because there were too many.
type Other struct {
	// Patterns is an estimate of how many distinct patterns collapsed;
	// AtLeast says it is only a lower bound.
	Patterns    int64            `json:"patterns"`
	AtLeast     bool             `json:"patterns_at_least,omitempty"`
	Keys        int64            `json:"keys"`
	WithTTL     int64            `json:"with_ttl"`
	Types       map[string]int64 `json:"types"`
	MemoryBytes int64            `json:"memory_bytes"`
	Examples    []string         `json:"examples"`
}

// Message is a warning or a note, with a stable code for machines.
type Message = words.Message

// Duration marshals as seconds (a float) in JSON, as the plan's does.
type Duration = words.Seconds
