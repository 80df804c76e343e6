package apply

import (
	"strconv"
	"time"

	"github.com/keyjob/keyjob/internal/journal"
)

// undoStreamScript restores a trimmed stream from the DUMP its first
// stream-trim record of an invocation carries, only while nobody has
// written the stream since: its last-generated-id and entries-added are
// the dump's, its length lies between the dump's less the entries
// journaled since and the dump's, and its consumer groups have read and
// acknowledged nothing since. Otherwise it is left alone, unless
// replace. A stream whose previous expiry has passed is not restored.
// ARGV: dump, prev expiry ms (-1 none), now ms, last-generated-id,
// entries-added (-1: not known), length, entries journaled since, "1" to
// replace, consumer groups.
const undoStreamScript = `#!lua flags=allow-oom
` + streamFigures + `
local k, dump = KEYS[1], ARGV[1]
local prev, now = tonumber(ARGV[2]), tonumber(ARGV[3])
local last, added, len, since, replace = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if prev ~= -1 and prev <= now then return 5 end
local ttl = prev
if prev == -1 then ttl = 0 end
local t = redis.call('TYPE', k)['ok']
local same = false
if t == 'stream' then
  local l, a, n = figures(k)
  same = l == last and (added == -1 or a == added) and n <= len and n >= len - since and groups(k) == ARGV[9]
end
if not same and replace ~= '1' then return 0 end
if t == 'none' then
  redis.call('RESTORE', k, ttl, dump, 'ABSTTL')
else
  redis.call('RESTORE', k, ttl, dump, 'REPLACE', 'ABSTTL')
end
return 2
`

// streamUndo is what undo has read, newest first, of a stream's records
// since the last dump it restored (or from the journal's end).
type streamUndo struct {
	ids  int64 // entries journaled
	recs int64 // records without a dump
}

// takeStream takes one stream-trim record, newest first. A record without a
// dump adds its entries to the key's count and waits for the dump that
// precedes it; a record with one is sent, standing for those records too
// (weight: its outcome is theirs).
func (u *undoer) takeStream(rec journal.Record) (send bool, since, weight int64) {
	if u.streams == nil {
		u.streams = map[string]*streamUndo{}
	}
	s := u.streams[rec.Key]
	if s == nil {
		s = &streamUndo{}
		u.streams[rec.Key] = s
	}
	s.ids += int64(len(rec.Stream.IDs))
	if len(rec.Dump) == 0 {
		s.recs++
		return false, 0, 0
	}
	since, weight = s.ids, s.recs+1
	delete(u.streams, rec.Key)
	return true, since, weight
}

// orphans counts the stream records whose dump was never read (a journal
// undone with --partial that lost it): left alone.
func (u *undoer) orphans() {
	for _, s := range u.streams {
		u.rep.LeftAlone += s.recs
	}
	u.streams = nil
}

// streamArgs are the undo stream script's arguments for a record with a
// dump; since is the entries journaled from it to the next dump.
func (u *undoer) streamArgs(rec journal.Record, since int64, now time.Time) []string {
	replace := ""
	if u.o.Replace {
		replace = "1"
	}
	st := rec.Stream
	return []string{string(rec.Dump), strconv.FormatInt(rec.PrevExpireMs, 10), strconv.FormatInt(now.UnixMilli(), 10),
		st.LastID, strconv.FormatInt(st.EntriesAdded, 10), strconv.FormatInt(st.Length, 10), strconv.FormatInt(since, 10), replace, st.Groups}
}
