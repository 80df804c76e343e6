package batch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// FieldsChunk is the HSCAN COUNT hint of a fields job, and so about the
// most fields one call reads, reads the expiry of (HPEXPIRETIME) or
// writes (HPEXPIREAT, the scripts): a call's work is bounded whatever the
// hash's size. The plan's AOF estimate counts calls of this size.
const FieldsChunk = 128

// FieldDecision is what happens to one field of a hash.
type FieldDecision struct {
	jobs.Field
	jobs.Decision
	// PrevMs is the field's expiry as read (HPEXPIRETIME): -1 without one.
	PrevMs int64
}

// WalkFields walks the fields of one hash selected by a fields job: HSCAN
// MATCH fields.match COUNT FieldsChunk NOVALUES, then one HPEXPIRETIME
// for the chunk's fields, each decided with the job's rule
// (jobs.DecideField) at the server's clock. fn gets every chunk's
// decisions, in HSCAN order; a field HSCAN returns twice (the hash was
// resized during the walk) is decided once: the walk keeps the names it
// has seen, so its memory grows with the hash's field names. A field gone
// between HSCAN and HPEXPIRETIME is left out. gone says the key is no hash
// any more (deleted, or of another type).
func (s *Step) WalkFields(ctx context.Context, c rueidis.Client, key string, fn func([]FieldDecision) error) (gone bool, err error) {
	f := s.Job.Fields
	seen := map[string]struct{}{}
	cursor := uint64(0)
	for first := true; first || cursor != 0; first = false {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		cctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
		e, err := c.Do(cctx, c.B().Hscan().Key(key).Cursor(cursor).Match(f.Match).Count(FieldsChunk).Novalues().Build()).AsScanEntry()
		cancel()
		if isWrongType(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("HSCAN %q: %w", key, err)
		}
		cursor = e.Cursor
		names := e.Elements[:0:0]
		for _, n := range e.Elements {
			if _, dup := seen[n]; !dup {
				seen[n] = struct{}{}
				names = append(names, n)
			}
		}
		// A listpack hash comes back whole whatever COUNT says (up to
		// hash-max-listpack-entries): chunks of FieldsChunk all the same.
		for len(names) > 0 {
			part := names[:min(len(names), FieldsChunk)]
			names = names[len(part):]
			ds, gone, err := s.decideFields(ctx, c, key, part)
			if gone || err != nil {
				return gone, err
			}
			if len(ds) > 0 {
				if err := fn(ds); err != nil {
					return false, err
				}
			}
		}
	}
	return false, nil
}

// decideFields reads the expiry of names and decides each.
func (s *Step) decideFields(ctx context.Context, c rueidis.Client, key string, names []string) ([]FieldDecision, bool, error) {
	exp, err := FieldExpiries(ctx, c, key, names)
	if isWrongType(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	clock := jobs.Clock{Now: s.Now(), RunStart: s.RunStart}
	ds := make([]FieldDecision, 0, len(names))
	for i, n := range names {
		if exp[i] == -2 {
			continue // gone since HSCAN (expired, or deleted)
		}
		f := jobs.Field{Name: n}
		if exp[i] >= 0 {
			f.HasTTL, f.ExpireAt = true, time.UnixMilli(exp[i]).UTC()
		}
		ds = append(ds, FieldDecision{Field: f, Decision: s.Job.DecideField(f, clock), PrevMs: exp[i]})
	}
	return ds, false, nil
}

// FieldExpiries is HPEXPIRETIME key FIELDS n names...: per field its
// absolute expiry in ms, -1 without one, -2 when the field is not there.
func FieldExpiries(ctx context.Context, c rueidis.Client, key string, names []string) ([]int64, error) {
	args := make([]string, 0, 2+len(names))
	args = append(args, "FIELDS", strconv.Itoa(len(names)))
	args = append(args, names...)
	cctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	// Keys names the key, so a cluster client routes the call by its slot.
	res := c.Do(cctx, c.B().Arbitrary("HPEXPIRETIME").Keys(key).Args(args...).Build())
	if rueidis.IsRedisNil(res.Error()) {
		// The hash is gone: every field is.
		out := make([]int64, len(names))
		for i := range out {
			out[i] = -2
		}
		return out, nil
	}
	exp, err := res.AsIntSlice()
	if err != nil {
		return nil, fmt.Errorf("HPEXPIRETIME %q: %w", key, err)
	}
	if len(exp) != len(names) {
		return nil, fmt.Errorf("HPEXPIRETIME %q: %d answers for %d fields", key, len(exp), len(names))
	}
	return exp, nil
}

func isWrongType(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.HasPrefix(re.Error(), "WRONGTYPE")
}
