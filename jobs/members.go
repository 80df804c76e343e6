package jobs

import (
	"strconv"
	"time"
)

// Members jobs act inside a key: on the members of a sorted set whose score
// is a time (a timeline), or on the entries of a stream, whose IDs are
// milliseconds since 1970. The key is still selected by select; members says
// which of its members the action applies to, and the action (delete: {})
// removes those members, never the key itself (the server deletes a sorted
// set left empty).
//
// The cutoff is fixed at the run's start, so a resumed or repeated run
// selects the same members: a member selected at the start is older than
// older_than then, whenever it is removed.

// maxOlderThan bounds members.older_than like a key's lifetime.
const maxOlderThan = maxLifetime

// ScoreRange is the scores a members job selects, as ZCOUNT / ZRANGE
// BYSCORE bounds: from the epoch floor (2000-01-01 in the score's unit,
// inclusive) to the cutoff (exclusive). Below the floor a score is no time
// a running system wrote (seconds read as milliseconds land in 1970): such
// members are never selected, and a key holding any is a bad_timestamp.
type ScoreRange struct {
	Floor  string // inclusive lower bound, e.g. "946684800000"
	Cutoff string // exclusive upper bound, e.g. "(1733000000000"
	// CutoffTime is the cutoff as a time: the run's start less older_than,
	// truncated to the score's unit.
	CutoffTime time.Time
}

// Range is the scores the job selects for a run that started at runStart.
func (m *Members) Range(runStart time.Time) ScoreRange {
	ms := runStart.Add(-m.OlderThan).UnixMilli()
	floor := epochFloor.UnixMilli()
	if m.ScoreFormat == FormatUnixMS {
		return ScoreRange{Floor: strconv.FormatInt(floor, 10), Cutoff: "(" + strconv.FormatInt(ms, 10), CutoffTime: time.UnixMilli(ms).UTC()}
	}
	// Seconds with their milliseconds: the shortest decimal that reads
	// back as the same double, so the server compares with exactly it.
	s := strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
	return ScoreRange{Floor: strconv.FormatInt(floor/1000, 10), Cutoff: "(" + s, CutoffTime: time.UnixMilli(ms).UTC()}
}

// StreamRange is the entry IDs a stream members job selects for a run
// that started at runStart: IDs below CutoffID ("<ms>-0", exclusive),
// read with XRANGE - Last (Last is the ms before the cutoff: an ID of only
// milliseconds ends with the highest sequence number, so any server reads
// it, without the exclusive "(" of Redis 6.2). FloorID is the epoch floor:
// a stream whose oldest entry lies before it has IDs that are no times.
type StreamRange struct {
	CutoffID   string // e.g. "1733000000000-0"
	Last       string // e.g. "1732999999999"
	FloorID    string // "946684800000-0"
	CutoffMs   int64
	FloorMs    int64
	CutoffTime time.Time
}

// StreamRange is the entry IDs the job selects for a run that started at
// runStart.
func (m *Members) StreamRange(runStart time.Time) StreamRange {
	ms := runStart.Add(-m.OlderThan).UnixMilli()
	floor := epochFloor.UnixMilli()
	return StreamRange{CutoffID: strconv.FormatInt(ms, 10) + "-0", Last: strconv.FormatInt(ms-1, 10),
		FloorID: strconv.FormatInt(floor, 10) + "-0", CutoffMs: ms, FloorMs: floor, CutoffTime: time.UnixMilli(ms).UTC()}
}

// BelowFloor is the ZCOUNT range of the scores below the epoch floor.
func (r ScoreRange) BelowFloor() (min, max string) { return "-inf", "(" + r.Floor }

// members validates the members field against the selection and the action.
func (v *validator) members(r *rawMembers, sel *Select, action ActionKind) *Members {
	if r == nil {
		return nil
	}
	m := &Members{Stream: sel.Type == "stream"}
	switch {
	case m.Stream:
		if r.Score != nil {
			v.fail("members.score", "want no score with select.type: stream, got one").Hint =
				"a stream entry's time is its ID (milliseconds since 1970): leave members.score out"
		}
	case r.Score == nil:
		v.fail("members.score", "want a mapping such as {format: unix_ms}, got nothing")
	case r.Score.Format == nil:
		v.fail("members.score.format", "want unix or unix_ms, got nothing")
	case *r.Score.Format != FormatUnix && *r.Score.Format != FormatUnixMS:
		v.fail("members.score.format", "want unix or unix_ms, got %q", *r.Score.Format).Hint =
			"a score is a number: seconds (unix) or milliseconds (unix_ms) since 1970"
	default:
		m.ScoreFormat = *r.Score.Format
	}
	if r.OlderThan == nil {
		v.fail("members.older_than", "want %s, got nothing", wantDuration).Hint =
			"members whose time is longer ago than this at the run's start are selected"
	} else {
		m.OlderThan = v.positive("members.older_than", r.OlderThan, maxOlderThan)
	}
	if sel.Type != "zset" && sel.Type != "stream" && v.ok("select.type") {
		got := "no select.type"
		if sel.Type != "" {
			got = "select.type: " + sel.Type
		}
		where := "members"
		if sel.Type != "" {
			where = "select.type"
		}
		v.failAt(where, "members", "want select.type: zset or stream with members, got %s", got).Hint =
			"members selects the members of sorted sets whose score is a time, or the entries of streams"
	}
	if action != 0 && action != ActionDelete {
		name := map[ActionKind]string{ActionExpire: "expire", ActionPersist: "persist"}[action]
		hint := "members are removed (ZREM); an expiry of its own per member is not something a sorted set has"
		if m.Stream {
			hint = "entries are removed (XDEL); an expiry of its own per entry is not something a stream has"
		}
		v.failAt("action."+name, "members", "want action.delete: {} with members, got %s", name).Hint = hint
	}
	return m
}
