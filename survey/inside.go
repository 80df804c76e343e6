package survey

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
)

// Bounds of what a survey reads inside a key: every call is O(1) or
// O(log N) in the key's size, or O(fieldSample), whatever the key holds.
const (
	// fieldSample is the field names read of a hash (HRANDFIELD key 16).
	fieldSample = 16
	// maxFieldPatterns is the field-name patterns holding a time that a
	// pattern keeps (more are counted, not described).
	maxFieldPatterns = 4
	// ageSample is the size of the samples of oldest-member ages.
	ageSample = 128
)

// Inside is what the sampled keys of a pattern hold inside: read only
// when Survey.InsideRead (CLIENT NO-TOUCH in effect), from the keys the
// pattern's detail sample takes (at most detailSample at a time). Each
// part is nil when no key of that type was read.
type Inside struct {
	Hashes  *HashInside   `json:"hashes"`
	ZSets   *ZSetInside   `json:"zsets"`
	Streams *StreamInside `json:"streams"`
}

// HashInside is what the field names of the hashes read say.
type HashInside struct {
	Read int64 `json:"read"` // hashes read
	// FieldsRead is the field names read: up to 16 a hash (HRANDFIELD).
	FieldsRead int64 `json:"fields_read"`
	// WithTimestampFields is the hashes with a field name that holds a
	// time; TimestampFields the field names read that hold one.
	WithTimestampFields int64 `json:"with_timestamp_fields"`
	TimestampFields     int64 `json:"timestamp_fields"`
	// WithVolatileFields is the hashes with a field read that has a TTL
	// of its own, VolatileFields those fields (HPEXPIRETIME); both null
	// where the server has no hash-field expiry or the user may not ask.
	WithVolatileFields *int64 `json:"with_volatile_fields"`
	VolatileFields     *int64 `json:"volatile_fields"`
	// FieldPatterns are the patterns of the field names that hold a time,
	// most fields first (at most 4).
	FieldPatterns []FieldPattern `json:"field_patterns"`
}

// FieldPattern is a pattern of hash field names, folded as key names are.
type FieldPattern struct {
	Pattern string `json:"pattern"` // seen:{ts}:{id}
	Fields  int64  `json:"fields"`  // field names read of this pattern
	// WithTTL is those with a TTL of their own; null when not read.
	WithTTL        *int64          `json:"with_ttl"`
	TimestampParts []TimestampPart `json:"timestamp_parts"`
	// Match is an HSCAN MATCH glob, Regex an anchored RE2 expression
	// with a named group per placeholder: what a fields: job takes.
	Match    string   `json:"match"`
	Regex    string   `json:"regex"`
	Examples []string `json:"examples"`
}

// ZSetInside is what the scores of the sorted sets read say.
type ZSetInside struct {
	Read        int64  `json:"read"`         // sorted sets read (empty ones are gone)
	MembersP50  int64  `json:"members_p50"`  // ZCARD, median
	MembersMax  int64  `json:"members_max"`  // ZCARD, the largest of the sets read
	TimeScored  int64  `json:"time_scored"`  // sets whose lowest and highest scores are both times
	ScoreFormat string `json:"score_format"` // unix, unix_ms, or "" when the sets are not (all) scored by time
	// OldestAgeSeconds is the age of each time-scored set's lowest score
	// (its oldest member) at the survey: median and largest; null when
	// none is time-scored.
	OldestAgeSeconds *AgeSpread `json:"oldest_age_seconds"`
}

// StreamInside is what the entry IDs of the streams read say.
type StreamInside struct {
	Read       int64 `json:"read"`        // streams read
	Empty      int64 `json:"empty"`       // of them, with no entry
	EntriesP50 int64 `json:"entries_p50"` // XLEN, median
	EntriesMax int64 `json:"entries_max"` // XLEN, the largest of the streams read
	// OldestAgeSeconds is the age of each stream's first entry (its ID's
	// milliseconds): median and largest; null when all are empty.
	OldestAgeSeconds *AgeSpread `json:"oldest_age_seconds"`
}

// AgeSpread is a median and a largest age, seconds.
type AgeSpread struct {
	P50 int64 `json:"p50"`
	Max int64 `json:"max"`
}

// insideStats is what the table holds of the keys of one pattern read
// inside; nil until one is.
type insideStats struct {
	hashes, fieldsRead, withTimed, timed int64
	ttlRead, withVolatile, volatile      int64 // hashes whose field TTLs were read
	fields                               map[string]*entry

	zsets, timeScored int64
	zsetFormats       map[string]int64
	zsetSizes, zAges  reservoir[int64]
	zOldest, zMax     int64

	streams, empty     int64
	streamSizes, sAges reservoir[int64]
	sOldest, sMax      int64
}

// insideReads says which types a walker reads inside.
type insideReads struct {
	hash, fieldTTL, zset, stream bool
	caps                         *redisx.Caps // the answers about redisx.InsideReads
}

func (r insideReads) any() bool { return r.hash || r.zset || r.stream }

// insideReadsOf is what conn lets a survey read inside keys; caps holds
// the answers about redisx.InsideReads.
func insideReadsOf(caps *redisx.Caps) insideReads {
	has := func(cmds ...string) bool {
		for _, c := range cmds {
			if caps.Lacks(c) {
				return false
			}
		}
		return true
	}
	return insideReads{
		caps:     caps,
		hash:     has(redisx.CmdHRandField),
		fieldTTL: has(redisx.CmdHRandField, redisx.CmdHPExpireTime),
		zset:     has(redisx.CmdZCard, redisx.CmdZRange),
		stream:   has(redisx.CmdXLen, redisx.CmdXRange),
	}
}

// insideKey is one key of a batch to read inside.
type insideKey struct {
	e    *entry
	name string
	typ  string
}

// lookInside reads inside the hashes, sorted sets and streams among
// keys: one pipeline of bounded reads, and one of HPEXPIRETIME for the
// fields the first returned. A key gone or rewritten meanwhile is
// skipped; only a failed connection is an error.
func (w *walker) lookInside(ctx context.Context, keys []insideKey, nowMS int64) error {
	c := w.node.Client
	var cmds rueidis.Commands
	var at []int
	for _, k := range keys {
		at = append(at, len(cmds))
		switch k.typ {
		case "hash":
			cmds = append(cmds, c.B().Hrandfield().Key(k.name).Count(fieldSample).Build())
		case "zset":
			cmds = append(cmds, c.B().Zcard().Key(k.name).Build(),
				c.B().Zrange().Key(k.name).Min("0").Max("0").Withscores().Build(),
				c.B().Zrange().Key(k.name).Min("-1").Max("-1").Withscores().Build())
		case "stream":
			cmds = append(cmds, c.B().Xlen().Key(k.name).Build(),
				c.B().Xrange().Key(k.name).Start("-").End("+").Count(1).Build())
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	res := c.DoMulti(cctx, cmds...)
	type hashRead struct {
		k      insideKey
		fields []string
	}
	var hashes []hashRead
	for i, k := range keys {
		r := res[at[i]:]
		if err := connErr(r[0]); err != nil {
			return err
		}
		switch k.typ {
		case "hash":
			fields, err := r[0].AsStrSlice()
			if err == nil && len(fields) > 0 {
				hashes = append(hashes, hashRead{k, fields})
			}
		case "zset":
			k.e.in().addZSet(w.table.rng, r[0], r[1], r[2], nowMS)
		case "stream":
			k.e.in().addStream(w.table.rng, r[0], r[1], nowMS)
		}
	}
	if len(hashes) == 0 {
		return nil
	}
	var ttls []rueidis.RedisResult
	if w.in.fieldTTL {
		tc := make(rueidis.Commands, len(hashes))
		for i, h := range hashes {
			tc[i] = c.B().Hpexpiretime().Key(h.k.name).Fields().Numfields(int64(len(h.fields))).Field(h.fields...).Build()
		}
		ttls = c.DoMulti(cctx, tc...)
	}
	for i, h := range hashes {
		var exp []int64
		if ttls != nil {
			if err := connErr(ttls[i]); err != nil {
				return err
			}
			var err error
			if exp, err = ttls[i].AsIntSlice(); err != nil || len(exp) != len(h.fields) {
				continue // gone or rewritten since HRANDFIELD: not counted
			}
		}
		h.k.e.in().addHash(h.fields, exp)
	}
	return nil
}

// connErr is a result's error when it is not the server's answer about
// the key (WRONGTYPE, a key gone): those only skip the key.
func connErr(r rueidis.RedisResult) error {
	err := r.Error()
	if err == nil || rueidis.IsRedisNil(err) {
		return nil
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		return nil
	}
	return err
}

func (e *entry) in() *insideStats {
	if e.inside == nil {
		e.inside = &insideStats{}
	}
	return e.inside
}

// addHash counts a hash's field names read, and their TTLs when read
// (expiry, HPEXPIRETIME's answer per field: -1 for none, -2 gone; nil
// when not read).
func (s *insideStats) addHash(fields []string, expiry []int64) {
	s.hashes++
	s.fieldsRead += int64(len(fields))
	ttlRead := expiry != nil && len(expiry) == len(fields)
	if ttlRead {
		s.ttlRead++
	}
	timed, volatile := 0, 0
	for i, f := range fields {
		withTTL := ttlRead && expiry[i] >= 0
		if withTTL {
			volatile++
		}
		ps := Fold(f)
		if !holdsTime(ps) {
			continue
		}
		timed++
		p := patternString(ps)
		fe := s.fields[p]
		if fe == nil {
			if len(s.fields) >= maxFieldPatterns {
				continue
			}
			if s.fields == nil {
				s.fields = map[string]*entry{}
			}
			fe = newEntry(p, ps)
			s.fields[p] = fe
		}
		fe.observe(f, ps)
		fe.keys++
		if withTTL {
			fe.withTTL++
		}
	}
	s.timed += int64(timed)
	s.volatile += int64(volatile)
	if timed > 0 {
		s.withTimed++
	}
	if volatile > 0 {
		s.withVolatile++
	}
}

// holdsTime says whether a folded name has a piece that reads as a time.
func holdsTime(ps []Piece) bool {
	return slices.ContainsFunc(ps, func(p Piece) bool { return (p.Kind == Timestamp || p.Kind == Date) && p.Format != "" })
}

// addZSet counts a sorted set from its ZCARD and its lowest and highest
// member (ZRANGE 0 0 and -1 -1 WITHSCORES).
func (s *insideStats) addZSet(rng *rand.Rand, card, lo, hi rueidis.RedisResult, nowMS int64) {
	n, err := card.AsInt64()
	if err != nil || n == 0 {
		return
	}
	low, ok1 := firstScore(lo)
	high, ok2 := firstScore(hi)
	if !ok1 || !ok2 {
		return
	}
	s.zsets++
	s.zsetSizes.add(rng, ageSample, n)
	s.zMax = max(s.zMax, n)
	f := scoreFormat(low, high)
	if f == "" {
		return
	}
	s.timeScored++
	if s.zsetFormats == nil {
		s.zsetFormats = map[string]int64{}
	}
	s.zsetFormats[f]++
	oldestMS := low
	if f == FormatUnix {
		oldestMS = low * 1000
	}
	age := max(0, (nowMS-int64(oldestMS))/1000)
	s.zAges.add(rng, ageSample, age)
	s.zOldest = max(s.zOldest, age)
}

// firstScore reads the score of a one-member ZRANGE … WITHSCORES.
func firstScore(r rueidis.RedisResult) (float64, bool) {
	zs, err := r.AsZScores()
	if err != nil || len(zs) == 0 {
		return 0, false
	}
	return zs[0].Score, true
}

// scoreFormat is the time format both scores read in, "" when they are
// not both plausible times of one unit (the same range as a time in a
// key name: 2001–2100).
func scoreFormat(lo, hi float64) string {
	in := func(v, from, to float64) bool { return v >= from && v < to }
	switch {
	case in(lo, minUnix, maxUnix) && in(hi, minUnix, maxUnix):
		return FormatUnix
	case in(lo, minUnix*1000, maxUnix*1000) && in(hi, minUnix*1000, maxUnix*1000):
		return FormatUnixMS
	}
	return ""
}

// addStream counts a stream from its XLEN and first entry (XRANGE - +
// COUNT 1), whose ID begins with its time in milliseconds.
func (s *insideStats) addStream(rng *rand.Rand, xlen, first rueidis.RedisResult, nowMS int64) {
	n, err := xlen.AsInt64()
	if err != nil {
		return
	}
	s.streams++
	s.streamSizes.add(rng, ageSample, n)
	s.sMax = max(s.sMax, n)
	entries, err := first.AsXRange()
	if err != nil || len(entries) == 0 {
		s.empty++
		return
	}
	msPart, _, _ := strings.Cut(entries[0].ID, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		return
	}
	age := max(0, (nowMS-ms)/1000)
	s.sAges.add(rng, ageSample, age)
	s.sOldest = max(s.sOldest, age)
}

// merge adds another table's (or pattern's) stats of the same pattern.
func (t *table) mergeInside(into, e *entry) {
	o := e.inside
	if o == nil {
		return
	}
	s := into.in()
	s.hashes += o.hashes
	s.fieldsRead += o.fieldsRead
	s.withTimed += o.withTimed
	s.timed += o.timed
	s.ttlRead += o.ttlRead
	s.withVolatile += o.withVolatile
	s.volatile += o.volatile
	for p, fe := range o.fields {
		switch mine := s.fields[p]; {
		case mine != nil:
			t.mergeInto(mine, fe)
		case len(s.fields) < maxFieldPatterns:
			if s.fields == nil {
				s.fields = map[string]*entry{}
			}
			s.fields[p] = fe
		}
	}
	s.zsets += o.zsets
	s.timeScored += o.timeScored
	for f, n := range o.zsetFormats {
		if s.zsetFormats == nil {
			s.zsetFormats = map[string]int64{}
		}
		s.zsetFormats[f] += n
	}
	s.zsetSizes.merge(t.rng, ageSample, o.zsetSizes)
	s.zAges.merge(t.rng, ageSample, o.zAges)
	s.zOldest = max(s.zOldest, o.zOldest)
	s.zMax = max(s.zMax, o.zMax)
	s.streams += o.streams
	s.empty += o.empty
	s.streamSizes.merge(t.rng, ageSample, o.streamSizes)
	s.sAges.merge(t.rng, ageSample, o.sAges)
	s.sOldest = max(s.sOldest, o.sOldest)
	s.sMax = max(s.sMax, o.sMax)
}

// report is the stats as the survey shows them; nil when nothing was read.
func (s *insideStats) report(fieldTTLRead bool) *Inside {
	if s == nil || s.hashes+s.zsets+s.streams == 0 {
		return nil
	}
	in := &Inside{}
	if s.hashes > 0 {
		h := &HashInside{Read: s.hashes, FieldsRead: s.fieldsRead, WithTimestampFields: s.withTimed, TimestampFields: s.timed}
		ttls := fieldTTLRead && s.ttlRead == s.hashes
		if ttls {
			h.WithVolatileFields, h.VolatileFields = ptr(s.withVolatile), ptr(s.volatile)
		}
		for _, fe := range s.fields {
			x := express(fe.pieces, fe.timeFormats(), fe.lens)
			fp := FieldPattern{Pattern: fe.pattern, Fields: fe.keys, TimestampParts: x.times, Match: x.glob, Regex: x.regex, Examples: fe.examples}
			if ttls {
				fp.WithTTL = ptr(fe.withTTL)
			}
			h.FieldPatterns = append(h.FieldPatterns, fp)
		}
		slices.SortFunc(h.FieldPatterns, func(a, b FieldPattern) int {
			if a.Fields != b.Fields {
				return int(b.Fields - a.Fields)
			}
			return strings.Compare(a.Pattern, b.Pattern)
		})
		in.Hashes = h
	}
	if s.zsets > 0 {
		z := &ZSetInside{Read: s.zsets, TimeScored: s.timeScored}
		z.MembersP50, _ = quantile(s.zsetSizes.vals, 0.5)
		z.MembersMax = s.zMax
		z.ScoreFormat = soleFormat(s.zsetFormats, s.zsets)
		if p50, ok := quantile(s.zAges.vals, 0.5); ok {
			z.OldestAgeSeconds = &AgeSpread{P50: p50, Max: s.zOldest}
		}
		in.ZSets = z
	}
	if s.streams > 0 {
		x := &StreamInside{Read: s.streams, Empty: s.empty}
		x.EntriesP50, _ = quantile(s.streamSizes.vals, 0.5)
		x.EntriesMax = s.sMax
		if p50, ok := quantile(s.sAges.vals, 0.5); ok {
			x.OldestAgeSeconds = &AgeSpread{P50: p50, Max: s.sOldest}
		}
		in.Streams = x
	}
	return in
}

// soleFormat is the score format nearly all (95%) of the n sets read
// share, else "" (as a time in key names: mixed formats are no format).
func soleFormat(formats map[string]int64, n int64) string {
	for f, c := range formats {
		if float64(c) >= 0.95*float64(n) {
			return f
		}
	}
	return ""
}

func ptr(n int64) *int64 { return &n }

// reads says whether keys of type typ are read inside.
func (r insideReads) reads(typ string) bool {
	switch typ {
	case "hash":
		return r.hash
	case "zset":
		return r.zset
	case "stream":
		return r.stream
	}
	return false
}

// insideSetup decides what the survey reads inside keys: nothing unless
// every connection is under CLIENT NO-TOUCH (HRANDFIELD, ZRANGE, XRANGE
// and even ZCARD and XLEN touch a key's LRU and LFU otherwise) and types
// are read; then what the user may send of redisx.InsideReads, asked at
// the survey's start (never at the dial: a denial lands in ACL LOG).
// notRead says why nothing is read, "" when something is.
func insideSetup(ctx context.Context, conn *redisx.Conn, readType bool) (in insideReads, notRead string, err error) {
	switch {
	case !readType:
		return in, "the type of a key cannot be read", nil
	case !conn.NoTouch():
		return in, noTouchWhy(conn), nil
	}
	caps, err := conn.Probe(ctx, false, redisx.InsideReads...)
	if err != nil {
		return in, "", err
	}
	return insideReadsOf(caps), "", nil
}

// noTouchWhy says why CLIENT NO-TOUCH is not in effect.
func noTouchWhy(conn *redisx.Conn) string {
	caps := conn.Caps
	switch {
	case !caps.NoTouch():
		return fmt.Sprintf("the server (%s) has no CLIENT NO-TOUCH (Redis 7.2+, Valkey 8+)", caps.Name())
	case caps.Lacks(redisx.CmdNoTouch):
		return caps.Why(redisx.CmdNoTouch)
	}
	return fmt.Sprintf("CLIENT NO-TOUCH is not checked for the ACL user %s (only ACL DRYRUN as the default user asks without a trace in ACL LOG), so keyjob does not send it", conn.User())
}

// Codes of the notes about reading inside keys.
const (
	NoteInsideNotRead = "inside_keys_not_read"
	// NoteFieldExpiryUnsupported: the server has no hash-field expiry
	// (Redis before 7.4, Valkey before 9): field TTLs are not read, and
	// no fields job is suggested (it would be refused).
	NoteFieldExpiryUnsupported = "hash_field_expiry_unsupported"
	NoteFieldTTLsUnknown       = "hash_field_ttls_unknown"
	NoteHashFieldsUnknown      = "hash_fields_unknown"
	NoteZSetScoresUnknown      = "zset_scores_unknown"
	NoteStreamEntriesUnknown   = "stream_entries_unknown"
)

// noteInside says what was not read inside keys, and why, when the
// survey saw keys of the types concerned.
func noteInside(s *Survey, in insideReads, notRead string) {
	seen := map[string]bool{}
	for _, p := range s.Patterns {
		for t, n := range p.Types {
			seen[t] = seen[t] || n > 0
		}
	}
	if s.Other != nil {
		for t, n := range s.Other.Types {
			seen[t] = seen[t] || n > 0
		}
	}
	if notRead != "" {
		var types []string
		for _, t := range []string{"hash", "zset", "stream"} {
			if seen[t] {
				types = append(types, t)
			}
		}
		if len(types) > 0 {
			s.note(NoteInsideNotRead, "Inside keys not read: %s. Reading a %s's fields, scores or entries would change its LRU and LFU clocks without CLIENT NO-TOUCH, so the survey does not: no figures from inside keys, and no job on fields or members suggested.",
				notRead, strings.Join(types, ", "))
		}
		return
	}
	caps := in.caps
	if seen["hash"] {
		switch {
		case !in.hash:
			s.note(NoteHashFieldsUnknown, "The field names of hashes cannot be read: %s.", caps.Why(redisx.CmdHRandField))
		case !in.fieldTTL && caps.Check(redisx.CmdHPExpireTime).Status == redisx.Missing.String():
			s.note(NoteFieldExpiryUnsupported, "The server (%s) has no hash-field expiry (Redis 7.4+, Valkey 9+): field TTLs are not read, and no job on hash fields is suggested.", caps.Name())
		case !in.fieldTTL:
			s.note(NoteFieldTTLsUnknown, "The TTLs of hash fields cannot be read: %s. No job on hash fields is suggested.", caps.Why(redisx.CmdHPExpireTime))
		}
	}
	if seen["zset"] && !in.zset {
		s.note(NoteZSetScoresUnknown, "The scores of sorted sets cannot be read: %s.", lackWhy(caps, redisx.CmdZCard, redisx.CmdZRange))
	}
	if seen["stream"] && !in.stream {
		s.note(NoteStreamEntriesUnknown, "The entries of streams cannot be read: %s.", lackWhy(caps, redisx.CmdXLen, redisx.CmdXRange))
	}
}

func lackWhy(caps *redisx.Caps, cmds ...string) string {
	var why []string
	for _, c := range cmds {
		if w := caps.Why(c); w != "" {
			why = append(why, w)
		}
	}
	return strings.Join(why, "; ")
}
