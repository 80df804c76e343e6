package apply

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/jobs"
)

// A fields job's read-back is the keys' one, a field at a time: a field
// whose state now is the one its record says keyjob set (the new expiry;
// no TTL after a persist; gone after a delete) counts in fields_changed
// (and fields_grace when the job gave it the grace TTL), once however
// often it was journaled; a hash with at least one such field counts as
// changed and goes to the node's Ahead. Unlike a key, a hash in Ahead is
// walked again (a kill may have left it half done): the walk changes the
// fields still selected and counts them, but not the hash's outcome,
// which the read-back counted. The fields counted are not selected again
// (they have their TTL, have none, or are gone), so nothing per field has
// to outlive the read-back: its (key, field) hashes are a set for the
// batches read back only.

// readBackFields reads back the fields of field records, with one
// HPEXPIRETIME per record chunk (at most batch.FieldsChunk fields), up to
// readBackPipeline calls at a time.
func (r *Run) readBackFields(ctx context.Context, recs []journal.Record) (readBack, error) {
	type ask struct {
		rec   *journal.Record
		names []string
		news  []int64
	}
	var asks []ask
	for i := range recs {
		rec := &recs[i]
		if !journal.IsFieldAction(rec.Action) {
			continue
		}
		for fs := range slices.Chunk(rec.Fields, batch.FieldsChunk) {
			a := ask{rec: rec, names: make([]string, len(fs)), news: make([]int64, len(fs))}
			for j, f := range fs {
				a.names[j], a.news[j] = f.Name, f.NewMs
			}
			asks = append(asks, a)
		}
	}
	c := r.conn.Client
	clock := jobs.Clock{Now: r.serverNow(), RunStart: r.runStart}
	seen := map[uint64]bool{} // (key, field) pairs counted
	var keys []uint64
	var rb readBack
	for part := range slices.Chunk(asks, readBackPipeline) {
		cmds := make(rueidis.Commands, len(part))
		for i, a := range part {
			args := append([]string{"FIELDS", strconv.Itoa(len(a.names))}, a.names...)
			cmds[i] = c.B().Arbitrary("HPEXPIRETIME").Keys(a.rec.Key).Args(args...).Build()
		}
		for i, res := range c.DoMulti(ctx, cmds...) {
			a := part[i]
			exp, err := fieldExpiries(res, len(a.names))
			if err != nil {
				return readBack{}, fmt.Errorf("read back the run's field changes of %q: %w", a.rec.Key, err)
			}
			for j, name := range a.names {
				if !fieldDone(a.rec.Action, exp[j], a.news[j]) {
					continue
				}
				h := fieldHash(a.rec.Key, name)
				if seen[h] {
					continue // journaled twice (a hash walked again)
				}
				seen[h] = true
				rb.fields++
				if a.rec.Action == journal.ActionFieldExpire && r.job.DecideField(jobs.Field{Name: name}, clock).Grace {
					rb.fieldsGrace++
				}
				keys = append(keys, keyHash(a.rec.Key))
			}
		}
	}
	slices.Sort(keys)
	rb.hashes = slices.Compact(keys)
	return rb, nil
}

// readBackPipeline is how many read-back calls go in one pipeline.
const readBackPipeline = 256

// fieldExpiries reads an HPEXPIRETIME reply for n fields: a hash gone
// (nil) or of another type has none of them.
func fieldExpiries(res rueidis.RedisResult, n int) ([]int64, error) {
	if err := res.Error(); rueidis.IsRedisNil(err) || isWrongTypeErr(err) {
		gone := make([]int64, n)
		for i := range gone {
			gone[i] = -2
		}
		return gone, nil
	}
	exp, err := res.AsIntSlice()
	if err != nil {
		return nil, err
	}
	if len(exp) != n {
		return nil, fmt.Errorf("HPEXPIRETIME: %d answers for %d fields", len(exp), n)
	}
	return exp, nil
}

// fieldDone says whether a field's expiry now (HPEXPIRETIME: -1 none, -2
// gone) is the state its record says keyjob set. A field whose new
// expiry has passed since is gone, and not counted (as a key).
func fieldDone(action string, exp, newMs int64) bool {
	switch action {
	case journal.ActionFieldPersist:
		return exp == -1
	case journal.ActionFieldDelete:
		return exp == -2
	}
	return exp == newMs
}

// fieldHash is the 64-bit FNV-1a hash of a (key, field) pair; the key's
// length comes first, so no two pairs share their bytes.
func fieldHash(key, field string) uint64 {
	h := fnv.New64a()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	h.Write(n[:])
	h.Write([]byte(key))
	h.Write([]byte(field))
	return h.Sum64()
}
