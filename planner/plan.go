// Package planner is keyjob's dry run: it walks the keyspace a job selects,
// decides every key with the job's own rules, changes nothing, and produces
// a Plan: the figures a reviewer needs before approving the run (outcomes,
// the expiry schedule, AOF and memory projections, warnings).
//
// A Plan is data. Rendering is separate (text, markdown, JSON, each to an
// io.Writer), and the JSON is a versioned contract other tools read.
// The planner sends only read-only commands that do not touch a key's
// value, TTL or LRU clock (SCAN, PTTL/PEXPIRETIME, OBJECT IDLETIME, MEMORY
// USAGE, INFO, CONFIG GET, TIME). It must not depend on cmd/ or the
// executor.
package planner

import (
	"time"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/words"
)

// FormatVersion is the version of the JSON contract (docs/cli.md).
//
// Version 2 added members (a job on sorted-set members) and the
// no_members skip bucket it can fill.
//
// Version 3 added fields (a job on hash fields: fields.* counts, samples
// and the no_fields skip bucket; its expiries count fields). It also added
// members for streams (members.type, cutoff_id, epoch_floor_id) and a
// change sample's members.
const FormatVersion = 3

// Plan is the dry run's report.
type Plan struct {
	FormatVersion int       `json:"format_version"`
	GeneratedAt   time.Time `json:"generated_at"` // the server's clock when the scan began
	Job           JobInfo   `json:"job"`
	Target        Target    `json:"target"`
	DBSize        int64     `json:"dbsize"`
	Scanned       int64     `json:"scanned"`
	// Sample is set when the plan is an estimate from the first N matching
	// keys (--sample) rather than a full scan.
	Sample   *Sample  `json:"sample,omitempty"`
	Outcomes Outcomes `json:"outcomes"`
	// Expiries is the schedule of the new expiries: how many keys expire in
	// each range after the run. Empty for delete and persist jobs.
	Expiries     []ExpiryBucket   `json:"expiries"`
	PeakMinute   *PeakMinute      `json:"peak_minute,omitempty"`
	Samples      map[string][]Key `json:"samples"` // per outcome, at most SamplesPer
	Estimates    Estimates        `json:"estimates"`
	Guards       []GuardLine      `json:"guards"`
	Warnings     []Message        `json:"warnings"`
	Errors       []Message        `json:"errors"`
	ScanDuration Duration         `json:"scan_duration"`
	// Members is set for a job on sorted-set members: what it selects
	// inside the keys it changes.
	Members *MembersPlan `json:"members,omitempty"`
	// Fields is set for a job on hash fields: what it selects inside the
	// hashes it changes.
	Fields *FieldsPlan `json:"fields,omitempty"`
	// Commands are the commands the run will send, checked against the
	// connected user; nil in a plan made before keyjob checked them.
	Commands *Commands `json:"commands,omitempty"`
}

// MembersPlan is what a members job selects inside the keys.
type MembersPlan struct {
	// Type is the keys' type: zset (members by score) or stream (entries
	// by ID).
	Type        string   `json:"type"`
	ScoreFormat string   `json:"score_format,omitempty"` // zset: unix | unix_ms
	OlderThan   Duration `json:"older_than"`
	// Cutoff is the run's start less older_than: members whose score is
	// below it (as CutoffScore, exclusive) are selected, or stream
	// entries whose ID is below CutoffID.
	Cutoff      time.Time `json:"cutoff"`
	CutoffScore string    `json:"cutoff_score,omitempty"` // zset: "(1757073600123"
	CutoffID    string    `json:"cutoff_id,omitempty"`    // stream: "1757073600123-0"
	// FloorScore is the lowest score read as a time (2000-01-01): a key
	// with members below it is a bad_timestamp; EpochFloorID, a stream's
	// (a stream whose oldest entry lies below it).
	FloorScore   string `json:"floor_score,omitempty"`
	EpochFloorID string `json:"epoch_floor_id,omitempty"`
	// Selected is the members of the changed keys older than the cutoff
	// (ZCOUNT; a stream's counted by XRANGE); Held is all the members
	// those keys hold (ZCARD, XLEN).
	Selected int64 `json:"selected"`
	Held     int64 `json:"held"`
}

// KeyMembers is, for a sample key of a members job, what it loses.
type KeyMembers struct {
	Selected int64 `json:"selected"`
	Held     int64 `json:"held"`
	// FloorID is a stream's oldest entry after the trim, "" when the trim
	// removes every entry (or the key is a sorted set).
	FloorID string `json:"floor_id,omitempty"`
}

// SamplesPer is how many sample keys a plan keeps per outcome.
const SamplesPer = 10

// JobInfo is what the report says of the job file.
type JobInfo struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	SHA256      string `json:"sha256"`
	Description string `json:"description,omitempty"`
	Action      string `json:"action"` // expire | delete | persist
	// Summary is the action in words: "TTL from issue time: 365d after the
	// capture issued (unix), grace 1h".
	Summary    string   `json:"summary"`
	Match      string   `json:"match"`
	Type       string   `json:"type,omitempty"`
	When       string   `json:"when,omitempty"`
	Backup     string   `json:"backup"` // journal | dump | none
	Rate       string   `json:"rate"`   // "5000" or "unlimited"
	ScanRate   string   `json:"scan_rate"`
	MaxChanges int64    `json:"max_changes,omitempty"`
	GuardsSet  []string `json:"guards_set,omitempty"` // guard levels the job file sets
}

// Target is the server the plan read, never with a password.
// Its first fields are the survey's (redisx.Server, redisx.Memory).
type Target struct {
	redisx.Server
	Replicas int `json:"replicas"`
	Nodes    int `json:"nodes"` // primaries scanned
	redisx.Memory
	AOF         bool   `json:"aof"`
	AOFSize     int64  `json:"aof_size,omitempty"`
	AOFBaseSize int64  `json:"aof_base_size,omitempty"`
	Save        string `json:"save"` // the save points, "" when RDB snapshots are off
	// AutoAOFRewritePercentage and ...MinSize are -1 when CONFIG is refused.
	AutoAOFRewritePercentage int64          `json:"auto_aof_rewrite_percentage"`
	AutoAOFRewriteMinSize    int64          `json:"auto_aof_rewrite_min_size"`
	ReplBacklogSize          int64          `json:"repl_backlog_size"`
	ForkInProgress           string         `json:"fork_in_progress,omitempty"` // "BGSAVE", "AOF rewrite"
	Keyspace                 []KeyspaceLine `json:"keyspace"`
	ConfigReadable           bool           `json:"config_readable"`
}

// KeyspaceLine is one database's keys, as INFO keyspace reports them.
type KeyspaceLine struct {
	DB      int   `json:"db"`
	Keys    int64 `json:"keys"`
	Expires int64 `json:"expires"`
}

// Sample describes an estimate made from the first matching keys.
type Sample struct {
	Requested int64 `json:"requested"`
	// Fraction is the share of the matching keys the sample covers, from
	// the SCAN position reached (an estimate of its own).
	Fraction float64 `json:"fraction"`
	// Margin is the 95% margin of error of the change count, relative
	// (0.02 = ±2%).
	Margin float64 `json:"margin"`
}

// Outcomes counts the scanned keys per bucket; they add up to Scanned.
type Outcomes struct {
	Change int64 `json:"change"`
	// ChangeGrace is the part of Change that gets the grace TTL because
	// its own expiry had already passed.
	ChangeGrace int64            `json:"change_grace"`
	Skip        map[string]int64 `json:"skip"` // every skip bucket, zeros included
}

// ExpiryBucket counts new expiries falling in (previous bucket, Within]
// after the run's start.
type ExpiryBucket struct {
	Within      Duration `json:"within"`
	Label       string   `json:"label"` // "1 h", "1 d", "30 d", "later"
	Keys        int64    `json:"keys"`
	MemoryBytes int64    `json:"memory_bytes"` // estimate, from sampled MEMORY USAGE
}

// PeakMinute is the minute in which the most new expiries fall.
type PeakMinute struct {
	At   time.Time `json:"at"`
	Keys int64     `json:"keys"`
}

// Key is a sample key with its before and after.
type Key struct {
	Name      string     `json:"key"`
	ExpireAt  *time.Time `json:"expire_at_before,omitempty"` // nil: no TTL (or not read)
	NewExpire *time.Time `json:"expire_at_after,omitempty"`
	Grace     bool       `json:"grace,omitempty"`
	Why       string     `json:"why,omitempty"`
	// Members is, for a changed key of a members job, what it loses.
	Members *KeyMembers `json:"members,omitempty"`
}

// Estimates are the plan's projections.
type Estimates struct {
	AOFBytes         int64 `json:"aof_bytes"` // appended by the run's own writes
	AOFBytesPerKey   int64 `json:"aof_bytes_per_key"`
	AOFGraceBytes    int64 `json:"aof_grace_bytes"`   // DELs when grace keys expire
	ReplicationBytes int64 `json:"replication_bytes"` // sent to each replica
	RewriteDiskBytes int64 `json:"rewrite_disk_bytes"`
	MemoryFreedBytes int64 `json:"memory_freed_bytes"` // now, by deletes
	// MemoryUnknown is why no key's memory could be read ("" when it
	// could): the memory figures above are then 0 and mean unknown.
	MemoryUnknown       string   `json:"memory_unknown,omitempty"`
	MemoryAddedBytes    int64    `json:"memory_added_bytes"`    // expires-table entries
	MemoryExpiringBytes int64    `json:"memory_expiring_bytes"` // freed over time by new TTLs
	MeanKeyBytes        int64    `json:"mean_key_bytes"`
	DurationSeconds     float64  `json:"duration_seconds"`
	JournalBytes        int64    `json:"journal_bytes"`
	Forks               []string `json:"forks"` // "1 BGSAVE (save 60 10000)"
}

// GuardLine is one guard's current figure against its levels; the guard
// package fills these.
type GuardLine struct {
	Name   string `json:"name"`   // "memory", "aof", ...
	Figure string `json:"figure"` // "35% of 512 MiB"
	Levels string `json:"levels"` // "pause 90%, abort 95%"
	State  string `json:"state"`  // ok | pause | abort | blind
	Note   string `json:"note,omitempty"`
}

// Message is a warning or an error, with a stable code for machines.
type Message = words.Message

// Skip buckets in the order reports show them.
var SkipOrder = []string{"regex", "ttl", "idle", "bad_timestamp", "too_big_to_backup"}
