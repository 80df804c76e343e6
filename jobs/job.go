package jobs

import (
	"math"
	"regexp"
	"time"
)

// FormatVersion is the only job file format this build reads.
const FormatVersion = 1

// Job is a parsed, validated job file.
type Job struct {
	Version     int
	Name        string
	Description string
	// DB is the logical database the job file names, or nil when it names
	// none (then the URL's database, else 0).
	DB *int

	Select Select
	// Members is nil for a job on whole keys; set, the action applies to
	// the members of each selected sorted set (or entries of each selected
	// stream) that it selects.
	Members *Members
	// Fields is nil for a job on whole keys; set, the action applies to
	// the fields of each selected hash that it selects.
	Fields *Fields
	Action Action
	Backup Backup
	Limits Limits
	Guards Guards

	// Path is the file the job was read from, as given.
	Path string
	// SHA256 is the hex digest of the file's bytes: a reviewed plan is
	// bound to it.
	SHA256 string
	// EffectSHA256 digests what the job does to keys (version, name, db,
	// select, action, backup), not how fast or how guarded it runs nor its
	// description: a checkpoint is bound to it, so a run stopped by a guard
	// can resume after its levels or rate were changed in the job file.
	EffectSHA256 string
}

// Select says which keys the job considers.
type Select struct {
	Match    string // SCAN MATCH glob
	AllowAll bool   // a bare "*" is refused without it
	Type     string // "" (any) or string, hash, list, set, zset, stream
	// Regex is nil when the job has none. Named groups are captures.
	Regex *regexp.Regexp
	TTL   TTLCond
	// Idle is nil when the job has no idle condition.
	Idle *Comparison

	// matcher is Regex compiled for the per-key check (Parse sets it).
	matcher nameMatcher
}

// Members is the members field: a sorted set's members whose score is a
// time, or a stream's entries whose ID is a time, older than OlderThan at
// the run's start.
type Members struct {
	ScoreFormat string // FormatUnix or FormatUnixMS; "" for a stream
	OlderThan   time.Duration
	// Stream: the job trims stream entries (select.type: stream), whose
	// IDs are milliseconds since 1970.
	Stream bool
}

// TTLKind is what select.ttl asks of a key's remaining TTL.
type TTLKind int

const (
	TTLAny     TTLKind = iota // every key
	TTLNone                   // only keys without a TTL
	TTLCompare                // keys with a TTL that satisfies Cmp
	TTLHas                    // any TTL: only fields.ttl: has says it
)

// TTLCond is select.ttl.
type TTLCond struct {
	Kind TTLKind
	Cmp  Comparison // with TTLCompare
}

// Op is a comparison operator.
type Op int

const (
	Less    Op = iota // "<"
	Greater           // ">"
)

// Comparison is a condition such as "< 1h" or "> 30d".
type Comparison struct {
	Op Op
	D  time.Duration
}

// Match reports whether d satisfies the comparison.
func (c Comparison) Match(d time.Duration) bool {
	if c.Op == Less {
		return d < c.D
	}
	return d > c.D
}

// ActionKind is what the job does to a selected key.
type ActionKind int

const (
	ActionExpire ActionKind = iota + 1
	ActionDelete
	ActionPersist
)

// Action is exactly one of expire, delete, persist.
type Action struct {
	Kind   ActionKind
	Expire *Expire // with ActionExpire
}

// When is action.expire.when.
type When int

const (
	WhenNoTTL   When = iota // only keys without a TTL (EXPIRE NX)
	WhenAlways              // every selected key
	WhenShorter             // keys without a TTL or with a longer one (LT)
	WhenLonger              // only keys with a shorter TTL (GT)
)

// Expire is action.expire. Exactly one of TTL (a fixed TTL from the run's
// start) and From (the key's own start of life) is set.
type Expire struct {
	TTL  time.Duration
	From *TimeSource

	After       time.Duration // with From
	Grace       time.Duration // with From; default 1h
	GraceSpread time.Duration // with From
	When        When
	// Jitter is a share (0.05 for 5%) by which each TTL is lengthened at
	// most, derived from a hash of the key name.
	Jitter float64
}

// TimeSource is action.expire.from.
type TimeSource struct {
	Capture  string         // a named group of select.regex
	Format   string         // FormatUnix, FormatUnixMS, FormatRFC3339 or a Go layout
	Location *time.Location // for a layout without a zone; time.UTC by default
}

// BackupMode is the backup field.
type BackupMode int

const (
	BackupJournal BackupMode = iota // previous expiry only
	BackupDump                      // previous expiry and DUMP payload
	BackupNone                      // no journal, no undo
)

// Backup is the backup field.
type Backup struct {
	Mode        BackupMode
	MaxDumpSize int64 // bytes; default 16MiB
}

// Rate is a number per second; Unlimited is +Inf.
type Rate float64

// Unlimited is the rate that never waits.
var Unlimited = Rate(math.Inf(1))

// IsUnlimited reports whether r never waits.
func (r Rate) IsUnlimited() bool { return math.IsInf(float64(r), 1) }

// Limits is the limits field.
type Limits struct {
	Rate       Rate  // changes per second; default 5000
	ScanRate   Rate  // keys scanned per second; default 100000
	ScanCount  int   // SCAN COUNT hint; default 1000
	MaxChanges int64 // 0: no limit (the file leaves it out; it cannot write 0)
}

// With gives the limits with the operator's --rate and --scan-rate in
// place of the file's; a zero override keeps the file's value. plan,
// apply and their screens all read the rates through it, so they agree.
func (l Limits) With(rate, scanRate Rate) Limits {
	if rate != 0 {
		l.Rate = rate
	}
	if scanRate != 0 {
		l.ScanRate = scanRate
	}
	return l
}

// Guards holds the levels a job file sets. A nil field is not set by the
// job file: the guard package supplies its default (some defaults depend on
// the server, such as aof.max_growth).
type Guards struct {
	Memory      MemoryGuards
	Persistence PersistenceGuards
	AOF         AOFGuards
	Disk        DiskGuards
	Replication ReplicationGuards
	Latency     LatencyGuards
}

// MemoryGuards is guards.memory.
type MemoryGuards struct {
	PauseAbove       *float64 // share of the limit, 0.9 for 90%
	AbortAbove       *float64
	Limit            *int64 // bytes, used when maxmemory is 0
	AbortOnEvictions *bool
}

// PersistenceGuards is guards.persistence.
type PersistenceGuards struct {
	PauseDuringFork   *bool
	AbortOnWriteError *bool
}

// AOFGuards is guards.aof.
type AOFGuards struct {
	MaxGrowth *SizeOrShare
}

// DiskGuards is guards.disk.
type DiskGuards struct {
	AbortBelow *int64 // bytes
}

// ReplicationGuards is guards.replication.
type ReplicationGuards struct {
	PauseLagAbove      *int64 // bytes
	AbortOnReplicaLoss *bool
}

// LatencyGuards is guards.latency.
type LatencyGuards struct {
	PauseAbove *time.Duration
}

// SizeOrShare is a size in bytes or a share of a figure (aof.max_growth
// accepts "256MiB" or "25%", a share of used_memory).
type SizeOrShare struct {
	Bytes int64
	Share float64 // set instead of Bytes when written as a percentage
}
