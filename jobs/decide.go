package jobs

import (
	"fmt"
	"time"
)

// Outcome is the bucket a scanned key lands in. Every scanned key lands in
// exactly one, so the buckets add up to the keys scanned.
type Outcome string

const (
	Change           Outcome = "change"
	SkipRegex        Outcome = "regex"
	SkipTTL          Outcome = "ttl"
	SkipIdle         Outcome = "idle"
	SkipBadTimestamp Outcome = "bad_timestamp"
	SkipTooBig       Outcome = "too_big_to_backup"  // decided by the caller (MEMORY USAGE)
	SkipNoMembers    Outcome = "no_members"         // a members job: no member selected (decided by the caller, ZCOUNT)
	SkipNoFields     Outcome = "no_fields"          // a fields job: no field of the hash changes (decided by the caller, HSCAN)
	Gone             Outcome = "gone"               // apply only
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
	// Why says, for a bad_timestamp, what was wrong, quoting the capture:
	// `not unix seconds up to year 9999: "17x"`, `"4102444800" as unix
	// gives an expiry 27320d from now, more than 366d: a unit mistake?`.
	Why string
}

// Needs says which per-key lookups a job's conditions need, so callers
// send no command they do not have to.
type Needs struct {
	TTL  bool // the key's current expiry (PTTL or PEXPIRETIME)
	Idle bool // OBJECT IDLETIME
}

// Salts of the two key-name hashes. They are part of the contract: a run
// resumed or repeated by another keyjob build must give every key the same
// expiry, so they never change.
const (
	jitterSalt = "keyjob/jitter\x00"
	spreadSalt = "keyjob/grace_spread\x00"
)

// badTimestampSlack is how far beyond its longest possible life a computed
// expiry may lie before it counts as bad_timestamp: a day.
const badTimestampSlack = 24 * time.Hour

// Needs says which per-key lookups the job's conditions need.
func (j *Job) Needs() Needs {
	if j.Fields != nil {
		// The action's conditions are on the fields (HPEXPIRETIME); the
		// key's TTL is read for select.ttl and for the journal.
		return Needs{TTL: j.Select.TTL.Kind != TTLAny || j.Backup.Mode != BackupNone, Idle: j.Select.Idle != nil}
	}
	n := Needs{
		TTL:  j.Select.TTL.Kind != TTLAny || j.Action.Kind == ActionPersist,
		Idle: j.Select.Idle != nil,
	}
	if e := j.Action.Expire; j.Action.Kind == ActionExpire && e != nil && e.When != WhenAlways {
		n.TTL = true
	}
	return n
}

// Captures lists the names of select.regex's named groups, in order; nil
// without a regex.
func (j *Job) Captures() []string {
	if j.Select.Regex == nil {
		return nil
	}
	return namedGroups(j.Select.Regex.SubexpNames())
}

// MaxLifetime is the longest a key can live past its own start: after ×
// (1 + jitter) with from, ttl × (1 + jitter) with a fixed ttl. A computed
// expiry further than this (plus a day) from now is a bad timestamp.
func (e *Expire) MaxLifetime() time.Duration {
	base := e.TTL
	if e.From != nil {
		base = e.After
	}
	return base + share(base, e.Jitter)
}

// Decide says what happens to one key, from what the caller read about it
// (only what Needs asks for) and the server's clock. The checks go in the
// order docs/job-file.md gives, and the first that fails names the skip: the
// regex, select.ttl, select.idle, then the action's own conditions.
func (j *Job) Decide(k Key, c Clock) Decision {
	return j.DecideMatch(k, c, j.Match(k.Name))
}

// NameMatch is select.regex applied to one key name, with the capture
// the action reads, if any.
type NameMatch struct {
	ok      bool
	capture string
}

// OK reports whether the name passes select.regex.
func (m NameMatch) OK() bool { return m.ok }

// Match applies select.regex once, so a caller that filters names before
// reading keys (planner, executor) need not run it again in DecideMatch.
func (j *Job) Match(name string) NameMatch {
	m := j.Select.matcher
	if m.re != j.Select.Regex { // a Job built without Parse
		m = newNameMatcher(j)
	}
	return m.match(name)
}

// DecideMatch is Decide for a name already matched with Match.
func (j *Job) DecideMatch(k Key, c Clock, nm NameMatch) Decision {
	if !nm.ok {
		return Decision{Outcome: SkipRegex}
	}
	if !j.ttlSelected(k, c.Now) {
		return Decision{Outcome: SkipTTL}
	}
	if j.Select.Idle != nil && !j.Select.Idle.Match(k.Idle) {
		return Decision{Outcome: SkipIdle}
	}
	if j.Fields != nil {
		// The action applies to the hash's fields (DecideField), not to
		// the key: a key selected is a change until its fields say not.
		return Decision{Outcome: Change}
	}
	switch j.Action.Kind {
	case ActionDelete:
		return Decision{Outcome: Change}
	case ActionPersist:
		if !k.HasTTL {
			return Decision{Outcome: SkipTTL}
		}
		return Decision{Outcome: Change}
	}
	return j.decideExpire(k, c, nm.capture)
}

// ttlSelected applies select.ttl. A comparison is on the remaining TTL and
// never matches a key without one.
func (j *Job) ttlSelected(k Key, now time.Time) bool {
	switch t := j.Select.TTL; t.Kind {
	case TTLNone:
		return !k.HasTTL
	case TTLCompare:
		return k.HasTTL && t.Cmp.Match(k.ExpireAt.Sub(now))
	case TTLHas:
		return k.HasTTL
	}
	return true
}

// decideExpire computes the key's new expiry and applies `when`.
//
// The order matters for which bucket a key lands in. The checks that need
// only the key's current TTL come first (no_ttl: a key with a TTL; longer:
// a key without one), so a key that already has a TTL counts as `ttl` even
// when its name holds a broken timestamp. Then the timestamp is read (bad
// ones are `bad_timestamp`), and last the comparisons that need the new
// expiry (shorter, longer).
func (j *Job) decideExpire(k Key, c Clock, capture string) Decision {
	e := j.Action.Expire
	if e.When == WhenNoTTL && k.HasTTL || e.When == WhenLonger && !k.HasTTL {
		return Decision{Outcome: SkipTTL}
	}
	d := j.newExpiry(k.Name, c, capture)
	if d.Outcome != Change {
		return d
	}
	switch {
	case e.When == WhenShorter && k.HasTTL && !k.ExpireAt.After(d.ExpireAt):
		return Decision{Outcome: SkipTTL}
	case e.When == WhenLonger && !k.ExpireAt.Before(d.ExpireAt):
		return Decision{Outcome: SkipTTL}
	}
	return d
}

// newExpiry is the absolute expiry the job gives the key, truncated to
// milliseconds (PEXPIREAT), or a bad_timestamp.
//
// A fixed ttl counts from the run's start and gets no grace: it cannot be
// in the past when the run starts, and a resumed run must give the same
// expiry. With from, an expiry that is not after now becomes the grace TTL,
// also from the run's start.
func (j *Job) newExpiry(name string, c Clock, capture string) Decision {
	e := j.Action.Expire
	if e.From == nil {
		at := c.RunStart.Add(e.TTL + share(e.TTL, jitter(e, name)))
		return Decision{Outcome: Change, ExpireAt: toMillis(at)}
	}
	start, err := e.From.Parse(capture)
	if err != nil {
		return Decision{Outcome: SkipBadTimestamp, Why: err.Error()}
	}
	if isEpoch(e.From.Format) && start.Before(epochFloor) {
		return Decision{Outcome: SkipBadTimestamp, Why: fmt.Sprintf("%s as %s is %s, before 2000: seconds read as milliseconds?",
			quoteSample(capture), e.From.Format, start.UTC().Format(time.DateOnly))}
	}
	at := start.Add(e.After + share(e.After, jitter(e, name)))
	if limit := e.MaxLifetime() + badTimestampSlack; at.Sub(c.Now) > limit {
		return Decision{Outcome: SkipBadTimestamp, Why: tooFarWhy(capture, e.From.Format, at, c.Now, limit)}
	}
	if at.After(c.Now) {
		return Decision{Outcome: Change, ExpireAt: toMillis(at)}
	}
	grace := e.Grace + share(e.Grace, jitter(e, name))
	if e.GraceSpread > 0 {
		grace += share(e.GraceSpread, keyFraction(spreadSalt, name))
	}
	return Decision{Outcome: Change, ExpireAt: toMillis(c.RunStart.Add(grace)), Grace: true}
}

// epochFloor: no key written by a running system carries a unix time
// before it. A 10-digit seconds value read as unix_ms lands in January
// 1970 and would otherwise get the grace TTL, all of them, silently.
var epochFloor = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func isEpoch(format string) bool { return format == FormatUnix || format == FormatUnixMS }

// tooFarWhy says how far in the future an expiry lies, in days: the gap
// can pass what a time.Duration holds (seconds read as milliseconds).
func tooFarWhy(capture, format string, at, now time.Time, limit time.Duration) string {
	days := float64(at.Unix()-now.Unix()) / 86400
	return fmt.Sprintf("%s as %s gives an expiry %.0fd from now, more than %s: a unit mistake?",
		quoteSample(capture), format, days, FormatDuration(limit))
}

// share is f × d, for jitter and spread: f is in [0, 1].
func share(d time.Duration, f float64) time.Duration {
	return time.Duration(f * float64(d))
}

func toMillis(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// keyFraction maps a key name to [0, 1) with FNV-1a 64 over salt+name, so a
// key gets the same share on every run. FNV alone mixes the last bytes of
// the input poorly into the high bits, and key names often differ only at
// the end (session:1, session:2): murmur3's 64-bit finalizer spreads them.
// Written out rather than with hash/fnv to allocate nothing per key.
// jitter is the key's share of the TTL to add: no hashing without jitter.
func jitter(e *Expire, name string) float64 {
	if e.Jitter == 0 {
		return 0
	}
	return e.Jitter * keyFraction(jitterSalt, name)
}

func keyFraction(salt, name string) float64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(salt); i++ {
		h = (h ^ uint64(salt[i])) * prime64
	}
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime64
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return float64(h>>11) / (1 << 53)
}

// ExpireFlag is the EXPIRE flag that expresses action.expire.when (NX for
// no_ttl, GT for longer, LT for shorter), or "" for when: always and for
// other actions. The executor sends it with PEXPIREAT, and the server logs
// it to the AOF with the command, which the planner's projection counts.
func (j *Job) ExpireFlag() string {
	if j.Action.Expire == nil {
		return ""
	}
	switch j.Action.Expire.When {
	case WhenNoTTL:
		return "NX"
	case WhenLonger:
		return "GT"
	case WhenShorter:
		return "LT"
	}
	return ""
}
