package jobs

import "time"

// Outcome is the bucket a scanned key lands in. Every scanned key lands in
// exactly one, so the buckets add up to the keys scanned.
type Outcome string

const (
	Change           Outcome = "change"
	SkipRegex        Outcome = "regex"
	SkipTTL          Outcome = "ttl"
	SkipIdle         Outcome = "idle"
	SkipBadTimestamp Outcome = "bad_timestamp"
	SkipTooBig       Outcome = "too_big_to_backup" // decided by the caller (MEMORY USAGE)
	Gone             Outcome = "gone"              // apply only
	ChangedSinceScan Outcome = "changed_since_scan" // apply only
)

// Key is what the caller read about one key. Only the fields the job's
// Needs asks for are filled in.
type Key struct {
	Name   string
	HasTTL bool
	// ExpireAt is the key's absolute expiry when HasTTL (the server's
	// now + PTTL, or PEXPIRETIME).
	ExpireAt time.Time
	Idle     time.Duration
}

// Clock is the time a decision is made at: both from the server's clock.
type Clock struct {
	Now      time.Time // when the key was read
	RunStart time.Time // fixed TTLs and grace are measured from here
}

// Decision is what happens to one key.
type Decision struct {
	Outcome Outcome
	// ExpireAt is the new absolute expiry (millisecond precision) of an
	// expire change; zero for delete and persist.
	ExpireAt time.Time
	// Grace is true when the key's own expiry had passed and it got the
	// grace TTL instead.
	Grace bool
	// Why says, for a bad_timestamp, what was wrong ("not unix seconds",
	// "1.2e+12 s in the future").
	Why string
}

// Needs says which per-key lookups a job's conditions need, so callers
// send no command they do not have to.
type Needs struct {
	TTL  bool // the key's current expiry (PTTL or PEXPIRETIME)
	Idle bool // OBJECT IDLETIME
}
