package apply

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// A job with fields: changes the fields of each selected hash, never the
// key. Each hash is walked to its end, a chunk at a time, so a big hash is
// never a big command:
//
//  1. read the next chunk of field names (HSCAN MATCH ... COUNT 128
//     NOVALUES) and their expiries (HPEXPIRETIME), and decide each field
//     (batch.Step.WalkFields);
//  2. with backup: dump, read the values of the fields to delete (HMGET);
//  3. journal the chunk's changes (each field's previous expiry, the new
//     one, the value) and make the record durable;
//  4. wait for the rate: limits.rate counts fields changed;
//  5. write, re-checked per field at the write: HPEXPIREAT ... NX FIELDS n
//     (one call per distinct expiry, in one pipeline: a field that got a
//     TTL meanwhile keeps it), or the script that persists or deletes only
//     the fields whose expiry (and value) are still those journaled.
//
// A run killed inside a hash commits none of its batch: the resumed run
// walks the hash again and finds the fields already changed no longer
// selected (they have a TTL, have none, or are gone), so it ends in the
// same state. It counts them from the journal (reconcile_fields.go).

// Counts keys of the fields changed and of those given the grace TTL:
// not outcomes of a key, kept out of the sums of keys.
const (
	fieldsChanged = "fields_changed"
	fieldsGrace   = "fields_grace"
	fieldsBad     = "fields_bad_timestamp"
)

// fieldsScript persists or deletes the fields given whose expiry is still
// the one journaled (and, with values, whose value is too), and returns
// how many it changed, or -2 when the key is no hash any more.
// ARGV: mode (persist|delete), 1 when values follow each field, then
// field, previous expiry ms (-1 none)[, value] ...
const fieldsScript = `#!lua flags=allow-oom
local k = KEYS[1]
if redis.call('TYPE', k)['ok'] ~= 'hash' then return -2 end
local mode, withValues = ARGV[1], ARGV[2] == '1'
local step = 2
if withValues then step = 3 end
local names = {}
for i = 3, #ARGV, step do names[#names + 1] = ARGV[i] end
local exp = redis.call('HPEXPIRETIME', k, 'FIELDS', #names, unpack(names))
local vals = {}
if withValues then vals = redis.call('HMGET', k, unpack(names)) end
local sel = {}
for j = 1, #names do
  local i = 3 + step * (j - 1)
  if exp[j] == tonumber(ARGV[i + 1]) and (not withValues or vals[j] == ARGV[i + 2]) then
    sel[#sel + 1] = names[j]
  end
end
if #sel == 0 then return 0 end
if mode == 'delete' then return redis.call('HDEL', k, unpack(sel)) end
local n = 0
for _, r in ipairs(redis.call('HPERSIST', k, 'FIELDS', #sel, unpack(sel))) do
  if r == 1 then n = n + 1 end
end
return n
`

var fieldsWriteScript = newScript(fieldsScript)

// loadFields loads the fields script on every node for a persist or
// delete fields job.
func (r *Run) loadFields(ctx context.Context) error {
	if r.job.Fields == nil || r.job.Action.Kind == jobs.ActionExpire {
		return nil
	}
	return fieldsWriteScript.load(ctx, r.nodes)
}

// fieldsBatch changes the fields of the keys of a batch, one key after the
// other, each to its end. A key counts as changed when at least one of its
// fields changed; the fields in fieldsChanged. It returns the end of the
// last journal frame.
func (r *Run) fieldsBatch(ctx context.Context, node redisx.Node, todo []pending, counts map[string]int64) (changed []string, durable int64, err error) {
	for _, p := range todo {
		fk := fieldKey{r: r, node: node, p: p, counts: counts}
		gone, err := r.step.WalkFields(ctx, r.conn.Client, p.key, func(ds []batch.FieldDecision) error { return fk.chunk(ctx, ds) })
		durable = max(durable, fk.durable)
		if err != nil {
			if ctx.Err() != nil {
				return changed, durable, errInterrupted
			}
			return changed, durable, err
		}
		switch {
		case p.counted:
			// Counted as changed by the read-back: its fields changed
			// now count, not the hash again.
		case fk.changed > 0:
			counts[string(jobs.Change)]++
			changed = append(changed, p.key)
		case gone && !fk.selected:
			counts[string(jobs.Gone)]++
		case !fk.selected:
			counts[string(jobs.SkipNoFields)]++
		default:
			counts[string(jobs.ChangedSinceScan)]++ // its fields changed since they were read
		}
		if err := r.fieldsUnitMistake(counts); err != nil {
			return changed, durable, err
		}
	}
	return changed, durable, nil
}

// fieldKey is the walk of one hash's fields.
type fieldKey struct {
	r        *Run
	node     redisx.Node
	p        pending
	counts   map[string]int64
	chunks   int
	kept     []bool // per field of the chunk: its value was read (values)
	selected bool   // a field was selected
	changed  int64  // fields changed
	durable  int64
}

// chunk journals and writes one chunk of decided fields.
func (fk *fieldKey) chunk(ctx context.Context, ds []batch.FieldDecision) error {
	r := fk.r
	if fk.chunks++; fk.chunks > 1 {
		// A big hash takes many chunks: the pause and the guards are
		// waited for between them as between batches.
		if err := r.gates(ctx); err != nil {
			return err
		}
	}
	var sel []batch.FieldDecision
	for _, d := range ds {
		switch d.Outcome {
		case jobs.Change:
			sel = append(sel, d)
		case jobs.SkipBadTimestamp:
			fk.counts[fieldsBad]++
		}
	}
	if len(sel) == 0 {
		return nil
	}
	fk.selected = true
	values, err := fk.values(ctx, sel)
	if err != nil {
		return err
	}
	if r.journal != nil {
		rec := journal.Record{Key: fk.p.key, Type: "hash", PrevExpireMs: keyPrev(fk.p), Action: fieldAction(r.job), Fields: make([]journal.Field, len(sel))}
		for i, d := range sel {
			f := journal.Field{Name: d.Name, PrevMs: d.PrevMs, NewMs: d.Decision.ExpireAt.UnixMilli()}
			if d.Decision.ExpireAt.IsZero() {
				f.NewMs = 0
			}
			if values != nil && fk.kept[i] {
				f.HasValue, f.Value = true, values[i]
			}
			rec.Fields[i] = f
		}
		pos, err := r.journal.AppendBatch(fk.node.ID, rec)
		if err == nil {
			err = r.journal.SyncTo(pos)
		}
		if err != nil {
			return local("journal", err)
		}
		fk.durable = pos
	}
	if err := scan.Wait(ctx, r.limiter, len(sel)); err != nil {
		// Journaled, never sent: undo finds the fields as they were.
		return errInterrupted
	}
	if testHookBeforeSend != nil {
		testHookBeforeSend([]string{fk.p.key})
	}
	wctx, cancel := context.WithTimeout(context.Background(), sendTimeout) // a chunk sent is finished
	defer cancel()
	if r.job.Action.Kind != jobs.ActionDelete {
		values = nil // kept for undo only: the write re-checks a delete's values
	}
	n, grace, err := fk.write(wctx, sel, values)
	if err != nil {
		return err
	}
	fk.changed += n
	fk.counts[fieldsChanged] += n
	fk.counts[fieldsGrace] += grace
	if r.x.Gate != nil {
		var b int64
		for _, d := range sel {
			b += int64(len(d.Name)) + 16
		}
		r.x.Gate.Sent(int64(len(fk.p.key)+32) + b)
	}
	return nil
}

// values reads, with backup: dump, the values of the fields a chunk may
// remove: every field of a delete, the grace fields of an expire (the
// server deletes them within the grace; an expiry already past deletes
// them at the write), in one HMGET; nil when there are none. A field
// not read has "" and is journaled without a value.
func (fk *fieldKey) values(ctx context.Context, sel []batch.FieldDecision) ([]string, error) {
	r := fk.r
	if r.job.Backup.Mode != jobs.BackupDump {
		return nil, nil
	}
	var names []string
	var at []int
	for i, d := range sel {
		if r.job.Action.Kind == jobs.ActionDelete || d.Grace {
			names = append(names, d.Name)
			at = append(at, i)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	vs, err := r.conn.Client.Do(ctx, r.conn.Client.B().Hmget().Key(fk.p.key).Field(names...).Build()).ToArray()
	if err != nil {
		return nil, fmt.Errorf("HMGET %q: %w", fk.p.key, err)
	}
	out := make([]string, len(sel))
	fk.kept = make([]bool, len(sel))
	for n, v := range vs {
		if s, err := v.ToString(); err == nil { // a field gone since is nil: nothing to keep
			out[at[n]], fk.kept[at[n]] = s, true
		}
	}
	return out, nil
}

// write sends the chunk's changes and returns how many fields changed and
// how many of those got the grace TTL.
func (fk *fieldKey) write(ctx context.Context, sel []batch.FieldDecision, values []string) (n, grace int64, err error) {
	r, c, key := fk.r, fk.r.conn.Client, fk.p.key
	if r.job.Action.Kind != jobs.ActionExpire {
		mode, with := "persist", "0"
		if r.job.Action.Kind == jobs.ActionDelete {
			mode = "delete"
		}
		if values != nil {
			with = "1"
		}
		args := []string{mode, with}
		for i, d := range sel {
			args = append(args, d.Name, strconv.FormatInt(d.PrevMs, 10))
			if values != nil {
				args = append(args, values[i])
			}
		}
		m, err := fieldsWriteScript.run(ctx, c, key, args...).AsInt64()
		if err != nil {
			return 0, 0, fmt.Errorf("%s %d fields of %q: %w", mode, len(sel), key, err)
		}
		return max(m, 0), 0, nil
	}
	// HPEXPIREAT takes one expiry for all its fields: one call per
	// distinct expiry, in one pipeline.
	byAt := map[int64][]int{}
	var ats []int64
	for i, d := range sel {
		at := d.Decision.ExpireAt.UnixMilli()
		if _, ok := byAt[at]; !ok {
			ats = append(ats, at)
		}
		byAt[at] = append(byAt[at], i)
	}
	slices.Sort(ats)
	cmds := make(rueidis.Commands, len(ats))
	for i, at := range ats {
		idx := byAt[at]
		args := []string{strconv.FormatInt(at, 10), "NX", "FIELDS", strconv.Itoa(len(idx))}
		for _, j := range idx {
			args = append(args, sel[j].Name)
		}
		cmds[i] = c.B().Arbitrary("HPEXPIREAT").Keys(key).Args(args...).Build()
	}
	for i, res := range c.DoMulti(ctx, cmds...) {
		if rueidis.IsRedisNil(res.Error()) {
			continue // the hash is gone
		}
		codes, err := res.AsIntSlice()
		if isWrongTypeErr(err) {
			continue
		}
		if err != nil {
			return n, grace, fmt.Errorf("HPEXPIREAT %q: %w", key, err)
		}
		for j, code := range codes {
			// 1: set; 2: the time had passed, the field was deleted; 0: it
			// has a TTL now (NX); -2: it is gone.
			if code == 1 || code == 2 {
				n++
				if sel[byAt[ats[i]][j]].Grace {
					grace++
				}
			}
		}
	}
	return n, grace, nil
}

// fieldAction is the journal's action of a fields job.
func fieldAction(j *jobs.Job) string {
	switch j.Action.Kind {
	case jobs.ActionPersist:
		return journal.ActionFieldPersist
	case jobs.ActionDelete:
		return journal.ActionFieldDelete
	}
	return journal.ActionFieldExpire
}

// keyPrev is a key's previous expiry for the journal: undo recreates a
// hash its deletes emptied with it.
func keyPrev(p pending) int64 {
	if p.prev < 0 {
		return journal.NoExpire
	}
	return p.prev
}

// fieldsUnitMistake aborts a run whose field timestamps turn out to be in
// the wrong unit: more than 1% bad timestamps among the fields it would
// change, once a hundred are bad.
func (r *Run) fieldsUnitMistake(counts map[string]int64) error {
	r.mu.Lock()
	bad := r.cp.Counts[fieldsBad] + counts[fieldsBad]
	changed := r.cp.Counts[fieldsChanged] + counts[fieldsChanged]
	r.mu.Unlock()
	if bad < 100 || float64(bad) <= 0.01*float64(changed) || r.job.Action.Expire == nil || r.job.Action.Expire.From == nil {
		return nil
	}
	return &AbortError{Guard: "bad_timestamp", Reason: fmt.Sprintf("%d of the %d fields with a timestamp (%.1f%%) have one that format: %s cannot read or that lies before 2000 or too far in the future, more than 1%% of the fields changed: the format is probably wrong",
		bad, bad+changed, 100*float64(bad)/float64(bad+changed), r.job.Action.Expire.From.Format)}
}

func isWrongTypeErr(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && len(re.Error()) >= 9 && re.Error()[:9] == "WRONGTYPE"
}

// fieldCount says whether a counts key counts fields, not keys.
func fieldCount(k string) bool { return k == fieldsChanged || k == fieldsGrace || k == fieldsBad }
