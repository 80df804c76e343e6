package planner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/internal/words"
	"github.com/keyjob/keyjob/jobs"
)

// FieldsPlan is what a fields job selects inside the hashes: the fields
// HSCAN walked in the hashes the job selects, and what happens to each,
// in the buckets of a key (change, change_grace, and the skips regex, ttl,
// bad_timestamp). Plan.Expiries and Plan.PeakMinute count fields for such
// a job.
type FieldsPlan struct {
	Match  string `json:"match"`
	Regex  string `json:"regex,omitempty"`
	TTL    string `json:"ttl"` // none | has | any
	Walked int64  `json:"walked"`
	Change int64  `json:"change"`
	// ChangeGrace is the part of Change that gets the grace TTL.
	ChangeGrace int64            `json:"change_grace"`
	Skip        map[string]int64 `json:"skip"` // regex, ttl, bad_timestamp
	// MeanFieldBytes is the mean of the changed fields' name and value
	// lengths (HSTRLEN of a sample), for the memory figures; no MEMORY
	// USAGE is sent for a fields job (its cost grows with the hash: 6 ms
	// on a 1M-field hash on Valkey 9 with the default sample, the whole
	// hash with SAMPLES 0), and it would say nothing of the fields.
	MeanFieldBytes int64 `json:"mean_field_bytes"`
	// Samples are a few fields per outcome, named "key field".
	Samples map[string][]FieldSample `json:"samples"`
}

// FieldSample is one sample field with its before and after.
type FieldSample struct {
	Key       string     `json:"key"`
	Field     string     `json:"field"`
	ExpireAt  *time.Time `json:"expire_at_before,omitempty"`
	NewExpire *time.Time `json:"expire_at_after,omitempty"`
	Grace     bool       `json:"grace,omitempty"`
	Why       string     `json:"why,omitempty"`
}

// fieldSkips are the buckets of a field that is not changed.
var fieldSkips = []string{string(jobs.SkipRegex), string(jobs.SkipTTL), string(jobs.SkipBadTimestamp)}

// fieldTally counts a fields job's fields (under tally.mu).
type fieldTally struct {
	walked, change, grace int64
	fromNoTTL             int64
	skip                  map[string]int64
	samples               map[string][]FieldSample
	sized, sizeSum        int64 // changed fields measured, their bytes
	noSizes               bool  // HSTRLEN is lacking: no field is measured
}

// fieldSizeSample is how many changed fields get an HSTRLEN.
const fieldSizeSample = 2000

// fieldExpiryBytes is what a TTL of its own adds to a field: the expiry
// in the listpack (or the field's entry and the hash's expiry index).
const fieldExpiryBytes = 16

// walkFields decides the fields of the keys of a batch decided change: a
// hash with no field to change becomes no_fields. It tallies every field.
func (w *walker) walkFields(ctx context.Context, c rueidis.Client, ds []batch.Decision) error {
	if w.job.Fields == nil {
		return nil
	}
	for i := range ds {
		d := &ds[i]
		if d.Outcome != jobs.Change {
			continue
		}
		var changed int64
		gone, err := w.step.WalkFields(ctx, c, d.Info.Name, func(fs []batch.FieldDecision) error {
			var sizes []int64
			if w.wantsFieldSizes(fs) {
				var err error
				if sizes, err = fieldSizes(ctx, c, d.Info.Name, fs); err != nil {
					return err
				}
			}
			w.tally.mu.Lock()
			defer w.tally.mu.Unlock()
			changed += w.tally.addFields(d.Info.Name, fs, sizes)
			return nil
		})
		switch {
		case err != nil:
			return fmt.Errorf("fields of %q: %w", d.Info.Name, err)
		case gone:
			d.Decision = jobs.Decision{Outcome: jobs.Gone}
		case changed == 0:
			d.Decision = jobs.Decision{Outcome: jobs.SkipNoFields}
		default:
			d.Units = changed
		}
	}
	return nil
}

func (w *walker) wantsFieldSizes(fs []batch.FieldDecision) bool {
	w.tally.mu.Lock()
	defer w.tally.mu.Unlock()
	return !w.tally.fields.noSizes && w.tally.fields.sized < fieldSizeSample
}

// fieldSizes is, for each changed field of a chunk, the length of its
// name and value (HSTRLEN, O(1) each, in one pipeline); -1 for the others.
func fieldSizes(ctx context.Context, c rueidis.Client, key string, fs []batch.FieldDecision) ([]int64, error) {
	var cmds rueidis.Commands
	var at []int
	for i, f := range fs {
		if f.Outcome == jobs.Change {
			cmds = append(cmds, c.B().Hstrlen().Key(key).Field(f.Name).Build())
			at = append(at, i)
		}
	}
	out := make([]int64, len(fs))
	for i := range out {
		out[i] = -1
	}
	if len(cmds) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	for n, res := range c.DoMulti(ctx, cmds...) {
		v, err := res.AsInt64()
		if err != nil {
			return nil, fmt.Errorf("HSTRLEN %q: %w", key, err)
		}
		out[at[n]] = v + int64(len(fs[at[n]].Name))
	}
	return out, nil
}

// addFields tallies one chunk of a hash's fields and returns how many
// change. sizes is nil, or each changed field's bytes.
func (t *tally) addFields(key string, fs []batch.FieldDecision, sizes []int64) int64 {
	ft := &t.fields
	var changed []string
	for i, f := range fs {
		ft.walked++
		o := string(f.Outcome)
		if f.Outcome != jobs.Change {
			ft.skip[o]++
			ft.sample(o, key, f)
			continue
		}
		ft.change++
		changed = append(changed, f.Name)
		if f.PrevMs < 0 {
			ft.fromNoTTL++
		}
		if sizes != nil && sizes[i] >= 0 {
			ft.sized++
			ft.sizeSum += sizes[i]
		}
		label := o
		if f.Grace {
			ft.grace++
			t.graceDel += respBytes("HDEL", key, f.Name)
			label = "change_grace"
		}
		ft.sample(label, key, f)
		if !f.Decision.ExpireAt.IsZero() {
			t.schedule1(f.Decision.ExpireAt)
		}
	}
	t.aofBytes += fieldsAOFBytes(t.job, key, changed)
	t.journal += fieldsJournalBytes(t.job, key, changed)
	return int64(len(changed))
}

func (ft *fieldTally) sample(outcome, key string, f batch.FieldDecision) {
	if len(ft.samples[outcome]) >= SamplesPer {
		return
	}
	s := FieldSample{Key: key, Field: f.Name, Grace: f.Grace, Why: f.Why}
	if f.HasTTL {
		at := f.Field.ExpireAt.UTC()
		s.ExpireAt = &at
	}
	if !f.Decision.ExpireAt.IsZero() {
		at := f.Decision.ExpireAt.UTC()
		s.NewExpire = &at
	}
	ft.samples[outcome] = append(ft.samples[outcome], s)
}

// fieldsAOFBytes is what changing the fields of one chunk appends to the
// AOF: one HPEXPIREAT key ms NX FIELDS n f..., HPERSIST key FIELDS n f...
// or HDEL key f... (a script's writes are logged as the commands it
// sends).
func fieldsAOFBytes(j *jobs.Job, key string, fields []string) int64 {
	if len(fields) == 0 {
		return 0
	}
	var head []string
	switch j.Action.Kind {
	case jobs.ActionExpire:
		head = []string{"HPEXPIREAT", key, strings.Repeat("0", msDigits), "NX", "FIELDS", fmt.Sprint(len(fields))}
	case jobs.ActionPersist:
		head = []string{"HPERSIST", key, "FIELDS", fmt.Sprint(len(fields))}
	default:
		head = []string{"HDEL", key}
	}
	return respBytes(append(head, fields...)...)
}

// fieldsJournalBytes approximates the journal's record of one chunk: the
// key, each field's name and previous and new expiry (the values of a
// delete with backup: dump are counted by the estimate, from the sample).
func fieldsJournalBytes(j *jobs.Job, key string, fields []string) int64 {
	if j.Backup.Mode == jobs.BackupNone || len(fields) == 0 {
		return 0
	}
	n := int64(len(key)) + 40
	for _, f := range fields {
		n += int64(len(f)) + 16
	}
	return n
}

// fillFields puts the field counts in the plan.
func (t *tally) fillFields(p *Plan) {
	f := t.job.Fields
	if f == nil {
		return
	}
	ft := &t.fields
	fp := &FieldsPlan{Match: f.Match, TTL: f.TTL.String(), Walked: ft.walked, Change: ft.change, ChangeGrace: ft.grace,
		Skip: map[string]int64{}, Samples: ft.samples}
	if f.Regex != nil {
		fp.Regex = f.Regex.String()
	}
	for _, s := range fieldSkips {
		fp.Skip[s] = ft.skip[s]
	}
	if ft.sized > 0 {
		fp.MeanFieldBytes = ft.sizeSum / ft.sized
	}
	p.Fields = fp
}

// estimateFields fills the memory figures of a fields job from the
// sampled field sizes: the fields, not the keys, are what goes.
func estimateFields(p *Plan, j *jobs.Job, t *tally, up func(int64) int64) {
	fp := p.Fields
	e := &p.Estimates
	e.MeanKeyBytes = 0
	e.MemoryFreedBytes, e.MemoryAddedBytes, e.MemoryExpiringBytes = 0, 0, 0
	switch j.Action.Kind {
	case jobs.ActionDelete:
		e.MemoryFreedBytes = up(t.fields.change * fp.MeanFieldBytes)
		if j.Backup.Mode == jobs.BackupDump {
			e.JournalBytes += up(t.fields.change * fp.MeanFieldBytes)
		}
	case jobs.ActionExpire:
		e.MemoryAddedBytes = up(t.fields.fromNoTTL) * fieldExpiryBytes
		e.MemoryExpiringBytes = up(t.fields.change * fp.MeanFieldBytes)
	}
	for i := range p.Expiries {
		p.Expiries[i].MemoryBytes = p.Expiries[i].Keys * fp.MeanFieldBytes
	}
}

// judgeFields adds a fields job's unit-mistake error: more than 1% of the
// fields with a timestamp have one the format cannot read, or one before
// 2000 or too far ahead.
func judgeFields(p *Plan, j *jobs.Job) {
	f := p.Fields
	if f == nil {
		return
	}
	bad := f.Skip[string(jobs.SkipBadTimestamp)]
	if bad == 0 {
		return
	}
	read := f.Change + bad
	if float64(bad) > unitMistakeShare*float64(max(f.Change, 1)) {
		p.fail(ErrUnitMistake, "%s of the %s fields with a timestamp in their name (%.1f%%) have one that format: %s cannot read or that lies before 2000 or too far in the future. More than 1%% means the format is wrong: fix action.expire.from.format. apply refuses to run this job. See the bad_timestamp samples under fields.",
			words.Commas(bad), words.Commas(read), 100*float64(bad)/float64(read), j.Action.Expire.From.Format)
		return
	}
	p.warn(WarnBadTimestamps, "%s fields have a timestamp in their name that does not parse or lies too far in the future; they are left alone (see the bad_timestamp samples under fields).", words.Commas(bad))
}

// graceCount is the keys, or for a fields job the fields, that get the
// grace TTL.
func graceCount(p *Plan) int64 {
	if p.Fields != nil {
		return p.Fields.ChangeGrace
	}
	return p.Outcomes.ChangeGrace
}

// fieldsSummary is the action in words for a fields job.
func fieldsSummary(j *jobs.Job, action string) string {
	f := j.Fields
	sel := fmt.Sprintf("the fields matching %q", f.Match)
	if f.Regex != nil {
		sel += fmt.Sprintf(" and /%s/", f.Regex)
	}
	switch f.TTL {
	case jobs.FieldTTLNone:
		sel += " without a TTL"
	case jobs.FieldTTLHas:
		sel += " with a TTL"
	}
	switch j.Action.Kind {
	case jobs.ActionDelete:
		return fmt.Sprintf("delete %s (HDEL, re-checked per field, %d at a time)", sel, batch.FieldsChunk)
	case jobs.ActionPersist:
		return fmt.Sprintf("remove the TTL of %s (HPERSIST, re-checked per field, %d at a time)", sel, batch.FieldsChunk)
	}
	return action + "; for " + sel + " (HPEXPIREAT NX, " + fmt.Sprint(batch.FieldsChunk) + " at a time)"
}

// fieldRows are the outcome table's rows of a fields job: what happens
// to the fields walked in the hashes selected.
func fieldRows(p *Plan, st reportStyle) []reportRow {
	f := p.Fields
	if f == nil {
		return nil
	}
	sel := st.Code(f.Match)
	if f.Regex != "" {
		sel += ", " + st.Code(f.Regex)
	}
	rows := []reportRow{
		{"  fields walked", words.Commas(f.Walked), "HSCAN " + sel + " in the hashes selected"},
		{"  fields: change", words.Commas(f.Change - f.ChangeGrace), ""},
	}
	if f.ChangeGrace > 0 {
		rows = append(rows, reportRow{"  fields: grace TTL (already past)", words.Commas(f.ChangeGrace), ""})
	}
	for _, b := range fieldSkips {
		label, note := fieldSkipWords(p, b, st)
		if f.Skip[b] == 0 {
			note = ""
		}
		rows = append(rows, reportRow{"  fields skipped: " + label, words.Commas(f.Skip[b]), note})
	}
	return rows
}

func fieldSkipWords(p *Plan, bucket string, st reportStyle) (label, note string) {
	switch bucket {
	case "regex":
		return "name does not match fields.regex", ""
	case "ttl":
		if p.Job.Action == "expire" {
			return "already has a TTL", "left alone (HPEXPIREAT NX)"
		}
		return "fields.ttl not met", ""
	case "bad_timestamp":
		return "bad timestamp in the field name", "unreadable, before 2000, or the expiry would be too far ahead"
	}
	return skipWords(p, bucket, st)
}

// fieldSampleGroups are the sample fields, as sample tables of their own
// after the keys', each field named "key field".
func fieldSampleGroups(p *Plan, st reportStyle) []sampleGroup {
	f := p.Fields
	if f == nil {
		return nil
	}
	var groups []sampleGroup
	add := func(outcome, label string, total int64) {
		var keys []Key
		for _, s := range f.Samples[outcome] {
			keys = append(keys, Key{Name: s.Key + " " + s.Field, ExpireAt: s.ExpireAt, NewExpire: s.NewExpire, Grace: s.Grace, Why: s.Why})
		}
		if len(keys) > 0 {
			groups = append(groups, sampleGroup{outcome, label, total, keys})
		}
	}
	add("change", "field change", f.Change-f.ChangeGrace)
	add("change_grace", "field change: grace TTL (already past)", f.ChangeGrace)
	for _, b := range fieldSkips {
		label, _ := fieldSkipWords(p, b, st)
		add(b, "field skip: "+label, f.Skip[b])
	}
	return groups
}
