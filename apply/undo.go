package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redisx"
)

// UndoOptions tunes an undo.
type UndoOptions struct {
	// Replace lets RESTORE overwrite a key that exists now.
	Replace bool
	// AllowOtherTarget undoes a journal written against another address
	// (the same data behind a new address, say).
	AllowOtherTarget bool
	// Partial undoes the intact records of a journal that is not whole
	// (damaged, or cut short), knowingly; without it such a journal is
	// refused before anything changes.
	Partial bool
	Observe func(UndoProgress)
	Logger  *slog.Logger
}

// UndoProgress is what the operator sees during an undo.
type UndoProgress struct {
	Done, Total int64
}

// UndoReport counts what undo did with each journal record. Records is
// every intact record read: Changes (the records of a change keyjob was
// about to make) plus the markers of changes the server did not make
// (Unapplied of them). The outcomes from Restored to Expired add up to
// Changes minus Unapplied.
type UndoReport struct {
	Journal   string `json:"journal"`
	RunID     string `json:"run_id"`
	Records   int64  `json:"records"`
	Changes   int64  `json:"changes"`
	Restored  int64  `json:"restored"`   // previous expiry (or no TTL) put back
	Recreated int64  `json:"recreated"`  // RESTOREd from the dump
	LeftAlone int64  `json:"left_alone"` // changed by someone else since: left as it is
	Exists    int64  `json:"exists"`     // a dumped key that exists now: not overwritten
	Missing   int64  `json:"missing"`    // gone, and no dump to bring it back
	Expired   int64  `json:"expired"`    // its previous expiry has passed: not recreated
	Unapplied int64  `json:"unapplied"`  // journaled, but the server did not make the change: nothing to undo
	// State says what the journal is: "whole", "no trailer" (its run was
	// killed, or is still going), or "not whole" (undone with Partial).
	State string `json:"state"`
	// Partial is true when the journal was not whole and only its intact
	// records were undone; Damage says what was skipped.
	Partial bool     `json:"partial"`
	Damage  []string `json:"damage,omitempty"`
}

// Replies of the undo script.
const (
	undoLeftAlone = 0
	undoRestored  = 1
	undoRecreated = 2
	undoExists    = 3
	undoMissing   = 4
	undoExpired   = 5
)

// undoOne puts one key back, atomically: the previous expiry only where the
// expiry is still the one keyjob set; RESTORE only where the key does not
// exist (or REPLACE was asked for).
// ARGV: action, prev expiry ms (-1 none), keyjob's expiry ms (-1: none,
// after a persist), dump payload or "", "1" to replace, now ms.
const undoScript = `#!lua flags=allow-oom
local k = KEYS[1]
local a, prev, set, dump, replace, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
local pt = redis.call('PEXPIRETIME', k)
local function recreate()
  if dump == '' then return 4 end
  if prev ~= -1 and prev <= now then return 5 end
  local ttl = prev
  if prev == -1 then ttl = 0 end
  if pt ~= -2 then
    if replace ~= '1' then return 3 end
    redis.call('RESTORE', k, ttl, dump, 'REPLACE', 'ABSTTL')
  else
    redis.call('RESTORE', k, ttl, dump, 'ABSTTL')
  end
  return 2
end
if a == 'delete' then return recreate() end
if pt == -2 then return recreate() end
if pt ~= set then return 0 end
if prev == -1 then redis.call('PERSIST', k) else redis.call('PEXPIREAT', k, prev) end
return 1
`

// undoTrimScript adds back the members a trim record removed, with their
// scores (ZADD NX: a member someone added since keeps its score). A set the
// trim emptied was deleted by the server: it is created again with its
// previous expiry, unless that has passed. A key of another type now is
// left alone.
// ARGV: prev expiry ms (-1 none), now ms, then member, score, ...
const undoTrimScript = `#!lua flags=allow-oom
local k = KEYS[1]
local prev, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TYPE', k)['ok']
if t ~= 'zset' and t ~= 'none' then return 0 end
if t == 'none' and prev ~= -1 and prev <= now then return 5 end
local args = {}
for i = 3, #ARGV, 2 do
  args[#args + 1] = ARGV[i + 1]
  args[#args + 1] = ARGV[i]
end
redis.call('ZADD', k, 'NX', unpack(args))
if t == 'none' then
  if prev ~= -1 then redis.call('PEXPIREAT', k, prev) end
  return 2
end
return 1
`

// undoBatch is how many records one pipeline carries.
const undoBatch = 500

// JournalCheck is what a journal turned out to be, read whole before
// undo changes anything.
type JournalCheck struct {
	Header    journal.Header
	Integrity journal.Integrity
	Stats     journal.Stats
	// Unchanged is the markers of changes the server did not make: each
	// voids one older record of its key.
	Unchanged int64
	// Problems are what makes the journal not whole: its own damage, and
	// what the run's checkpoint says it should hold and it does not.
	Problems []string
}

// ToUndo is the changes undo puts back or checks: the records, less the
// markers and the changes they void.
func (c *JournalCheck) ToUndo() int64 { return c.Stats.Records - 2*c.Unchanged }

// State is what the journal is, in words.
func (c *JournalCheck) State() string {
	switch {
	case len(c.Problems) > 0:
		return "not whole"
	case c.Integrity.Trailer == 0:
		return "no trailer"
	}
	return "whole"
}

// Describe says what the journal is, for the operator.
func (c *JournalCheck) Describe() string {
	switch {
	case len(c.Problems) > 0:
		return fmt.Sprintf("the journal is not whole: %s; %d records are intact", strings.Join(c.Problems, "; "), c.Integrity.Records)
	case c.Integrity.Trailer == 0:
		return "the journal has no trailer: its run was killed, or is still going (stop it before undoing it)"
	case c.Integrity.Trailer == journal.StatusStopped:
		return "the journal is whole: its run stopped before the end (it can be resumed)"
	}
	return "the journal is whole: its run completed"
}

// ErrJournalNotWhole is wrapped by the error of an undo refused because
// its journal is damaged or cut short.
var ErrJournalNotWhole = errors.New("journal is not whole")

// ErrJournalOtherTarget is the refusal to undo a journal against another
// server than the one it was written against.
var ErrJournalOtherTarget = errors.New("another server")

// CheckJournal reads the journal at path whole and says what it is: its
// own checksums and trailer, and the run's checkpoint beside it (the
// journal must hold at least what the checkpoint says was committed, and
// a completed run's journal ends in its trailer).
func CheckJournal(path string) (*JournalCheck, error) {
	jr, err := journal.Open(path)
	if err != nil {
		return nil, err
	}
	defer jr.Close()
	c := &JournalCheck{Header: jr.Header(), Integrity: jr.Integrity()}
	if c.Stats, err = jr.Stats(); err != nil {
		return nil, err
	}
	c.Unchanged = c.Stats.Actions[journal.ActionUnchanged]
	in := c.Integrity
	for _, d := range in.Damaged {
		c.Problems = append(c.Problems, "damaged at "+d.String())
	}
	if d := in.Torn; d != nil {
		c.Problems = append(c.Problems, fmt.Sprintf("cut short at record %d: its last %d bytes (from byte %d) are not a whole batch (a crash while it was written, or a file cut short)", d.RecordsBefore+1, d.Bytes, d.Offset))
	}
	cpPath := filepath.Join(filepath.Dir(path), checkpoint.FileName)
	cp, err := checkpoint.Load(cpPath)
	if err != nil || cp.RunID != c.Header.RunID {
		// No checkpoint (discarded, or another run's now): the journal
		// speaks for itself.
		return c, nil
	}
	// A completed checkpoint over a journal without its trailer is a run
	// killed in its last moment (the trailer is written after the
	// checkpoint): whole as long as it holds every record the checkpoint
	// counts.
	if cp.JournalRecords > in.Records {
		c.Problems = append(c.Problems, fmt.Sprintf("the checkpoint %s counts %d records committed, the journal holds %d intact (records are missing)", cpPath, cp.JournalRecords, in.Records))
	}
	return c, nil
}

// Undo replays a run's journal newest first and puts back what the run
// changed. A journal that is not whole is refused before anything
// changes, unless o.Partial.
func Undo(ctx context.Context, conn *redisx.Conn, path string, o UndoOptions) (*UndoReport, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	check, err := CheckJournal(path)
	if err != nil {
		return nil, err
	}
	if len(check.Problems) > 0 && !o.Partial {
		return nil, fmt.Errorf("%w: %s: %s; nothing was changed (--partial undoes the %d intact records knowingly)", ErrJournalNotWhole, path, check.Describe(), check.Integrity.Records)
	}
	jr, err := journal.Open(path)
	if err != nil {
		return nil, err
	}
	defer jr.Close()
	jr.AllowDamaged()
	h := jr.Header()
	if h.Target != conn.Target() && !o.AllowOtherTarget {
		return nil, fmt.Errorf("%w: journal %s was written against %s, not %s: point --redis at that server, or pass --allow-other-target", ErrJournalOtherTarget, path, h.Target, conn.Target())
	}
	rep := &UndoReport{Journal: path, RunID: h.RunID, State: check.State(), Partial: len(check.Problems) > 0, Damage: check.Problems}
	if rep.Partial {
		o.Logger.Warn("undoing the intact records of a journal that is not whole (--partial)", "journal", path, "problems", strings.Join(check.Problems, "; "))
	}
	info, err := redisx.Info(ctx, conn.Client, "server")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", conn.Addr, err)
	}
	if err := redisx.NeedVersion(conn.Addr, info); err != nil {
		return nil, err
	}
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		return nil, err
	}
	// Refused before the first change when a command is lacking.
	needs := commands.Undo(check.Stats.Dumps > 0, check.Stats.Actions[journal.ActionStreamTrim] > 0)
	fieldRecs := check.Stats.Actions[journal.ActionFieldExpire] + check.Stats.Actions[journal.ActionFieldPersist] + check.Stats.Actions[journal.ActionFieldDelete]
	if fieldRecs > 0 {
		needs = append(needs, commands.UndoFields()...)
	}
	caps, err := conn.Probe(ctx, true, commands.Names(needs)...)
	if err != nil {
		return nil, err
	}
	if err := commands.Refuse(caps, conn.Addr, needs); err != nil {
		return nil, err
	}
	s := newScript(undoScript)
	if err := s.load(ctx, nodes); err != nil {
		return nil, err
	}
	trim := newScript(undoTrimScript)
	if check.Stats.Actions[journal.ActionTrim] > 0 {
		if err := trim.load(ctx, nodes); err != nil {
			return nil, err
		}
	}
	fields := newScript(undoFieldsScript)
	if fieldRecs > 0 {
		if err := fields.load(ctx, nodes); err != nil {
			return nil, err
		}
	}
	stream := newScript(undoStreamScript)
	if check.Stats.Actions[journal.ActionStreamTrim] > 0 {
		if err := stream.load(ctx, nodes); err != nil {
			return nil, err
		}
	}
	u := undoer{conn: conn, s: s, trim: trim, fields: fields, stream: stream, o: o, rep: rep, total: check.ToUndo(), voided: map[string]int{}}
	err = jr.Reverse(func(rec journal.Record) error {
		rep.Records++
		// Newest first, an "unchanged" record comes before the record it
		// voids: the next older record of that key was never applied.
		if rec.Action == journal.ActionUnchanged {
			u.voided[rec.Key]++
			return nil
		}
		rep.Changes++
		if n := u.voided[rec.Key]; n > 0 {
			if n == 1 {
				delete(u.voided, rec.Key)
			} else {
				u.voided[rec.Key] = n - 1
			}
			u.rep.Unapplied++
			return nil
		}
		var since, weight int64 = 0, 1
		if rec.Action == journal.ActionStreamTrim {
			var send bool
			if send, since, weight = u.takeStream(rec); !send {
				return nil
			}
		}
		u.recs = append(u.recs, rec)
		u.since, u.weight = append(u.since, since), append(u.weight, weight)
		if len(u.recs) == undoBatch {
			return u.flush(ctx)
		}
		return nil
	})
	if err == nil {
		err = u.flush(ctx)
	}
	u.orphans()
	return rep, err
}

// Undone is the changes undo put back or checked: the outcomes from
// Restored to Expired.
func (r *UndoReport) Undone() int64 {
	return r.Restored + r.Recreated + r.LeftAlone + r.Exists + r.Missing + r.Expired
}

type undoer struct {
	conn *redisx.Conn
	s    *luaScript
	trim *luaScript // for trim records
	// fields is for the records of a fields job.
	fields *luaScript
	// stream is for stream-trim records; streams holds, per key, those
	// read since its last dump, and since and weight go with recs.
	stream  *luaScript
	streams map[string]*streamUndo
	since   []int64
	weight  []int64
	o       UndoOptions
	rep     *UndoReport
	recs    []journal.Record
	total   int64
	// voided counts, per key, records the run journaled but did not apply.
	voided map[string]int
}

func (u *undoer) flush(ctx context.Context) error {
	if len(u.recs) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now, err := redisx.ServerTime(ctx, u.conn.Client)
	if err != nil {
		return err
	}
	c := u.conn.Client
	cmds := make(rueidis.Commands, len(u.recs))
	args := make([][]string, len(u.recs))
	scripts := make([]*luaScript, len(u.recs))
	for i, rec := range u.recs {
		scripts[i], args[i] = u.s, u.args(rec, now)
		switch rec.Action {
		case journal.ActionTrim:
			scripts[i], args[i] = u.trim, trimArgs(rec, now)
		case journal.ActionStreamTrim:
			scripts[i], args[i] = u.stream, u.streamArgs(rec, u.since[i], now)
		}
		if journal.IsFieldAction(rec.Action) {
			scripts[i], args[i] = u.fields, fieldArgs(rec, now)
		}
		cmds[i] = scripts[i].cmd(c, rec.Key, args[i]...)
	}
	for i, res := range c.DoMulti(ctx, cmds...) {
		n, err := res.AsInt64()
		if err != nil && isNoScript(err) {
			n, err = scripts[i].eval(ctx, c, u.recs[i].Key, args[i]...).AsInt64()
		}
		if err != nil {
			return fmt.Errorf("undo %q: %w", u.recs[i].Key, err)
		}
		if journal.IsFieldAction(u.recs[i].Action) {
			n = fieldsUndone(n)
		}
		for range u.weight[i] {
			u.count(n)
		}
	}
	u.recs, u.since, u.weight = u.recs[:0], u.since[:0], u.weight[:0]
	if u.o.Observe != nil {
		u.o.Observe(UndoProgress{Done: u.rep.Undone(), Total: u.total})
	}
	return nil
}

func (u *undoer) args(rec journal.Record, now time.Time) []string {
	set := rec.NewExpireMs
	if rec.Action == journal.ActionPersist {
		set = -1
	}
	replace := ""
	if u.o.Replace {
		replace = "1"
	}
	return []string{rec.Action, strconv.FormatInt(rec.PrevExpireMs, 10), strconv.FormatInt(set, 10),
		string(rec.Dump), replace, strconv.FormatInt(now.UnixMilli(), 10)}
}

// trimArgs are the undo trim script's arguments for one trim record.
func trimArgs(rec journal.Record, now time.Time) []string {
	args := make([]string, 0, 2+2*len(rec.Members))
	args = append(args, strconv.FormatInt(rec.PrevExpireMs, 10), strconv.FormatInt(now.UnixMilli(), 10))
	for _, m := range rec.Members {
		args = append(args, m.Member, m.Score)
	}
	return args
}

func (u *undoer) count(n int64) {
	r := u.rep
	switch n {
	case undoRestored:
		r.Restored++
	case undoRecreated:
		r.Recreated++
	case undoExists:
		r.Exists++
	case undoMissing:
		r.Missing++
	case undoExpired:
		r.Expired++
	default:
		r.LeftAlone++
	}
}
